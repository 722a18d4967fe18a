"""Reading a split through the task's processor: examples with their encoded labels.

Every split a run needs is read and its labels checked before any work starts, so a bad
row stops the run with one line naming its file and line. A processor's own bug (an
exception that is not a located input error) is reported against the processor's file
and line instead: the data is not to blame for it.
"""

import dataclasses
import inspect
import os
import traceback
from typing import List, Optional

from absl import logging

from common.errors import InputFileError
from common.errors import UserError
from common import files

SPLITS = ("train", "dev", "test")


@dataclasses.dataclass
class Split:
  """The examples of one split and their labels as the records store them.

  source: the file the split was read from, when the processor names it (split_file).
  truth: a ranking processor's RankingTruth of the split (qrels, the queries scored),
    or None.
  """
  name: str
  examples: List
  labels: List
  source: Optional[str] = None
  truth: Optional[object] = None


class ProcessorError(UserError):
  """A processor raised something other than a located input error: a bug in its code."""


def _processor_frame(processor, error):
  """(path, line, function) of the deepest traceback frame in the processor's own file.

  Falls back to the deepest frame of all when the processor's file is not on the
  traceback (a processor calling into a library that failed).
  """
  frames = traceback.extract_tb(error.__traceback__)
  try:
    source = os.path.realpath(inspect.getsourcefile(type(processor)))
  except (TypeError, OSError):
    source = None
  own = [frame for frame in frames
         if source and os.path.realpath(frame.filename) == source]
  frame = (own or frames)[-1]
  return frame.filename, frame.lineno, frame.name


def read_examples(processor, data_dir, split):
  """The examples of `split` ("train", "dev" or "test"), as a list.

  Raises:
    InputFileError: a located problem in a data file (the processor's rows raise these).
    ProcessorError: any other exception of the processor, located in its own code.
    UserError: a split without examples.
  """
  get_examples = {"train": processor.get_train_examples, "dev": processor.get_dev_examples,
                  "test": processor.get_test_examples}[split]
  try:
    examples = get_examples(data_dir)
  except UserError:
    raise
  except Exception as e:
    path, line, function = _processor_frame(processor, e)
    raise ProcessorError(
        "%s:%d: %s: %s (in %s of processor %s, reading the %s split of %s)" %
        (path, line, type(e).__name__, e, function, type(processor).__name__, split,
         data_dir)) from None
  if not examples:
    raise UserError("%s: the %s split has no examples; expected at least one row" %
                    (split_source(processor, data_dir, split) or data_dir, split))
  return list(examples)


def split_source(processor, data_dir, split):
  """The file the processor reads `split` from, or None when it does not say."""
  split_file = getattr(processor, "split_file", None)
  return split_file(data_dir, split) if split_file else None


def read_split(processor, task, data_dir, split):
  """Split `split` with every label encoded by the task (and so checked).

  Labels are required for train and dev; test examples may have none.
  """
  examples = read_examples(processor, data_dir, split)
  labels = [task.encode_label(example, split != "test") for example in examples]
  truth = None
  if callable(getattr(processor, "ranking_truth", None)):
    truth = processor.ranking_truth(data_dir, split)
  return Split(split, examples, labels, split_source(processor, data_dir, split), truth)


def read_present_splits(processor, task, data_dir):
  """{split: Split} of every split whose file is there (train, dev, test, in that order).

  A split is absent when the processor names its file and there is none, or when
  reading it fails only for want of its file; every other problem is raised as usual.
  """
  splits = {}
  for split in SPLITS:
    source = split_source(processor, data_dir, split)
    if source is not None and not files.exists(source):
      logging.info("no %s split: %s is not there", split, source)
      continue
    try:
      splits[split] = read_split(processor, task, data_dir, split)
    except InputFileError as e:
      if e.line is not None or e.message != "file not found":
        raise
      logging.info("no %s split: %s is not there", split, e.path)
  if not splits:
    raise UserError("%s: no train, dev or test split found; expected the task's data "
                    "files there" % data_dir)
  return splits
