r"""The CrossEncoder's fastest CPU backends, a contender: ONNX (O3, int8) and OpenVINO.

  .venv-bench-onnx/bin/python bench/crossencoder_backends.py --model_dir=SAVED \
      --data_dir=DIR --backends=onnx-O3,onnx-int8
  .venv-bench-openvino/bin/python bench/crossencoder_backends.py --model_dir=SAVED \
      --data_dir=DIR --backends=openvino

SAVED is a CrossEncoder that bench/crossencoder_recipe.py trained and saved
(--save_dir), DIR the benchmark's STS-B folder. Each backend is made the way the
sentence-transformers documentation shows:
  onnx-O3    export_optimized_onnx_model(model, "O3", SAVED), then
             CrossEncoder(SAVED, backend="onnx", model_kwargs={"file_name": ...});
  onnx-int8  export_dynamic_quantized_onnx_model(model, "avx512_vnni", SAVED), the same
             way (int8 weights, activations quantized at run time: what we do too);
  openvino   CrossEncoder(SAVED, backend="openvino"), its default settings.
Then predict() on sts-test (its own length-sorted batches of 32), --repeats times, timed
in-process (loading and exporting left out). Prints one JSON line on stdout: per backend
the seconds of each repeat, and the largest difference of its scores from the torch
model's (SAVED/test_scores.npy). Each backend needs its own environment (docs/speed.md):
the [onnx] extra installs only with sentence-transformers 5, [openvino] with 6.
"""

import argparse
import contextlib
import json
import os
import sys
import time

import numpy as np

EXPORTS = {"onnx-O3": ("export_optimized_onnx_model", "O3", "onnx/model_O3.onnx"),
           "onnx-int8": ("export_dynamic_quantized_onnx_model", "avx512_vnni",
                         "onnx/model_qint8_avx512_vnni.onnx")}


def read_pairs(path):
  with open(path, encoding="utf-8") as f:
    return [tuple(line.rstrip("\n").split("\t")[5:7]) for line in f if line.strip()]


def load(backend, model_dir):
  """The CrossEncoder on `backend`, exported first where the backend needs it."""
  import sentence_transformers
  from sentence_transformers import CrossEncoder
  if backend == "openvino":
    return CrossEncoder(model_dir, backend="openvino", device="cpu")
  function, config, file_name = EXPORTS[backend]
  if not os.path.exists(os.path.join(model_dir, file_name)):
    plain = CrossEncoder(model_dir, backend="onnx", device="cpu")
    getattr(sentence_transformers, function)(plain, config, model_dir)
  return CrossEncoder(model_dir, backend="onnx", device="cpu",
                      model_kwargs={"file_name": file_name})


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--model_dir", required=True)
  parser.add_argument("--data_dir", required=True)
  parser.add_argument("--backends", default="onnx-O3,onnx-int8")
  parser.add_argument("--repeats", type=int, default=1)
  parser.add_argument("--batch_size", type=int, default=32)
  args = parser.parse_args()
  pairs = read_pairs(os.path.join(args.data_dir, "sts-test.csv"))
  reference = np.load(os.path.join(args.model_dir, "test_scores.npy"))
  results = {}
  with contextlib.redirect_stdout(sys.stderr):
    import sentence_transformers
    for backend in args.backends.split(","):
      model = load(backend, args.model_dir)
      model.predict(pairs[:64], batch_size=args.batch_size, show_progress_bar=False)  # warm
      seconds = []
      for _ in range(args.repeats):
        started = time.perf_counter()
        scores = model.predict(pairs, batch_size=args.batch_size, show_progress_bar=False)
        seconds.append(time.perf_counter() - started)
      results[backend] = {"seconds": seconds, "pairs": len(pairs),
                          "largest_difference": float(np.abs(np.asarray(scores) -
                                                             reference).max())}
  results["sentence_transformers_version"] = sentence_transformers.__version__
  print(json.dumps(results))


if __name__ == "__main__":
  main()
