# Copyright 2018 The Google AI Language Team Authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
#
# Changed from Google's BERT (github.com/google-research/bert) by this project: what
# differs and why is in docs/differences.md.
"""BERT's fine-tuning optimizer: Adam with decoupled weight decay, warmup then linear decay.

`create_optimizer` builds the whole training op; `AdamWeightDecayOptimizer` is a
`tf.compat.v1.train.Optimizer` whose slots are saved as `<variable>/adam_m` and
`<variable>/adam_v`, the names in Google's checkpoints.

Several replicas (MirroredStrategy, MultiWorkerMirroredStrategy, TPU cores through
`CrossShardOptimizer`): each replica differentiates its share of the mean loss (the
loss divided by the replica count), the gradients are summed across replicas, and only
then does the optimizer clip and apply them. The update is therefore
the one a single device makes for the same global batch: the gradient of the mean loss
over the global batch, clipped on its global norm.

A step whose gradient holds a NaN or inf changes no weight and no moment: applied, it
would make them NaN for good, and every later checkpoint with them.
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
                                                   "gradient_norm", "loss"])


def build_training_op(loss, init_lr, num_train_steps, num_warmup_steps, use_tpu,
                      loss_scaling=False, bias_correction=False, micro_batches=1):
  """Builds the training op for `loss`, and the tensors that describe a step.

  Gradients are clipped to global norm 1.0 and the global step advances by one per
  step (with loss scaling, per applied step).

  Args:
    loss: float32 scalar, the mean loss over this replica's examples. With
      micro_batches > 1: a function i -> the i-th micro-batch's share of that mean
      (its forward pass, built when called; the shares add up to the mean).
    init_lr: peak learning rate.
    num_train_steps: steps to decay the learning rate to 0 over.
    num_warmup_steps: steps of linear warmup from 0.
    use_tpu: wrap the optimizer in CrossShardOptimizer (sums gradients over TPU cores).
    loss_scaling: dynamic loss scaling, for float16 compute (see DynamicLossScale).
    bias_correction: Adam's bias correction, which Google's optimizer leaves out (see
      AdamWeightDecayOptimizer).
    micro_batches: compute the step's gradient as the sum of this many micro-batches'
      gradients, one micro-batch after the other (gradient accumulation: the update of
      the whole batch in the memory of one micro-batch). Not on TPU.
  Returns:
    TrainingOp(train_op, learning_rate tensor, gradient_norm: the global norm of the
    unscaled gradient before clipping, float32 scalar, None on TPU; loss: the mean loss).
  """
  global_step = tf1.train.get_or_create_global_step()
  learning_rate = learning_rate_schedule(init_lr, global_step, num_train_steps,
                                         num_warmup_steps)
  adam = AdamWeightDecayOptimizer(
      learning_rate=learning_rate,
      weight_decay_rate=0.01,
      beta_1=0.9,
      beta_2=0.999,
      epsilon=1e-6,
      exclude_from_weight_decay=DEFAULT_DECAY_EXCLUSIONS,
      clip_norm=1.0,
      loss_scale=DynamicLossScale() if loss_scaling else None,
      bias_correction=bias_correction)
  if use_tpu:
    if micro_batches > 1:
      raise ValueError("gradient accumulation is not built for TPUs")
    # CrossShardOptimizer divides the loss by the number of cores and sums the
    # gradients over them before our apply_gradients sees them. The norm stays on the
    # TPU: nothing on the host reads it there.
    optimizer = tf1.tpu.CrossShardOptimizer(adam)
    train_op = optimizer.apply_gradients(
        optimizer.compute_gradients(loss, tf1.trainable_variables()), global_step=global_step)
    return TrainingOp(train_op, learning_rate, None, loss)
  # Each replica differentiates its share of the mean over the global batch, so that
  # the gradients summed over replicas are the global mean's. Done here, not left to
  # Optimizer.compute_gradients, which scales only when tf.estimator has told the
  # strategy to: every engine gets the same update.
  replicas = float(tf.distribute.get_replica_context().num_replicas_in_sync)

  def gradients(loss_value, variables):
    return tf.gradients(adam.scale_loss(loss_value) / replicas, variables)

  if micro_batches > 1:
    loss, variables, grads = _accumulated_gradients(loss, micro_batches, gradients)
  else:
    variables = tf1.trainable_variables()
    grads = gradients(loss, variables)
  grads_and_vars = list(zip(grads, variables))
  if tf.distribute.has_strategy():
    # Summing sparse gradients across machines all-gathers rows whose count differs
    # from replica to replica, which the collective ops refused (shape mismatch). The
    # update is dense anyway (m and v decay on every row): sum dense gradients.
    grads_and_vars = [(tf.convert_to_tensor(grad) if isinstance(grad, tf.IndexedSlices)
                       else grad, var) for grad, var in grads_and_vars]
  train_op, gradient_norm = adam.apply_gradients_with_norm(grads_and_vars,
                                                           global_step=global_step)
  return TrainingOp(train_op, learning_rate, gradient_norm, loss)


def _add_gradients(first, second):
  """The sum of two gradients of one variable (dense, IndexedSlices or None)."""
  if first is None or second is None:
    return second if first is None else first
  if isinstance(first, tf.IndexedSlices) and isinstance(second, tf.IndexedSlices):
    # Rows may repeat; the optimizer merges them (sum_duplicate_rows).
    return tf.IndexedSlices(tf.concat([first.values, second.values], 0),
                            tf.concat([first.indices, second.indices], 0), first.dense_shape)
  return tf.convert_to_tensor(first) + tf.convert_to_tensor(second)


def _accumulated_gradients(micro_loss, micro_batches, gradients):
  """Gradients summed over micro-batches computed one after the other.

  Each micro-batch's forward pass starts only once the previous one's gradients exist,
  so at most one micro-batch's activations are alive at a time.

  Returns:
    (mean loss over the batch, the trainable variables, their summed gradients).
  """
  total_loss, summed, previous, variables = 0.0, None, [], None
  for index in range(micro_batches):
    with tf.control_dependencies(previous):
      loss = micro_loss(index)
    if variables is None:  # the first forward pass made them
      variables = tf1.trainable_variables()
    grads = gradients(loss, variables)
    previous = [grad.values if isinstance(grad, tf.IndexedSlices) else grad
                for grad in grads if grad is not None]
    summed = grads if summed is None else [_add_gradients(a, b)
                                           for a, b in zip(summed, grads)]
    total_loss += loss
  return total_loss, variables, summed


def create_optimizer(loss, init_lr, num_train_steps, num_warmup_steps, use_tpu,
                     loss_scaling=False):
  """Google's interface to build_training_op: returns (train_op, learning_rate tensor)."""
  built = build_training_op(loss, init_lr, num_train_steps, num_warmup_steps, use_tpu,
                            loss_scaling)
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


