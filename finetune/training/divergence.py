"""Stopping a training run whose loss or gradient became NaN or inf.

The optimizer already refuses to apply a gradient that is not finite
(optimization.AdamWeightDecayOptimizer), so the weights, and every checkpoint, stay
finite. This hook ends the run at that step with one line saying what to change,
instead of training on through skipped steps or ending in the Estimator's
NanLossDuringTrainingError traceback.
"""

import numpy as np
import tensorflow as tf

from common.errors import UserError

tf1 = tf.compat.v1


class TrainingDiverged(UserError):
  """The loss or the gradient of a training step was NaN or inf."""


class DivergenceGuard(tf1.train.SessionRunHook):
  """Raises TrainingDiverged after the first step whose loss or gradient norm is not finite.

  watch() gives it the step's tensors once the graph is built. It must run before the
  Estimator's own NanTensorHook (engines pass it first). Raising from a hook ends the
  session without the final checkpoint save, so the last checkpoint is the last one
  saved on schedule.
  """

  def __init__(self, learning_rate, total_steps, label_hint):
    """label_hint: the task's divergence_hint, what in the labels is suspect (or None)."""
    self._learning_rate = learning_rate
    self._total_steps = total_steps
    self._label_hint = label_hint
    self._fetches = None
    self._step = None

  def watch(self, loss, gradient_norm):
    """The training step's loss and global gradient norm."""
    self._fetches = {"loss": loss, "gradient_norm": gradient_norm}

  def after_create_session(self, session, coord):
    if self._fetches is not None:
      # Counted here rather than read with each step: a read of the global step in the
      # step that increments it may see either value.
      self._step = int(session.run(tf1.train.get_global_step()))

  def before_run(self, run_context):
    if self._fetches is None:
      return None
    return tf1.train.SessionRunArgs(self._fetches)

  def after_run(self, run_context, run_values):
    if self._fetches is None:
      return
    self._step += 1
    loss = float(run_values.results["loss"])
    norm = float(run_values.results["gradient_norm"])
    if np.isfinite(loss) and np.isfinite(norm):
      return
    raise TrainingDiverged("training stopped at step %d of %d: the loss is %s (gradient "
                           "norm %s). No NaN or inf reached the weights: the checkpoints in "
                           "the output folder hold finite ones. %s" %
                           (self._step, self._total_steps, loss, norm, self._likely_cause()))

  def _likely_cause(self):
    lower = "try %g" % (self._learning_rate / 10)
    if self._label_hint:
      return ("Likely cause: %s. Else --learning_rate=%g may be too high (%s)." %
              (self._label_hint, self._learning_rate, lower))
    return ("Likely cause: --learning_rate=%g is too high (fine-tuning BERT takes about "
            "1e-5 to 1e-4; %s); the training labels look sane." % (self._learning_rate, lower))
