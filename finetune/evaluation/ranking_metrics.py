"""Ranking metrics per query, with trec_eval's definitions (numpy-free, exact).

A query's candidates are sorted by score, descending; tied scores are ordered as
trec_eval orders them, by document id descending (a string comparison, so "9" comes
before "10"). Relevance is a grade (0 not relevant; 1, 2, 3 relevant, as TREC qrels):

  AP      mean, over the query's relevant documents in the qrels, of the precision at
          each one's rank (a relevant document never retrieved adds 0), so divided by the
          number of relevant documents in the qrels, retrieved or not.
  RR@10   1 / rank of the first relevant document within the top 10, else 0 (MRR, no
          cutoff: trec_eval's recip_rank; WikiQA's papers report this one).
  nDCG@10 DCG@10 / ideal DCG@10, gain = the grade (linear, as trec_eval's ndcg_cut; not
          2^grade - 1), discount log2(rank + 1); the ideal ranking is made from every
          grade in the qrels, so relevant documents missing from the candidates count.
  R@k     relevant documents within the top k / relevant documents in the qrels.

MAP, MRR@10, nDCG@10 and Recall@k are means over the queries scored. A query with no
relevant document (in its qrels, or among its candidates when no qrels are given) has
no defined AP: it is counted and left out by default, as WikiQA's filtered evaluation
and trec_eval (which scores only the queries its qrels name with a relevant document)
do; `include_unanswerable=True` scores it 0 instead.
"""

import collections
import dataclasses
import math
from typing import Optional

CUTOFF = 10
RECALL_CUTOFFS = (1, 5, 10)


def order(doc_ids, scores, ties="trec_eval"):
  """Indices of the candidates, best first.

  ties: "trec_eval" (tied scores by document id descending, as trec_eval sorts), "input"
    (tied scores in the candidates' order).
  """
  indices = list(range(len(scores)))
  if ties == "trec_eval":
    return sorted(indices, key=lambda i: (scores[i], doc_ids[i]), reverse=True)
  if ties == "input":
    return sorted(indices, key=lambda i: -scores[i])
  raise ValueError("ties=%r: expected 'trec_eval' or 'input'" % (ties,))


@dataclasses.dataclass
class QueryResult:
  """One query's figures; ap etc. are None when the query has no relevant document."""
  query_id: str
  num_candidates: int
  num_relevant: int  # in the qrels (or among the candidates without qrels)
  num_relevant_retrieved: int
  ap: Optional[float]
  rr: Optional[float]
  rr_full: Optional[float]  # without the cutoff: trec_eval's recip_rank
  ndcg: Optional[float]
  recall: dict  # {k: recall@k}, empty when no relevant document
  first_relevant_rank: Optional[int]


def score_query(query_id, doc_ids, scores, grades, qrels=None, ties="trec_eval",
                cutoff=CUTOFF, recall_cutoffs=RECALL_CUTOFFS):
  """The figures of one query.

  Args:
    doc_ids: the candidates' ids (strings), unique within the query.
    scores: the candidates' scores, higher is better.
    grades: the candidates' relevance grades (ints >= 0), used when qrels is None.
    qrels: {doc_id: grade} of this query, or None: then the candidates' grades are the
      whole truth (no relevant document outside the candidates).
  """
  if len(doc_ids) != len(scores) or len(scores) != len(grades):
    raise ValueError("doc_ids, scores and grades differ in length")
  if qrels is None:
    qrels = dict(zip(doc_ids, grades))
  ranked = [doc_ids[i] for i in order(doc_ids, list(scores), ties)]
  relevant_grades = sorted((g for g in qrels.values() if g > 0), reverse=True)
  num_relevant = len(relevant_grades)
  retrieved_grades = [qrels.get(doc, 0) for doc in ranked]
  retrieved_relevant = sum(1 for g in retrieved_grades if g > 0)
  if not num_relevant:
    return QueryResult(query_id, len(ranked), 0, 0, None, None, None, None, {}, None)
  hits, precision_sum, first = 0, 0.0, None
  for rank, grade in enumerate(retrieved_grades, start=1):
    if grade > 0:
      hits += 1
      precision_sum += hits / rank
      if first is None:
        first = rank
  ap = precision_sum / num_relevant
  rr = 1.0 / first if first is not None and first <= cutoff else 0.0
  dcg = sum(g / math.log2(rank + 1)
            for rank, g in enumerate(retrieved_grades[:cutoff], start=1))
  ideal = sum(g / math.log2(rank + 1)
              for rank, g in enumerate(relevant_grades[:cutoff], start=1))
  recall = {k: sum(1 for g in retrieved_grades[:k] if g > 0) / num_relevant
            for k in recall_cutoffs}
  rr_full = 1.0 / first if first is not None else 0.0
  return QueryResult(query_id, len(ranked), num_relevant, retrieved_relevant, ap, rr,
                     rr_full, dcg / ideal, recall, first)


