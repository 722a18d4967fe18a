"""A faster FullTokenizer that gives exactly the tokens of tokenization.FullTokenizer.

Four shortcuts, each tested against the plain tokenizer (tests/test_tokenization.py,
tests/test_tokenizer_fuzz.py, tests/test_throughput_paths.py):
  - ASCII text is cleaned and split by two regular expressions instead of a pass of
    Python over each character and its Unicode category;
  - WordPiece remembers the pieces of words it has seen (text repeats its words);
  - a run of letters too long to be a word is shortened before tokenizing, since any
    such run becomes one [UNK] whatever its length;
  - `tokenize_prefix(text, n)` tokenizes only as much of a text as its first n tokens
    need, in pieces that end at word boundaries: a 10 MB line then costs what its first
    kilobytes cost.
"""

import re

import tokenization
from tokenization import CJK_RANGES

# ASCII text needs none of the Unicode tables: these two patterns give the same words.
_ASCII_DROPPED = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # ASCII control chars
_ASCII_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")

# The characters BasicTokenizer always separates words at: its whitespace (space, tab,
# newline, carriage return and the Unicode space separators, Zs) and CJK ideographs.
# Control characters that str.split() takes for whitespace (U+001C..U+001F, U+0085) are
# not among them: BasicTokenizer drops those, joining their neighbours.
_SPACE_SEPARATORS = "\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000"
_CJK_CLASS = "".join("%s-%s" % (chr(low), chr(high)) for low, high in CJK_RANGES)
_WORD_SEPARATOR = re.compile("[ \t\n\r%s%s]" % (_SPACE_SEPARATORS, _CJK_CLASS))
# The same, or an ASCII punctuation mark (a token of its own, whatever surrounds it).
_WORD_SEPARATOR_OR_PUNCTUATION = re.compile(
    "[ \t\n\r%s%s!-/:-@\\[-`{-~]" % (_SPACE_SEPARATORS, _CJK_CLASS))


def word_boundary_after(text, position, do_lower_case):
  """The first index >= position that ends a piece of `text` at a word boundary.

  That is just after a whitespace character, a CJK ideograph or an ASCII punctuation
  mark, where no word of the basic tokenizer continues; len(text) when there is none.
  FullTokenizer then gives text[:i] and text[i:] the tokens it gives text, in two parts.
  """
  if position >= len(text):
    return len(text)
  # Lower-casing a capital sigma looks past some punctuation (Unicode's Final_Sigma
  # rule: "Σ." before a letter is "σ.", before a space "ς."), so with one in a text that
  # is lower-cased, a piece may not end just after a punctuation mark.
  after_punctuation = not do_lower_case or "\u03a3" not in text
  separator = _WORD_SEPARATOR_OR_PUNCTUATION if after_punctuation else _WORD_SEPARATOR
  match = separator.search(text, max(position - 1, 0))
  return match.end() if match else len(text)


class FastBasicTokenizer(tokenization.BasicTokenizer):
  """BasicTokenizer with a regular-expression path for ASCII text."""

  def tokenize(self, text):
    text = tokenization.convert_to_unicode(text)
    if text.isascii():
      return self.tokenize_ascii(text)
    return super().tokenize(text)

  def tokenize_ascii(self, text):
    """The words BasicTokenizer.tokenize gives an ASCII text."""
    text = _ASCII_DROPPED.sub("", text)
    if self.do_lower_case:
      text = text.lower()  # ASCII has no accents to strip
    return _ASCII_PUNCTUATION.sub(r" \1 ", text).split()


class CachingWordpieceTokenizer(tokenization.WordpieceTokenizer):
  """WordpieceTokenizer that remembers the pieces of up to CACHE_SIZE words."""

  CACHE_SIZE = 200000

  def __init__(self, vocab, unk_token=tokenization.UNK_TOKEN, max_input_chars_per_word=200):
    super().__init__(vocab, unk_token, max_input_chars_per_word)
    self._cache = {}

  def tokenize_word(self, word):
    pieces = self._cache.get(word)
    if pieces is None:
      if len(self._cache) >= self.CACHE_SIZE:
        self._cache.clear()
      pieces = self._cache[word] = super().tokenize_word(word)
    return pieces


class FastFullTokenizer(tokenization.FullTokenizer):
  """FullTokenizer with the shortcuts of the module docstring; the same tokens."""

  # A text read for its first max_tokens tokens is read in pieces of at least this
  # many characters, doubling until enough tokens are found.
  MIN_PIECE_CHARS = 1024

  def __init__(self, vocab_file, do_lower_case=True):
    super().__init__(vocab_file, do_lower_case)
    self.basic_tokenizer = FastBasicTokenizer(do_lower_case=do_lower_case)
    self.wordpiece_tokenizer = CachingWordpieceTokenizer(vocab=self.vocab)
    # More letters and digits in a row than a word may have: whatever they are, the
    # word holding them becomes one [UNK]. None of these characters is whitespace,
    # punctuation, a control character or a CJK ideograph (tests check every one), so
    # the run stays inside its word whatever replaces it, and a run just over the
    # limit gives the same [UNK] without a pass of Python over each character.
    limit = self.wordpiece_tokenizer.max_input_chars_per_word + 1
    self.letter_run = re.compile("[^\\W_%s]{%d,}" % (_CJK_CLASS, limit))
    self._short_run = "a" * limit

  def tokenize(self, text):
    text = self.letter_run.sub(self._short_run, tokenization.convert_to_unicode(text))
    tokenize_word = self.wordpiece_tokenizer.tokenize_word
    output = []
    for word in self.basic_tokenizer.tokenize(text):
      output.extend(tokenize_word(word))
    return output

  def tokenize_prefix(self, text, max_tokens):
    """The first max_tokens tokens of the whole text's, reading no more than they need.

    Pieces end at word boundaries (see word_boundary_after), so the tokens are those of
    the whole text.
    """
    text = tokenization.convert_to_unicode(text)
    tokens = []
    start, size = 0, max(4 * max_tokens, self.MIN_PIECE_CHARS)
    while start < len(text) and len(tokens) < max_tokens:
      end = word_boundary_after(text, start + size, self.do_lower_case)
      tokens.extend(self.tokenize(text[start:end]))
      start, size = end, size * 2
    return tokens[:max_tokens]
