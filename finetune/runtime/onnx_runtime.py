"""An ONNX folder (export_model.py --format=onnx) in ONNX Runtime: no TensorFlow here.

The folder holds model.onnx, vocab.txt and model_info.json (the task's facts, the
precision and what the export measured). `open_session(path)` makes the ONNX Runtime
session; `batch_runner(session)` turns it into the run_batch of finetune/runtime/predictor.py:
{input_ids, input_mask, segment_ids: int32 [B, S]} -> {output: array [B, ...]}.
"""

import json
import os

import numpy as np

from common.errors import DamagedFileError

MODEL_FILE = "model.onnx"
INFO_FILE = "model_info.json"


def is_onnx_folder(path):
  """True when `path` is a folder export_model.py --format=onnx wrote."""
  return os.path.isfile(os.path.join(path, MODEL_FILE))


def read_info(path):
  """The folder's model_info.json as a dict; DamagedFileError when it is not whole, or
  when the folder lacks vocab.txt."""
  info_file = os.path.join(path, INFO_FILE)
  advice = "export the model again with export_model.py"
  for name in (INFO_FILE, "vocab.txt"):
    if not os.path.isfile(os.path.join(path, name)):
      raise DamagedFileError(os.path.join(path, name), "missing from the ONNX folder", advice)
  try:
    with open(info_file, encoding="utf-8") as f:
      info = json.load(f)
  except (ValueError, UnicodeDecodeError) as e:
    raise DamagedFileError(info_file, "not readable JSON (%s)" % e, advice) from None
  missing = [key for key in ("task", "max_seq_length", "do_lower_case", "precision")
             if key not in info]
  if missing:
    raise DamagedFileError(info_file, "lacks %s" % ", ".join(missing), advice)
  return info


def open_session(model_file, threads=0, spinning=True):
  """An ONNX Runtime CPU session for `model_file`.

  threads: intra-op threads (0: ONNX Runtime's choice, one per physical core).
  spinning: let idle threads spin between runs; off where the cores are shared with
    other work (a server's other threads), where spinning takes their time.
  """
  import onnxruntime
  options = onnxruntime.SessionOptions()
  options.intra_op_num_threads = threads
  options.inter_op_num_threads = 1
  options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
  options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
  options.log_severity_level = 3  # errors only: its warnings are about graph rewrites
  if not spinning:
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
  try:
    return onnxruntime.InferenceSession(model_file, options,
                                        providers=["CPUExecutionProvider"])
  except Exception as e:
    if not isinstance(model_file, str):
      raise
    raise unloadable(model_file, "ONNX Runtime", e) from None


def unloadable(model_file, runtime, error):
  """The DamagedFileError for a model file `runtime` could not load: a runtime says what
  it could not parse, not which file, so this names it."""
  return DamagedFileError(model_file, "%s cannot load it (%s)" % (
      runtime, str(error).strip().splitlines()[0][:300] if str(error).strip() else
      type(error).__name__), "damaged or cut short? Export the model again with "
                          "export_model.py")


def batch_runner(session):
  """run_batch for a Predictor: feeds the model's inputs, returns {output name: array}."""
  inputs = [item.name for item in session.get_inputs()]
  outputs = [item.name for item in session.get_outputs()]

  def run_batch(batch):
    values = session.run(outputs, {name: np.asarray(batch[name], np.int32) for name in inputs})
    return dict(zip(outputs, values))

  return run_batch
