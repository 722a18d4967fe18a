"""input_fn for the Estimator: TFRecords -> batches of features.

On TPU every batch has the fixed shape [batch_size, max_seq_length]. On CPU/GPU each
batch is cut to its longest real sequence, so that 20-token pairs do not pay for 128
positions: the model's outputs for real tokens do not depend on trailing padding.
"""

import tensorflow as tf

from finetune.records import feature_spec

TOKEN_FEATURES = ("input_ids", "input_mask", "segment_ids")


def trim_to_longest(features):
  """Cuts the token features of a batch to the longest real sequence in it.

  Args:
    features: dict with input_ids, input_mask, segment_ids of shape [B, S].
  Returns:
    The same dict with those three cut to [B, L], L = max real length in the batch.
  """
  longest = tf.reduce_max(tf.reduce_sum(features["input_mask"], axis=1))
  longest = tf.maximum(longest, 1)
  trimmed = dict(features)
  for name in TOKEN_FEATURES:
    trimmed[name] = features[name][:, :longest]
  return trimmed


def file_based_input_fn_builder(input_file, seq_length, label_feature, is_training,
                                drop_remainder, trim_batches, shuffle_buffer=10000,
                                seed=None):
  """Returns an input_fn(params) reading `input_file`.

  Args:
    input_file: a TFRecord file written by records.write_records.
    seq_length: max_seq_length the records were written with.
    label_feature: "label_ids" or "vals".
    is_training: repeat forever and shuffle.
    drop_remainder: drop a last partial batch (TPU needs fixed batch sizes).
    trim_batches: cut each batch to its longest real sequence (CPU/GPU).
    shuffle_buffer: records held for shuffling in training.
    seed: shuffle seed (None for a fresh order each run).
  """
  spec = feature_spec(seq_length, label_feature)

  def decode(record):
    example = tf.io.parse_single_example(record, spec)
    # TPUs support int32, not int64.
    return {name: tf.cast(value, tf.int32) if value.dtype == tf.int64 else value
            for name, value in example.items()}

  def input_fn(params):
    batch_size = params["batch_size"]
    dataset = tf.data.TFRecordDataset(input_file)
    if is_training:
      dataset = dataset.repeat()
      dataset = dataset.shuffle(buffer_size=shuffle_buffer, seed=seed)
    dataset = dataset.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    if trim_batches:
      dataset = dataset.map(trim_to_longest, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)

  return input_fn
