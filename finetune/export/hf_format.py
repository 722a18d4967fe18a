"""Hugging Face's BERT format: safetensors files, tensor names, config.json, both ways.

Used by convert_hf_checkpoint.py (Hugging Face -> Google) and by hf_export.py (a
fine-tuned model -> Hugging Face). Names: a Hugging Face `nn.Linear` weight is
[out, in] and Google's dense kernel [in, out], so kernels are transposed; LayerNorm
`weight` / `bias` are Google's `gamma` / `beta`; BertForSequenceClassification's
`classifier.weight` [K, H] and `classifier.bias` [K] are `output_weights` and
`output_bias`, in the same orientation. Activations: Hugging
Face's "gelu" is the exact erf GELU, Google's "gelu" the tanh approximation, which
Hugging Face calls "gelu_new" (our configs call the erf form "gelu_exact").
Reads and writes need numpy only.
"""

import json
import re
import struct

import numpy as np

from common.errors import UserError

_SAFETENSORS_DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64,
    "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_,
}

# Hugging Face activation names -> names in our config (see modeling.get_activation).
HF_ACTIVATIONS = {
    "gelu": "gelu_exact",
    "gelu_new": "gelu",
    "gelu_pytorch_tanh": "gelu",
    "gelu_fast": "gelu",
    "relu": "relu",
    "tanh": "tanh",
    "linear": "linear",
}
# Ours -> Hugging Face's: each model keeps the activation it was trained with.
OUR_ACTIVATIONS = {"gelu": "gelu_new", "gelu_new": "gelu_new", "gelu_exact": "gelu",
                   "relu": "relu", "tanh": "tanh", "linear": "linear"}

# Buffers and tied copies that carry no weights of their own.
_IGNORED_TENSORS = ("embeddings.position_ids", "cls.predictions.decoder.weight",
                    "cls.predictions.decoder.bias")
_SPECIAL_NAMES = {
    "cls.predictions.bias": "cls/predictions/output_bias",
    "cls.seq_relationship.weight": "cls/seq_relationship/output_weights",
    "cls.seq_relationship.bias": "cls/seq_relationship/output_bias",
    "classifier.weight": "output_weights",
    "classifier.bias": "output_bias",
}
_CONFIG_KEYS = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                "intermediate_size", "hidden_dropout_prob", "attention_probs_dropout_prob",
                "max_position_embeddings", "type_vocab_size", "initializer_range")
DEFAULT_LAYER_NORM_EPS = 1e-12


class ConversionError(UserError):
  """A folder cannot be converted; the message says why."""


# --------------------------------------------------------------------------------------
# safetensors: an 8-byte little-endian header length, a JSON header, raw tensor bytes.
# --------------------------------------------------------------------------------------


def read_safetensors(path):
  """Reads a .safetensors file into {name: numpy array} (bfloat16 widened to float32)."""
  with open(path, "rb") as f:
    data = f.read()
  if len(data) < 8:
    raise ConversionError("%s: too short for a safetensors file" % path)
  (header_size,) = struct.unpack("<Q", data[:8])
  try:
    header = json.loads(data[8:8 + header_size].decode("utf-8"))
  except (UnicodeDecodeError, json.JSONDecodeError, ValueError):
    raise ConversionError("%s: unreadable safetensors header" % path) from None
  body = memoryview(data)[8 + header_size:]
  tensors = {}
  for name, info in header.items():
    if name == "__metadata__":
      continue
    begin, end = info["data_offsets"]
    if end > len(body):
      raise ConversionError("%s: cut short (tensor %s ends at byte %d of %d)" %
                            (path, name, end, len(body)))
    raw = body[begin:end]
    if info["dtype"] == "BF16":
      widened = np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16
      array = widened.view(np.float32)
    elif info["dtype"] in _SAFETENSORS_DTYPES:
      array = np.frombuffer(raw, dtype=_SAFETENSORS_DTYPES[info["dtype"]])
    else:
      raise ConversionError("%s: tensor %s has unsupported dtype %s" %
                            (path, name, info["dtype"]))
    tensors[name] = array.reshape(info["shape"])
  return tensors


def safetensors_bytes(tensors, metadata=None):
  """{name: numpy array} -> the bytes of a .safetensors file (names sorted).

  The header is padded with spaces to a multiple of 8 bytes, so every tensor starts
  aligned, as the format's reference writer does.
  """
  codes = {np.dtype(dtype): code for code, dtype in _SAFETENSORS_DTYPES.items()}
  header, chunks, offset = {}, [], 0
  if metadata:
    header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
  for name in sorted(tensors):
    array = np.ascontiguousarray(tensors[name])
    if array.dtype not in codes:
      raise ValueError("tensor %s: dtype %s has no safetensors code" % (name, array.dtype))
    header[name] = {"dtype": codes[array.dtype], "shape": list(array.shape),
                    "data_offsets": [offset, offset + array.nbytes]}
    chunks.append(array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes())
    offset += array.nbytes
  encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
  encoded += b" " * (-len(encoded) % 8)
  return struct.pack("<Q", len(encoded)) + encoded + b"".join(chunks)


