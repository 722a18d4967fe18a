"""FullTokenizer: the rules of Google's tokenizer, and parity with the `tokenizers` library."""

import os

import pytest
from tokenizers import BertWordPieceTokenizer
from tokenizers.models import WordPiece

from helpers import CHINESE_VOCAB
from helpers import HARD_TEXTS
from helpers import stsb_sentences
import tokenization
import tokenization_fast


def test_basic_tokenizer_rules():
  basic = tokenization.BasicTokenizer(do_lower_case=True)
  assert basic.tokenize(" \tHeLLo!how  \n Are yoU?  ") == ["hello", "!", "how", "are", "you", "?"]
  assert basic.tokenize("Café naïve") == ["cafe", "naive"]
  assert basic.tokenize("支付宝ab怎么") == ["支", "付", "宝", "ab", "怎", "么"]
  assert basic.tokenize("a\x00b\ufffdc\x07d") == ["abcd"]  # dropped, not split
  assert basic.tokenize("a\u3000b") == ["a", "b"]  # ideographic space is a space
  assert basic.tokenize("x$y«z»") == ["x", "$", "y", "«", "z", "»"]
  cased = tokenization.BasicTokenizer(do_lower_case=False)
  assert cased.tokenize("HeLLo Café") == ["HeLLo", "Café"]


def test_wordpiece_greedy_longest_match(tiny_vocab_file):
  tokenizer = tokenization.FullTokenizer(tiny_vocab_file, do_lower_case=True)
  assert tokenizer.tokenize("UNwanted, unaffable") == [
      "un", "##w", "##a", "##n", "##t", "##ed", ",", "un", "##aff", "##able"]
  assert tokenizer.tokenize("want wanted wanting") == ["want", "want", "##ed", "want", "##ing"]
  assert tokenizer.tokenize("ab☃") == ["[UNK]"]  # one unknown piece makes the word [UNK]
  assert tokenizer.tokenize("a" * 201) == ["[UNK]"]
  assert tokenizer.tokenize("a" * 200) == ["a"] + ["##a"] * 199


def test_ids_round_trip(tiny_vocab_file):
  tokenizer = tokenization.FullTokenizer(tiny_vocab_file, do_lower_case=True)
  tokens = tokenizer.tokenize("the man is playing guitar")
  ids = tokenizer.convert_tokens_to_ids(tokens)
  assert ids == [tokenizer.vocab[token] for token in tokens]
  assert tokenizer.convert_ids_to_tokens(ids) == tokens


def test_vocab_splits_on_newline_only(tmp_path):
  path = tmp_path / "vocab.txt"
  path.write_bytes("[PAD]\r\n[UNK]\n\u2028\n[CLS]\n\u0085x\n[SEP]\n".encode("utf-8"))
  vocab = tokenization.load_vocab(str(path))
  assert vocab == {"[PAD]": 0, "[UNK]": 1, "\u2028": 2, "[CLS]": 3, "\u0085x": 4, "[SEP]": 5}


def test_chinese_vocab_ids_are_line_numbers():
  vocab = tokenization.load_vocab(CHINESE_VOCAB)
  with open(CHINESE_VOCAB, "rb") as f:
    lines = f.read().decode("utf-8").split("\n")
  assert lines[370] == "\u2028" and vocab["\u2028"] == 370
  assert vocab["[CLS]"] == lines.index("[CLS]")
  assert tokenization.FullTokenizer(CHINESE_VOCAB).vocab_size == 21156


def test_vocab_errors_name_the_file(tmp_path):
  path = tmp_path / "vocab.txt"
  path.write_text("[PAD]\nhello\n")
  with pytest.raises(tokenization.VocabError, match=r"vocab.txt: missing "
                     r"\[UNK\], \[CLS\], \[SEP\]"):
    tokenization.FullTokenizer(str(path))
  path.write_bytes(b"[PAD]\n[UNK]\n\xff\xfe\n")
  with pytest.raises(tokenization.VocabError, match=r"vocab.txt:3: not UTF-8"):
    tokenization.load_vocab(str(path))


@pytest.mark.parametrize("lower,path,raises", [
    (False, "/models/uncased_L-12_H-768_A-12/bert_model.ckpt", True),
    (True, "/models/uncased_L-12_H-768_A-12/bert_model.ckpt", False),
    (True, "gs://b/cased_L-12_H-768_A-12/bert_model.ckpt", True),
    (True, "/m/multi_cased_L-12_H-768_A-12/bert_model.ckpt", True),
    (False, "/m/chinese_L-12_H-768_A-12/bert_model.ckpt", True),
    (False, "/m/my_model/bert_model.ckpt", False),
    (True, None, False),
])
def test_validate_case_matches_checkpoint(lower, path, raises):
  if raises:
    with pytest.raises(ValueError, match="--do_lower_case"):
      tokenization.validate_case_matches_checkpoint(lower, path)
  else:
    tokenization.validate_case_matches_checkpoint(lower, path)


def reference_tokenizer(vocab_file, lower):
  """The Rust `tokenizers` BERT pipeline, with Google's 200-character word limit."""
  reference = BertWordPieceTokenizer(vocab_file, lowercase=lower)
  reference._tokenizer.model = WordPiece.from_file(
      vocab_file, unk_token="[UNK]", max_input_chars_per_word=200)
  return lambda text: reference.encode(text, add_special_tokens=False)


@pytest.mark.parametrize("tokenizer_class", [tokenization.FullTokenizer,
                                             tokenization_fast.FastFullTokenizer])
def test_parity_on_every_stsb_sentence(minilm_hf_dir, tokenizer_class):
  vocab_file = os.path.join(minilm_hf_dir, "vocab.txt")
  ours = tokenizer_class(vocab_file, do_lower_case=True)
  reference = reference_tokenizer(vocab_file, lower=True)
  sentences = stsb_sentences()
  assert len(sentences) > 14000
  mismatches = []
  for sentence in sentences:
    expected = reference(sentence)
    tokens = ours.tokenize(sentence)
    if tokens != expected.tokens or ours.convert_tokens_to_ids(tokens) != expected.ids:
      mismatches.append((sentence, tokens, expected.tokens))
  assert not mismatches, mismatches[:5]


@pytest.mark.parametrize("tokenizer_class", [tokenization.FullTokenizer,
                                             tokenization_fast.FastFullTokenizer])
@pytest.mark.parametrize("lower", [True, False])
def test_parity_on_chinese_mixed_accented_emoji_and_control_text(lower, tokenizer_class):
  ours = tokenizer_class(CHINESE_VOCAB, do_lower_case=lower)
  reference = reference_tokenizer(CHINESE_VOCAB, lower)
  for text in HARD_TEXTS:
    expected = reference(text)
    tokens = ours.tokenize(text)
    assert tokens == expected.tokens, text
    assert ours.convert_tokens_to_ids(tokens) == expected.ids, text
