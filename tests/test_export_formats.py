"""export_model.py: ONNX (float32, int8) and Hugging Face folders, against TensorFlow.

The ONNX graphs (ONNX Runtime's fused kernels, and standard operators) give TensorFlow's
outputs within 1e-4; the Hugging Face folder gives them in transformers and in
sentence-transformers' CrossEncoder within 1e-5 and reads back to the same checkpoint;
an ONNX folder is scored by predict.py in a process that cannot import TensorFlow.
Tiny models (2 layers, hidden 32) on the Chinese vocabulary; English and Chinese pairs.
"""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from common.errors import DamagedFileError
from common.errors import UserError
import convert_hf_checkpoint
from finetune.export import exporting
from finetune.export import fine_tuned as fine_tuned_lib
from finetune.export import onnx_export
from finetune.export import onnx_graph
from finetune.model import precision
from finetune.runtime import onnx_runtime
from finetune.runtime.predictor import load_predictor
from finetune.tasks import ClassificationTask
from finetune.tasks import RegressionTask
from helpers import CHINESE_VOCAB
from helpers import cut_short
from helpers import HARD_TEXTS
from helpers import make_tiny_model
from helpers import make_tiny_run
from helpers import REPO_ROOT
import modeling

PAIRS = [("A man is playing a guitar.", "A man plays the guitar."),
         ("支付宝怎么充值", "微信怎么充值"), ("我今天用iPhone拍了张照片", "a photo taken today"),
         ("Café crème brûlée", "naïve résumé"), ("x" * 250, "短"),
         ("支付宝怎么充值" * 20, "微信怎么充值" * 15)] + list(zip(HARD_TEXTS, HARD_TEXTS[1:]))
TASKS = {
    "regression": lambda: RegressionTask(label_min=0.0, label_max=5.0),
    "linear": lambda: RegressionTask(use_sigmoid_act=False),
    "two_labels": lambda: ClassificationTask(["0", "1"], threshold="0.3"),
    "three_labels": lambda: ClassificationTask(["a", "b", "c"]),
}
# Importing TensorFlow raises ImportError in the process this starts, then runs argv[1].
WITHOUT_TENSORFLOW = ("import runpy, sys; sys.modules['tensorflow'] = None; "
                      "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')")


@pytest.fixture(scope="module")
def exact_gelu_model(tmp_path_factory):
  """A tiny model with the erf GELU, as a model converted from Hugging Face has."""
  return make_tiny_model(str(tmp_path_factory.mktemp("erf")), CHINESE_VOCAB,
                         hidden_act="gelu_exact", seed=3)


def tiny_run(tmp_path, model_dir, kind, dev=False):
  dev_pairs = None
  if dev:
    labels = {"regression": [0.5, 3.0, 4.5, 1.0], "linear": [0.1, 0.9, 0.4, 0.2],
              "two_labels": ["0", "1", "1", "0"], "three_labels": ["a", "b", "c", "a"]}[kind]
    dev_pairs = [(a, b, label) for (a, b), label in zip(PAIRS * 3, labels * 6)]
  return make_tiny_run(str(tmp_path / kind), model_dir, TASKS[kind](), dev_pairs=dev_pairs)


def tensorflow_outputs(run_dir, pairs=PAIRS):
  with load_predictor(run_dir) as predictor:
    return predictor.predict(pairs)


def onnx_outputs(model, info, vocab_file, pairs=PAIRS):
  from finetune.runtime.predictor import Predictor
  session = onnx_runtime.open_session(model.SerializeToString())
  return Predictor(info, vocab_file, onnx_runtime.batch_runner(session)).predict(pairs)


def assert_same_outputs(ours, theirs, tolerance):
  for name in ("score", "probabilities"):
    if name in ours:
      assert np.abs(ours[name] - theirs[name]).max() < tolerance, name
      assert np.ptp(ours[name]) > 1e-3  # pairs score differently: a real comparison
  if "probabilities" in ours:
    assert list(ours["label"]) == list(theirs["label"])


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("kind", sorted(TASKS))
def test_onnx_graph_gives_tensorflows_outputs(kind, fused, zh_model, tmp_path):
  run_dir = tiny_run(tmp_path, zh_model, kind)
  fine_tuned = fine_tuned_lib.locate(run_dir)
  model = onnx_graph.build_model(fine_tuned_lib.read_weights(fine_tuned),
                                 fine_tuned.bert_config, fine_tuned.info, fused=fused)
  assert_same_outputs(onnx_outputs(model, fine_tuned.info, fine_tuned.vocab_file),
                      tensorflow_outputs(run_dir), 1e-4)


