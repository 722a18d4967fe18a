"""BERT's fine-tuning optimizer: Adam with decoupled weight decay, warmup then linear decay.

`create_optimizer` builds the whole training op; `AdamWeightDecayOptimizer` is a
`tf.compat.v1.train.Optimizer`, so gradient aggregation across replicas (MirroredStrategy,
MultiWorkerMirroredStrategy) and `CrossShardOptimizer` on TPU work through the standard
`apply_gradients` path. Its slots are saved as `<variable>/adam_m` and `<variable>/adam_v`,
the names in Google's checkpoints.
"""

import collections
import re

import tensorflow as tf

tf1 = tf.compat.v1

# Variables whose names contain one of these are not weight-decayed.
DEFAULT_DECAY_EXCLUSIONS = ("LayerNorm", "layer_norm", "bias")


def learning_rate_schedule(init_lr, global_step, num_train_steps, num_warmup_steps):
  """The learning rate at `global_step`: linear warmup, then linear decay to 0.

  lr = init_lr * step / num_warmup_steps              while step < num_warmup_steps
  lr = init_lr * (1 - step / num_train_steps)         after (0 from num_train_steps on)

  Args:
    global_step: int64 scalar tensor.
  Returns:
    float32 scalar tensor.
  """
  step = tf.cast(global_step, tf.float32)
  decay_steps = float(max(num_train_steps, 1))
  decayed = init_lr * (1.0 - tf.minimum(step, decay_steps) / decay_steps)
  if not num_warmup_steps:
    return decayed
  warmup = init_lr * step / float(num_warmup_steps)
  return tf.where(step < float(num_warmup_steps), warmup, decayed)


TrainingOp = collections.namedtuple("TrainingOp", ["train_op", "learning_rate",
                                                   "gradient_norm"])


def build_training_op(loss, init_lr, num_train_steps, num_warmup_steps, use_tpu):
  """Builds the training op for `loss`, and the tensors that describe a step.

  Gradients are clipped to global norm 1.0 and the global step advances by one per run.
  A variable whose gradient holds a NaN or inf keeps its value and moments (see
  AdamWeightDecayOptimizer), so a diverging step cannot put NaN into the weights.

  Args:
    loss: float32 scalar.
    init_lr: peak learning rate.
    num_train_steps: steps to decay the learning rate to 0 over.
    num_warmup_steps: steps of linear warmup from 0.
    use_tpu: wrap the optimizer in CrossShardOptimizer (sums gradients over TPU cores).
  Returns:
    TrainingOp(train_op, learning_rate tensor, gradient_norm: the global norm before
    clipping, a float32 scalar).
  """
  global_step = tf1.train.get_or_create_global_step()
  learning_rate = learning_rate_schedule(init_lr, global_step, num_train_steps,
                                         num_warmup_steps)
  optimizer = AdamWeightDecayOptimizer(
      learning_rate=learning_rate,
      weight_decay_rate=0.01,
      beta_1=0.9,
      beta_2=0.999,
      epsilon=1e-6,
      exclude_from_weight_decay=DEFAULT_DECAY_EXCLUSIONS)
  if use_tpu:
    optimizer = tf1.tpu.CrossShardOptimizer(optimizer)
  tvars = tf1.trainable_variables()
  grads = [sum_duplicate_rows(grad) for grad in tf.gradients(loss, tvars)]
  grads, gradient_norm = tf.clip_by_global_norm(grads, clip_norm=1.0)
  train_op = optimizer.apply_gradients(zip(grads, tvars), global_step=global_step)
  return TrainingOp(train_op, learning_rate, gradient_norm)


def create_optimizer(loss, init_lr, num_train_steps, num_warmup_steps, use_tpu):
  """Google's interface to build_training_op: returns (train_op, learning_rate tensor)."""
  built = build_training_op(loss, init_lr, num_train_steps, num_warmup_steps, use_tpu)
  return built.train_op, built.learning_rate


