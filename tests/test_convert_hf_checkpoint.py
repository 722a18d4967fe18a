"""convert_hf_checkpoint: names, transposes, strict checks, all-or-nothing output."""

import json
import os
import struct
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import convert_hf_checkpoint
from helpers import REPO_ROOT
from helpers import TINY_VOCAB
import modeling

HIDDEN, INTERMEDIATE, LAYERS, VOCAB = 8, 12, 2, len(TINY_VOCAB)


def write_safetensors(path, tensors):
  """A minimal safetensors writer (the format is a JSON header and raw little-endian data)."""
  header, chunks, offset = {}, [], 0
  for name, array in tensors.items():
    array = np.ascontiguousarray(array)
    dtype = {np.dtype(np.float32): "F32", np.dtype(np.int64): "I64",
             np.dtype(np.float16): "F16"}[array.dtype]
    header[name] = {"dtype": dtype, "shape": list(array.shape),
                    "data_offsets": [offset, offset + array.nbytes]}
    chunks.append(array.tobytes())
    offset += array.nbytes
  header_bytes = json.dumps(header).encode("utf-8")
  with open(path, "wb") as f:
    f.write(struct.pack("<Q", len(header_bytes)) + header_bytes + b"".join(chunks))


def hf_tensors(prefix="bert.", with_heads=True):
  """Random weights with Hugging Face names for a 2-layer, hidden-8 BERT."""
  rng = np.random.RandomState(0)

  def rand(*shape):
    return rng.randn(*shape).astype(np.float32)

  tensors = {
      prefix + "embeddings.word_embeddings.weight": rand(VOCAB, HIDDEN),
      prefix + "embeddings.position_embeddings.weight": rand(16, HIDDEN),
      prefix + "embeddings.token_type_embeddings.weight": rand(2, HIDDEN),
      prefix + "embeddings.LayerNorm.weight": rand(HIDDEN),
      prefix + "embeddings.LayerNorm.bias": rand(HIDDEN),
      prefix + "embeddings.position_ids": np.arange(16, dtype=np.int64)[None],
      prefix + "pooler.dense.weight": rand(HIDDEN, HIDDEN),
      prefix + "pooler.dense.bias": rand(HIDDEN),
  }
  for n in range(LAYERS):
    layer = prefix + "encoder.layer.%d." % n
    for part in ("attention.self.query", "attention.self.key", "attention.self.value",
                 "attention.output.dense"):
      tensors[layer + part + ".weight"] = rand(HIDDEN, HIDDEN)
      tensors[layer + part + ".bias"] = rand(HIDDEN)
    tensors[layer + "intermediate.dense.weight"] = rand(INTERMEDIATE, HIDDEN)
    tensors[layer + "intermediate.dense.bias"] = rand(INTERMEDIATE)
    tensors[layer + "output.dense.weight"] = rand(HIDDEN, INTERMEDIATE)
    tensors[layer + "output.dense.bias"] = rand(HIDDEN)
    for part in ("attention.output.LayerNorm", "output.LayerNorm"):
      tensors[layer + part + ".weight"] = rand(HIDDEN)
      tensors[layer + part + ".bias"] = rand(HIDDEN)
  if with_heads:
    tensors.update({
        "cls.predictions.transform.dense.weight": rand(HIDDEN, HIDDEN),
        "cls.predictions.transform.dense.bias": rand(HIDDEN),
        "cls.predictions.transform.LayerNorm.weight": rand(HIDDEN),
        "cls.predictions.transform.LayerNorm.bias": rand(HIDDEN),
        "cls.predictions.bias": rand(VOCAB),
        "cls.predictions.decoder.weight": tensors[prefix + "embeddings.word_embeddings.weight"],
        "cls.seq_relationship.weight": rand(2, HIDDEN),
        "cls.seq_relationship.bias": rand(2),
    })
  return tensors


def make_hf_dir(path, tensors, **config_overrides):
  os.makedirs(path, exist_ok=True)
  config = {"model_type": "bert", "vocab_size": VOCAB, "hidden_size": HIDDEN,
            "num_hidden_layers": LAYERS, "num_attention_heads": 2,
            "intermediate_size": INTERMEDIATE, "hidden_act": "gelu",
            "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
            "max_position_embeddings": 16, "type_vocab_size": 2, "initializer_range": 0.02,
            "layer_norm_eps": 1e-12}
  config.update(config_overrides)
  with open(os.path.join(path, "config.json"), "w") as f:
    json.dump(config, f)
  with open(os.path.join(path, "vocab.txt"), "w", encoding="utf-8") as f:
    f.write("\n".join(TINY_VOCAB) + "\n")
  write_safetensors(os.path.join(path, "model.safetensors"), tensors)
  return str(path)


def test_converts_names_transposes_and_heads(tmp_path):
  tensors = hf_tensors()
  hf_dir = make_hf_dir(tmp_path / "hf", tensors)
  out = str(tmp_path / "out")
  names = convert_hf_checkpoint.convert(hf_dir, out)
  assert names == ["bert_config.json", "bert_model.ckpt.data-00000-of-00001",
                   "bert_model.ckpt.index", "vocab.txt"]
  saved = modeling.checkpoint_variables(os.path.join(out, "bert_model.ckpt"))
  np.testing.assert_array_equal(saved["bert/encoder/layer_1/intermediate/dense/kernel"],
                                tensors["bert.encoder.layer.1.intermediate.dense.weight"].T)
  np.testing.assert_array_equal(saved["bert/embeddings/LayerNorm/gamma"],
                                tensors["bert.embeddings.LayerNorm.weight"])
  np.testing.assert_array_equal(saved["bert/embeddings/word_embeddings"],
                                tensors["bert.embeddings.word_embeddings.weight"])
  np.testing.assert_array_equal(saved["cls/seq_relationship/output_weights"],
                                tensors["cls.seq_relationship.weight"])
  assert "cls/predictions/output_bias" in saved
  assert len(saved) == 5 + 2 + 16 * LAYERS + 7
  config = json.loads((tmp_path / "out" / "bert_config.json").read_text())
  assert config["hidden_act"] == "gelu_exact" and "layer_norm_eps" not in config
  assert (tmp_path / "out" / "vocab.txt").read_text() == (tmp_path / "hf" / "vocab.txt").read_text()


