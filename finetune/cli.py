"""Command-line plumbing shared by run_reg.py and run_classifier.py.

The flags of Google's run_classifier.py, with their names and defaults, plus the few we
add; the conversion of parsed flags into RunOptions; and `main`, which turns a user's
mistake into one line on stderr instead of a traceback. Functions here take the parsed
flag values as an argument.
"""

import dataclasses
import sys

from absl import flags
from absl import logging
import tensorflow as tf

import processors
from finetune import pipeline
from finetune.errors import UserError


def define_pipeline_flags(flag_values=flags.FLAGS):
  """Defines the flags common to both scripts on `flag_values`."""
  f = flag_values

  def string(name, default, help_text):
    flags.DEFINE_string(name, default, help_text, flag_values=f)

  def boolean(name, default, help_text):
    flags.DEFINE_bool(name, default, help_text, flag_values=f)

  def integer(name, default, help_text):
    flags.DEFINE_integer(name, default, help_text, flag_values=f)

  def real(name, default, help_text):
    flags.DEFINE_float(name, default, help_text, flag_values=f)

  # Required.
  string("data_dir", None, "Folder with the task's data files (e.g. train.tsv, dev.tsv, test.tsv).")
  string("bert_config_file", None, "bert_config.json of the pre-trained model.")
  string("task_name", None, "A built-in task (%s) or module:ProcessorClass." %
         ", ".join(sorted(processors.PROCESSORS)))
  string("vocab_file", None, "vocab.txt of the pre-trained model.")
  string("output_dir", None, "Where checkpoints, TFRecords and results are written.")
  # Model.
  string("init_checkpoint", None, "Checkpoint to start from, e.g. .../bert_model.ckpt.")
  boolean("do_lower_case", True, "Lower-case and strip accents (true for uncased models).")
  integer("max_seq_length", 128, "Tokens per pair after WordPiece, [CLS] and [SEP] included; "
          "longer pairs are truncated.")
  # What to do.
  boolean("do_train", False, "Fine-tune on the train split.")
  boolean("do_eval", False, "Evaluate on the dev split; writes eval_results.txt.")
  boolean("do_predict", False, "Predict the test split; writes test_results.tsv.")
  # Training.
  integer("train_batch_size", 32, "Training batch size.")
  integer("eval_batch_size", 8, "Evaluation batch size.")
  integer("predict_batch_size", 8, "Prediction batch size.")
  real("learning_rate", 5e-5, "Peak learning rate of Adam (with weight decay).")
  real("num_train_epochs", 3.0, "Passes over the training data.")
  real("warmup_proportion", 0.1, "Share of the steps over which the learning rate warms up "
       "from 0.")
  integer("save_checkpoints_steps", 1000, "Steps between checkpoints.")
  integer("seed", None, "Random seed for initialization, dropout and shuffling.")
  integer("log_every_n_steps", 100, "Steps between progress lines (step, loss, learning "
          "rate, examples/s, ETA).")
  # Speed (CPU/GPU).
  integer("intra_op_threads", 0, "Threads within one op, e.g. a matmul (0: one per core).")
  integer("inter_op_threads", 0, "Ops run at the same time (0: TensorFlow's choice).")
  boolean("use_xla", False, "Compile the model with XLA; batches are padded to 1-token "
          "(predict) or 4-token (train) length buckets so it compiles few shapes.")
  integer("conversion_workers", 0, "Processes that tokenize examples into TFRecords (0: one "
          "per core; 1: none).")
  # TPU.
  integer("iterations_per_loop", 1000, "TPU steps per call to the device.")
  boolean("use_tpu", False, "Run on a TPU.")
  string("tpu_name", None, "Cloud TPU name or grpc:// address.")
  string("tpu_zone", None, "GCE zone of the Cloud TPU (found from metadata if unset).")
  string("gcp_project", None, "GCP project of the Cloud TPU (found from metadata if unset).")
  string("master", None, "TensorFlow master URL.")
  integer("num_tpu_cores", 8, "TPU cores (used with --use_tpu).")
  # Output.
  boolean("original_output_format", False, "Write test_results.tsv as Google's scripts did: "
          "no header, predictions only.")
  flags.mark_flags_as_required(
      ["data_dir", "bert_config_file", "task_name", "vocab_file", "output_dir"], flag_values=f)


def run_options(flag_values):
  """RunOptions from parsed flags."""
  names = [field.name for field in dataclasses.fields(pipeline.RunOptions)
           if field.name in flag_values]
  return pipeline.RunOptions(**{name: getattr(flag_values, name) for name in names})


def main(make_task, flag_values):
  """Runs the pipeline for the task `make_task(processor)` builds; exits 1 on a user error."""
  logging.set_verbosity(logging.INFO)
  tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.INFO)
  # TensorFlow's logger has a handler of its own besides absl's: every line came twice.
  tf.get_logger().handlers = []
  try:
    processor = processors.get_processor(flag_values.task_name)
    task = make_task(processor)
    pipeline.run(task, processor, run_options(flag_values))
  except UserError as e:
    # The message is the last line the user sees: no traceback for a mistake in the input.
    sys.stderr.flush()
    sys.exit("error: %s" % e)
