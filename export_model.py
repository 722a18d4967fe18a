r"""Exports a fine-tuned model for use outside TensorFlow: ONNX (float32 or int8) or Hugging Face.

  python export_model.py --model=runs/stsb --format=onnx --output_dir=models/stsb-onnx
  python export_model.py --model=runs/stsb --format=onnx --precision=int8 \
    --output_dir=models/stsb-int8
  python export_model.py --model=runs/stsb --format=hf --output_dir=models/stsb-hf

--model is what predict.py takes: a run's --output_dir, an --export_dir or one SavedModel
version folder. An ONNX folder runs in predict.py and serve.py without TensorFlow, and in
ONNX Runtime or OpenVINO directly; a Hugging Face folder loads in transformers and in
sentence-transformers' CrossEncoder. See docs/export.md.
"""

import os

# stdout is for results and stderr for our lines: TensorFlow's start-up chatter goes.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import logging

from common import cli
from common import settings
from finetune.export import exporting
from finetune.export import onnx_export
from finetune.export.exporting import ExportOptions

cli.define_flags(ExportOptions)


def main(argv):
  del argv  # flags only
  logging.set_verbosity(logging.INFO)
  options = cli.options_from_flags(ExportOptions)
  settings.validate(options)
  int8 = onnx_export.Int8Settings(
      runtime=options.runtime, calibration_data=options.calibration_data,
      calibration_pairs=options.calibration_pairs,
      max_quality_drop=options.max_quality_drop,
      keep_float_layers=options.keep_float_layers)
  info = exporting.export(options.model, options.format, options.output_dir,
                          options.precision, int8)
  print("wrote %s (%s, %s, from %s) to %s" % (
      info["export_format"], info["task"], info["precision"], info["checkpoint"],
      options.output_dir))


if __name__ == "__main__":
  cli.run_app(main, __doc__)
