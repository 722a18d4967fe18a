r"""What the data report costs on 1,000,000 training pairs: time and memory.

  .venv/bin/python bench/data_report.py [--pairs=1000000] [--rounds=2]
      [--work_dir=runs/data_report_bench] [--model_dir=models/minilm]
      [--max_seq_length=128] [--before_repo=PATH]

Builds a sim-format train.tsv of --pairs pairs from STS-B train (5,749 pairs; each copy
after the first has its copy number appended to both sentences, so that the copies do
not repeat one another and every row is a string of its own, as in a real file; the
pairs STS-B itself repeats stay repeated), scores mapped to 0..1. Then runs the
contenders, each in a process of its own, one after the other, for --rounds rounds:
  records         train.tf_record with the report off (RecordSettings.count_limit = 0):
                  the records stage as it was before the report, the comparison;
  records+report  what a run now does before training (pipeline.report_data): the same
                  records, the lengths counted in their pass, and the report;
  report only     --data_report_only's stage: tokenizing and counting without records;
  before          with --before_repo (a checkout of the code before the report, e.g.
                  `mkdir -p runs/before && git archive 13be6d8 | tar -x -C runs/before`):
                  its write_record_file, to check that `records` is what it was.
Each process reads train.tsv through pipeline.prepare (the sim processor, the MiniLM
vocabulary, uncased) and converts with one worker per core. For each contender it
prints, per round and then the least time and the largest memory of the rounds: the
seconds of the stage (after reading the file) in wall time and in CPU time (its
workers' included: on a machine shared with other work, CPU seconds move less than
wall seconds), and of those the wall seconds of the report's own computing in the main
process (hashes, duplicates, labels); the wall seconds of the whole process; the peak
resident memory of the run, the high-water mark of the process or of its workers,
whichever is larger (the reading's from /proc/self/status, the rest from os.wait4's
ru_maxrss), and of the stage, the main process's high-water mark from the end of
reading on (reset through /proc/self/clear_refs). Then the ratios to `records`, and
the median over the rounds of each round's ratio to the records run of the same round
(paired: steadier when the machine's load moves), against the goals of issue 25: the
report in no more than 1.2x the records' time (the paired median), and no more than
+10 % on the run's memory peak.
"""

import argparse
import dataclasses
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CONTENDERS = ("records", "records+report", "report only")
GOALS = {"seconds": 1.2, "memory": 1.10}


def build_train_file(path, pairs, stsb_dir):
  """Writes `pairs` rows of sentence_a<TAB>sentence_b<TAB>score (0..1) from STS-B train."""
  base = []
  with open(os.path.join(stsb_dir, "sts-train.csv"), encoding="utf-8") as f:
    for line in f:
      fields = line.rstrip("\n").split("\t")
      base.append((fields[5], fields[6], float(fields[4]) / 5.0))
  with open(path + ".tmp", "w", encoding="utf-8") as f:
    for row in range(pairs):
      copy = row // len(base)
      a, b, score = base[row % len(base)]
      if copy:
        a, b = "%s %d" % (a, copy), "%s %d" % (b, copy)
      f.write("%s\t%s\t%.3f\n" % (a, b, score))
  os.replace(path + ".tmp", path)


def _cpu_seconds():
  """User and system seconds of this process and of its children that have ended."""
  own, children = (resource.getrusage(resource.RUSAGE_SELF),
                   resource.getrusage(resource.RUSAGE_CHILDREN))
  return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _reset_peak_memory():
  """Starts this process's VmHWM afresh (Linux: "5" in /proc/self/clear_refs)."""
  try:
    with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
      f.write("5")
  except OSError:
    pass


def _peak_memory_mb():
  """This process's VmHWM, in MB."""
  with open("/proc/self/status", encoding="ascii") as f:
    for line in f:
      if line.startswith("VmHWM:"):
        return int(line.split()[1]) / 1024.0
  return float("nan")


def _time_report_functions():
  """Times data_report's split_input and build_report from now on; returns the list the
  seconds of each call go to (empty in code without them)."""
  seconds = []
  try:
    from finetune.data import data_report
  except ImportError:
    return seconds

  def timed(function):
    def call(*args, **kwargs):
      started = time.time()
      try:
        return function(*args, **kwargs)
      finally:
        seconds.append(time.time() - started)
    return call

  data_report.split_input = timed(data_report.split_input)
  data_report.build_report = timed(data_report.build_report)
  return seconds


