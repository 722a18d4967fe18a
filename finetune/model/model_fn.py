"""model_fn, the model contract of the engines: BertModel + a task's head -> a ModelSpec.

  model_fn(features, mode, params) -> ModelSpec

features: a batch of the input_fn (input_ids, input_mask, segment_ids [B, L], the label
feature, is_real_example [B], and example_index [B] when predicting); mode TRAIN or
PREDICT; params: the engine's params ("batch_size" per replica). Every engine
(finetune/engines/) runs the same model_fn on one device, on each replica of a
distribution strategy, or on TPU cores; train_batch_size is always the global batch.
"""

import dataclasses
from typing import Callable
from typing import Optional

from absl import logging
import tensorflow as tf

from finetune.data.record_format import TEACHER_SCORE
import modeling
import optimization

tf1 = tf.compat.v1

TRAIN = "train"
PREDICT = "predict"


@dataclasses.dataclass
class ModelSpec:
  """What model_fn returns, whatever engine runs it.

  loss: float32 scalar, the mean loss over the real examples of this replica's batch.
  scaffold_fn: None, or a function returning a tf1.train.Scaffold that restores the
    initial checkpoint (TPU only: there it must run on the host).
  TRAIN: train_op; learning_rate (scalar); gradient_norm (scalar global norm of the
    gradient before clipping, None on TPU).
  PREDICT: predictions {name: [B, ...]}: the task's outputs plus `loss` (per example),
    `label`, `is_real_example` and `example_index`, from which the pipeline restores
    input order and computes every metric exactly over the real examples.
  """
  mode: str
  loss: tf.Tensor
  scaffold_fn: Optional[Callable] = None
  train_op: Optional[tf.Operation] = None
  learning_rate: Optional[tf.Tensor] = None
  gradient_norm: Optional[tf.Tensor] = None
  predictions: Optional[dict[str, tf.Tensor]] = None


def restore_encoder(init_checkpoint, use_tpu, fresh=()):
  """Sets up initialization from `init_checkpoint` for the current graph.

  Variables of the graph that the checkpoint holds (same name, same shape) start from
  it; the rest (the new head) keep their initializers, as do the names in `fresh`. On
  TPU this must happen in a Scaffold, which TPUEstimator builds on the host.

  Returns:
    scaffold_fn for the ModelSpec, or None.
  """
  if not init_checkpoint:
    return None
  tvars = tf1.trainable_variables()
  assignment_map, initialized = modeling.get_assignment_map_from_checkpoint(
      tvars, init_checkpoint, skip=fresh)
  fresh = [var.op.name for var in tvars if var.name not in initialized]
  logging.info("%d of %d variables from %s; initialized fresh: %s", len(assignment_map),
               len(tvars), init_checkpoint, ", ".join(fresh) or "none")
  if use_tpu:
    def tpu_scaffold():
      tf1.train.init_from_checkpoint(init_checkpoint, assignment_map)
      return tf1.train.Scaffold()
    return tpu_scaffold
  tf1.train.init_from_checkpoint(init_checkpoint, assignment_map)
  return None