def test_the_erf_gelu_of_a_converted_model_is_kept(exact_gelu_model, tmp_path):
  run_dir = tiny_run(tmp_path, exact_gelu_model, "regression")
  fine_tuned = fine_tuned_lib.locate(run_dir)
  weights = fine_tuned_lib.read_weights(fine_tuned)
  expected = tensorflow_outputs(run_dir)
  for fused in (True, False):
    model = onnx_graph.build_model(weights, fine_tuned.bert_config, fine_tuned.info, fused=fused)
    assert_same_outputs(onnx_outputs(model, fine_tuned.info, fine_tuned.vocab_file), expected,
                        1e-4)
  assert any(node.op_type == "BiasGelu" for node in onnx_graph.build_model(
      weights, fine_tuned.bert_config, fine_tuned.info).graph.node)


def test_outlier_channels_apart_give_the_same_product(zh_model, tmp_path):
  run_dir = tiny_run(tmp_path, zh_model, "two_labels")
  fine_tuned = fine_tuned_lib.locate(run_dir)
  weights = fine_tuned_lib.read_weights(fine_tuned)
  outliers = {"bert/encoder/layer_0/output/dense": [3, 17],
              "bert/encoder/layer_1/intermediate/dense": [0, 5, 31]}
  model = onnx_graph.build_model(weights, fine_tuned.bert_config, fine_tuned.info,
                                 outliers=outliers)
  apart = [node for node in model.graph.node
           if node.name.startswith(onnx_graph.FLOAT_PREFIX) and node.op_type == "MatMul"]
  assert len(apart) == 2 + 2  # the two split layers, the pooler and the head
  assert_same_outputs(onnx_outputs(model, fine_tuned.info, fine_tuned.vocab_file),
                      tensorflow_outputs(run_dir), 1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["regression", "two_labels"])
def test_int8_export_reports_what_quantization_changed(kind, zh_model, tmp_path, monkeypatch):
  monkeypatch.setattr(precision, "why_slow", lambda *args, **kwargs: None)  # any CPU
  run_dir = tiny_run(tmp_path, zh_model, kind, dev=True)
  output_dir = str(tmp_path / "int8")
  # A random tiny model: what int8 changes is checked here, the gate in test_int8_calibration.
  info = exporting.export(run_dir, "onnx", output_dir, "int8",
                          onnx_export.Int8Settings(max_quality_drop=1.0))
  assert info["precision"] == "int8" and info["calibration"] == "the run's dev records"
  assert sorted(os.listdir(output_dir)) == ["model.onnx", "model_info.json",
                                            "quantization_report.json", "vocab.txt"]
  with open(os.path.join(output_dir, "quantization_report.json")) as f:
    report = json.load(f)
  assert report["dev_pairs"] == 24
  metric = "eval_pearson" if kind == "regression" else "eval_accuracy"
  assert metric in report["float32"] and metric in report["int8"]
  output = "score" if kind == "regression" else "probabilities"
  assert 0 < report["largest_difference"][output] < 0.5
  import onnx
  op_types = {node.op_type for node in onnx.load(os.path.join(output_dir, "model.onnx")).graph.node}
  assert "QAttention" in op_types and op_types & {"MatMulInteger", "DynamicQuantizeMatMul"}
  int8 = tensorflow_outputs(output_dir)
  reference = tensorflow_outputs(run_dir)
  assert np.abs(int8[output] - reference[output]).max() < 0.5
  assert np.abs(int8[output] - reference[output]).max() > 0  # it is quantized


def test_int8_on_a_cpu_without_int8_instructions_is_float32_with_a_warning(
    zh_model, tmp_path, monkeypatch, caplog):
  monkeypatch.setattr(precision, "cpu", lambda: ("Intel Xeon E5", frozenset({"avx2", "fma"})))
  run_dir = tiny_run(tmp_path, zh_model, "regression")
  info = exporting.export(run_dir, "onnx", str(tmp_path / "out"), "int8")
  assert info["precision"] == "float32"
  assert "--precision=int8: this CPU (Intel Xeon E5) has no int8 instructions" in caplog.text


