"""The SavedModel export of a fine-tuned model, and the check that one is whole.

`--export_dir` writes a SavedModel under
`<export_dir>/<version>/` (TensorFlow Serving's layout, version = seconds since 1970):
its `serving_default` signature takes int32 `input_ids`, `input_mask`, `segment_ids`
[batch, length] and returns the score (regression) or the probabilities and the decided
label (classification, threshold built in); `assets.extra/` holds vocab.txt and
model_info.json for tokenizing, and bert_config.json (export_model.py's other formats).

`check_saved_model(version)` checks that such a folder is whole (its graph parses, its
variables are a whole checkpoint, its two assets are there and readable) before
anything loads it: predict.py and a server call it the same way.
"""

import json
import os
import time

from absl import logging
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from common.errors import DamagedFileError
from common import files
from finetune.model import checkpoints
from finetune.model.model_files import MODEL_INFO
from finetune.model.model_files import read_json
from finetune.model.model_files import SERVING_INPUTS
import modeling

tf1 = tf.compat.v1


def newest_version(export_base):
  """The newest <export_base>/<version>/ holding a SavedModel, or None."""
  found = versions(export_base)
  return found[0] if found else None


def check_saved_model(version):
  """Raises DamagedFileError unless the SavedModel folder `version` is whole.

  Whole: saved_model.pb parses and holds the serving_default signature; its variables
  are a whole checkpoint (checkpoints.check_checkpoint); assets.extra/ holds
  model_info.json (JSON) and vocab.txt. About the cost of reading saved_model.pb.
  """
  graph = os.path.join(version, "saved_model.pb")
  if not files.exists(graph):
    raise DamagedFileError(graph, "missing; expected the graph of a SavedModel")
  data = files.read_bytes(graph)
  try:
    saved_model = saved_model_pb2.SavedModel.FromString(data)
  except Exception:  # pylint: disable=broad-except
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


def versions(export_base):
  """The <export_base>/<version>/ folders holding a saved_model.pb, newest first."""
  if not files.isdir(export_base):
    return []
  names = [name for name in files.listdir(export_base) if name.isdigit() and
           files.exists(os.path.join(export_base, name, "saved_model.pb"))]
  return [os.path.join(export_base, name) for name in sorted(names, key=int, reverse=True)]


def damage_of_saved_model(version):
  """The DamagedFileError check_saved_model raises for `version`, or None when whole."""
  try:
    check_saved_model(version)
  except DamagedFileError as e:
    return e
  return None


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


def export_saved_model(checkpoint, bert_config, task, info, vocab_file, export_base):
  """Writes a SavedModel of `checkpoint` to <export_base>/<version>/; returns that path.

  The version folder appears whole: it is built under a temporary name and renamed (a
  failed write leaves nothing, and raises files.WriteError naming the version). When
  the newest version holds this very checkpoint with the same model_info and is whole,
  it is reused.
  """
  info = dict(info, checkpoint=os.path.basename(checkpoint))
  newest = newest_version(export_base)
  if newest:
    damage = damage_of_saved_model(newest)
    if damage is None and read_json(os.path.join(newest, "assets.extra", MODEL_INFO)) == info:
      return newest
    if damage is not None:
      logging.warning("the newest export %s is damaged (%s); writing a new version", newest,
                      damage)
  version = int(time.time())
  while files.exists(os.path.join(export_base, str(version))):
    version += 1
  final = os.path.join(export_base, str(version))
  files.makedirs(export_base)
  # A hidden name, which TensorFlow Serving does not take for a version.
  staging = os.path.join(export_base, ".tmp-%d-%d" % (version, os.getpid()))
  with files.atomic_directory(final, staging):
    with tf.Graph().as_default() as graph:
      inputs, outputs = build_serving_graph(bert_config, task)
      saver = tf1.train.Saver(tf1.global_variables())
      with tf1.Session(graph=graph) as session:
        with checkpoints.restoring(checkpoint):
          saver.restore(session, checkpoint)
        builder = tf1.saved_model.Builder(staging)
        signature = tf1.saved_model.predict_signature_def(inputs=inputs, outputs=outputs)
        builder.add_meta_graph_and_variables(
            session, [tf1.saved_model.SERVING],
            signature_def_map={"serving_default": signature},
            strip_default_attrs=True)
        builder.save()
    extra = os.path.join(staging, "assets.extra")
    files.makedirs(extra)
    tf.io.gfile.copy(vocab_file, os.path.join(extra, "vocab.txt"))
    with tf.io.gfile.GFile(os.path.join(extra, MODEL_INFO), "w") as f:
      f.write(json.dumps(info, indent=2, sort_keys=True) + "\n")
    # What export_model.py needs to rebuild the model in another format.
    with tf.io.gfile.GFile(os.path.join(extra, "bert_config.json"), "w") as f:
      f.write(bert_config.to_json_string())
  return final
