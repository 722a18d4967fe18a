"""A fine-tuned model after training: SavedModel export, predict.py, TensorBoard, --help."""

import glob
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from finetune.runtime.predictor import load_predictor
from helpers import classification_data
from helpers import model_flags
from helpers import ONE_ENGINE
from helpers import read_eval_results
from helpers import read_tsv
from helpers import REPO_ROOT
from helpers import run_script
from helpers import scaled_scores_data

# Each test runs the scripts or trains a model: seconds, not milliseconds.
pytestmark = pytest.mark.slow


def run_predict(*args, stdin=None, check=True):
  return run_script("predict.py", *args, stdin=stdin, check=check)


@pytest.fixture(scope="module", params=ONE_ENGINE)
def regression_run(request, zh_model, tmp_path_factory):
  """run_reg.py with a 0..5 label range: trained, predicted, exported (on the default engine)."""
  root = tmp_path_factory.mktemp("regression")
  data_dir = scaled_scores_data(str(root / "data"), scale=5)
  output_dir = str(root / "out")
  result = run_script("run_reg.py", "--task_name=sim", "--do_train=true", "--do_eval=true",
                      "--do_predict=true", "--data_dir=%s" % data_dir,
                      "--output_dir=" + output_dir, "--export_dir=" + output_dir + "/export",
                      "--label_min=0", "--label_max=5", "--max_seq_length=32",
                      "--train_batch_size=8", "--num_train_epochs=1", "--learning_rate=1e-3",
                      "--log_every_n_steps=5", "--engine=" + request.param,
                      *model_flags(zh_model))
  return output_dir, data_dir, result.stderr


def test_export_and_predict_py_match_do_predict(regression_run):
  output_dir, data_dir, _ = regression_run
  expected = [float(row[1]) for row in read_tsv(os.path.join(output_dir, "test_results.tsv"))[1:]]
  assert np.ptp(expected) > 0  # the pairs score differently: a real comparison
  test_file = os.path.join(data_dir, "test.tsv")
  from_export = run_predict("--model=" + output_dir + "/export", "--input=" + test_file)
  with open(test_file, encoding="utf-8") as f:
    from_checkpoint = run_predict("--model=" + output_dir, stdin=f.read())
  for result in (from_export, from_checkpoint):
    scores = [float(line) for line in result.stdout.split()]
    np.testing.assert_allclose(scores, expected, atol=6e-5)  # printed with 4 decimals
  first = read_tsv(test_file)[0]
  from_args = run_predict("--model=" + output_dir + "/export", first[0], first[1])
  assert float(from_args.stdout) == pytest.approx(expected[0], abs=6e-5)


def test_saved_model_loads_in_tensorflow_2_and_takes_the_three_inputs(regression_run):
  output_dir, _, _ = regression_run
  [version] = glob.glob(os.path.join(output_dir, "export", "[0-9]*"))
  loaded = tf.saved_model.load(version)
  serving = loaded.signatures["serving_default"]
  assert sorted(serving.structured_input_signature[1]) == ["input_ids", "input_mask",
                                                           "segment_ids"]
  ids = tf.constant([[101, 5, 6, 102, 0], [101, 7, 102, 8, 102]], tf.int32)
  outputs = serving(input_ids=ids, input_mask=tf.cast(ids > 0, tf.int32),
                    segment_ids=tf.constant([[0, 0, 0, 0, 0], [0, 0, 0, 1, 1]], tf.int32))
  assert list(outputs) == ["score"] and outputs["score"].shape == (2,)
  assert np.all((outputs["score"].numpy() >= 0) & (outputs["score"].numpy() <= 5))
  assert sorted(os.listdir(os.path.join(version, "assets.extra"))) == [
      "bert_config.json", "model_info.json", "vocab.txt"]


def test_rerun_reuses_the_export_of_the_same_checkpoint(regression_run, zh_model):
  output_dir, data_dir, _ = regression_run
  before = sorted(os.listdir(os.path.join(output_dir, "export")))
  run_script("run_reg.py", "--task_name=sim", "--do_train=true", "--data_dir=" + data_dir,
             "--output_dir=" + output_dir, "--export_dir=" + output_dir + "/export",
             "--label_min=0", "--label_max=5", "--max_seq_length=32", "--train_batch_size=8",
             "--num_train_epochs=1", "--learning_rate=1e-3", *model_flags(zh_model))
  assert sorted(os.listdir(os.path.join(output_dir, "export"))) == before


