"""Several replicas on this CPU: mirrored over two logical CPU devices, two local workers.

There is no GPU or TPU here. Two logical CPU devices stand in for two GPUs (the same
MirroredStrategy code path, with ReductionToOneDevice instead of NCCL), and two worker
processes on loopback stand in for two machines.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile

import numpy as np
import pytest
import tensorflow as tf

from common.errors import UserError
from finetune import pipeline
from finetune.data.input_fn import input_shard
from finetune.engines import make_engine
from finetune.model.model_fn import ModelSpec
from finetune.options import make_run_options
from finetune.tasks import RegressionTask
from finetune.training import distribution as distribution_lib
from finetune.training.monitors import TrainingMonitors
from helpers import CHINESE_VOCAB
from helpers import ENGINES
from helpers import make_tiny_model
from helpers import model_flags
from helpers import prediction_scores
from helpers import read_eval_results
from helpers import read_tsv
from helpers import REPO_ROOT
from helpers import run_script
from helpers import scaled_scores_data
from helpers import ZH_DATA
import modeling
import optimization
from processors import get_processor

tf1 = tf.compat.v1


class RegressionWithoutHeadDropout(RegressionTask):
  """A linear regression head with its dropout off: runs then differ only in how each
  global batch is split over devices."""

  def build_head(self, pooled_output, labels, is_training):
    return super().build_head(pooled_output, labels, False)


@pytest.fixture(scope="module")
def deterministic_model(tmp_path_factory):
  """A tiny zh BERT without dropout, whose checkpoint holds the regression head too, so
  that every variable of two runs starts from the same values."""
  directory = str(tmp_path_factory.mktemp("deterministic_model"))
  make_tiny_model(directory, CHINESE_VOCAB, hidden_dropout_prob=0.0,
                  attention_probs_dropout_prob=0.0)
  checkpoint = os.path.join(directory, "bert_model.ckpt")
  values = modeling.checkpoint_variables(checkpoint)
  hidden = values["bert/pooler/dense/bias"].shape[0]
  values["output_weights"] = np.random.RandomState(0).normal(0, 0.02, [1, hidden]).astype(
      np.float32)
  values["output_bias"] = np.zeros([1], np.float32)
  with tf.Graph().as_default():
    for name, value in values.items():
      tf1.get_variable(name, initializer=value)
    with tf1.Session() as session:
      session.run(tf1.global_variables_initializer())
      tf1.train.Saver().save(session, checkpoint, write_meta_graph=False, write_state=False)
  return directory


def train_evaluate_predict(model_dir, data_dir, output_dir, **more_options):
  """pipeline.run with every phase; returns the eval metrics."""
  options = make_run_options(
      data_dir=data_dir, task_name="sim", output_dir=output_dir,
      bert_config_file=os.path.join(model_dir, "bert_config.json"),
      vocab_file=os.path.join(model_dir, "vocab.txt"),
      init_checkpoint=os.path.join(model_dir, "bert_model.ckpt"), max_seq_length=32,
      do_train=True, do_eval=True, do_predict=True, train_batch_size=8,
      num_train_epochs=0.5, learning_rate=1e-3, seed=1, conversion_workers=1,
      batch_layout="trimmed",  # bucketing would batch by replica: other global batches
      log_every_n_steps=2, **more_options)
  task = RegressionWithoutHeadDropout(use_sigmoid_act=False)
  return pipeline.run(task, get_processor("sim"), options)


def assert_same_variables(checkpoint, expected, rtol, atol):
  """Every variable of `checkpoint` equals `expected`'s (same names, values within tol)."""
  values = modeling.checkpoint_variables(checkpoint)
  assert set(values) == set(expected)
  for name, value in expected.items():
    np.testing.assert_allclose(values[name], value, rtol=rtol, atol=atol, err_msg=name)


# Google's update (run_reg.py's default) on every engine, and Adam's with bias
# correction (run_classifier.py's), which reads the global step inside each variable's
# update.
@pytest.mark.slow
@pytest.mark.parametrize("adam_bias_correction,engine",
                         [(False, engine) for engine in ENGINES] + [(True, ENGINES[-1])])
