"""The pre-trained model's files, read and checked against each other before any work.

bert_config.json, vocab.txt, --init_checkpoint and a checkpoint already in output_dir
must fit one another: a vocabulary longer than the config's vocab_size (whose ids would
fail on CPU and silently read zeros on GPU), a max_seq_length beyond the position
table, or checkpoint variables of other shapes each stop the run with one line.
"""

import dataclasses
from typing import Optional

from absl import logging
import tensorflow as tf

from common import files
from common.errors import InputFileError
from common.errors import UserError
from finetune.model import checkpoints
import modeling
import tokenization
import tokenization_fast


@dataclasses.dataclass
class ModelInputs:
  """What the model is built from.

  bert_config: modeling.BertConfig.
  tokenizer: a tokenizer of vocab_file (the fast one, equal to Google's).
  init_checkpoint: checkpoint prefix to start from, or None.
  fresh_head: head variables init_checkpoint holds with another shape (a model
    fine-tuned by the other script, or for other labels): they start fresh.
  """
  bert_config: modeling.BertConfig
  tokenizer: tokenization.FullTokenizer
  init_checkpoint: Optional[str]
  fresh_head: tuple = ()


def load_bert_config(path, max_seq_length, num_hidden_layers=None):
  """Reads bert_config.json and checks max_seq_length against it.

  num_hidden_layers: keep only the first that many layers (--num_hidden_layers), at most
  the config's.
  """
  if not files.exists(path):
    raise InputFileError(path, None, "file not found; expected bert_config.json")
  try:
    config = modeling.BertConfig.from_json_file(path)
  except ValueError as e:
    raise UserError(str(e)) from None
  if max_seq_length > config.max_position_embeddings:
    raise InputFileError(
        path, None, "--max_seq_length=%d is above max_position_embeddings=%d; expected "
        "--max_seq_length <= %d" % (max_seq_length, config.max_position_embeddings,
                                    config.max_position_embeddings))
  if num_hidden_layers is not None and num_hidden_layers != config.num_hidden_layers:
    if num_hidden_layers > config.num_hidden_layers:
      raise InputFileError(
          path, None, "--num_hidden_layers=%d is above num_hidden_layers=%d; expected at "
          "most %d (the first layers of this model are kept)" % (
              num_hidden_layers, config.num_hidden_layers, config.num_hidden_layers))
    logging.info("--num_hidden_layers=%d: the first %d of the %d layers of %s", num_hidden_layers,
                 num_hidden_layers, config.num_hidden_layers, path)
    config.num_hidden_layers = num_hidden_layers
  return config


def load_tokenizer(vocab_file, do_lower_case, bert_config, bert_config_file):
  """The fast tokenizer, after checking that every id of the vocabulary fits the model."""
  if not files.exists(vocab_file):
    raise InputFileError(vocab_file, None, "file not found; expected vocab.txt")
  try:
    tokenizer = tokenization_fast.FastFullTokenizer(vocab_file, do_lower_case)
  except tokenization.VocabError as e:
    raise UserError(str(e)) from None
  if tokenizer.vocab_size > bert_config.vocab_size:
    # Past the table, an id fails on CPU and silently reads zeros on GPU.
    raise InputFileError(
        vocab_file, bert_config.vocab_size + 1,
        "%d tokens, but %s says vocab_size %d; expected a vocabulary of at most %d lines "
        "(does this vocab belong to this model?)" % (tokenizer.vocab_size, bert_config_file,
                                                      bert_config.vocab_size,
                                                      bert_config.vocab_size))
  return tokenizer


def resolve_checkpoint(path, flag_name):
  """A checkpoint prefix from a prefix or a folder, checked whole (checkpoints.py).

  Raises UserError if there is none, DamagedFileError if it is damaged.
  """
  if not files.isdir(path) and not files.exists(path + ".index"):
    raise UserError("%s=%s: no checkpoint found (expected %s.index)" %
                    (flag_name, path, path))
  prefix = checkpoints.checkpoint_to_use(path, flag_name, "copy the checkpoint again, or "
                                         "give another %s" % flag_name)
  if prefix is None:
    raise UserError("%s=%s: folder holds no checkpoint" % (flag_name, path))
  return prefix


