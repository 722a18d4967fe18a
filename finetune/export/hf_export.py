"""export_model.py --format=hf: a fine-tuned model as a Hugging Face folder.

The folder loads with no code of ours:
  transformers   AutoModelForSequenceClassification.from_pretrained(DIR) and
                 AutoTokenizer.from_pretrained(DIR)
  sentence-transformers   CrossEncoder(DIR)
and holds:
  config.json        BertForSequenceClassification, the labels in id2label / label2id,
                     problem_type; the activation the model was trained with (Google's
                     tanh GELU as "gelu_new", the erf GELU of a model that came from
                     Hugging Face as "gelu"); "sentence_transformers": the CrossEncoder's
                     activation (sentence-transformers 4 reads it there); and
                     "bert_sentence_pair": our task facts (task, label range or labels,
                     positive label and threshold, max_seq_length, do_lower_case).
  model.safetensors  the encoder, pooler and head (classifier.*), float32.
  vocab.txt, tokenizer.json, tokenizer_config.json, special_tokens_map.json
                     a tokenizer giving our token ids: BERT's normalizer with our casing
                     and Chinese characters split, words past 200 characters as [UNK]
                     (Google's limit; Hugging Face's default is 100), the [CLS] a [SEP] b
                     [SEP] layout, model_max_length = max_seq_length.
  config_sentence_transformers.json   the CrossEncoder's activation (versions 5 and 6
                     read it here): Sigmoid for a sigmoid regression head (its scores are
                     then the model's 0..1 units), Identity for a linear one and for
                     classifiers (CrossEncoder.predict(..., apply_softmax=True) gives the
                     probabilities).
  README.md          a model card: what it is and how to use it.
"""

import json
import os

import numpy as np

from common import files
from finetune.export import hf_format
import tokenization

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
FACTS_KEY = "bert_sentence_pair"
SIGMOID = "torch.nn.modules.activation.Sigmoid"
IDENTITY = "torch.nn.modules.linear.Identity"
# Google's WordPiece: a word longer than this becomes [UNK].
MAX_WORD_CHARACTERS = 200


def labels_of(info):
  """The output labels: the classes, or one "score" for regression."""
  return info["labels"] if info["task"] == "classification" else ["score"]


def crossencoder_activation(info):
  """The CrossEncoder activation class path that gives our model's outputs."""
  if info["task"] == "regression" and info["use_sigmoid_act"]:
    return SIGMOID
  return IDENTITY


def task_facts(info):
  """What a user of the folder needs to read its outputs in our terms."""
  keys = ("task", "use_sigmoid_act", "label_min", "label_max", "labels", "positive_label",
          "threshold", "max_seq_length", "do_lower_case")
  return {key: info[key] for key in keys if key in info}


def model_config(bert_config, info):
  """config.json as a dict."""
  labels = labels_of(info)
  config = hf_format.hf_config_from_google(bert_config.to_dict())
  config.update(
      architectures=["BertForSequenceClassification"],
      id2label={str(index): label for index, label in enumerate(labels)},
      label2id={label: index for index, label in enumerate(labels)},
      problem_type=("regression" if info["task"] == "regression"
                    else "single_label_classification"),
      classifier_dropout=None,
      sentence_transformers={"activation_fn": crossencoder_activation(info)})
  config[FACTS_KEY] = task_facts(info)
  return config


def hf_tensors(weights):
  """{Google name: array} -> {Hugging Face name: float32 array}, kernels transposed."""
  tensors = {}
  for name, array in weights.items():
    if name.startswith("cls/"):
      continue  # pre-training heads a converted checkpoint may still carry
    target, transpose = hf_format.hf_name(name)
    array = np.asarray(array, np.float32)
    tensors[target] = np.ascontiguousarray(array.T if transpose else array)
  return tensors


