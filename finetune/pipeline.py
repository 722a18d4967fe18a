"""The one fine-tuning pipeline behind run_reg.py and run_classifier.py.

run(task, processor, options), top to bottom:
  1. check    every setting (options.py), the devices (training/distribution.py), the
              model's files against each other (model/model_inputs.py), every row of
              every split needed (data/examples.py): all before any work;
     report   each split read -> its TFRecord file (train.tf_record, eval.tf_record,
              predict.tf_record; data/records.py), whose pass also counts the pairs'
              token lengths -> the data report, logged and written to data_report.json
              (data/data_report.py); --data_report_only stops here, writing no records;
  2. train    train.tf_record -> input_fn (data/input_fn.py)
              -> the engine (engines/) trains model_fn (model/model_fn.py: BERT + the
              task's head, tasks.py) to the planned step, resuming from output_dir; with
              --eval_every_n_steps, evaluating dev on the way, keeping the best
              checkpoint and stopping early (training/loop.py, best_checkpoint.py);
  3. evaluate eval.tf_record -> predictions (evaluation/prediction.py) -> exact
              metrics over every real example (evaluation/evaluate.py, tasks.py,
              metrics.py) -> eval_results.txt (evaluation/outputs.py); what evaluation
              decides (a threshold) gives the task used from then on;
  4. keep     model_info.json, bert_config.json, vocab.txt beside the checkpoints
              (model/model_files.py), and a SavedModel with --export_dir
              (export/saved_model.py);
  5. predict  predict.tf_record -> predictions -> test_results.tsv.
From step 3 on, the checkpoint used is --checkpoint's (without training), else best/'s
when the run keeps one (unless --use_best_checkpoint=false), else the latest: checked
whole first, never another one silently (best_checkpoint.checkpoint_of_run).
Everything written is written whole or not at all (common/files.py).
"""

import dataclasses
import os
from typing import Optional

from absl import logging

from common import files
from common import run_lock
from common.errors import UserError
from finetune import options as options_lib
from finetune import tasks as tasks_lib
from finetune.data import data_report
from finetune.data import examples as examples_lib
from finetune.data import records
from finetune.engines import make_engine
from finetune.engines import resolve_engine
from finetune.evaluation import outputs as outputs_lib
from finetune.evaluation.evaluate import evaluate_checkpoint
from finetune.evaluation.prediction import pad_for_tpu
from finetune.evaluation.prediction import predict_split
from finetune.export import saved_model as saved_model_lib
from finetune.model import model_files
from finetune.model import model_inputs
from finetune.model import precision
from finetune.model.model_fn import model_fn_builder
from finetune.training import best_checkpoint as best_lib
from finetune.training import distribution as distribution_lib
from finetune.training import loop as training


@dataclasses.dataclass
class PreparedRun:
  """What every stage of one run shares, made by prepare().

  record_files: {split name: records.RecordFile} of the record files written so far.
  """
  options: options_lib.RunOptions
  distribution: distribution_lib.Distribution
  model: model_inputs.ModelInputs
  splits: dict
  record_settings: records.RecordSettings
  record_files: dict = dataclasses.field(default_factory=dict)
  checkpoint: Optional[str] = None  # without training: the trained checkpoint to use
  train_rows: Optional[tuple] = None  # (examples, labels) of train.tf_record, once made


def train_rows(prepared, task):
  """(examples, labels) the train records hold: the task's arrangement of the split
  (a list loss's groups, padded), made once per run."""
  if prepared.train_rows is None:
    split = prepared.splits["train"]
    prepared.train_rows = task.training_rows(split.examples, split.labels,
                                             prepared.options.training.seed)
  return prepared.train_rows


def run(task, processor, options):
  """Trains, evaluates, exports and predicts as `options` say. Returns eval metrics or None.

  Everything is checked before anything is written; then the run holds the lock of
  --output_dir (one run per folder; the workers of a cluster share the chief's).
  """
  prepared = prepare(task, processor, options)
  with run_lock.holding(options.data.output_dir, enabled=prepared.distribution.is_chief):
    files.remove_stale_temporaries(options.data.output_dir)
    if options.data_report_only:
      report_data(prepared, task, write_records=False)
      return None
    return _run_prepared(prepared, task)


