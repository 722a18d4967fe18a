"""input_fn, the input contract of the engines: TFRecords -> batches of features.

Three batch layouts:
  "fixed"    every batch [batch_size, max_seq_length]: what a TPU needs.
  "trimmed"  each batch cut to its longest real sequence.
  "bucketed" examples grouped by length first, so that a batch holds pairs of nearly
             the same length, then trimmed: on CPU/GPU, 20-token pairs do not pay for
             128 positions, nor for the 70-token pair that shares their batch. Training
             draws batches from 4-token length buckets of the shuffled stream;
             prediction sorts windows of 64 batches by length.
Training records of a list loss come in groups of `group_size` consecutive records
(data/groups.py): the pipeline shuffles, buckets and batches whole groups, then
flattens them, so a batch of batch_size records holds batch_size / group_size groups,
each in consecutive rows (bucketed by the group's longest pair).
The model's outputs for real tokens do not depend on trailing padding, so all three
give the same predictions (tests/test_throughput_paths.py). Prediction batches carry
`example_index` so that outputs can be put back in input order after bucketing.

The contract (finetune/engines/): `input_fn(params, input_context=None)` returns a
tf.data.Dataset of feature dicts. params["batch_size"] is the batch of one input
pipeline's elements: per replica under a distribution strategy, per TPU core under
TPUEstimator. When training runs several input pipelines (one per machine of a
multi_worker cluster, one per host of a TPU pod), each reads its own shard of the
records, so that an epoch still sees every example once.
"""

import tensorflow as tf

from finetune.data.record_format import feature_spec

TOKEN_FEATURES = ("input_ids", "input_mask", "segment_ids")
LAYOUTS = ("fixed", "trimmed", "bucketed")
# Width of the training length buckets, in tokens.
TRAIN_BUCKET_WIDTH = 4
# Prediction sorts windows of this many batches by length, then cuts full batches:
# near-zero padding, and one partial batch per window (bucketing leaves one per length).
SORT_WINDOW_BATCHES = 64
# The pipeline's parallelism is fixed, and tf.data's autotuning off. Autotuning runs a
# thread of its own that wakes at a period doubling from 10 ms (so 10-20 s after 20 s of
# input). Closing the session waits for that thread, and it can sleep through the close:
# seen on TensorFlow 2.15, the close waiting in the iterator's destructor while the thread
# slept out its period, up to 20 s after the last batch of a 6,000-pair prediction. Decoding and trimming a batch costs a small fraction of what the
# model spends on it, so fixed values cost nothing measurable (bench/startup.py).
PARALLEL_CALLS = 2
PREFETCH_BATCHES = 2


def real_length(features):
  """Number of real tokens of one example (int32 scalar)."""
  return tf.reduce_sum(features["input_mask"])


def group_length(features):
  """Longest real sequence of a group of examples (dict of [G, S] tensors)."""
  return tf.reduce_max(tf.reduce_sum(features["input_mask"], axis=1))


def flatten_groups(features):
  """[b, G, ...] features -> [b * G, ...]: the groups' rows one after another."""
  return {name: tf.reshape(value, tf.concat([[-1], tf.shape(value)[2:]], axis=0))
          for name, value in features.items()}


def trim_to_longest(features, round_to=1):
  """Cuts the token features of a batch to its longest real sequence.

  Args:
    features: dict with input_ids, input_mask, segment_ids of shape [B, S].
    round_to: round the length up to a multiple of this (bounded set of shapes, for XLA).
  Returns:
    The same dict with those three cut to [B, L].
  """
  longest = tf.reduce_max(tf.reduce_sum(features["input_mask"], axis=1))
  longest = tf.maximum(longest, 1)
  if round_to > 1:
    longest = (longest + round_to - 1) // round_to * round_to
  trimmed = dict(features)
  for name in TOKEN_FEATURES:
    trimmed[name] = features[name][:, :longest]
  return trimmed


def sort_by_length(features):
  """Reorders a window of examples (dict of [W, ...] tensors) by real length."""
  order = tf.argsort(tf.reduce_sum(features["input_mask"], axis=1), stable=True)
  return {name: tf.gather(value, order) for name, value in features.items()}


def without_autotuning(dataset):
  """The dataset with tf.data's autotuning (and its thread) off; see PARALLEL_CALLS."""
  options = tf.data.Options()
  options.autotune.enabled = False
  return dataset.with_options(options)


def bucket_boundaries(seq_length, width):
  """Upper bounds (exclusive) of the length buckets: [width+1, 2*width+1, ...]."""
  return list(range(width + 1, seq_length + 1, width))


def input_shard(params, input_context):
  """(number of input pipelines, this one's index) for training.

  Args:
    params: the input_fn's params; TPUEstimator puts its TPUContext under "context".
    input_context: the tf.distribute.InputContext a strategy passes, or None.
  """
  if input_context is not None:
    return input_context.num_input_pipelines, input_context.input_pipeline_id
  context = params.get("context")
  if context is not None and hasattr(context, "current_input_fn_deployment"):
    _, index, count, _ = context.current_input_fn_deployment()
    return count, index
  return 1, 0