def child(args):
  """One contender's run in this process; prints its figures as JSON.

  read, stage: wall seconds of reading the file and of the stage; stage_cpu: CPU seconds
  of the stage, its workers' included; report: wall seconds of the stage spent on the
  report's own computing in this process (data_report.split_input and build_report: the
  texts' hashes, duplicates, labels), after the records' pass; read_peak, stage_peak:
  the high-water mark of this process's memory up to the end of reading and during the
  stage, in MB.
  """
  repo = args.before_repo if args.child == "before" else REPO
  sys.path.insert(0, repo)
  from absl import logging

  from finetune.data import records
  from finetune.tasks import RegressionTask
  from processors import get_processor
  logging.set_verbosity(logging.INFO)
  task, processor = RegressionTask(), get_processor("sim")
  vocab_file = os.path.join(args.model_dir, "vocab.txt")
  config_file = os.path.join(args.model_dir, "bert_config.json")
  os.makedirs(args.output_dir)
  from finetune import options as options_lib
  from finetune import pipeline
  flags = dict(data_dir=args.data_dir, task_name="sim", output_dir=args.output_dir,
               do_train=True, bert_config_file=config_file, vocab_file=vocab_file,
               max_seq_length=args.max_seq_length)
  if args.child == "report only":
    flags["data_report_only"] = True
  # Every contender reads the file the same way, through pipeline.prepare.
  started = time.time()
  report_seconds = _time_report_functions()
  prepared = pipeline.prepare(task, processor, options_lib.make_run_options(**flags))
  read_peak = _peak_memory_mb()
  _reset_peak_memory()
  cpu = _cpu_seconds()
  read = time.time()
  if args.child in ("records", "before"):
    settings = prepared.record_settings
    if args.child == "records":
      settings = dataclasses.replace(settings, count_limit=0)  # the report off
    split = prepared.splits["train"]
    records.write_record_file(split.examples, split.labels,
                              os.path.join(args.output_dir, "train.tf_record"), settings)
  else:
    pipeline.report_data(prepared, task, write_records=args.child == "records+report")
  print(json.dumps({"read": read - started, "stage": time.time() - read,
                    "stage_cpu": _cpu_seconds() - cpu, "report": sum(report_seconds),
                    "read_peak": read_peak,
                    "stage_peak": _peak_memory_mb()}))