def test_unprefixed_names_and_half_precision(tmp_path):
  tensors = {name: (value.astype(np.float16) if value.dtype == np.float32 else value)
             for name, value in hf_tensors(prefix="", with_heads=False).items()}
  out = str(tmp_path / "out")
  convert_hf_checkpoint.convert(make_hf_dir(tmp_path / "hf", tensors), out)
  saved = modeling.checkpoint_variables(os.path.join(out, "bert_model.ckpt"))
  assert saved["bert/pooler/dense/kernel"].dtype == np.float32
  np.testing.assert_array_equal(saved["bert/pooler/dense/kernel"],
                                tensors["pooler.dense.weight"].astype(np.float32).T)


@pytest.mark.parametrize("change,message", [
    (lambda t: t.pop("bert.encoder.layer.1.output.dense.bias"),
     "missing tensors for: bert/encoder/layer_1/output/dense/bias"),
    (lambda t: t.pop("bert.pooler.dense.weight"),
     "missing tensors for: bert/pooler/dense/kernel"),
    (lambda t: t.update({"bert.encoder.layer.2.output.dense.bias": np.zeros(8, np.float32),
                         "classifier.weight": np.zeros((2, 8), np.float32)}),
     "unknown tensors: bert.encoder.layer.2.output.dense.bias, classifier.weight"),
    (lambda t: t.update({"bert.encoder.layer.0.intermediate.dense.weight":
                         np.zeros((11, 8), np.float32)}),
     r"shapes that disagree with config.json: bert.encoder.layer.0.intermediate.dense.weight "
     r"\[11, 8\] \(expected \[12, 8\]"),
])
def test_bad_weights_stop_with_a_list_and_write_nothing(tmp_path, change, message):
  tensors = hf_tensors()
  change(tensors)
  hf_dir = make_hf_dir(tmp_path / "hf", tensors)
  with pytest.raises(convert_hf_checkpoint.ConversionError, match=message):
    convert_hf_checkpoint.convert(hf_dir, str(tmp_path / "out"))
  assert sorted(os.listdir(tmp_path)) == ["hf"]  # no output, no staging folder


@pytest.mark.parametrize("overrides,message", [
    ({"position_embedding_type": "relative_key"}, "position_embedding_type 'relative_key'"),
    ({"hidden_act": "silu"}, "hidden_act 'silu' is not supported"),
    ({"model_type": "roberta"}, "model_type is 'roberta'"),
    ({"vocab_size": VOCAB - 1}, "has %d tokens but config.json says vocab_size %d" %
     (VOCAB, VOCAB - 1)),
])
def test_bad_config_stops(tmp_path, overrides, message):
  hf_dir = make_hf_dir(tmp_path / "hf", hf_tensors(), **overrides)
  with pytest.raises(convert_hf_checkpoint.ConversionError, match=message):
    convert_hf_checkpoint.convert(hf_dir, str(tmp_path / "out"))


def test_failed_conversion_leaves_an_existing_output_untouched(tmp_path):
  out = tmp_path / "out"
  out.mkdir()
  (out / "bert_config.json").write_text("old")
  tensors = hf_tensors()
  tensors.pop("bert.pooler.dense.bias")
  with pytest.raises(convert_hf_checkpoint.ConversionError):
    convert_hf_checkpoint.convert(make_hf_dir(tmp_path / "hf", tensors), str(out))
  assert os.listdir(out) == ["bert_config.json"]
  assert (out / "bert_config.json").read_text() == "old"


@pytest.mark.slow
def test_command_line_error_is_one_line(tmp_path):
  tensors = hf_tensors()
  tensors.pop("bert.embeddings.LayerNorm.bias")
  hf_dir = make_hf_dir(tmp_path / "hf", tensors)
  result = subprocess.run(
      [sys.executable, os.path.join(REPO_ROOT, "convert_hf_checkpoint.py"),
       "--hf_dir=" + hf_dir, "--output_dir=" + str(tmp_path / "out")],
      capture_output=True, text=True, check=False)
  assert result.returncode == 1
  errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
  assert len(errors) == 1 and "bert/embeddings/LayerNorm/beta" in errors[0]
  assert "Traceback" not in result.stderr


def test_converted_tiny_model_runs(tmp_path):
  out = str(tmp_path / "out")
  convert_hf_checkpoint.convert(make_hf_dir(tmp_path / "hf", hf_tensors()), out)
  config = modeling.BertConfig.from_json_file(os.path.join(out, "bert_config.json"))
  with tf.Graph().as_default():
    model = modeling.BertModel(config, False, tf.constant([[2, 5, 3]]))
    assignment_map, _ = modeling.get_assignment_map_from_checkpoint(
        tf.compat.v1.global_variables(), os.path.join(out, "bert_model.ckpt"))
    assert len(assignment_map) == len(tf.compat.v1.global_variables())
    assert model.get_pooled_output().shape.as_list() == [1, HIDDEN]
