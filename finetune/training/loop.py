"""Training: the train split's records, the number of steps, and the engine's train calls.

Without --eval_every_n_steps the engine trains to the planned step in one call (resuming
from output_dir). With it, training goes in stretches of N steps; after each (and at the
last step) dev is evaluated: a row in eval_history.tsv, TensorBoard scalars, one log line,
and best_checkpoint.BestCheckpoint keeps the best checkpoint and decides when to stop
early. Each stretch starts its input pipeline afresh, shuffled with --seed plus the step
it starts from, so that no stretch replays the batches of another.

Training resumes from the newest intact checkpoint of output_dir: damaged ones are set
aside first, and one whose restore fails (bytes changed inside it) is set aside then
(checkpoints.py). A checkpoint save that fails for want of room ends the run with one
line, nothing of that save left behind.
"""

import contextlib
import dataclasses
import json
import math
from typing import Optional

from absl import logging
import tensorflow as tf

from common import interruption
from common.errors import DamagedFileError
from common.errors import UserError
from finetune import tasks as tasks_lib
from finetune.data.input_fn import file_based_input_fn_builder
from finetune.evaluation import outputs as outputs_lib
from finetune.evaluation.evaluate import evaluate_checkpoint
from finetune.model import checkpoints
from finetune.model import model_files
from finetune.training import best_checkpoint as best_lib
from finetune.training import monitors


@dataclasses.dataclass
class Outcome:
  """What training with evaluations chose: the metrics of the checkpoint to use from here
  on, and that checkpoint (None: the latest of output_dir)."""
  result: dict
  checkpoint: Optional[str]


def whole_steps(value):
  """int(value), except that a value a rounding error below an integer counts as it.

  Google's scripts truncate `examples / batch * epochs`, and floating point can land a
  hair below the integer meant: 100 / 2 * 4.64 is 231.99999999999997, 231 steps where
  the epochs ask for 232. Within a relative 1e-9 of the next integer, that integer.
  """
  steps = math.floor(value)
  if math.isclose(value, steps + 1, rel_tol=1e-9):
    steps += 1
  return int(steps)


def training_steps(num_examples, training):
  """(num_train_steps, num_warmup_steps) as Google's scripts count them (whole_steps)."""
  num_train_steps = whole_steps(num_examples / training.train_batch_size *
                                training.num_train_epochs)
  if num_train_steps < 1:
    raise UserError("%d training examples at --train_batch_size=%d for "
                    "--num_train_epochs=%s make no training step" %
                    (num_examples, training.train_batch_size, training.num_train_epochs))
  return num_train_steps, whole_steps(num_train_steps * training.warmup_proportion)


def current_step(output_dir):
  """The global step of output_dir's latest checkpoint (0 without one)."""
  checkpoint = tf.train.latest_checkpoint(output_dir)
  if checkpoint is None:
    return 0
  return int(tf.train.load_checkpoint(checkpoint).get_tensor("global_step"))


def _train_to(engine, input_fn_from, stop, watch, output_dir, planned, init_checkpoint,
              is_chief=True):
  """engine.train to step `stop` on input_fn_from(the step it starts from), letting a
  first Ctrl-C or SIGTERM end it after the current step: the engine then saves that
  step's checkpoint, and this raises Interrupted saying where (`planned`: the run's last
  step). On the chief, which owns output_dir's checkpoints: a checkpoint whose restore
  fails because it is damaged is set aside, and training starts again from the newest
  intact one; a save that fails for want of room leaves nothing of itself."""
  while True:
    resumed = tf.train.latest_checkpoint(output_dir) if is_chief else None
    guards = contextlib.ExitStack()
    guards.enter_context(interruption.finishing_the_step())
    if is_chief:
      guards.enter_context(checkpoints.saving(output_dir))
      guards.enter_context(checkpoints.restoring(
          resumed or init_checkpoint, flag="--init_checkpoint",
          none_left="give another --init_checkpoint"))
    try:
      with guards:
        engine.train(input_fn_from(current_step(output_dir)), stop, watch)
      break
    except DamagedFileError as damage:
      if resumed is None or not damage.path.startswith(resumed + "."):
        raise  # the initial checkpoint: the user's to replace
      checkpoints.prepare_to_resume(output_dir, init_checkpoint, damaged={resumed: damage})
  signum = interruption.requested()
  if signum is not None:
    checkpoint = tf.train.latest_checkpoint(output_dir)
    raise interruption.Interrupted(signum, (
        "interrupted by %s at step %d of %d; the checkpoint of that step is %s; the same "
        "command resumes from it" % (interruption.signal_name(signum), current_step(output_dir),
                                     planned, checkpoint)))


