"""int8 exports calibrated on the run's pairs, and the accuracy gate that judges them.

Calibration: --calibration_data, else the dev records, bounded by --calibration_pairs, in
prediction's length-sorted batches. The gate: dev labels set to the float32 model's own
scores make float32's Pearson 1 (to the labels' 6 decimals), so any int8 change of the
outputs lowers it: --max_quality_drop=0 must refuse, and --keep_float_layers=auto must
take layers back to float32 until nothing int8 is left in the encoder. OpenVINO's int8
(NNCF) folder loads and scores. Tiny models (2 layers, hidden 32).
"""

import json
import logging
import os

import numpy as np
import pytest

from common.errors import InputFileError
from common.errors import UserError
from finetune.export import calibration
from finetune.export import exporting
from finetune.export import fine_tuned as fine_tuned_lib
from finetune.export import onnx_export
from finetune.export import quality_gate
from finetune.model import precision
from finetune.runtime.predictor import load_predictor
from finetune.tasks import RegressionTask
from helpers import HARD_TEXTS
from helpers import make_tiny_run

PAIRS = [("A man is playing a guitar.", "A man plays the guitar."),
         ("支付宝怎么充值", "微信怎么充值"), ("我今天用iPhone拍了张照片", "a photo taken today"),
         ("Café crème brûlée", "naïve résumé"), ("x" * 250, "短"),
         ("支付宝怎么充值" * 20, "微信怎么充值" * 15)] + list(zip(HARD_TEXTS, HARD_TEXTS[1:]))


@pytest.fixture(autouse=True)
def any_cpu(monkeypatch):
  monkeypatch.setattr(precision, "why_slow", lambda *args, **kwargs: None)  # int8 anywhere


@pytest.fixture(scope="module")
def self_labelled_run(zh_model, tmp_path_factory):
  """A linear-head run whose dev labels are its own float32 scores (Pearson 1)."""
  first = make_tiny_run(str(tmp_path_factory.mktemp("first")), zh_model,
                        RegressionTask(use_sigmoid_act=False),
                        dev_pairs=[(a, b, 0.0) for a, b in PAIRS])
  with load_predictor(first) as predictor:
    scores = predictor.predict(PAIRS)["score"]
  return make_tiny_run(str(tmp_path_factory.mktemp("run")), zh_model,
                       RegressionTask(use_sigmoid_act=False),
                       dev_pairs=[(a, b, "%.6f" % s) for (a, b), s in zip(PAIRS, scores)])


def test_calibration_takes_the_file_then_the_dev_records_bounded(self_labelled_run, tmp_path):
  fine_tuned = fine_tuned_lib.locate(self_labelled_run)
  columns, source = calibration.calibration_columns(fine_tuned, "vals", limit=5)
  assert source == "the run's dev records" and columns["input_ids"].shape == (5, 32)
  pairs = tmp_path / "pairs.tsv"
  pairs.write_text("".join("%s\t%s\textra\n" % pair for pair in PAIRS[:7]), encoding="utf-8")
  columns, source = calibration.calibration_columns(fine_tuned, "vals", str(pairs), limit=3)
  assert source == str(pairs) and columns["input_ids"].shape == (3, 32)
  batches = calibration.calibration_batches(
      calibration.calibration_columns(fine_tuned, "vals", str(pairs))[0], batch_size=2)
  widths = [batch["input_ids"].shape[1] for batch in batches]
  assert sum(len(batch["input_ids"]) for batch in batches) == 7
  assert widths == sorted(widths)  # length-sorted, each cut to its longest pair
  assert all(batch["input_mask"][:, -1].any() for batch in batches)
  pairs.write_text("one\tpair\nno tab here\n", encoding="utf-8")
  with pytest.raises(InputFileError, match=r"pairs.tsv:2: .*found 1 column"):
    calibration.calibration_columns(fine_tuned, "vals", str(pairs))


def test_the_gate_refuses_in_one_line_with_the_figures(self_labelled_run, tmp_path):
  output_dir = tmp_path / "int8"
  with pytest.raises(UserError) as refused:
    exporting.export(self_labelled_run, "onnx", str(output_dir), "int8",
                     onnx_export.Int8Settings(max_quality_drop=0.0))
  message = str(refused.value)
  assert "\n" not in message
  assert "pearson 1.0000 -> " in message and "more than --max_quality_drop=0" in message
  assert "--keep_float_layers=auto" in message
  assert not output_dir.exists()  # nothing half written
  assert not [name for name in os.listdir(tmp_path) if name.startswith(".int8")]


