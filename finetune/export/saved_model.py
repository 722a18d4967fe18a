"""The SavedModel export of a fine-tuned model.

`--export_dir` writes a SavedModel under
`<export_dir>/<version>/` (TensorFlow Serving's layout, version = seconds since 1970):
its `serving_default` signature takes int32 `input_ids`, `input_mask`, `segment_ids`
[batch, length] and returns the score (regression) or the probabilities and the decided
label (classification, threshold built in); `assets.extra/` holds vocab.txt and
model_info.json for tokenizing, and bert_config.json (export_model.py's other formats).

Reading one back, and checking that it is whole before anything loads it, is
finetune/runtime/ (folders.py, tensorflow_model.py); the graph is the one
tensorflow_model.build_serving_graph builds for a checkpoint too.
"""

import json
import os
import time

from absl import logging
import tensorflow as tf

from common import files
from finetune.model import checkpoints
from finetune.model.model_files import MODEL_INFO
from finetune.model.model_files import read_json
from finetune.runtime.folders import newest_version
from finetune.runtime.tensorflow_model import build_serving_graph
from finetune.runtime.tensorflow_model import damage_of_saved_model

tf1 = tf.compat.v1


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
  # files.temporary_name: "<version>.tmp-<pid>", which TensorFlow Serving, taking only
  # whole numbers for versions, leaves alone.
  with files.atomic_directory(final) as staging:
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
