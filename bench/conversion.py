r"""Feature conversion speed: STS-B train pairs -> TFRecords, plain path against fast paths.

  .venv/bin/python bench/conversion.py [--repeats=3]

Plain: Google's way: one process, the tokenizer without shortcuts, records built with
the protobuf API. Fast: the tokenizer with its ASCII path and word cache and records
written straight in the wire format, in one process, then with one worker per core.
Each variant converts STS-B train (5,749 pairs, max_seq_length 128, MiniLM's uncased
vocabulary) to a TFRecord file; the best of --repeats runs is kept, the variants
alternating. Prints pairs/s, the ratio to plain, and whether the file's bytes equal
the plain path's.
"""

import argparse
import hashlib
import os
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

# pylint: disable=g-import-not-at-top,wrong-import-position
import convert_hf_checkpoint
import tokenization
import tokenization_fast
from bench.quality import shared_data
from finetune import fast_serialization
from finetune import feature_workers
from finetune import record_format
from finetune import records
from processors import get_processor


def convert(examples, vocab_file, fast, workers, output_file):
  """Seconds to convert `examples` into `output_file`."""
  started = time.time()
  tokenizer_class = tokenization_fast.FastFullTokenizer if fast else tokenization.FullTokenizer
  tokenizer = tokenizer_class(vocab_file, do_lower_case=True)
  labels = [example.label / 5.0 for example in examples]
  serialize = (fast_serialization.serialize_features if fast else
               record_format.serialize_features)
  serialized = feature_workers.convert_examples(examples, labels, tokenizer, 128,
                                                record_format.REGRESSION_LABEL, serialize,
                                                num_workers=workers)
  records.write_records(serialized, output_file)
  return time.time() - started


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--repeats", type=int, default=3)
  args = parser.parse_args()
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
