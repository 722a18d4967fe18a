r"""int8 speed: ONNX Runtime's dynamic int8 and OpenVINO's static int8 (NNCF) against float32.

  .venv/bin/python bench/int8_speed.py --model=RUN_DIR \
      [--pairs=6000] [--batch_size=32] [--rounds=3] [--work_dir=runs/int8_speed]

RUN_DIR is a fine-tuned run's --output_dir (or any folder export_model.py takes). The
script exports it three times into --work_dir with export_model.py's library: float32
ONNX, int8 for ONNX Runtime (the default --runtime) and int8 for OpenVINO
(--runtime=openvino), both int8 calibrated on 256 STS-B dev pairs given as
--calibration_data. The accuracy gate is opened (--max_quality_drop=1): this measures
speed; docs/export.md has the quality figures. Then --pairs STS-B pairs (sts-train.csv,
then sts-dev.csv, of --data_dir/stsbenchmark) are scored by each contender through
predict.py's Predictor, batch --batch_size, in --rounds rounds; in each round every
contender scores all pairs once, in an order that turns by one each round, so that a
neighbour's load on shared cores falls on all of them alike. One untimed batch first
builds each contender's kernels. Printed: the seconds of every round per contender, the
best and the pairs per second of the best, and the CPU (its int8 and bfloat16
instructions decide what int8 gains).
"""

import argparse
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from bench.shared_data import shared_data_dir
from finetune.export import exporting
from finetune.export import onnx_export
from finetune.model import precision as precision_lib
from finetune.runtime.predictor import load_predictor
from processors import get_processor

CALIBRATION_PAIRS = 256
# (name, export: (precision, int8 runtime), load: (precision, runtime))
CONTENDERS = (
    ("float32 ONNX Runtime", ("float32", "onnxruntime"), ("float32", "onnxruntime")),
    ("float32 OpenVINO", ("float32", "onnxruntime"), ("float32", "openvino")),
    ("int8 ONNX Runtime (dynamic)", ("int8", "onnxruntime"), ("int8", "onnxruntime")),
    ("int8 OpenVINO (NNCF static)", ("int8", "openvino"), ("int8", "openvino")),
)


def stsb_pairs(data_dir, count):
  """The first `count` pairs of STS-B's train split, then its dev split."""
  processor = get_processor("stsb")
  folder = os.path.join(data_dir, "stsbenchmark")
  examples = processor.get_train_examples(folder) + processor.get_dev_examples(folder)
  if len(examples) < count:
    sys.exit("error: %s holds %d STS-B pairs, fewer than --pairs=%d" % (
        folder, len(examples), count))
  return [(example.text_a, example.text_b) for example in examples[:count]]


def write_calibration(data_dir, path):
  """CALIBRATION_PAIRS STS-B dev pairs as sentence_a<TAB>sentence_b lines."""
  examples = get_processor("stsb").get_dev_examples(os.path.join(data_dir, "stsbenchmark"))
  with open(path, "w", encoding="utf-8") as f:
    for example in examples[:CALIBRATION_PAIRS]:
      f.write("%s\t%s\n" % (example.text_a.replace("\t", " "),
                            example.text_b.replace("\t", " ")))


def export_all(model, work_dir, calibration_file):
  """{(precision, int8 runtime): folder, export seconds}."""
  folders = {}
  for _, export, _ in CONTENDERS:
    if export in folders:
      continue
    exported_precision, runtime = export
    folder = os.path.join(work_dir, "%s-%s" % export)
    settings = onnx_export.Int8Settings(runtime=runtime, calibration_data=calibration_file,
                                        calibration_pairs=CALIBRATION_PAIRS,
                                        max_quality_drop=1.0)
    started = time.perf_counter()
    exporting.export(model, "onnx", folder, exported_precision,
                     settings if exported_precision == "int8" else onnx_export.Int8Settings())
    seconds = time.perf_counter() - started
    print("exported %s %s in %.1f s -> %s" % (exported_precision, runtime, seconds, folder),
          flush=True)
    folders[export] = folder
  return folders


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--model", required=True)
  parser.add_argument("--data_dir", default=shared_data_dir(),
                      help="holds stsbenchmark/ (default: the repository's data/)")
  parser.add_argument("--pairs", type=int, default=6000)
  parser.add_argument("--batch_size", type=int, default=32)
  parser.add_argument("--rounds", type=int, default=3)
  parser.add_argument("--work_dir", default=os.path.join(REPO, "runs", "int8_speed"))
  args = parser.parse_args()
  print("CPU: %s" % precision_lib.describe_cpu())
  reason = precision_lib.why_slow("int8")
  if reason:
    print("note: %s (measured anyway)" % reason)
  precision_lib.why_slow = lambda *unused, **kwargs: None  # int8 exports on any CPU
  os.makedirs(args.work_dir, exist_ok=True)
  calibration_file = os.path.join(args.work_dir, "calibration.tsv")
  write_calibration(args.data_dir, calibration_file)
  folders = export_all(args.model, args.work_dir, calibration_file)
  pairs = stsb_pairs(args.data_dir, args.pairs)
  predictors = {}
  try:
    for name, export, (load_precision, runtime) in CONTENDERS:
      predictors[name] = load_predictor(folders[export], load_precision, runtime=runtime)
      predictors[name].predict(pairs[:args.batch_size])  # kernels of the first shapes
    seconds = {name: [] for name, _, _ in CONTENDERS}
    names = [name for name, _, _ in CONTENDERS]
    for round_index in range(args.rounds):
      order = names[round_index % len(names):] + names[:round_index % len(names)]
      for name in order:
        started = time.perf_counter()
        predictors[name].predict(pairs, batch_size=args.batch_size)
        seconds[name].append(time.perf_counter() - started)
        print("round %d  %-28s %7.2f s" % (round_index + 1, name, seconds[name][-1]),
              flush=True)
  finally:
    for predictor in predictors.values():
      predictor.close()
  reference = min(seconds[names[0]])
  print("\n%d pairs, batch %d, %d rounds (best of each; x: against %s)" % (
      len(pairs), args.batch_size, args.rounds, names[0]))
  for name in names:
    best = min(seconds[name])
    print("%-28s best %7.2f s  %7.1f pairs/s  x%.2f   rounds: %s" % (
        name, best, len(pairs) / best, reference / best,
        ", ".join("%.2f" % value for value in seconds[name])))


if __name__ == "__main__":
  main()