def test_export_refuses_what_it_cannot_make(zh_model, tmp_path):
  run_dir = tiny_run(tmp_path, zh_model, "regression")
  with pytest.raises(UserError, match=r"^--precision=int8 is for --format=onnx; --format=hf "
                     r"is float32 only$"):
    exporting.export(run_dir, "hf", str(tmp_path / "hf"), "int8")
  busy = tmp_path / "busy"
  busy.mkdir()
  (busy / "notes.txt").write_text("mine")
  with pytest.raises(UserError, match=r"^--output_dir=%s holds other files \(notes.txt\); "
                     r"expected an empty or new folder, or an earlier output of "
                     r"export_model.py to replace$" % busy):
    exporting.export(run_dir, "onnx", str(busy), "float32")
  assert os.listdir(busy) == ["notes.txt"]
  # An earlier export is replaced whole; nothing is left beside it.
  exporting.export(run_dir, "onnx", str(tmp_path / "onnx"), "float32")
  exporting.export(run_dir, "hf", str(tmp_path / "onnx"), "float32")
  assert "model.onnx" not in os.listdir(tmp_path / "onnx")
  assert sorted(name for name in os.listdir(tmp_path) if name.startswith(".")) == []


@pytest.mark.slow
def test_export_command_lines(zh_model, tmp_path):
  run_dir = tiny_run(tmp_path, zh_model, "two_labels")
  script = os.path.join(REPO_ROOT, "export_model.py")
  done = subprocess.run([sys.executable, script, "--model=" + run_dir, "--format=onnx",
                         "--output_dir=" + str(tmp_path / "onnx")], capture_output=True,
                        text=True, cwd=REPO_ROOT)
  assert done.returncode == 0, done.stderr
  assert done.stdout.strip() == ("wrote onnx (classification, float32, from model.ckpt-1) "
                                 "to %s" % (tmp_path / "onnx"))
  refused = subprocess.run([sys.executable, script, "--model=" + run_dir, "--format=tflite",
                            "--output_dir=" + str(tmp_path / "x")], capture_output=True,
                           text=True, cwd=REPO_ROOT)
  assert refused.returncode == 1 and "Traceback" not in refused.stderr
  assert refused.stderr.strip().splitlines()[-1] == (
      "error: --format=tflite: expected one of onnx, hf")


@pytest.mark.slow
def test_a_saved_model_exports_too(zh_model, tmp_path):
  from finetune.export import saved_model as saved_model_lib
  run_dir = tiny_run(tmp_path, zh_model, "regression")
  fine_tuned = fine_tuned_lib.locate(run_dir)
  saved = saved_model_lib.export_saved_model(fine_tuned.checkpoint, fine_tuned.bert_config,
                                    RegressionTask(label_min=0.0, label_max=5.0),
                                    fine_tuned.info, fine_tuned.vocab_file,
                                    str(tmp_path / "export"))
  exporting.export(str(tmp_path / "export"), "onnx", str(tmp_path / "onnx"), "float32")
  assert_same_outputs(tensorflow_outputs(str(tmp_path / "onnx")), tensorflow_outputs(saved),
                      1e-4)
  os.remove(os.path.join(saved, "assets.extra", "bert_config.json"))  # an older export
  with pytest.raises(UserError, match=r"bert_config.json: not found \(the SavedModel was "
                     r"exported before bert_config.json was kept beside it\); give the run's "
                     r"--output_dir as --model instead"):
    exporting.export(saved, "onnx", str(tmp_path / "onnx2"), "float32")


