# Copyright 2018 The Google AI Language Team Authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
#
# Changed from Google's BERT (github.com/google-research/bert) by this project: what
# differs and why is in docs/differences.md.
"""InputExample -> InputFeatures: token ids, mask and segment ids in BERT's pair layout.

Layout: `[CLS] a [SEP] b [SEP]`, segment 0 for `[CLS] a [SEP]` and 1 for `b [SEP]`,
zero-padded to max_seq_length with input_mask 0. A single sentence is `[CLS] a [SEP]`.
Training, prediction and predict.py all lay pairs out through `pair_token_ids` (or its
two halves, tokenize_pair and lay_out_pair, where the untruncated length is wanted too).
"""


class InputFeatures:
  """The numbers one example becomes.

  Attributes:
    input_ids, input_mask, segment_ids: lists of max_seq_length ints.
    label: int class id (classification) or float target (regression).
    is_real_example: False for the fake examples that pad a batch on TPU.
    pair_length: tokens of the pair before truncation ([CLS] and [SEP] included), set
      by convert_single_example for real examples; pair_length_is_lower_bound: True
      when a sentence was long enough that it holds at least that many.
    teacher_score: a teacher's float score of the pair (distillation), or None: the
      record then has no such feature (record_format.py).
  """

  def __init__(self, input_ids, input_mask, segment_ids, label, is_real_example=True):
    self.input_ids = input_ids
    self.input_mask = input_mask
    self.segment_ids = segment_ids
    self.label = label
    self.is_real_example = is_real_example
    self.teacher_score = None

  @property
  def length(self):
    """Number of real tokens."""
    return sum(self.input_mask)


class PaddingInputExample:
  """A fake example that fills the last batch on TPU, where every batch has one size.

  It becomes all-zero features with is_real_example=False, which every metric and
  output writer leaves out.
  """


def truncate_seq_pair(tokens_a, tokens_b, max_length):
  """Pops tokens, one at a time from the longer list, until both fit `max_length` (in place)."""
  while len(tokens_a) + len(tokens_b) > max_length:
    if len(tokens_a) > len(tokens_b):
      tokens_a.pop()
    else:
      tokens_b.pop()


def tokenize_pair(text_a, text_b, tokenizer, limit):
  """The tokens of each sentence, at most `limit` of each, reading no more than they need.

  With a tokenizer whose tokenize_prefix reads only what it needs, a 10 MB sentence
  costs what a short one costs. Returns (tokens_a, tokens_b or None).
  """
  tokens_a = tokenizer.tokenize_prefix(text_a, limit)
  tokens_b = None if text_b is None else tokenizer.tokenize_prefix(text_b, limit)
  return tokens_a, tokens_b


def untruncated_length(tokens_a, tokens_b, limit):
  """(tokens of `[CLS] a [SEP] b [SEP]` before truncation, True when that is a lower bound).

  tokens_a, tokens_b: as tokenize_pair(..., limit) gave them; a sentence with `limit`
  tokens may have more, so the length is then at least the figure returned.
  """
  if tokens_b is None:
    return len(tokens_a) + 2, len(tokens_a) >= limit
  return (len(tokens_a) + len(tokens_b) + 3,
          len(tokens_a) >= limit or len(tokens_b) >= limit)


def lay_out_pair(tokens_a, tokens_b, tokenizer, max_seq_length):
  """Truncates and lays out a tokenized pair; returns (input_ids, input_mask, segment_ids).

  Truncation pops from the longer sentence until the pair fits, so it keeps the same
  tokens whether a sentence came with max_seq_length tokens or more. The lists are
  changed in place.
  """
  if tokens_b is not None:
    truncate_seq_pair(tokens_a, tokens_b, max_seq_length - 3)
  else:
    del tokens_a[max_seq_length - 2:]
  tokens = ["[CLS]"] + tokens_a + ["[SEP]"]
  segment_ids = [0] * len(tokens)
  if tokens_b is not None:
    tokens += tokens_b + ["[SEP]"]
    segment_ids += [1] * (len(tokens_b) + 1)
  input_ids = tokenizer.convert_tokens_to_ids(tokens)
  padding = max_seq_length - len(input_ids)
  return (input_ids + [0] * padding, [1] * len(input_ids) + [0] * padding,
          segment_ids + [0] * padding)


def pair_token_ids(text_a, text_b, tokenizer, max_seq_length):
  """Tokenizes and lays out a pair; returns (input_ids, input_mask, segment_ids), padded.

  No more than max_seq_length tokens of either sentence can be kept (truncation pops
  from the longer one until the pair fits), so no more are made (tokenize_pair).

  Args:
    text_a: the first sentence; text_b: the second, or None for a single sentence.
    max_seq_length: the length of each returned list.
  """
  tokens_a, tokens_b = tokenize_pair(text_a, text_b, tokenizer, max_seq_length)
  return lay_out_pair(tokens_a, tokens_b, tokenizer, max_seq_length)


def convert_single_example(example, label, max_seq_length, tokenizer, count_limit=0):
  """Converts one InputExample (or PaddingInputExample) into InputFeatures.

  Args:
    label: the example's label as the record stores it (the task's encode_label).
    count_limit: each sentence is tokenized up to max(max_seq_length, count_limit)
      tokens, so that the pair's untruncated length (`pair_length`, exact below that
      limit) is known for the data report; the features are the same whatever it is.
  """
  if isinstance(example, PaddingInputExample):
    zeros = [0] * max_seq_length
    return InputFeatures(zeros, list(zeros), list(zeros), label, is_real_example=False)
  limit = max(max_seq_length, count_limit)
  tokens_a, tokens_b = tokenize_pair(example.text_a, example.text_b, tokenizer, limit)
  pair_length, at_least = untruncated_length(tokens_a, tokens_b, limit)
  feature = InputFeatures(*lay_out_pair(tokens_a, tokens_b, tokenizer, max_seq_length), label)
  feature.pair_length = pair_length
  feature.pair_length_is_lower_bound = at_least
  feature.teacher_score = getattr(example, "teacher_score", None)
  return feature
