r"""WikiQA reranking quality: our losses against the CrossEncoder, and the baselines.

  python bench/rerank_quality.py --data_dir=WIKIQA_DIR --runs_dir=DIR

DIR holds the runs to judge: `ours-<loss>-s<seed>/` (run_rerank.py --task_name=wikiqa
output folders: WikiQA train, the best checkpoint on dev by MAP, test predicted) and
`ce-<loss>-s<seed>.json` (bench/rerank_crossencoder.py). Every contender's test
predictions are judged here by finetune/evaluation/ranking_metrics.py on the 237
questions of WikiQA-test-filtered.ref; the table gives the mean and the spread (sample
standard deviation; 0 with one seed) over seeds, and the training throughput from the
runs' logs. Baselines: the candidates in file order, and the release's CNN-Cnt run
(emnlp-table/), scored the same way. The commands that made DIR: docs/reranking.md.
Imports no TensorFlow.
"""

import argparse
import glob
import json
import os
import re
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from finetune.evaluation import ranking_metrics
from processors.ranking import read_qrels

FIGURES = ("map", "mrr@10", "ndcg@10")


def judge(query_ids, doc_ids, scores, qrels):
  """{figure: value} over the filtered test questions."""
  kept = [i for i, q in enumerate(query_ids) if q in qrels]
  results = ranking_metrics.score_queries(
      [query_ids[i] for i in kept], [doc_ids[i] for i in kept], [scores[i] for i in kept],
      [qrels[query_ids[i]].get(doc_ids[i], 0) for i in kept])
  return ranking_metrics.summarize(results, prefix="")


def ours(run_dir, qrels):
  with open(os.path.join(run_dir, "test_results.tsv"), encoding="utf-8") as f:
    rows = [line.rstrip("\n").split("\t") for line in f][1:]
  figures = judge([r[1] for r in rows], [r[2] for r in rows], [float(r[3]) for r in rows],
                  qrels)
  log = run_dir + ".log"
  if os.path.exists(log):
    found = re.findall(r"throughput: training \d+ examples in [\d.]+ s = ([\d.]+) examples/s",
                       open(log, encoding="utf-8").read())
    figures["pairs_per_second"] = float(found[-1]) if found else None
  return figures


def baselines(data_dir, qrels):
  full = read_qrels(os.path.join(data_dir, "WikiQA-test.ref"))
  query_ids, doc_ids, order = [], [], []
  for query, docs in full.items():
    for position, doc in enumerate(docs):
      query_ids.append(query)
      doc_ids.append(doc)
      order.append(-position)  # file order: the first candidate best
  rows = {"candidates in file order": judge(query_ids, doc_ids, order, qrels)}
  run = os.path.join(data_dir, "emnlp-table", "WikiQA.CNN-Cnt.test.rank")
  if os.path.exists(run):
    fields = [line.split() for line in open(run, encoding="utf-8")]
    rows["CNN-Cnt (release's run; published .652/.665)"] = judge(
        [f[0] for f in fields], [f[2] for f in fields], [float(f[4]) for f in fields], qrels)
  return rows


def spread(values):
  return statistics.stdev(values) if len(values) > 1 else 0.0


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--data_dir", required=True)
  parser.add_argument("--runs_dir", required=True)
  args = parser.parse_args()
  qrels = read_qrels(os.path.join(args.data_dir, "WikiQA-test-filtered.ref"))
  contenders = {}
  for run_dir in sorted(glob.glob(os.path.join(args.runs_dir, "ours-*-s*"))):
    if os.path.isdir(run_dir) and os.path.exists(os.path.join(run_dir, "test_results.tsv")):
      name = re.sub(r"-s\d+$", "", os.path.basename(run_dir))
      contenders.setdefault(name, []).append(ours(run_dir, qrels))
  for path in sorted(glob.glob(os.path.join(args.runs_dir, "ce-*.json"))):
    result = json.load(open(path, encoding="utf-8"))
    if "test" in result:
      contenders.setdefault(result["contender"], []).append(
          dict(result["test"], pairs_per_second=result.get("pairs_per_second")))
  print("| WikiQA test, 237 questions | seeds | MAP | MRR@10 | nDCG@10 | training pairs/s |")
  print("| --- | ---: | ---: | ---: | ---: | ---: |")
  for name, figures in baselines(args.data_dir, qrels).items():
    print("| %s | | %.4f | %.4f | %.4f | |" % ((name,) + tuple(figures[f] for f in FIGURES)))
  for name, runs in contenders.items():
    cells = ["%.4f ± %.4f" % (statistics.mean(r[f] for r in runs), spread([r[f] for r in runs]))
             for f in FIGURES]
    speeds = [r["pairs_per_second"] for r in runs if r.get("pairs_per_second")]
    print("| %s | %d | %s | %s |" % (name, len(runs), " | ".join(cells),
                                     "%.1f" % statistics.mean(speeds) if speeds else ""))


if __name__ == "__main__":
  main()
