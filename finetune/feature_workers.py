"""Examples -> serialized TFRecord records in worker processes: tokenize, lay out, serialize.

Tokenization is pure Python and dominates the time of feature conversion, so large
inputs are split into chunks that worker processes convert while the parent writes, in
order. The records are the same bytes whatever the number of workers. A progress line
with the rate and the time left is logged every few seconds.
"""

import multiprocessing
import os
import time

from absl import logging

from common import interruption
from finetune import features as features_lib

# Below this many examples, starting workers costs more than it saves.
MIN_EXAMPLES_FOR_WORKERS = 2000
CHUNK_SIZE = 256
PROGRESS_EVERY_SECONDS = 5.0

# What forked workers need; set by the parent just before the pool starts.
_worker_state = {}


def default_num_workers():
  """One worker per core this process may use."""
  try:
    return len(os.sched_getaffinity(0))
  except AttributeError:
    return os.cpu_count() or 1


def _convert_range(bounds):
  """(start, end) into the examples -> ([serialized record], [real length])."""
  start, end = bounds
  tokenizer = _worker_state["tokenizer"]
  max_seq_length = _worker_state["max_seq_length"]
  label_feature = _worker_state["label_feature"]
  serialize = _worker_state["serialize"]
  serialized, lengths = [], []
  for example, label in zip(_worker_state["examples"][start:end],
                            _worker_state["labels"][start:end]):
    feature = features_lib.convert_single_example(example, label, max_seq_length, tokenizer)
    serialized.append(serialize(feature, label_feature))
    lengths.append(feature.length)
  return serialized, lengths


class _Progress:
  """Logs "converted n/total pairs (rate/s, ETA)" at most every few seconds."""

  def __init__(self, total, name):
    self.total = total
    self.name = name
    self.started = self.last = time.time()

  def update(self, done):
    now = time.time()
    if now - self.last < PROGRESS_EVERY_SECONDS or done >= self.total:
      return
    self.last = now
    rate = done / max(now - self.started, 1e-9)
    logging.info("%s: converted %d/%d pairs (%.0f pairs/s, ETA %.0f s)", self.name, done,
                 self.total, rate, (self.total - done) / max(rate, 1e-9))


def convert_examples(examples, labels, *, tokenizer, max_seq_length, label_feature, serialize,
                     num_workers=None, name="records", lengths=None):
  """Yields serialized records for `examples` (labels already encoded), in order.

  Args:
    examples: InputExamples (or PaddingInputExamples).
    labels: the encoded label of each example.
    serialize: (InputFeatures, label_feature) -> bytes, e.g.
      fast_serialization.serialize_features or record_format.serialize_features.
    num_workers: worker processes; None for one per core, 1 for none.
    name: what to call the conversion in progress lines.
    lengths: if a list, the real length of each example is appended to it.
  """
  total = len(examples)
  chunks = [(start, min(start + CHUNK_SIZE, total)) for start in range(0, total, CHUNK_SIZE)]
  progress = _Progress(total, name)
  if num_workers is None:
    num_workers = default_num_workers()
  _worker_state.update(examples=examples, labels=labels, tokenizer=tokenizer,
                       max_seq_length=max_seq_length, label_feature=label_feature,
                       serialize=serialize)
  try:
    if num_workers <= 1 or total < MIN_EXAMPLES_FOR_WORKERS:
      yield from _emit(map(_convert_range, chunks), progress, lengths)
    else:
      # fork: workers inherit the examples and the tokenizer (with its vocabulary), so
      # only chunk bounds go to them and only record bytes come back.
      pool = None
      try:
        with interruption.blocked():
          pool = multiprocessing.get_context("fork").Pool(
              num_workers, initializer=interruption.worker_setup)
        # A signal held back while forking is raised here, the pool already named.
        yield from _emit(pool.imap(_convert_range, chunks), progress, lengths)
      finally:
        if pool is not None:
          pool.terminate()
          pool.join()
  finally:
    _worker_state.clear()


def _emit(results, progress, lengths):
  done = 0
  for serialized, chunk_lengths in results:
    if lengths is not None:
      lengths.extend(chunk_lengths)
    yield from serialized
    done += len(serialized)
    progress.update(done)
