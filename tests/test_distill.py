"""Distillation in run_rerank.py: teacher scores read, carried by the records, and the
mse and margin_mse losses."""

import os

import numpy as np
import pytest
import tensorflow as tf

from common.errors import InputFileError
from common.errors import UserError
from finetune import tasks
from finetune.data import fast_serialization
from finetune.data import record_cache
from finetune.data import record_format
from finetune.data.features import InputFeatures
from finetune.data.features import PaddingInputExample
from finetune.data.input_fn import file_based_input_fn_builder
from finetune.model import model_inputs
from finetune.model import ranking_losses
from helpers import evaluate
from helpers import model_flags
from helpers import read_eval_results
from helpers import run_script
from helpers import TINY_VOCAB
from helpers import write_ranking_records
import modeling
from processors import ranking
from processors.ranking import RankingExample

WIKIQA = os.path.join(os.path.dirname(__file__), "fixtures", "wikiqa")
# (question, candidate) ids of the fixture's WikiQA-train.ref, in its order.
WIKIQA_TRAIN_IDS = [("1", "0"), ("1", "1"), ("1", "2"), ("2", "0"), ("2", "1"), ("3", "0"),
                    ("3", "1"), ("3", "2"), ("4", "0"), ("4", "1")]


def test_teacher_mse_by_hand_with_padding_masked():
  scores = np.array([[1.5, -2.0, 40.0]], np.float32)
  teacher = np.array([[0.5, 1.0, -3.0]], np.float32)
  mask = np.array([[1.0, 1.0, 0.0]], np.float32)
  loss = evaluate(lambda: ranking_losses.teacher_mse(scores, teacher, mask))
  np.testing.assert_allclose(loss, [[1.0, 9.0, 0.0]], rtol=1e-6)


def margin_mse_by_hand(scores, teacher, grades, mask):
  """Every pair i, j with grade_i > grade_j, both real: the mean squared margin error."""
  losses = []
  for s, t, g, m in zip(scores, teacher, grades, mask):
    errors = [((s[i] - s[j]) - (t[i] - t[j])) ** 2
              for i in range(len(s)) for j in range(len(s))
              if m[i] and m[j] and g[i] > g[j]]
    losses.append(np.mean(errors) if errors else 0.0)
  return np.array(losses)


def test_margin_mse_by_hand_with_padding_masked():
  # Group 1: a positive, two negatives and padding (whose wild scores must not count);
  # group 2: graded 2 > 1 > 0; group 3: one grade only, no pair: 0.
  scores = np.array([[2.0, 0.5, -1.0, 90.0], [1.0, 0.0, 3.0, 0.0], [1.0, 2.0, 0.0, 0.0]],
                    np.float32)
  teacher = np.array([[3.0, 1.0, 0.0, -50.0], [0.0, 2.0, 1.0, 0.0], [5.0, 1.0, 0.0, 0.0]],
                     np.float32)
  grades = np.array([[1, 0, 0, 0], [2, 1, 0, 0], [0, 0, 0, 0]], np.float32)
  mask = np.array([[1, 1, 1, 0], [1, 1, 1, 0], [1, 1, 1, 0]], np.float32)
  loss = evaluate(lambda: ranking_losses.margin_mse(scores, teacher, grades, mask))
  expected = margin_mse_by_hand(scores, teacher, grades, mask)
  # The first group written out: margins 1.5 and 3.0 against the teacher's 2 and 3.
  assert expected[0] == pytest.approx(((1.5 - 2.0) ** 2 + (3.0 - 3.0) ** 2) / 2)
  np.testing.assert_allclose(loss, expected, rtol=1e-5)
  assert loss[2] == 0.0


