"""run_rerank.py: the list losses, the groups, the grouped input pipeline, a tiny run."""

import math
import os

import numpy as np
import pytest
import tensorflow as tf

from finetune import tasks
from finetune.data import groups as groups_lib
from finetune.data.features import PaddingInputExample
from finetune.data.input_fn import file_based_input_fn_builder
from finetune.model import ranking_losses
from helpers import evaluate
from helpers import model_flags
from helpers import read_eval_results
from helpers import read_tsv
from helpers import run_script
from helpers import write_ranking_records
from processors.ranking import RankingExample

WIKIQA = os.path.join(os.path.dirname(__file__), "fixtures", "wikiqa")


def test_listwise_softmax_by_hand_with_padding_masked():
  scores = [[2.0, 1.0, 0.0, 50.0]]  # the last is padding: its huge score must not count
  loss = evaluate(lambda: ranking_losses.listwise_softmax(
      tf.constant(scores), tf.constant([[1.0, 0.0, 0.0, 1.0]]),
      tf.constant([[1.0, 1.0, 1.0, 0.0]])))
  expected = -math.log(math.exp(2) / (math.exp(2) + math.exp(1) + 1))
  assert loss[0] == pytest.approx(expected, rel=1e-5)


def test_lambda_loss_by_hand():
  # Ranked a (grade 0, score 1), b (grade 1, score 0.5): one pair, b over a, ranks 2 and 1.
  loss = evaluate(lambda: ranking_losses.lambda_loss(
      tf.constant([[1.0, 0.5, 0.0]]), tf.constant([[0.0, 1.0, 0.0]]),
      tf.constant([[1.0, 1.0, 0.0]])))
  delta = abs(1 / math.log2(2) - 1 / math.log2(3))  # |r_i - r_j| = 1
  max_dcg = 1 / math.log2(2)
  pair = -math.log2(1 / (1 + math.exp(-(0.5 - 1.0))))
  assert loss[0] == pytest.approx(delta * 1 / max_dcg * pair, rel=1e-5)
  right = evaluate(lambda: ranking_losses.lambda_loss(
      tf.constant([[0.0, 3.0]]), tf.constant([[0.0, 1.0]]), tf.constant([[1.0, 1.0]])))
  assert right[0] < loss[0]  # in the right order it costs less


def candidates(query, grades):
  return [RankingExample("%s-%d" % (query, i), query, "p%d" % i, g, query, i)
          for i, g in enumerate(grades)]


def test_listwise_groups_one_relevant_and_negatives_of_its_query():
  examples = candidates("q1", [1, 0, 0, 1, 0]) + candidates("q2", [0, 0]) + \
      candidates("q3", [1, 0])
  labels = [e.label for e in examples]
  arranged = groups_lib.arrange(examples, labels, 4, "listwise", seed=3)
  assert arranged.groups == 3 and arranged.queries_left_out == 1  # q2: no relevant
  assert arranged.padding == 2  # q3's group: 1 relevant + its one negative + 2 padding
  rows = arranged.examples
  for start in range(0, len(rows), 4):
    group = [e for e in rows[start:start + 4] if not isinstance(e, PaddingInputExample)]
    assert group[0].label == 1 and all(e.label == 0 for e in group[1:])
    assert len({e.query_id for e in group}) == 1
  again = groups_lib.arrange(examples, labels, 4, "listwise", seed=3)
  assert [getattr(e, "guid", None) for e in again.examples] == \
      [getattr(e, "guid", None) for e in rows]


def test_lambda_groups_cut_a_query_and_drop_one_grade_groups():
  examples = candidates("q1", [2, 0, 1, 0, 0]) + candidates("q2", [0, 0, 0])
  arranged = groups_lib.arrange(examples, [e.label for e in examples], 3, "lambda", seed=0)
  assert arranged.queries_left_out == 1
  assert len(arranged.examples) == 3 * arranged.groups
  real = [e for e in arranged.examples if not isinstance(e, PaddingInputExample)]
  assert {e.query_id for e in real} == {"q1"}


