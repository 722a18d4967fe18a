"""export_model.py --format=onnx: the model for ONNX Runtime, float32 or int8.

float32  the fused graph of onnx_graph.py: ONNX Runtime's attention, LayerNorm and
         GELU kernels; its outputs equal TensorFlow's within float rounding.
int8     the same graph with its encoder matmuls quantized dynamically
         (onnxruntime.quantization.quantize_dynamic): weights int8 per output channel,
         activations uint8 per tensor, scaled at run time; int8 dot products use the
         CPU's VNNI or AMX instructions. BERT's hidden states have a few outlier
         channels (a channel's largest value 10 to 20 times the median channel's), and
         one per-tensor scale for them all costs the ordinary channels most of their
         resolution: those channels are found on calibration pairs (the run's training
         records, else its dev records, else examples/sim_sample) and multiplied apart
         in float32
         (onnx_graph._dense), which halves what quantization changes. The pooler and
         the head stay float32 ([B, H] inputs: nothing to gain).
When the run folder holds its dev records, the int8 export scores them with both models
and keeps what quantization changed (the largest difference of an output, the dev
metrics before and after) in quantization_report.json beside the model, and prints it.
"""

import json
import logging as std_logging
import os

from absl import logging
import numpy as np
import onnx

from common import files
from finetune.data import features as features_lib
from finetune.model.model_files import SERVING_INPUTS
from finetune.model.model_files import to_unit_range
from finetune.export import fine_tuned as fine_tuned_lib
from finetune.export import onnx_graph
from finetune.runtime import onnx_runtime
from finetune.runtime.predictor import length_sorted_batches
from finetune import tasks as tasks_lib
import tokenization_fast

REPORT_FILE = "quantization_report.json"
CALIBRATION_PAIRS = 256
# A channel is an outlier when its largest |value| on the calibration pairs is this many
# times the median channel's; at most this many channels of a layer are taken apart.
OUTLIER_RATIO = 6.0
MAX_OUTLIERS = 8
FALLBACK_CALIBRATION = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "examples", "sim_sample", "train.tsv")


def calibration_columns(fine_tuned, label_feature):
  """Token ids of up to CALIBRATION_PAIRS pairs, and where they came from: the run's
  training records, else its dev records, else the fallback file's pairs.

  Returns ({name: int32 [N, max_seq_length]}, a description).
  """
  for record_file, source in ((fine_tuned.train_records, "the run's training records"),
                              (fine_tuned.dev_records, "the run's dev records")):
    records = fine_tuned_lib.read_records(fine_tuned, record_file, label_feature,
                                          limit=CALIBRATION_PAIRS)
    if records is not None:
      return {name: records[name] for name in SERVING_INPUTS}, source
  tokenizer = tokenization_fast.FastFullTokenizer(fine_tuned.vocab_file,
                                                  fine_tuned.info["do_lower_case"])
  with open(FALLBACK_CALIBRATION, encoding="utf-8") as f:
    rows = [line.rstrip("\n").split("\t") for line in f][:CALIBRATION_PAIRS]
  length = fine_tuned.info["max_seq_length"]
  laid_out = [features_lib.pair_token_ids(row[0], row[1], tokenizer, length) for row in rows]
  return {name: np.array([pair[column] for pair in laid_out], np.int32)
          for column, name in enumerate(SERVING_INPUTS)}, "examples/sim_sample/train.tsv"