def mismatched_head(checkpoint, head_shapes):
  """{name: (held shape, head shape)} of head variables `checkpoint` holds in another shape."""
  held = dict(tf.train.list_variables(checkpoint))
  return {name: (list(held[name]), list(shape)) for name, shape in sorted(head_shapes.items())
          if name in held and list(held[name]) != list(shape)}


def check_checkpoint_fits(checkpoint, expected_shapes, bert_config_file, what):
  """Raises UserError when `checkpoint` holds model variables with other shapes."""
  held = dict(tf.train.list_variables(checkpoint))
  mismatches = ["%s %s (model: %s)" % (name, held[name], shape)
                for name, shape in sorted(expected_shapes.items())
                if name in held and list(held[name]) != list(shape)]
  if mismatches:
    raise InputFileError(checkpoint, None, "%s does not fit %s: %s" %
                         (what, bert_config_file, "; ".join(mismatches)))
  if not any(name in held for name in expected_shapes):
    raise InputFileError(checkpoint, None, "%s holds none of the model's variables; "
                         "expected a BERT checkpoint" % what)


def load_for_tokenizing(model_options):
  """bert_config.json and the tokenizer, checked against each other; no checkpoint.

  What a run that only reads and reports the data needs (ModelInputs without one).
  """
  bert_config = load_bert_config(model_options.bert_config_file,
                                 model_options.max_seq_length,
                                 model_options.num_hidden_layers)
  tokenizer = load_tokenizer(model_options.vocab_file, model_options.do_lower_case,
                             bert_config, model_options.bert_config_file)
  try:
    tokenization.validate_case_matches_checkpoint(model_options.do_lower_case,
                                                  model_options.init_checkpoint)
  except ValueError as e:
    raise UserError(str(e)) from None
  return ModelInputs(bert_config, tokenizer, None)


def load(model_options, task, output_dir, will_train, checkpoint=None):
  """Reads and cross-checks the model's files; returns ModelInputs.

  Args:
    model_options: options.ModelOptions.
    task: the task, whose head variables are part of the model.
    output_dir: training resumes from its newest intact checkpoint, which must fit too.
    will_train: without training, a model must come from `checkpoint` or init_checkpoint.
    checkpoint: without training, the trained checkpoint the run uses (checked whole by
      the caller), which must fit.
  """
  model = load_for_tokenizing(model_options)
  bert_config, tokenizer = model.bert_config, model.tokenizer
  encoder_shapes = modeling.variable_shapes(bert_config)
  head_shapes = task.head_variable_shapes(bert_config.hidden_size)
  expected_shapes = dict(encoder_shapes, **head_shapes)
  init_checkpoint, fresh_head = None, ()
  if model_options.init_checkpoint:
    init_checkpoint = resolve_checkpoint(model_options.init_checkpoint, "--init_checkpoint")
    check_checkpoint_fits(init_checkpoint, encoder_shapes, model_options.bert_config_file,
                          "--init_checkpoint")
    mismatched = mismatched_head(init_checkpoint, head_shapes)
    if mismatched:
      logging.warning("--init_checkpoint %s holds a head of other shapes, which starts "
                      "fresh: %s", init_checkpoint, "; ".join(
                          "%s %s (this task's: %s)" % (name, held, wanted)
                          for name, (held, wanted) in mismatched.items()))
      fresh_head = tuple(mismatched)
  own_checkpoint = checkpoint
  if will_train:
    own_checkpoint = checkpoints.newest_intact_checkpoint(output_dir)
  if own_checkpoint:
    check_checkpoint_fits(own_checkpoint, expected_shapes, model_options.bert_config_file,
                          "the checkpoint in --output_dir (use a new --output_dir)")
  elif not will_train and not init_checkpoint:
    raise UserError("%s holds no trained model and there is no --init_checkpoint; train "
                    "first (--do_train=true)" % output_dir)
  return ModelInputs(bert_config, tokenizer, init_checkpoint, fresh_head)
