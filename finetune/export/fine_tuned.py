"""A fine-tuned model's files, found from a run folder or a SavedModel, and its weights.

  locate(path) -> FineTuned     what export_model.py converts
  read_weights(fine_tuned)      {Google variable name: numpy array}, the model's own
  read_records(fine_tuned, ...) a run's dev or training records as token ids and labels

`path` is what predict.py takes (finetune/runtime/folders.find_model tells which): a
run's --output_dir (its best checkpoint when the run chose best/, else its latest), an
--export_dir (its newest version) or one SavedModel version folder. What is used is
checked whole first (finetune/model/checkpoints.py, finetune/runtime/tensorflow_model.py):
a damaged file stops the export with one line naming it and the intact model to use
instead, never a silent switch. A SavedModel's variables are a checkpoint with the same
names; its assets.extra/ holds model_info.json, vocab.txt and bert_config.json (exports
made before bert_config.json was kept there cannot be converted: the error says to
export from the run folder).
"""

import dataclasses
import os
from typing import Optional

import numpy as np
import tensorflow as tf

from common import files
from common.errors import UserError
from finetune.model import model_files
from finetune.runtime import folders
from finetune.runtime import tensorflow_model
import modeling

DEV_RECORDS = "eval.tf_record"
TRAIN_RECORDS = "train.tf_record"
# Variables of a checkpoint that are not the model: the optimizer's and the step.
_NOT_MODEL = ("adam_m", "adam_v", "global_step")


@dataclasses.dataclass(frozen=True)
class FineTuned:
  """Where a fine-tuned model's parts are.

  info: model_info.json as a dict (task, labels, threshold or label range, casing,
    max_seq_length).
  bert_config: modeling.BertConfig.
  vocab_file: its vocab.txt.
  checkpoint: the checkpoint prefix holding its weights.
  dev_records: the run's eval.tf_record (dev pairs with their labels), or None.
  train_records: the run's train.tf_record, or None.
  """
  info: dict
  bert_config: modeling.BertConfig
  vocab_file: str
  checkpoint: str
  dev_records: Optional[str] = None
  train_records: Optional[str] = None


def locate(path):
  """The FineTuned model in `path` (see the module docstring); UserError if there is none."""
  found = folders.find_model(path)
  if found.kind == folders.ONNX:
    raise UserError("--model=%s: an ONNX model, which cannot be converted again; give the "
                    "run's --output_dir or its SavedModel as --model" % path)
  if found.kind == folders.SAVED_MODEL:
    tensorflow_model.check_found(found)  # a damaged one: one line, no fallback
    extra = os.path.join(found.path, "assets.extra")
    config_path = os.path.join(extra, "bert_config.json")
    if not files.exists(config_path):
      raise UserError("%s: not found (the SavedModel was exported before bert_config.json "
                      "was kept beside it); give the run's --output_dir as --model instead"
                      % config_path)
    return FineTuned(info=folders.read_info(os.path.join(extra, model_files.MODEL_INFO)),
                     bert_config=modeling.BertConfig.from_json_file(config_path),
                     vocab_file=os.path.join(extra, "vocab.txt"),
                     checkpoint=os.path.join(found.path, "variables", "variables"))
  info = folders.read_info(os.path.join(path, model_files.MODEL_INFO))
  # Checked whole; a damaged one is one line naming the newest intact checkpoint.
  checkpoint = tensorflow_model.checkpoint_of_run(path, None, info)

  def whole(name):  # a record file is whole once its cache key is written
    records = os.path.join(path, name)
    return records if files.exists(records + ".key") else None

  return FineTuned(info=info,
                   bert_config=modeling.BertConfig.from_json_file(
                       os.path.join(path, "bert_config.json")),
                   vocab_file=os.path.join(path, "vocab.txt"), checkpoint=checkpoint,
                   dev_records=whole(DEV_RECORDS), train_records=whole(TRAIN_RECORDS))


def read_weights(fine_tuned):
  """{Google variable name: float32 array}: the encoder, pooler and head, no optimizer slots."""
  reader = tf.train.load_checkpoint(fine_tuned.checkpoint)
  return {name: reader.get_tensor(name) for name in sorted(reader.get_variable_to_shape_map())
          if not any(part in name for part in _NOT_MODEL)}


def read_records(fine_tuned, record_file, label_feature, limit=None):
  """A run's record file as token ids and labels (its real examples), or None without one.

  Args:
    record_file: fine_tuned.dev_records or .train_records.
    limit: read no more than this many records.
  Returns:
    {"input_ids", "input_mask", "segment_ids": int32 [N, max_seq_length], "label": [N]}.
  """
  if record_file is None:
    return None
  from finetune.data.record_format import feature_spec
  spec = feature_spec(fine_tuned.info["max_seq_length"], label_feature)
  dataset = tf.data.TFRecordDataset(record_file)
  if limit is not None:
    dataset = dataset.take(limit)
  dataset = dataset.map(lambda record: tf.io.parse_single_example(record, spec)).batch(1024)
  columns = {name: [] for name in model_files.SERVING_INPUTS + ("label",)}
  for batch in dataset.as_numpy_iterator():
    real = batch["is_real_example"].astype(bool)
    for name in model_files.SERVING_INPUTS:
      columns[name].append(batch[name][real].astype(np.int32))
    columns["label"].append(batch[label_feature][real])
  return {name: np.concatenate(values) for name, values in columns.items()}
