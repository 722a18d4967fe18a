"""Scoring sentence pairs with a fine-tuned model: an ONNX folder, a SavedModel or a run.

`load_predictor(path)` accepts
  - an ONNX folder (export_model.py --format=onnx), run by ONNX Runtime: nothing of
    TensorFlow is imported on that path;
  - an export base folder (`--export_dir`): its newest version is used;
  - one SavedModel version folder (holding saved_model.pb);
  - a run's output_dir (checkpoint, bert_config.json, vocab.txt, model_info.json): its
    best checkpoint (best/) when the run chose it, else its latest, or the checkpoint
    asked for.
Each is checked whole before it is loaded, and never replaced by another one silently:
a damaged file ends with one line naming it and the newest intact model to use instead
(finetune/model/checkpoints.py, finetune/runtime/tensorflow_model.py); a
server loads models the same way.
`Predictor.predict(pairs)` tokenizes, batches pairs of similar length together, runs the
model and returns the outputs in input order: "score" (regression, in the user's
units), or "probabilities", "label_id" and "label" (the label's text). A Predictor holds
a session or a loaded model: close() it, or use it in a `with` block.
"""

import os

import numpy as np

from common.errors import UserError
from finetune.data.features import pair_token_ids
from finetune.model import precision
from finetune.model.model_files import SERVING_INPUTS
from finetune.runtime import folders
from finetune.runtime import onnx_runtime
from finetune.runtime import openvino_runtime
import tokenization_fast

# predict.py's and serve.py's --precision: the compute precisions, and int8 for an ONNX
# folder exported in int8 (ONNX Runtime's model.onnx, or OpenVINO's IR beside it).
INT8 = "int8"
PREDICT_PRECISIONS = precision.PRECISIONS + (INT8,)


class Predictor:
  """Runs a fine-tuned model on sentence pairs.

  Attributes:
    info: model_info.json as a dict (task, labels, threshold or label range, ...).
  """

  def __init__(self, info, vocab_file, run_batch, close=None):
    self.info = info
    self.tokenizer = tokenization_fast.FastFullTokenizer(vocab_file, info["do_lower_case"])
    self._run_batch = run_batch
    self._close = close

  def close(self):
    """Releases the session or model behind the predictor."""
    if self._close is not None:
      self._close()
      self._close = None

  def __enter__(self):
    return self

  def __exit__(self, *exc_info):
    self.close()

  def predict(self, pairs, batch_size=32):
    """pairs: [(text_a, text_b)] -> {output name: array [len(pairs), ...]}, in input order.

    Each pair is laid out as in training (features.pair_token_ids), cut to the model's
    max_seq_length.
    """
    columns = self.lay_out(pairs)
    results = {}
    for chosen, batch in length_sorted_batches(columns, batch_size):
      for name, values in self.run_batch(batch).items():
        results.setdefault(name, np.empty((len(pairs),) + values.shape[1:], values.dtype))
        results[name][chosen] = values
    return self.with_labels(results)

  def lay_out(self, pairs):
    """pairs -> {input_ids, input_mask, segment_ids: int32 [N, max_seq_length]}."""
    max_seq_length = self.info["max_seq_length"]
    features = [pair_token_ids(a, b, self.tokenizer, max_seq_length) for a, b in pairs]
    return {name: np.array([feature[column] for feature in features], np.int32).reshape(
        len(features), max_seq_length) for column, name in enumerate(SERVING_INPUTS)}

  def run_batch(self, batch):
    """One model batch {name: int32 [B, L]} -> {output: array [B, ...]} (no label text)."""
    outputs = self._run_batch(batch)
    outputs.pop("label", None)  # the text comes from label_id, the same on every runtime
    return outputs

  def with_labels(self, results):
    """The outputs with "label", each label_id's text, added for classifiers."""
    if "label_id" in results:
      results["label"] = np.array(self.info["labels"], dtype=object)[results["label_id"]]
    return results


def length_sorted_batches(columns, batch_size):
  """Batches of pairs of similar length, each cut to its longest pair.

  Args:
    columns: {input_ids, input_mask, segment_ids: int32 [N, S]}, padded pairs.
  Yields:
    (indices into the N pairs [b], {name: int32 [b, L]}), L the longest of the b.
  """
  lengths = columns["input_mask"].sum(axis=1)
  order = np.argsort(lengths, kind="stable")
  for start in range(0, len(order), batch_size):
    chosen = order[start:start + batch_size]
    width = max(int(lengths[chosen].max()), 1)
    yield chosen, {name: np.ascontiguousarray(columns[name][chosen, :width])
                   for name in SERVING_INPUTS}


def outputs_in_order(run_batch, columns, batch_size=32):
  """run_batch over length_sorted_batches of `columns`, the outputs put back in the pairs'
  order: {name: [N, ...]} (an export's float32 and int8 sides, on its dev pairs)."""
  results = {}
  for chosen, batch in length_sorted_batches(columns, batch_size):
    for name, values in run_batch(batch).items():
      results.setdefault(name, np.empty((len(columns["input_ids"]),) + values.shape[1:],
                                        values.dtype))
      results[name][chosen] = values
  return results


