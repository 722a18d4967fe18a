"""mine_negatives.py and finetune/mining/: window, guard, sampling, resume, scorer, errors.

Small corpora written here, English and Chinese, tokenized with data/'s bert-base-chinese
vocabulary (it holds English word pieces too).
"""

import json
import os

import numpy as np
import pytest

from helpers import CHINESE_VOCAB
from helpers import last_error_line
from helpers import make_tiny_run
from helpers import run_script

pytest.importorskip("bm25s")

from finetune.mining import chunks
from finetune.mining import mining
from finetune.mining import negatives
from processors import get_processor

WORDS = ("river bank money loan water fish bridge city train station music piano guitar "
         "song dog cat garden flower tree rain snow winter summer road car").split()


def write(path, lines):
  path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
  return str(path)


def english_inputs(tmp_path, passages=60, queries=12, seed=0):
  """Passages of random words; query i is words of passage i, its positive.

  Written once per test: a rewritten input is a changed one (its modification time).
  """
  if (tmp_path / "corpus.tsv").exists():
    return dict(queries=str(tmp_path / "queries.tsv"), corpus=str(tmp_path / "corpus.tsv"),
                positives=str(tmp_path / "qrels.tsv"), vocab_file=CHINESE_VOCAB)
  rng = np.random.default_rng(seed)
  texts = [" ".join(rng.choice(WORDS, size=8)) for _ in range(passages)]
  corpus = write(tmp_path / "corpus.tsv", ["p%d\t%s" % (i, t) for i, t in enumerate(texts)])
  query_file = write(tmp_path / "queries.tsv",
                     ["q%d\t%s" % (i, " ".join(texts[i].split()[:4])) for i in range(queries)])
  qrels = write(tmp_path / "qrels.tsv", ["q%d 0 p%d 1" % (i, i) for i in range(queries)])
  return dict(queries=query_file, corpus=corpus, positives=qrels, vocab_file=CHINESE_VOCAB)


def rows_of(path):
  with open(path, encoding="utf-8") as f:
    return [line.rstrip("\n").split("\t") for line in f]


def run_mine(tmp_path, name="out", **overrides):
  arguments = english_inputs(tmp_path)
  arguments.update(overrides)
  output = str(tmp_path / name / "train.tsv")
  report = mining.mine(output=output, **arguments)
  return output, report


def test_window_takes_out_positives_then_cuts_the_ranks():
  ranked = [5, 1, 9, 2, 7, 3, 8]
  assert negatives.window(ranked, [9], 1, 4).tolist() == [1, 2, 7]
  assert negatives.window(ranked, [], 0, 2).tolist() == [5, 1]


def test_guard_ratio_and_margin_compare_with_the_lowest_positive():
  candidates = np.array([10.0, 8.0, 6.0, 2.0])
  positives = np.array([12.0, 9.0])
  assert negatives.guard(candidates, positives).tolist() == [True] * 4
  assert negatives.guard(candidates, positives, max_score_ratio=0.9).tolist() == [
      False, True, True, True]
  assert negatives.guard(candidates, positives, margin=2.5).tolist() == [
      False, False, True, True]


def test_output_groups_positives_then_window_negatives(tmp_path):
  output, report = run_mine(tmp_path, num_negatives=3, range_min=2, range_max=10)
  rows = rows_of(output)
  assert report["queries_mined"] == 12 and report["negatives_written"] == 36
  assert len(rows) == 12 * 4
  assert all(len(row) == 4 for row in rows)
  assert rows[0][0] == "q0" and rows[0][3] == "1" and [r[3] for r in rows[1:4]] == ["0"] * 3
  assert report["candidates_per_query"]["max"] <= 8
  assert report["first_stage_recall_at_range_max"] == 1.0
  with open(output + ".report.json", encoding="utf-8") as f:
    assert json.load(f)["negatives_written"] == 36
  # No negative is the query's positive.
  positive_of = {row[0]: row[2] for row in rows if row[3] == "1"}
  assert all(row[2] != positive_of[row[0]] for row in rows if row[3] == "0")


