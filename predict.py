r"""Scores sentence pairs with a fine-tuned model: one line per pair on stdout.

  python predict.py --model=runs/demo/export 支付宝怎么充值 微信怎么充值
  python predict.py --model=runs/demo --input=pairs.tsv        # a_text<TAB>b_text lines
  printf 'A man sings.\tA man is singing.\n' | python predict.py --model=runs/demo/export

--model is an ONNX folder (export_model.py --format=onnx: run by ONNX Runtime, without
TensorFlow), an --export_dir (its newest SavedModel), one SavedModel version folder, or
a run's --output_dir (with --checkpoint, another of its checkpoints than the latest).
Regression models print the score; classifiers print the decided label (with
--probabilities, then each label's probability).
"""

import dataclasses
import logging as std_logging
import os
import sys
from typing import Optional

# stdout is for predictions and stderr for our errors: TensorFlow's start-up chatter goes.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import logging

from common import checks
from common import cli
from common.errors import InputFileError
from common.errors import UserError
from common import settings
from common.settings import setting
from common.text_files import split_lines
from common.tsv import read_tsv
from finetune.model.precision import PRECISIONS
from finetune.runtime.openvino_runtime import RUNTIMES
from finetune.runtime.predictor import load_predictor
# pylint: enable=g-import-not-at-top,wrong-import-position


@dataclasses.dataclass(frozen=True)
class PredictOptions:
  """predict.py's settings."""
  model: str = setting(None, "An ONNX folder (export_model.py), an --export_dir, a "
                       "SavedModel version folder, or a run's --output_dir.", cli.REQUIRED,
                       checks.ExistingFolder("a model folder"), required=True)
  checkpoint: Optional[str] = setting(
      None, "With a run's --output_dir as --model: the checkpoint to use instead of its "
      "latest (or best/'s), e.g. runs/sim/model.ckpt-300.", cli.MODEL,
      checks.CheckpointPath())
  input: Optional[str] = setting(None, "A file of sentence_a<TAB>sentence_b lines (else the "
                                 "pairs given as arguments, else stdin).", cli.RUN,
                                 checks.ExistingFile("a file of sentence pairs"))
  batch_size: int = setting(32, "Pairs per batch.", cli.SPEED, checks.AtLeast(1))
  precision: str = setting(
      "float32", "The encoder's matmuls in float32, or bfloat16 / float16 where the "
      "hardware has them (a run's folder as --model; a SavedModel stays float32). A "
      "precision this machine would run slower than float32 falls back to float32 with a "
      "warning. With --runtime=openvino: float32 or bfloat16. See docs/speed.md.",
      cli.SPEED, checks.OneOf(PRECISIONS))
  runtime: str = setting(
      "onnxruntime", "For an ONNX folder as --model: onnxruntime, or openvino (the float32 "
      "export; fastest with --precision=bfloat16 on CPUs with AMX; needs "
      "requirements-openvino.txt). See docs/export.md.", cli.SPEED, checks.OneOf(RUNTIMES))
  probabilities: bool = setting(False, "Classifiers: also print each label's probability.",
                                cli.OUTPUT)


cli.define_flags(PredictOptions)


def read_pairs(args, input_file):
  """[(a, b)] from the arguments, the --input file, or stdin."""
  if args:
    if len(args) % 2:
      raise UserError("got %d sentences as arguments; expected pairs (an even number)" %
                      len(args))
    return list(zip(args[0::2], args[1::2]))
  if input_file:
    rows = [(row, row.line) for row in read_tsv(input_file)]
  else:
    # Numbered before blank lines are dropped, so that errors name the real line.
    rows = [(line.split("\t"), number)
            for number, line in enumerate(split_lines(sys.stdin.read()), start=1)
            if line.strip()]
  pairs = []
  for row, number in rows:
    if len(row) < 2:
      raise InputFileError(input_file or "stdin", number,
                           "expected sentence_a<TAB>sentence_b, found %d column(s)" % len(row))
    pairs.append((str(row[0]), str(row[1])))
  return pairs


def main(argv):
  logging.set_verbosity(logging.WARNING)
  std_logging.getLogger("tensorflow").setLevel(std_logging.ERROR)  # if it is imported
  options = cli.options_from_flags(PredictOptions)
  settings.validate(options)
  pairs = read_pairs(argv[1:], options.input)
  with load_predictor(options.model, options.precision, options.checkpoint,
                      runtime=options.runtime) as predictor:
    outputs = predictor.predict(pairs, options.batch_size)
  for index in range(len(pairs)):
    if "score" in outputs:
      print("%.4f" % outputs["score"][index])
      continue
    cells = [outputs["label"][index]]
    if options.probabilities:
      cells += ["%.4f" % p for p in outputs["probabilities"][index]]
    print("\t".join(cells))


if __name__ == "__main__":
  cli.run_app(main, __doc__)