def train(engine, prepared, task, num_train_steps, num_warmup_steps):
  """Trains up to num_train_steps (resuming) on the train records the pipeline wrote.

  Returns an Outcome with --eval_every_n_steps, else None.
  """
  options, distribution = prepared.options, prepared.distribution
  split = prepared.splits["train"]
  output_dir = options.data.output_dir
  # Written by the pipeline before training (pipeline.report_data); workers of a cluster
  # may share output_dir, so each writes a file of its own.
  train_file = prepared.record_files["train"].path
  init_checkpoint = prepared.model.init_checkpoint
  if distribution.is_chief:
    checkpoints.prepare_to_resume(output_dir, init_checkpoint)
  training = options.training
  batch_size = training.train_batch_size
  logging.info("training: %d examples, global batch %d (%d per replica x %d replicas%s), "
               "%d steps (%d warmup) of %d examples each", len(split.examples), batch_size,
               distribution.per_replica_batch(batch_size), distribution.num_replicas,
               "" if training.gradient_accumulation_steps == 1 else
               ", each in %d micro-batches" % training.gradient_accumulation_steps,
               num_train_steps, num_warmup_steps, batch_size)

  def input_fn_from(step):
    seed = None if training.seed is None else training.seed + step
    return file_based_input_fn_builder(
        train_file, seq_length=options.model.max_seq_length, label_feature=task.label_feature,
        is_training=True, drop_remainder=options.runtime.use_tpu,
        layout=options.runtime.layout, shuffle_buffer=min(len(split.examples), 10000),
        seed=seed, fixed_shape_buckets=options.runtime.use_xla,
        group_size=getattr(task, "train_group_size", 1),
        teacher_scores=getattr(task, "uses_teacher_scores", False))

  watch = monitors.TrainingMonitors(
      total_steps=num_train_steps, batch_size=batch_size,
      log_every_n_steps=training.log_every_n_steps, learning_rate=training.learning_rate,
      label_hint=task.divergence_hint(split.labels))
  outcome = None
  if training.eval_every_n_steps:
    outcome = _train_with_evaluations(engine, prepared, task, num_train_steps, input_fn_from,
                                      watch)
  else:
    _train_to(engine, input_fn_from, num_train_steps, watch, output_dir, num_train_steps,
              init_checkpoint, distribution.is_chief)
  if watch.throughput.examples:  # zero when the checkpoint had every step already
    logging.info("throughput: training %d examples in %.1f s = %.1f examples/s",
                 watch.throughput.examples, watch.throughput.seconds,
                 watch.throughput.examples_per_second)
  return outcome


def _train_with_evaluations(engine, prepared, task, num_train_steps, input_fn_from, watch):
  """Trains in stretches of --eval_every_n_steps steps, evaluating dev after each."""
  options = prepared.options
  training, output_dir = options.training, options.data.output_dir
  metric, higher_is_better = tasks_lib.check_best_metric(task, training.best_metric)
  best = best_lib.BestCheckpoint(output_dir, metric, higher_is_better,
                                 training.early_stopping_min_delta,
                                 training.early_stopping_patience)
  done = {int(row["step"]) for row in outputs_lib.read_eval_history(output_dir)}
  every = training.eval_every_n_steps
  stops = sorted(set(range(every, num_train_steps, every)) | {num_train_steps})
  last = None
  for stop in stops:
    if best.should_stop:
      logging.info("early stopping: %s has not improved by more than %g in %d evaluations "
                   "(the best, %g, at step %d); not training on to step %d", metric,
                   training.early_stopping_min_delta, best.evaluations_without_improvement,
                   best.value, best.step, num_train_steps)
      break
    if stop in done:  # evaluated by an earlier run of this command
      continue
    _train_to(engine, input_fn_from, stop, watch, output_dir, num_train_steps,
              prepared.model.init_checkpoint)
    checkpoint = checkpoints.checkpoint_to_use(output_dir)
    result, evaluation = evaluate_checkpoint(engine, prepared, task, checkpoint)
    step = result["global_step"]
    info = model_files.model_info(task.apply(evaluation), options.model.do_lower_case,
                             options.model.max_seq_length, use_best_checkpoint=True)
    # best/ first: a rerun evaluates again a step whose row is missing, and best/
    # counts it once; a row would make the rerun skip a step best/ has not seen.
    improved = best.update(step, checkpoint, result, outputs_lib.format_eval_results(result),
                           json.dumps(info, indent=2, sort_keys=True) + "\n",
                           {name: outputs_lib.table_text(*table)
                            for name, table in evaluation.tables.items()})
    outputs_lib.append_eval_history(output_dir, step, result)
    outputs_lib.write_eval_summaries(output_dir, result)
    logging.info("evaluation at step %d of %d: %s; %s", step, num_train_steps,
                 ", ".join("%s = %.4g" % (name, result[name]) for name in
                           sorted(result) if name.startswith("eval_")),
                 "the best so far" if improved else
                 "the best %s is still %.4g, at step %d" % (metric, best.value, best.step)
                 if best.step is not None else "no best yet")
    last = result
  if training.use_best_checkpoint and best.step is not None:
    checkpoint = best_lib.best_checkpoint(output_dir)
    return Outcome(outputs_lib.read_eval_results(best.directory), checkpoint)
  if last is None:  # every evaluation was made by an earlier run
    last = outputs_lib.read_eval_history(output_dir)[-1]
    last["global_step"] = last.pop("step")
  return Outcome(last, None)
