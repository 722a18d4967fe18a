"""Running the model over a split: its records, the engine's batches, outputs in input order.

Evaluation (dev) and prediction (test) both go through predict_split.
"""

import collections
import os

from absl import logging
import numpy as np

from finetune.data import records
from finetune.data.features import PaddingInputExample
from finetune.data.input_fn import file_based_input_fn_builder
from finetune.engines.hooks import PredictionMonitors
from finetune.model import checkpoints


def pad_for_tpu(examples, labels, batch_size, use_tpu):
  """On TPU, fills the last batch with fake examples (is_real_example = 0)."""
  if not use_tpu:
    return examples, labels
  missing = -len(examples) % batch_size
  return examples + [PaddingInputExample()] * missing, labels + [0] * missing


def predict_split(engine, prepared, task, split, batch_size, file_name, checkpoint=None):
  """Runs the model over a split; returns {output: array} for the real examples, in order.

  Args:
    prepared: the run's pipeline.PreparedRun.
    split: an examples.Split; its records go to output_dir/file_name, unless the
      pipeline wrote them already (prepared.record_files), else reused when unchanged.
    checkpoint: the checkpoint to predict with, checked whole (None: the engine's
      default, the latest); a restore that fails on a damaged one raises DamagedFileError.
  """
  options = prepared.options
  examples, labels = pad_for_tpu(split.examples, split.labels, batch_size,
                                 options.runtime.use_tpu)
  record_file = os.path.join(options.data.output_dir, file_name)
  written = prepared.record_files.get(split.name)
  if written is None or (written.path, written.count) != (record_file, len(examples)):
    records.write_record_file(examples, labels, record_file, prepared.record_settings)
  input_fn = file_based_input_fn_builder(
      record_file, seq_length=options.model.max_seq_length, label_feature=task.label_feature,
      is_training=False, drop_remainder=options.runtime.use_tpu,
      layout=options.runtime.layout, fixed_shape_buckets=options.runtime.use_xla)
  collected = collections.defaultdict(list)
  watch = PredictionMonitors()
  guard = (checkpoints.restoring(checkpoint, options.data.output_dir) if checkpoint else
           checkpoints.restoring(prepared.model.init_checkpoint, flag="--init_checkpoint",
                                 none_left="copy the checkpoint again"))
  with guard:
    for batch in engine.predict(input_fn, batch_size, watch, checkpoint=checkpoint):
      for name, values in batch.items():
        collected[name].append(values)
  outputs = {name: np.concatenate(values) for name, values in collected.items()}
  throughput = watch.throughput
  throughput.examples = len(outputs["loss"])
  logging.info("throughput: predicting %s, %d examples in %.1f s = %.1f examples/s",
               file_name, throughput.examples, throughput.seconds,
               throughput.examples_per_second)
  order = np.argsort(outputs.pop("example_index"), kind="stable")
  outputs = {name: values[order] for name, values in outputs.items()}
  real = outputs.pop("is_real_example").astype(bool)
  outputs = {name: values[real] for name, values in outputs.items()}
  if len(outputs["loss"]) != len(split.examples):
    raise RuntimeError("predicted %d examples for %d inputs" %
                       (len(outputs["loss"]), len(split.examples)))
  return outputs
