"""model_fn for TPUEstimator: BertModel + a task's head, one function for every device."""

from absl import logging
import tensorflow as tf

import modeling
import optimization
from finetune import progress

tf1 = tf.compat.v1

ModeKeys = tf.estimator.ModeKeys


def restore_encoder(init_checkpoint, use_tpu):
  """Sets up initialization from `init_checkpoint` for the current graph.

  Variables of the graph that the checkpoint holds (same name, same shape) start from
  it; the rest (the new head) keep their initializers. On TPU this must happen in a
  Scaffold, which TPUEstimator builds on the host.

  Returns:
    scaffold_fn for TPUEstimatorSpec, or None.
  """
  if not init_checkpoint:
    return None
  tvars = tf1.trainable_variables()
  assignment_map, initialized = modeling.get_assignment_map_from_checkpoint(tvars,
                                                                            init_checkpoint)
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


def global_batch_mean(loss):
  """The mean of a per-replica mean `loss` over all replicas (itself without a strategy).

  Under a strategy the model_fn runs once per replica and tf.estimator keeps the first
  replica's hooks: without this the progress line would show that replica's share.
  """
  replica = tf.distribute.get_replica_context()
  if replica is None or replica.num_replicas_in_sync == 1:
    return loss
  # Only for the log: stop_gradient also keeps all_reduce's gradient function from
  # looking for the other replicas' variables (it fails to find them in graph mode).
  return replica.all_reduce(tf.distribute.ReduceOp.MEAN, tf.stop_gradient(loss))


def model_fn_builder(bert_config, task, init_checkpoint, learning_rate, num_train_steps,
                     num_warmup_steps, use_tpu, use_one_hot_embeddings, train_batch_size=None,
                     log_every_n_steps=100, training_throughput=None,
                     compute_dtype=tf.float32, divergence_guard=None,
                     adam_bias_correction=False):
  """Returns a model_fn(features, labels, mode, params) for TPUEstimator.

  The same model_fn serves TPUEstimator (one device or TPU cores) and, through
  estimator.data_parallel_estimator, a distribution strategy: there it runs once per
  replica on that replica's batch. train_batch_size is the global batch.

  Training logs progress every `log_every_n_steps` steps and, when given a
  progress.Throughput, records its examples/s into it. A divergence.DivergenceGuard,
  if given, is handed the loss and gradient norm to watch (not on TPU, where they stay
  on the device).

  compute_dtype: tf.float32, or tf.float16 / tf.bfloat16 for mixed precision (the
  encoder computes in it; variables, the head and the loss stay float32; float16 adds
  dynamic loss scaling).

  adam_bias_correction: see optimization.AdamWeightDecayOptimizer.

  TRAIN: mean task loss over real examples, create_optimizer's train op.
  PREDICT: the task's outputs plus `loss` (per example), `label`, `is_real_example` and
  `example_index`, from which the pipeline restores input order and computes every
  metric exactly over the real examples.
  """

  def model_fn(features, labels, mode, params):
    del labels  # they travel inside features
    is_training = mode == ModeKeys.TRAIN
    model = modeling.BertModel(
        config=bert_config, is_training=is_training, input_ids=features["input_ids"],
        input_mask=features["input_mask"], token_type_ids=features["segment_ids"],
        use_one_hot_embeddings=use_one_hot_embeddings,
        pooled_output_only=True,  # the heads read the pooled output only
        compute_dtype=compute_dtype)
    label_values = features[task.label_feature]
    per_example_loss, outputs = task.build_head(model.get_pooled_output(), label_values,
                                                is_training)
    is_real = tf.cast(features["is_real_example"], tf.float32)
    loss = tf.reduce_sum(per_example_loss * is_real) / tf.maximum(tf.reduce_sum(is_real), 1.0)
    scaffold_fn = restore_encoder(init_checkpoint, use_tpu)

    if mode == ModeKeys.TRAIN:
      train_op, current_lr, gradient_norm = optimization.build_training_op(
          loss, learning_rate, num_train_steps, num_warmup_steps, use_tpu,
          loss_scaling=compute_dtype == tf.float16, bias_correction=adam_bias_correction)
      hooks = []
      if not use_tpu:  # on TPU, tensors live on the device: no host-side hooks or summaries
        tf1.summary.scalar("learning_rate", current_lr)
        if divergence_guard is not None:
          divergence_guard.watch(loss, gradient_norm)
        hooks.append(progress.TrainingProgressHook(
            global_batch_mean(loss), current_lr, num_train_steps,
            train_batch_size or params["batch_size"], log_every_n_steps,
            training_throughput or progress.Throughput()))
      return tf1.estimator.tpu.TPUEstimatorSpec(mode=mode, loss=loss, train_op=train_op,
                                                scaffold_fn=scaffold_fn, training_hooks=hooks)
    if mode == ModeKeys.PREDICT:
      predictions = dict(outputs, loss=per_example_loss, label=label_values,
                         is_real_example=features["is_real_example"])
      if "example_index" in features:  # batches grouped by length: order to restore
        predictions["example_index"] = features["example_index"]
      return tf1.estimator.tpu.TPUEstimatorSpec(mode=mode, predictions=predictions,
                                                scaffold_fn=scaffold_fn)
    raise ValueError("mode %s is not used: evaluation runs through predict" % mode)

  return model_fn