def test_margin_mse_ignores_a_shift_of_the_teachers_scores():
  scores = np.array([[0.3, -0.2, 0.9]], np.float32)
  grades = np.array([[1, 0, 0]], np.float32)
  mask = np.ones([1, 3], np.float32)
  teacher = np.array([[2.0, 1.0, -1.0]], np.float32)
  loss = evaluate(lambda: ranking_losses.margin_mse(scores, teacher, grades, mask))
  shifted = evaluate(lambda: ranking_losses.margin_mse(scores, teacher + 7.0, grades, mask))
  np.testing.assert_allclose(loss, shifted, rtol=1e-5)


def test_margin_mse_head_mean_over_real_rows_is_the_mean_per_group():
  grades = np.array([1, 0, 0, 0, 1, 0, 0, 0], np.int32)
  real = np.array([1, 1, 1, 0, 1, 1, 0, 0], np.int32)
  teacher = np.array([2.0, 0.0, 1.0, 0.0, 1.0, 3.0, 0.0, 0.0], np.float32)
  pooled = np.linspace(-1, 1, 8 * 4).reshape(8, 4).astype(np.float32)
  task = tasks.RankingTask(["0", "1"], "margin_mse", 4)
  with tf.Graph().as_default(), tf.compat.v1.Session() as session:
    tf.compat.v1.set_random_seed(0)
    loss, outputs = task.build_head(tf.constant(pooled), tf.constant(grades),
                                    is_training=True, is_real=tf.constant(real),
                                    teacher_scores=tf.constant(teacher))
    session.run(tf.compat.v1.global_variables_initializer())
    per_row, scores = session.run([loss, outputs["score"]])  # one run: the same dropout
  assert (per_row[real == 0] == 0).all()
  by_hand = margin_mse_by_hand(scores.reshape(2, 4), teacher.reshape(2, 4),
                               grades.reshape(2, 4), real.reshape(2, 4))
  assert per_row[real == 1].mean() == pytest.approx(by_hand.mean(), rel=1e-5)


def feature(teacher_score=None):
  made = InputFeatures([2, 5, 3, 0], [1, 1, 1, 0], [0, 0, 1, 0], 1)
  made.teacher_score = teacher_score
  return made


def test_teacher_score_feature_same_bytes_both_ways_and_only_when_given():
  for label_feature in (record_format.CLASSIFICATION_LABEL, record_format.REGRESSION_LABEL):
    for score in (None, -1.25, 3.5):
      made = feature(score)
      if label_feature == record_format.REGRESSION_LABEL:
        made.label = 0.75
      slow = record_format.serialize_features(made, label_feature)
      fast = fast_serialization.serialize_features(made, label_feature)
      assert slow == fast
      parsed = tf.train.Example.FromString(slow).features.feature
      if score is None:
        assert record_format.TEACHER_SCORE not in parsed
      else:
        assert parsed[record_format.TEACHER_SCORE].float_list.value[:] == [score]


@pytest.fixture(scope="module")
def vocab_file(tmp_path_factory):
  path = tmp_path_factory.mktemp("distill_vocab") / "vocab.txt"
  path.write_text("\n".join(TINY_VOCAB) + "\n", encoding="utf-8")
  return str(path)


def test_groups_carry_teacher_scores_through_the_records(tmp_path, vocab_file):
  examples, labels = [], []
  for g in range(3):
    examples += [RankingExample("x", "a", "b", 1, g, 0, teacher_score=2.0 + g),
                 RankingExample("x", "a", "c", 0, g, 1, teacher_score=-1.0 - g),
                 PaddingInputExample()]
    labels += [1, 0, 0]
  path = str(tmp_path / "train.tf_record")
  write_ranking_records(examples, labels, path, vocab_file, max_seq_length=8)
  input_fn = file_based_input_fn_builder(path, seq_length=8, label_feature="label_ids",
                                         is_training=True, drop_remainder=False, seed=1,
                                         group_size=3, teacher_scores=True)
  seen = set()
  for features in input_fn({"batch_size": 3}).take(6):
    teacher = features[record_format.TEACHER_SCORE].numpy()
    assert teacher[2] == 0.0  # padding: the default
    assert teacher[0] - teacher[1] in (3.0, 5.0, 7.0)
    seen.add(float(teacher[0]))
  assert seen <= {2.0, 3.0, 4.0} and seen
  plain = file_based_input_fn_builder(path, seq_length=8, label_feature="label_ids",
                                      is_training=True, drop_remainder=False, seed=1,
                                      group_size=3)
  assert record_format.TEACHER_SCORE not in next(iter(plain({"batch_size": 3})))


