"""export_model.py --format=onnx: the model for ONNX Runtime, float32 or int8.

float32  the fused graph of onnx_graph.py: ONNX Runtime's attention, LayerNorm and
         GELU kernels; its outputs equal TensorFlow's within float rounding.
int8     the same graph with its encoder matmuls quantized dynamically
         (onnxruntime.quantization.quantize_dynamic): weights int8 per output channel,
         activations uint8 per tensor, scaled at run time; int8 dot products use the
         CPU's VNNI or AMX instructions. BERT's hidden states have a few outlier
         channels (a channel's largest value 10 to 20 times the median channel's), and
         one per-tensor scale for them all costs the ordinary channels most of their
         resolution: those channels are found on calibration pairs (calibration.py:
         --calibration_data, else the run's dev records, else its training records,
         else examples/sim_sample) and multiplied apart in float32
         (onnx_graph._dense), which halves what quantization changes. The pooler and
         the head stay float32 ([B, H] inputs: nothing to gain).
int8 with --runtime=openvino: NNCF's static int8 as an OpenVINO IR beside the float32
         model.onnx (openvino_int8.py).
When the run folder holds its dev records, the int8 export scores them with both models
and keeps what quantization changed (the largest difference of an output, the dev
metrics before and after) in quantization_report.json beside the model, and prints it;
an int8 model that lost more than --max_quality_drop is refused, or with
--keep_float_layers=auto given encoder layers back in float32 until it passes
(quality_gate.py).
"""

import dataclasses
import json
import logging as std_logging
import os
from typing import Optional

from absl import logging
import numpy as np
import onnx

from common import files
from common.errors import UserError
from finetune import tasks as tasks_lib
from finetune.export import calibration
from finetune.export import fine_tuned as fine_tuned_lib
from finetune.export import onnx_graph
from finetune.export import openvino_int8
from finetune.export import quality_gate
from finetune.model.model_files import to_unit_range
from finetune.runtime import onnx_runtime
from finetune.runtime.predictor import outputs_in_order

REPORT_FILE = "quantization_report.json"
# A channel is an outlier when its largest |value| on the calibration pairs is this many
# times the median channel's; at most this many channels of a layer are taken apart.
OUTLIER_RATIO = 6.0
MAX_OUTLIERS = 8


def channel_ranges(weights, fine_tuned, columns):
  """{dense layer scope: largest |value| per input channel} on the pairs' real tokens."""
  model, dense_inputs = onnx_graph.dense_input_model(weights, fine_tuned.bert_config,
                                                     fine_tuned.info)
  session = onnx_runtime.open_session(model.SerializeToString())
  names = sorted(dense_inputs)
  fetched = [dense_inputs[scope] for scope in names]
  largest = {}
  for batch in calibration.calibration_batches(columns):
    real = batch["input_mask"].astype(bool)
    for scope, values in zip(names, session.run(fetched, batch)):
      if values.ndim == 3 and values.shape[1] == real.shape[1]:
        values = values[real]  # padding positions are computed, never read
      values = np.abs(values.reshape(-1, values.shape[-1])).max(axis=0)
      largest[scope] = np.maximum(largest.get(scope, 0.0), values)
  return largest


def find_outliers(ranges):
  """{dense layer scope: outlier input channels}, from channel_ranges(...)."""
  outliers = {}
  for scope, values in ranges.items():
    if scope.startswith("bert/pooler"):
      continue  # stays float32 anyway
    order = np.argsort(values)[::-1][:MAX_OUTLIERS]
    chosen = [int(i) for i in order if values[i] > OUTLIER_RATIO * np.median(values)]
    if chosen:
      outliers[scope] = sorted(chosen)
  return outliers