# --------------------------------------------------------------------------------------
# Tensor names
# --------------------------------------------------------------------------------------


def _scope(dotted):
  """"encoder.layer.3.attention.self.query" -> "bert/encoder/layer_3/attention/self/query"."""
  path = re.sub(r"layer\.(\d+)", r"layer_\1", dotted).replace(".", "/")
  return path if path.startswith("cls/") else "bert/" + path


def google_name(hf_name):
  """Maps a Hugging Face tensor name to (Google variable name, transpose?).

  Returns None for tensors that carry no weights of their own, and ("", False) for a
  name that follows no known pattern.
  """
  name = hf_name[len("bert."):] if hf_name.startswith("bert.") else hf_name
  if name in _IGNORED_TENSORS:
    return None
  if name in _SPECIAL_NAMES:
    return _SPECIAL_NAMES[name], False
  match = re.fullmatch(r"embeddings\.(word|position|token_type)_embeddings\.weight", name)
  if match:
    return "bert/embeddings/%s_embeddings" % match.group(1), False
  match = re.fullmatch(r"(.*)\.LayerNorm\.(weight|gamma|bias|beta)", name)
  if match:
    param = "gamma" if match.group(2) in ("weight", "gamma") else "beta"
    return "%s/LayerNorm/%s" % (_scope(match.group(1)), param), False
  match = re.fullmatch(r"(.*)\.(weight|bias)", name)
  if match and (match.group(1).startswith(("encoder.layer.", "pooler.", "cls.predictions."))):
    param = "kernel" if match.group(2) == "weight" else "bias"
    return "%s/%s" % (_scope(match.group(1)), param), param == "kernel"
  return "", False


def hf_name(google):
  """Maps a Google variable name to (BertForSequenceClassification tensor name, transpose?).

  The inverse of google_name for the encoder, pooler and classification head.
  """
  special = {value: key for key, value in _SPECIAL_NAMES.items()}
  if google in special:
    return special[google], False
  if not google.startswith("bert/"):
    raise ValueError("%s: not a variable of the encoder or the head" % google)
  path = google[len("bert/"):]
  match = re.fullmatch(r"embeddings/(word|position|token_type)_embeddings", path)
  if match:
    return "bert.embeddings.%s_embeddings.weight" % match.group(1), False
  dotted = re.sub(r"layer_(\d+)", r"layer.\1", path).replace("/", ".")
  for ours, theirs in ((".gamma", ".weight"), (".beta", ".bias"), (".bias", ".bias")):
    if dotted.endswith(ours):
      return "bert." + dotted[:-len(ours)] + theirs, False
  if dotted.endswith(".kernel"):
    return "bert." + dotted[:-len(".kernel")] + ".weight", True
  raise ValueError("%s: not a variable of the encoder or the head" % google)


# --------------------------------------------------------------------------------------
# config.json
# --------------------------------------------------------------------------------------


def google_config_from_hf(hf_config, source):
  """Maps a Hugging Face BERT config dict to a Google `bert_config.json` dict."""
  model_type = hf_config.get("model_type", "bert")
  if model_type != "bert":
    raise ConversionError("%s: model_type is %r; expected 'bert'" % (source, model_type))
  position_type = hf_config.get("position_embedding_type", "absolute")
  if position_type != "absolute":
    raise ConversionError("%s: position_embedding_type %r is not supported; expected "
                          "'absolute'" % (source, position_type))
  activation = hf_config.get("hidden_act", "gelu")
  if activation not in HF_ACTIVATIONS:
    raise ConversionError("%s: hidden_act %r is not supported; expected one of %s" %
                          (source, activation, ", ".join(sorted(HF_ACTIVATIONS))))
  missing = [key for key in _CONFIG_KEYS if key not in hf_config]
  if missing:
    raise ConversionError("%s: missing %s" % (source, ", ".join(missing)))
  config = {key: hf_config[key] for key in _CONFIG_KEYS}
  config["hidden_act"] = HF_ACTIVATIONS[activation]
  eps = hf_config.get("layer_norm_eps", DEFAULT_LAYER_NORM_EPS)
  if eps != DEFAULT_LAYER_NORM_EPS:
    config["layer_norm_eps"] = eps
  return config


def hf_config_from_google(config):
  """A Google `bert_config.json` dict -> the encoder part of a Hugging Face config.json."""
  activation = config.get("hidden_act", "gelu")
  if activation not in OUR_ACTIVATIONS:
    raise ConversionError("hidden_act %r has no Hugging Face name; expected one of %s" %
                          (activation, ", ".join(sorted(OUR_ACTIVATIONS))))
  hf_config = {key: config[key] for key in _CONFIG_KEYS}
  hf_config.update(model_type="bert", hidden_act=OUR_ACTIVATIONS[activation],
                   layer_norm_eps=config.get("layer_norm_eps", DEFAULT_LAYER_NORM_EPS),
                   position_embedding_type="absolute", pad_token_id=0)
  return hf_config
