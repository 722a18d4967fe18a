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
"""WordPiece tokenization exactly as Google's BERT checkpoints expect it.

`FullTokenizer` = `BasicTokenizer` (clean, split CJK ideographs, whitespace and
punctuation, optional lower-casing with accent stripping) then `WordpieceTokenizer`
(greedy longest-match-first sub-words, "##" for continuations).
"""

import collections
import re
import unicodedata

from common import files

# Special tokens a BERT vocabulary must hold for sentence-pair features.
UNK_TOKEN = "[UNK]"
CLS_TOKEN = "[CLS]"
SEP_TOKEN = "[SEP]"
REQUIRED_TOKENS = (UNK_TOKEN, CLS_TOKEN, SEP_TOKEN)

# Google's published checkpoint folders, and the casing each was trained with.
_UNCASED_CHECKPOINTS = ("uncased_L-24_H-1024_A-16", "uncased_L-12_H-768_A-12",
                        "multilingual_L-12_H-768_A-12", "chinese_L-12_H-768_A-12")
_CASED_CHECKPOINTS = ("cased_L-12_H-768_A-12", "cased_L-24_H-1024_A-16",
                      "multi_cased_L-12_H-768_A-12")


def validate_case_matches_checkpoint(do_lower_case, init_checkpoint):
  """Raises ValueError when `do_lower_case` contradicts a known checkpoint's casing.

  Only Google's published checkpoint names are known; any other path passes.
  """
  if not init_checkpoint:
    return
  match = re.match(r"^.*?([A-Za-z0-9_-]+)/bert_model\.ckpt", init_checkpoint)
  if match is None:
    return
  model_name = match.group(1)
  if model_name in _UNCASED_CHECKPOINTS and not do_lower_case:
    actual_flag, actual_case, opposite_flag = "False", "uncased", "True"
  elif model_name in _CASED_CHECKPOINTS and do_lower_case:
    actual_flag, actual_case, opposite_flag = "True", "cased", "False"
  else:
    return
  raise ValueError(
      "--do_lower_case=%s does not fit %s: that checkpoint is %s. Set "
      "--do_lower_case=%s." % (actual_flag, init_checkpoint, actual_case, opposite_flag))


def convert_to_unicode(text):
  """Returns `text` as str, decoding UTF-8 bytes (invalid bytes are dropped)."""
  if isinstance(text, str):
    return text
  if isinstance(text, bytes):
    return text.decode("utf-8", "ignore")
  raise ValueError("unsupported string type: %s" % type(text))


def printable_text(text):
  """Returns `text` as str, for printing and logging."""
  return convert_to_unicode(text)


class VocabError(ValueError):
  """A vocabulary file that cannot serve as a BERT vocabulary."""


def load_vocab(vocab_file):
  """Reads a vocabulary: one token per line, id = line number.

  Lines are split on "\\n" only: some vocabularies hold characters (U+2028, U+0085,
  ...) that `str.splitlines()` treats as line breaks, which would shift every id after
  them. A "\\r" before the "\\n" is dropped. When a token appears twice, its last id
  wins, as it did when Google's checkpoints were pre-trained.

  Returns:
    OrderedDict token -> id.
  """
  data = files.read_bytes(vocab_file)  # a local path or gs://
  try:
    text = data.decode("utf-8")
  except UnicodeDecodeError as e:
    line = data[:e.start].count(b"\n") + 1
    raise VocabError("%s:%d: not UTF-8 (%s); expected a UTF-8 vocabulary, one token per "
                     "line" % (vocab_file, line, e.reason)) from None
  lines = text.split("\n")
  if lines and lines[-1] == "":
    lines.pop()  # the newline that ends the last line
  vocab = collections.OrderedDict()
  for index, line in enumerate(lines):
    token = line[:-1] if line.endswith("\r") else line
    vocab[token] = index
  return vocab


def convert_by_vocab(vocab, items):
  """Maps each item through `vocab` (tokens -> ids or ids -> tokens)."""
  return [vocab[item] for item in items]


def convert_tokens_to_ids(vocab, tokens):
  return convert_by_vocab(vocab, tokens)


def convert_ids_to_tokens(inv_vocab, ids):
  return convert_by_vocab(inv_vocab, ids)


def whitespace_tokenize(text):
  """Strips and splits on whitespace."""
  return text.split()


