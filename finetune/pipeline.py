"""The one fine-tuning pipeline behind run_reg.py and run_classifier.py.

run(task, processor, options):
  1. check every input before any work (config, vocab, checkpoints, every data row);
  2. train: examples -> features -> train.tf_record -> Estimator.train (TPUEstimator on
     one device or a TPU; a plain Estimator with a tf.distribute strategy for several
     GPUs or machines, see finetune/distribution.py);
  3. evaluate: dev examples -> eval.tf_record -> predictions -> exact metrics over every
     real example -> eval_results.txt;
  4. predict: test examples -> predict.tf_record -> predictions -> test_results.tsv.
Everything written is written whole or not at all (finetune/files.py).
"""

import collections
import dataclasses
import os
import time
from typing import Optional

from absl import logging
import numpy as np
import tensorflow as tf

import modeling
import tokenization
from finetune import conversion
from finetune import distribution as distribution_lib
from finetune import divergence
from finetune import export
from finetune import features as features_lib
from finetune import progress
from finetune import records
from finetune.errors import InputFileError
from finetune.errors import UserError
from finetune.estimator import make_estimator
from finetune.estimator import session_config
from finetune.files import remove_stale_temporaries
from finetune.files import write_text_atomically
from finetune.input_fn import LAYOUTS
from finetune.input_fn import file_based_input_fn_builder
from finetune.model_fn import model_fn_builder
from processors import base as processors_base


@dataclasses.dataclass
class RunOptions:
  """Everything a run needs, as the flags of Google's scripts name it."""
  data_dir: str
  output_dir: str
  bert_config_file: str
  vocab_file: str
  init_checkpoint: Optional[str] = None
  do_lower_case: bool = True
  max_seq_length: int = 128
  do_train: bool = False
  do_eval: bool = False
  do_predict: bool = False
  train_batch_size: int = 32
  eval_batch_size: int = 8
  predict_batch_size: int = 8
  learning_rate: float = 5e-5
  num_train_epochs: float = 3.0
  warmup_proportion: float = 0.1
  adam_bias_correction: bool = False  # see optimization.AdamWeightDecayOptimizer
  save_checkpoints_steps: int = 1000
  iterations_per_loop: int = 1000
  use_tpu: bool = False
  tpu_name: Optional[str] = None
  tpu_zone: Optional[str] = None
  gcp_project: Optional[str] = None
  master: Optional[str] = None
  num_tpu_cores: int = 8
  original_output_format: bool = False
  seed: Optional[int] = None
  intra_op_threads: int = 0
  inter_op_threads: int = 0
  use_xla: bool = False
  conversion_workers: int = 0
  log_every_n_steps: int = 100
  export_dir: Optional[str] = None
  # input_fn.LAYOUTS; None: "fixed" on TPU (it needs fixed shapes), else "bucketed".
  batch_layout: Optional[str] = None
  distribution: str = "none"  # distribution.DISTRIBUTIONS
  devices: Optional[str] = None  # for "mirrored": "/gpu:0,/gpu:1"; None: every GPU
  mixed_precision: str = "none"  # distribution.COMPUTE_DTYPES

  @property
  def layout(self):
    if self.batch_layout:
      return self.batch_layout
    return "fixed" if self.use_tpu else "bucketed"


# ------------------------------------------------------------------------------------
# Checks on the inputs, all done before any work starts.
# ------------------------------------------------------------------------------------


def load_bert_config(path, max_seq_length):
  """Reads bert_config.json and checks max_seq_length against it."""
  if not tf.io.gfile.exists(path):
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
  if max_seq_length < 3:
    raise UserError("--max_seq_length=%d: expected at least 3 ([CLS] a [SEP])" %
                    max_seq_length)
  return config


