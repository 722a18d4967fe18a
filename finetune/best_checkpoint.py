"""The best checkpoint of a run, kept apart from rotation, and when to stop early.

With --eval_every_n_steps the run evaluates dev every N steps. Each evaluation that
improves --best_metric (by more than --early_stopping_min_delta) copies its checkpoint
into output_dir/best/, with its eval_results.txt and model_info.json: there no
checkpoint rotation reaches it. best/state.json remembers the best value and how many
evaluations since have not improved it, so a rerun of the same command goes on with
both; with --early_stopping_patience=K training ends after K such evaluations.
"""

import json
import math
import os

import tensorflow as tf

from common import files
from common.errors import UserError

BEST_DIR = "best"
STATE_FILE = "state.json"


def best_checkpoint(output_dir):
  """The checkpoint prefix kept in output_dir/best/, or None."""
  directory = os.path.join(output_dir, BEST_DIR)
  return tf.train.latest_checkpoint(directory) if files.isdir(directory) else None


class BestCheckpoint:
  """Tracks the best evaluation of a run and keeps its checkpoint in best/.

  Args:
    output_dir: the run's folder.
    metric: the metric name that decides; higher_is_better: its direction.
    min_delta: an evaluation improves on the best only by more than this.
    patience: evaluations without improvement after which training stops (0: never).
  """

  def __init__(self, output_dir, metric, higher_is_better, min_delta=0.0, patience=0):
    self.directory = os.path.join(output_dir, BEST_DIR)
    self.metric = metric
    self.higher_is_better = higher_is_better
    self.min_delta = min_delta
    self.patience = patience
    state_path = os.path.join(self.directory, STATE_FILE)
    state = json.loads(files.read_text(state_path)) if files.exists(state_path) else {}
    if state and state["metric"] != metric:
      raise UserError("%s keeps the checkpoint with the best %s; this run asks for %s: use "
                      "a new --output_dir, or the same --best_metric" %
                      (self.directory, state["metric"], metric))
    self.step = state.get("step")
    self.value = state.get("value")
    self.evaluations_without_improvement = state.get("evaluations_without_improvement", 0)

  @property
  def should_stop(self):
    """True once `patience` evaluations in a row have not improved the best."""
    return bool(self.patience) and self.evaluations_without_improvement >= self.patience

  def improves(self, value):
    """True when `value` beats the best so far by more than min_delta (NaN never does)."""
    if value is None or not math.isfinite(value):
      return False
    if self.value is None:
      return True
    if self.higher_is_better:
      return value > self.value + self.min_delta
    return value < self.value - self.min_delta

  def update(self, step, checkpoint, result, eval_results_text, model_info_text):
    """Records the evaluation of `checkpoint` at `step`; keeps it if it is the best.

    Args:
      result: the evaluation's metrics (must hold self.metric).
      eval_results_text, model_info_text: the two files to keep beside it.
    Returns:
      True when this evaluation became the best.
    """
    value = result[self.metric]
    improved = self.improves(value)
    if improved:
      self._keep(checkpoint, eval_results_text, model_info_text)
      self.step, self.value = step, float(value)
      self.evaluations_without_improvement = 0
    else:
      self.evaluations_without_improvement += 1
    self._save_state()
    return improved

  def _keep(self, checkpoint, eval_results_text, model_info_text):
    """Copies the checkpoint's files into best/ and then points best/checkpoint at them.

    Until that last write the previous best stays whole and named; its files go after.
    """
    files.makedirs(self.directory)
    previous = set(files.listdir(self.directory))
    name = os.path.basename(checkpoint)
    copied = set()
    for path in tf.io.gfile.glob(checkpoint + ".*"):
      if path.endswith(".meta"):  # the graph, which restoring does not need
        continue
      files.copy_atomically(path, os.path.join(self.directory, os.path.basename(path)))
      copied.add(os.path.basename(path))
    files.write_text_atomically(os.path.join(self.directory, "eval_results.txt"),
                                eval_results_text)
    files.write_text_atomically(os.path.join(self.directory, "model_info.json"),
                                model_info_text)
    files.write_text_atomically(os.path.join(self.directory, "checkpoint"),
                                'model_checkpoint_path: "%s"\n'
                                'all_model_checkpoint_paths: "%s"\n' % (name, name))
    for old in previous - copied:
      if old.startswith("model.ckpt-"):
        files.remove(os.path.join(self.directory, old))

  def _save_state(self):
    files.makedirs(self.directory)
    files.write_text_atomically(os.path.join(self.directory, STATE_FILE), json.dumps({
        "metric": self.metric, "step": self.step, "value": self.value,
        "evaluations_without_improvement": self.evaluations_without_improvement},
        indent=2) + "\n")