def test_hf_folder_reads_back_to_the_same_checkpoint(zh_model, tmp_path):
  run_dir = tiny_run(tmp_path, zh_model, "two_labels")
  exporting.export(run_dir, "hf", str(tmp_path / "hf"), "float32")
  convert_hf_checkpoint.convert(str(tmp_path / "hf"), str(tmp_path / "back"))
  original = modeling.checkpoint_variables(fine_tuned_lib.locate(run_dir).checkpoint)
  back = modeling.checkpoint_variables(str(tmp_path / "back" / "bert_model.ckpt"))
  model = {name: value for name, value in original.items() if name != "global_step"}
  assert sorted(back) == sorted(model) and "output_weights" in back
  for name, value in model.items():
    np.testing.assert_array_equal(back[name], value)
  with open(tmp_path / "hf" / "config.json") as f:
    config = json.load(f)
  assert config["architectures"] == ["BertForSequenceClassification"]
  assert config["id2label"] == {"0": "0", "1": "1"} and config["hidden_act"] == "gelu_new"
  assert config["problem_type"] == "single_label_classification"
  assert config["bert_sentence_pair"]["threshold"] == 0.3


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["regression", "linear", "two_labels"])
def test_hf_folder_in_transformers_and_crossencoder_gives_our_outputs(kind, zh_model,
                                                                       exact_gelu_model,
                                                                       tmp_path):
  torch = pytest.importorskip("torch", reason='pip install -e ".[hf]"')
  transformers = pytest.importorskip("transformers")
  cross_encoder = pytest.importorskip("sentence_transformers").CrossEncoder
  model_dir = exact_gelu_model if kind == "linear" else zh_model  # both activations
  run_dir = tiny_run(tmp_path, model_dir, kind)
  hf_dir = str(tmp_path / "hf")
  exporting.export(run_dir, "hf", hf_dir, "float32")
  ours = tensorflow_outputs(run_dir)
  tokenizer = transformers.AutoTokenizer.from_pretrained(hf_dir)
  model = transformers.AutoModelForSequenceClassification.from_pretrained(hf_dir).eval()
  encoded = tokenizer([a for a, _ in PAIRS], [b for _, b in PAIRS], padding=True,
                      truncation=True, return_tensors="pt")
  with torch.no_grad():
    logits = model(**encoded).logits.numpy().astype(np.float64)
  # The pairs Hugging Face's tokenizers cut otherwise than Google's rule: see
  # tokenized_alike. Every other pair must give our outputs.
  alike = tokenized_alike(run_dir, PAIRS, encoded)
  assert not alike.all() and alike.sum() >= len(PAIRS) - 2  # one pair tells them apart
  crossencoder = cross_encoder(hf_dir)
  if kind == "two_labels":
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert np.abs(probabilities - ours["probabilities"])[alike].max() < 1e-5
    predicted = crossencoder.predict(PAIRS, apply_softmax=True)
    assert np.abs(predicted - ours["probabilities"])[alike].max() < 1e-5
    return
  scores = logits[:, 0]
  if kind == "regression":  # sigmoid, then the 0..5 range
    scores = 5.0 / (1.0 + np.exp(-scores))
  assert np.abs(scores - ours["score"])[alike].max() < 1e-5
  predicted = crossencoder.predict(PAIRS)
  scale = 5.0 if kind == "regression" else 1.0
  assert np.abs(predicted * scale - ours["score"])[alike].max() < 1e-5


def tokenized_alike(run_dir, pairs, encoded):
  """For each pair, whether Hugging Face's tokenizer gave our token ids.

  They differ only where both texts are cut to fit: Google's rule (ours) pops a token
  from the longer text until the pair fits, from the second on a tie, so with an odd
  budget the first text keeps the extra token; Hugging Face's tokenizers give it to the
  longer text, to the second on a tie. The test checks that this rule, and nothing
  else, tells the pairs apart.
  """
  from finetune.data.features import pair_token_ids
  with load_predictor(run_dir) as predictor:
    tokenizer, length = predictor.tokenizer, predictor.info["max_seq_length"]
  budget = length - 3
  alike = []
  for index, (a, b) in enumerate(pairs):
    ids, mask, _ = pair_token_ids(a, b, tokenizer, length)
    theirs = [int(i) for i, m in zip(encoded["input_ids"][index], encoded["attention_mask"][index])
              if m]
    count_a = len(tokenizer.tokenize(a))
    count_b = len(tokenizer.tokenize(b))
    both_cut = count_a + count_b > budget and min(count_a, count_b) > budget // 2
    rules_differ = both_cut and budget % 2 == 1 and count_a <= count_b
    same = theirs == ids[:sum(mask)]
    assert same != rules_differ, (index, a, b)
    alike.append(same)
  return np.array(alike)


