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
(finetune/model/checkpoints.py, finetune/serving/saved_model.check_saved_model); a
server loads models the same way.
`Predictor.predict(pairs)` tokenizes, batches pairs of similar length together, runs the
model and returns the outputs in input order: "score" (regression, in the user's
units), or "probabilities", "label_id" and "label" (the label's text). A Predictor holds
a session or a loaded model: close() it, or use it in a `with` block.
"""

import os

import numpy as np

from common.errors import UserError
from common import files
from finetune.data.features import pair_token_ids
from finetune.model import model_files
from finetune.model.model_files import SERVING_INPUTS
from finetune.model import precision
from finetune.serving import onnx_runtime
from finetune.serving import openvino_runtime
import tokenization_fast



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
    in compute_precision: float32 or bfloat16; serving/openvino_runtime.py).
  Raises DamagedFileError when the model to load is damaged (see the module docstring).
  """
  if not files.isdir(path):
    raise UserError("--model=%s: no such folder" % path)
  if runtime not in openvino_runtime.RUNTIMES:
    raise UserError("--runtime=%s: expected one of %s" % (
        runtime, ", ".join(openvino_runtime.RUNTIMES)))
  if onnx_runtime.is_onnx_folder(path):
    if checkpoint:
      raise UserError("--checkpoint=%s: %s is an ONNX model, which holds its weights; give "
                      "a run's --output_dir as --model to choose a checkpoint" %
                      (checkpoint, path))
    if runtime == "openvino":
      return _openvino_predictor(path, compute_precision)
    return _onnx_predictor(path, compute_precision, spinning)
  if runtime != "onnxruntime":
    raise UserError("--runtime=%s is for an ONNX folder; %s is a TensorFlow model: export it "
                    "first (export_model.py --format=onnx)" % (runtime, path))
  from finetune.training import best_checkpoint as best_lib  # pylint: disable=g-import-not-at-top
  from finetune.model import checkpoints  # pylint: disable=g-import-not-at-top
  from finetune.serving import saved_model as saved_model_lib  # pylint: disable=g-import-not-at-top
  saved_model = path if files.exists(os.path.join(path, "saved_model.pb")) else \
      saved_model_lib.newest_version(path)
  if saved_model:
    if checkpoint:
      raise UserError("--checkpoint=%s: %s is a SavedModel, which holds its weights; give "
                      "a run's --output_dir as --model to choose a checkpoint" %
                      (checkpoint, saved_model))
    if compute_precision != precision.FLOAT32:
      raise UserError("--precision=%s: %s is a SavedModel, which computes in float32 as "
                      "exported; give the run's --output_dir as --model to compute in %s"
                      % (compute_precision, saved_model, compute_precision))
    export_base = None if saved_model == path else path
    _check_saved_model(saved_model, export_base)
    return _saved_model_predictor(saved_model, export_base)
  if (checkpoint or files.exists(os.path.join(path, checkpoints.STATE_FILE)) or
      checkpoints.checkpoints_on_disk(path) or best_lib.keeps_a_best(path)):
    return _checkpoint_predictor(path, precision.usable_precision(compute_precision,
                                                                  "--precision"), checkpoint)
  raise UserError("--model=%s: expected a SavedModel (--export_dir), or a run's output_dir "
                  "with a checkpoint and %s" % (path, model_files.MODEL_INFO))


def _onnx_predictor(path, compute_precision, spinning):
  info = onnx_runtime.read_info(path)
  if compute_precision != precision.FLOAT32:
    raise UserError("--precision=%s: %s is an ONNX model, which computes in the precision "
                    "it was exported in (%s); export it again with export_model.py "
                    "--precision for another" % (compute_precision, path, info["precision"]))
  session = onnx_runtime.open_session(os.path.join(path, onnx_runtime.MODEL_FILE),
                                      spinning=spinning)
  return Predictor(info, os.path.join(path, "vocab.txt"), onnx_runtime.batch_runner(session))


def _openvino_predictor(path, compute_precision):
  info = onnx_runtime.read_info(path)
  if compute_precision not in (precision.FLOAT32, "bfloat16"):
    raise UserError("--precision=%s: OpenVINO computes an ONNX model in float32 or "
                    "bfloat16" % compute_precision)
  # bfloat16 where this CPU would compute it slowly falls back, with a warning, as on TF.
  compute_precision = precision.usable_precision(compute_precision, "--precision",
                                                 gpu_info=[])
  compiled = openvino_runtime.open_model(os.path.join(path, onnx_runtime.MODEL_FILE),
                                         compute_precision, info)
  return Predictor(info, os.path.join(path, "vocab.txt"),
                   openvino_runtime.batch_runner(compiled))


def _check_saved_model(saved_model, export_base):
  """saved_model_lib.check_saved_model, with the way out (_saved_model_advice)."""
  from finetune.serving import saved_model as saved_model_lib  # pylint: disable=g-import-not-at-top
  damage = saved_model_lib.damage_of_saved_model(saved_model)
  if damage is not None:
    raise damage.with_advice(_saved_model_advice(saved_model, export_base))


def _saved_model_advice(saved_model, export_base):
  """The way out of a damaged SavedModel: the newest intact other version of export_base
  (when the newest of it was chosen), else exporting again."""
  from finetune.serving import saved_model as saved_model_lib  # pylint: disable=g-import-not-at-top
  others = [version for version in saved_model_lib.versions(export_base or "")
            if version != saved_model]
  intact = next((version for version in others
                 if saved_model_lib.damage_of_saved_model(version) is None), None)
  if intact:
    return "the newest intact SavedModel there is %s: to use it, give --model=%s" % (
        intact, intact)
  return "expected a whole SavedModel: export it again (--export_dir)"


def _read_info(path):
  info = model_files.read_json(path)
  if info is None:
    raise UserError("%s: not found; the model was exported or trained without it" % path)
  return info


def _saved_model_predictor(saved_model, export_base=None):
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf
  from common.errors import DamagedFileError
  from finetune.model import checkpoints
  # pylint: enable=g-import-not-at-top
  extra = os.path.join(saved_model, "assets.extra")
  info = _read_info(os.path.join(extra, model_files.MODEL_INFO))
  try:
    serving = tf.saved_model.load(saved_model).signatures["serving_default"]
  except (tf.errors.OpError, ValueError, OSError, KeyError) as e:
    # Bytes changed inside the variables show when every tensor is read back.
    advice = _saved_model_advice(saved_model, export_base)
    try:
      checkpoints.check_checkpoint(os.path.join(saved_model, "variables", "variables"),
                                   read_tensors=True)
    except DamagedFileError as damage:
      raise damage.with_advice(advice) from None
    raise DamagedFileError(saved_model, "TensorFlow could not load it (%s)" %
                           checkpoints.reason_of(e), advice) from None

  def run_batch(batch):
    outputs = serving(**{name: tf.constant(value) for name, value in batch.items()})
    return {name: value.numpy() for name, value in outputs.items()}

  return Predictor(info, os.path.join(extra, "vocab.txt"), run_batch)


def _checkpoint_predictor(output_dir, compute_precision, checkpoint=None):
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf
  import modeling
  from finetune.training import best_checkpoint as best_lib
  from finetune.model import checkpoints
  from finetune.serving import saved_model as saved_model_lib
  from finetune.model import model_inputs
  from finetune.tasks import task_from_description
  # pylint: enable=g-import-not-at-top
  tf1 = tf.compat.v1
  info = _read_info(os.path.join(output_dir, model_files.MODEL_INFO))
  prefix = best_lib.checkpoint_of_run(output_dir, checkpoint, info.get("use_best_checkpoint"))
  if prefix is None:
    raise UserError("--model=%s: holds no checkpoint; train first" % output_dir)
  bert_config_file = os.path.join(output_dir, "bert_config.json")
  bert_config = model_inputs.load_bert_config(bert_config_file, info["max_seq_length"])
  task = task_from_description(info)
  model_inputs.check_checkpoint_fits(
      prefix, dict(modeling.variable_shapes(bert_config),
                   **task.head_variable_shapes(bert_config.hidden_size)),
      bert_config_file, "the checkpoint")
  graph = tf.Graph()
  with graph.as_default():
    inputs, outputs = saved_model_lib.build_serving_graph(
        bert_config, task, compute_dtype=precision.compute_dtype(compute_precision))
    session = tf1.Session(graph=graph)
    with checkpoints.restoring(prefix, output_dir):
      tf1.train.Saver().restore(session, prefix)

  def run_batch(batch):
    return session.run(outputs, {inputs[name]: value for name, value in batch.items()})

  return Predictor(info, os.path.join(output_dir, "vocab.txt"), run_batch, session.close)
