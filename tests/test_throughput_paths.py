"""The fast paths give what the plain paths give: batch layouts, records cache, conversion."""

import hashlib
import os

import numpy as np
import pytest
import tensorflow as tf

from finetune.data import fast_serialization
from finetune.data import feature_workers
from finetune.data import record_cache
from finetune.data import record_format
from finetune.data import records
from finetune.data.features import InputFeatures
from finetune.data.input_fn import file_based_input_fn_builder
from helpers import CHINESE_VOCAB
from helpers import HARD_TEXTS
from helpers import predict_dev
from helpers import STSB_DIR
from helpers import stsb_sentences
from helpers import ZH_DATA
from processors import get_processor
from processors import InputExample
import tokenization
import tokenization_fast


def test_bucketed_and_trimmed_predictions_equal_padded_ones(zh_model, tmp_path):
  padded, _, examples = predict_dev(zh_model, str(tmp_path / "fixed"), False, 4,
                                    layout="fixed", max_seq_length=64)
  for layout in ("trimmed", "bucketed"):
    outputs, _, _ = predict_dev(zh_model, str(tmp_path / layout), False, 4, layout=layout,
                                max_seq_length=64)
    np.testing.assert_allclose(outputs["score"], padded["score"], atol=1e-5, err_msg=layout)
    np.testing.assert_allclose(outputs["label"], [e.label for e in examples], atol=1e-6)
  assert np.std(padded["score"]) > 0  # different pairs, different scores: order matters


def test_training_buckets_hold_similar_lengths_and_full_batches(tmp_path):
  tokenizer = tokenization_fast.FastFullTokenizer(CHINESE_VOCAB)
  examples = get_processor("sim").get_train_examples(ZH_DATA)
  record_file = str(tmp_path / "train.tf_record")
  lengths = []
  records.write_records(feature_workers.convert_examples(
      examples, [e.label for e in examples], tokenizer=tokenizer, max_seq_length=64,
      label_feature=record_format.REGRESSION_LABEL,
      serialize=fast_serialization.serialize_features, lengths=lengths), record_file)
  input_fn = file_based_input_fn_builder(record_file, seq_length=64,
                                         label_feature=record_format.REGRESSION_LABEL,
                                         is_training=True, drop_remainder=False,
                                         layout="bucketed", seed=1)
  seen = []
  for batch in input_fn({"batch_size": 8}).take(40).as_numpy_iterator():
    batch_lengths = batch["input_mask"].sum(axis=1)
    assert batch["input_ids"].shape == (8, batch_lengths.max())
    assert batch_lengths.max() - batch_lengths.min() < 4  # one 4-token bucket
    seen.extend(batch_lengths.tolist())
  assert len(set(seen)) > 5  # buckets of many lengths are drawn, not just one
  assert set(seen) <= set(lengths)


@pytest.mark.parametrize("layout", ["fixed", "trimmed", "bucketed"])
@pytest.mark.parametrize("is_training", [True, False])
def test_no_input_pipeline_runs_tf_data_autotuning(layout, is_training, tmp_path):
  """Autotuning's thread could keep a session's close waiting up to 20 s after the last
  batch (bench/startup.py measures it): every pipeline has it off."""
  input_fn = file_based_input_fn_builder(str(tmp_path / "none.tf_record"), seq_length=32,
                                         label_feature=record_format.REGRESSION_LABEL,
                                         is_training=is_training, drop_remainder=False,
                                         layout=layout)
  assert input_fn({"batch_size": 8}).options().autotune.enabled is False


def write_cached(tmp_path, examples, labels, vocab_file, lower=True, max_seq_length=32):
  settings = records.RecordSettings(
      tokenizer=tokenization_fast.FastFullTokenizer(vocab_file, lower), vocab_file=vocab_file,
      do_lower_case=lower, max_seq_length=max_seq_length,
      label_feature=record_format.REGRESSION_LABEL)
  record_file = str(tmp_path / "train.tf_record")
  if os.path.exists(record_file):
    os.utime(record_file, ns=(0, 0))  # a mark that only a rewrite (a new file) removes
  records.write_record_file(examples, labels, record_file, settings)
  with open(record_file, "rb") as f:
    return os.stat(record_file).st_mtime_ns != 0, hashlib.sha256(f.read()).hexdigest()


def test_records_are_reused_only_when_nothing_changed(tmp_path):
  vocab_file = str(tmp_path / "vocab.txt")
  with open(CHINESE_VOCAB, "rb") as source, open(vocab_file, "wb") as target:
    target.write(source.read())
  examples = get_processor("sim").get_train_examples(ZH_DATA)
  labels = [e.label for e in examples]
  first = write_cached(tmp_path, examples, labels, vocab_file)  # (rewritten, digest)
  assert write_cached(tmp_path, examples, labels, vocab_file) == (False, first[1])  # reused

  def changed(**kwargs):
    arguments = dict(examples=examples, labels=labels, vocab_file=vocab_file)
    arguments.update(kwargs)
    result = write_cached(tmp_path, **arguments)
    assert result[0]  # rewritten
    return result

  edited = list(examples)
  edited[5] = InputExample(edited[5].guid, edited[5].text_a + "吗", edited[5].text_b,
                           edited[5].label)
  assert changed(examples=edited)[1] != first[1]  # an edited sentence
  assert changed(labels=labels[:7] + [0.123] + labels[8:])[1] != first[1]  # an edited score
  assert changed(max_seq_length=16)[1] != first[1]
  changed(lower=False)
  with open(vocab_file, "a", encoding="utf-8") as f:
    f.write("新词\n")
  rebuilt = changed()  # the vocabulary's bytes changed
  assert write_cached(tmp_path, examples, labels, vocab_file) == (False, rebuilt[1])  # reused