def tokenizer_json(vocab_file, do_lower_case):
  """tokenizer.json (the `tokenizers` library's format) for our WordPiece rules."""
  vocab = tokenization.load_vocab(vocab_file)
  missing = [token for token in SPECIAL_TOKENS[1:4] if token not in vocab]
  if missing:
    raise ValueError("%s lacks %s" % (vocab_file, ", ".join(missing)))

  def special(token, type_id):
    return {"SpecialToken": {"id": token, "type_id": type_id}}

  def sequence(name, type_id):
    return {"Sequence": {"id": name, "type_id": type_id}}

  return {
      "version": "1.0",
      "truncation": None,
      "padding": None,
      "added_tokens": [{"id": vocab[token], "content": token, "single_word": False,
                        "lstrip": False, "rstrip": False, "normalized": False,
                        "special": True} for token in SPECIAL_TOKENS if token in vocab],
      "normalizer": {"type": "BertNormalizer", "clean_text": True,
                     "handle_chinese_chars": True, "strip_accents": None,
                     "lowercase": bool(do_lower_case)},
      "pre_tokenizer": {"type": "BertPreTokenizer"},
      "post_processor": {
          "type": "TemplateProcessing",
          "single": [special("[CLS]", 0), sequence("A", 0), special("[SEP]", 0)],
          "pair": [special("[CLS]", 0), sequence("A", 0), special("[SEP]", 0),
                   sequence("B", 1), special("[SEP]", 1)],
          "special_tokens": {token: {"id": token, "ids": [vocab[token]], "tokens": [token]}
                             for token in ("[CLS]", "[SEP]")}},
      "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
      "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                "max_input_chars_per_word": MAX_WORD_CHARACTERS, "vocab": dict(vocab)},
  }


def tokenizer_config(info):
  """tokenizer_config.json: the slow and fast BertTokenizer's settings."""
  return {"tokenizer_class": "BertTokenizer", "do_lower_case": bool(info["do_lower_case"]),
          "do_basic_tokenize": True, "tokenize_chinese_chars": True, "strip_accents": None,
          "model_max_length": int(info["max_seq_length"]), "padding_side": "right",
          "truncation_side": "right", "unk_token": "[UNK]", "sep_token": "[SEP]",
          "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]"}


def model_card(info, source):
  """README.md: what the folder holds and how to use it."""
  facts = task_facts(info)
  if info["task"] == "regression":
    meaning = "a similarity score"
    units = ""
    if info.get("label_min") is not None:
      units = (" The model was trained on scores from %g to %g mapped into 0..1: multiply "
               "the CrossEncoder's score by %g and add %g for the original scale." % (
                   info["label_min"], info["label_max"], info["label_max"] - info["label_min"],
                   info["label_min"]))
    use = ("scores = model.predict(pairs)  # %s output%s" % (
        "sigmoid" if info["use_sigmoid_act"] else "linear", units and ", 0..1"))
  else:
    meaning = "a decision among %s" % ", ".join(info["labels"])
    units = ""
    if info.get("threshold") is not None and info.get("positive_label") is not None:
      units = (" Decide %s when its probability is >= %g (the threshold the run chose)." %
               (info["positive_label"], info["threshold"]))
    use = "probabilities = model.predict(pairs, apply_softmax=True)"
  return """# A fine-tuned BERT sentence-pair model

Fine-tuned with this project's run_reg.py / run_classifier.py and exported from
`%s` by `export_model.py --format=hf`. It gives %s for a pair of sentences.%s

```python
from sentence_transformers import CrossEncoder
model = CrossEncoder("path/to/this/folder")
pairs = [("A man is playing a guitar.", "A man plays the guitar.")]
%s
```

With transformers: `AutoModelForSequenceClassification.from_pretrained(folder)` and
`AutoTokenizer.from_pretrained(folder)`; encode pairs with `truncation=True`.

Task facts (also under "%s" in config.json):

```json
%s
```
""" % (source, meaning, units, use, FACTS_KEY, json.dumps(facts, indent=2, sort_keys=True))


def write_folder(staging, fine_tuned, weights, source):
  """Writes the Hugging Face folder's files into `staging` (an empty folder)."""
  info = fine_tuned.info

  def write_json(name, value):
    files.write_text_atomically(os.path.join(staging, name),
                                json.dumps(value, indent=2, ensure_ascii=False) + "\n")

  write_json("config.json", model_config(fine_tuned.bert_config, info))
  files.write_bytes_atomically(os.path.join(staging, "model.safetensors"),
                               hf_format.safetensors_bytes(hf_tensors(weights),
                                                           metadata={"format": "pt"}))
  files.copy_atomically(fine_tuned.vocab_file, os.path.join(staging, "vocab.txt"))
  write_json("tokenizer.json", tokenizer_json(fine_tuned.vocab_file, info["do_lower_case"]))
  write_json("tokenizer_config.json", tokenizer_config(info))
  write_json("special_tokens_map.json", {"unk_token": "[UNK]", "sep_token": "[SEP]",
                                         "pad_token": "[PAD]", "cls_token": "[CLS]",
                                         "mask_token": "[MASK]"})
  write_json("config_sentence_transformers.json", {
      "model_type": "CrossEncoder", "activation_fn": crossencoder_activation(info)})
  files.write_text_atomically(os.path.join(staging, "README.md"), model_card(info, source))