def load_tokenizer(vocab_file, do_lower_case, bert_config, bert_config_file):
  """FullTokenizer, after checking that every id of the vocabulary fits the model."""
  if not tf.io.gfile.exists(vocab_file):
    raise InputFileError(vocab_file, None, "file not found; expected vocab.txt")
  try:
    tokenizer = tokenization.FullTokenizer(vocab_file, do_lower_case)
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
  """A checkpoint prefix from a prefix or a folder; raises UserError if there is none."""
  if tf.io.gfile.isdir(path):
    latest = tf.train.latest_checkpoint(path)
    if latest is None:
      raise UserError("%s=%s: folder holds no checkpoint" % (flag_name, path))
    return latest
  if not tf.io.gfile.exists(path + ".index"):
    raise UserError("%s=%s: no checkpoint found (expected %s.index)" %
                    (flag_name, path, path))
  return path


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


def read_examples(get_examples, data_dir, split):
  """Calls a processor's get_*_examples, turning its errors into located ones."""
  processors_base.reset_row_location()
  try:
    examples = get_examples(data_dir)
  except UserError:
    raise
  except (ValueError, IndexError, KeyError, TypeError, AttributeError) as e:
    path, line = processors_base.current_row_location()
    if path is None:
      raise UserError("reading the %s split in %s: %s: %s" %
                      (split, data_dir, type(e).__name__, e)) from None
    raise InputFileError(path, line, "%s: %s" % (type(e).__name__, e)) from None
  if not examples:
    path, _ = processors_base.current_row_location()
    raise UserError("%s: the %s split has no examples; expected at least one row" %
                    (path or data_dir, split))
  return list(examples)


# ------------------------------------------------------------------------------------
# Features and records.
# ------------------------------------------------------------------------------------


def write_examples(examples, labels, tokenizer, options, task, output_file):
  """Tokenizes examples (labels already encoded) into a TFRecord file.

  The file is reused when it was written from the same inputs (records.cache_key).
  """
  key = records.cache_key(examples, labels, options.vocab_file, options.do_lower_case,
                          options.max_seq_length, task.label_feature)
  if records.is_cached(output_file, key):
    logging.info("reusing %s: same examples, vocabulary and settings", output_file)
    return
  records.forget(output_file)
  started = time.time()
  lengths = []
  serialized = conversion.convert_examples(
      examples, labels, tokenizer, options.max_seq_length, task.label_feature,
      num_workers=options.conversion_workers or None,
      name=os.path.basename(output_file), lengths=lengths)
  count = records.write_records(serialized, output_file)
  records.remember(output_file, key, count)
  seconds = time.time() - started
  logging.info("wrote %d records to %s in %.1f s (%.0f pairs/s; mean length %.1f tokens)",
               count, output_file, seconds, count / max(seconds, 1e-9),
               np.mean(lengths) if lengths else 0)


def pad_for_tpu(examples, labels, batch_size, use_tpu):
  """On TPU, fills the last batch with fake examples (is_real_example = 0)."""
  if not use_tpu:
    return examples, labels
  missing = -len(examples) % batch_size
  return (examples + [features_lib.PaddingInputExample()] * missing, labels + [0] * missing)


# ------------------------------------------------------------------------------------
# The run.
# ------------------------------------------------------------------------------------


class Split:
  """Examples of one split with their encoded labels."""

  def __init__(self, examples, labels):
    self.examples = examples
    self.labels = labels


def load_split(processor, task, data_dir, split, labels_required):
  get_examples = {"train": processor.get_train_examples, "dev": processor.get_dev_examples,
                  "test": processor.get_test_examples}[split]
  examples = read_examples(get_examples, data_dir, split)
  labels = [task.encode_label(example, labels_required) for example in examples]
  return Split(examples, labels)


