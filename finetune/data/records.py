"""One split's examples -> a TFRecord file: the one entry point of that stage.

write_record_file(examples, labels, path, settings):
  1. reuse `path` if it was written whole from the same inputs (record_cache.py);
  2. else tokenize and lay out each pair (features.py) in worker processes
     (feature_workers.py), serialize it (fast_serialization.py, the same bytes as
     record_format.py's protobuf way), and write the file whole or not at all.
With settings.count_limit, the same pass counts each pair's untruncated length for the
data report (data_report.py), whose summary is stored with the cache key and reused
with the file. measure_lengths gives that summary without writing anything.
"""

import dataclasses
import os
import time

from absl import logging
import numpy as np
import tensorflow as tf

from common import files
from finetune.data import data_report
from finetune.data import fast_serialization
from finetune.data import feature_workers
from finetune.data import record_cache

# The record file of each split.
RECORD_FILES = {"train": "train.tf_record", "dev": "eval.tf_record",
                "test": "predict.tf_record"}


@dataclasses.dataclass(frozen=True)
class RecordSettings:
  """What, besides the examples, decides the bytes of a record file.

  tokenizer: the tokenizer of vocab_file with do_lower_case.
  label_feature: record_format.CLASSIFICATION_LABEL or REGRESSION_LABEL.
  workers: conversion processes (None: one per core; 1: none).
  count_limit: for the data report, each sentence's tokens are counted up to this many
    (at least max_seq_length), the model's max_position_embeddings; 0: no report, and
    no more tokens made than the records keep. It does not change the records' bytes.
  """
  tokenizer: object
  vocab_file: str
  do_lower_case: bool
  max_seq_length: int
  label_feature: str
  workers: int = None
  count_limit: int = 0


@dataclasses.dataclass(frozen=True)
class RecordFile:
  """A record file written or reused: its path, its record count, and the length summary
  of its pairs (data_report.length_summary; None when settings.count_limit is 0)."""
  path: str
  count: int
  lengths: dict = None


def write_records(serialized_records, output_file):
  """Writes serialized records to `output_file` whole or not at all; returns the count."""
  count = 0
  with files.atomic_output(output_file) as temporary:
    with tf.io.TFRecordWriter(temporary) as writer:
      for record in serialized_records:
        writer.write(record)
        count += 1
  return count


def _key(examples, labels, settings):
  return record_cache.cache_key(examples, labels, settings.vocab_file, settings.do_lower_case,
                                settings.max_seq_length, settings.label_feature)


def _stored_lengths(stored, settings):
  """The length summary stored with a cache entry if it serves `settings`, else None."""
  lengths = (stored or {}).get("lengths")
  if lengths is None or lengths.get("count_limit") != settings.count_limit:
    return None
  return lengths


def write_record_file(examples, labels, path, settings):
  """Writes examples (labels already encoded) to the TFRecord file `path`, or reuses it.

  A file is reused when its key matches and, if settings.count_limit asks for the
  lengths, its stored summary was counted the same way. Returns a RecordFile.
  """
  key = _key(examples, labels, settings)
  stored = record_cache.lookup(path, key)
  if stored is not None and (not settings.count_limit or _stored_lengths(stored, settings)):
    logging.info("reusing %s: same examples, vocabulary and settings", path)
    return RecordFile(path, len(examples), _stored_lengths(stored, settings))
  record_cache.forget(path)
  started = time.time()
  pair_lengths = feature_workers.PairLengths()
  serialized = feature_workers.convert_examples(
      examples, labels, tokenizer=settings.tokenizer, max_seq_length=settings.max_seq_length,
      label_feature=settings.label_feature, serialize=fast_serialization.serialize_features,
      num_workers=settings.workers, name=os.path.basename(path), pair_lengths=pair_lengths,
      count_limit=settings.count_limit)
  count = write_records(serialized, path)
  lengths, at_least = pair_lengths.arrays()
  summary = None
  if settings.count_limit:
    summary = data_report.length_summary(lengths, at_least, settings.max_seq_length,
                                         settings.count_limit)
  record_cache.remember(path, key, count, summary)
  seconds = time.time() - started
  kept = np.minimum(lengths[lengths >= 0], settings.max_seq_length)
  logging.info("wrote %d records to %s in %.1f s (%.0f pairs/s; mean length %.1f tokens)",
               count, path, seconds, count / max(seconds, 1e-9),
               np.mean(kept) if len(kept) else 0)
  return RecordFile(path, count, summary)


def measure_lengths(examples, labels, path, settings):
  """The length summary write_record_file would give for `path`, writing nothing.

  Reused from the cache key of `path` when that file is current (no tokenizing), else
  counted by tokenizing the pairs in worker processes, making no records.
  """
  if record_cache.has_entry(path):
    lengths = _stored_lengths(record_cache.lookup(path, _key(examples, labels, settings)),
                              settings)
    if lengths is not None:
      logging.info("reusing the lengths counted when %s was written", path)
      return lengths
  started = time.time()
  lengths, at_least = feature_workers.count_pair_lengths(
      examples, tokenizer=settings.tokenizer, max_seq_length=settings.max_seq_length,
      count_limit=settings.count_limit, num_workers=settings.workers,
      name=os.path.basename(path)).arrays()
  logging.info("counted the tokens of %d pairs in %.1f s, writing no records",
               len(examples), time.time() - started)
  return data_report.length_summary(lengths, at_least, settings.max_seq_length,
                                    settings.count_limit)
