"""The best checkpoint of a run, kept apart from rotation, and when to stop early.

With --eval_every_n_steps the run evaluates dev every N steps. Each evaluation that
improves --best_metric (by more than --early_stopping_min_delta) copies its checkpoint
into output_dir/best/, with its eval_results.txt and model_info.json: there no
checkpoint rotation reaches it. best/state.json remembers the best value and how many
evaluations since have not improved it, so a rerun of the same command goes on with
both; with --early_stopping_patience=K training ends after K such evaluations.

A damaged best/ (its checkpoint cut short, a file of it unreadable) is never passed
over silently: commands that use the model stop with one line naming the file and the
run's newest intact checkpoint (checkpoint_of_run); training moves it into
output_dir/damaged/ and chooses the best again from the evaluations still to come.
"""

import json
import math
import os

from absl import logging
import tensorflow as tf

from common import files
from common.errors import DamagedFileError
from common.errors import UserError
from finetune.evaluation import outputs as outputs_lib
from finetune.model import checkpoints

BEST_DIR = "best"
STATE_FILE = "state.json"


def keeps_a_best(output_dir):
  """True when output_dir/best/ holds (or held) a best checkpoint."""
  directory = os.path.join(output_dir, BEST_DIR)
  return files.isdir(directory) and (
      files.exists(os.path.join(directory, checkpoints.STATE_FILE)) or
      bool(checkpoints.checkpoints_on_disk(directory)))


def damage_of_best(output_dir):
  """The DamagedFileError of the first damaged file of best/, or None when whole."""
  directory = os.path.join(output_dir, BEST_DIR)
  state_path = os.path.join(directory, STATE_FILE)
  if files.exists(state_path):
    try:
      state = json.loads(files.read_text(state_path))
    except (ValueError, UnicodeDecodeError) as e:
      state = "not valid JSON (%s)" % e
    if not isinstance(state, dict) or "metric" not in state:
      return DamagedFileError(state_path, "not the state of the best checkpoint (%s); "
                              "expected JSON with its metric, step and value" % (
                                  state if isinstance(state, str) else "no metric"))
  if not keeps_a_best(output_dir):
    return None
  try:
    prefix = checkpoints.checkpoint_to_use(directory)
  except DamagedFileError as e:
    return DamagedFileError(e.path, e.problem)
  if prefix is None:
    return None
  try:
    outputs_lib.read_eval_results(directory)
  except (ValueError, UnicodeDecodeError, tf.errors.OpError) as e:
    return DamagedFileError(os.path.join(directory, outputs_lib.EVAL_RESULTS),
                            "not readable as `key = value` lines (%s)" % e)
  return None


def best_checkpoint(output_dir):
  """The checkpoint prefix kept in output_dir/best/, checked whole, or None.

  Raises DamagedFileError naming the damaged file of best/ and the run's newest intact
  checkpoint (not the best) with the flag that uses it.
  """
  if not keeps_a_best(output_dir):
    return None
  damage = damage_of_best(output_dir)
  if damage is not None:
    raise damage.with_advice("the best checkpoint (best/) is damaged; %s" % checkpoints.way_out(
        output_dir, newest="the run's newest intact checkpoint (not the best)"))
  return checkpoints.checkpoint_to_use(os.path.join(output_dir, BEST_DIR))