@pytest.mark.parametrize("with_query_ids", [True, False])
def test_the_output_is_what_the_ranking_processor_reads(tmp_path, with_query_ids):
  # mine_negatives.py writes run_rerank.py's training file: the same rows, in the same
  # groups, come back as the `ranking` processor's examples.
  output, report = run_mine(tmp_path, num_negatives=3, range_max=10,
                            with_query_ids=with_query_ids)
  rows = rows_of(output)
  assert all(len(row) == (4 if with_query_ids else 3) for row in rows)
  examples = get_processor("ranking").get_train_examples(os.path.dirname(output))
  assert [(e.text_a, e.text_b, e.label) for e in examples] == [
      (row[-3], row[-2], int(row[-1])) for row in rows]
  assert [e.query_id for e in examples] == [row[0] for row in rows]
  assert len({e.query_id for e in examples}) == report["queries_mined"] == 12
  # Each group starts at candidate 0 with its positive.
  firsts = [e for e in examples if e.doc_id == "0"]
  assert len(firsts) == 12 and all(e.label == 1 for e in firsts)


def test_the_window_start_skips_the_top_ranks(tmp_path):
  top, _ = run_mine(tmp_path, "a", num_negatives=2, range_min=0, range_max=10)
  skipped, _ = run_mine(tmp_path, "b", num_negatives=2, range_min=2, range_max=10)
  first = [r for r in rows_of(top) if r[3] == "0"]
  later = [r for r in rows_of(skipped) if r[3] == "0"]
  assert {r[2] for r in first[:2]}.isdisjoint({r[2] for r in later[:2]})


def test_guard_drops_candidates_close_to_the_positive(tmp_path):
  _, unguarded = run_mine(tmp_path, "a", num_negatives=3, range_max=20)
  _, guarded = run_mine(tmp_path, "b", num_negatives=3, range_max=20, max_score_ratio=0.6)
  assert unguarded["dropped_by_guard"] == 0
  assert guarded["dropped_by_guard"] > 0
  _, everything = run_mine(tmp_path, "c", num_negatives=3, range_max=20, margin=1e6)
  assert everything["negatives_written"] == 0
  assert everything["queries_all_candidates_dropped"] == 12


def test_random_sampling_is_seeded(tmp_path):
  one, _ = run_mine(tmp_path, "a", sampling="random", seed=1, range_max=30)
  again, _ = run_mine(tmp_path, "b", sampling="random", seed=1, range_max=30)
  other, _ = run_mine(tmp_path, "c", sampling="random", seed=2, range_max=30)
  top, _ = run_mine(tmp_path, "d", sampling="top", range_max=30)
  assert rows_of(one) == rows_of(again)
  assert rows_of(one) != rows_of(other)
  assert rows_of(one) != rows_of(top)


def test_an_interrupted_run_resumes_from_its_last_chunk(tmp_path, monkeypatch):
  whole, _ = run_mine(tmp_path, "whole", chunk_size=2)
  real_write = chunks.ChunkFolder.write
  written = []

  def failing_write(self, index, lines, counts):
    if len(written) == 3:
      raise KeyboardInterrupt()
    written.append(index)
    real_write(self, index, lines, counts)

  monkeypatch.setattr(chunks.ChunkFolder, "write", failing_write)
  with pytest.raises(KeyboardInterrupt):
    run_mine(tmp_path, "cut", chunk_size=2)
  output = str(tmp_path / "cut" / "train.tsv")
  assert not os.path.exists(output)
  assert sorted(os.listdir(output + ".parts")) == [
      "chunk-%06d.%s" % (i, ext) for i in range(3) for ext in ("json", "tsv")] + [
          "manifest.json"]
  written.clear()
  monkeypatch.setattr(chunks.ChunkFolder, "write", lambda self, *a: (
      written.append(a[0]), real_write(self, *a)))
  run_mine(tmp_path, "cut", chunk_size=2)
  assert written == [3, 4, 5]
  assert rows_of(output) == rows_of(whole)
  assert not os.path.exists(output + ".parts")