def test_cache_key_changes_with_the_teacher_score(vocab_file):
  def key(score):
    example = RankingExample("g", "a", "b", 1, "q", 0, teacher_score=score)
    return record_cache.cache_key([example], [1], vocab_file, True, 8, "label_ids")
  assert key(1.0) != key(2.0) != key(None)
  plain = record_cache.cache_key([RankingExample("g", "a", "b", 1, "q", 0)], [1], vocab_file,
                                 True, 8, "label_ids")
  assert plain == key(None)


def write(path, text):
  path.write_text(text, encoding="utf-8")
  return str(path)


def test_grouped_rows_with_a_teacher_column(tmp_path):
  path = write(tmp_path / "train.tsv", "qid\tquery\tpassage\tlabel\tteacher\n"
               "q1\tthe dog\ta dog\t1\t4.5\nq1\tthe dog\ta cat\t0\t-0.5\n")
  examples = ranking.read_grouped(path, "train")
  assert [(e.query_id, e.doc_id, e.label, e.teacher_score) for e in examples] == [
      ("q1", "0", 1, 4.5), ("q1", "1", 0, -0.5)]
  plain = ranking.read_grouped(write(tmp_path / "plain.tsv", "q1\tthe dog\ta dog\t1\n"),
                               "train")
  assert plain[0].teacher_score is None


@pytest.mark.parametrize("row, message", [
    ("q1\tthe dog\ta cat\t0\thigh\n",
     "train.tsv:2: expected a teacher score (a finite number) in column 5, found 'high'"),
    ("q1\tthe dog\ta cat\t0\tnan\n",
     "train.tsv:2: expected a teacher score (a finite number) in column 5, found 'nan'"),
    ("q1\tthe dog\ta cat\t0\n", "train.tsv:2: expected 5"),
])
def test_grouped_teacher_column_bad_row(tmp_path, row, message):
  path = write(tmp_path / "train.tsv", "q1\tthe dog\ta dog\t1\t4.5\n" + row)
  with pytest.raises(InputFileError) as raised:
    ranking.read_grouped(path, "train")
  assert str(raised.value).startswith(str(tmp_path / message.split(":")[0]))
  assert message.split(":", 1)[1] in str(raised.value)


def test_teacher_scores_file_read_and_matched(tmp_path):
  path = write(tmp_path / "teacher.tsv", "query_id\tdoc_id\tscore\n"
               "q1\t1\t-0.5\n\nq1\t0\t4.5\n")
  scores = ranking.read_teacher_scores(path)
  assert scores == {("q1", "1"): -0.5, ("q1", "0"): 4.5}
  examples = [RankingExample("a", "the dog", "a dog", 1, "q1", 0),
              RankingExample("b", "the dog", "a cat", 0, "q1", 1)]
  scored = ranking.with_teacher_scores(examples, scores, path)
  assert [e.teacher_score for e in scored] == [4.5, -0.5]
  assert examples[0].teacher_score is None  # copies: the split's examples stay as read


@pytest.mark.parametrize("text, message", [
    ("q1\t0\t4.5\nq1\t1\tlow\n",
     ":2: expected a teacher score (a finite number) in column 3, found 'low'"),
    ("q1\t0\t4.5\nq1\t1\n", ":2: expected 3"),
    ("q1\t0\t4.5\nq1\t0\t1.0\n", ":2: query 'q1', document '0' again (first at line 1)"),
])
def test_teacher_scores_file_bad_row(tmp_path, text, message):
  path = write(tmp_path / "teacher.tsv", text)
  with pytest.raises(InputFileError) as raised:
    ranking.read_teacher_scores(path)
  assert str(raised.value).startswith(path + message)


