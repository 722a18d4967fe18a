"""The session hooks every run shares, training or predicting.

  SessionReadyHook     logs when the session is ready (a start-up milestone)
  InterruptionHook     stops training after the step in progress on a signal
  Throughput           examples over the time the model actually runs
  PredictionTimerHook  times predict batches into a Throughput
  PredictionMonitors   what watches a prediction (the monitors an engine gets; training's
                       are finetune/training/monitors.py)

An engine gets a monitors object with train() or predict(). Once it has built the
model's graph it calls `attach(spec)` with the model_fn's ModelSpec, then runs the
session with `session_hooks()`; afterwards the caller reads `throughput`.
"""

import time

from absl import logging
import tensorflow as tf

from common import interruption

tf1 = tf.compat.v1


class SessionReadyHook(tf1.train.SessionRunHook):
  """Logs when the session is ready (variables restored or initialized): a milestone of
  start-up (bench/startup.py reads it)."""

  def begin(self):
    self._step = tf1.train.get_global_step()

  def after_create_session(self, session, coord):
    step = session.run(self._step) if self._step is not None else 0
    logging.info("engine: session ready at step %d", step)


class InterruptionHook(tf1.train.SessionRunHook):
  """Stops the training session after the step in progress when a signal came in.

  The engines' checkpoint hooks then save that step as they end (common/interruption.py).
  """

  def after_run(self, run_context, run_values):
    if interruption.requested() is not None:
      run_context.request_stop()


class Throughput:
  """Examples counted over the wall time between the first and the last session run."""

  def __init__(self):
    self.examples = 0
    self.first_start = None
    self.last_end = None

  def start(self):
    if self.first_start is None:
      self.first_start = time.time()

  def end(self, examples):
    self.examples += examples
    self.last_end = time.time()

  @property
  def seconds(self):
    if self.first_start is None or self.last_end is None:
      return 0.0
    return self.last_end - self.first_start

  @property
  def examples_per_second(self):
    return self.examples / self.seconds if self.seconds > 0 else 0.0


class PredictionTimerHook(tf1.train.SessionRunHook):
  """Times predict batches into a Throughput (examples are counted by the caller)."""

  def __init__(self, throughput):
    self._throughput = throughput

  def before_run(self, run_context):
    self._throughput.start()

  def after_run(self, run_context, run_values):
    self._throughput.last_end = time.time()

  def end(self, session):
    # The input has run out: what follows is closing the session and its input pipeline
    # (a milestone of bench/startup.py).
    logging.info("engine: last batch done")


class PredictionMonitors:
  """Times the prediction batches; the caller counts the examples."""

  def __init__(self):
    self.throughput = Throughput()

  def attach(self, spec):
    del spec  # prediction watches no tensor

  def session_hooks(self, reads_tensors=True):
    del reads_tensors  # the timer reads none
    return [SessionReadyHook(), PredictionTimerHook(self.throughput)]
