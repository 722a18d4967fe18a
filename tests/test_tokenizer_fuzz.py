"""FullTokenizer on arbitrary Unicode: never raises, never leaves the vocabulary, and the
features it gives always fit max_seq_length in BERT's pair layout.

The fast path (ASCII shortcut, word cache, reading long texts only as far as needed,
shortened letter runs) must give exactly what the plain path gives.
"""

import os
import sys
import unicodedata

from hypothesis import given
from hypothesis import HealthCheck
from hypothesis import settings
from hypothesis import strategies as st
import pytest

from finetune.data import features as features_lib
from helpers import CHINESE_VOCAB
from helpers import TINY_VOCAB
from processors import InputExample
import tokenization
import tokenization_fast

# In the suite the examples are the same on every run (drawn from each test's name, no
# example database), so that it passes or fails by the code. HYPOTHESIS_PROFILE=explore
# draws new and many more examples on each run, to look for what the fixed ones miss:
#   HYPOTHESIS_PROFILE=explore .venv/bin/python -m pytest tests/test_tokenizer_fuzz.py
settings.register_profile("suite", max_examples=120, derandomize=True, database=None,
                          deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("explore", max_examples=2000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
FUZZ = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "suite"))

# Pieces that make tokenizers trip: CJK (BMP and beyond), combining marks, emoji with
# joiners and modifiers, every kind of space and line break, control characters, the
# Greek capital sigma (its lower case depends on what follows), vocabulary words.
SPECIAL = st.sampled_from(
    list("支付宝怎么充值微信𠀀𪜀丽") + ["\u0301", "\u0300\u0327", "\u20dd", "\u0903"] +
    ["😀", "👨\u200d👩\u200d👧", "👍🏽", "❤️", "\ufe0f"] +
    [" ", "\t", "\n", "\r", "\r\n", "\u3000", "\xa0", "\u2028", "\u2029", "\x85", "\x1c",
     "\x1f", "\x0b", "\x0c", "\u200b", "\ufeff", "\u180e", "\u2003"] +
    ["\x00", "\x07", "\x7f", "\ufffd", "\ue000", "\U000f0000"] +
    ["Σ", "ΑΣ", "ς", "İ", "ß", "ǅ", "ﬁ", "Ⅻ", "①", "½", "٣"] +
    ["the", "man", "playing", "unaffable", "wanted", "HOW", "Café", "naïve", "[SEP]",
     "[UNK]", "##ing", "...", "«»", "_", "$5", "don't"])
# More letters in a row than a word may have, with neighbours: the [UNK] shortcut.
LONG_RUN = st.builds(lambda letter, count: letter * count,
                     st.sampled_from(["a", "é", "Ж", "ᄀ", "٣", "Σ", "ǅ"]),
                     st.integers(190, 420))
ANY_CHAR_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=80)
TEXT = st.one_of(
    ANY_CHAR_TEXT,
    st.lists(st.one_of(SPECIAL, ANY_CHAR_TEXT, LONG_RUN), max_size=12).map("".join))

VOCABS = {"chinese": CHINESE_VOCAB}  # and "tiny", written by the tiny_vocab fixture
_tokenizers = {}


def tokenizer(vocab, lower, fast=True):
  """Tokenizers (the fast one, or Google's plain one), made once per vocabulary and case."""
  key = (vocab, lower, fast)
  if key not in _tokenizers:
    tokenizer_class = tokenization_fast.FastFullTokenizer if fast else tokenization.FullTokenizer
    _tokenizers[key] = tokenizer_class(VOCABS[vocab], lower)
  return _tokenizers[key]


@pytest.fixture(scope="module", autouse=True)
def tiny_vocab(tmp_path_factory):
  path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
  path.write_text("\n".join(TINY_VOCAB) + "\n", encoding="utf-8")
  VOCABS["tiny"] = str(path)


@pytest.fixture(autouse=True)
def small_pieces(monkeypatch):
  # With pieces of a few characters, the fuzzed texts are read in many pieces.
  monkeypatch.setattr(tokenization_fast.FastFullTokenizer, "MIN_PIECE_CHARS", 1)


VOCAB_AND_CASE = st.tuples(st.sampled_from(["tiny", "chinese"]), st.booleans())