def file_based_input_fn_builder(input_file, *, seq_length, label_feature, is_training,
                                drop_remainder, layout="trimmed", shuffle_buffer=10000,
                                seed=None, fixed_shape_buckets=False, group_size=1,
                                teacher_scores=False):
  """Returns an input_fn(params, input_context=None) reading `input_file`.

  Args:
    input_file: a TFRecord file written by records.write_records.
    seq_length: max_seq_length the records were written with.
    label_feature: "label_ids" or "vals".
    is_training: repeat forever and shuffle.
    drop_remainder: drop a last partial batch (TPU needs fixed batch sizes).
    layout: "fixed", "trimmed" or "bucketed" (see the module docstring).
    shuffle_buffer: records held for shuffling in training.
    seed: shuffle seed (None for a fresh order each run).
    fixed_shape_buckets: with "bucketed", pad each batch up to its bucket's bound
      instead of its longest pair, so that XLA compiles a bounded set of shapes.
    group_size: training only: records come in groups of this many (data/groups.py),
      kept together; batch_size must be a multiple of it.
    teacher_scores: parse the `teacher_score` feature too (0.0 where a record has none).
  """
  if layout not in LAYOUTS:
    raise ValueError("layout %r: expected one of %s" % (layout, LAYOUTS))
  spec = feature_spec(seq_length, label_feature, teacher_scores=teacher_scores)

  def decode(record):
    example = tf.io.parse_single_example(record, spec)
    # TPUs support int32, not int64.
    return {name: tf.cast(value, tf.int32) if value.dtype == tf.int64 else value
            for name, value in example.items()}

  def decode_group(records):
    example = tf.io.parse_example(records, spec)
    return {name: tf.cast(value, tf.int32) if value.dtype == tf.int64 else value
            for name, value in example.items()}

  def with_index(index, features):
    return dict(features, example_index=tf.cast(index, tf.int32))

  def input_fn(params, input_context=None):
    batch_size = params["batch_size"]
    dataset = tf.data.TFRecordDataset(input_file)
    if is_training and group_size > 1:
      return without_autotuning(
          grouped(dataset, batch_size, params, input_context).prefetch(PREFETCH_BATCHES))
    if is_training:
      num_shards, shard_index = input_shard(params, input_context)
      if num_shards > 1:
        dataset = dataset.shard(num_shards, shard_index)
      dataset = dataset.repeat()
      dataset = dataset.shuffle(buffer_size=shuffle_buffer, seed=seed)
    dataset = dataset.map(decode, num_parallel_calls=PARALLEL_CALLS)
    if not is_training:
      dataset = dataset.enumerate().map(with_index)
    if layout == "bucketed" and is_training:
      boundaries = bucket_boundaries(seq_length, TRAIN_BUCKET_WIDTH)
      dataset = dataset.bucket_by_sequence_length(
          element_length_func=real_length, bucket_boundaries=boundaries,
          bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
          drop_remainder=drop_remainder)
    elif layout == "bucketed":
      dataset = dataset.batch(batch_size * SORT_WINDOW_BATCHES)
      dataset = dataset.map(sort_by_length).unbatch()
      dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    else:
      dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    if layout != "fixed":
      round_to = TRAIN_BUCKET_WIDTH if (layout == "bucketed" and fixed_shape_buckets) else 1
      dataset = dataset.map(lambda features: trim_to_longest(features, round_to),
                            num_parallel_calls=PARALLEL_CALLS)
    return without_autotuning(dataset.prefetch(PREFETCH_BATCHES))

  def grouped(dataset, batch_size, params, input_context):
    """Training batches of whole groups (see the module docstring)."""
    if batch_size % group_size:
      raise ValueError("batch %d is not a multiple of the group size %d" %
                       (batch_size, group_size))
    groups_per_batch = batch_size // group_size
    dataset = dataset.batch(group_size, drop_remainder=True)
    num_shards, shard_index = input_shard(params, input_context)
    if num_shards > 1:
      dataset = dataset.shard(num_shards, shard_index)
    dataset = dataset.repeat()
    dataset = dataset.shuffle(buffer_size=max(shuffle_buffer // group_size, 1), seed=seed)
    dataset = dataset.map(decode_group, num_parallel_calls=PARALLEL_CALLS)
    if layout == "bucketed":
      boundaries = bucket_boundaries(seq_length, TRAIN_BUCKET_WIDTH)
      dataset = dataset.bucket_by_sequence_length(
          element_length_func=group_length, bucket_boundaries=boundaries,
          bucket_batch_sizes=[groups_per_batch] * (len(boundaries) + 1),
          drop_remainder=drop_remainder)
    else:
      dataset = dataset.batch(groups_per_batch, drop_remainder=drop_remainder)
    dataset = dataset.map(flatten_groups, num_parallel_calls=PARALLEL_CALLS)
    if layout != "fixed":
      round_to = TRAIN_BUCKET_WIDTH if (layout == "bucketed" and fixed_shape_buckets) else 1
      dataset = dataset.map(lambda features: trim_to_longest(features, round_to),
                            num_parallel_calls=PARALLEL_CALLS)
    return dataset

  return input_fn