def find_outliers(weights, fine_tuned, columns):
  """{dense layer scope: outlier input channels} on the calibration pairs' real tokens."""
  model, dense_inputs = onnx_graph.dense_input_model(weights, fine_tuned.bert_config,
                                                     fine_tuned.info)
  session = onnx_runtime.open_session(model.SerializeToString())
  names = sorted(dense_inputs)
  fetched = [dense_inputs[scope] for scope in names]
  largest = {}
  for _, batch in length_sorted_batches(columns, 32):
    real = batch["input_mask"].astype(bool)
    for scope, values in zip(names, session.run(fetched, batch)):
      if values.ndim == 3 and values.shape[1] == real.shape[1]:
        values = values[real]  # padding positions are computed, never read
      values = np.abs(values.reshape(-1, values.shape[-1])).max(axis=0)
      largest[scope] = np.maximum(largest.get(scope, 0.0), values)
  outliers = {}
  for scope, values in largest.items():
    if scope.startswith("bert/pooler"):
      continue  # stays float32 anyway
    order = np.argsort(values)[::-1][:MAX_OUTLIERS]
    chosen = [int(i) for i in order if values[i] > OUTLIER_RATIO * np.median(values)]
    if chosen:
      outliers[scope] = sorted(chosen)
  return outliers


def quantize(float_file, int8_file, model):
  """Dynamic int8 quantization of the matmuls and attention, float32 nodes left out."""
  from onnxruntime import quantization  # pylint: disable=g-import-not-at-top
  keep = [node.name for node in model.graph.node
          if node.name.startswith(onnx_graph.FLOAT_PREFIX)]
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
  run_batch = onnx_runtime.batch_runner(onnx_runtime.open_session(model_file))
  results = {}
  for chosen, batch in length_sorted_batches(columns, batch_size):
    for name, values in run_batch(batch).items():
      results.setdefault(name, np.empty((len(columns["input_ids"]),) + values.shape[1:],
                                        values.dtype))
      results[name][chosen] = values
  return results


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


def write_onnx_folder(staging, fine_tuned, weights, precision):
  """Writes model.onnx, vocab.txt (and quantization_report.json for int8) into `staging`.

  Returns the model's facts for model_info.json (precision, outlier channels, report).
  """
  model_file = os.path.join(staging, onnx_runtime.MODEL_FILE)
  float_model = onnx_graph.build_model(weights, fine_tuned.bert_config, fine_tuned.info)
  files.copy_atomically(fine_tuned.vocab_file, os.path.join(staging, "vocab.txt"))
  facts = {"precision": precision}
  if precision == "float32":
    files.write_bytes_atomically(model_file, float_model.SerializeToString())
    return facts
  label_feature = tasks_lib.task_from_description(fine_tuned.info).label_feature
  columns, facts["calibration"] = calibration_columns(fine_tuned, label_feature)
  outliers = find_outliers(weights, fine_tuned, columns)
  facts["outlier_channels"] = {scope: len(channels) for scope, channels in outliers.items()}
  dev = fine_tuned_lib.read_records(fine_tuned, fine_tuned.dev_records, label_feature)
  split = onnx_graph.build_model(weights, fine_tuned.bert_config, fine_tuned.info,
                                 outliers=outliers)
  float_file = os.path.join(staging, "float32.onnx.tmp")
  with files.writing(model_file), open(float_file, "wb") as f:
    f.write(split.SerializeToString())
  try:
    with files.atomic_output(model_file) as temporary:  # a full disk: one line naming it
      quantize(float_file, temporary, split)
  finally:
    os.remove(float_file)
  if dev is not None:
    reference_file = os.path.join(staging, "reference.onnx.tmp")
    with files.writing(model_file), open(reference_file, "wb") as f:
      f.write(float_model.SerializeToString())
    try:
      candidates_file = os.path.join(os.path.dirname(fine_tuned.dev_records),
                                     "eval_candidates.tsv")
      candidates = (files.read_text(candidates_file)
                    if "ranking" in fine_tuned.info and files.exists(candidates_file)
                    else None)
      report = quality_report(fine_tuned.info, score(reference_file, dev),
                              score(model_file, dev), dev["label"], candidates)
    finally:
      os.remove(reference_file)
    files.write_text_atomically(os.path.join(staging, REPORT_FILE),
                                json.dumps(report, indent=2, sort_keys=True) + "\n")
    logging.info("%s", describe_report(report))
    facts["quantization_report"] = REPORT_FILE
  return facts
