r"""Scores sentence pairs with a fine-tuned model: one line per pair on stdout.

  python predict.py --model=runs/demo/export 支付宝怎么充值 微信怎么充值
  python predict.py --model=runs/demo --input=pairs.tsv        # a_text<TAB>b_text lines
  printf 'A man sings.\tA man is singing.\n' | python predict.py --model=runs/demo/export

--model is an --export_dir (its newest SavedModel), one SavedModel version folder, or a
run's --output_dir. Regression models print the score; classifiers print the decided
label (with --probabilities, then each label's probability).
"""

import os
import sys

# stdout is for predictions and stderr for our errors: TensorFlow's start-up chatter goes.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import flags  # pylint: disable=g-import-not-at-top,wrong-import-position
from absl import logging  # pylint: disable=g-import-not-at-top,wrong-import-position
import tensorflow as tf  # pylint: disable=g-import-not-at-top,wrong-import-position

from finetune import cli  # pylint: disable=g-import-not-at-top,wrong-import-position
from finetune.errors import InputFileError  # pylint: disable=g-import-not-at-top,wrong-import-position
from finetune.errors import UserError  # pylint: disable=g-import-not-at-top,wrong-import-position
from finetune.predictor import load_predictor  # pylint: disable=g-import-not-at-top,wrong-import-position
from processors.base import read_tsv  # pylint: disable=g-import-not-at-top,wrong-import-position

FLAGS = flags.FLAGS

cli.define_flag("string", "model", None, "An --export_dir, a SavedModel version folder, or a "
                "run's --output_dir.", cli.REQUIRED)
cli.define_flag("string", "input", None, "A file of sentence_a<TAB>sentence_b lines (else the "
                "pairs given as arguments, else stdin).", cli.RUN)
cli.define_flag("integer", "batch_size", 32, "Pairs per batch.", cli.TRAINING)
cli.define_flag("bool", "probabilities", False, "Classifiers: also print each label's "
                "probability.", cli.OUTPUT)
flags.mark_flag_as_required("model")


def read_pairs(args):
  """[(a, b)] from the arguments, --input, or stdin."""
  if args:
    if len(args) % 2:
      raise UserError("got %d sentences as arguments; expected pairs (an even number)" %
                      len(args))
    return list(zip(args[0::2], args[1::2]))
  if FLAGS.input:
    rows = read_tsv(FLAGS.input)
  else:
    lines = [line.rstrip("\r\n") for line in sys.stdin]
    rows = [line.split("\t") for line in lines if line.strip()]
  pairs = []
  for number, row in enumerate(rows, start=1):
    if len(row) < 2:
      raise InputFileError(FLAGS.input or "stdin", getattr(row, "line", number),
                           "expected sentence_a<TAB>sentence_b, found %d column(s)" % len(row))
    pairs.append((row[0], row[1]))
  return pairs


def main(argv):
  logging.set_verbosity(logging.WARNING)
  tf.get_logger().setLevel("ERROR")
  try:
    pairs = read_pairs(argv[1:])
    predictor = load_predictor(FLAGS.model)
    outputs = predictor.predict(pairs, FLAGS.batch_size)
  except UserError as e:
    sys.exit("error: %s" % e)
  for index in range(len(pairs)):
    if "score" in outputs:
      print("%.4f" % outputs["score"][index])
      continue
    cells = [outputs["label"][index].decode("utf-8")]
    if FLAGS.probabilities:
      cells += ["%.4f" % p for p in outputs["probabilities"][index]]
    print("\t".join(cells))


if __name__ == "__main__":
  cli.run_app(main, __doc__)