def event_tags(pattern):
  tags = set()
  for path in glob.glob(pattern):
    for event in tf.compat.v1.train.summary_iterator(path):
      tags.update(value.tag for value in event.summary.value)
  return tags


def test_progress_lines_and_tensorboard_summaries(regression_run):
  output_dir, _, stderr = regression_run
  progress = re.findall(r"step (\d+)/(\d+) \(\d+%\)  loss [\d.]+  lr [\d.e+-]+  "
                        r"[\d.]+ examples/s  ETA \S+", stderr)
  assert progress == [("5", "12"), ("10", "12"), ("12", "12")]  # every 5 steps, and the last
  assert event_tags(os.path.join(output_dir, "events.out.tfevents.*")) >= {"loss",
                                                                           "learning_rate"}
  assert event_tags(os.path.join(output_dir, "eval", "events.out.tfevents.*")) >= {
      "eval_loss", "eval_pearson", "eval_spearman", "eval_mae", "eval_rmse"}


def test_classifier_export_keeps_the_auto_threshold(zh_model, tmp_path):
  data_dir = classification_data(tmp_path / "data")
  output_dir = str(tmp_path / "out")
  run_script("run_classifier.py", "--task_name=lcqmc", "--do_train=true", "--do_eval=true",
             "--do_predict=true", "--threshold=auto", "--data_dir=" + data_dir,
             "--output_dir=" + output_dir, "--export_dir=" + output_dir + "/export",
             "--max_seq_length=32", "--train_batch_size=16", "--num_train_epochs=2",
             "--learning_rate=1e-3", "--seed=1", *model_flags(zh_model))
  threshold = read_eval_results(output_dir)["eval_threshold"]
  table = read_tsv(os.path.join(output_dir, "test_results.tsv"))[1:]
  result = run_predict("--model=" + output_dir + "/export", "--probabilities",
                       "--input=" + os.path.join(data_dir, "test.tsv"))
  lines = [line.split("\t") for line in result.stdout.splitlines()]
  assert len(lines) == len(table) == 12
  [info_file] = glob.glob(os.path.join(output_dir, "export", "*", "assets.extra",
                                       "model_info.json"))
  with open(info_file) as f:
    assert json.load(f)["threshold"] == threshold  # the exported model carries it exactly
  tolerance = 6e-5  # the SavedModel's batches differ from --do_predict's: float noise
  for (_, p0, p1), (q0, q1, decision) in zip(lines, table):
    assert decision == ("1" if float(q1) >= threshold else "0")
    assert float(p0) == pytest.approx(float(q0), abs=tolerance)
    assert float(p1) == pytest.approx(float(q1), abs=tolerance)
  # A tiny random encoder gives every pair nearly the same probability, all within float
  # noise of the dev threshold, so the two paths' decisions cannot be compared row by
  # row. The exported model's own decision rule can: on its own float32 probabilities,
  # every label is P(1) >= the threshold, exactly.
  pairs = [(row[0], row[1]) for row in read_tsv(os.path.join(data_dir, "test.tsv"))]
  with load_predictor(output_dir + "/export") as predictor:
    exported = predictor.predict(pairs)
  positive = exported["probabilities"][:, 1] >= np.float32(threshold)
  assert list(exported["label"]) == [
      "1" if flag else "0" for flag in positive]
  assert [line[0] for line in lines] == list(exported["label"])


def test_predict_py_mistakes_are_one_line(regression_run, tmp_path):
  output_dir, _, _ = regression_run
  odd = run_predict("--model=" + output_dir + "/export", "only one sentence", check=False)
  assert odd.returncode == 1
  assert odd.stderr.strip().splitlines()[-1] == (
      "error: got 1 sentences as arguments; expected pairs (an even number)")
  missing = run_predict("--model=" + str(tmp_path / "nothing"), "a", "b", check=False)
  assert missing.returncode == 1
  assert missing.stderr.strip().splitlines()[-1].endswith(
      "nothing: expected a model folder; no folder at that path")
  bad_file = tmp_path / "pairs.tsv"
  bad_file.write_text("a\tb\nonly one column\n", encoding="utf-8")
  bad = run_predict("--model=" + output_dir, "--input=%s" % bad_file, check=False)
  assert re.search(r"pairs.tsv:2: expected sentence_a<TAB>sentence_b, found 1 column",
                   bad.stderr.strip().splitlines()[-1])
  # stdin lines are numbered as the user sees them: blank lines count.
  from_stdin = run_predict("--model=" + output_dir, stdin="a\tb\n\n\nonly one column\n",
                           check=False)
  assert from_stdin.stderr.strip().splitlines()[-1] == (
      "error: stdin:4: expected sentence_a<TAB>sentence_b, found 1 column(s)")


