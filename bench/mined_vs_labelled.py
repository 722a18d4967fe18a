r"""WikiQA: a reranker trained on mined negatives against one trained on the labelled lists.

  python bench/mined_vs_labelled.py --data_dir=WIKIQA_DIR --runs_dir=DIR
      [--labelled_run=RUN_DIR] [--seeds=1] [--num_negatives=7] [--range_min=0]
      [--range_max=50] [--guard_ratio=0.95] [--scorer_run=RUN_DIR] [--scorer_margin=0]
      [--epochs=2] [--max_queries=0]

1. Mining inputs (bench/wikiqa_mining_inputs.py): every distinct sentence of WikiQA's
   three splits is the corpus (all of it, not a question's own candidates), the training
   questions with a correct sentence are the queries, their correct sentences the
   positives. Nothing else of the labelled lists is used.
2. mine_negatives.py twice: BM25 window [--range_min, --range_max), --num_negatives
   hardest (--sampling=top); `no-guard`, and `guard` with --max_score_ratio=--guard_ratio
   (BM25 scores: nothing else is at hand that has not seen the labelled lists); with
   --scorer_run, a third, `rescored`: the window rescored by that run (one trained on
   mined rows only, so the labelled lists stay unseen), --margin=--scorer_margin on its
   scores, the hardest by them. Each
   output becomes a WikiQA-format folder, DIR/data-<variant>: its train .txt/.ref are the
   mined rows (a query's candidates numbered from 0), its dev and test files the release's.
3. run_rerank.py --task_name=wikiqa on each, as docs/reranking.md's listwise run (group 8,
   batch 32, lr 2e-5, best dev checkpoint by MAP: bench/distill_recipe.py's flags), once
   per seed: DIR/mined-<variant>-s<seed>. The labelled run to compare with is
   --labelled_run (a listwise WikiQA run, e.g. the distillation recipe's teacher), else
   DIR/labelled-s<seed> for each seed, trained on the release's own training lists.
4. One markdown table (MAP, MRR@10, nDCG@10 on the 237 filtered test questions, mean ±
   spread over seeds, with the mining report's figures) and one JSON line appended to
   DIR/mined_vs_labelled.jsonl. A run folder holding test_results.tsv is kept, not
   trained again; a mined file already there is kept too (mine_negatives.py resumes).
Imports no TensorFlow (the commands do).
"""

import argparse
import json
import os
import statistics
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from bench.distill_recipe import call
from bench.distill_recipe import command
from bench.distill_recipe import MINILM
from bench.distill_recipe import read_lines
from bench.distill_recipe import rerank_flags
from bench.distill_recipe import train
from bench.distill_recipe import write_subset
from bench.rerank_quality import FIGURES
from bench.rerank_quality import ours
from bench.rerank_quality import spread
from processors.ranking import read_qrels

VARIANTS = ("no-guard", "guard")


def mined_as_wikiqa(mined_path, release_dir, out_dir):
  """mine_negatives.py's rows (query_id, query, passage, label; a query's rows adjacent)
  written as WikiQA-train.txt/.ref in out_dir, the release's dev and test files linked
  beside them; returns (out_dir, queries, pairs)."""
  os.makedirs(out_dir, exist_ok=True)
  texts, refs, positions = [], [], {}
  for number, line in enumerate(read_lines(mined_path), 1):
    fields = line.split("\t")
    if len(fields) != 4:
      sys.exit("error: %s:%d: expected query_id<TAB>query<TAB>passage<TAB>label" % (
          mined_path, number))
    query_id, query, passage, label = fields
    position = positions.get(query_id, -1) + 1
    positions[query_id] = position
    texts.append("%s\t%s\t%s" % (query, passage, label))
    refs.append("%s 0 %d %s" % (query_id, position, label))
  for name, lines in (("WikiQA-train.txt", texts), ("WikiQA-train.ref", refs)):
    with open(os.path.join(out_dir, name + ".tmp"), "w", encoding="utf-8") as f:
      f.write("".join(line + "\n" for line in lines))
    os.replace(os.path.join(out_dir, name + ".tmp"), os.path.join(out_dir, name))
  for split in ("dev", "test"):
    for suffix in (".txt", ".ref", "-filtered.ref"):
      name = "WikiQA-%s%s" % (split, suffix)
      source, link = os.path.join(release_dir, name), os.path.join(out_dir, name)
      if os.path.exists(source) and not os.path.lexists(link):
        os.symlink(source, link)
  return out_dir, len(positions), len(texts)


def mine(args, inputs, variant):
  """mine_negatives.py for `variant`; returns (the output's path, its report)."""
  output = os.path.join(args.runs_dir, "mined-%s" % variant, "train.tsv")
  report_path = output + ".report.json"
  if not os.path.exists(report_path):
    os.makedirs(os.path.dirname(output), exist_ok=True)
    flags = ["--queries=" + os.path.join(inputs, "queries.tsv"),
             "--corpus=" + os.path.join(inputs, "corpus.tsv"),
             "--positives=" + os.path.join(inputs, "positives.tsv"),
             "--vocab_file=" + os.path.join(MINILM, "vocab.txt"), "--output=" + output,
             "--num_negatives=%d" % args.num_negatives, "--range_min=%d" % args.range_min,
             "--range_max=%d" % args.range_max, "--sampling=top",
             "--index_dir=" + os.path.join(args.runs_dir, "bm25-index")]
    if variant == "guard":
      flags.append("--max_score_ratio=%g" % args.guard_ratio)
    if variant == "rescored":  # the window ranked by a model that saw mined data only
      flags += ["--scorer=" + args.scorer_run, "--margin=%g" % args.scorer_margin]
    call(command(args, "mine_negatives.py", *flags), output + ".log")
  with open(report_path, encoding="utf-8") as f:
    return output, json.load(f)