def check_model_inputs(task, options):
  """Checks config, vocabulary and checkpoints against each other before any work.

  Returns:
    (bert_config, tokenizer, init_checkpoint prefix or None).
  """
  bert_config = load_bert_config(options.bert_config_file, options.max_seq_length)
  tokenizer = load_tokenizer(options.vocab_file, options.do_lower_case, bert_config,
                             options.bert_config_file)
  try:
    tokenization.validate_case_matches_checkpoint(options.do_lower_case,
                                                  options.init_checkpoint)
  except ValueError as e:
    raise UserError(str(e)) from None
  expected_shapes = modeling.variable_shapes(bert_config)
  expected_shapes.update(task.head_variable_shapes(bert_config.hidden_size))
  init_checkpoint = None
  if options.init_checkpoint:
    init_checkpoint = resolve_checkpoint(options.init_checkpoint, "--init_checkpoint")
    check_checkpoint_fits(init_checkpoint, expected_shapes, options.bert_config_file,
                          "--init_checkpoint")
  tf.io.gfile.makedirs(options.output_dir)
  remove_stale_temporaries(options.output_dir)
  own_checkpoint = tf.train.latest_checkpoint(options.output_dir)
  if own_checkpoint:
    check_checkpoint_fits(own_checkpoint, expected_shapes, options.bert_config_file,
                          "the checkpoint in --output_dir (use a new --output_dir)")
  elif not options.do_train and not init_checkpoint:
    raise UserError("%s holds no trained model and there is no --init_checkpoint; train "
                    "first (--do_train=true)" % options.output_dir)
  return bert_config, tokenizer, init_checkpoint


def training_steps(num_examples, options):
  """(num_train_steps, num_warmup_steps) as Google's scripts count them."""
  num_train_steps = int(num_examples / options.train_batch_size * options.num_train_epochs)
  if num_train_steps < 1:
    raise UserError("%d training examples at --train_batch_size=%d for "
                    "--num_train_epochs=%s make no training step" %
                    (num_examples, options.train_batch_size, options.num_train_epochs))
  return num_train_steps, int(num_train_steps * options.warmup_proportion)


def run(task, processor, options):
  """Trains, evaluates, exports and predicts as `options` say. Returns eval metrics or None."""
  if not (options.do_train or options.do_eval or options.do_predict or options.export_dir):
    raise UserError("nothing to do: set at least one of --do_train, --do_eval, --do_predict, "
                    "--export_dir")
  compute_dtype = distribution_lib.compute_dtype(options.mixed_precision, options.use_tpu)
  check_batch_layout(options)
  distribution = distribution_lib.make_distribution(
      options.distribution, options.devices, options.use_tpu, options.num_tpu_cores)
  check_batch_sizes(options, distribution)
  bert_config, tokenizer, init_checkpoint = check_model_inputs(task, options)

  evaluate_dev = options.do_eval or ((options.do_predict or options.export_dir) and
                                     task.needs_dev_evaluation)
  splits = {}  # every split is read and checked before training starts
  if options.do_train:
    splits["train"] = load_split(processor, task, options.data_dir, "train", True)
  if evaluate_dev:
    splits["dev"] = load_split(processor, task, options.data_dir, "dev", True)
  if options.do_predict:
    splits["test"] = load_split(processor, task, options.data_dir, "test", False)

  num_train_steps = num_warmup_steps = 0
  guard = None
  if options.do_train:
    num_train_steps, num_warmup_steps = training_steps(len(splits["train"].examples), options)
    guard = divergence.DivergenceGuard(options.learning_rate, num_train_steps,
                                       task.divergence_hint(splits["train"].labels))
  logging.info("engine: %s; computing in %s", distribution.description,
               compute_dtype.name)

  training_throughput = progress.Throughput()
  model_fn = model_fn_builder(
      bert_config=bert_config, task=task, init_checkpoint=init_checkpoint,
      learning_rate=options.learning_rate, num_train_steps=num_train_steps,
      num_warmup_steps=num_warmup_steps, use_tpu=options.use_tpu,
      use_one_hot_embeddings=options.use_tpu, train_batch_size=options.train_batch_size,
      log_every_n_steps=options.log_every_n_steps, training_throughput=training_throughput,
      compute_dtype=compute_dtype, divergence_guard=guard,
      adam_bias_correction=options.adam_bias_correction)
  config_proto = session_config(options.intra_op_threads, options.inter_op_threads,
                                options.use_xla, distribution.cpu_devices)

  def estimator(predict_batch_size):
    return make_estimator(
        model_fn, options.output_dir, options.use_tpu, options.train_batch_size,
        predict_batch_size, options.save_checkpoints_steps, options.iterations_per_loop,
        options.num_tpu_cores, options.tpu_name, options.tpu_zone, options.gcp_project,
        options.master, options.seed, config_proto, distribution,
        options.log_every_n_steps)

  if options.do_train:
    train(estimator(None), splits["train"], tokenizer, task, options,
          num_train_steps, num_warmup_steps, distribution, hooks=[guard])
    if training_throughput.examples:  # zero when the checkpoint had every step already
      logging.info("throughput: training %d examples in %.1f s = %.1f examples/s",
                   training_throughput.examples, training_throughput.seconds,
                   training_throughput.examples_per_second)
  if not distribution.is_chief:
    logging.info("%s: training done; the chief evaluates and predicts", distribution.task)
    return None

  result = None
  if evaluate_dev:
    result = evaluate(estimator(options.eval_batch_size), splits["dev"], tokenizer, task,
                      options)
  info = export.model_info(task, options.do_lower_case, options.max_seq_length)
  export.save_model_files(options.output_dir, info, options.bert_config_file,
                          options.vocab_file)
  if options.export_dir:
    checkpoint = tf.train.latest_checkpoint(options.output_dir) or init_checkpoint
    path = export.export_saved_model(checkpoint, bert_config, task, info, options.vocab_file,
                                     options.export_dir)
    logging.info("exported %s as a SavedModel to %s", checkpoint, path)
  if options.do_predict:
    predict(estimator(options.predict_batch_size), splits["test"], tokenizer, task, options)
  return result


