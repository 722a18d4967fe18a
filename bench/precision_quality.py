r"""What a lower precision costs in quality: the same checkpoints on the dev sets, twice.

  .venv/bin/python bench/precision_quality.py --run=stsb=RUN_DIR --run=mrpc=RUN_DIR \
      [--precision=bfloat16|float16|int8|openvino-bfloat16] [--repeats=2]
      [--work_dir=runs/precision_quality]

Each RUN_DIR is a fine-tuned run's --output_dir (run_reg.py for stsb, run_classifier.py
for mrpc, e.g. from bench/quality.py). Its checkpoint (best/'s when the run chose it)
predicts the task's dev pairs through predict.py's Predictor in float32 and in
--precision, batch 32; the script prints dev Spearman and Pearson (stsb) or accuracy and
F1 (mrpc, with the run's own decision threshold) for both, their difference, the largest
difference of a single prediction, and the seconds each precision took (in-process, the
best of --repeats, after one untimed batch). --precision=int8 exports the same
checkpoint with `export_model.py --format=onnx --precision=int8` (into --work_dir) and
predicts with that ONNX folder, on ONNX Runtime; --precision=openvino-bfloat16 exports
the float32 ONNX model and computes it in bfloat16 on OpenVINO (predict.py
--runtime=openvino --precision=bfloat16). The goal of issues 17 (bfloat16) and
22 (int8) is a difference within 0.005. Data: STS-B and MRPC from data/.
"""

import argparse
import os
import shutil
import sys
import time

import numpy as np
from scipy import stats

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from bench.quality import shared_data
from finetune.export import exporting
from finetune.model import precision as precision_lib
from finetune.runtime.predictor import load_predictor
from processors import get_processor

DATA = {"stsb": "stsbenchmark", "mrpc": "mrpc"}


def dev_figures(task, run_dir, compute_precision, repeats, runtime="onnxruntime"):
  """({figure: value}, predictions [N] float, best seconds) of one precision."""
  examples = get_processor(task).get_dev_examples(os.path.join(shared_data(), DATA[task]))
  pairs = [(example.text_a, example.text_b) for example in examples]
  with load_predictor(run_dir, compute_precision, runtime=runtime) as predictor:
    predictor.predict(pairs[:32])  # builds the kernels of the first shapes
    seconds = []
    for _ in range(repeats):
      started = time.perf_counter()
      outputs = predictor.predict(pairs, batch_size=32)
      seconds.append(time.perf_counter() - started)
  if task == "stsb":
    gold = np.array([float(example.label) for example in examples])
    scores = outputs["score"]
    return ({"spearman": stats.spearmanr(scores, gold)[0],
             "pearson": stats.pearsonr(scores, gold)[0]}, scores, min(seconds))
  gold = np.array([example.label == "1" for example in examples])
  decided = np.array([label == "1" for label in outputs["label"]])
  true_positives = float(np.sum(decided & gold))
  f1 = 2 * true_positives / max(1.0, float(np.sum(decided) + np.sum(gold)))
  return ({"accuracy": float(np.mean(decided == gold)), "f1": f1},
          outputs["probabilities"][:, 1], min(seconds))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--run", action="append", required=True,
                      help="task=run_dir, task one of %s" % ", ".join(DATA))
  parser.add_argument("--precision", default="bfloat16",
                      choices=("bfloat16", "float16", "int8", "openvino-bfloat16"))
  parser.add_argument("--repeats", type=int, default=2)
  parser.add_argument("--work_dir", default=os.path.join(REPO, "runs", "precision_quality"))
  args = parser.parse_args()
  reason = precision_lib.why_slow(args.precision.replace("openvino-", ""))
  print("CPU: %s" % precision_lib.describe_cpu())
  if reason:
    sys.exit("error: %s; the run would compute in float32, so there is nothing to compare"
             % reason)
  for item in args.run:
    task, run_dir = item.split("=", 1)
    base, base_predictions, base_seconds = dev_figures(task, run_dir, "float32", args.repeats)
    if args.precision in ("int8", "openvino-bfloat16"):
      exported = "int8" if args.precision == "int8" else "float32"
      onnx_dir = os.path.join(args.work_dir, "%s-%s" % (task, exported))
      shutil.rmtree(onnx_dir, ignore_errors=True)
      exporting.export(run_dir, "onnx", onnx_dir, exported)
      if exported == "int8":
        figures = dev_figures(task, onnx_dir, "float32", args.repeats)
      else:
        figures = dev_figures(task, onnx_dir, "bfloat16", args.repeats, runtime="openvino")
      low, low_predictions, low_seconds = figures
    else:
      low, low_predictions, low_seconds = dev_figures(task, run_dir, args.precision,
                                                      args.repeats)
    print("%s dev, %d pairs, %s:" % (task, len(base_predictions), run_dir))
    for name in base:
      print("  %-9s float32 %.4f  %s %.4f  difference %+.4f" % (
          name, base[name], args.precision, low[name], low[name] - base[name]))
    print("  largest difference of one prediction: %.4f" %
          np.max(np.abs(low_predictions - base_predictions)))
    print("  seconds (in-process, best of %d): float32 %.2f, %s %.2f, %.2fx" % (
        args.repeats, base_seconds, args.precision, low_seconds, base_seconds / low_seconds))


if __name__ == "__main__":
  main()
