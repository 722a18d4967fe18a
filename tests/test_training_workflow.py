"""Training as users run it: evaluating while training, the best checkpoint, early
stopping, gradient accumulation and class weights. Evaluating in stretches runs on every
engine of this TensorFlow (each engine resumes its own way); the rest on its default."""

import json
import os
import re

import numpy as np
import pytest
import tensorflow as tf

from finetune import pipeline
from finetune.evaluation import metrics
from finetune.options import make_run_options
from finetune.runtime.predictor import load_predictor
from finetune.tasks import ClassificationTask
from finetune.tasks import RegressionTask
from helpers import classification_data
from helpers import ENGINES
from helpers import model_flags
from helpers import ONE_ENGINE
from helpers import read_eval_results
from helpers import read_tsv
from helpers import run_script
from helpers import scaled_scores_data
from helpers import ZH_DATA
import modeling
from processors import get_processor

pytestmark = pytest.mark.slow


def read_history(output_dir):
  rows = read_tsv(os.path.join(output_dir, "eval_history.tsv"))
  return rows[0], [dict(zip(rows[0], map(float, row))) for row in rows[1:]]


@pytest.mark.parametrize("engine", ENGINES)
def test_evaluating_every_n_steps_keeps_the_best_checkpoint(engine, zh_model, tmp_path):
  output_dir = str(tmp_path / "out")
  command = ["--task_name=sim", "--do_train=true", "--do_eval=true", "--data_dir=" + ZH_DATA,
             "--output_dir=" + output_dir, "--max_seq_length=32", "--train_batch_size=8",
             "--num_train_epochs=2", "--learning_rate=1e-3", "--eval_every_n_steps=5",
             "--seed=4", "--engine=" + engine, *model_flags(zh_model)]
  log = run_script("run_reg.py", *command).stderr
  header, history = read_history(output_dir)
  assert header[:3] == ["step", "eval_loss", "eval_mae"] and "eval_spearman" in header
  assert [int(row["step"]) for row in history] == [5, 10, 15, 20, 25]  # and the last step
  assert len(re.findall(r"evaluation at step \d+ of 25: eval_loss = ", log)) == 5

  # eval_results.txt is the best row (by eval_spearman, the default).
  best_row = max(history, key=lambda row: row["eval_spearman"])
  results = read_eval_results(output_dir)
  assert results["global_step"] == best_row["step"]
  for name, value in best_row.items():
    if name != "step":
      assert results[name] == pytest.approx(value, rel=1e-9), name
  best_dir = os.path.join(output_dir, "best")
  assert os.path.basename(tf.train.latest_checkpoint(best_dir)) == (
      "model.ckpt-%d" % best_row["step"])
  assert read_eval_results(best_dir) == results
  with open(os.path.join(output_dir, "model_info.json")) as f:
    assert json.load(f)["use_best_checkpoint"] is True

  # The files in best/ restore and predict what the history recorded for that step.
  dev = get_processor("sim").get_dev_examples(ZH_DATA)
  with load_predictor(output_dir) as predictor:
    scores = predictor.predict([(e.text_a, e.text_b) for e in dev])["score"]
  labels = [e.label for e in dev]
  assert len({row["eval_spearman"] for row in history}) > 1  # a real choice was made
  # predict.py batches otherwise than evaluation did, which moves each score by float
  # rounding (about 1e-7). Near-tied scores of this tiny model then swap places, and a
  # rank correlation over 28 pairs moves by 5.5e-4 a swap (2.3e-3 seen); the errors move
  # by no more than the scores. So the restored checkpoint is told by its errors: equal
  # to the best row's, and closer to them than to any other checkpoint's.
  restored = metrics.regression_metrics(scores, labels)
  for name in ("eval_mae", "eval_rmse"):
    value = restored[name[len("eval_"):]]
    assert value == pytest.approx(best_row[name], abs=1e-5), name
    others = [abs(value - row[name]) for row in history if row[name] != best_row[name]]
    assert not others or abs(value - best_row[name]) < min(others), name

  # The last checkpoint instead, on request; and a rerun trains nothing more.
  rerun = run_script("run_reg.py", *command, "--use_best_checkpoint=false")
  assert "evaluation at step" not in rerun.stderr
  assert read_eval_results(output_dir)["global_step"] == 25
  assert read_eval_results(output_dir)["eval_spearman"] == pytest.approx(
      history[-1]["eval_spearman"], rel=1e-9)
  assert len(read_history(output_dir)[1]) == 5


