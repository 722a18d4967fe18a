"""A whole mining run: index (or reuse) the corpus, mine each chunk of queries, report.

mine(...) takes every setting as an argument (mine_negatives.py passes its flags). The
output's rows are grouped by query, positives first:
`query_id<TAB>query<TAB>passage<TAB>label` (label 1 for a positive, 0 for a mined
negative), or without the query id column. The report, `<output>.report.json`, says what
the run did: queries read, mined, skipped for want of a positive; the candidates per
query in the window; the positives the first stage ranked within range_max (its
recall@range_max); what the guard dropped; the negatives written.
"""

import json
import os
import time

from absl import logging
import numpy as np

from common import files
from common import interruption
from common.errors import UserError
from finetune.mining import bm25_index
from finetune.mining import chunks
from finetune.mining import inputs
from finetune.mining import negatives
import tokenization_fast


class Progress:
  """Logs queries done, the rate and the time left, at most every `every` seconds."""

  def __init__(self, total, every=10.0):
    self.total, self.every = total, every
    self.started = self.last = time.perf_counter()
    self.done = 0

  def advance(self, count, force=False):
    self.done += count
    now = time.perf_counter()
    if not force and now - self.last < self.every:
      return
    self.last = now
    rate = self.done / max(now - self.started, 1e-9)
    left = (self.total - self.done) / rate if rate else float("inf")
    logging.info("mined %d/%d queries (%.0f%%), %.1f queries/s, ETA %s", self.done,
                 self.total, 100.0 * self.done / max(self.total, 1), rate, _duration(left))


