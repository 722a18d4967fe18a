"""run_reg.py and run_classifier.py run as a user runs them: in a subprocess, on files."""

import os
import re

import numpy as np
import pytest

from helpers import CHINESE_VOCAB
from helpers import classification_data
from helpers import model_flags
from helpers import ONE_ENGINE
from helpers import read_eval_results
from helpers import read_tsv
from helpers import REPO_ROOT
from helpers import run_script
from helpers import scaled_scores_data
from helpers import ZH_DATA

# Each test runs the scripts or trains a model: seconds, not milliseconds.
pytestmark = pytest.mark.slow


@pytest.mark.parametrize("engine", ONE_ENGINE)
def test_seed_command_runs_verbatim_and_resumes(engine, zh_model, tmp_path):
  """The seed's command, unchanged, on Chinese sim data with the bert-base-chinese vocab.

  On the engine --engine picks (the command itself leaves it to "auto").
  """
  output_dir = str(tmp_path / "out")
  command = ["--engine=" + engine, "--task_name=sim", "--do_train=true", "--do_eval=true",
             "--data_dir=" + ZH_DATA,
             "--vocab_file=" + CHINESE_VOCAB,
             "--bert_config_file=" + os.path.join(zh_model, "bert_config.json"),
             "--init_checkpoint=" + os.path.join(zh_model, "bert_model.ckpt"),
             "--max_seq_length=64", "--train_batch_size=8", "--learning_rate=5e-5",
             "--num_train_epochs=2", "--output_dir=" + output_dir]
  run_script("run_reg.py", *command)
  results = read_eval_results(output_dir)
  assert results["global_step"] == int(100 / 8 * 2)
  assert results["eval_num_examples"] == 28
  for key in ("eval_loss", "eval_pearson", "eval_spearman", "eval_mae", "eval_rmse", "loss"):
    assert np.isfinite(results[key]), key
  assert results["eval_loss"] == pytest.approx(results["loss"])
  assert sorted(f for f in os.listdir(output_dir) if f.endswith(".tf_record")) == [
      "eval.tf_record", "train.tf_record"]

  # Same command with more epochs: continues from step 25 instead of starting over.
  more = [arg if not arg.startswith("--num_train_epochs") else "--num_train_epochs=4"
          for arg in command]
  second = run_script("run_reg.py", *more)
  assert "engine: %s, one device" % engine in second.stderr
  assert re.search(r"Restoring parameters from .*model\.ckpt-25", second.stderr)
  assert read_eval_results(output_dir)["global_step"] == 50


def test_regression_predict_sigmoid_and_label_range(zh_model, tmp_path):
  """12 test pairs at predict batch 5: every pair once, in order, scores in the label range."""
  data_dir = scaled_scores_data(str(tmp_path / "data"), scale=5)  # scores on a 0..5 scale
  output_dir = str(tmp_path / "out")
  run_script("run_reg.py", "--task_name=sim", "--do_train=true", "--do_eval=true",
             "--do_predict=true", "--data_dir=%s" % data_dir, "--output_dir=" + output_dir,
             "--max_seq_length=32", "--train_batch_size=16", "--num_train_epochs=1",
             "--predict_batch_size=5", "--label_min=0", "--label_max=5",
             *model_flags(zh_model))
  table = read_tsv(os.path.join(output_dir, "test_results.tsv"))
  test_rows = read_tsv(os.path.join(ZH_DATA, "test.tsv"))
  assert table[0] == ["guid", "prediction", "text_a", "text_b"]
  assert len(table) == 1 + len(test_rows) == 13
  assert [row[0] for row in table[1:]] == ["test-%d" % n for n in range(1, 13)]
  assert [row[2:] for row in table[1:]] == test_rows
  scores = np.array([float(row[1]) for row in table[1:]])
  assert np.all((scores >= 0) & (scores <= 5))
  results = read_eval_results(output_dir)
  assert 0 < results["eval_mae"] < 5 and results["eval_num_examples"] == 28


def test_regression_linear_head(zh_model, tmp_path):
  data_dir = scaled_scores_data(str(tmp_path / "data"), shift=3, splits=("train",))  # 3..4
  output_dir = str(tmp_path / "out")
  run_script("run_reg.py", "--task_name=sim", "--do_train=true", "--do_predict=true",
             "--use_sigmoid_act=false", "--data_dir=%s" % data_dir,
             "--output_dir=" + output_dir, "--max_seq_length=32", "--train_batch_size=16",
             "--num_train_epochs=10", "--learning_rate=0.05", *model_flags(zh_model))
  scores = np.array([float(row[1]) for row in
                     read_tsv(os.path.join(output_dir, "test_results.tsv"))[1:]])
  assert len(scores) == 12
  assert scores.mean() > 1.5  # out of a sigmoid's reach, on the way to the targets' 3..4