def test_mirrored_over_two_cpus_matches_one_device(adam_bias_correction, engine,
                                                   deterministic_model, tmp_path):
  """Same global batch of 8: one device, and 4 + 4 on /cpu:0 and /cpu:1.

  After 6 steps the two runs agree on the dev loss, the test predictions and every
  variable of the checkpoint, Adam's m and v included (measured: within 1e-8). The
  gradients here are clipped at every step: clipping each replica's half before the sum
  (the order of Google's code) moved variables by 3e-3 and failed this test.
  """
  # Every score + 3: far from a fresh linear head's outputs, so the gradients are large
  # and clipping to norm 1 is in play.
  data_dir = scaled_scores_data(str(tmp_path / "data"), shift=3)
  single_dir, mirrored_dir = str(tmp_path / "single"), str(tmp_path / "mirrored")
  single = train_evaluate_predict(deterministic_model, data_dir, single_dir, engine=engine,
                                  adam_bias_correction=adam_bias_correction)
  mirrored = train_evaluate_predict(deterministic_model, data_dir, mirrored_dir,
                                    distribution="mirrored", devices="/cpu:0,/cpu:1",
                                    engine=engine, adam_bias_correction=adam_bias_correction)

  assert single["global_step"] == mirrored["global_step"] == int(100 / 8 * 0.5)
  assert mirrored["eval_num_examples"] == 28
  assert mirrored["eval_loss"] == pytest.approx(single["eval_loss"], rel=1e-4)
  predictions = [prediction_scores(directory) for directory in (single_dir, mirrored_dir)]
  assert len(predictions[1]) == 12
  np.testing.assert_allclose(predictions[1], predictions[0], atol=1e-4)

  start = modeling.checkpoint_variables(os.path.join(deterministic_model, "bert_model.ckpt"))
  single_vars = modeling.checkpoint_variables(tf.train.latest_checkpoint(single_dir))
  assert_same_variables(tf.train.latest_checkpoint(mirrored_dir), single_vars, 1e-3, 1e-6)
  # Training moved the model far more than the runs differ.
  assert np.abs(single_vars["output_bias"] - start["output_bias"]).max() > 1e-3


@pytest.mark.slow
@pytest.mark.skipif(len(ENGINES) < 2, reason="tf.estimator exists on TensorFlow <= 2.15 only")
def test_the_session_engine_trains_and_predicts_as_the_estimator_engine(deterministic_model,
                                                                        tmp_path):
  """The same run on both engines (no dropout, the same seed): the same checkpoint
  variables, names, shapes and values, the same dev metrics and predictions."""
  data_dir = scaled_scores_data(str(tmp_path / "data"), shift=3)
  results, directories = {}, {}
  for engine in ("estimator", "session"):
    directories[engine] = str(tmp_path / engine)
    results[engine] = train_evaluate_predict(deterministic_model, data_dir,
                                             directories[engine], engine=engine)
  assert results["session"] == pytest.approx(results["estimator"], rel=1e-5)
  np.testing.assert_allclose(prediction_scores(directories["session"]),
                             prediction_scores(directories["estimator"]), atol=1e-5)
  estimator_checkpoint = tf.train.latest_checkpoint(directories["estimator"])
  session_checkpoint = tf.train.latest_checkpoint(directories["session"])
  assert os.path.basename(session_checkpoint) == os.path.basename(estimator_checkpoint)
  shapes = tf.train.load_checkpoint(estimator_checkpoint).get_variable_to_shape_map()
  assert tf.train.load_checkpoint(session_checkpoint).get_variable_to_shape_map() == shapes
  assert_same_variables(session_checkpoint,
                        modeling.checkpoint_variables(estimator_checkpoint), 1e-5, 1e-7)


