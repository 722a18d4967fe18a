"""Training progress: one line every N steps,
  step 120/539 (22%)  loss 0.0312  lr 4.10e-05  63.2 examples/s  ETA 6m38s
The examples/s are those of the window since the previous line; the run's whole rate is
an engines/hooks.py Throughput, which the pipeline reports at the end and
bench/throughput.py reads.
"""

import time

from absl import logging
import tensorflow as tf

tf1 = tf.compat.v1


def format_duration(seconds):
  """1234.5 -> "20m34s"; 75000 -> "20h50m"."""
  seconds = int(round(seconds))
  if seconds >= 3600:
    return "%dh%02dm" % (seconds // 3600, seconds % 3600 // 60)
  if seconds >= 60:
    return "%dm%02ds" % (seconds // 60, seconds % 60)
  return "%ds" % seconds


class TrainingProgressHook(tf1.train.SessionRunHook):
  """Logs step/total, loss, learning rate, examples/s and ETA every `every_n_steps` steps.

  watch() gives it the step's tensors once the graph is built.
  """

  def __init__(self, total_steps, batch_size, every_n_steps, throughput):
    self._fetches = None
    self._total_steps = total_steps
    self._batch_size = batch_size
    self._every_n_steps = max(int(every_n_steps), 1)
    self._throughput = throughput
    self._window_start = None
    self._window_examples = 0

  def watch(self, loss, learning_rate):
    """The loss (mean over the global batch) and learning rate of the graph's training step."""
    self._fetches = {"loss": loss, "learning_rate": learning_rate,
                     "step": tf1.train.get_global_step()}

  def after_create_session(self, session, coord):
    # A run that trains in stretches (evaluating between them) makes several sessions:
    # the rate of the first window must not count the time between them.
    self._window_start, self._window_examples = None, 0

  def before_run(self, run_context):
    if self._fetches is None:
      return None
    self._throughput.start()
    if self._window_start is None:
      self._window_start = time.time()
    return tf1.train.SessionRunArgs(self._fetches)

  def after_run(self, run_context, run_values):
    if self._fetches is None:
      return
    self._throughput.end(self._batch_size)
    self._window_examples += self._batch_size
    values = run_values.results
    step = int(values["step"]) + 1  # the step just run
    if step % self._every_n_steps and step < self._total_steps:
      return
    now = time.time()
    rate = self._window_examples / max(now - self._window_start, 1e-9)
    steps_left = max(self._total_steps - step, 0)
    logging.info("step %d/%d (%d%%)  loss %.4f  lr %.2e  %.1f examples/s  ETA %s", step,
                 self._total_steps, 100 * step // max(self._total_steps, 1), values["loss"],
                 values["learning_rate"], rate,
                 format_duration(steps_left * self._batch_size / max(rate, 1e-9)))
    self._window_start, self._window_examples = now, 0