def test_teacher_scores_file_counts_must_match(tmp_path):
  examples = [RankingExample("a", "the dog", "a dog", 1, "q1", 0, path="train.tsv", line=1),
              RankingExample("b", "the dog", "a cat", 0, "q1", 1, path="train.tsv", line=2)]
  short = write(tmp_path / "short.tsv", "q1\t0\t4.5\n")
  with pytest.raises(InputFileError) as raised:
    ranking.with_teacher_scores(examples, ranking.read_teacher_scores(short), short)
  assert str(raised.value).startswith("train.tsv:2: no teacher score for query 'q1', "
                                      "document '1' in %s (1 scores for 2 training pairs)"
                                      % short)
  long = write(tmp_path / "long.tsv", "q1\t0\t4.5\nq1\t1\t0\nq2\t0\t1\n")
  with pytest.raises(InputFileError) as raised:
    ranking.with_teacher_scores(examples, ranking.read_teacher_scores(long), long)
  assert str(raised.value) == ("%s: 3 scores for 2 training pairs; query 'q2', document "
                               "'0' is no training pair" % long)


def test_task_checks_its_teacher_scores(tmp_path):
  with pytest.raises(UserError, match="only --loss=mse or margin_mse read teacher scores"):
    tasks.RankingTask(["0", "1"], "listwise", 2, teacher_scores="t.tsv")
  examples = [RankingExample("a", "q", "p", 1, "q1", 0, path="train.tsv", line=1,
                             teacher_score=1.0),
              RankingExample("b", "q", "n", 0, "q1", 1, path="train.tsv", line=2)]
  task = tasks.RankingTask(["0", "1"], "margin_mse", 2)
  assert task.uses_teacher_scores and task.train_group_size == 2
  with pytest.raises(InputFileError, match="^train.tsv:2: --loss=margin_mse needs a teacher"):
    task.training_rows(examples, [1, 0], seed=0)
  path = write(tmp_path / "teacher.tsv", "q1\t0\t3\nq1\t1\t-1\n")
  task = tasks.RankingTask(["0", "1"], "margin_mse", 2, teacher_scores=path)
  rows, labels = task.training_rows(examples, [1, 0], seed=0)
  assert [e.teacher_score for e in rows] == [3.0, -1.0] and labels == [1, 0]
  mse = tasks.RankingTask(["0", "1"], "mse", 8, teacher_scores=path)
  assert mse.train_group_size == 1
  rows, _ = mse.training_rows(examples, [1, 0])
  assert [e.teacher_score for e in rows] == [3.0, -1.0]
  again = tasks.task_from_description(mse.describe())
  assert again.loss == "mse" and again.describe() == mse.describe()


def rerank(model_dir, output_dir, *extra, check=True):
  return run_script(
      "run_rerank.py", "--task_name=wikiqa", "--data_dir=" + WIKIQA, "--do_train=true",
      "--do_eval=true", "--max_seq_length=32", "--train_batch_size=4",
      "--num_train_epochs=1", "--seed=1", "--output_dir=" + output_dir,
      *model_flags(model_dir), *extra, check=check)


def teacher_file(tmp_path, skip=None):
  lines = ["%s\t%s\t%.2f\n" % (query, doc, 0.5 * index - 2)
           for index, (query, doc) in enumerate(WIKIQA_TRAIN_IDS) if index != skip]
  return write(tmp_path / "teacher.tsv", "".join(lines))


