"""Ranking metrics against cases computed by hand (trec_eval's definitions)."""

import math

import pytest

from finetune.evaluation import ranking_metrics as rm


def one(doc_ids, scores, grades, qrels=None, ties="trec_eval"):
  return rm.score_query("q", doc_ids, scores, grades, qrels, ties)


def test_binary_labels():
  # Ranked d1 d2 d3 d4; relevant at ranks 2 and 4.
  r = one(["d1", "d2", "d3", "d4"], [0.9, 0.8, 0.7, 0.6], [0, 1, 0, 1])
  assert r.ap == pytest.approx((1 / 2 + 2 / 4) / 2)
  assert r.rr == pytest.approx(0.5)
  dcg = 1 / math.log2(3) + 1 / math.log2(5)
  assert r.ndcg == pytest.approx(dcg / (1 + 1 / math.log2(3)))
  assert r.recall == {1: 0.0, 5: 1.0, 10: 1.0}
  assert r.first_relevant_rank == 2


def test_graded_labels_use_linear_gains_and_any_grade_is_relevant_for_ap():
  # Scores rank d2 (0), d3 (2), d4 (1), d1 (3).
  r = one(["d1", "d2", "d3", "d4"], [0.1, 0.9, 0.5, 0.3], [3, 0, 2, 1])
  assert r.ap == pytest.approx((1 / 2 + 2 / 3 + 3 / 4) / 3)
  dcg = 2 / math.log2(3) + 1 / math.log2(4) + 3 / math.log2(5)
  ideal = 3 + 2 / math.log2(3) + 1 / math.log2(4)
  assert r.ndcg == pytest.approx(dcg / ideal)  # 2^g - 1 gains would give another value
  assert r.ndcg != pytest.approx(
      (3 / math.log2(3) + 1 / 2 + 7 / math.log2(5)) / (7 + 3 / math.log2(3) + 1 / 2))


def test_ties_broken_by_document_id_descending_as_strings():
  # "9" > "10" as strings, so trec_eval ranks "9" (not relevant) first.
  r = one(["10", "9"], [0.5, 0.5], [1, 0])
  assert r.rr == pytest.approx(0.5)
  assert r.ap == pytest.approx(0.5)
  assert one(["10", "9"], [0.5, 0.5], [1, 0], ties="input").rr == 1.0


def test_relevant_document_missing_from_the_candidates_still_counts():
  r = one(["a", "b"], [0.9, 0.1], [1, 0], qrels={"a": 1, "c": 1})
  assert r.ap == pytest.approx(0.5)  # precision 1 at a, 0 for the unretrieved c, over 2
  assert r.rr == 1.0
  assert r.ndcg == pytest.approx(1 / (1 + 1 / math.log2(3)))
  assert r.recall[1] == pytest.approx(0.5)
  assert r.num_relevant == 2 and r.num_relevant_retrieved == 1


def test_qrels_override_the_candidates_grades():
  # The qrels say b is relevant; the candidates' own grades are ignored for that query.
  r = one(["a", "b"], [0.9, 0.1], [1, 0], qrels={"b": 2})
  assert r.ap == pytest.approx(0.5) and r.ndcg == pytest.approx(1 / math.log2(3))


def test_reciprocal_rank_cut_at_10_and_uncut():
  ids = ["d%02d" % i for i in range(12)]
  r = one(ids, [12 - i for i in range(12)], [0] * 10 + [1, 0])
  assert r.rr == 0.0
  assert r.rr_full == pytest.approx(1 / 11)
  assert r.ndcg == 0.0


def test_queries_without_relevant_counted_and_left_out_unless_asked():
  results = rm.score_queries(["q1", "q1", "q2", "q2"], ["a", "b", "a", "b"],
                             [0.9, 0.1, 0.9, 0.1], [1, 0, 0, 0])
  summary = rm.summarize(results)
  assert summary["eval_num_queries"] == 2
  assert summary["eval_num_queries_without_relevant"] == 1
  assert summary["eval_num_queries_scored"] == 1
  assert summary["eval_map"] == 1.0 and summary["eval_mrr@10"] == 1.0
  both = rm.summarize(results, include_unanswerable=True)
  assert both["eval_map"] == 0.5 and both["eval_ndcg@10"] == 0.5


def test_means_over_queries():
  results = rm.score_queries(["q1", "q1", "q2", "q2"], ["a", "b", "a", "b"],
                             [0.9, 0.1, 0.9, 0.1], [1, 0, 0, 1])
  summary = rm.summarize(results)
  assert summary["eval_map"] == pytest.approx(0.75)
  assert summary["eval_mrr@10"] == pytest.approx(0.75)
  assert summary["eval_recall@1"] == pytest.approx(0.5)


def test_ranks_within_query_and_per_query_table():
  ranks = rm.ranks_within_query(["q1", "q1", "q1", "q2"], ["a", "b", "c", "a"],
                                [0.2, 0.7, 0.5, 0.1])
  assert ranks == [3, 1, 2, 1]
  header, rows = rm.per_query_table(rm.score_queries(["q1", "q2"], ["a", "a"], [1, 1],
                                                     [1, 0]))
  assert header[0] == "query_id" and rows[0][5] == "1.000000" and rows[1][5] == ""