def checkpoint_of_run(output_dir, checkpoint=None, use_best=False):
  """The checkpoint a command that uses a run's model takes, checked whole.

  Args:
    checkpoint: the one asked for (--checkpoint: a prefix or a folder), else
    use_best: best/'s when the run keeps one, else the latest of output_dir.
  Returns:
    a prefix, or None when output_dir holds no checkpoint.
  Raises:
    DamagedFileError: the checkpoint that would be used is damaged (checkpoints.py).
  """
  if checkpoint:
    return checkpoints.checkpoint_to_use(checkpoint)
  if not files.isdir(output_dir):
    return None
  if use_best and keeps_a_best(output_dir):
    return best_checkpoint(output_dir)
  return checkpoints.checkpoint_to_use(output_dir)


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
    damage = damage_of_best(output_dir)
    if damage is not None:
      destination = checkpoints.set_aside(
          [os.path.join(self.directory, name) for name in files.listdir(self.directory)],
          output_dir, BEST_DIR)
      files.remove_tree(self.directory)
      logging.warning("best/ is damaged: %s is %s; moved it to %s; the best checkpoint is "
                      "chosen again from the evaluations still to come", damage.path,
                      damage.problem, destination)
    state_path = os.path.join(self.directory, STATE_FILE)
    state = json.loads(files.read_text(state_path)) if files.exists(state_path) else {}
    if state and state["metric"] != metric:
      raise UserError("%s keeps the checkpoint with the best %s; this run asks for %s: use "
                      "a new --output_dir, or the same --best_metric" %
                      (self.directory, state["metric"], metric))
    self.step = state.get("step")
    self.value = state.get("value")
    self.evaluations_without_improvement = state.get("evaluations_without_improvement", 0)
    # The last step recorded: a rerun that evaluates it again (its row of
    # eval_history.tsv could not be written) counts it once.
    self.last_step = state.get("last_step")

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

  def update(self, step, checkpoint, result, eval_results_text, model_info_text,
             extra_texts=None):
    """Records the evaluation of `checkpoint` at `step`; keeps it if it is the best.

    Args:
      result: the evaluation's metrics (must hold self.metric).
      eval_results_text, model_info_text: the two files to keep beside it.
      extra_texts: {file name: text} also kept beside it (a ranking's eval_queries.tsv).
    Returns:
      True when this evaluation became the best.
    """
    if self.last_step is not None and step <= self.last_step:
      return step == self.step  # recorded before this run
    value = result[self.metric]
    improved = self.improves(value)
    if improved:
      self._keep(checkpoint, eval_results_text, model_info_text, extra_texts or {})
      self.step, self.value = step, float(value)
      self.evaluations_without_improvement = 0
    else:
      self.evaluations_without_improvement += 1
    self.last_step = step
    self._save_state()
    return improved

  def _keep(self, checkpoint, eval_results_text, model_info_text, extra_texts):
    """Copies the checkpoint's files into best/ with its two files and state file.

    Every file is written under a temporary name first and renamed only once all are
    written, best/checkpoint last: until then the previous best stays whole and named
    (a failed write leaves it so); its files go after.
    """
    files.makedirs(self.directory)
    previous = set(files.listdir(self.directory))
    sources = [path for path in tf.io.gfile.glob(checkpoint + ".*")
               if not path.endswith(".meta")]  # the graph, which restoring does not need
    copied = [os.path.basename(path) for path in sources]
    texts = {"eval_results.txt": eval_results_text, "model_info.json": model_info_text,
             checkpoints.STATE_FILE: checkpoints.state_text([os.path.basename(checkpoint)])}
    texts = dict(extra_texts, **texts)  # the state file stays last: written last
    targets = [os.path.join(self.directory, name) for name in copied + list(texts)]
    with files.atomic_outputs(targets) as temporaries:
      for source, temporary in zip(sources, temporaries):
        tf.io.gfile.copy(source, temporary, overwrite=True)
      for text, temporary in zip(texts.values(), temporaries[len(sources):]):
        with tf.io.gfile.GFile(temporary, "w") as f:
          f.write(text)
    for old in previous - set(copied):
      if old.startswith("model.ckpt-"):
        files.remove(os.path.join(self.directory, old))

  def _save_state(self):
    files.makedirs(self.directory)
    files.write_text_atomically(os.path.join(self.directory, STATE_FILE), json.dumps({
        "metric": self.metric, "step": self.step, "value": self.value,
        "evaluations_without_improvement": self.evaluations_without_improvement,
        "last_step": self.last_step},
        indent=2) + "\n")