def test_classifier_fixed_and_auto_threshold(zh_model, tmp_path):
  data_dir = classification_data(tmp_path / "data")
  output_dir = str(tmp_path / "out")
  common = ["--task_name=lcqmc", "--data_dir=" + data_dir, "--output_dir=" + output_dir,
            "--max_seq_length=32", "--train_batch_size=16", "--num_train_epochs=2",
            "--eval_batch_size=3", "--predict_batch_size=7"] + model_flags(zh_model)
  run_script("run_classifier.py", "--do_train=true", "--do_eval=true", "--do_predict=true",
             "--threshold=0.3", *common)
  results = read_eval_results(output_dir)
  assert results["eval_threshold"] == 0.3 and results["eval_num_examples"] == 28
  for key in ("eval_accuracy", "eval_precision", "eval_recall", "eval_f1", "eval_auc"):
    assert 0.0 <= results[key] <= 1.0, key
  table = read_tsv(os.path.join(output_dir, "test_results.tsv"))
  assert table[0] == ["prob_0", "prob_1", "prediction"] and len(table) == 13
  for p0, p1, decision in table[1:]:
    assert float(p0) + float(p1) == pytest.approx(1.0, abs=1e-5)
    assert decision == ("1" if float(p1) >= 0.3 else "0")

  # auto: the F1-best dev threshold is reported and used; the model is not retrained.
  run_script("run_classifier.py", "--do_predict=true", "--threshold=auto", *common)
  results = read_eval_results(output_dir)
  threshold = results["eval_threshold"]
  assert 0.0 <= threshold <= 1.0 and results["global_step"] == int(100 / 16 * 2)
  for _, p1, decision in read_tsv(os.path.join(output_dir, "test_results.tsv"))[1:]:
    # The file prints 6 decimals; the decision was made on the probability itself. A
    # tiny random model puts its probabilities close to the dev threshold, so a printed
    # one may round across it.
    assert (decision == ("1" if float(p1) >= threshold else "0") or
            abs(float(p1) - threshold) <= 5e-7), (p1, threshold, decision)

  # The original headerless format: probabilities only.
  run_script("run_classifier.py", "--do_predict=true", "--original_output_format=true",
             *common)
  table = read_tsv(os.path.join(output_dir, "test_results.tsv"))
  assert len(table) == 12 and all(len(row) == 2 for row in table)
  assert all(float(p0) + float(p1) == pytest.approx(1.0, abs=1e-5) for p0, p1 in table)


def test_custom_processor_from_a_file(zh_model, tmp_path):
  """docs/fine-tuning.md's worked example: a processor of the user's own, no edit to our code."""
  example_dir = os.path.join(REPO_ROOT, "examples", "custom_processor")
  output_dir = str(tmp_path / "out")
  run_script("run_reg.py",
             "--task_name=%s:ScoreFirstProcessor" % os.path.join(example_dir,
                                                                "score_first_processor.py"),
             "--data_dir=" + os.path.join(example_dir, "data"), "--do_train=true",
             "--do_eval=true", "--output_dir=" + output_dir, "--max_seq_length=32",
             "--train_batch_size=4", "--num_train_epochs=1", *model_flags(zh_model))
  assert read_eval_results(output_dir)["eval_num_examples"] == 6


def test_a_model_of_the_other_script_starts_the_encoder_and_a_fresh_head(zh_model, tmp_path):
  """run_reg.py's fine-tuned model (head [1, H]) as --init_checkpoint of run_classifier.py
  (head [2, H]): the encoder comes from it, the head starts fresh, one warning says so."""
  regression_dir = str(tmp_path / "regression")
  run_script("run_reg.py", "--task_name=sim", "--do_train=true", "--data_dir=" + ZH_DATA,
             "--output_dir=" + regression_dir, "--max_seq_length=32", "--train_batch_size=16",
             "--num_train_epochs=1", "--learning_rate=1e-3", *model_flags(zh_model))
  data_dir = classification_data(tmp_path / "data")
  output_dir = str(tmp_path / "out")
  result = run_script(
      "run_classifier.py", "--task_name=lcqmc", "--do_train=true", "--data_dir=" + data_dir,
      "--output_dir=" + output_dir, "--max_seq_length=32", "--train_batch_size=16",
      "--num_train_epochs=1", "--vocab_file=" + os.path.join(zh_model, "vocab.txt"),
      "--bert_config_file=" + os.path.join(zh_model, "bert_config.json"),
      "--init_checkpoint=" + regression_dir)
  warnings = [line for line in result.stderr.splitlines() if "starts fresh" in line]
  assert len(warnings) == 1
  assert re.search(r"holds a head of other shapes, which starts fresh: output_bias \[1\] "
                   r"\(this task's: \[2\]\); output_weights \[1, 32\] \(this task's: \[2, 32\]\)",
                   warnings[0])
  assert re.search(r"initialized fresh: output_weights, output_bias", result.stderr)
  import tensorflow as tf
  trained = tf.train.load_checkpoint(tf.train.latest_checkpoint(output_dir))
  started = tf.train.load_checkpoint(tf.train.latest_checkpoint(regression_dir))
  assert trained.get_variable_to_shape_map()["output_weights"] == [2, 32]
  # The encoder came from the regression model, not from the random one it started as.
  original = tf.train.load_checkpoint(os.path.join(zh_model, "bert_model.ckpt"))
  name = "bert/embeddings/LayerNorm/gamma"
  assert np.abs(started.get_tensor(name) - original.get_tensor(name)).max() > 0
  assert (np.abs(trained.get_tensor(name) - started.get_tensor(name)).max() <
          np.abs(trained.get_tensor(name) - original.get_tensor(name)).max())
