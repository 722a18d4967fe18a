"""export_model.py's one entry point: a fine-tuned model -> a folder in another format.

  export(model_path, export_format, output_dir, precision) -> model_info dict

Formats: "onnx" (onnx_export.py; float32 or int8) and "hf" (hf_export.py; float32).
Each export folder holds model_info.json: the model's facts (task, labels, threshold or
label range, casing, max_seq_length) plus the format, the precision and where it came
from. The folder appears whole: it is written under a temporary name beside output_dir
and renamed. An output folder that holds anything but an earlier export of this tool is
refused, never overwritten.
"""

import dataclasses
import json
import os
from typing import Optional

from absl import logging

from common import checks
from common import cli
from common import files
from common.errors import UserError
from common.settings import setting
from finetune.export import fine_tuned as fine_tuned_lib
from finetune.export import hf_export
from finetune.export import onnx_export
from finetune.model import precision as precision_lib
from finetune.runtime import onnx_runtime
from finetune.runtime.openvino_runtime import RUNTIMES

FORMATS = ("onnx", "hf")
PRECISIONS = ("float32", "int8")
# The formats each precision exists in.
_PRECISION_FORMATS = {"float32": FORMATS, "int8": ("onnx",)}
DEFAULT_INT8 = onnx_export.Int8Settings()  # frozen: one instance serves every call


class LayerList(checks.Check):
  """--keep_float_layers: empty, auto, or layer numbers separated by commas."""

  expected = "auto, or encoder layer numbers separated by commas (0,5)"
  bad_values = ("all", "1;2", "-1")

  def accepts(self, value):
    return value.strip() == "auto" or all(part.strip().isdigit()
                                          for part in value.split(",") if value.strip())


@dataclasses.dataclass(frozen=True)
class ExportOptions:
  """export_model.py's settings."""
  model: str = setting(None, "A run's --output_dir, an --export_dir, or a SavedModel version "
                       "folder.", cli.REQUIRED, checks.ExistingFolder("a model folder"),
                       required=True)
  format: str = setting(None, "onnx (ONNX Runtime, OpenVINO, predict.py and serve.py without "
                        "TensorFlow) or hf (transformers, sentence-transformers).",
                        cli.REQUIRED, checks.OneOf(FORMATS), required=True)
  output_dir: str = setting(None, "A new or empty local folder (or an earlier export to "
                            "replace).", cli.REQUIRED, checks.OutputFolder(), required=True)
  precision: str = setting(
      "float32", "float32, or int8 (--format=onnx: the encoder's matmuls in int8, on CPUs "
      "with VNNI or AMX; elsewhere float32 with a warning).", cli.MODEL,
      checks.OneOf(PRECISIONS))
  runtime: str = setting(
      "onnxruntime", "The runtime an int8 export is for: onnxruntime (model.onnx quantized "
      "dynamically, outlier channels in float32) or openvino (NNCF's static int8, an "
      "OpenVINO IR beside the float32 model.onnx; predict.py --runtime=openvino "
      "--precision=int8).", cli.MODEL, checks.OneOf(RUNTIMES))
  calibration_data: Optional[str] = setting(
      None, "int8: a file of sentence_a<TAB>sentence_b lines to calibrate on, the pairs the "
      "model will score (else the run's dev records, else its training records).",
      cli.MODEL, checks.ExistingFile("a file of sentence pairs"))
  calibration_pairs: int = setting(onnx_export.Int8Settings.calibration_pairs,
                                   "int8: calibrate on at most this many pairs.", cli.MODEL,
                                   checks.AtLeast(1))
  max_quality_drop: float = setting(
      onnx_export.Int8Settings.max_quality_drop, "int8: refuse the int8 model if a dev "
      "metric (Pearson, Spearman, accuracy, F1) falls by more than this against float32.",
      cli.MODEL, checks.AtLeast(0.0))
  keep_float_layers: str = setting(
      "", "int8: encoder layers kept in float32, e.g. 0,5; auto: as few as the accuracy gate "
      "needs, the worst first.", cli.MODEL, LayerList())


def check_output_dir(output_dir):
  """Raises UserError unless output_dir is absent, empty or an earlier export of ours."""
  if not os.path.exists(output_dir):
    return
  if not os.path.isdir(output_dir):
    raise UserError("--output_dir=%s is a file; expected a folder to export into" % output_dir)
  names = sorted(os.listdir(output_dir))
  if not names:
    return
  info_path = os.path.join(output_dir, onnx_runtime.INFO_FILE)
  try:
    with open(info_path, encoding="utf-8") as f:
      ours = "export_format" in json.load(f)
  except (OSError, ValueError):
    ours = False
  if not ours:
    shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
    raise UserError("--output_dir=%s holds other files (%s); expected an empty or new "
                    "folder, or an earlier output of export_model.py to replace" %
                    (output_dir, shown))


def export(model_path, export_format, output_dir, precision, int8=DEFAULT_INT8):
  """Exports the fine-tuned model at `model_path`; returns the model_info.json written.

  Raises UserError for a format, precision or output folder it cannot use. int8 on a
  CPU without int8 dot products is made float32, with one warning line.
  """
  if export_format not in FORMATS:
    raise UserError("--format=%s: expected one of %s" % (export_format, ", ".join(FORMATS)))
  if export_format not in _PRECISION_FORMATS[precision]:
    raise UserError("--precision=%s is for --format=%s; --format=%s is float32 only" % (
        precision, " or ".join(_PRECISION_FORMATS[precision]), export_format))
  if not files.is_local(output_dir):
    raise UserError("--output_dir=%s: expected a local folder (copy it to its place after)"
                    % output_dir)
  if int8.runtime != "onnxruntime" and precision != "int8":
    raise UserError("--runtime=%s is for --precision=int8: the float32 ONNX folder runs on "
                    "every runtime as it is" % int8.runtime)
  check_output_dir(output_dir)
  precision = precision_lib.usable_precision(precision, "--precision", gpu_info=[])
  fine_tuned = fine_tuned_lib.locate(model_path)
  weights = fine_tuned_lib.read_weights(fine_tuned)
  target = output_dir.rstrip("/") or output_dir  # its temporary name beside it, not in it
  files.makedirs(os.path.dirname(os.path.abspath(target)))
  staging = files.temporary_name(target, os.getpid())
  try:
    with files.atomic_directory(target, staging, replace=True):
      files.makedirs(staging)
      if export_format == "onnx":
        try:
          facts = onnx_export.write_onnx_folder(staging, fine_tuned, weights, precision,
                                                int8)
        except ValueError as e:  # --keep_float_layers beyond the model's layers
          raise UserError(str(e)) from None
      else:
        hf_export.write_folder(staging, fine_tuned, weights, model_path)
        facts = {"precision": precision}
      info = dict(fine_tuned.info, export_format=export_format, source=model_path,
                  checkpoint=os.path.basename(fine_tuned.checkpoint), **facts)
      files.write_text_atomically(os.path.join(staging, onnx_runtime.INFO_FILE),
                                  json.dumps(info, indent=2, sort_keys=True) + "\n")
  except files.WriteError as e:  # named by the file it was meant to be, not the staging one
    raise files.WriteError(e.path.replace(staging, target), e.reason) from None
  logging.info("exported %s (%s) as %s %s to %s", model_path, info["checkpoint"],
               export_format, precision, output_dir)
  return info
