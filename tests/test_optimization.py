"""create_optimizer and AdamWeightDecayOptimizer against the rules of Google's optimizer:
Adam without bias correction, decoupled weight decay, warmup then linear decay, clipping."""

import numpy as np
import pytest
import tensorflow as tf

from helpers import classification_data
from helpers import model_flags
from helpers import run_script
from helpers import ZH_DATA
import optimization
from processors import get_processor

tf1 = tf.compat.v1


@pytest.mark.parametrize("step,expected", [
    (0, 0.0), (5, 0.5e-3), (10, 0.9e-3), (50, 0.5e-3), (100, 0.0), (150, 0.0)])
def test_learning_rate_schedule(step, expected):
  """Warmup over 10 steps, linear decay to 0 over 100: steps 0, warmup/2, warmup, half, end."""
  with tf.Graph().as_default(), tf1.Session() as session:
    lr = optimization.learning_rate_schedule(1e-3, tf.constant(step, tf.int64), 100, 10)
    assert session.run(lr) == pytest.approx(expected, abs=1e-9)


def test_schedule_without_warmup_starts_at_peak():
  with tf.Graph().as_default(), tf1.Session() as session:
    lr = optimization.learning_rate_schedule(2e-5, tf.constant(0, tf.int64), 10, 0)
    assert session.run(lr) == pytest.approx(2e-5)


def one_step(variables, loss_fn, init_lr=0.1, steps=1, bias_correction=False):
  """Runs the training op for `steps` steps; returns {name: value}, slots included."""
  with tf.Graph().as_default():
    tvars = {name: tf1.get_variable(name, initializer=value)
             for name, value in variables.items()}
    loss = loss_fn(tvars)
    if bias_correction:
      train_op = optimization.build_training_op(loss, init_lr, num_train_steps=1000,
                                                num_warmup_steps=0, use_tpu=False,
                                                bias_correction=True).train_op
    else:  # Google's interface
      train_op, _ = optimization.create_optimizer(loss, init_lr, num_train_steps=1000,
                                                  num_warmup_steps=0, use_tpu=False)
    with tf1.Session() as session:
      session.run(tf1.global_variables_initializer())
      for _ in range(steps):
        session.run(train_op)
      return {var.op.name: session.run(var) for var in tf1.global_variables()}


def test_weight_decay_applies_to_kernels_only():
  """With zero gradients the update is pure decay: lr * 0.01 * w, except LayerNorm and bias."""
  ones = np.ones([3], np.float32)
  names = ["layer/dense/kernel", "layer/dense/bias", "layer/LayerNorm/gamma",
           "head/layer_norm/scale", "output_weights", "output_bias"]
  values = one_step({name: ones for name in names},
                    lambda v: tf.add_n([tf.reduce_sum(x) * 0.0 for x in v.values()]))
  decayed = 1.0 - 0.1 * 0.01
  for name in names:
    want = decayed if name in ("layer/dense/kernel", "output_weights") else 1.0
    np.testing.assert_allclose(values[name], ones * want, rtol=1e-6, err_msg=name)


def test_first_step_has_no_bias_correction_and_slots_are_named_adam_m_v():
  """m = 0.1 g, v = 0.001 g^2, so the first update is 0.1/sqrt(0.001) = 3.162 lr sign(g)."""
  start = np.array([0.1, -0.2, 0.3], np.float32)
  target = np.array([1.0, -1.0, 2.0], np.float32)
  values = one_step({"x/bias": start},
                    lambda v: 0.5 * tf.reduce_sum(tf.square(v["x/bias"] - target)),
                    init_lr=0.01)
  step = 0.01 * 0.1 / np.sqrt(0.001)
  np.testing.assert_allclose(values["x/bias"], start + step * np.sign(target - start), rtol=1e-4)
  assert set(values) == {"x/bias", "x/bias/adam_m", "x/bias/adam_v", "global_step"}
  assert values["global_step"] == 1


def test_bias_correction_follows_adam():
  """With bias_correction: Adam's corrected m and v, decay on the kernel, over 3 steps."""
  start = np.array([0.1, -0.2, 0.3], np.float32)
  target = np.array([0.3, -0.1, 0.2], np.float32)  # gradient norm < 1: no clipping
  values = one_step({"x/kernel": start},
                    lambda v: 0.5 * tf.reduce_sum(tf.square(v["x/kernel"] - target)),
                    init_lr=0.01, steps=3, bias_correction=True)
  w, m, v = start.astype(np.float64), np.zeros(3), np.zeros(3)
  for t in (1, 2, 3):
    g = w - target
    m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
    update = (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-6) + 0.01 * w
    w = w - 0.01 * (1 - (t - 1) / 1000) * update
  np.testing.assert_allclose(values["x/kernel"], w, rtol=1e-5)
  assert values["global_step"] == 3


def test_gradients_are_clipped_to_global_norm_one():
  """A gradient of norm 2000 enters m as a gradient of norm 1: m = 0.1 * clipped g."""
  values = one_step({"a/bias": np.zeros([2], np.float32)},
                    lambda v: tf.reduce_sum(v["a/bias"] * tf.constant([1200.0, -1600.0])))
  np.testing.assert_allclose(values["a/bias/adam_m"], 0.1 * np.array([0.6, -0.8]), rtol=1e-5)