def load_predictor(path, compute_precision=precision.FLOAT32, checkpoint=None,
                   spinning=True, runtime="onnxruntime"):
  """A Predictor for an ONNX folder, an export folder, a SavedModel version, or a run.

  compute_precision: "float32", or "bfloat16" / "float16" for a run's output_dir (a
  SavedModel computes in float32, an ONNX model in the precision it was exported in). A
  precision this machine would compute slowly falls back to float32 with a warning.
  checkpoint: for a run's output_dir, the checkpoint to use instead of its latest (or
  best/'s): a prefix or a folder.
  spinning: ONNX Runtime's idle threads may spin between batches (fastest for a command
    alone on the machine; a server, whose event loop needs the cores too, turns it off).
  runtime: for an ONNX folder, "onnxruntime" or "openvino" (its float32 model, computed
    in compute_precision: float32 or bfloat16; runtime/openvino_runtime.py; or with
    "int8" the OpenVINO int8 IR beside it, written by export/openvino_int8.py).
  Raises DamagedFileError when the model to load is damaged (see the module docstring).
  """
  if runtime not in openvino_runtime.RUNTIMES:
    raise UserError("--runtime=%s: expected one of %s" % (
        runtime, ", ".join(openvino_runtime.RUNTIMES)))
  found = folders.find_model(path, checkpoint)
  if found.kind == folders.ONNX:
    if runtime == "openvino":
      return _openvino_predictor(path, compute_precision)
    return _onnx_predictor(path, compute_precision, spinning)
  if runtime != "onnxruntime":
    raise UserError("--runtime=%s is for an ONNX folder; %s is a TensorFlow model: export it "
                    "first (export_model.py --format=onnx)" % (runtime, path))
  if compute_precision == INT8:
    raise UserError("--precision=int8 is for an ONNX folder exported in int8; %s is a "
                    "TensorFlow model: export it first (export_model.py --format=onnx "
                    "--precision=int8)" % path)
  from finetune.runtime import tensorflow_model
  if found.kind == folders.SAVED_MODEL:
    if compute_precision != precision.FLOAT32:
      raise UserError("--precision=%s: %s is a SavedModel, which computes in float32 as "
                      "exported; give the run's --output_dir as --model to compute in %s"
                      % (compute_precision, found.path, compute_precision))
    return tensorflow_model.saved_model_predictor(found)
  return tensorflow_model.checkpoint_predictor(
      path, precision.usable_precision(compute_precision, "--precision"), checkpoint)


def _onnx_predictor(path, compute_precision, spinning):
  info = onnx_runtime.read_info(path)
  openvino_int8 = info.get("runtime") == "openvino"
  if compute_precision == INT8 and openvino_int8:
    raise UserError("--precision=int8: the int8 model of %s is OpenVINO's (%s); add "
                    "--runtime=openvino, or drop --precision for its float32 model.onnx" %
                    (path, info.get("openvino_model")))
  exported = precision.FLOAT32 if openvino_int8 else info["precision"]
  if compute_precision not in (precision.FLOAT32, exported):
    raise UserError("--precision=%s: %s is an ONNX model, which computes in the precision "
                    "it was exported in (%s); export it again with export_model.py "
                    "--precision for another" % (compute_precision, path, info["precision"]))
  session = onnx_runtime.open_session(os.path.join(path, onnx_runtime.MODEL_FILE),
                                      spinning=spinning)
  return Predictor(info, os.path.join(path, "vocab.txt"), onnx_runtime.batch_runner(session))


def _openvino_predictor(path, compute_precision):
  info = onnx_runtime.read_info(path)
  if compute_precision not in (precision.FLOAT32, "bfloat16", INT8):
    raise UserError("--precision=%s: OpenVINO computes an ONNX model in float32, bfloat16 "
                    "or (an export with --runtime=openvino) int8" % compute_precision)
  if compute_precision == INT8:
    if not info.get("openvino_model"):
      raise UserError("--precision=int8 --runtime=openvino: %s holds no OpenVINO int8 "
                      "model; export one with export_model.py --format=onnx "
                      "--precision=int8 --runtime=openvino" % path)
    compiled = openvino_runtime.open_int8_ir(os.path.join(path, info["openvino_model"]))
  else:
    # bfloat16 where this CPU would compute it slowly falls back, with a warning, as on TF.
    compute_precision = precision.usable_precision(compute_precision, "--precision",
                                                   gpu_info=[])
    compiled = openvino_runtime.open_model(os.path.join(path, onnx_runtime.MODEL_FILE),
                                           compute_precision, info)
  return Predictor(info, os.path.join(path, "vocab.txt"),
                   openvino_runtime.batch_runner(compiled))
