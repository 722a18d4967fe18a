"""mine_negatives.py at scale: the time, the peak memory and the first stage's speed.

Makes a corpus of --passages passages and --queries queries (bench/mining_data.py, from
data/'s sentences or WikiQA's with --data_dir), then runs mine_negatives.py on it in a
process of its own and prints its report's figures with the child's peak RSS. A second
run with --queries larger reuses the index (the same corpus file), so the index cost and
the per-query cost can be read apart.

  python bench/mining_scale.py --work_dir=runs/mining-1m \
    --passages=1000000 --queries=5000 --vocab_file=models/minilm/vocab.txt
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench import mining_data
from bench.shared_data import shared_data_dir

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--data_dir", default=shared_data_dir())
  parser.add_argument("--work_dir", required=True)
  parser.add_argument("--passages", type=int, default=1000000)
  parser.add_argument("--queries", type=int, default=5000)
  parser.add_argument("--vocab_file", default=os.path.join(REPO, "models/minilm/vocab.txt"))
  parser.add_argument("--range_max", type=int, default=100)
  args = parser.parse_args()
  inputs_dir = os.path.join(args.work_dir, "inputs-%d" % args.passages)
  corpus = os.path.join(inputs_dir, "corpus.tsv")
  if not os.path.exists(corpus):
    mining_data.write_inputs(inputs_dir, mining_data.sentences(args.data_dir),
                             args.passages, max(args.queries, 100000))
  # The first --queries queries and their qrels (line i of each is query i).
  subsets = []
  for name in ("queries.tsv", "qrels.tsv"):
    subsets.append(os.path.join(args.work_dir, "%d-%s" % (args.queries, name)))
    with open(os.path.join(inputs_dir, name), encoding="utf-8") as f, \
        open(subsets[-1], "w", encoding="utf-8") as out:
      for number, line in enumerate(f):
        if number >= args.queries:
          break
        out.write(line)
  queries, qrels = subsets
  output = os.path.join(args.work_dir, "mined-%d.tsv" % args.queries)
  command = [sys.executable, os.path.join(REPO, "mine_negatives.py"), "--queries=" + queries,
             "--corpus=" + corpus, "--positives=" + qrels,
             "--vocab_file=" + args.vocab_file, "--output=" + output,
             "--index_dir=" + os.path.join(args.work_dir, "index"),
             "--range_max=%d" % args.range_max, "--num_negatives=4"]
  started = time.perf_counter()
  result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=REPO)
  seconds = time.perf_counter() - started
  if result.returncode:
    sys.exit(result.stderr[-2000:])
  report = json.loads(result.stdout.strip().splitlines()[-1])
  mining_seconds = report["seconds"] - report["index_seconds"]
  print(json.dumps({
      "passages": report["passages"], "queries": report["queries_mined"],
      "wall_s": round(seconds, 1), "index_s": report["index_seconds"],
      "mining_s": round(mining_seconds, 1),
      "queries_per_s": round(report["queries_mined"] / max(mining_seconds, 1e-9), 1),
      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
      "recall_at_range_max": report["first_stage_recall_at_range_max"]}))


if __name__ == "__main__":
  main()
