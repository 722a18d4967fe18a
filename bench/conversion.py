r"""Feature conversion speed: STS-B train pairs -> TFRecords, plain path against fast paths.

  .venv/bin/python bench/conversion.py [--repeats=3]

Plain: Google's way: one process, the tokenizer without shortcuts, records built with
the protobuf API. Fast: the tokenizer with its ASCII path and word cache and records
written straight in the wire format, in one process, then with one worker per core.
Each variant converts STS-B train (5,749 pairs, max_seq_length 128, MiniLM's uncased
vocabulary) to a TFRecord file; the best of --repeats runs is kept, the variants
alternating. Prints pairs/s, the ratio to plain, and whether the file's bytes equal
the plain path's.

--long_line instead times one pair whose first sentence is a 10 MB line (a file whose
line breaks were lost) of several kinds, through the fast tokenizer at max_seq_length
128: the seconds each takes to become features, with its tokens counted no further
than the features need and, as a run counts them for the data report, up to 512
(MiniLM's max_position_embeddings).
"""

import argparse
import hashlib
import os
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from bench.quality import shared_data
import convert_hf_checkpoint
from finetune.data import fast_serialization
from finetune.data import feature_workers
from finetune.data import record_format
from finetune.data import records
from processors import get_processor
import tokenization
import tokenization_fast


def convert(examples, vocab_file, fast, workers, output_file):
  """Seconds to convert `examples` into `output_file`."""
  started = time.time()
  tokenizer_class = tokenization_fast.FastFullTokenizer if fast else tokenization.FullTokenizer
  tokenizer = tokenizer_class(vocab_file, do_lower_case=True)
  labels = [example.label / 5.0 for example in examples]
  serialize = (fast_serialization.serialize_features if fast else
               record_format.serialize_features)
  serialized = feature_workers.convert_examples(
      examples, labels, tokenizer=tokenizer, max_seq_length=128,
      label_feature=record_format.REGRESSION_LABEL, serialize=serialize, num_workers=workers)
  records.write_records(serialized, output_file)
  return time.time() - started


LONG_LINE_UNITS = {
    "Chinese": "支付宝怎么充值，微信怎么充值？",
    "English": "How do I pay with it? ",
    "one word of ASCII letters": "a",
    "one word of accented letters": "é",
    "letters and commas": "a,",
    "letters and non-ASCII punctuation, no space": "a«",
}


def time_long_lines(vocab_file, count_limits=(0, 512)):
  """Prints the seconds a 10 MB first sentence of each kind takes to become features."""
  from finetune.data import features
  from processors import InputExample
  for kind, unit in LONG_LINE_UNITS.items():
    text = unit * (10 * 1000 * 1000 // len(unit.encode("utf-8")))
    for count_limit in count_limits:
      # A tokenizer of its own each time: no word of the other run in its cache.
      tokenizer = tokenization_fast.FastFullTokenizer(vocab_file, do_lower_case=True)
      started = time.time()
      feature = features.convert_single_example(InputExample("long", text, "How?"), 0.5, 128,
                                                tokenizer, count_limit)
      print("10 MB line, %-46s counted to %3d tokens: %6.2f s (%d tokens kept)" % (
          kind + ":", max(128, count_limit), time.time() - started, feature.length))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--long_line", action="store_true",
                      help="time 10 MB lines instead (see the module docstring)")
  args = parser.parse_args()
  if args.long_line:
    time_long_lines(os.path.join(convert_hf_checkpoint.packaged_model_dir(), "vocab.txt"))
    return
  vocab_file = os.path.join(convert_hf_checkpoint.packaged_model_dir(), "vocab.txt")
  examples = get_processor("stsb").get_train_examples(os.path.join(shared_data(),
                                                                   "stsbenchmark"))
  workers = feature_workers.default_num_workers()
  variants = [("plain (1 process, no shortcuts)", False, 1),
              ("fast tokenizer, 1 process", True, 1),
              ("fast tokenizer, %d workers" % workers, True, workers)]
  best = {name: float("inf") for name, _, _ in variants}
  digests = {}
  with tempfile.TemporaryDirectory() as work:
    for _ in range(args.repeats):
      for name, fast, count in variants:
        path = os.path.join(work, "train.tf_record")
        best[name] = min(best[name], convert(examples, vocab_file, fast, count, path))
        with open(path, "rb") as f:
          digests[name] = hashlib.sha256(f.read()).hexdigest()
  plain = variants[0][0]
  print("STS-B train: %d pairs, %d cores, best of %d" % (len(examples), workers, args.repeats))
  for name, _, _ in variants:
    print("%-34s %7.0f pairs/s  %5.2fx  bytes identical to plain: %s" % (
        name, len(examples) / best[name], best[plain] / best[name],
        digests[name] == digests[plain]))


if __name__ == "__main__":
  main()