def first_step_adam_m(features, targets, distribution, engine):
  """Adam's m after one create_optimizer step on a linear model, global batch of 8.

  features [8, 4], targets [8]; loss = mean squared error. m after one step is
  0.1 * (the clipped gradient), which shows its scale and how it was clipped. The step
  runs through `engine`, as the pipeline's would.
  """
  def model_fn(features, mode, params):
    del params
    kernel = tf1.get_variable("dense/kernel", initializer=tf.fill([4, 1], 0.1))
    loss = tf.reduce_mean(tf.square(tf.squeeze(tf.matmul(features["x"], kernel), -1) -
                                    features["y"]))
    train_op, learning_rate = optimization.create_optimizer(loss, 0.01, 10, 0, use_tpu=False)
    return ModelSpec(mode, loss, train_op=train_op, learning_rate=learning_rate)

  def input_fn(params, input_context=None):
    del input_context
    # Unshuffled: the replicas' batches of 4 are examples 0-3 and 4-7.
    return tf.data.Dataset.from_tensor_slices({"x": features, "y": targets}).repeat().batch(
        params["batch_size"])

  model_dir = tempfile.mkdtemp()
  options = make_run_options(train_batch_size=8)
  make_engine(engine, model_fn=model_fn, output_dir=model_dir, distribution=distribution,
              training=options.training, runtime=options.runtime).train(
                  input_fn, 1, TrainingMonitors(total_steps=1, batch_size=8,
                                                log_every_n_steps=1, learning_rate=0.01))
  m = tf.train.load_checkpoint(model_dir).get_tensor("dense/kernel/adam_m")
  shutil.rmtree(model_dir)
  return m[:, 0]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("target_scale", [0.01, 100.0])
def test_one_step_uses_the_global_mean_gradient_clipped_on_its_global_norm(target_scale,
                                                                          engine):
  """Small targets: a gradient norm below 1, no clipping (m shows the gradient's scale:
  a mean, not a sum over replicas). Large targets: clipped to norm 1 as a whole; the
  replicas' halves, of different norms, each clipped, would point elsewhere."""
  rng = np.random.RandomState(0)
  features = rng.uniform(-1, 1, [8, 4]).astype(np.float32)
  targets = (rng.uniform(0, 1, [8]) * target_scale).astype(np.float32)
  targets[4:] *= 3  # the second replica's half has the larger gradient
  gradient = 2 * features.T @ (features @ np.full(4, 0.1) - targets) / 8
  norm = np.linalg.norm(gradient)
  assert (norm > 1) == (target_scale > 1)
  expected = 0.1 * gradient / max(norm, 1.0)
  for distribution in (distribution_lib.make_distribution("none"),
                       distribution_lib.make_distribution("mirrored", "/cpu:0,/cpu:1")):
    np.testing.assert_allclose(first_step_adam_m(features, targets, distribution, engine),
                               expected, rtol=1e-5, err_msg=distribution.description)


def free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES)
def test_multi_worker_two_local_processes_write_one_checkpoint(engine, zh_model, tmp_path):
  """Two workers of run_reg.py on loopback, sharing --output_dir as on a shared disk.

  The chief (worker 0) writes the checkpoints, evaluates and predicts; worker 1 trains
  its share and keeps its own copy of the checkpoints in tmp_worker_1/, which must hold
  the very same values: one consistent model.
  """
  output_dir = str(tmp_path / "out")
  ports = [free_port(), free_port()]
  cluster = {"worker": ["localhost:%d" % port for port in ports]}
  args = [sys.executable, os.path.join(REPO_ROOT, "run_reg.py"), "--task_name=sim",
          "--do_train=true", "--do_eval=true", "--do_predict=true", "--data_dir=" + ZH_DATA,
          "--output_dir=" + output_dir, "--max_seq_length=32", "--train_batch_size=8",
          "--num_train_epochs=1", "--distribution=multi_worker", "--conversion_workers=1",
          "--engine=" + engine, *model_flags(zh_model)]
  workers, logs = [], []
  try:
    for index in range(2):
      env = dict(os.environ, TF_CONFIG=json.dumps(
          {"cluster": cluster, "task": {"type": "worker", "index": index}}))
      logs.append(open(str(tmp_path / ("worker%d.log" % index)), "w+"))
      workers.append(subprocess.Popen(args, env=env, stdout=logs[-1], stderr=subprocess.STDOUT,
                                      cwd=REPO_ROOT))
    codes = [worker.wait(timeout=240) for worker in workers]
  finally:
    for worker in workers:
      if worker.poll() is None:
        worker.kill()
        worker.wait()
    texts = []
    for log in logs:
      log.seek(0)
      texts.append(log.read())
      log.close()
  assert codes == [0, 0], "\n\n".join(text[-3000:] for text in texts)

  steps = int(100 / 8 * 1)
  assert "global batch 8 (4 per replica x 2 replicas), %d steps" % steps in texts[0]
  assert "worker 1: training done; the chief evaluates and predicts" in texts[1]
  chief = tf.train.latest_checkpoint(output_dir)
  assert chief.endswith("model.ckpt-%d" % steps)
  copy = tf.train.latest_checkpoint(os.path.join(output_dir, "tmp_worker_1"))
  assert copy.endswith("model.ckpt-%d" % steps)
  chief_vars, copy_vars = modeling.checkpoint_variables(chief), modeling.checkpoint_variables(copy)
  assert set(chief_vars) == set(copy_vars)
  for name, value in chief_vars.items():
    np.testing.assert_array_equal(copy_vars[name], value, err_msg=name)
  # The chief restored that checkpoint to evaluate and predict.
  results = read_eval_results(output_dir)
  assert results["global_step"] == steps and results["eval_num_examples"] == 28
  assert len(read_tsv(os.path.join(output_dir, "test_results.tsv"))) == 13