def model_fn_builder(*, bert_config, task, init_checkpoint, learning_rate, num_train_steps,
                     num_warmup_steps, use_tpu, use_one_hot_embeddings,
                     compute_dtype=tf.float32, adam_bias_correction=False, micro_batches=1,
                     fresh_head=()):
  """Returns model_fn(features, mode, params) -> ModelSpec.

  Args:
    bert_config: modeling.BertConfig.
    task: a task of finetune/tasks.py (its head and loss).
    init_checkpoint: checkpoint prefix the encoder starts from, or None.
    learning_rate, num_train_steps, num_warmup_steps: the optimizer's schedule.
    use_tpu: build for TPU (CrossShardOptimizer, checkpoint init in a scaffold, no
      host-side summaries).
    use_one_hot_embeddings: word lookups as one-hot matmuls (TPU).
    compute_dtype: tf.float32, or tf.float16 / tf.bfloat16 for mixed precision (the
      encoder computes in it; variables, the head and the loss stay float32; float16
      adds dynamic loss scaling).
    adam_bias_correction: see optimization.AdamWeightDecayOptimizer.
    micro_batches: with more than 1, each training batch is split into this many
      micro-batches, run one after the other (gradient accumulation).
    fresh_head: head variables that start fresh although init_checkpoint holds them (in
      another shape).
  """

  def forward(features, is_training):
    """BERT and the head on a batch: (per-example loss [B], outputs, labels [B])."""
    model = modeling.BertModel(
        config=bert_config, is_training=is_training, input_ids=features["input_ids"],
        input_mask=features["input_mask"], token_type_ids=features["segment_ids"],
        use_one_hot_embeddings=use_one_hot_embeddings,
        pooled_output_only=True,  # the heads read the pooled output only
        compute_dtype=compute_dtype)
    label_values = features[task.label_feature]
    head_inputs = ({"is_real": features["is_real_example"]}
                   if getattr(task, "head_reads_is_real", False) else {})
    if TEACHER_SCORE in features:  # training a distilled ranking task (record_format.py)
      head_inputs["teacher_scores"] = features[TEACHER_SCORE]
    per_example_loss, outputs = task.build_head(model.get_pooled_output(), label_values,
                                                is_training, **head_inputs)
    return per_example_loss, outputs, label_values

  def real_count(features):
    return tf.maximum(tf.reduce_sum(tf.cast(features["is_real_example"], tf.float32)), 1.0)

  def mean_loss(features, per_example_loss, count):
    """Sum of the real examples' losses over `count` (the batch's real examples)."""
    is_real = tf.cast(features["is_real_example"], tf.float32)
    return tf.reduce_sum(per_example_loss * is_real) / count

  def train_step(features):
    """The optimizer's step on the batch, in micro_batches pieces if asked."""
    if micro_batches == 1:
      loss = mean_loss(features, forward(features, True)[0], real_count(features))
    else:
      count = real_count(features)
      parts = {name: tf.split(value, micro_batches) for name, value in features.items()}

      def loss(index):  # micro-batch `index`'s share of the batch's mean loss
        part = {name: pieces[index] for name, pieces in parts.items()}
        with tf1.variable_scope(tf1.get_variable_scope(), reuse=tf1.AUTO_REUSE):
          return mean_loss(part, forward(part, True)[0], count)
    return optimization.build_training_op(
        loss, init_lr=learning_rate, num_train_steps=num_train_steps,
        num_warmup_steps=num_warmup_steps, use_tpu=use_tpu,
        loss_scaling=compute_dtype == tf.float16, bias_correction=adam_bias_correction,
        micro_batches=micro_batches)

  def model_fn(features, mode, params):
    del params  # the batch size is the input_fn's business
    if mode == TRAIN:
      step = train_step(features)
      scaffold_fn = restore_encoder(init_checkpoint, use_tpu, fresh_head)
      if not use_tpu:  # on TPU, tensors live on the device: no host-side summaries
        tf1.summary.scalar("learning_rate", step.learning_rate)
      return ModelSpec(mode, step.loss, scaffold_fn, train_op=step.train_op,
                       learning_rate=step.learning_rate, gradient_norm=step.gradient_norm)
    per_example_loss, outputs, label_values = forward(features, False)
    loss = mean_loss(features, per_example_loss, real_count(features))
    scaffold_fn = restore_encoder(init_checkpoint, use_tpu, fresh_head)
    if mode == PREDICT:
      predictions = dict(outputs, loss=per_example_loss, label=label_values,
                         is_real_example=features["is_real_example"])
      if "example_index" in features:  # batches grouped by length: order to restore
        predictions["example_index"] = features["example_index"]
      return ModelSpec(mode, loss, scaffold_fn, predictions=predictions)
    raise ValueError("mode %r: expected %s or %s" % (mode, TRAIN, PREDICT))

  return model_fn