@pytest.mark.parametrize("engine", ONE_ENGINE)
def test_early_stopping_ends_training_when_dev_stops_improving(engine, zh_model, tmp_path):
  """Dev scores that are the training scores turned around (1 - s): the better the
  model fits the training pairs, the worse dev gets, so its loss soon stops falling."""
  data_dir = scaled_scores_data(str(tmp_path / "data"), splits=("train",))
  dev_rows = read_tsv(os.path.join(ZH_DATA, "dev.tsv"))
  with open(os.path.join(data_dir, "dev.tsv"), "w", encoding="utf-8") as f:
    f.writelines("%s\t%s\t%g\n" % (a, b, 1 - float(s)) for a, b, s in dev_rows)
  output_dir = str(tmp_path / "out")
  command = ["--task_name=sim", "--do_train=true", "--data_dir=" + data_dir,
             "--output_dir=" + output_dir, "--max_seq_length=32", "--train_batch_size=8",
             "--num_train_epochs=8", "--learning_rate=1e-3", "--eval_every_n_steps=4",
             "--best_metric=eval_loss", "--early_stopping_patience=2", "--seed=4",
             "--engine=" + engine, *model_flags(zh_model)]
  log = run_script("run_reg.py", *command).stderr
  _, history = read_history(output_dir)
  planned = int(100 / 8 * 8)
  steps = [int(row["step"]) for row in history]
  assert steps[-1] < planned  # stopped before the planned 100 steps
  losses = [row["eval_loss"] for row in history]
  best = int(np.argmin(losses))
  assert best == len(losses) - 3  # then two evaluations without improvement
  assert re.search(r"early stopping: eval_loss has not improved by more than 0 in 2 "
                   r"evaluations \(the best, [\d.e-]+, at step %d\); not training on to "
                   r"step %d" % (steps[best], planned), log)
  assert read_eval_results(output_dir)["global_step"] == steps[best]
  # The rerun of the same command remembers the best and the stop.
  rerun = run_script("run_reg.py", *command).stderr
  assert "evaluation at step" not in rerun and "early stopping" in rerun
  assert read_eval_results(output_dir)["global_step"] == steps[best]


class RegressionWithoutHeadDropout(RegressionTask):
  def build_head(self, pooled_output, labels, is_training):
    return super().build_head(pooled_output, labels, False)