@pytest.mark.slow
def test_an_onnx_folder_is_scored_where_tensorflow_cannot_be_imported(zh_model, tmp_path):
  run_dir = tiny_run(tmp_path, zh_model, "two_labels")
  onnx_dir = str(tmp_path / "onnx")
  exporting.export(run_dir, "onnx", onnx_dir, "float32")
  pairs_file = tmp_path / "pairs.tsv"
  pairs_file.write_text("".join("%s\t%s\n" % (a, b) for a, b in PAIRS[:6]), encoding="utf-8")
  done = subprocess.run([sys.executable, "-c", WITHOUT_TENSORFLOW, "predict.py",
                         "--model=" + onnx_dir, "--input=%s" % pairs_file, "--probabilities"],
                        capture_output=True, text=True, cwd=REPO_ROOT)
  assert done.returncode == 0, done.stderr
  expected = tensorflow_outputs(run_dir, PAIRS[:6])
  lines = [line.split("\t") for line in done.stdout.splitlines()]
  assert [line[0] for line in lines] == list(expected["label"])
  np.testing.assert_allclose([[float(p) for p in line[1:]] for line in lines],
                             expected["probabilities"], atol=6e-5)  # 4 decimals printed
  blocked = subprocess.run([sys.executable, "-c", WITHOUT_TENSORFLOW, "predict.py",
                            "--model=" + run_dir, "a", "b"], capture_output=True, text=True,
                           cwd=REPO_ROOT)
  assert blocked.returncode != 0  # the checkpoint path does need TensorFlow


def test_a_damaged_checkpoint_or_onnx_file_is_one_line_and_nothing_is_written(zh_model,
                                                                             tmp_path):
  run_dir = tiny_run(tmp_path, zh_model, "regression")
  data = fine_tuned_lib.locate(run_dir).checkpoint + ".data-00000-of-00001"
  cut_short(data, 1000)
  with pytest.raises(DamagedFileError) as raised:
    exporting.export(run_dir, "onnx", str(tmp_path / "onnx"), "float32")
  assert str(raised.value).startswith("%s: cut short (1000 of " % data)
  assert "\n" not in str(raised.value)
  assert not os.path.exists(tmp_path / "onnx")
  assert sorted(name for name in os.listdir(tmp_path) if name.startswith(".")) == []
  # An ONNX folder cut short, or missing a file: one line from predict.py, no traceback.
  exported = str(tmp_path / "whole")
  exporting.export(tiny_run(tmp_path, zh_model, "two_labels"), "onnx", exported, "float32")
  for damage, expected in (
      (lambda: cut_short(os.path.join(exported, "model.onnx"), 5000),
       r"model\.onnx: ONNX Runtime cannot load it \(.+\); damaged or cut short\? Export the "
       r"model again with export_model.py$"),
      (lambda: open(os.path.join(exported, "model_info.json"), "w").write("{\"task\": "),
       r"model_info\.json: not readable JSON \(.+\); export the model again with "
       r"export_model.py$"),
      (lambda: os.remove(os.path.join(exported, "vocab.txt")),
       r"vocab\.txt: missing from the ONNX folder; export the model again with "
       r"export_model.py$")):
    damage()
    done = subprocess.run([sys.executable, "predict.py", "--model=" + exported, "a", "b"],
                          capture_output=True, text=True, cwd=REPO_ROOT)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert re.search(expected, done.stderr.strip().splitlines()[-1]), done.stderr


@pytest.mark.parametrize("kind", ["regression", "three_labels"])
def test_openvino_runs_the_float32_onnx_folder_as_onnx_runtime_does(kind, zh_model, tmp_path):
  pytest.importorskip("openvino", reason='pip install -e ".[openvino]"')
  run_dir = tiny_run(tmp_path, zh_model, kind)
  onnx_dir = str(tmp_path / "onnx")
  exporting.export(run_dir, "onnx", onnx_dir, "float32")
  with load_predictor(onnx_dir) as predictor:
    expected = predictor.predict(PAIRS)
  with load_predictor(onnx_dir, runtime="openvino") as predictor:
    assert_same_outputs(predictor.predict(PAIRS), expected, 1e-5)
  if precision.why_slow("bfloat16") is None:  # a CPU with bfloat16 instructions
    with load_predictor(onnx_dir, "bfloat16", runtime="openvino") as predictor:
      low = predictor.predict(PAIRS)
    name = "score" if "score" in low else "probabilities"
    difference = np.abs(low[name] - expected[name]).max()
    assert 0 < difference < 0.05  # bfloat16 really computed, and near float32


