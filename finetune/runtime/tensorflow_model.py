"""TensorFlow's side of running a model: a SavedModel or a run's checkpoint.

The one module of finetune/runtime/ that imports TensorFlow; the others import it only
once the folder found (folders.find_model) is a SavedModel or a run, so an ONNX folder
is scored without TensorFlow (tests/test_layout.py checks it statically).

  check_saved_model(version)       the SavedModel whole, or DamagedFileError
  check_found(found)               the same, with the way out (the newest intact version)
  build_serving_graph(config, task)  the serving graph, for exports and checkpoints
  checkpoint_of_run(dir, ...)      the checkpoint a run's folder holds, checked whole
  saved_model_predictor(found), checkpoint_predictor(dir, ...)  Predictors

A SavedModel is whole when its saved_model.pb parses and holds the serving_default
signature, its variables are a whole checkpoint (finetune/model/checkpoints.py) and its
assets.extra/ holds model_info.json (JSON) and vocab.txt. A damaged file ends with one
line naming it and the newest intact model to use instead, never a silent switch.
"""

import os

import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from common import files
from common.errors import DamagedFileError
from common.errors import UserError
from finetune.model import checkpoints
from finetune.model import model_files
from finetune.model import model_inputs
from finetune.model import precision
from finetune.model.model_files import MODEL_INFO
from finetune.model.model_files import read_json
from finetune.model.model_files import SERVING_INPUTS
from finetune.runtime import folders
from finetune.runtime.predictor import Predictor
from finetune.tasks import task_from_description
from finetune.training import best_checkpoint as best_lib
import modeling

tf1 = tf.compat.v1


def check_saved_model(version):
  """Raises DamagedFileError unless the SavedModel folder `version` is whole.

  Whole: see the module docstring. About the cost of reading saved_model.pb.
  """
  graph = os.path.join(version, "saved_model.pb")
  if not files.exists(graph):
    raise DamagedFileError(graph, "missing; expected the graph of a SavedModel")
  data = files.read_bytes(graph)
  try:
    saved_model = saved_model_pb2.SavedModel.FromString(data)
  except Exception:
    saved_model = None
  if saved_model is None or not any("serving_default" in meta_graph.signature_def
                                    for meta_graph in saved_model.meta_graphs):
    raise DamagedFileError(graph, "not a whole SavedModel graph (%d bytes%s; expected one "
                           "with the serving_default signature)" % (
                               len(data), "" if saved_model else " that do not parse"))
  checkpoints.check_checkpoint(os.path.join(version, "variables", "variables"))
  extra = os.path.join(version, "assets.extra")
  if read_json(os.path.join(extra, MODEL_INFO)) is None:
    raise DamagedFileError(os.path.join(extra, MODEL_INFO), "missing; the model was "
                           "exported without it")
  if not files.exists(os.path.join(extra, "vocab.txt")):
    raise DamagedFileError(os.path.join(extra, "vocab.txt"), "missing; expected the "
                           "vocabulary of the export")


def damage_of_saved_model(version):
  """The DamagedFileError check_saved_model raises for `version`, or None when whole."""
  try:
    check_saved_model(version)
  except DamagedFileError as e:
    return e
  return None


def check_found(found):
  """check_saved_model of a found SavedModel, with the way out (_saved_model_advice)."""
  damage = damage_of_saved_model(found.path)
  if damage is not None:
    raise damage.with_advice(_saved_model_advice(found.path, found.export_base))


def _saved_model_advice(saved_model, export_base):
  """The way out of a damaged SavedModel: the newest intact other version of export_base
  (when the newest of it was chosen), else exporting again."""
  others = [version for version in folders.versions(export_base or "")
            if version != saved_model]
  intact = next((version for version in others
                 if damage_of_saved_model(version) is None), None)
  if intact:
    return "the newest intact SavedModel there is %s: to use it, give --model=%s" % (
        intact, intact)
  return "expected a whole SavedModel: export it again (--export_dir)"


def build_serving_graph(bert_config, task, compute_dtype=tf.float32):
  """Placeholders and the task's serving outputs in the current graph.

  compute_dtype: the encoder's matmuls in tf.float32 (exports), or tf.bfloat16 /
  tf.float16 (predict.py --precision on a run's folder).

  Returns:
    (inputs {name: int32 [B, S] placeholder}, outputs {name: tensor [B, ...]}).
  """
  inputs = {name: tf1.placeholder(tf.int32, [None, None], name=name)
            for name in SERVING_INPUTS}
  model = modeling.BertModel(config=bert_config, is_training=False,
                             input_ids=inputs["input_ids"], input_mask=inputs["input_mask"],
                             token_type_ids=inputs["segment_ids"], pooled_output_only=True,
                             compute_dtype=compute_dtype)
  return inputs, task.serving_outputs(model.get_pooled_output())


def checkpoint_of_run(output_dir, checkpoint, info):
  """The checkpoint prefix a run's folder holds (best/'s when the run chose it, else the
  latest, or `checkpoint` asked for), checked whole; UserError when there is none."""
  prefix = best_lib.checkpoint_of_run(output_dir, checkpoint, info.get("use_best_checkpoint"))
  if prefix is None:
    raise UserError("--model=%s: holds no checkpoint; train first" % output_dir)
  return prefix


def saved_model_predictor(found):
  """A Predictor of the found SavedModel (checked whole first)."""
  check_found(found)
  saved_model = found.path
  extra = os.path.join(saved_model, "assets.extra")
  info = folders.read_info(os.path.join(extra, model_files.MODEL_INFO))
  try:
    serving = tf.saved_model.load(saved_model).signatures["serving_default"]
  except (tf.errors.OpError, ValueError, OSError, KeyError) as e:
    # Bytes changed inside the variables show when every tensor is read back.
    advice = _saved_model_advice(saved_model, found.export_base)
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


def checkpoint_predictor(output_dir, compute_precision, checkpoint=None):
  """A Predictor of a run's checkpoint (checkpoint_of_run), computing in compute_precision."""
  info = folders.read_info(os.path.join(output_dir, model_files.MODEL_INFO))
  prefix = checkpoint_of_run(output_dir, checkpoint, info)
  bert_config_file = os.path.join(output_dir, "bert_config.json")
  bert_config = model_inputs.load_bert_config(bert_config_file, info["max_seq_length"])
  task = task_from_description(info)
  model_inputs.check_checkpoint_fits(
      prefix, dict(modeling.variable_shapes(bert_config),
                   **task.head_variable_shapes(bert_config.hidden_size)),
      bert_config_file, "the checkpoint")
  graph = tf.Graph()
  with graph.as_default():
    inputs, outputs = build_serving_graph(
        bert_config, task, compute_dtype=precision.compute_dtype(compute_precision))
    session = tf1.Session(graph=graph)
    with checkpoints.restoring(prefix, output_dir):
      tf1.train.Saver().restore(session, prefix)

  def run_batch(batch):
    return session.run(outputs, {inputs[name]: value for name, value in batch.items()})

  return Predictor(info, os.path.join(output_dir, "vocab.txt"), run_batch, session.close)
