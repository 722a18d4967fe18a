"""The one fine-tuning pipeline behind run_reg.py and run_classifier.py.

run(task, processor, options), top to bottom:
  1. check    every setting (options.py), the devices (distribution.py), the model's
              files against each other (model_inputs.py), every row of every split
              needed (examples.py): all before any work;
  2. train    train split -> train.tf_record (records.py) -> input_fn (input_fn.py)
              -> the engine (engines/) trains model_fn (model_fn.py: BERT + the task's
              head, tasks.py) to the planned step, resuming from output_dir;
  3. evaluate dev split -> eval.tf_record -> predictions -> exact metrics over every
              real example (tasks.py, metrics.py) -> eval_results.txt (outputs.py);
              what evaluation decides (a threshold) gives the task used from then on;
  4. keep     model_info.json, bert_config.json, vocab.txt beside the checkpoints, and
              a SavedModel with --export_dir (export.py);
  5. predict  test split -> predict.tf_record -> predictions -> test_results.tsv.
Everything written is written whole or not at all (common/files.py).
"""

import collections
import dataclasses
import os

from absl import logging
import numpy as np
import tensorflow as tf

from common import files
from common.errors import UserError
from finetune import distribution as distribution_lib
from finetune import examples as examples_lib
from finetune import export
from finetune import model_inputs
from finetune import monitors
from finetune import options as options_lib
from finetune import outputs as outputs_lib
from finetune import records
from finetune.engines import make_engine
from finetune.engines import resolve_engine
from finetune.features import PaddingInputExample
from finetune.input_fn import file_based_input_fn_builder
from finetune.model_fn import model_fn_builder


@dataclasses.dataclass
class PreparedRun:
  """What every stage of one run shares, made by prepare()."""
  options: options_lib.RunOptions
  distribution: distribution_lib.Distribution
  model: model_inputs.ModelInputs
  splits: dict
  record_settings: records.RecordSettings


def run(task, processor, options):
  """Trains, evaluates, exports and predicts as `options` say. Returns eval metrics or None."""
  prepared = prepare(task, processor, options)
  num_train_steps, num_warmup_steps = (training_steps(len(prepared.splits["train"].examples),
                                                      options.training)
                                       if options.do_train else (0, 0))
  model_fn = model_fn_builder(
      bert_config=prepared.model.bert_config, task=task,
      init_checkpoint=prepared.model.init_checkpoint,
      learning_rate=options.training.learning_rate, num_train_steps=num_train_steps,
      num_warmup_steps=num_warmup_steps, use_tpu=options.runtime.use_tpu,
      use_one_hot_embeddings=options.runtime.use_tpu,
      compute_dtype=distribution_lib.COMPUTE_DTYPES[options.runtime.mixed_precision],
      adam_bias_correction=options.training.adam_bias_correction)
  engine = make_engine(options.runtime.engine, model_fn=model_fn, output_dir=options.data.output_dir,
                       distribution=prepared.distribution, training=options.training,
                       runtime=options.runtime)

  if options.do_train:
    train(engine, prepared, task, num_train_steps, num_warmup_steps)
  if not prepared.distribution.is_chief:
    logging.info("%s: training done; the chief evaluates and predicts",
                 prepared.distribution.task)
    return None
  result = None
  if "dev" in prepared.splits:
    result, evaluation = evaluate(engine, prepared, task)
    task = task.apply(evaluation)
  keep_model(prepared, task)
  if options.do_predict:
    predict(engine, prepared, task)
  return result


def prepare(task, processor, options):
  """Step 1: checks everything a run needs and reads every split; returns a PreparedRun.

  Nothing is written before all checks have passed.
  """
  options_lib.validate(options)
  runtime = options.runtime
  distribution = distribution_lib.make_distribution(
      runtime.distribution, devices=runtime.devices, use_tpu=runtime.use_tpu,
      num_tpu_cores=runtime.num_tpu_cores, engine=resolve_engine(runtime.engine))
  check_batch_sizes(options, distribution)
  model = model_inputs.load(options.model, task, options.data.output_dir, options.do_train)
  needed = []
  if options.do_train:
    needed.append("train")
  if options.do_eval or ((options.do_predict or options.data.export_dir) and
                         task.needs_dev_evaluation):
    needed.append("dev")
  if options.do_predict:
    needed.append("test")
  splits = {split: examples_lib.read_split(processor, task, options.data.data_dir, split)
            for split in needed}
  logging.info("engine: %s, %s; computing in %s", resolve_engine(runtime.engine),
               distribution.description,
               runtime.mixed_precision if runtime.mixed_precision != "none" else "float32")
  files.makedirs(options.data.output_dir)
  files.remove_stale_temporaries(options.data.output_dir)
  record_settings = records.RecordSettings(
      tokenizer=model.tokenizer, vocab_file=options.model.vocab_file,
      do_lower_case=options.model.do_lower_case,
      max_seq_length=options.model.max_seq_length, label_feature=task.label_feature,
      workers=runtime.conversion_workers or None)
  return PreparedRun(options, distribution, model, splits, record_settings)


def check_batch_sizes(options, distribution):
  """Raises UserError when the replicas cannot share a batch evenly.

  Training batches are split over every replica; on a TPU the evaluation and
  prediction batches are too (elsewhere the engines predict on one device).
  """
  if options.do_train:
    distribution.per_replica_batch(options.training.train_batch_size)
  if options.runtime.use_tpu:
    distribution.per_replica_batch(options.runtime.eval_batch_size, "--eval_batch_size")
    distribution.per_replica_batch(options.runtime.predict_batch_size, "--predict_batch_size")