def _run_prepared(prepared, task):
  """Steps 2-5 of a run (see the module docstring), after the records and the report."""
  options = prepared.options
  num_train_steps = num_warmup_steps = 0
  if options.do_train:
    # What the task learns from the training labels (balanced class weights) is part of
    # the model from its first step.
    task = task.fitted_to(prepared.splits["train"].labels)
    check_group_batches(options, prepared.distribution, task)
    num_train_steps, num_warmup_steps = training.training_steps(
        len(train_rows(prepared, task)[0]), options.training)
  # The last checks passed: the records, and the report of the data in them.
  report_data(prepared, task, write_records=True)
  model_fn = model_fn_builder(
      bert_config=prepared.model.bert_config, task=task,
      init_checkpoint=prepared.model.init_checkpoint,
      learning_rate=options.training.learning_rate, num_train_steps=num_train_steps,
      num_warmup_steps=num_warmup_steps, use_tpu=options.runtime.use_tpu,
      use_one_hot_embeddings=options.runtime.use_tpu,
      compute_dtype=precision.compute_dtype(options.runtime.mixed_precision),
      adam_bias_correction=options.training.adam_bias_correction,
      micro_batches=options.training.gradient_accumulation_steps,
      fresh_head=prepared.model.fresh_head)
  engine = make_engine(options.runtime.engine, model_fn=model_fn,
                       output_dir=options.data.output_dir,
                       distribution=prepared.distribution, training=options.training,
                       runtime=options.runtime)

  outcome = None
  if options.do_train:
    outcome = training.train(engine, prepared, task, num_train_steps, num_warmup_steps)
  if not prepared.distribution.is_chief:
    logging.info("%s: training done; the chief evaluates and predicts",
                 prepared.distribution.task)
    return None
  # The checkpoint used from here on (see the module docstring).
  checkpoint = prepared.checkpoint
  if options.do_train:
    checkpoint = best_lib.checkpoint_of_run(options.data.output_dir,
                                            use_best=options.training.use_best_checkpoint)
  result = None
  if outcome is not None:  # evaluated while training
    result = outcome.result
    task = task.apply(tasks_lib.Evaluation(result, result.get("eval_threshold")))
    if outcome.checkpoint is not None:  # best/'s per-query figures, if it keeps any
      best_dir = os.path.join(options.data.output_dir, best_lib.BEST_DIR)
      for name in files.listdir(best_dir):
        if name.startswith("eval_") and name.endswith(".tsv"):
          files.write_text_atomically(os.path.join(options.data.output_dir, name),
                                      files.read_text(os.path.join(best_dir, name)))
  elif "dev" in prepared.splits:
    result, evaluation = evaluate_checkpoint(engine, prepared, task, checkpoint)
    outputs_lib.write_eval_summaries(options.data.output_dir, result)
    outputs_lib.write_tables(options.data.output_dir, evaluation.tables)
    task = task.apply(evaluation)
  if result is not None:
    outputs_lib.write_eval_results(options.data.output_dir, result)
  keep_model(prepared, task, checkpoint)
  if options.do_predict:
    predict(engine, prepared, task, checkpoint)
  return result