def group_by_query(query_ids):
  """{query_id: [indices]} in first-seen order."""
  groups = collections.OrderedDict()
  for index, query_id in enumerate(query_ids):
    groups.setdefault(query_id, []).append(index)
  return groups


def score_queries(query_ids, doc_ids, scores, grades, qrels=None, ties="trec_eval",
                  cutoff=CUTOFF, recall_cutoffs=RECALL_CUTOFFS):
  """QueryResult of each query, in first-seen order.

  Args: flat lists, one entry per candidate; qrels: {query_id: {doc_id: grade}} or None.
  A query that the qrels do not name is judged by its candidates' grades.
  """
  results = []
  for query_id, indices in group_by_query(query_ids).items():
    query_qrels = None if qrels is None else qrels.get(query_id)
    results.append(score_query(query_id, [doc_ids[i] for i in indices],
                               [scores[i] for i in indices],
                               [grades[i] for i in indices], query_qrels, ties, cutoff,
                               recall_cutoffs))
  return results


def summarize(results, include_unanswerable=False, prefix="eval_"):
  """{name: mean} over the queries scored: map, mrr@10, ndcg@10, recall@k, and counts.

  Queries without a relevant document are counted in `num_queries_without_relevant`
  and left out of the means, or scored 0 with include_unanswerable.
  """
  scored = [r for r in results if r.ap is not None]
  unanswerable = len(results) - len(scored)
  count = len(scored) + (unanswerable if include_unanswerable else 0)
  summary = {prefix + "num_queries": len(results),
             prefix + "num_queries_scored": count,
             prefix + "num_queries_without_relevant": unanswerable}

  def mean(values):
    return sum(values) / count if count else float("nan")

  summary[prefix + "map"] = mean([r.ap for r in scored])
  summary[prefix + "mrr@%d" % CUTOFF] = mean([r.rr for r in scored])
  summary[prefix + "mrr"] = mean([r.rr_full for r in scored])
  summary[prefix + "ndcg@%d" % CUTOFF] = mean([r.ndcg for r in scored])
  for k in (scored[0].recall if scored else RECALL_CUTOFFS):
    summary[prefix + "recall@%d" % k] = mean([r.recall[k] for r in scored])
  return summary


def per_query_table(results):
  """(header, rows) of the per-query file: one row per query, figures to 6 decimals."""
  header = ["query_id", "candidates", "relevant", "relevant_retrieved",
            "first_relevant_rank", "ap", "rr@%d" % CUTOFF, "ndcg@%d" % CUTOFF]

  def cell(value):
    return "" if value is None else "%.6f" % value

  rows = [[r.query_id, str(r.num_candidates), str(r.num_relevant),
           str(r.num_relevant_retrieved),
           "" if r.first_relevant_rank is None else str(r.first_relevant_rank),
           cell(r.ap), cell(r.rr), cell(r.ndcg)] for r in results]
  return header, rows


def ranks_within_query(query_ids, doc_ids, scores, ties="trec_eval"):
  """Each candidate's rank (1 = best) within its query, in the candidates' order."""
  ranks = [0] * len(scores)
  for indices in group_by_query(query_ids).values():
    local = order([doc_ids[i] for i in indices], [scores[i] for i in indices], ties)
    for rank, position in enumerate(local, start=1):
      ranks[indices[position]] = rank
  return ranks