@FUZZ
@given(text=TEXT, vocab_and_case=VOCAB_AND_CASE)
def test_tokens_are_in_the_vocabulary_and_fast_equals_plain(text, vocab_and_case):
  fast = tokenizer(*vocab_and_case)
  tokens = fast.tokenize(text)
  assert tokens == tokenizer(*vocab_and_case, fast=False).tokenize(text)
  outside = [token for token in tokens if token not in fast.vocab]
  assert not outside  # [UNK] stands for whatever the vocabulary lacks
  ids = fast.convert_tokens_to_ids(tokens)
  assert all(0 <= token_id < fast.vocab_size for token_id in ids)
  assert all(token for token in tokens)


@FUZZ
@given(text=TEXT, vocab_and_case=VOCAB_AND_CASE, max_tokens=st.integers(1, 12))
def test_first_tokens_of_a_text_read_in_pieces_are_its_first_tokens(text, vocab_and_case,
                                                                    max_tokens):
  whole = tokenizer(*vocab_and_case, fast=False).tokenize(text)
  assert tokenizer(*vocab_and_case).tokenize_prefix(text, max_tokens) == whole[:max_tokens]


@FUZZ
@given(text_a=TEXT, text_b=st.one_of(st.none(), TEXT), vocab_and_case=VOCAB_AND_CASE,
       max_seq_length=st.integers(3, 24))
def test_features_fit_max_seq_length_in_the_pair_layout(text_a, text_b, vocab_and_case,
                                                        max_seq_length):
  fast = tokenizer(*vocab_and_case)
  example = InputExample("fuzz-1", text_a, text_b, 0.5, path="fuzz", line=1)
  feature = features_lib.convert_single_example(example, 0.5, max_seq_length, fast)
  plain = features_lib.convert_single_example(example, 0.5, max_seq_length,
                                              tokenizer(*vocab_and_case, fast=False))
  assert (feature.input_ids, feature.input_mask, feature.segment_ids) == (
      plain.input_ids, plain.input_mask, plain.segment_ids)

  ids, mask, segments = feature.input_ids, feature.input_mask, feature.segment_ids
  assert len(ids) == len(mask) == len(segments) == max_seq_length
  length = sum(mask)
  assert mask == [1] * length + [0] * (max_seq_length - length)
  assert ids[length:] == [0] * (max_seq_length - length)
  assert segments[length:] == [0] * (max_seq_length - length)
  assert all(0 <= token_id < fast.vocab_size for token_id in ids)
  cls_id, sep_id = fast.vocab["[CLS]"], fast.vocab["[SEP]"]
  assert ids[0] == cls_id and ids[length - 1] == sep_id
  separators = [i for i in range(length) if ids[i] == sep_id]
  if text_b is None:
    assert separators == [length - 1] and segments[:length] == [0] * length
  else:
    first_sep = separators[0]
    assert separators == [first_sep, length - 1]
    assert segments[:length] == [0] * (first_sep + 1) + [1] * (length - first_sep - 1)


@FUZZ
@given(text=TEXT, vocab_and_case=VOCAB_AND_CASE, position=st.integers(0, 120))
def test_a_text_cut_at_a_word_boundary_gives_the_same_tokens(text, vocab_and_case,
                                                             position):
  plain = tokenizer(*vocab_and_case, fast=False)
  cut = tokenization_fast.word_boundary_after(text, position, plain.do_lower_case)
  assert plain.tokenize(text[:cut]) + plain.tokenize(text[cut:]) == plain.tokenize(text)


def test_the_word_boundaries_are_spaces_cjk_and_ascii_punctuation():
  def boundary_after(char, do_lower_case=True):
    return tokenization_fast.word_boundary_after("x" + char + "y", 1, do_lower_case) == 2

  spaces = {chr(code) for code in range(sys.maxunicode + 1)
            if unicodedata.category(chr(code)) == "Zs"}  # of this Python's Unicode
  ascii_punctuation = {chr(code) for code in range(128)
                       if tokenization._is_punctuation(chr(code))}
  candidates = spaces | ascii_punctuation | set(" \t\n\r\x1c\x1f\x85\u2028\u200b。，")
  assert {char for char in candidates if boundary_after(char)} == (
      spaces | ascii_punctuation | set(" \t\n\r"))
  assert boundary_after("支") and not boundary_after("ア")
  # A capital sigma: lower-cased, no piece ends after punctuation; cased, it may.
  assert tokenization_fast.word_boundary_after("Σ.Β", 1, True) == 3
  assert tokenization_fast.word_boundary_after("Σ.Β", 1, False) == 2