def prepare(task, processor, options):
  """Step 1: checks everything a run needs and reads every split; returns a PreparedRun.

  It writes nothing.
  """
  options_lib.validate(options)
  # A precision this machine would run slower than float32 falls back, with a warning.
  runtime = dataclasses.replace(options.runtime, mixed_precision=precision.usable_precision(
      options.runtime.mixed_precision, "--mixed_precision", use_tpu=options.runtime.use_tpu))
  options = dataclasses.replace(options, runtime=runtime)
  distribution = distribution_lib.make_distribution(
      runtime.distribution, devices=runtime.devices, use_tpu=runtime.use_tpu,
      num_tpu_cores=runtime.num_tpu_cores, engine=resolve_engine(runtime.engine))
  check_batch_sizes(options, distribution)
  checkpoint = None
  if options.data_report_only:  # reads and tokenizes only: no checkpoint is needed
    model = model_inputs.load_for_tokenizing(options.model)
  else:
    if not options.do_train:
      checkpoint = best_lib.checkpoint_of_run(options.data.output_dir,
                                              options.model.checkpoint,
                                              options.training.use_best_checkpoint)
    model = model_inputs.load(options.model, task, options.data.output_dir, options.do_train,
                              checkpoint)
  needed = []
  if options.do_train:
    needed.append("train")
  if options.do_train and options.training.eval_every_n_steps:
    tasks_lib.check_best_metric(task, options.training.best_metric)
  if (options.do_eval or (options.do_train and options.training.eval_every_n_steps) or
      ((options.do_predict or options.data.export_dir) and task.needs_dev_evaluation)):
    needed.append("dev")
  if options.do_predict:
    needed.append("test")
  if options.data_report_only and not needed:
    splits = examples_lib.read_present_splits(processor, task, options.data.data_dir)
  else:
    splits = {split: examples_lib.read_split(processor, task, options.data.data_dir, split)
              for split in needed}
  if options.data_report_only:
    logging.info("--data_report_only: reporting the %s split(s); no records, training, "
                 "evaluation, prediction or export", ", ".join(splits))
  else:
    logging.info("engine: %s, %s; computing in %s", resolve_engine(runtime.engine),
                 distribution.description,
                 runtime.mixed_precision if runtime.mixed_precision != "none" else "float32")
  record_settings = records.RecordSettings(
      tokenizer=model.tokenizer, vocab_file=options.model.vocab_file,
      do_lower_case=options.model.do_lower_case,
      max_seq_length=options.model.max_seq_length, label_feature=task.label_feature,
      workers=runtime.conversion_workers or None,
      count_limit=model.bert_config.max_position_embeddings)
  return PreparedRun(options, distribution, model, splits, record_settings,
                     checkpoint=checkpoint)


def record_inputs(prepared, split_name, task):
  """(path, examples, labels) of the record file of a split, as the run writes it.

  On TPU, dev and test are padded with fake examples to whole batches (pad_for_tpu).
  """
  options, distribution = prepared.options, prepared.distribution
  split = prepared.splits[split_name]
  name = records.RECORD_FILES[split_name]
  if split_name == "train" and not distribution.is_chief:
    # Workers of a cluster may share output_dir: each writes a train file of its own.
    name = "train-%s.tf_record" % distribution.task.replace(" ", "-")
  examples, labels = split.examples, split.labels
  if split_name == "train":
    examples, labels = train_rows(prepared, task)
  else:
    batch_size = (options.runtime.eval_batch_size if split_name == "dev" else
                  options.runtime.predict_batch_size)
    examples, labels = pad_for_tpu(examples, labels, batch_size, options.runtime.use_tpu)
  return os.path.join(options.data.output_dir, name), examples, labels


def report_data(prepared, task, write_records):
  """The records of every split read and the data report (see the module docstring).

  write_records: write (or reuse) each split's record file, counting the lengths in the
    same pass; False (--data_report_only): write nothing but data_report.json, the
    lengths reused from current record files or counted by tokenizing.
  A worker of a cluster other than the chief writes its train records only; the chief
  reports.
  """
  options, settings = prepared.options, prepared.record_settings
  is_chief = prepared.distribution.is_chief
  inputs = []
  for name, split in prepared.splits.items():
    if not is_chief and name != "train":
      continue
    path, examples, labels = record_inputs(prepared, name, task)
    if write_records:
      record = records.write_record_file(examples, labels, path, settings)
      prepared.record_files[name] = record
      lengths = record.lengths
      candidates = task.dev_candidates_text(split) if name == "dev" else None
      if candidates is not None and is_chief:
        files.write_text_atomically(os.path.join(options.data.output_dir,
                                                 task.CANDIDATES_FILE), candidates)
    else:
      lengths = records.measure_lengths(examples, labels, path, settings)
    if examples is not split.examples and name == "train":
      # A list loss's groups repeat some pairs and leave others out: the report counts
      # the split as read.
      lengths = records.measure_lengths(split.examples, split.labels, path, settings)
    if is_chief:
      inputs.append(data_report.split_input(split, task, lengths))
  if not is_chief:
    return None
  class_names, score_range = data_report.label_space(task)
  model = options.model
  report = data_report.build_report(
      inputs, class_names=class_names, score_range=score_range,
      settings={"task_name": options.data.task_name, "data_dir": options.data.data_dir,
                "vocab_file": model.vocab_file, "do_lower_case": model.do_lower_case,
                "bert_config_file": model.bert_config_file,
                "max_seq_length": model.max_seq_length,
                "max_position_embeddings": prepared.model.bert_config.max_position_embeddings,
                "lengths_counted_up_to": settings.count_limit},
      max_seq_length=model.max_seq_length,
      max_position_embeddings=prepared.model.bert_config.max_position_embeddings)
  path = os.path.join(options.data.output_dir, data_report.REPORT_FILE)
  data_report.write_report(path, report)
  data_report.log_report(report, model.max_seq_length, path)
  return report