def test_a_run_killed_between_records_and_key_is_not_trusted(tmp_path):
  examples = [InputExample("t-%d" % i, "支付宝", "微信", 0.5) for i in range(3)]
  record_file = str(tmp_path / "train.tf_record")
  key = record_cache.cache_key(examples, [0.5] * 3, CHINESE_VOCAB, True, 32, "vals")
  records.write_records([b"old"], record_file)
  record_cache.remember(record_file, key, 1)
  assert record_cache.is_cached(record_file, key)
  record_cache.forget(record_file)  # what write_record_file does before rewriting
  records.write_records([b"new", b"records"], record_file)  # ... and here the run dies
  assert not record_cache.is_cached(record_file, key)
  record_cache.remember(record_file, key, 1)
  with open(record_file, "ab") as f:
    f.write(b"x")  # a record file changed behind our back
  assert not record_cache.is_cached(record_file, key)


def convert_to_bytes(examples, labels, vocab_file, lower, fast, workers):
  """The records of `examples`: the plain way (Google's tokenizer, the protobuf API) or the
  fast one (fast tokenizer, wire-format serializer), in `workers` processes."""
  if fast:
    tokenizer = tokenization_fast.FastFullTokenizer(vocab_file, lower)
    serialize = fast_serialization.serialize_features
  else:
    tokenizer = tokenization.FullTokenizer(vocab_file, lower)
    serialize = record_format.serialize_features
  return b"".join(feature_workers.convert_examples(
      examples, labels, tokenizer=tokenizer, max_seq_length=128,
      label_feature=record_format.REGRESSION_LABEL, serialize=serialize,
      num_workers=workers))


def test_fast_parallel_conversion_is_byte_identical_to_the_plain_path(minilm_hf_dir):
  examples = get_processor("stsb").get_train_examples(STSB_DIR)
  labels = [e.label / 5 for e in examples]
  vocab_file = os.path.join(minilm_hf_dir, "vocab.txt")
  plain = convert_to_bytes(examples, labels, vocab_file, True, fast=False, workers=1)
  assert convert_to_bytes(examples, labels, vocab_file, True, fast=True, workers=1) == plain
  assert convert_to_bytes(examples, labels, vocab_file, True, fast=True, workers=2) == plain


@pytest.mark.parametrize("lower", [True, False])
def test_fast_conversion_identical_on_chinese_and_hard_text(lower):
  texts = HARD_TEXTS + [e.text_a for e in get_processor("sim").get_train_examples(ZH_DATA)]
  examples = [InputExample("g-%d" % i, text, texts[-i - 1], 0.25)
              for i, text in enumerate(texts)]
  labels = [0.25] * len(examples)
  plain = convert_to_bytes(examples, labels, CHINESE_VOCAB, lower, fast=False, workers=1)
  assert convert_to_bytes(examples, labels, CHINESE_VOCAB, lower, fast=True, workers=1) == plain


def test_ascii_shortcut_gives_the_unicode_path_tokens():
  ascii_sentences = [sentence for sentence in stsb_sentences() +
                     ["a\x00b\x7fc\x1fd\x0be\x0cf\tg\r\nh", "~`!@#$%^&*()"]
                     if sentence.isascii()]
  assert len(ascii_sentences) > 10000
  for lower in (True, False):
    plain = tokenization.BasicTokenizer(do_lower_case=lower)
    fast = tokenization_fast.FastBasicTokenizer(do_lower_case=lower)
    for sentence in ascii_sentences:
      assert fast.tokenize_ascii(sentence) == plain.tokenize(sentence), sentence


def test_serializer_is_byte_identical_to_protobuf_and_parses():
  rng = np.random.RandomState(0)
  for index in range(500):
    length = rng.randint(0, 65)
    high = [100, 30522, 200000, 2**40][index % 4]
    ids = [int(x) for x in rng.randint(0, high, size=length)] + [0] * (64 - length)
    regression = index % 2 == 0
    feature = InputFeatures(ids, [1] * length + [0] * (64 - length),
                            [0] * (length // 2) + [1] * (length - length // 2) +
                            [0] * (64 - length),
                            float(rng.randn()) if regression else int(rng.randint(0, 3)),
                            bool(index % 3))
    label_feature = (record_format.REGRESSION_LABEL if regression
                     else record_format.CLASSIFICATION_LABEL)
    fast = fast_serialization.serialize_features(feature, label_feature)
    assert fast == record_format.serialize_features(feature, label_feature)
  parsed = tf.io.parse_single_example(fast, record_format.feature_spec(64, label_feature))
  assert parsed["input_ids"].numpy().tolist() == ids
  assert int(parsed["is_real_example"]) == int(feature.is_real_example)