def test_auto_returns_layers_to_float_worst_first_until_the_gate_passes(
    self_labelled_run, tmp_path, caplog):
  # ONNX Runtime's: with every layer back in float32 its graph is float32's own, so a
  # 0 drop passes there. (OpenVINO's NNCF model with every layer ignored still moves the
  # scores by 3e-4 here, which a 0 drop refuses.)
  runtime = "onnxruntime"
  caplog.set_level(logging.INFO)
  output_dir = str(tmp_path / runtime)
  info = exporting.export(self_labelled_run, "onnx", output_dir, "int8",
                          onnx_export.Int8Settings(runtime=runtime, max_quality_drop=0.0,
                                                   keep_float_layers="auto"))
  assert sorted(info["float_layers"]) == [0, 1]  # nothing int8 is left: 0 drop allowed
  with open(os.path.join(output_dir, "quantization_report.json")) as f:
    report = json.load(f)
  assert quality_gate.drops(report)["eval_pearson"] <= 0
  kept = [record.getMessage() for record in caplog.records
          if "keeping encoder layer" in record.getMessage()]
  assert len(kept) == 2 and "-> " in kept[0]  # each step says why, with the figures
  assert "encoder layers kept in float32: 0, 1" in caplog.text
  # A drop allowed where int8 loses less: passes with every layer int8.
  generous = exporting.export(self_labelled_run, "onnx", output_dir, "int8",
                              onnx_export.Int8Settings(runtime=runtime, max_quality_drop=0.5,
                                                       keep_float_layers="auto"))
  assert generous["float_layers"] == []


def test_layers_worst_first_ranks_by_the_spread_of_input_channels():
  ranges = {"bert/encoder/layer_0/output/dense": np.array([1.0, 1.0, 3.0]),
            "bert/encoder/layer_1/intermediate/dense": np.array([1.0, 1.0, 50.0]),
            "bert/encoder/layer_2/attention/self/query": np.array([2.0, 2.0, 2.0]),
            "bert/pooler/dense": np.array([1.0, 1.0, 900.0])}
  assert quality_gate.layers_worst_first(ranges, 3) == [1, 0, 2]
  assert quality_gate.parse_layers("auto", 3) is None
  assert quality_gate.parse_layers("2, 0", 3) == [0, 2]
  with pytest.raises(ValueError, match="layer numbers 0..2"):
    quality_gate.parse_layers("3", 3)


def test_openvino_int8_folder_loads_and_scores_beside_float32(self_labelled_run, tmp_path):
  pytest.importorskip("openvino")
  pytest.importorskip("nncf")
  output_dir = str(tmp_path / "ov-int8")
  info = exporting.export(self_labelled_run, "onnx", output_dir, "int8",
                          onnx_export.Int8Settings(runtime="openvino", max_quality_drop=1.0,
                                                   calibration_pairs=8))
  assert info["runtime"] == "openvino" and info["calibration_pairs"] == 8
  assert sorted(os.listdir(output_dir)) == [
      "model.onnx", "model_info.json", "openvino_int8.bin", "openvino_int8.xml",
      "quantization_report.json", "vocab.txt"]
  with load_predictor(self_labelled_run) as predictor:
    reference = predictor.predict(PAIRS)["score"]
  with load_predictor(output_dir, "int8", runtime="openvino") as predictor:
    int8 = predictor.predict(PAIRS)["score"]
  assert 0 < np.abs(int8 - reference).max() < 0.5  # quantized, and close
  for runtime in ("onnxruntime", "openvino"):  # model.onnx stays float32 for both
    with load_predictor(output_dir, runtime=runtime) as predictor:
      assert np.abs(predictor.predict(PAIRS)["score"] - reference).max() < 1e-4
  with pytest.raises(UserError, match="OpenVINO's.*add --runtime=openvino"):
    load_predictor(output_dir, "int8")
  with pytest.raises(UserError, match="holds no OpenVINO int8 model"):
    float_dir = str(tmp_path / "float32")
    exporting.export(self_labelled_run, "onnx", float_dir, "float32")
    load_predictor(float_dir, "int8", runtime="openvino")
  with pytest.raises(UserError, match="--precision=int8 is for an ONNX folder"):
    load_predictor(self_labelled_run, "int8")


def test_int8_flags_are_checked(self_labelled_run, tmp_path):
  with pytest.raises(UserError, match="--runtime=openvino is for --precision=int8"):
    exporting.export(self_labelled_run, "onnx", str(tmp_path / "a"), "float32",
                     onnx_export.Int8Settings(runtime="openvino"))
  with pytest.raises(UserError, match="--keep_float_layers=7: expected auto or encoder"):
    exporting.export(self_labelled_run, "onnx", str(tmp_path / "b"), "int8",
                     onnx_export.Int8Settings(keep_float_layers="7"))
  check = exporting.LayerList()
  assert check("auto") is None and check("0,1") is None and check("") is None
  assert all(check(value) for value in check.bad_values)