def check_batch_sizes(options, distribution):
  """Raises UserError when the replicas cannot share a batch evenly.

  Training batches are split over every replica; on a TPU the evaluation and
  prediction batches are too (elsewhere the engines predict on one device).
  """
  if options.do_train:
    per_replica = distribution.per_replica_batch(options.training.train_batch_size)
    micro_batches = options.training.gradient_accumulation_steps
    if per_replica % micro_batches:
      raise UserError("--gradient_accumulation_steps=%d must divide the batch of each "
                      "replica, %d (--train_batch_size=%d over %d replica(s)); expected a "
                      "divisor of %d" % (micro_batches, per_replica,
                                         options.training.train_batch_size,
                                         distribution.num_replicas, per_replica))
  if options.runtime.use_tpu:
    distribution.per_replica_batch(options.runtime.eval_batch_size, "--eval_batch_size")
    distribution.per_replica_batch(options.runtime.predict_batch_size, "--predict_batch_size")


def check_group_batches(options, distribution, task):
  """Raises UserError unless a list loss's groups fit whole in every (micro-)batch."""
  group_size = task.train_group_size
  if group_size == 1:
    return
  per_replica = distribution.per_replica_batch(options.training.train_batch_size)
  piece = per_replica // options.training.gradient_accumulation_steps
  if piece % group_size:
    raise UserError("--group_size=%d must divide the batch of each replica%s, %d "
                    "(--train_batch_size=%d); expected a --train_batch_size that is a "
                    "multiple of %d" % (
                        group_size, " and micro-batch" if piece != per_replica else "",
                        piece, options.training.train_batch_size,
                        group_size * distribution.num_replicas *
                        options.training.gradient_accumulation_steps))


def keep_model(prepared, task, checkpoint):
  """Step 4: what predict.py needs beside the checkpoints; the SavedModel if asked.

  checkpoint: the one chosen, or None when output_dir holds none (the initial one).
  """
  options = prepared.options
  output_dir = options.data.output_dir
  info = model_files.model_info(task, options.model.do_lower_case, options.model.max_seq_length,
                           use_best_checkpoint=options.training.use_best_checkpoint and
                           best_lib.keeps_a_best(output_dir))
  model_files.save_model_files(
      output_dir, info, options.model.bert_config_file, options.model.vocab_file,
      bert_config=prepared.model.bert_config if options.model.num_hidden_layers else None)
  if options.data.export_dir:
    checkpoint = checkpoint or prepared.model.init_checkpoint
    path = saved_model_lib.export_saved_model(checkpoint, prepared.model.bert_config, task, info,
                                     options.model.vocab_file, options.data.export_dir)
    logging.info("exported %s as a SavedModel to %s", checkpoint, path)


def predict(engine, prepared, task, checkpoint):
  """Step 5: predicts the test split with `checkpoint` (None: the initial one);
  test_results.tsv."""
  split = prepared.splits["test"]
  outputs = predict_split(engine, prepared, task, split,
                          prepared.options.runtime.predict_batch_size,
                          records.RECORD_FILES["test"],
                          checkpoint=checkpoint)
  header, rows = task.prediction_table(split.examples, outputs,
                                       prepared.options.data.original_output_format)
  outputs_lib.write_test_results(prepared.options.data.output_dir, header, rows)