def sum_duplicate_rows(grad):
  """Merges repeated rows of a sparse (IndexedSlices) gradient; dense ones pass through.

  A gather's gradient lists a row once per occurrence of its id; the global norm of
  such a list is not the norm of the gradient. Merged, clipping sees the true norm.
  """
  if not isinstance(grad, tf.IndexedSlices):
    return grad
  unique_indices, positions = tf.unique(grad.indices)
  values = tf.math.unsorted_segment_sum(grad.values, positions, tf.shape(unique_indices)[0])
  return tf.IndexedSlices(values, unique_indices, grad.dense_shape)


class AdamWeightDecayOptimizer(tf1.train.Optimizer):
  """Adam without bias correction, with weight decay added to the update.

  For each variable w with gradient g:
    m = beta_1 m + (1 - beta_1) g
    v = beta_2 v + (1 - beta_2) g^2
    update = m / (sqrt(v) + epsilon) + weight_decay_rate * w   (decay unless excluded)
    w = w - learning_rate * update

  Decay applies to the update, not to the loss, so it does not interact with m and v.
  A gradient holding a NaN or inf leaves w, m and v as they were: applied, it would
  make them NaN for good (and every later checkpoint with them). With global-norm
  clipping one such value makes every clipped gradient NaN, so a bad step changes
  nothing at all; the global step still advances.
  """

  def __init__(self, learning_rate, weight_decay_rate=0.0, beta_1=0.9, beta_2=0.999,
               epsilon=1e-6, exclude_from_weight_decay=None,
               name="AdamWeightDecayOptimizer"):
    super().__init__(use_locking=False, name=name)
    self.learning_rate = learning_rate
    self.weight_decay_rate = weight_decay_rate
    self.beta_1 = beta_1
    self.beta_2 = beta_2
    self.epsilon = epsilon
    self.exclude_from_weight_decay = tuple(exclude_from_weight_decay or ())

  def _create_slots(self, var_list):
    for var in var_list:
      self._zeros_slot(var, "m", "adam_m")
      self._zeros_slot(var, "v", "adam_v")

  def _apply_weight_decay(self, param_name):
    if not self.weight_decay_rate:
      return False
    return not any(re.search(pattern, param_name)
                   for pattern in self.exclude_from_weight_decay)

  def _update(self, grad, var):
    m = self.get_slot(var, "m")
    v = self.get_slot(var, "v")
    dtype = var.dtype.base_dtype
    grad = tf.cast(grad, dtype)
    # A NaN or inf anywhere makes the sum not finite (clipped gradients cannot overflow
    # it). Decided on the gradient this variable receives, summed over TPU cores by
    # then, so every replica decides alike. The skip is done with scalars, not tf.cond,
    # which cost 15-20% of a small model's step: the rates become 1 and 0, and the
    # gradient 0 (as 0 * NaN is NaN). When finite, the arithmetic is the usual one.
    finite = tf.math.is_finite(tf.reduce_sum(grad))

    def rate(value, when_skipped):
      return tf.where(finite, tf.constant(value, dtype), tf.constant(when_skipped, dtype))

    grad = tf.math.multiply_no_nan(grad, tf.cast(finite, dtype))
    next_m = rate(self.beta_1, 1.0) * m + rate(1.0 - self.beta_1, 0.0) * grad
    next_v = rate(self.beta_2, 1.0) * v + rate(1.0 - self.beta_2, 0.0) * tf.square(grad)
    update = next_m / (tf.sqrt(next_v) + self.epsilon)
    if self._apply_weight_decay(var.op.name):
      update += self.weight_decay_rate * var
    learning_rate = tf.where(finite, tf.cast(self.learning_rate, dtype), tf.zeros([], dtype))
    return tf.group(
        var.assign_sub(learning_rate * update),
        m.assign(next_m),
        v.assign(next_v))

  def _resource_apply_dense(self, grad, handle):
    return self._update(grad, handle)

  def _apply_dense(self, grad, var):
    return self._update(grad, var)

  def _resource_apply_sparse(self, grad, handle, indices):
    # m and v decay on every row, including rows without a gradient, so a sparse
    # gradient (from an embedding gather) is applied densely.
    dense_grad = tf.math.unsorted_segment_sum(grad, indices, tf.shape(handle)[0])
    return self._update(dense_grad, handle)

  def _apply_sparse(self, grad, var):
    dense_grad = tf.math.unsorted_segment_sum(grad.values, grad.indices, tf.shape(var)[0])
    return self._update(dense_grad, var)