def run_contender(name, args, data_dir):
  """The figures of one contender, run in a fresh process.

  {"stage", "stage_cpu", "stage_peak"} as the child prints them, "process": the wall
  seconds of the whole process, "peak": the run's memory peak in MB (the largest of the
  process's, before and during the stage, and its workers').
  """
  output_dir = os.path.join(args.work_dir, "out")
  shutil.rmtree(output_dir, ignore_errors=True)
  command = [sys.executable, os.path.abspath(__file__), "--child=" + name,
             "--data_dir=" + data_dir, "--output_dir=" + output_dir,
             "--model_dir=" + args.model_dir, "--max_seq_length=%d" % args.max_seq_length]
  if args.before_repo:
    command.append("--before_repo=" + args.before_repo)
  log_path = os.path.join(args.work_dir, "%s.log" % name.replace(" ", "_"))
  started = time.time()
  with open(log_path, "w", encoding="utf-8") as log:
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, cwd=REPO,
                               env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    output = process.stdout.read()
    # wait4: the child's rusage, whose ru_maxrss is the largest of it and the workers it
    # waited for (KB on Linux).
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
  whole = time.time() - started
  if process.returncode != 0:
    raise SystemExit("%s failed; see %s" % (name, log_path))
  figures = json.loads(output.decode().strip().splitlines()[-1])
  shutil.rmtree(output_dir, ignore_errors=True)
  # The child reset its high-water mark after reading: wait4 gives the stage's (and the
  # workers'), the child printed the reading's.
  figures.update(process=whole, peak=max(figures.pop("read_peak"), usage.ru_maxrss / 1024.0))
  return figures


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--pairs", type=int, default=1000000)
  parser.add_argument("--rounds", type=int, default=2)
  parser.add_argument("--work_dir", default=os.path.join(REPO, "runs", "data_report_bench"))
  parser.add_argument("--model_dir", default=os.path.join(REPO, "models", "minilm"))
  parser.add_argument("--max_seq_length", type=int, default=128)
  parser.add_argument("--before_repo", default=None)
  parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
  parser.add_argument("--data_dir", default=None, help=argparse.SUPPRESS)
  parser.add_argument("--output_dir", default=None, help=argparse.SUPPRESS)
  args = parser.parse_args()
  args.model_dir = os.path.abspath(args.model_dir)
  if args.child:
    child(args)
    return
  sys.path.insert(0, REPO)
  from bench.shared_data import shared_data_dir
  data_dir = os.path.join(args.work_dir, "data_%d" % args.pairs)
  os.makedirs(data_dir, exist_ok=True)
  train_file = os.path.join(data_dir, "train.tsv")
  if not os.path.exists(train_file):
    build_train_file(train_file, args.pairs, os.path.join(shared_data_dir(), "stsbenchmark"))
  contenders = list(CONTENDERS) + (["before"] if args.before_repo else [])
  results = {name: [] for name in contenders}
  for round_number in range(args.rounds):
    for name in contenders:
      figures = run_contender(name, args, data_dir)
      results[name].append(figures)
      print("round %d  %-15s stage %6.1f s (CPU %6.1f s; the report's own %4.1f s)  process "
            "%6.1f s  peak %5.0f MB (in the stage %5.0f MB)" % (
                round_number + 1, name, figures["stage"], figures["stage_cpu"],
                figures["report"], figures["process"], figures["peak"],
                figures["stage_peak"]), flush=True)
  # The best round of each figure: the least time, the largest memory.
  best = {name: {key: (max if key in ("peak", "stage_peak") else min)(
      run[key] for run in runs) for key in runs[0]} for name, runs in results.items()}
  print("\n%s pairs, max_seq_length %d, %d cores; the least time and the largest memory "
        "of %d rounds; ratios to records" % (f"{args.pairs:,}", args.max_seq_length,
                                            os.cpu_count(), args.rounds))
  base = best["records"]
  for name in contenders:
    f = best[name]
    print("%-15s stage %6.1f s (%.2fx), CPU %6.1f s (%.2fx), the report's own %4.1f s; "
          "process %6.1f s (%.2fx); peak %5.0f MB (%+.1f %%), in the stage %5.0f MB "
          "(%+.1f %%)" % (
              name, f["stage"], f["stage"] / base["stage"], f["stage_cpu"],
              f["stage_cpu"] / base["stage_cpu"], f["report"], f["process"],
              f["process"] / base["process"],
              f["peak"], 100.0 * (f["peak"] / base["peak"] - 1), f["stage_peak"],
              100.0 * (f["stage_peak"] / base["stage_peak"] - 1)))
  # Each round's ratio to the records run of the same round, a minute or two apart:
  # steadier than the ratio of the bests when the machine's load moves.
  def paired(name, key):
    return statistics.median(run[key] / base_run[key]
                             for run, base_run in zip(results[name], results["records"]))

  print("median of the rounds' ratios to the same round's records: %s" % ", ".join(
      "%s %.2fx (CPU %.2fx)" % (name, paired(name, "stage"), paired(name, "stage_cpu"))
      for name in contenders if name != "records"))
  for name in ("records+report", "report only"):
    ratio, extra = paired(name, "stage"), best[name]["peak"] / base["peak"]
    print("goal, %s: time <= %.1fx the records': %.2fx (the median of the rounds; CPU "
          "%.2fx) %s; the run's memory peak <= +%d %%: %+.1f %% %s" % (
              name, GOALS["seconds"], ratio, paired(name, "stage_cpu"),
              "met" if ratio <= GOALS["seconds"] else "MISSED",
              round(100 * (GOALS["memory"] - 1)), 100.0 * (extra - 1),
              "met" if extra <= GOALS["memory"] else "MISSED"))


if __name__ == "__main__":
  main()
