"""Examples -> serialized TFRecord records in worker processes: tokenize, lay out, serialize.

Tokenization is pure Python and dominates the time of feature conversion, so large
inputs are split into chunks that worker processes convert while the parent writes, in
order. The records are the same bytes whatever the number of workers. A progress line
with the rate and the time left is logged every few seconds.

The same pass gives the data report (data_report.py) the untruncated length of each
pair (PairLengths); count_pair_lengths gives those lengths alone, tokenizing without
making records.
"""

import multiprocessing
import os
import time

from absl import logging
import numpy as np

from common import interruption
from finetune.data import features as features_lib

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


class PairLengths:
  """The untruncated token lengths of pairs, gathered chunk by chunk, in input order.

  arrays() gives lengths int32 [n] (tokens of `[CLS] a [SEP] b [SEP]` before truncation;
  -1 for a PaddingInputExample, which has no pair) and at_least bool [n] (the length is
  a lower bound: a sentence reached the counting limit, see
  features.untruncated_length).
  """

  def __init__(self):
    self._lengths, self._at_least = [], []

  def add(self, lengths, at_least):
    self._lengths.append(lengths)
    self._at_least.append(at_least)

  def arrays(self):
    if not self._lengths:
      return np.zeros([0], np.int32), np.zeros([0], bool)
    return np.concatenate(self._lengths), np.concatenate(self._at_least)


def _convert_range(bounds):
  """(start, end) into the examples -> ([serialized record], lengths, at_least).

  lengths, at_least: as PairLengths.arrays(), for these examples. Without a serializer
  the pairs are only tokenized and counted: no records.
  """
  start, end = bounds
  tokenizer = _worker_state["tokenizer"]
  max_seq_length = _worker_state["max_seq_length"]
  count_limit = _worker_state["count_limit"]
  label_feature = _worker_state["label_feature"]
  serialize = _worker_state["serialize"]
  limit = max(max_seq_length, count_limit)
  labels = _worker_state["labels"]
  labels = labels[start:end] if labels is not None else [None] * (end - start)
  serialized = []
  lengths = np.empty([end - start], np.int32)
  at_least = np.zeros([end - start], bool)
  for i, (example, label) in enumerate(zip(_worker_state["examples"][start:end], labels)):
    if serialize is not None:
      feature = features_lib.convert_single_example(example, label, max_seq_length,
                                                    tokenizer, count_limit)
      serialized.append(serialize(feature, label_feature))
      if feature.is_real_example:
        lengths[i], at_least[i] = feature.pair_length, feature.pair_length_is_lower_bound
      else:
        lengths[i] = -1
    elif isinstance(example, features_lib.PaddingInputExample):
      lengths[i] = -1
    else:
      lengths[i], at_least[i] = features_lib.untruncated_length(
          *features_lib.tokenize_pair(example.text_a, example.text_b, tokenizer, limit),
          limit)
  return serialized, lengths, at_least


class _Progress:
  """Logs "converted n/total pairs (rate/s, ETA)" at most every few seconds."""

  def __init__(self, total, name, verb="converted"):
    self.total = total
    self.name = name
    self.verb = verb
    self.started = self.last = time.time()

  def update(self, done):
    now = time.time()
    if now - self.last < PROGRESS_EVERY_SECONDS or done >= self.total:
      return
    self.last = now
    rate = done / max(now - self.started, 1e-9)
    logging.info("%s: %s %d/%d pairs (%.0f pairs/s, ETA %.0f s)", self.name, self.verb, done,
                 self.total, rate, (self.total - done) / max(rate, 1e-9))


def convert_examples(examples, labels, *, tokenizer, max_seq_length, label_feature, serialize,
                     num_workers=None, name="records", lengths=None, pair_lengths=None,
                     count_limit=0):
  """Yields serialized records for `examples` (labels already encoded), in order.

  Args:
    examples: InputExamples (or PaddingInputExamples).
    labels: the encoded label of each example (None without a serializer).
    serialize: (InputFeatures, label_feature) -> bytes, e.g.
      fast_serialization.serialize_features or record_format.serialize_features; None
      to tokenize and count only (nothing is yielded; see count_pair_lengths).
    num_workers: worker processes; None for one per core, 1 for none.
    name: what to call the conversion in progress lines.
    lengths: if a list, the real (kept) length of each example is appended to it.
    pair_lengths: if a PairLengths, each example's untruncated length is added to it,
      counted up to max(max_seq_length, count_limit) tokens of each sentence.
    count_limit: see pair_lengths; the records are the same whatever it is.
  """
  total = len(examples)
  chunks = [(start, min(start + CHUNK_SIZE, total)) for start in range(0, total, CHUNK_SIZE)]
  progress = _Progress(total, name, "converted" if serialize is not None else "counted")
  if num_workers is None:
    num_workers = default_num_workers()
  _worker_state.update(examples=examples, labels=labels, tokenizer=tokenizer,
                       max_seq_length=max_seq_length, label_feature=label_feature,
                       serialize=serialize, count_limit=count_limit)
  sink = _Sink(max_seq_length, lengths, pair_lengths)
  try:
    if num_workers <= 1 or total < MIN_EXAMPLES_FOR_WORKERS:
      yield from _emit(map(_convert_range, chunks), progress, sink)
    else:
      # fork: workers inherit the examples and the tokenizer (with its vocabulary), so
      # only chunk bounds go to them and only record bytes and lengths come back.
      pool = None
      try:
        with interruption.blocked():
          pool = multiprocessing.get_context("fork").Pool(
              num_workers, initializer=interruption.worker_setup)
        # A signal held back while forking is raised here, the pool already named.
        yield from _emit(pool.imap(_convert_range, chunks), progress, sink)
      finally:
        if pool is not None:
          pool.terminate()
          pool.join()
  finally:
    _worker_state.clear()


def count_pair_lengths(examples, *, tokenizer, max_seq_length, count_limit, num_workers=None,
                       name="pairs"):
  """The untruncated lengths of `examples` (a PairLengths), tokenizing without records."""
  pair_lengths = PairLengths()
  for _ in convert_examples(examples, None, tokenizer=tokenizer,
                            max_seq_length=max_seq_length, label_feature=None,
                            serialize=None, num_workers=num_workers, name=name,
                            pair_lengths=pair_lengths, count_limit=count_limit):
    pass
  return pair_lengths


class _Sink:
  """Where each chunk's lengths go: the list of kept lengths, the PairLengths, or neither."""

  def __init__(self, max_seq_length, lengths, pair_lengths):
    self.max_seq_length = max_seq_length
    self.lengths = lengths
    self.pair_lengths = pair_lengths

  def add(self, chunk_lengths, at_least):
    if self.lengths is not None:
      self.lengths.extend(np.clip(chunk_lengths, 0, self.max_seq_length).tolist())
    if self.pair_lengths is not None:
      self.pair_lengths.add(chunk_lengths, at_least)


def _emit(results, progress, sink):
  done = 0
  for serialized, chunk_lengths, at_least in results:
    sink.add(chunk_lengths, at_least)
    yield from serialized
    done += len(chunk_lengths)
    progress.update(done)
    interruption.raise_if_requested()  # a signal whose exception Python dropped