def evaluate(estimator, split, tokenizer, task, options):
  """Predicts dev, writes eval_results.txt and TensorBoard scalars; returns the metrics."""
  outputs = predict_split(estimator, split, tokenizer, task, options, options.eval_batch_size,
                          "eval.tf_record")
  result = evaluation_result(task, outputs, options.output_dir)
  write_text_atomically(os.path.join(options.output_dir, "eval_results.txt"),
                        "".join("%s = %s\n" % (key, result[key]) for key in sorted(result)))
  write_eval_summaries(os.path.join(options.output_dir, "eval"), result)
  logging.info("eval results: %s", ", ".join("%s = %s" % item for item in sorted(result.items())))
  return result


def predict(estimator, split, tokenizer, task, options):
  """Predicts the test split and writes test_results.tsv."""
  outputs = predict_split(estimator, split, tokenizer, task, options,
                          options.predict_batch_size, "predict.tf_record")
  header, rows = task.prediction_table(split.examples, outputs, options.original_output_format)
  lines = ([header] if header else []) + rows
  path = os.path.join(options.output_dir, "test_results.tsv")
  write_text_atomically(path, "".join("\t".join(cells) + "\n" for cells in lines))
  logging.info("wrote %d predictions to %s", len(rows), path)


def check_batch_layout(options):
  """Raises UserError for an unknown --batch_layout or one a TPU cannot run."""
  if options.layout not in LAYOUTS:
    raise UserError("--batch_layout=%s: expected one of %s" %
                    (options.layout, ", ".join(LAYOUTS)))
  if options.use_tpu and options.layout != "fixed":
    raise UserError("--batch_layout=%s with --use_tpu: a TPU compiles one shape, so its "
                    "batches are fixed" % options.layout)


def check_batch_sizes(options, distribution):
  """Raises UserError when the replicas cannot share a batch evenly.

  Training batches are split over every replica; on a TPU the evaluation and
  prediction batches are too (elsewhere tf.estimator predicts on one device).
  """
  if options.do_train:
    distribution.per_replica_batch(options.train_batch_size)
  if options.use_tpu:
    distribution.per_replica_batch(options.eval_batch_size, "--eval_batch_size")
    distribution.per_replica_batch(options.predict_batch_size, "--predict_batch_size")