def training_steps(num_examples, training):
  """(num_train_steps, num_warmup_steps) as Google's scripts count them."""
  num_train_steps = int(num_examples / training.train_batch_size * training.num_train_epochs)
  if num_train_steps < 1:
    raise UserError("%d training examples at --train_batch_size=%d for "
                    "--num_train_epochs=%s make no training step" %
                    (num_examples, training.train_batch_size, training.num_train_epochs))
  return num_train_steps, int(num_train_steps * training.warmup_proportion)


def train(engine, prepared, task, num_train_steps, num_warmup_steps):
  """Step 2: writes train.tf_record and trains up to num_train_steps (resuming)."""
  options, distribution, split = prepared.options, prepared.distribution, prepared.splits["train"]
  # Workers of a cluster may share output_dir: each writes a file of its own.
  train_file = os.path.join(options.data.output_dir, "train%s.tf_record" % (
      "" if distribution.is_chief else "-" + distribution.task.replace(" ", "-")))
  records.write_record_file(split.examples, split.labels, train_file,
                            prepared.record_settings)
  batch_size = options.training.train_batch_size
  logging.info("training: %d examples, global batch %d (%d per replica x %d replicas), "
               "%d steps (%d warmup) of %d examples each", len(split.examples), batch_size,
               distribution.per_replica_batch(batch_size), distribution.num_replicas,
               num_train_steps, num_warmup_steps, batch_size)
  input_fn = file_based_input_fn_builder(
      train_file, seq_length=options.model.max_seq_length, label_feature=task.label_feature,
      is_training=True, drop_remainder=options.runtime.use_tpu,
      layout=options.runtime.layout, shuffle_buffer=min(len(split.examples), 10000),
      seed=options.training.seed, fixed_shape_buckets=options.runtime.use_xla)
  watch = monitors.TrainingMonitors(
      total_steps=num_train_steps, batch_size=batch_size,
      log_every_n_steps=options.training.log_every_n_steps,
      learning_rate=options.training.learning_rate,
      label_hint=task.divergence_hint(split.labels))
  engine.train(input_fn, num_train_steps, watch)
  if watch.throughput.examples:  # zero when the checkpoint had every step already
    logging.info("throughput: training %d examples in %.1f s = %.1f examples/s",
                 watch.throughput.examples, watch.throughput.seconds,
                 watch.throughput.examples_per_second)


def evaluate(engine, prepared, task):
  """Step 3: predicts dev, writes eval_results.txt and TensorBoard scalars.

  Returns (metrics dict, tasks.Evaluation).
  """
  output_dir = prepared.options.data.output_dir
  outputs = predict_split(engine, prepared, task, prepared.splits["dev"],
                          prepared.options.runtime.eval_batch_size, "eval.tf_record")
  evaluation = task.evaluate(outputs)
  result = dict(evaluation.metrics)
  mean_loss = float(np.mean(outputs["loss"]))
  result.update(eval_loss=mean_loss, loss=mean_loss, eval_num_examples=len(outputs["loss"]))
  checkpoint = tf.train.latest_checkpoint(output_dir)
  if checkpoint:
    result["global_step"] = int(tf.train.load_checkpoint(checkpoint).get_tensor("global_step"))
  outputs_lib.write_eval_results(output_dir, result)
  outputs_lib.write_eval_summaries(output_dir, result)
  logging.info("eval results: %s", ", ".join("%s = %s" % item for item in sorted(result.items())))
  return result, evaluation


def keep_model(prepared, task):
  """Step 4: what predict.py needs beside the checkpoints; the SavedModel if asked."""
  options = prepared.options
  info = export.model_info(task, options.model.do_lower_case, options.model.max_seq_length)
  export.save_model_files(options.data.output_dir, info, options.model.bert_config_file,
                          options.model.vocab_file)
  if options.data.export_dir:
    checkpoint = (tf.train.latest_checkpoint(options.data.output_dir) or
                  prepared.model.init_checkpoint)
    path = export.export_saved_model(checkpoint, prepared.model.bert_config, task, info,
                                     options.model.vocab_file, options.data.export_dir)
    logging.info("exported %s as a SavedModel to %s", checkpoint, path)


def predict(engine, prepared, task):
  """Step 5: predicts the test split and writes test_results.tsv."""
  split = prepared.splits["test"]
  outputs = predict_split(engine, prepared, task, split,
                          prepared.options.runtime.predict_batch_size, "predict.tf_record")
  header, rows = task.prediction_table(split.examples, outputs,
                                       prepared.options.data.original_output_format)
  outputs_lib.write_test_results(prepared.options.data.output_dir, header, rows)


def pad_for_tpu(examples, labels, batch_size, use_tpu):
  """On TPU, fills the last batch with fake examples (is_real_example = 0)."""
  if not use_tpu:
    return examples, labels
  missing = -len(examples) % batch_size
  return examples + [PaddingInputExample()] * missing, labels + [0] * missing


def predict_split(engine, prepared, task, split, batch_size, file_name):
  """Runs the model over a split; returns {output: array} for the real examples, in order."""
  options = prepared.options
  examples, labels = pad_for_tpu(split.examples, split.labels, batch_size,
                                 options.runtime.use_tpu)
  record_file = os.path.join(options.data.output_dir, file_name)
  records.write_record_file(examples, labels, record_file, prepared.record_settings)
  input_fn = file_based_input_fn_builder(
      record_file, seq_length=options.model.max_seq_length, label_feature=task.label_feature,
      is_training=False, drop_remainder=options.runtime.use_tpu,
      layout=options.runtime.layout, fixed_shape_buckets=options.runtime.use_xla)
  collected = collections.defaultdict(list)
  watch = monitors.PredictionMonitors()
  for batch in engine.predict(input_fn, batch_size, watch):
    for name, values in batch.items():
      collected[name].append(values)
  outputs = {name: np.concatenate(values) for name, values in collected.items()}
  throughput = watch.throughput
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