@pytest.mark.slow
def test_a_global_batch_the_replicas_cannot_share_is_one_error_line(zh_model, tmp_path):
  result = run_script("run_reg.py", "--task_name=sim", "--do_train=true",
                      "--data_dir=" + ZH_DATA, "--output_dir=" + str(tmp_path / "out"),
                      "--train_batch_size=7", "--distribution=mirrored",
                      "--devices=/cpu:0,/cpu:1", *model_flags(zh_model), check=False)
  assert result.returncode == 1
  assert result.stderr.rstrip().splitlines()[-1] == (
      "error: --train_batch_size=7 is the global batch and must divide evenly over the 2 "
      "replicas (mirrored over /cpu:0, /cpu:1); expected a multiple of 2")
  assert "Traceback" not in result.stderr


@pytest.mark.parametrize("kind,devices,environ,message", [
    ("mirrored", "/cpu:0,gpu", {}, "--devices: 'gpu' is not a device name"),
    ("mirrored", "/cpu:0,/cpu:0", {}, "--devices=/cpu:0,/cpu:0 names a device twice"),
    ("mirrored", "/gpu:99", {}, "--devices: /gpu:99 does not exist; this machine has"),
    ("multi_worker", None, {}, "--distribution=multi_worker needs the TF_CONFIG"),
    ("multi_worker", None, {"TF_CONFIG": "{\"cluster\": {}}"},
     "TF_CONFIG is not valid (KeyError: 'task')"),
    ("multi_worker", None, {"TF_CONFIG": json.dumps(
        {"cluster": {"worker": ["a:1"], "evaluator": ["b:2"]},
         "task": {"type": "worker", "index": 0}})}, "TF_CONFIG: job 'evaluator' in the cluster"),
    ("multi_worker", None, {"TF_CONFIG": json.dumps(
        {"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 1}})},
     "TF_CONFIG: task worker 1 is not in the cluster"),
])
def test_distribution_mistakes_are_user_errors(kind, devices, environ, message):
  """Mistakes only the machine can show (the flags' own checks: test_pipeline.py)."""
  with pytest.raises(UserError) as error:
    distribution_lib.make_distribution(kind, devices, environ=environ)
  assert str(error.value).startswith(message)


def test_tpu_replicas_are_its_cores_and_split_the_global_batch():
  tpu = distribution_lib.make_distribution("none", use_tpu=True, num_tpu_cores=8)
  assert tpu.strategy is None and tpu.num_replicas == 8
  assert tpu.per_replica_batch(32) == 4
  with pytest.raises(UserError, match="--eval_batch_size=12 is the global batch"):
    tpu.per_replica_batch(12, "--eval_batch_size")
  assert distribution_lib.make_distribution("none").per_replica_batch(7) == 7


class FakeTpuContext:
  """What TPUEstimator puts in params["context"] on a pod: (host, index, count, replicas)."""

  def current_input_fn_deployment(self):
    return "/job:tpu_worker/task:3/device:CPU:0", 3, 4, 8


def test_training_input_is_sharded_per_input_pipeline():
  assert input_shard({"batch_size": 8}, None) == (1, 0)
  assert input_shard({"batch_size": 8, "context": FakeTpuContext()}, None) == (4, 3)
  context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=1,
                                       num_replicas_in_sync=4)
  assert input_shard({"batch_size": 8}, context) == (2, 1)