def train(estimator, split, tokenizer, task, options, num_train_steps, num_warmup_steps,
          distribution, hooks=()):
  """Writes train.tf_record and trains up to num_train_steps (resuming if interrupted).

  hooks: session hooks for the training session, run before the Estimator's own.
  """
  # Workers of a cluster may share output_dir: each writes a file of its own.
  train_file = os.path.join(options.output_dir, "train%s.tf_record" % (
      "" if distribution.is_chief else "-" + distribution.task.replace(" ", "-")))
  write_examples(split.examples, split.labels, tokenizer, options, task, train_file)
  logging.info("training: %d examples, global batch %d (%d per replica x %d replicas), "
               "%d steps (%d warmup) of %d examples each", len(split.examples),
               options.train_batch_size, distribution.per_replica_batch(options.train_batch_size),
               distribution.num_replicas, num_train_steps, num_warmup_steps,
               options.train_batch_size)
  input_fn = file_based_input_fn_builder(
      train_file, options.max_seq_length, task.label_feature, is_training=True,
      drop_remainder=options.use_tpu, layout=options.layout,
      shuffle_buffer=min(len(split.examples), 10000), seed=options.seed,
      fixed_shape_buckets=options.use_xla)
  if distribution.multi_worker:
    # tf.estimator trains over a TF_CONFIG cluster only through train_and_evaluate
    # (Estimator.train refuses it). The cluster has no evaluator task, so the EvalSpec
    # never runs: evaluation follows training, on the chief.
    tf.estimator.train_and_evaluate(
        estimator, tf.estimator.TrainSpec(input_fn, max_steps=num_train_steps, hooks=list(hooks)),
        tf.estimator.EvalSpec(input_fn))
  else:
    estimator.train(input_fn=input_fn, max_steps=num_train_steps, hooks=list(hooks))


def predict_split(estimator, split, tokenizer, task, options, batch_size, file_name):
  """Runs the model over a split; returns {output: array} for the real examples, in order."""
  examples, labels = pad_for_tpu(split.examples, split.labels, batch_size, options.use_tpu)
  record_file = os.path.join(options.output_dir, file_name)
  write_examples(examples, labels, tokenizer, options, task, record_file)
  input_fn = file_based_input_fn_builder(
      record_file, options.max_seq_length, task.label_feature, is_training=False,
      drop_remainder=options.use_tpu, layout=options.layout,
      fixed_shape_buckets=options.use_xla)
  collected = collections.defaultdict(list)
  throughput = progress.Throughput()
  for batch in estimator.predict(input_fn=input_fn, yield_single_examples=False,
                                 hooks=[progress.PredictionTimerHook(throughput)]):
    for name, values in batch.items():
      collected[name].append(values)
  outputs = {name: np.concatenate(values) for name, values in collected.items()}
  throughput.examples = len(outputs["loss"])
  logging.info("throughput: predicting %s, %d examples in %.1f s = %.1f examples/s",
               file_name, throughput.examples, throughput.seconds,
               throughput.examples_per_second)
  order = np.argsort(outputs.pop("example_index"), kind="stable")
  outputs = {name: values[order] for name, values in outputs.items()}
  real = outputs.pop("is_real_example").astype(bool)
  outputs = {name: values[real] for name, values in outputs.items()}
  if len(outputs["loss"]) != len(split.examples):
    raise RuntimeError("predicted %d examples for %d inputs" %
                       (len(outputs["loss"]), len(split.examples)))
  return outputs


def write_eval_summaries(summary_dir, result):
  """Writes the numeric eval results as TensorBoard scalars at their global_step."""
  writer = tf.summary.create_file_writer(summary_dir)
  with writer.as_default():
    for name, value in result.items():
      if name != "global_step" and value is not None and np.isfinite(value):
        tf.summary.scalar(name, value, step=int(result.get("global_step", 0)))
  writer.close()


def evaluation_result(task, outputs, output_dir):
  """The task's metrics plus eval_loss (mean loss per real example) and global_step."""
  result = task.evaluate(outputs)
  mean_loss = float(np.mean(outputs["loss"]))
  result.update(eval_loss=mean_loss, loss=mean_loss, eval_num_examples=len(outputs["loss"]))
  checkpoint = tf.train.latest_checkpoint(output_dir)
  if checkpoint:
    result["global_step"] = int(tf.train.load_checkpoint(checkpoint).get_tensor("global_step"))
  return result
