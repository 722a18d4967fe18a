"""Synthetic mining inputs of any size, made from real sentences: queries, corpus, qrels.

The sentences are those of the repository's data/ (STS-B train and dev, MRPC train), or
of WikiQA when --data_dir holds its files. A passage is 2 to 4 sentences drawn at random
(seeded) and joined; a query is a span of 4 to 9 words of one passage, which is its
positive. The words' frequencies are those of real English text, so BM25's postings and
the WordPiece tokenizer see what they would see on a real corpus of that size.

  python bench/mining_data.py --out_dir=runs/mining-1m --passages=1000000 --queries=100000
"""

import argparse
import csv
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.shared_data import shared_data_dir
from common import files


def _column_cells(path, columns, skip_header=True):
  with open(path, encoding="utf-8-sig") as f:
    rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
  for row in rows[1 if skip_header else 0:]:
    for column in columns:
      if column < len(row) and row[column].strip():
        yield row[column].strip()


def sentences(data_dir):
  """The distinct sentences of data_dir: WikiQA's if it holds them, else STS-B's and MRPC's."""
  found = []
  wikiqa = [os.path.join(data_dir, "WikiQA-%s.txt" % split) for split in ("train", "dev", "test")]
  if all(os.path.exists(path) for path in wikiqa):
    for path in wikiqa:
      found.extend(_column_cells(path, (0, 1), skip_header=False))
  else:
    for name in ("sts-train.csv", "sts-dev.csv"):
      found.extend(_column_cells(os.path.join(data_dir, "stsbenchmark", name), (5, 6),
                                 skip_header=False))
    found.extend(_column_cells(os.path.join(data_dir, "mrpc", "msr_paraphrase_train.txt"),
                               (3, 4)))
  return sorted(set(sentence.replace("\t", " ") for sentence in found))


def write_inputs(out_dir, pool, num_passages, num_queries, seed=0):
  """Writes queries.tsv, corpus.tsv and qrels.tsv (TREC) into out_dir; returns their paths."""
  rng = np.random.default_rng(seed)
  files.makedirs(out_dir)
  paths = [os.path.join(out_dir, name) for name in ("corpus.tsv", "queries.tsv", "qrels.tsv")]
  chosen = rng.choice(num_passages, size=num_queries, replace=num_queries > num_passages)
  query_of = {}
  for query, passage in enumerate(chosen.tolist()):
    query_of.setdefault(passage, []).append(query)
  queries = [None] * num_queries
  with files.atomic_outputs(paths) as (corpus_tmp, queries_tmp, qrels_tmp):
    with open(corpus_tmp, "w", encoding="utf-8") as corpus:
      for passage in range(num_passages):
        picks = rng.integers(0, len(pool), size=int(rng.integers(2, 5)))
        text = " ".join(pool[i] for i in picks)
        corpus.write("p%d\t%s\n" % (passage, text))
        for query in query_of.get(passage, ()):
          words = text.split()
          length = min(len(words), int(rng.integers(4, 10)))
          start = int(rng.integers(0, len(words) - length + 1))
          queries[query] = (passage, " ".join(words[start:start + length]))
    with open(queries_tmp, "w", encoding="utf-8") as out:
      for query, (_, text) in enumerate(queries):
        out.write("q%d\t%s\n" % (query, text))
    with open(qrels_tmp, "w", encoding="utf-8") as out:
      for query, (passage, _) in enumerate(queries):
        out.write("q%d\t0\tp%d\t1\n" % (query, passage))
  return dict(zip(("corpus", "queries", "positives"), paths))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--data_dir", default=shared_data_dir())
  parser.add_argument("--out_dir", required=True)
  parser.add_argument("--passages", type=int, default=100000)
  parser.add_argument("--queries", type=int, default=10000)
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args()
  pool = sentences(args.data_dir)
  paths = write_inputs(args.out_dir, pool, args.passages, args.queries, args.seed)
  print("%d sentences -> %d passages, %d queries: %s" % (
      len(pool), args.passages, args.queries, ", ".join(sorted(paths.values()))))


if __name__ == "__main__":
  main()
