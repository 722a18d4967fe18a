"""A loss or gradient that turns NaN or inf stops training with one line naming the step
and the likely cause, and no NaN or inf ever reaches the weights or a checkpoint."""

import os
import re

import numpy as np
import pytest
import tensorflow as tf

from finetune.training import divergence
from helpers import model_flags
from helpers import ONE_ENGINE
from helpers import run_script
from helpers import ZH_DATA
import optimization

tf1 = tf.compat.v1


def test_a_step_with_a_nan_gradient_changes_no_variable():
  with tf.Graph().as_default():
    weights = tf1.get_variable("w", initializer=np.array([1.0, -2.0], np.float32))
    poison = tf1.placeholder(tf.float32, [])
    loss = tf.reduce_sum(tf.square(weights - 3.0)) * poison
    step = optimization.build_training_op(loss, 0.1, 100, 0, False)
    train_op, gradient_norm = step.train_op, step.gradient_norm
    with tf1.Session() as session:
      session.run(tf1.global_variables_initializer())
      session.run(train_op, {poison: 1.0})

      def state():
        return {var.op.name: session.run(var) for var in tf1.global_variables()}

      before = state()
      norm = session.run([train_op, gradient_norm], {poison: np.nan})[1]
      after = state()
      assert np.isnan(norm)
      assert after.pop("global_step") == before.pop("global_step") + 1
      assert set(after) == {"w", "w/adam_m", "w/adam_v"}
      for name, value in before.items():
        np.testing.assert_array_equal(after[name], value, err_msg=name)
      session.run(train_op, {poison: 1.0})  # a finite step still trains
      assert not np.array_equal(session.run(weights), before["w"])


def run_guarded(loss_at_step, learning_rate=0.5, label_hint=None, steps=10):
  """Runs `steps` steps with the guard; the loss of step n (1-based) is loss_at_step(n)."""
  with tf.Graph().as_default():
    global_step = tf1.train.get_or_create_global_step()
    steps_run = []

    def next_loss():
      steps_run.append(1)
      return np.float32(loss_at_step(len(steps_run)))

    loss = tf.numpy_function(next_loss, [], tf.float32)
    step = tf.group(loss, global_step.assign_add(1))
    guard = divergence.DivergenceGuard(learning_rate, steps, label_hint)
    guard.watch(loss, tf.constant(1.0))
    with tf1.train.MonitoredSession(hooks=[guard]) as session:
      for _ in range(steps):
        session.run(step)


def test_the_guard_names_the_step_the_loss_and_the_learning_rate():
  run_guarded(lambda step: 0.5)  # finite all along: no complaint
  with pytest.raises(divergence.TrainingDiverged) as raised:
    run_guarded(lambda step: np.nan if step >= 7 else 1.0 / step)
  message = str(raised.value)
  assert message.startswith("training stopped at step 7 of 10: the loss is nan")
  assert "Likely cause: --learning_rate=0.5 is too high" in message and "try 0.05" in message
  assert "\n" not in message
  with pytest.raises(divergence.TrainingDiverged, match=r"step 1 of 10: the loss is inf.*"
                                                       r"Likely cause: scores of 1e\+30\. "
                                                       r"Else --learning_rate=0\.5 may be"):
    run_guarded(lambda step: np.inf, label_hint="scores of 1e+30")


@pytest.mark.slow
@pytest.mark.parametrize("engine", ONE_ENGINE)
def test_run_reg_stops_at_an_inf_loss_and_leaves_finite_checkpoints(engine, zh_model,
                                                                    tmp_path):
  """One spreadsheet typo (a score of 3e19) under a linear head makes the loss inf."""
  data_dir = tmp_path / "data"
  data_dir.mkdir()
  lines = open(os.path.join(ZH_DATA, "train.tsv"), encoding="utf-8").read().splitlines()
  first, second, _ = lines[40].split("\t")
  lines[40] = "%s\t%s\t3e19" % (first, second)
  (data_dir / "train.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
  output_dir = tmp_path / "out"
  # A checkpoint after every step: the one saved at the failing step is checked too.
  result = run_script("run_reg.py", "--task_name=sim", "--do_train=true",
                      "--use_sigmoid_act=false", "--data_dir=%s" % data_dir,
                      "--output_dir=%s" % output_dir, "--max_seq_length=32",
                      "--train_batch_size=4", "--save_checkpoints_steps=1", "--seed=3",
                      "--engine=" + engine,
                      *model_flags(zh_model), check=False)
  last_line = result.stderr.strip().splitlines()[-1]
  assert result.returncode == 1, result.stderr[-2000:]
  assert "Traceback" not in result.stderr
  match = re.match(r"error: training stopped at step (\d+) of 75: the loss is inf .*Likely "
                   r"cause: training scores too large for the linear head \(up to 3e\+19\): "
                   r"map them into 0\.\.1 with --label_min and --label_max\. Else "
                   r"--learning_rate=5e-05 may be too high", last_line)
  assert match, last_line
  failed_at = int(match.group(1))
  checkpoint = tf.train.latest_checkpoint(str(output_dir))
  reader = tf.train.load_checkpoint(checkpoint)
  assert 1 <= reader.get_tensor("global_step") <= failed_at
  values = {name: np.asarray(reader.get_tensor(name))
            for name in reader.get_variable_to_shape_map()}
  floating = {name: value for name, value in values.items()
              if np.issubdtype(value.dtype, np.floating)}
  assert len(floating) == len(values) - 1  # all but global_step
  for name, value in floating.items():
    assert np.all(np.isfinite(value)), name
