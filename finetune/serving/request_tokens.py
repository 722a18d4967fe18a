"""A request's pairs as token ids, cut the way the request asks.

Training and predict.py cut a pair longer than the model's max_seq_length by Google's rule
(tokens popped from the end of the longer sentence until it fits) without a word. A
client of a server may ask otherwise, as the APIs it speaks let it:
  - not at all (`truncate: false`): a pair too long is an error naming it (TooLong);
  - its document to at most N tokens first (Cohere's `max_tokens_per_doc`);
  - from the left (TEI's `truncation_direction: "left"`): tokens popped from the start
    of the longer sentence instead, keeping the ends of long texts.
Every pair that lost a token is counted, so that the answer can say how many were cut.

Shapes: each pair is (token ids, segment ids), int32 [L], L its real length (no padding).
"""

import dataclasses
from typing import Optional

import numpy as np

from finetune.data.features import lay_out_pair
from finetune.data.features import tokenize_pair

RIGHT, LEFT = "right", "left"


@dataclasses.dataclass(frozen=True)
class Truncation:
  """How a request's pairs may be cut to fit the model."""
  allowed: bool = True  # False: a pair over max_seq_length is refused (TooLong)
  max_tokens_b: Optional[int] = None  # the second text (the document) cut to this first
  direction: str = RIGHT  # the end a text loses tokens from


DEFAULT = Truncation()


class TooLong(Exception):
  """A pair over the model's length when truncation is not allowed."""

  def __init__(self, index, tokens, max_seq_length, at_least):
    super().__init__(index, tokens, max_seq_length)
    self.index, self.tokens, self.max_seq_length = index, tokens, max_seq_length
    self.at_least = at_least  # the texts were read only up to max_seq_length tokens each

  def describe(self):
    return "%s%d tokens, over the model's max_seq_length=%d" % (
        "at least " if self.at_least else "", self.tokens, self.max_seq_length)


@dataclasses.dataclass
class LaidOut:
  """A request's pairs as the batcher takes them."""
  ids: list  # int32 [L_i] per pair
  segments: list  # int32 [L_i] per pair
  cut: list  # indices of the pairs that lost tokens
  tokens: int  # real tokens over all pairs (after cutting)


def _cut_pair(tokens_a, tokens_b, budget, direction):
  """Pops tokens from the longer list until both fit `budget` (in place)."""
  end = -1 if direction == RIGHT else 0
  while len(tokens_a) + len(tokens_b) > budget:
    (tokens_a if len(tokens_a) > len(tokens_b) else tokens_b).pop(end)


def lay_out(pairs, tokenizer, max_seq_length, truncation=DEFAULT):
  """[(text_a, text_b)] -> LaidOut, each pair laid out as in training unless told otherwise.

  With the default Truncation the ids are those of features.pair_token_ids (Google's
  rule); a pair counts as cut when its two texts held more than max_seq_length - 3
  tokens (or its document more than max_tokens_b). Raises TooLong on the first pair
  too long when truncation is not allowed.
  """
  limit = max_seq_length
  if truncation.direction == LEFT:
    limit = None  # the start of a text can only be dropped once its end is known
  ids, segments, cut, total = [], [], [], 0
  for index, (text_a, text_b) in enumerate(pairs):
    if limit is None:
      tokens_a, tokens_b = tokenizer.tokenize(text_a), tokenizer.tokenize(text_b)
    else:
      tokens_a, tokens_b = tokenize_pair(text_a, text_b, tokenizer, limit)
    was_cut = False
    if truncation.max_tokens_b is not None and len(tokens_b) > truncation.max_tokens_b:
      if truncation.direction == RIGHT:
        del tokens_b[truncation.max_tokens_b:]
      else:
        del tokens_b[:len(tokens_b) - truncation.max_tokens_b]
      was_cut = True
    length = len(tokens_a) + len(tokens_b) + 3
    if length > max_seq_length:
      if not truncation.allowed:
        raise TooLong(index, length, max_seq_length, limit is not None and max(
            len(tokens_a), len(tokens_b)) >= limit)
      _cut_pair(tokens_a, tokens_b, max_seq_length - 3, truncation.direction)
      was_cut = True
    input_ids, _, segment_ids = lay_out_pair(tokens_a, tokens_b, tokenizer, max_seq_length)
    real = len(tokens_a) + len(tokens_b) + 3
    ids.append(np.asarray(input_ids[:real], np.int32))
    segments.append(np.asarray(segment_ids[:real], np.int32))
    total += real
    if was_cut:
      cut.append(index)
  return LaidOut(ids, segments, cut, total)
