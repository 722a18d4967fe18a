"""One query's negatives: the rank window, the false-negative guard, the sampling.

The window: the first stage's ranking with the query's known positives taken out, ranks
[range_min, range_max) of what remains (rank 0 the best). Skipping the top ranks keeps
out the passages most likely to be unlabeled positives; the window's end bounds the
work of rescoring.

The guard: a candidate whose score comes too close to the positives' is more likely an
unlabeled positive than a negative, so it is dropped. The score is the rescoring model's
when there is one, else BM25's; the positives' reference is the lowest of their scores
(a negative must stay below every known positive). With max_score_ratio r a candidate
must score <= r * reference; with margin m, <= reference - m; both may be given.

The sampling: "top" keeps the num_negatives best survivors (by the rescoring score
when there is one, else by rank), the hardest; "random" draws them, seeded per query
(the seed and the query's id), so that a chunk resumed or mined alone draws the same.
"""

import dataclasses
import zlib

import numpy as np

SAMPLINGS = ("top", "random")


@dataclasses.dataclass(frozen=True)
class Rules:
  num_negatives: int
  range_min: int
  range_max: int
  max_score_ratio: float = None
  margin: float = None
  sampling: str = "top"
  seed: int = 0


def window(ranked, positives, range_min, range_max):
  """The window's candidates: `ranked` (passage indices, best first) without positives."""
  positives = set(positives)
  candidates = [index for index in ranked if index not in positives]
  return np.asarray(candidates[range_min:range_max], np.int64)


def guard(candidate_scores, positive_scores, max_score_ratio=None, margin=None):
  """A mask of the candidates the guard keeps (module docstring)."""
  keep = np.ones(len(candidate_scores), bool)
  if not len(positive_scores):
    return keep
  reference = float(np.min(positive_scores))
  if max_score_ratio is not None:
    keep &= candidate_scores <= reference * max_score_ratio
  if margin is not None:
    keep &= candidate_scores <= reference - margin
  return keep


def query_rng(seed, query_id):
  """The random generator of one query: from the seed and the id, not from the order."""
  return np.random.default_rng([seed, zlib.crc32(query_id.encode("utf-8"))])


def choose(candidates, scores, rules, query_id, rescored):
  """The chosen negatives of one query and how many the guard dropped.

  Args:
    candidates: the window (passage indices in first-stage rank order).
    scores: {"candidates": float [len(candidates)], "positives": float [P]}: the scores
      the guard compares (rescoring's when rescored, else BM25's).
    rescored: whether the scores are a rescoring model's ("top" then orders by them).
  Returns:
    (passage indices, their scores, number dropped by the guard).
  """
  keep = guard(scores["candidates"], scores["positives"], rules.max_score_ratio,
               rules.margin)
  kept, kept_scores = candidates[keep], scores["candidates"][keep]
  dropped = int(len(candidates) - keep.sum())
  if rules.sampling == "random":
    count = min(rules.num_negatives, len(kept))
    picked = np.sort(query_rng(rules.seed, query_id).choice(len(kept), count, replace=False))
  elif rescored:
    picked = np.argsort(-kept_scores, kind="stable")[:rules.num_negatives]
  else:
    picked = np.arange(min(rules.num_negatives, len(kept)))
  return kept[picked], kept_scores[picked], dropped