def test_sparse_embedding_gradient_equals_dense():
  """A gather's gradient (ids repeat, norm above 1) updates like the one-hot matmul's."""
  table = np.arange(15, dtype=np.float32).reshape(5, 3) / 10
  ids = [1, 1, 3]

  def gathered(v):
    return tf.reduce_sum(tf.square(tf.gather(v["emb"], ids)))

  def one_hot(v):
    return tf.reduce_sum(tf.square(tf.matmul(tf.one_hot(ids, 5), v["emb"])))

  sparse = one_step({"emb": table}, gathered, steps=3)
  dense = one_step({"emb": table}, one_hot, steps=3)
  for name in ("emb", "emb/adam_m", "emb/adam_v"):
    np.testing.assert_allclose(sparse[name], dense[name], rtol=1e-5, err_msg=name)
  assert not np.allclose(sparse["emb"], table)


def test_small_regression_loss_falls():
  rng = np.random.RandomState(0)
  features = rng.randn(256, 8).astype(np.float32)
  true_w = rng.randn(8, 1).astype(np.float32)
  labels = features @ true_w + 0.5
  with tf.Graph().as_default():
    tf1.set_random_seed(0)
    w = tf1.get_variable("dense/kernel", [8, 1], initializer=tf1.zeros_initializer())
    b = tf1.get_variable("dense/bias", [1], initializer=tf1.zeros_initializer())
    loss = tf.reduce_mean(tf.square(tf.matmul(features, w) + b - labels))
    train_op, lr = optimization.create_optimizer(loss, 0.05, num_train_steps=300,
                                                 num_warmup_steps=30, use_tpu=False)
    with tf1.Session() as session:
      session.run(tf1.global_variables_initializer())
      first = session.run(loss)
      for _ in range(300):
        session.run(train_op)
      last, final_lr, step = session.run([loss, lr, tf1.train.get_global_step()])
  assert last < 0.01 * first
  assert final_lr == 0.0 and step == 300


def test_dynamic_loss_scale_skips_non_finite_steps_and_moves_the_scale():
  """Scale 8, growth after 2 good steps: inf gradient -> skipped, scale 4; two finite
  steps -> applied, scale 8; the gradients reach m unscaled."""
  with tf.Graph().as_default():
    x = tf1.get_variable("x/bias", initializer=np.array([1.0, 2.0], np.float32))
    overflow = tf1.placeholder(tf.bool, [])
    global_step = tf1.train.get_or_create_global_step()
    adam = optimization.AdamWeightDecayOptimizer(
        0.1, clip_norm=1e9,
        loss_scale=optimization.DynamicLossScale(initial_scale=8.0, growth_interval=2))
    # d(loss)/dx = 0.5 for a finite step, inf when `overflow`.
    slope = tf.where(overflow, tf.constant(np.inf, tf.float32), tf.constant(0.5))
    loss = adam.scale_loss(tf.reduce_sum(x) * slope)
    train_op = adam.apply_gradients(adam.compute_gradients(loss, [x]), global_step)
    with tf1.Session() as session:
      session.run([tf1.global_variables_initializer(), tf1.local_variables_initializer()])
      session.run(train_op, {overflow: True})
      values, scale, step = session.run([x, adam.loss_scale.scale, global_step])
      np.testing.assert_array_equal(values, [1.0, 2.0])
      assert (scale, step) == (4.0, 0)
      for _ in range(2):
        session.run(train_op, {overflow: False})
      m, scale, step = session.run([adam.get_slot(x, "m"), adam.loss_scale.scale, global_step])
  # m after two steps of g = 0.5: 0.9 * 0.05 + 0.05
  np.testing.assert_allclose(m, [0.095, 0.095], rtol=1e-6)
  assert (scale, step) == (8.0, 2)


def first_step_of_output_bias(script, zh_model, tmp_path, *flags):
  """Runs `script` for one training step at lr 1e-3; returns max |output_bias| (from 0).

  run_reg.py trains on the sim fixture, run_classifier.py on it as lcqmc (score >= 0.7).
  """
  data_dir = ZH_DATA if script == "run_reg.py" else classification_data(tmp_path / "data")
  num_train = len(get_processor("sim").get_train_examples(ZH_DATA))
  output_dir = str(tmp_path / "out")
  run_script(script, "--task_name=" + ("sim" if script == "run_reg.py" else "lcqmc"),
             "--do_train=true", "--data_dir=%s" % data_dir, "--output_dir=" + output_dir,
             "--max_seq_length=32", "--train_batch_size=16",
             "--num_train_epochs=%r" % (16.5 / num_train), "--warmup_proportion=0",
             "--learning_rate=1e-3", "--seed=3", "--conversion_workers=1",
             *model_flags(zh_model), *flags)
  reader = tf.train.load_checkpoint(output_dir)
  assert reader.get_tensor("global_step") == 1
  return float(np.abs(reader.get_tensor("output_bias")).max())


# The first Adam step of a bias is 0.1 / sqrt(0.001) = 3.16 lr in Google's update, lr
# with the correction.
@pytest.mark.slow
@pytest.mark.parametrize("script,flags,first_step", [
    ("run_reg.py", [], 1e-3 * 0.1 / np.sqrt(0.001)),
    ("run_classifier.py", [], 1e-3),
    ("run_classifier.py", ["--adam_bias_correction=false"], 1e-3 * 0.1 / np.sqrt(0.001)),
])
def test_each_scripts_default_update(script, flags, first_step, zh_model, tmp_path):
  assert first_step_of_output_bias(script, zh_model, tmp_path, *flags) == pytest.approx(
      first_step, rel=0.01)