def figures(runs, qrels):
  """{figure: (mean, spread)} of the runs' test_results.tsv."""
  judged = [ours(run, qrels) for run in runs]
  return {f: (statistics.mean(j[f] for j in judged), spread([j[f] for j in judged]))
          for f in FIGURES}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--data_dir", required=True, help="the WikiQA release's folder")
  parser.add_argument("--runs_dir", required=True)
  parser.add_argument("--labelled_run", default=None,
                      help="a listwise WikiQA run folder to compare with (else one is trained)")
  parser.add_argument("--seeds", default="1")
  parser.add_argument("--num_negatives", type=int, default=7)
  parser.add_argument("--range_min", type=int, default=0)
  parser.add_argument("--range_max", type=int, default=50)
  parser.add_argument("--guard_ratio", type=float, default=0.95)
  parser.add_argument("--scorer_run", default=None,
                      help="a run trained on mined rows (e.g. DIR/mined-no-guard-s1): adds "
                      "the `rescored` variant, the window rescored by it, guarded by "
                      "--scorer_margin")
  parser.add_argument("--scorer_margin", type=float, default=0.0)
  parser.add_argument("--epochs", type=float, default=2)
  parser.add_argument("--learning_rate", type=float, default=2e-5)
  parser.add_argument("--max_seq_length", type=int, default=128)
  parser.add_argument("--eval_every_n_steps", type=int, default=130)
  parser.add_argument("--max_queries", type=int, default=0,
                      help="keep the first K questions of each split (0: all)")
  parser.add_argument("--python", default=sys.executable)
  args = parser.parse_args()
  # the commands run in REPO
  for name in ("data_dir", "runs_dir", "labelled_run", "scorer_run"):
    if getattr(args, name):
      setattr(args, name, os.path.abspath(getattr(args, name)))
  seeds = [int(seed) for seed in args.seeds.split(",")]
  os.makedirs(args.runs_dir, exist_ok=True)
  data_dir = args.data_dir
  if args.max_queries:
    data_dir = write_subset(data_dir, os.path.join(
        args.runs_dir, "wikiqa-first-%d" % args.max_queries), args.max_queries)
  inputs = os.path.join(args.runs_dir, "inputs")
  call(command(args, os.path.join("bench", "wikiqa_mining_inputs.py"),
               "--data_dir=" + data_dir, "--out_dir=" + inputs),
       os.path.join(args.runs_dir, "inputs.log"))
  listwise = ["--loss=listwise", "--group_size=8"]
  labelled = [args.labelled_run] if args.labelled_run else [
      train(args, run, rerank_flags(args, data_dir, run, seed, args.epochs) + listwise)
      for seed in seeds for run in [os.path.join(args.runs_dir, "labelled-s%d" % seed)]]
  qrels = read_qrels(os.path.join(data_dir, "WikiQA-test-filtered.ref"))
  rows = [dict(name="labelled lists (the release's candidates)", runs=labelled,
               figures=figures(labelled, qrels), report=None)]
  for variant in VARIANTS + (("rescored",) if args.scorer_run else ()):
    mined, report = mine(args, inputs, variant)
    variant_data, queries, pairs = mined_as_wikiqa(
        mined, data_dir, os.path.join(args.runs_dir, "data-%s" % variant))
    runs = [train(args, run, rerank_flags(args, variant_data, run, seed, args.epochs)
                  + listwise)
            for seed in seeds
            for run in [os.path.join(args.runs_dir, "mined-%s-s%d" % (variant, seed))]]
    rows.append(dict(name="mined, " + variant, runs=runs, figures=figures(runs, qrels),
                     report=report, queries=queries, pairs=pairs))
  print("\n| WikiQA test, %d questions | seeds | MAP | MRR@10 | nDCG@10 | training "
        "queries / pairs | BM25 recall@%d | dropped by the guard |" % (
            len(qrels), args.range_max))
  print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
  for row in rows:
    report = row["report"]
    cells = ["%.4f ± %.4f" % row["figures"][f] for f in FIGURES]
    print("| %s | %d | %s | %s | %s | %s |" % (
        row["name"], len(row["runs"]), " | ".join(cells),
        "%d / %d" % (row["queries"], row["pairs"]) if report else "",
        "%.3f" % report["first_stage_recall_at_range_max"] if report else "",
        "%d" % report["dropped_by_guard"] if report else ""))
  record = dict(vars(args), data_dir_used=data_dir, questions=len(qrels), rows=rows,
                time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
  path = os.path.join(args.runs_dir, "mined_vs_labelled.jsonl")
  with open(path, "a", encoding="utf-8") as f:
    f.write(json.dumps(record, sort_keys=True) + "\n")
  print("wrote %s" % path)


if __name__ == "__main__":
  main()