def test_other_settings_start_the_chunks_over(tmp_path, monkeypatch):
  output = str(tmp_path / "out" / "train.tsv")
  folder = chunks.ChunkFolder(output, {"settings": 1})
  folder.write(0, ["a\n"], {"queries": 1})
  assert chunks.ChunkFolder(output, {"settings": 1}).done(0)
  assert not chunks.ChunkFolder(output, {"settings": 2}).done(0)


def test_chinese_queries_find_their_passages(tmp_path):
  texts = ["支付宝怎么充值", "微信怎么提现到银行卡", "今天天气很好适合爬山", "银行卡丢了怎么办",
           "怎么注册支付宝账号", "下雨天开车要小心", "手机没电了怎么充电", "北京的冬天很冷"]
  corpus = write(tmp_path / "corpus.tsv", ["d%d\t%s" % (i, t) for i, t in enumerate(texts)])
  queries = write(tmp_path / "queries.tsv", ["z1\t微信怎么提现", "z2\t天气爬山"])
  pairs = write(tmp_path / "pairs.tsv", ["z1\td1", "z2\td2"])
  output = str(tmp_path / "zh" / "train.tsv")
  report = mining.mine(queries, corpus, pairs, output, CHINESE_VOCAB, num_negatives=2,
                       range_max=1)
  assert report["first_stage_recall_at_range_max"] == 1.0
  rows = rows_of(output)
  assert rows[0] == ["z1", "微信怎么提现", "微信怎么提现到银行卡", "1"]
  # Its negative shares characters with it (怎么): no other passage has 微, 信, 提 or 现.
  assert rows[1][:2] == ["z1", "微信怎么提现"] and rows[1][3] == "0"
  assert "怎么" in rows[1][2] and rows[1][2] != rows[0][2]


def test_rescoring_by_a_fine_tuned_model(tmp_path, zh_model):
  from finetune.tasks import RegressionTask
  scorer = make_tiny_run(str(tmp_path / "scorer"), zh_model, RegressionTask())
  _, report = run_mine(tmp_path, "a", scorer=scorer, num_negatives=2, range_max=8,
                       scorer_batch_size=5)
  assert report["negatives_written"] == 24
  # Scores are in 0..1 (a sigmoid head): a margin of 2 drops every candidate.
  _, dropped = run_mine(tmp_path, "b", scorer=scorer, range_max=8, margin=2.0)
  assert dropped["negatives_written"] == 0 and dropped["dropped_by_guard"] == 12 * 8
  # Without the scorer, BM25's scores (> 2 here) keep some.
  _, bm25 = run_mine(tmp_path, "c", range_max=8, margin=-2.0)
  assert bm25["negatives_written"] > 0


@pytest.mark.parametrize("file,line,text,message", [
    ("corpus.tsv", 3, "p2 no tab here", "corpus.tsv:3: expected 2 tab-separated columns"),
    ("qrels.tsv", 2, "q1 0 p999 1", "qrels.tsv:2: passage id 'p999' is not in the corpus"),
    ("qrels.tsv", 1, "q77 0 p1 1", "qrels.tsv:1: query id 'q77' is not in the queries file"),
    ("queries.tsv", 2, "q0\tagain", "queries.tsv:2: query id 'q0' already on line 1"),
])
def test_a_bad_row_is_one_line_naming_file_and_line(tmp_path, file, line, text, message):
  arguments = english_inputs(tmp_path)
  path = tmp_path / file
  lines = path.read_text(encoding="utf-8").splitlines()
  lines[line - 1] = text
  write(path, lines)
  result = run_script("mine_negatives.py", *["--%s=%s" % item for item in arguments.items()],
                      "--output=%s" % (tmp_path / "out" / "train.tsv"), check=False)
  assert result.returncode == 1
  error = last_error_line(result)
  assert error.startswith("error: ") and message in error, error
  assert not os.path.exists(tmp_path / "out" / "train.tsv")