def test_openvino_refusals_are_one_line(zh_model, tmp_path, monkeypatch):
  run_dir = tiny_run(tmp_path, zh_model, "regression")
  with pytest.raises(UserError, match=r"^--runtime=openvino is for an ONNX folder; .* is a "
                     r"TensorFlow model: export it first"):
    load_predictor(run_dir, runtime="openvino")
  with pytest.raises(UserError, match=r"^--runtime=tvm: expected one of onnxruntime, openvino"):
    load_predictor(run_dir, runtime="tvm")
  onnx_dir = str(tmp_path / "onnx")
  exporting.export(run_dir, "onnx", onnx_dir, "float32")
  with pytest.raises(UserError, match=r"^--precision=float16: OpenVINO computes an ONNX "
                     r"model in float32, bfloat16 or \(an export with --runtime=openvino\) "
                     r"int8$"):
    load_predictor(onnx_dir, "float16", runtime="openvino")
  monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino raises ImportError
  with pytest.raises(UserError, match=r"^--runtime=openvino needs the openvino package, "
                     r"which is not installed here: pip install -e \"\.\[openvino\]\""):
    load_predictor(onnx_dir, runtime="openvino")
  monkeypatch.setattr(precision, "cpu", lambda: ("AMD EPYC", frozenset({"avx2", "fma",
                                                                       "avx512_vnni"})))
  int8_dir = str(tmp_path / "int8")
  exporting.export(run_dir, "onnx", int8_dir, "int8")
  with pytest.raises(UserError, match=r"^--runtime=openvino: .*model.onnx is the int8 model, "
                     r"which only ONNX Runtime runs"):
    load_predictor(int8_dir, runtime="openvino")


def test_a_damaged_onnx_file_on_openvino_is_one_located_line(zh_model, tmp_path):
  pytest.importorskip("openvino", reason='pip install -e ".[openvino]"')
  run_dir = tiny_run(tmp_path, zh_model, "regression")
  onnx_dir = str(tmp_path / "onnx")
  exporting.export(run_dir, "onnx", onnx_dir, "float32")
  model_file = os.path.join(onnx_dir, onnx_runtime.MODEL_FILE)
  cut_short(model_file, os.path.getsize(model_file) // 2)
  with pytest.raises(DamagedFileError, match=r"OpenVINO cannot load it") as raised:
    load_predictor(onnx_dir, runtime="openvino")
  assert raised.value.path == model_file


def test_predict_py_on_openvino_prints_what_onnx_runtime_prints(zh_model, tmp_path):
  pytest.importorskip("openvino", reason='pip install -e ".[openvino]"')
  run_dir = tiny_run(tmp_path, zh_model, "three_labels")
  onnx_dir = str(tmp_path / "onnx")
  exporting.export(run_dir, "onnx", onnx_dir, "float32")
  pairs = [text for pair in PAIRS[:4] for text in pair]

  def predict_py(*flags):
    done = subprocess.run([sys.executable, os.path.join(REPO_ROOT, "predict.py"),
                           "--model=" + onnx_dir, "--probabilities", *flags, *pairs],
                          capture_output=True, text=True, cwd=REPO_ROOT)
    return done.returncode, done.stdout, done.stderr

  expected = predict_py()
  assert expected[0] == 0 and len(expected[1].splitlines()) == 4, expected[2]
  assert predict_py("--runtime=openvino")[:2] == expected[:2]  # 4 decimals, the same
  refused = predict_py("--runtime=openvino", "--precision=float16")
  assert refused[0] == 1 and "Traceback" not in refused[2]
  assert refused[2].strip().splitlines()[-1] == (
      "error: --precision=float16: OpenVINO computes an ONNX model in float32, bfloat16 or "
      "(an export with --runtime=openvino) int8")