def _duration(seconds):
  if not np.isfinite(seconds):
    return "unknown"
  seconds = int(seconds)
  return "%dh%02dm" % (seconds // 3600, seconds // 60 % 60) if seconds >= 3600 else \
      "%dm%02ds" % (seconds // 60, seconds % 60)


def _clean(text):
  # A tab or line break inside a text would split its row of the output.
  return " ".join(text.split())


class Scorer:
  """The rescoring model: a fine-tuned folder or ONNX export, through the predictors."""

  def __init__(self, path, batch_size):
    from finetune.runtime.predictor import load_predictor
    self.predictor = load_predictor(path)
    self.batch_size = batch_size

  def __call__(self, pairs):
    if not pairs:
      return np.zeros(0, np.float32)
    outputs = self.predictor.predict(pairs, self.batch_size)
    if "score" in outputs:
      return np.asarray(outputs["score"], np.float32).reshape(-1)
    # A classifier: the probability of its last label, the positive one (0/1 tasks).
    return np.asarray(outputs["probabilities"], np.float32)[:, -1]

  def close(self):
    self.predictor.close()


def mine(queries, corpus, positives, output, vocab_file, do_lower_case=True,
         num_negatives=4, range_min=0, range_max=100, max_score_ratio=None, margin=None,
         sampling="top", seed=0, scorer=None, scorer_batch_size=64, index_dir=None,
         with_query_ids=True, chunk_size=1000, k1=1.5, b=0.75):
  """Mines negatives into `output`; returns the report (also written beside it)."""
  if range_max <= range_min:
    raise UserError("--range_max=%d must be above --range_min=%d" % (range_max, range_min))
  started = time.perf_counter()
  output_dir = os.path.dirname(os.path.abspath(output))
  files.makedirs(output_dir)
  files.remove_stale_temporaries(output_dir)
  index_dir = index_dir or output + ".index"
  tokenizer = tokenization_fast.FastFullTokenizer(vocab_file, do_lower_case)
  token_ids = bm25_index.TokenIds(tokenizer)
  index_manifest = bm25_index.manifest_for(corpus, vocab_file, do_lower_case, k1, b)
  if bm25_index.matches(index_dir, index_manifest):
    logging.info("reusing the BM25 index in %s", index_dir)
  else:
    bm25_index.build_index(index_dir, corpus, token_ids, index_manifest, k1, b)
  index = bm25_index.Bm25Index(index_dir)
  index_seconds = time.perf_counter() - started
  query_texts = inputs.read_queries(queries)
  passage_index = {identifier: i for i, identifier in enumerate(index.ids)}
  positive_lists = inputs.read_positives(positives, query_texts, passage_index)
  del passage_index
  mined_ids = [query for query in query_texts if query in positive_lists]
  rules = negatives.Rules(num_negatives, range_min, range_max, max_score_ratio, margin,
                          sampling, seed)
  settings = {"num_negatives": num_negatives, "range_min": range_min,
              "range_max": range_max, "max_score_ratio": max_score_ratio, "margin": margin,
              "sampling": sampling, "seed": seed, "with_query_ids": with_query_ids,
              "scorer": os.path.abspath(scorer) if scorer else None, "k1": k1, "b": b,
              "chunk_size": chunk_size, "do_lower_case": do_lower_case}
  manifest = {"settings": settings, "index": index_manifest,
              "queries": bm25_index.fingerprint(queries),
              "positives": bm25_index.fingerprint(positives)}
  folder = chunks.ChunkFolder(output, manifest)
  texts = inputs.PassageTexts(corpus, index.offsets)
  rescorer = Scorer(scorer, scorer_batch_size) if scorer else None
  count = (len(mined_ids) + chunk_size - 1) // chunk_size
  progress = Progress(len(mined_ids))
  try:
    for chunk in range(count):
      members = mined_ids[chunk * chunk_size:(chunk + 1) * chunk_size]
      if not folder.done(chunk):
        lines, counts = _mine_chunk(members, query_texts, positive_lists, index, token_ids,
                                    texts, rescorer, rules, with_query_ids)
        folder.write(chunk, lines, counts)
      progress.advance(len(members))
      interruption.raise_if_requested()
    progress.advance(0, force=True)
    totals = _sum_counts(folder.counts(chunk) for chunk in range(count))
    folder.join(count, output)
  finally:
    texts.close()
    if rescorer is not None:
      rescorer.close()
  report = _report(totals, len(query_texts), len(mined_ids), len(index), settings,
                   time.perf_counter() - started)
  report["index_seconds"] = round(index_seconds, 1)  # built, or checked and loaded
  files.write_text_atomically(output + ".report.json", json.dumps(report, indent=1) + "\n")
  return report


def _mine_chunk(members, query_texts, positive_lists, index, token_ids, texts, rescorer,
                rules, with_query_ids):
  """The output lines of one chunk of queries and its counts."""
  found = []
  for query in members:
    positives = positive_lists[query]
    scores = index.scores(token_ids(query_texts[query]))
    ranked = index.ranked(scores, rules.range_max + len(positives))
    top = set(ranked[:rules.range_max].tolist())
    candidates = negatives.window(ranked.tolist(), positives, rules.range_min,
                                  rules.range_max)
    found.append((query, positives, candidates, scores[candidates],
                  scores[np.asarray(positives)], sum(p in top for p in positives)))
  rescored = {}
  if rescorer is not None:
    pairs = []
    for query, positives, candidates, _, _, _ in found:
      for passage in list(positives) + candidates.tolist():
        pairs.append((query_texts[query], texts.text(passage)))
    model_scores = rescorer(pairs)
    start = 0
    for query, positives, candidates, _, _, _ in found:
      end = start + len(positives) + len(candidates)
      rescored[query] = (model_scores[start + len(positives):end],
                         model_scores[start:start + len(positives)])
      start = end
  counts = {"queries": 0, "positives": 0, "positives_in_window": 0, "candidates": 0,
            "dropped_by_guard": 0, "negatives": 0, "short_queries": 0,
            "queries_all_dropped": 0, "min_candidates": None, "max_candidates": 0}
  lines = []
  for query, positives, candidates, bm25_candidates, bm25_positives, in_window in found:
    if rescorer is not None:
      guard_scores = {"candidates": rescored[query][0], "positives": rescored[query][1]}
    else:
      guard_scores = {"candidates": bm25_candidates, "positives": bm25_positives}
    chosen, _, dropped = negatives.choose(candidates, guard_scores, rules, query,
                                          rescorer is not None)
    lead = (query + "\t") if with_query_ids else ""
    query_text = _clean(query_texts[query])
    for passage in positives:
      lines.append("%s%s\t%s\t1\n" % (lead, query_text, _clean(texts.text(passage))))
    for passage in chosen.tolist():
      lines.append("%s%s\t%s\t0\n" % (lead, query_text, _clean(texts.text(passage))))
    counts["queries"] += 1
    counts["positives"] += len(positives)
    counts["positives_in_window"] += in_window
    counts["candidates"] += len(candidates)
    counts["dropped_by_guard"] += dropped
    counts["negatives"] += len(chosen)
    counts["short_queries"] += int(len(chosen) < rules.num_negatives)
    counts["queries_all_dropped"] += int(len(candidates) > 0 and dropped == len(candidates))
    counts["min_candidates"] = len(candidates) if counts["min_candidates"] is None else min(
        counts["min_candidates"], len(candidates))
    counts["max_candidates"] = max(counts["max_candidates"], len(candidates))
  return lines, counts


def _sum_counts(all_counts):
  totals = {}
  for counts in all_counts:
    for key, value in counts.items():
      if key == "min_candidates":
        totals[key] = value if totals.get(key) is None else min(totals[key], value)
      elif key == "max_candidates":
        totals[key] = max(totals.get(key, 0), value)
      else:
        totals[key] = totals.get(key, 0) + value
  return totals


def _report(totals, queries_read, queries_mined, passages, settings, seconds):
  mined = max(totals.get("queries", 0), 1)
  return {
      "queries_read": queries_read,
      "queries_mined": totals.get("queries", 0),
      "queries_without_positives": queries_read - queries_mined,
      "passages": passages,
      "positives": totals.get("positives", 0),
      "first_stage_recall_at_range_max": round(
          totals.get("positives_in_window", 0) / max(totals.get("positives", 0), 1), 4),
      "positives_in_top_range_max": totals.get("positives_in_window", 0),
      "candidates_per_query": {"mean": round(totals.get("candidates", 0) / mined, 2),
                               "min": totals.get("min_candidates"),
                               "max": totals.get("max_candidates", 0)},
      "dropped_by_guard": totals.get("dropped_by_guard", 0),
      "queries_all_candidates_dropped": totals.get("queries_all_dropped", 0),
      "negatives_written": totals.get("negatives", 0),
      "queries_with_fewer_negatives": totals.get("short_queries", 0),
      "settings": settings,
      "seconds": round(seconds, 1),
  }
