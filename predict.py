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
import signal
import sys
from typing import Optional

# stdout is for predictions and stderr for our errors: TensorFlow's start-up chatter goes.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import logging

from common import checks
from common import cli
from common import settings
from common.errors import InputFileError
from common.errors import UserError
from common.settings import setting
from common.text_files import decode
from common.text_files import split_lines
from common.tsv import read_tsv
from finetune.runtime.openvino_runtime import RUNTIMES
from finetune.runtime.predictor import load_predictor
from finetune.runtime.predictor import PREDICT_PRECISIONS


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
      "warning. With --runtime=openvino: float32, bfloat16, or int8 (an export with "
      "--runtime=openvino). See docs/speed.md.",
      cli.SPEED, checks.OneOf(PREDICT_PRECISIONS))
  runtime: str = setting(
      "onnxruntime", "For an ONNX folder as --model: onnxruntime, or openvino (the float32 "
      "export; fastest with --precision=bfloat16 on CPUs with AMX; needs "
      "pip install -e .[openvino]). See docs/export.md.", cli.SPEED, checks.OneOf(RUNTIMES))
  probabilities: bool = setting(False, "Classifiers: also print each label's probability.",
                                cli.OUTPUT)


cli.define_flags(PredictOptions)


def read_stdin():
  """stdin's text, checked as an --input file is: UTF-8, else one line naming stdin:line.

  Read as bytes: Python's own decoding of stdin either replaces bad bytes unseen (its
  default, surrogateescape under a C locale) or fails with a traceback
  (PYTHONIOENCODING=utf-8).
  """
  if sys.stdin is None:  # started with stdin closed (`<&-`)
    raise UserError("no pairs: stdin is closed and none were given as arguments or with "
                    "--input; expected sentence_a<TAB>sentence_b lines on one of them")
  stream = getattr(sys.stdin, "buffer", None)
  data = stream.read() if stream is not None else sys.stdin.read().encode("utf-8")
  return decode("stdin", data)


def write_lines(lines):
  """Prints `lines` on stdout; a reader that has gone (`| head`) ends the run quietly.

  As any Unix filter killed by SIGPIPE, the exit status is then 141; a stdout that
  cannot be written (a full disk) is one line naming stdout.
  """
  try:
    for line in lines:
      sys.stdout.write(line + "\n")
    sys.stdout.flush()
  except BrokenPipeError:
    # Whatever is still buffered goes nowhere, so that flushing at exit cannot fail.
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(128 + signal.SIGPIPE)
  except OSError as e:
    raise UserError("stdout: could not be written (%s)" % (e.strerror or e)) from None


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
            for number, line in enumerate(split_lines(read_stdin()), start=1)
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
  if sys.stdout is None:  # started with stdout closed (`>&-`): say so before any work
    raise UserError("stdout is closed; predict.py prints its predictions there: redirect "
                    "it to a file instead")
  pairs = read_pairs(argv[1:], options.input)
  with load_predictor(options.model, options.precision, options.checkpoint,
                      runtime=options.runtime) as predictor:
    outputs = predictor.predict(pairs, options.batch_size)
  write_lines(output_lines(outputs, len(pairs), options.probabilities))


def output_lines(outputs, count, probabilities):
  """One line per pair: the score, or the label (and each label's probability)."""
  for index in range(count):
    if "score" in outputs:
      yield "%.4f" % outputs["score"][index]
      continue
    cells = [outputs["label"][index]]
    if probabilities:
      cells += ["%.4f" % p for p in outputs["probabilities"][index]]
    yield "\t".join(cells)


if __name__ == "__main__":
  cli.run_app(main, __doc__)
