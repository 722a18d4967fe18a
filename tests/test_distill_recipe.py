"""bench/distill_recipe.py's pure parts: the teacher-scores file and the WikiQA subset."""

import argparse
import os
import shutil

import pytest

from bench import distill_recipe
from processors import ranking

WIKIQA = os.path.join(os.path.dirname(__file__), "fixtures", "wikiqa")


def test_teacher_scores_file_round_trips_through_the_reader(tmp_path):
  examples = ranking.WikiqaProcessor().get_train_examples(WIKIQA)
  scores = [1.0 / 3 - index * 2.5 for index in range(len(examples))]
  path = str(tmp_path / "teacher_scores.tsv")
  distill_recipe.write_teacher_scores(path, examples, scores)
  read = ranking.read_teacher_scores(path)
  assert list(read) == [(e.query_id, e.doc_id) for e in examples]
  assert list(read.values()) == pytest.approx(scores, rel=1e-8)
  scored = ranking.with_teacher_scores(examples, read, path)  # every pair, no other
  assert [e.teacher_score for e in scored] == list(read.values())


def test_teacher_scores_must_match_the_pairs(tmp_path):
  examples = ranking.WikiqaProcessor().get_train_examples(WIKIQA)
  with pytest.raises(ValueError, match="9 scores for 10 pairs"):
    distill_recipe.write_teacher_scores(str(tmp_path / "t.tsv"), examples, [0.0] * 9)


def test_predict_output_read_as_floats(tmp_path):
  path = tmp_path / "scores.txt"
  path.write_text("-1.25\n3.00000012\n\n")
  assert distill_recipe.read_scores(str(path)) == [-1.25, 3.00000012]


def test_subset_keeps_the_first_questions(tmp_path):
  release = tmp_path / "release"
  release.mkdir()
  for split, source in (("train", "train"), ("dev", "test"), ("test", "test")):
    for suffix in (".txt", ".ref"):
      shutil.copy(os.path.join(WIKIQA, "WikiQA-%s%s" % (source, suffix)),
                  release / ("WikiQA-%s%s" % (split, suffix)))
  shutil.copy(os.path.join(WIKIQA, "WikiQA-test-filtered.ref"),
              release / "WikiQA-test-filtered.ref")
  subset = distill_recipe.write_subset(str(release), str(tmp_path / "subset"), 2)
  processor = ranking.WikiqaProcessor()
  train = processor.get_train_examples(subset)  # .txt and .ref still line by line
  assert [(e.query_id, e.doc_id, e.label) for e in train] == [
      ("1", "0", 0), ("1", "1", 1), ("1", "2", 0), ("2", "0", 0), ("2", "1", 1)]
  assert {e.query_id for e in processor.get_test_examples(subset)} == {"1", "2"}
  assert not os.path.exists(os.path.join(subset, "WikiQA-dev-filtered.ref"))
  examples, qrels = distill_recipe.filtered_test_examples(subset)
  assert set(qrels) == {"1", "2"}
  assert [(e.query_id, e.doc_id) for e in examples] == [
      ("1", "0"), ("1", "1"), ("1", "2"), ("2", "0"), ("2", "1")]


def test_student_starts_from_the_pretrained_or_the_teachers_best(tmp_path):
  def run(student_init):
    args = argparse.Namespace(runs_dir=str(tmp_path), student_layers=3, loss="margin_mse",
                              student_init=student_init, max_seq_length=128,
                              learning_rate=2e-5, epochs=2, eval_every_n_steps=130)
    return distill_recipe.student_run(args, WIKIQA, "/t/teacher", "/t/scores.tsv", 2)

  folder, flags = run("pretrained")
  inits = [flag for flag in flags if flag.startswith("--init_checkpoint=")]
  assert folder == str(tmp_path / "student-L3-margin_mse-s2")
  assert inits == ["--init_checkpoint=" + os.path.join(distill_recipe.MINILM, "bert_model.ckpt")]
  folder, flags = run("teacher")
  assert folder == str(tmp_path / "student-L3-margin_mse-from-teacher-s2")
  assert [flag for flag in flags if flag.startswith("--init_checkpoint=")] == [
      "--init_checkpoint=/t/teacher/best"]
  assert {"--num_hidden_layers=3", "--loss=margin_mse", "--group_size=8",
          "--teacher_scores=/t/scores.tsv", "--seed=2"} <= set(flags)