def test_predict_py_reads_a_long_sentence_only_as_far_as_the_model_needs(regression_run):
  """A pair with a 5 MB sentence (a file whose line breaks were lost) scores like its
  first max_seq_length tokens."""
  output_dir, _, _ = regression_run
  first, second = "支付宝怎么充值", "微信怎么充值"
  cut = run_predict("--model=" + output_dir + "/export", first * 40, second)
  long = run_predict("--model=" + output_dir + "/export", stdin="%s\t%s\n" % (
      first * (5 * 1000 * 1000 // 21), second))
  assert float(long.stdout) == pytest.approx(float(cut.stdout), abs=1e-4)


@pytest.mark.parametrize("script", ["run_reg.py", "run_classifier.py", "predict.py",
                                    "convert_hf_checkpoint.py", "export_model.py", "serve.py"])
def test_help_explains_every_flag_in_one_line_by_group(script):
  result = subprocess.run([sys.executable, os.path.join(REPO_ROOT, script), "--help"],
                          capture_output=True, text=True, check=False, cwd=REPO_ROOT)
  assert result.returncode == 0, result.stderr[-2000:]
  text = result.stdout
  flag_lines = [line for line in text.splitlines() if line.startswith("  --")]
  assert flag_lines and all(len(line.split(None, 1)) == 2 for line in flag_lines)  # name, help
  assert "Required:" in text
  if script.startswith("run_"):
    for group in ("Required:", "What to run:", "Model and task:", "Training:", "TPU:",
                  "Output:"):
      assert group in text
    for flag in ("data_dir", "bert_config_file", "task_name", "vocab_file", "output_dir",
                 "init_checkpoint", "do_lower_case", "max_seq_length", "do_train", "do_eval",
                 "do_predict", "train_batch_size", "eval_batch_size", "predict_batch_size",
                 "learning_rate", "num_train_epochs", "warmup_proportion",
                 "save_checkpoints_steps", "iterations_per_loop", "use_tpu", "tpu_name",
                 "tpu_zone", "gcp_project", "master", "num_tpu_cores", "export_dir"):
      assert re.search(r"^  --%s[= ]" % flag, text, re.M), flag


def test_predict_py_precision(regression_run):
  """--precision=bfloat16 on a run's folder: close to float32, or float32 with a warning
  where this machine would emulate it; a SavedModel stays float32 and says so."""
  from finetune.model import precision
  output_dir, data_dir, _ = regression_run
  test_file = os.path.join(data_dir, "test.tsv")
  scores = {}
  for name in ("float32", "bfloat16"):
    result = run_predict("--model=" + output_dir, "--input=" + test_file, "--precision=" + name)
    scores[name] = np.array([float(line) for line in result.stdout.split()])
  reason = precision.why_slow("bfloat16")
  if reason:
    assert "--precision=bfloat16: %s; computing in float32 instead" % reason in result.stderr
    np.testing.assert_array_equal(scores["bfloat16"], scores["float32"])
  else:
    np.testing.assert_allclose(scores["bfloat16"], scores["float32"], atol=0.1)  # 0..5 scores
    assert np.abs(scores["bfloat16"] - scores["float32"]).max() > 0
  refused = run_predict("--model=" + output_dir + "/export", "--precision=bfloat16", "a", "b",
                        check=False)
  assert refused.returncode == 1
  assert re.match(r"error: --precision=bfloat16: \S+ is a SavedModel, which computes in float32 "
                  r"as exported; give the run's --output_dir as --model to compute in bfloat16$",
                  refused.stderr.strip().splitlines()[-1])
