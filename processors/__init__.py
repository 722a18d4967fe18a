"""Data processors: read a data folder into InputExamples, one class per format.

Built in: sim, stsb, cnsd_sts (regression); lcqmc, afqmc, bq, pawsx, atec, mrpc, cola,
mnli, xnli, qqp (classification); ranking, wikiqa, trec, triples (run_rerank.py).
A processor of your own needs no edit here: pass `--task_name=my_module:MyProcessor`
(an importable module) or `--task_name=path/to/file.py:MyProcessor`, or call
`register_processor("name", MyProcessor)` before the pipeline runs.
"""

import importlib
import importlib.util
import os

from common.errors import UserError
from common.tsv import read_tsv
from common.tsv import Row
from processors.base import DataProcessor
from processors.base import InputExample
from processors.chinese import AfqmcProcessor
from processors.chinese import AtecProcessor
from processors.chinese import BqProcessor
from processors.chinese import CnsdStsProcessor
from processors.chinese import PawsxProcessor
from processors.glue import ColaProcessor
from processors.glue import MnliProcessor
from processors.glue import MrpcProcessor
from processors.glue import QqpProcessor
from processors.ranking import GroupedProcessor
from processors.ranking import TrecProcessor
from processors.ranking import TriplesProcessor
from processors.ranking import WikiqaProcessor
from processors.similarity import LcqmcProcessor
from processors.similarity import SimProcessor
from processors.similarity import StsbProcessor
from processors.xnli import XnliProcessor

__all__ = ["DataProcessor", "InputExample", "Row", "read_tsv", "register_processor",
           "get_processor", "PROCESSORS"]

PROCESSORS = {
    "sim": SimProcessor,
    "stsb": StsbProcessor,
    "lcqmc": LcqmcProcessor,
    "afqmc": AfqmcProcessor,
    "bq": BqProcessor,
    "pawsx": PawsxProcessor,
    "atec": AtecProcessor,
    "cnsd_sts": CnsdStsProcessor,
    "mrpc": MrpcProcessor,
    "cola": ColaProcessor,
    "mnli": MnliProcessor,
    "xnli": XnliProcessor,
    "qqp": QqpProcessor,
    # Ranking (run_rerank.py): a query's candidates with relevance grades.
    "ranking": GroupedProcessor,
    "wikiqa": WikiqaProcessor,
    "trec": TrecProcessor,
    "triples": TriplesProcessor,
}


def register_processor(name, processor_class):
  """Makes `--task_name=<name>` use `processor_class` (a DataProcessor subclass)."""
  PROCESSORS[name.lower()] = processor_class


def get_processor(task_name):
  """Returns a processor instance for a registered name or a `module:Class` reference."""
  if ":" in task_name:
    processor_class = _load_class(task_name)
  else:
    processor_class = PROCESSORS.get(task_name.lower())
    if processor_class is None:
      raise UserError("unknown --task_name=%s; expected one of %s, or module:ClassName for "
                      "a processor of your own" % (task_name, ", ".join(sorted(PROCESSORS))))
  processor = processor_class()
  missing = [method for method in ("get_train_examples", "get_dev_examples",
                                   "get_test_examples", "get_labels")
             if not callable(getattr(processor, method, None))]
  if missing:
    raise UserError("--task_name=%s: %s lacks %s; expected a DataProcessor subclass" %
                    (task_name, processor_class.__name__, ", ".join(missing)))
  return processor


def _load_class(reference):
  """Loads "package.module:Class" or "path/to/file.py:Class"."""
  module_name, _, class_name = reference.rpartition(":")
  try:
    if module_name.endswith(".py") or os.sep in module_name:
      if not os.path.isfile(module_name):  # Python loads modules from the local disk only
        raise UserError("--task_name=%s: file %s not found" % (reference, module_name))
      spec = importlib.util.spec_from_file_location(
          os.path.splitext(os.path.basename(module_name))[0], module_name)
      module = importlib.util.module_from_spec(spec)
      spec.loader.exec_module(module)
    else:
      module = importlib.import_module(module_name)
  except ImportError as e:
    raise UserError("--task_name=%s: cannot import %s (%s)" %
                    (reference, module_name, e)) from None
  processor_class = getattr(module, class_name, None)
  if processor_class is None:
    raise UserError("--task_name=%s: %s has no class %s" % (reference, module_name, class_name))
  return processor_class