class DynamicLossScale:
  """Dynamic loss scaling for float16 compute.

  float16 gradients below ~6e-8 flush to zero; the loss is multiplied by `scale` before
  differentiation and the gradients divided by it after. A step whose gradients are not
  finite is skipped and halves the scale; `growth_interval` finite steps in a row double
  it. The state lives in local variables: it is not saved, so checkpoints of float16
  runs hold exactly the variables of float32 runs (a resumed run starts again from
  `initial_scale` and settles within a few steps).
  """

  def __init__(self, initial_scale=2.0 ** 15, growth_interval=2000):
    self.growth_interval = growth_interval
    local = dict(trainable=False, collections=[tf1.GraphKeys.LOCAL_VARIABLES],
                 aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
    self.scale = tf1.get_variable("loss_scale", initializer=tf.constant(initial_scale),
                                  **local)
    self.good_steps = tf1.get_variable("loss_scale_good_steps",
                                       initializer=tf.constant(0, tf.int64), **local)

  def update(self, finite):
    """The op that moves the scale after a step; `finite`: bool scalar, gradients finite."""
    grown = self.good_steps + 1 >= self.growth_interval
    next_scale = tf.where(finite, tf.where(grown, self.scale * 2.0, self.scale),
                          tf.maximum(self.scale * 0.5, 1.0))
    next_good_steps = tf.where(finite & tf.logical_not(grown), self.good_steps + 1,
                               tf.zeros_like(self.good_steps))
    return tf.group(self.scale.assign(next_scale), self.good_steps.assign(next_good_steps))


class AdamWeightDecayOptimizer(tf1.train.Optimizer):
  """Adam with weight decay added to the update; without bias correction by default.

  For each variable w with gradient g (summed over replicas, unscaled, clipped):
    m = beta_1 m + (1 - beta_1) g
    v = beta_2 v + (1 - beta_2) g^2
    update = m / (sqrt(v) + epsilon) + weight_decay_rate * w   (decay unless excluded)
    w = w - learning_rate * update

  Google's optimizer leaves out Adam's bias correction, and so does this one unless
  `bias_correction`: then m and v are divided by (1 - beta_1^t) and (1 - beta_2^t) at
  the t-th step (t = global_step + 1). Without it, the early updates are larger than
  Adam's by (1 - beta_1^t) / sqrt(1 - beta_2^t): 3.2 times at the first step, still
  about twice at step 300. Mosbach et al. (ICLR 2021, "On the Stability of Fine-tuning BERT")
  trace part of the failed fine-tuning runs on small datasets to this omission.
  run_classifier.py turns it on by default and run_reg.py does not (docs/quality.md
  has the measurements); create_optimizer, Google's function, never does.

  Decay applies to the update, not to the loss, so it does not interact with m and v.
  `apply_gradients` takes the gradients of one replica; under a distribution strategy
  it sums them across replicas first (in a merge_call into `_distributed_apply`), so
  that clipping and the finite check see the global gradient.
  """

  def __init__(self, learning_rate, weight_decay_rate=0.0, beta_1=0.9, beta_2=0.999,
               epsilon=1e-6, exclude_from_weight_decay=None, clip_norm=None,
               loss_scale=None, bias_correction=False, name="AdamWeightDecayOptimizer"):
    super().__init__(use_locking=False, name=name)
    self.learning_rate = learning_rate
    self.weight_decay_rate = weight_decay_rate
    self.beta_1 = beta_1
    self.beta_2 = beta_2
    self.epsilon = epsilon
    self.exclude_from_weight_decay = tuple(exclude_from_weight_decay or ())
    self.clip_norm = clip_norm
    self.loss_scale = loss_scale
    self.bias_correction = bias_correction

  def scale_loss(self, loss):
    """The loss to differentiate: multiplied by the loss scale when there is one."""
    if self.loss_scale is None:
      return loss
    return loss * self.loss_scale.scale

  def apply_gradients(self, grads_and_vars, global_step=None, name=None):
    """Applies gradients (summed over replicas first under a strategy); returns the op."""
    return self.apply_gradients_with_norm(grads_and_vars, global_step, name)[0]

  def apply_gradients_with_norm(self, grads_and_vars, global_step=None, name=None):
    """Like apply_gradients; returns (train op, global norm of the unscaled gradient)."""
    grads_and_vars = [(grad, var) for grad, var in grads_and_vars if grad is not None]
    if tf.distribute.has_strategy():
      # The cross-replica part runs once for all replicas, in merge_call.
      return tf.distribute.get_replica_context().merge_call(
          self._distributed_apply, args=(grads_and_vars, global_step, name))
    variables = [var for _, var in grads_and_vars]
    with tf1.init_scope():
      self._create_slots(variables)
    with tf1.name_scope(name, self.get_name()):
      factor, finite, norm = self._step_factor([grad for grad, _ in grads_and_vars])
      updates = [self._apply_one(var, grad, factor, finite) for grad, var in grads_and_vars]
      return self._finish_step(updates, global_step, finite,
                               lambda step, increment: step.assign_add(increment)), norm

  def _distributed_apply(self, distribution, grads_and_vars, global_step=None, name=None):
    """Cross-replica part of apply_gradients_with_norm: sum over replicas, clip, apply.

    Returns (train op, gradient norm).
    """
    variables = [var for _, var in grads_and_vars]
    summed = distribution.extended.batch_reduce_to(tf.distribute.ReduceOp.SUM,
                                                   grads_and_vars)
    with tf1.init_scope():
      self._create_slots(variables)
    with tf1.name_scope(name, self.get_name()):
      # Every device holds the same sum. The first one's decides the clip factor and
      # the finite check for all, so the copies of the variables cannot drift apart.
      first_copy = [distribution.experimental_local_results(grad)[0] for grad in summed]
      factor, finite, norm = self._step_factor(first_copy)
      updates = []
      for grad, var in zip(summed, variables):
        updates.extend(distribution.extended.update(
            var, self._apply_one, args=(grad, factor, finite), group=False))
      return self._finish_step(updates, global_step, finite, lambda step, increment: (
          distribution.extended.update(step, lambda s: s.assign_add(increment)))), norm

  def _step_factor(self, grads):
    """What every gradient of this step is multiplied by, and whether to apply the step.

    Args:
      grads: the global (summed) gradients, scaled by the loss scale if there is one.
    Returns:
      (float32 scalar factor = 1 / loss_scale * clip_norm / max(norm, clip_norm),
       bool scalar "all finite", float32 scalar norm of the unscaled gradient).
    """
    inverse_scale = 1.0 / self.loss_scale.scale if self.loss_scale is not None else 1.0
    norm = tf.linalg.global_norm([sum_duplicate_rows(grad) for grad in grads]) * inverse_scale
    factor = inverse_scale
    if self.clip_norm is not None:
      factor *= self.clip_norm / tf.maximum(norm, self.clip_norm)
    # One NaN or inf anywhere makes the global norm non-finite.
    return factor, tf.math.is_finite(norm), norm

  def _finish_step(self, updates, global_step, finite, increment_fn):
    """Groups the updates, moves the loss scale and advances the step (if applied)."""
    with tf.control_dependencies(updates):
      ops = []
      if self.loss_scale is not None:
        ops.append(self.loss_scale.update(finite))
      if global_step is not None:
        increment = tf.constant(1, global_step.dtype.base_dtype)
        if self.loss_scale is not None:  # a step skipped to lower the scale is retried
          increment = tf.cast(finite, global_step.dtype.base_dtype)
        ops.append(increment_fn(global_step, increment))
      return tf.group(*updates, *ops)

  def _create_slots(self, var_list):
    for var in var_list:
      self._zeros_slot(var, "m", "adam_m")
      self._zeros_slot(var, "v", "adam_v")

  def _apply_weight_decay(self, param_name):
    if not self.weight_decay_rate:
      return False
    return not any(re.search(pattern, param_name)
                   for pattern in self.exclude_from_weight_decay)

  def _apply_one(self, var, grad, factor, finite):
    """The Adam update of one variable (one device's copy under a strategy).

    One fused kernel (ApplyAdam) updates m, v and the weights in a single pass over
    memory; written as separate ops, the same arithmetic took a dozen passes over every
    weight (22.7 million of them in MiniLM-L6, half in the word embeddings), which made
    up much of a training step on a CPU. ApplyAdam computes
      m += (g - m) (1 - beta_1);  v += (g^2 - v) (1 - beta_2)
      w -= lr sqrt(1 - beta_2^t) / (1 - beta_1^t) m / (sqrt(v) + epsilon),
    so Google's update (no bias correction) is beta^t = 0, and bias correction is
    beta^t with epsilon scaled by sqrt(1 - beta_2^t), which makes the two formulas in the
    class docstring equal.

    Args:
      grad: dense or IndexedSlices (repeated rows allowed), before `factor`.
      factor: float32 scalar from _step_factor.
      finite: bool scalar; when False the variable and its slots keep their values.
    """
    dtype = var.dtype.base_dtype
    # The skip is done with scalar rates, not tf.cond or a full-size tf.where (both
    # cost 15-25% of a small model's step): when not finite, beta_1 and beta_2 become 1
    # (m and v stay), the learning rate 0 and the gradient 0 (multiply_no_nan, as
    # 0 * NaN is NaN). When finite, the arithmetic is the usual one.
    finite_as_number = tf.cast(finite, dtype)
    scale = tf.where(finite, tf.cast(factor, dtype), 0.0)
    if isinstance(grad, tf.IndexedSlices):
      # m and v decay on every row, including rows without a gradient, so a sparse
      # gradient (from an embedding gather) is applied densely; repeated rows add up.
      # Scaled before it is made dense, the multiply touches the batch's rows only.
      values = tf.math.multiply_no_nan(tf.cast(grad.values, dtype), scale)
      grad = tf.math.unsorted_segment_sum(values, grad.indices, tf.shape(var)[0])
    else:
      grad = tf.math.multiply_no_nan(tf.cast(grad, dtype), scale)

    def rate(value, when_skipped):
      return tf.where(finite, tf.constant(value, dtype), tf.constant(when_skipped, dtype))

    learning_rate = tf.cast(self.learning_rate, dtype) * finite_as_number
    beta_1_power = beta_2_power = tf.constant(0.0, dtype)
    epsilon = tf.constant(self.epsilon, dtype)
    if self.bias_correction:
      # Skipped steps do not advance the global step, so t counts applied steps.
      t = tf.cast(tf1.train.get_global_step(), dtype) + 1.0
      beta_1_power = tf.pow(tf.cast(self.beta_1, dtype), t)
      beta_2_power = tf.pow(tf.cast(self.beta_2, dtype), t)
      epsilon *= tf.sqrt(1.0 - beta_2_power)
    decayed = []
    if self._apply_weight_decay(var.op.name):
      # Google's decay term, weight_decay_rate * w with w before this step's update.
      decayed.append(var.assign_sub(learning_rate * self.weight_decay_rate * var))
    m = self.get_slot(var, "m")
    v = self.get_slot(var, "v")
    with tf.control_dependencies(decayed):
      arguments = dict(beta1_power=beta_1_power, beta2_power=beta_2_power, lr=learning_rate,
                       beta1=rate(self.beta_1, 1.0), beta2=rate(self.beta_2, 1.0),
                       epsilon=epsilon, grad=grad)
      if hasattr(var, "handle"):  # a resource variable, TensorFlow 2's kind
        return tf.raw_ops.ResourceApplyAdam(var=var.handle, m=m.handle, v=v.handle,
                                            **arguments)
      return tf.raw_ops.ApplyAdam(var=var, m=m, v=v, **arguments).op
