"""InputExample -> InputFeatures: token ids, mask and segment ids in BERT's pair layout.

Layout: `[CLS] a [SEP] b [SEP]`, segment 0 for `[CLS] a [SEP]` and 1 for `b [SEP]`,
zero-padded to max_seq_length with input_mask 0. A single sentence is `[CLS] a [SEP]`.
Training, prediction and predict.py all lay pairs out through `pair_token_ids`.
"""


class InputFeatures:
  """The numbers one example becomes.

  Attributes:
    input_ids, input_mask, segment_ids: lists of max_seq_length ints.
    label: int class id (classification) or float target (regression).
    is_real_example: False for the fake examples that pad a batch on TPU.
  """

  def __init__(self, input_ids, input_mask, segment_ids, label, is_real_example=True):
    self.input_ids = input_ids
    self.input_mask = input_mask
    self.segment_ids = segment_ids
    self.label = label
    self.is_real_example = is_real_example

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


def pair_token_ids(text_a, text_b, tokenizer, max_seq_length):
  """Tokenizes and lays out a pair; returns (input_ids, input_mask, segment_ids), padded.

  No more than max_seq_length tokens of either sentence can be kept (truncation pops
  from the longer one until the pair fits), so no more are made: with a tokenizer whose
  tokenize_prefix reads only what it needs, a 10 MB sentence costs what a short one
  costs.

  Args:
    text_a: the first sentence; text_b: the second, or None for a single sentence.
    max_seq_length: the length of each returned list.
  """
  tokens_a = tokenizer.tokenize_prefix(text_a, max_seq_length)
  tokens_b = None if text_b is None else tokenizer.tokenize_prefix(text_b, max_seq_length)
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


def convert_single_example(example, label, max_seq_length, tokenizer):
  """Converts one InputExample (or PaddingInputExample) into InputFeatures.

  Args:
    label: the example's label as the record stores it (the task's encode_label).
  """
  if isinstance(example, PaddingInputExample):
    zeros = [0] * max_seq_length
    return InputFeatures(zeros, list(zeros), list(zeros), label, is_real_example=False)
  input_ids, input_mask, segment_ids = pair_token_ids(example.text_a, example.text_b,
                                                      tokenizer, max_seq_length)
  return InputFeatures(input_ids, input_mask, segment_ids, label)