def test_num_hidden_layers_keeps_the_first_layers(tiny_model_dir):
  config_file = os.path.join(tiny_model_dir, "bert_config.json")
  config = model_inputs.load_bert_config(config_file, 32, num_hidden_layers=1)
  assert config.num_hidden_layers == 1
  assert model_inputs.load_bert_config(config_file, 32).num_hidden_layers == 2
  with pytest.raises(InputFileError, match="--num_hidden_layers=3 is above "
                     "num_hidden_layers=2; expected at most 2"):
    model_inputs.load_bert_config(config_file, 32, num_hidden_layers=3)
  checkpoint = os.path.join(tiny_model_dir, "bert_model.ckpt")
  with tf.Graph().as_default():
    modeling.BertModel(config=config, is_training=False,
                       input_ids=tf.zeros([1, 4], tf.int32))
    graph_vars = tf.compat.v1.trainable_variables()
    assignment, _ = modeling.get_assignment_map_from_checkpoint(graph_vars, checkpoint)
  names = [v.name.split(":")[0] for v in graph_vars]
  assert sorted(assignment) == sorted(names)  # every student variable from the checkpoint
  assert any("/layer_0/" in name for name in names)
  assert not any("/layer_1/" in name for name in names)


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["mse", "margin_mse"])
def test_tiny_distillation_run(tmp_path, tiny_model_dir, loss):
  output_dir = str(tmp_path / "out")
  # mse: a student of the first layer of the 2-layer model, too.
  student = ["--num_hidden_layers=1"] if loss == "mse" else []
  result = rerank(tiny_model_dir, output_dir, "--loss=" + loss, "--group_size=2",
                  "--teacher_scores=" + teacher_file(tmp_path), *student)
  if student:
    import json
    with open(os.path.join(output_dir, "bert_config.json"), encoding="utf-8") as f:
      assert json.load(f)["num_hidden_layers"] == 1
    held = [name for name, _ in tf.train.list_variables(output_dir)]
    assert any("/layer_0/" in name for name in held)
    assert not any("/layer_1/" in name for name in held)
  if loss == "margin_mse":  # listwise groups: one per relevant candidate (1 + 1 + 2)
    assert "--loss=margin_mse: 4 groups of 2 (0 padding rows)" in result.stderr
  values = read_eval_results(output_dir)
  assert values["eval_num_queries_scored"] == 2
  assert 0 < values["eval_map"] <= 1


@pytest.mark.slow
def test_distillation_run_names_a_missing_teacher_score(tmp_path, tiny_model_dir):
  result = rerank(tiny_model_dir, str(tmp_path / "out"), "--loss=mse",
                  "--teacher_scores=" + teacher_file(tmp_path, skip=4), check=False)
  assert result.returncode != 0
  assert ("WikiQA-train.txt:5: no teacher score for query '2', document '1' in %s "
          "(9 scores for 10 training pairs)" % (tmp_path / "teacher.tsv")) in result.stderr


@pytest.mark.slow
def test_margin_mse_run_on_a_teacher_column(tmp_path, tiny_model_dir):
  data = tmp_path / "data"
  data.mkdir()
  rows = ["q%d\twhat causes tides ?\t%s\t%d\t%.1f\n" % (q, passage, label, score)
          for q in range(2)
          for passage, label, score in (("the moon pulls the sea", 1, 3.0),
                                        ("a lake is water", 0, -1.0),
                                        ("the sea is blue", 0, 0.5))]
  write(data / "train.tsv", "".join(rows))
  write(data / "dev.tsv", "q1\twhat causes tides ?\tthe moon pulls\t1\n"
        "q1\twhat causes tides ?\ta lake\t0\n")
  output_dir = str(tmp_path / "out")
  run_script("run_rerank.py", "--task_name=ranking", "--data_dir=%s" % data,
             "--do_train=true", "--do_eval=true", "--max_seq_length=16",
             "--train_batch_size=4", "--num_train_epochs=1", "--seed=1",
             "--loss=margin_mse", "--group_size=2", "--output_dir=" + output_dir,
             *model_flags(tiny_model_dir))
  assert read_eval_results(output_dir)["eval_num_queries"] == 1