@pytest.mark.parametrize("layout", ["fixed", "bucketed"])
def test_grouped_input_pipeline_keeps_groups_whole(tmp_path, tiny_vocab_file, layout):
  examples, labels = [], []
  for g in range(12):  # groups of 4: relevant, two negatives, padding; lengths vary
    text = " ".join(["a"] * (1 + 3 * g))
    examples += [RankingExample("x", text, "b", 1, g, 0), RankingExample("x", text, "c", 0, g, 1),
                 RankingExample("x", text, "d", 0, g, 2), PaddingInputExample()]
    labels += [1, 0, 0, 0]
  path = str(tmp_path / "train.tf_record")
  write_ranking_records(examples, labels, path, tiny_vocab_file, max_seq_length=48)
  input_fn = file_based_input_fn_builder(path, seq_length=48, label_feature="label_ids",
                                         is_training=True, drop_remainder=False,
                                         layout=layout, seed=1, group_size=4)
  batches = input_fn({"batch_size": 8}).take(12)
  for features in batches:
    labels_of = features["label_ids"].numpy().reshape(-1, 4)
    real = features["is_real_example"].numpy().reshape(-1, 4)
    assert (labels_of == [1, 0, 0, 0]).all() and (real == [1, 1, 1, 0]).all()
    lengths = features["input_mask"].numpy().sum(axis=1).reshape(-1, 4)[:, :3]
    assert (lengths == lengths[:, :1]).all()  # one group's pairs share their query


def test_task_round_trip_and_prediction_table():
  task = tasks.RankingTask(["0", "1", "2", "3"], "lambda", 4)
  again = tasks.task_from_description(task.describe())
  assert isinstance(again, tasks.RankingTask) and again.describe() == task.describe()
  assert task.describe()["task"] == "regression"  # the exported model: one score
  examples = candidates("q1", [1, 0, 0])
  header, rows = task.prediction_table(
      examples, {"score": np.array([0.1234567891, 3.0, 0.1234567], np.float32)}, False)
  assert header[3:5] == ["score", "rank"]
  assert [row[4] for row in rows] == ["2", "1", "3"]
  assert rows[0][3] == "0.123456791" and rows[2][3] == "0.123456702"  # float32 whole
  assert tasks.check_best_metric(task, "ndcg@10") == ("eval_ndcg@10", True)
  with pytest.raises(tasks.UserError, match="--best_metric=f1"):
    tasks.check_best_metric(task, "f1")


def rerank(model_dir, output_dir, *extra, check=True):
  return run_script(
      "run_rerank.py", "--task_name=wikiqa", "--data_dir=" + WIKIQA, "--do_train=true",
      "--do_eval=true", "--do_predict=true", "--max_seq_length=32", "--train_batch_size=4",
      "--num_train_epochs=2", "--seed=1", "--output_dir=" + output_dir,
      *model_flags(model_dir), *extra, check=check)


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["listwise", "lambda"])
def test_tiny_run_with_a_list_loss(tmp_path, tiny_model_dir, loss):
  output_dir = str(tmp_path / "out")
  rerank(tiny_model_dir, output_dir, "--loss=" + loss, "--group_size=2",
         "--eval_every_n_steps=2", "--best_metric=ndcg@10")
  result = read_eval_results(output_dir)
  assert result["eval_num_queries_scored"] == 2  # dev's filtered questions
  assert result["eval_num_queries_not_evaluated"] == 1
  assert 0 < result["eval_map"] <= 1 and 0 < result["eval_ndcg@10"] <= 1
  per_query = read_tsv(os.path.join(output_dir, "eval_queries.tsv"))
  assert per_query[0][0] == "query_id" and len(per_query) == 3
  assert os.path.exists(os.path.join(output_dir, "best", "eval_queries.tsv"))
  table = read_tsv(os.path.join(output_dir, "test_results.tsv"))
  assert table[0][:5] == ["guid", "query_id", "doc_id", "score", "rank"]
  first = [row for row in table[1:] if row[1] == "1"]
  by_score = sorted(first, key=lambda row: -float(row[3]))
  assert [row[4] for row in by_score] == ["1", "2", "3"]


@pytest.mark.slow
def test_group_size_must_divide_the_batch(tmp_path, tiny_model_dir):
  result = rerank(tiny_model_dir, str(tmp_path / "out"), "--loss=listwise",
                  "--group_size=3", check=False)
  assert result.returncode != 0
  assert "--group_size=3 must divide the batch of each replica, 4" in result.stderr