def test_a_capital_sigma_before_punctuation_is_lowered_as_in_the_whole_text(tmp_path):
  vocab = tmp_path / "vocab.txt"
  vocab.write_text("\n".join(["[UNK]", "[CLS]", "[SEP]", ".", "'", ":", "α", "β", "σ",
                               "##σ", "ς", "##ς", "ο", "##ο", "##δ", "ε", "##ν", "##α"]),
                   encoding="utf-8")
  plain = tokenization.FullTokenizer(str(vocab), True)
  text = "ΑΣ.Β ΟΔΟΣ'ΕΝΑ ΟΣ:"  # final or not depends on what follows the mark
  assert plain.tokenize(text) == ["α", "##σ", ".", "β", "ο", "##δ", "##ο", "##σ", "'", "ε",
                                  "##ν", "##α", "ο", "##ς", ":"]
  # Why: cut after the full stop, the sigma would be lowered as a final one.
  assert plain.tokenize("ΑΣ.") + plain.tokenize("Β") != plain.tokenize("ΑΣ.Β")
  boundaries = [cut for cut in range(len(text) + 1)
                if tokenization_fast.word_boundary_after(text, cut, True) == cut]
  assert boundaries == [5, 14, 17]  # after each space, and the end: never after a mark
  for cut in boundaries:
    assert plain.tokenize(text[:cut]) + plain.tokenize(text[cut:]) == plain.tokenize(text)


def test_letter_runs_hold_no_character_that_could_end_a_word():
  """Every character the [UNK] shortcut may replace stays inside its word."""
  run = tokenizer("chinese", True).letter_run
  strip = tokenization.BasicTokenizer._strip_accents
  wrong = []
  for code in range(sys.maxunicode + 1):
    char = chr(code)
    if 0xD800 <= code <= 0xDFFF or not run.fullmatch(char * 201):
      continue
    lowered = strip(char.lower())
    if (not lowered or code in (0, 0xFFFD) or tokenization._is_chinese_char(code) or
        any(tokenization._is_punctuation(c) or tokenization._is_control(c) or
            tokenization._is_whitespace(c) or c.isspace() for c in char + lowered)):
      wrong.append(hex(code))
  assert not wrong


@pytest.mark.parametrize("kind", ["chinese", "english", "ascii_one_word",
                                  "accented_one_word", "punctuation"])
def test_a_10_mb_sentence_is_read_only_as_far_as_its_tokens_need(kind, monkeypatch):
  """The fast tokenizer reads a few kilobytes of a 10 MB sentence, not all of it.

  Counted in characters handed to the tokenizer, not in seconds (bench/conversion.py
  --long_line times it).
  """
  monkeypatch.setattr(tokenization_fast.FastFullTokenizer, "MIN_PIECE_CHARS", 1024)
  size = 10 * 1000 * 1000
  unit = {"chinese": "支付宝怎么充值，微信怎么充值？", "english": "How do I pay with it? ",
          "ascii_one_word": "a", "accented_one_word": "é", "punctuation": "a,"}[kind]
  text = unit * (size // len(unit.encode("utf-8")))
  fast = tokenization_fast.FastFullTokenizer(CHINESE_VOCAB, True)
  read = []
  whole_text_tokenize = fast.tokenize
  monkeypatch.setattr(fast, "tokenize", lambda piece: read.append(len(piece)) or
                      whole_text_tokenize(piece))
  example = InputExample("long-1", text, "微信怎么充值", 0.5, path="long", line=1)
  feature = features_lib.convert_single_example(example, 0.5, 128, fast)
  assert len(feature.input_ids) == 128
  if kind in ("ascii_one_word", "accented_one_word"):
    # One word of 5-10 M letters has no boundary to stop at: it is one [UNK], found by
    # the letter-run shortcut in one regular-expression pass instead of a Python loop.
    assert feature.length == 1 + 1 + 1 + 6 + 1  # [CLS] [UNK] [SEP] 微信怎么充值 [SEP]
  else:
    assert feature.length == 128
    assert sum(read) < 20000, (kind, read)  # of 3-10 million characters
