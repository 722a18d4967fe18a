"""What watches a training run, passed to the engine as one object: progress lines,
training throughput and the divergence guard.

The engine calls `attach(spec)` with the model_fn's ModelSpec once the graph is built and
runs the session with `session_hooks()` (the contract: finetune/engines/hooks.py, where
prediction's monitors are). Nothing else travels between the model_fn and the pipeline.
"""

import tensorflow as tf

from finetune.engines import hooks
from finetune.training import divergence
from finetune.training import progress

tf1 = tf.compat.v1


def global_batch_mean(loss):
  """The mean of a per-replica mean `loss` over all replicas (itself without a strategy).

  Under a strategy the model_fn runs once per replica; the progress line and the guard
  must see the whole global batch, not one replica's share.
  """
  replica = tf.distribute.get_replica_context()
  if replica is None or replica.num_replicas_in_sync == 1:
    return loss
  # Only for watching: stop_gradient also keeps all_reduce's gradient function from
  # looking for the other replicas' variables (it fails to find them in graph mode).
  return replica.all_reduce(tf.distribute.ReduceOp.MEAN, tf.stop_gradient(loss))


class TrainingMonitors:
  """Progress, throughput and divergence of a training run.

  Args:
    total_steps: the planned number of steps (for progress and messages).
    batch_size: global examples per step.
    log_every_n_steps: steps between progress lines.
    learning_rate: the peak learning rate (named in divergence messages).
    label_hint: the task's divergence_hint for the training labels, or None.
  """

  def __init__(self, *, total_steps, batch_size, log_every_n_steps, learning_rate,
               label_hint=None):
    self.throughput = hooks.Throughput()
    self._guard = divergence.DivergenceGuard(learning_rate, total_steps, label_hint)
    self._progress = progress.TrainingProgressHook(total_steps, batch_size,
                                                   log_every_n_steps, self.throughput)

  def attach(self, spec):
    """Watches the training step of a ModelSpec (called where model_fn ran)."""
    loss = global_batch_mean(spec.loss)
    self._progress.watch(loss, spec.learning_rate)
    if spec.gradient_norm is not None:
      self._guard.watch(loss, spec.gradient_norm)

  def session_hooks(self, reads_tensors=True):
    """The hooks, the guard first (it must see a NaN before anything else reacts).

    reads_tensors: False on TPU, where the step's tensors stay on the device: then only
    the hooks that read none.
    """
    if not reads_tensors:
      return [hooks.InterruptionHook()]
    return [hooks.SessionReadyHook(), self._guard, self._progress, hooks.InterruptionHook()]