@pytest.mark.slow
def test_data_report_knows_lists(tmp_path, tiny_model_dir):
  data = tmp_path / "data"
  data.mkdir()
  (data / "train.tsv").write_text("the dog\ta dog runs\t1\nthe dog\ta cat\t0\nthe dog\ta cat\t0\n"
                                  "the cat\ta cat\t0\n", encoding="utf-8")
  (data / "dev.tsv").write_text("the dog\ta dog\t1\nthe dog\t%s\t0\nthe man\ta man\t2\n"
                                % " ".join(["a"] * 40), encoding="utf-8")
  output_dir = tmp_path / "out"
  run_script("run_rerank.py", "--task_name=ranking", "--data_dir=%s" % data,
             "--data_report_only=true", "--do_train=true", "--do_eval=true",
             "--max_seq_length=16", "--output_dir=%s" % output_dir,
             *model_flags(tiny_model_dir))
  import json
  report = json.loads((output_dir / "data_report.json").read_text(encoding="utf-8"))
  train, dev = report["splits"]["train"]["lists"], report["splits"]["dev"]["lists"]
  assert train["queries"] == 2 and train["candidates_per_query"] == {
      "min": 1, "median": 2.0, "max": 3}
  assert train["queries_without_relevant"] == 1 and train["duplicate_candidates"] == 1
  assert train["places"]["duplicate_candidates"] == [
      "%s:2 = %s:3" % (data / "train.tsv", data / "train.tsv")]
  assert dev["queries_in_train"] == 1 and dev["candidates_cut"] == 1
  assert any("also stand in train" in line for line in report["warnings"])
  assert any("cut at --max_seq_length=16, on the passage side" in line
             for line in report["warnings"])


@pytest.fixture(scope="module")
def rerank_run(tmp_path_factory, tiny_model_dir):
  output_dir = str(tmp_path_factory.mktemp("rerank_run") / "out")
  rerank(tiny_model_dir, output_dir, "--loss=listwise", "--group_size=2")
  return output_dir


@pytest.mark.slow
def test_predict_prints_a_rerankers_scores_whole(rerank_run):
  result = run_script("predict.py", "--model=" + rerank_run, "what causes tides ?",
                      "Tides are caused by the pull of the moon .", "what causes tides ?",
                      "Beaches have sand .")
  lines = result.stdout.split()
  assert len(lines) == 2
  table = read_tsv(os.path.join(rerank_run, "test_results.tsv"))
  # Batches of other lengths move the last bits; the digits printed are float32's 9.
  assert [float(x) for x in lines] == pytest.approx([float(table[1][3]), float(table[2][3])],
                                                    abs=1e-6)
  assert all(len(x.lstrip("-").replace(".", "").lstrip("0").split("e")[0]) >= 8
             for x in lines)


@pytest.mark.slow
def test_int8_report_gives_map_and_ndcg_before_and_after(rerank_run, tmp_path, monkeypatch):
  pytest.importorskip("onnxruntime", reason="pip install -r requirements-predict.txt")
  from finetune.export import exporting
  from finetune.model import precision
  monkeypatch.setattr(precision, "why_slow", lambda *args, **kwargs: None)  # any CPU
  output_dir = str(tmp_path / "int8")
  exporting.export(rerank_run, "onnx", output_dir, "int8")
  import json
  with open(os.path.join(output_dir, "quantization_report.json")) as f:
    report = json.load(f)
  for side in ("float32", "int8"):
    assert report[side]["eval_num_queries_scored"] == 2  # dev's filtered questions
    assert 0 < report[side]["eval_map"] <= 1 and 0 < report[side]["eval_ndcg@10"] <= 1
  assert report["float32"]["eval_map"] == pytest.approx(
      read_eval_results(rerank_run)["eval_map"])


@pytest.mark.slow
def test_crossencoder_on_the_hf_export_scores_as_we_do(rerank_run, tmp_path):
  pytest.importorskip("torch", reason="pip install -e .[hf]")
  cross_encoder = pytest.importorskip("sentence_transformers").CrossEncoder
  from finetune.export import exporting
  output_dir = str(tmp_path / "hf")
  exporting.export(rerank_run, "hf", output_dir, "float32")
  table = read_tsv(os.path.join(rerank_run, "test_results.tsv"))[1:]
  model = cross_encoder(output_dir, device="cpu")
  scores = model.predict([(row[5], row[6]) for row in table])
  ours = np.array([float(row[3]) for row in table])
  assert np.abs(scores - ours).max() < 1e-4  # the logit: an Identity activation
  # The order is not compared pair by pair: the tiny model scores a query's candidates
  # within about 5e-5 of each other, less than TensorFlow and PyTorch differ by; where a
  # model separates two candidates by more than twice the tolerance above, the two rank
  # them alike.