class FullTokenizer:
  """Basic tokenization followed by WordPiece: Google's tokenizer, the reference.

  Attributes:
    vocab: OrderedDict token -> id.
    inv_vocab: dict id -> token.
    vocab_size: number of lines in the vocabulary file (max id + 1).

  tokenization_fast.FastFullTokenizer gives the same tokens sooner; the pipeline uses
  it, and tests compare the two.
  """

  def __init__(self, vocab_file, do_lower_case=True):
    self.vocab_file = vocab_file
    self.do_lower_case = do_lower_case
    self.vocab = load_vocab(vocab_file)
    missing = [token for token in REQUIRED_TOKENS if token not in self.vocab]
    if missing:
      raise VocabError("%s: missing %s; expected a BERT vocabulary with %s" %
                       (vocab_file, ", ".join(missing), ", ".join(REQUIRED_TOKENS)))
    self.inv_vocab = {token_id: token for token, token_id in self.vocab.items()}
    self.vocab_size = max(self.vocab.values()) + 1
    self.basic_tokenizer = BasicTokenizer(do_lower_case=do_lower_case)
    self.wordpiece_tokenizer = WordpieceTokenizer(vocab=self.vocab)

  def tokenize(self, text):
    """str -> list of WordPiece tokens."""
    split_tokens = []
    for token in self.basic_tokenizer.tokenize(text):
      split_tokens.extend(self.wordpiece_tokenizer.tokenize(token))
    return split_tokens

  def tokenize_prefix(self, text, max_tokens):
    """The first `max_tokens` tokens of `text` (here: all of them, then cut)."""
    return self.tokenize(text)[:max_tokens]

  def convert_tokens_to_ids(self, tokens):
    return convert_by_vocab(self.vocab, tokens)

  def convert_ids_to_tokens(self, ids):
    return convert_by_vocab(self.inv_vocab, ids)


class BasicTokenizer:
  """Cleans text and splits it into words and punctuation, lower-casing if asked."""

  def __init__(self, do_lower_case=True):
    self.do_lower_case = do_lower_case

  def tokenize(self, text):
    """str -> list of words and punctuation marks."""
    text = self._clean_text(convert_to_unicode(text))
    text = self._tokenize_chinese_chars(text)
    output = []
    for token in whitespace_tokenize(text):
      if self.do_lower_case:
        token = self._strip_accents(token.lower())
      output.extend(self._split_on_punctuation(token))
    return whitespace_tokenize(" ".join(output))

  @staticmethod
  def _strip_accents(text):
    """Decomposes (NFD) and drops combining marks: "café" -> "cafe"."""
    return "".join(char for char in unicodedata.normalize("NFD", text)
                   if unicodedata.category(char) != "Mn")

  @staticmethod
  def _split_on_punctuation(text):
    """Makes each punctuation character a token of its own: "a,b" -> ["a", ",", "b"]."""
    pieces, word = [], []
    for char in text:
      if _is_punctuation(char):
        if word:
          pieces.append("".join(word))
          word = []
        pieces.append(char)
      else:
        word.append(char)  # a list: growing a str in a list is quadratic on long words
    if word:
      pieces.append("".join(word))
    return pieces

  @staticmethod
  def _tokenize_chinese_chars(text):
    """Surrounds every CJK ideograph with spaces, so that each is a word."""
    return "".join(" %s " % char if _is_chinese_char(ord(char)) else char for char in text)

  @staticmethod
  def _clean_text(text):
    """Drops NUL, U+FFFD and control characters; maps every whitespace char to a space."""
    output = []
    for char in text:
      code = ord(char)
      if code == 0 or code == 0xFFFD or _is_control(char):
        continue
      output.append(" " if _is_whitespace(char) else char)
    return "".join(output)


class WordpieceTokenizer:
  """Greedy longest-match-first sub-word tokenization against a vocabulary."""

  def __init__(self, vocab, unk_token=UNK_TOKEN, max_input_chars_per_word=200):
    self.vocab = vocab
    self.unk_token = unk_token
    self.max_input_chars_per_word = max_input_chars_per_word

  def tokenize(self, text):
    """Splits whitespace-separated words into WordPieces.

    "unaffable" -> ["un", "##aff", "##able"]. A word longer than
    `max_input_chars_per_word`, or one with any part not in the vocabulary, is one
    `unk_token`.
    """
    output = []
    for word in whitespace_tokenize(convert_to_unicode(text)):
      output.extend(self.tokenize_word(word))
    return output

  def tokenize_word(self, word):
    """One word (no whitespace) -> its WordPieces."""
    if len(word) > self.max_input_chars_per_word:
      return [self.unk_token]
    pieces = []
    start = 0
    while start < len(word):
      end = len(word)
      piece = None
      while start < end:
        candidate = word[start:end] if start == 0 else "##" + word[start:end]
        if candidate in self.vocab:
          piece = candidate
          break
        end -= 1
      if piece is None:
        return [self.unk_token]
      pieces.append(piece)
      start = end
    return pieces


# --------------------------------------------------------------------------------------
# Character classes
# --------------------------------------------------------------------------------------

# The CJK ideograph blocks BasicTokenizer makes one word of each character of.
CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
              (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


def _is_chinese_char(code):
  """True for a CJK Unified Ideograph (not Japanese kana or Korean hangul)."""
  return any(low <= code <= high for low, high in CJK_RANGES)


def _is_whitespace(char):
  """Space, tab, newline, carriage return, or any Unicode space separator (Zs)."""
  return char in " \t\n\r" or unicodedata.category(char) == "Zs"


def _is_control(char):
  """A Unicode "other" (C*) character, except tab, newline and carriage return."""
  if char in "\t\n\r":
    return False
  return unicodedata.category(char).startswith("C")


def _is_punctuation(char):
  """Any ASCII non-letter non-digit printable symbol, or a Unicode punctuation (P*)."""
  code = ord(char)
  if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
    return True
  return unicodedata.category(char).startswith("P")