def quantize(float_file, int8_file, model, float_layers=()):
  """Dynamic int8 quantization of the matmuls and attention, float32 nodes left out, and
  the nodes of the encoder layers `float_layers` too."""
  from onnxruntime import quantization
  layers = tuple("bert.encoder.layer_%d." % index for index in float_layers)
  keep = [node.name for node in model.graph.node
          if node.name.startswith((onnx_graph.FLOAT_PREFIX,) + layers)]
  root = std_logging.getLogger()
  level = root.level
  root.setLevel(std_logging.ERROR)  # it logs a line per tensor on the root logger
  try:
    quantization.quantize_dynamic(
        float_file, int8_file, weight_type=quantization.QuantType.QInt8, per_channel=True,
        op_types_to_quantize=["MatMul", "Attention"], nodes_to_exclude=keep,
        # Its shape inference stops at com.microsoft kernels: the rest is float32.
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
  finally:
    root.setLevel(level)


def score(model_file, columns, batch_size=32):
  """The model's outputs on padded pairs {name: int32 [N, S]}, in their order."""
  return outputs_in_order(onnx_runtime.batch_runner(onnx_runtime.open_session(model_file)),
                          columns, batch_size)


def dev_metrics(info, outputs, labels, candidates=None):
  """The task's dev metrics of the ONNX outputs; labels as the records store them.

  candidates: a reranker's eval_candidates.tsv text (its dev queries), else None.
  """
  task = tasks_lib.task_from_description(info)
  if "ranking" in info:  # MAP, MRR, nDCG of the dev queries, as the run evaluated them
    if candidates is None:  # a run from before eval_candidates.tsv: no queries known
      return {}
    queries, truth = task.read_candidates(candidates)
    return task.evaluate({"score": outputs["score"], "label": labels},
                         candidates=queries, truth=truth).metrics
  if info["task"] == "regression":
    scores = np.asarray(outputs["score"], np.float64)
    return task.evaluate({"score": to_unit_range(scores, info.get("label_min"),
                                                 info.get("label_max")),
                          "label": labels}).metrics
  return task.evaluate({"probabilities": outputs["probabilities"],
                        "label": np.asarray(labels, np.int64)}).metrics


def quality_report(info, float_outputs, int8_outputs, labels, candidates=None):
  """What quantization changed on dev: largest output differences and metrics both ways."""
  report = {"dev_pairs": int(len(labels)), "largest_difference": {}}
  for name, values in float_outputs.items():
    if np.issubdtype(values.dtype, np.floating):
      report["largest_difference"][name] = float(np.abs(int8_outputs[name] - values).max())
    else:
      report["decisions_changed"] = int(np.sum(int8_outputs[name] != values))
  report["float32"] = dev_metrics(info, float_outputs, labels, candidates)
  report["int8"] = dev_metrics(info, int8_outputs, labels, candidates)
  return report


def describe_report(report):
  """One line of the report for the log."""
  metrics = " ".join("%s %.4f -> %.4f" % (name, report["float32"][name], report["int8"][name])
                     for name in sorted(report["float32"]) if name != "eval_threshold")
  differences = ", ".join("%s %.4g" % item for item in sorted(
      report["largest_difference"].items()))
  return ("int8 against float32 on %d dev pairs: largest difference %s%s; %s" % (
      report["dev_pairs"], differences, "; %d decision(s) changed" % report["decisions_changed"]
      if "decisions_changed" in report else "", metrics))


@dataclasses.dataclass(frozen=True)
class Int8Settings:
  """How an int8 model is made and judged (export_model.py's int8 flags)."""
  runtime: str = "onnxruntime"  # onnxruntime: dynamic int8 model.onnx; openvino: NNCF's IR
  calibration_data: Optional[str] = None  # a TSV of pairs; else the run's records
  calibration_pairs: int = calibration.CALIBRATION_PAIRS
  max_quality_drop: float = 0.005
  keep_float_layers: str = ""  # "", "auto" or encoder layer numbers "0,5"


def write_onnx_folder(staging, fine_tuned, weights, precision, int8=Int8Settings()):
  """Writes model.onnx, vocab.txt (and for int8 the int8 model and
  quantization_report.json) into `staging`.

  Returns the model's facts for model_info.json (precision, runtime, calibration,
  outlier channels, layers kept in float32, report). Raises UserError when the int8
  model fails the accuracy gate (quality_gate.py) and --keep_float_layers=auto is not
  given or cannot make it pass.
  """
  model_file = os.path.join(staging, onnx_runtime.MODEL_FILE)
  float_model = onnx_graph.build_model(weights, fine_tuned.bert_config, fine_tuned.info)
  files.copy_atomically(fine_tuned.vocab_file, os.path.join(staging, "vocab.txt"))
  facts = {"precision": precision}
  on_openvino = precision == "int8" and int8.runtime == "openvino"
  if precision == "float32" or on_openvino:  # the IR goes beside the float32 model
    files.write_bytes_atomically(model_file, float_model.SerializeToString())
  if precision == "float32":
    return facts
  num_layers = fine_tuned.bert_config.num_hidden_layers
  chosen = quality_gate.parse_layers(int8.keep_float_layers, num_layers)
  label_feature = tasks_lib.task_from_description(fine_tuned.info).label_feature
  columns, facts["calibration"] = calibration.calibration_columns(
      fine_tuned, label_feature, int8.calibration_data, int8.calibration_pairs)
  facts["calibration_pairs"] = int(len(columns["input_ids"]))
  ranges = channel_ranges(weights, fine_tuned, columns)
  dev = fine_tuned_lib.read_records(fine_tuned, fine_tuned.dev_records, label_feature)
  facts["runtime"] = int8.runtime
  if on_openvino:
    batches = calibration.calibration_batches(columns)
    facts["openvino_model"] = openvino_int8.IR_FILE

    def make(layers):
      ir_file = openvino_int8.quantize(weights, fine_tuned, batches, layers, staging)
      return None if dev is None else openvino_int8.score(ir_file, dev)
  else:
    outliers = find_outliers(ranges)

    def make(layers):
      # A layer kept in float32 needs no channels apart: its graph is float32's own.
      apart = {scope: channels for scope, channels in outliers.items()
               if not scope.startswith(tuple("bert/encoder/layer_%d/" % i for i in layers))}
      facts["outlier_channels"] = {scope: len(channels) for scope, channels in apart.items()}
      split = onnx_graph.build_model(weights, fine_tuned.bert_config, fine_tuned.info,
                                     outliers=apart)
      _write_dynamic_int8(split, model_file, layers)
      return None if dev is None else score(model_file, dev)
  reference = None if dev is None else _float_outputs(float_model, staging, model_file, dev)
  # A reranker's dev candidates (run_rerank.py writes them beside its records): the report
  # and the gate then judge MAP / MRR / nDCG as well.
  candidates_file = os.path.join(os.path.dirname(fine_tuned.dev_records or ""),
                                 "eval_candidates.tsv")
  candidates = (files.read_text(candidates_file)
                if dev is not None and "ranking" in fine_tuned.info and
                files.exists(candidates_file) else None)
  layers = [] if chosen is None else chosen
  order = quality_gate.layers_worst_first(ranges, num_layers)
  while True:
    int8_outputs = make(layers)
    if dev is None:
      logging.warning("int8: the run folder holds no dev records, so the int8 model was not "
                      "scored against float32 (the accuracy gate did not run)")
      break
    report = quality_report(fine_tuned.info, reference, int8_outputs, dev["label"],
                            candidates)
    report["float_layers"] = sorted(layers)
    failed = quality_gate.refusal(report, int8.max_quality_drop)
    if failed is None:
      break
    if chosen is not None:
      raise UserError("%s; encoder layers in float32: %s. Try --keep_float_layers=auto, "
                      "or allow more with --max_quality_drop" % (
                          failed, ", ".join(map(str, layers)) or "none"))
    if len(layers) == num_layers:
      raise UserError("%s even with every encoder layer in float32; export float32 "
                      "instead" % failed)
    layers = layers + [order[len(layers)]]
    logging.info("%s: keeping encoder layer %d in float32 and quantizing again", failed,
                 layers[-1])
  facts["float_layers"] = sorted(layers)
  if chosen is None:
    logging.info("--keep_float_layers=auto: encoder layers kept in float32: %s",
                 ", ".join(map(str, sorted(layers))) or "none (all int8)")
  if dev is not None:
    files.write_text_atomically(os.path.join(staging, REPORT_FILE),
                                json.dumps(report, indent=2, sort_keys=True) + "\n")
    logging.info("%s", describe_report(report))
    facts["quantization_report"] = REPORT_FILE
  return facts


def _write_dynamic_int8(split, model_file, layers):
  """ONNX Runtime's dynamic int8 of `split` (outlier channels apart) as model_file."""
  float_file = model_file + ".float32.tmp"
  with files.writing(model_file), open(float_file, "wb") as f:
    f.write(split.SerializeToString())
  try:
    with files.atomic_output(model_file) as temporary:  # a full disk: one line naming it
      quantize(float_file, temporary, split, layers)
  finally:
    os.remove(float_file)


def _float_outputs(float_model, staging, model_file, dev):
  """The float32 model's outputs on dev, the gate's reference."""
  reference_file = os.path.join(staging, "reference.onnx.tmp")
  with files.writing(model_file), open(reference_file, "wb") as f:
    f.write(float_model.SerializeToString())
  try:
    return score(reference_file, dev)
  finally:
    os.remove(reference_file)
