"""One split's examples -> a TFRecord file: the one entry point of that stage.

write_record_file(examples, labels, path, settings):
  1. reuse `path` if it was written whole from the same inputs (record_cache.py);
  2. else tokenize and lay out each pair (features.py) in worker processes
     (feature_workers.py), serialize it (fast_serialization.py, the same bytes as
     record_format.py's protobuf way), and write the file whole or not at all.
"""

import dataclasses
import os
import time

from absl import logging
import numpy as np
import tensorflow as tf

from common import files
from finetune import fast_serialization
from finetune import feature_workers
from finetune import record_cache


@dataclasses.dataclass(frozen=True)
class RecordSettings:
  """What, besides the examples, decides the bytes of a record file.

  tokenizer: the tokenizer of vocab_file with do_lower_case.
  label_feature: record_format.CLASSIFICATION_LABEL or REGRESSION_LABEL.
  workers: conversion processes (None: one per core; 1: none).
  """
  tokenizer: object
  vocab_file: str
  do_lower_case: bool
  max_seq_length: int
  label_feature: str
  workers: int = None


def write_records(serialized_records, output_file):
  """Writes serialized records to `output_file` whole or not at all; returns the count."""
  count = 0
  with files.atomic_output(output_file) as temporary:
    with tf.io.TFRecordWriter(temporary) as writer:
      for record in serialized_records:
        writer.write(record)
        count += 1
  return count


def write_record_file(examples, labels, path, settings):
  """Writes examples (labels already encoded) to the TFRecord file `path`, or reuses it.

  Returns the number of records in the file.
  """
  key = record_cache.cache_key(examples, labels, settings.vocab_file, settings.do_lower_case,
                               settings.max_seq_length, settings.label_feature)
  if record_cache.is_cached(path, key):
    logging.info("reusing %s: same examples, vocabulary and settings", path)
    return len(examples)
  record_cache.forget(path)
  started = time.time()
  lengths = []
  serialized = feature_workers.convert_examples(
      examples, labels, tokenizer=settings.tokenizer, max_seq_length=settings.max_seq_length,
      label_feature=settings.label_feature, serialize=fast_serialization.serialize_features,
      num_workers=settings.workers, name=os.path.basename(path), lengths=lengths)
  count = write_records(serialized, path)
  record_cache.remember(path, key, count)
  seconds = time.time() - started
  logging.info("wrote %d records to %s in %.1f s (%.0f pairs/s; mean length %.1f tokens)",
               count, path, seconds, count / max(seconds, 1e-9),
               np.mean(lengths) if lengths else 0)
  return count