@pytest.mark.parametrize("engine", ONE_ENGINE)
def test_gradient_accumulation_makes_the_update_of_one_batch(engine, zh_model, tmp_path):
  """Dropout off: a batch of 8 in 4 micro-batches of 2 trains as the batch of 8 does."""
  from helpers import CHINESE_VOCAB
  from helpers import make_tiny_model
  model_dir = make_tiny_model(str(tmp_path / "model"), CHINESE_VOCAB,
                              hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
  variables = {}
  for micro_batches in (1, 4):
    output_dir = str(tmp_path / ("out%d" % micro_batches))
    options = make_run_options(
        data_dir=ZH_DATA, task_name="sim", output_dir=output_dir, do_train=True,
        bert_config_file=os.path.join(model_dir, "bert_config.json"),
        vocab_file=os.path.join(model_dir, "vocab.txt"),
        init_checkpoint=os.path.join(model_dir, "bert_model.ckpt"), max_seq_length=32,
        train_batch_size=8, num_train_epochs=0.5, learning_rate=1e-3, seed=1,
        batch_layout="trimmed", conversion_workers=1, engine=engine,
        gradient_accumulation_steps=micro_batches)
    pipeline.run(RegressionWithoutHeadDropout(), get_processor("sim"), options)
    variables[micro_batches] = modeling.checkpoint_variables(
        tf.train.latest_checkpoint(output_dir))
  assert variables[1]["global_step"] == variables[4]["global_step"] == 6
  start = modeling.checkpoint_variables(os.path.join(model_dir, "bert_model.ckpt"))
  assert np.abs(variables[1]["bert/pooler/dense/kernel"] -
                start["bert/pooler/dense/kernel"]).max() > 1e-3  # it trained
  for name, value in variables[1].items():
    np.testing.assert_allclose(variables[4][name], value, rtol=1e-5, atol=1e-5, err_msg=name)


def test_gradient_accumulation_must_divide_the_batch(zh_model, tmp_path):
  result = run_script("run_reg.py", "--task_name=sim", "--do_train=true",
                      "--data_dir=" + ZH_DATA, "--output_dir=" + str(tmp_path / "out"),
                      "--train_batch_size=8", "--gradient_accumulation_steps=3",
                      *model_flags(zh_model), check=False)
  assert result.returncode == 1 and "Traceback" not in result.stderr
  assert result.stderr.strip().splitlines()[-1] == (
      "error: --gradient_accumulation_steps=3 must divide the batch of each replica, 8 "
      "(--train_batch_size=8 over 1 replica(s)); expected a divisor of 8")


def test_class_weights_scale_each_examples_cross_entropy():
  """loss_i = w[y_i] * cross-entropy_i; balanced w[c] = n / (classes * n_c)."""
  pooled = np.random.RandomState(0).randn(6, 4).astype(np.float32)
  labels = np.array([0, 1, 1, 1, 2, 2])
  losses = {}
  for weights in (None, [2.0, 0.5, 1.0]):
    task = ClassificationTask(["a", "b", "c"], class_weights=weights)
    with tf.Graph().as_default():
      tf.compat.v1.set_random_seed(3)
      loss, _ = task.build_head(tf.constant(pooled), tf.constant(labels), False)
      with tf.compat.v1.Session() as session:
        session.run(tf.compat.v1.global_variables_initializer())
        losses[str(weights)] = session.run(loss)
  np.testing.assert_allclose(losses["[2.0, 0.5, 1.0]"],
                             losses["None"] * np.array([2.0, 0.5, 1.0])[labels], rtol=1e-6)
  balanced = ClassificationTask(["a", "b", "c"], class_weights="balanced").fitted_to(labels)
  np.testing.assert_allclose(balanced.class_weights, [6 / 3 / 1, 6 / 3 / 3, 6 / 3 / 2])
  assert balanced.describe()["class_weights"] == balanced.class_weights
  with pytest.raises(Exception, match=r"--class_weights=1,2: 2 weights for 3 labels"):
    ClassificationTask(["a", "b", "c"], class_weights="1,2")
  with pytest.raises(Exception, match=r"no training example of class c"):
    ClassificationTask(["a", "b", "c"], class_weights="balanced").fitted_to([0, 1, 1])


@pytest.mark.parametrize("engine", ONE_ENGINE)
def test_class_weights_are_logged_and_kept_in_model_info(engine, zh_model, tmp_path):
  data_dir = classification_data(tmp_path / "data")
  output_dir = str(tmp_path / "out")
  result = run_script("run_classifier.py", "--task_name=lcqmc", "--do_train=true",
                      "--data_dir=" + data_dir, "--output_dir=" + output_dir,
                      "--max_seq_length=32", "--train_batch_size=16", "--num_train_epochs=1",
                      "--class_weights=balanced", "--engine=" + engine, *model_flags(zh_model))
  labels = [int(row[2]) for row in read_tsv(os.path.join(data_dir, "train.tsv"))]
  expected = [len(labels) / (2 * labels.count(label)) for label in (0, 1)]
  with open(os.path.join(output_dir, "model_info.json")) as f:
    np.testing.assert_allclose(json.load(f)["class_weights"], expected)
  assert re.search(r"class weights: 0 = %.4f, 1 = %.4f" % tuple(expected), result.stderr)
