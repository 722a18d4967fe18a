"""Command-line plumbing shared by run_reg.py and run_classifier.py.

The flags of Google's run_classifier.py, with their names and defaults, plus the few we
add; the conversion of parsed flags into RunOptions; and `main`, which turns a user's
mistake into one line on stderr instead of a traceback. Functions here take the parsed
flag values as an argument.
"""

import dataclasses
import sys

from absl import app
from absl import flags
from absl import logging

from finetune.errors import UserError

# TensorFlow, the processors and the pipeline are imported where they are used, so that
# tools that only need flags and --help (convert_hf_checkpoint.py) start quickly.


# --help shows the flags in these groups, in this order.
REQUIRED = "Required"
RUN = "What to run"
MODEL = "Model and task"
TRAINING = "Training"
SPEED = "Speed (CPU/GPU)"
DISTRIBUTION = "Several devices or machines"
TPU = "TPU"
OUTPUT = "Output"
GROUPS = (REQUIRED, RUN, MODEL, TRAINING, SPEED, DISTRIBUTION, TPU, OUTPUT)

_DEFINE = {"string": flags.DEFINE_string, "bool": flags.DEFINE_bool,
           "integer": flags.DEFINE_integer, "float": flags.DEFINE_float}
_group_of_flag = {}


def define_flag(kind, name, default, help_text, group, flag_values=flags.FLAGS):
  """Defines one flag ("string", "bool", "integer" or "float") and files it under a group."""
  if group not in GROUPS:
    raise ValueError("unknown flag group %r" % group)
  _DEFINE[kind](name, default, help_text, flag_values=flag_values)
  _group_of_flag[name] = group


def define_pipeline_flags(adam_bias_correction, flag_values=flags.FLAGS):
  """Defines the flags common to both scripts on `flag_values`.

  Args:
    adam_bias_correction: the script's default for --adam_bias_correction (README,
      Quality, has the measurements behind each script's choice).
    flag_values: where to define them.
  """
  import processors  # pylint: disable=g-import-not-at-top

  def define(kind, name, default, help_text, group):
    define_flag(kind, name, default, help_text, group, flag_values)

  define("string", "data_dir", None, "Folder with the task's data files (e.g. train.tsv, "
         "dev.tsv, test.tsv).", REQUIRED)
  define("string", "bert_config_file", None, "bert_config.json of the pre-trained model.",
         REQUIRED)
  define("string", "task_name", None, "A built-in task (%s) or path/to/file.py:Class or "
         "module:Class." % ", ".join(sorted(processors.PROCESSORS)), REQUIRED)
  define("string", "vocab_file", None, "vocab.txt of the pre-trained model.", REQUIRED)
  define("string", "output_dir", None, "Where checkpoints, TFRecords and results are written.",
         REQUIRED)

  define("bool", "do_train", False, "Fine-tune on the train split.", RUN)
  define("bool", "do_eval", False, "Evaluate on the dev split; writes eval_results.txt.", RUN)
  define("bool", "do_predict", False, "Predict the test split; writes test_results.tsv.", RUN)

  define("string", "init_checkpoint", None, "Checkpoint to start from, e.g. "
         ".../bert_model.ckpt (a folder: its latest checkpoint).", MODEL)
  define("bool", "do_lower_case", True, "Lower-case and strip accents (true for uncased and "
         "Chinese models).", MODEL)
  define("integer", "max_seq_length", 128, "Tokens per pair after WordPiece, [CLS] and [SEP] "
         "included; longer pairs are truncated.", MODEL)

  define("integer", "train_batch_size", 32, "Training batch size (global, over all devices).",
         TRAINING)
  define("integer", "eval_batch_size", 8, "Evaluation batch size.", TRAINING)
  define("integer", "predict_batch_size", 8, "Prediction batch size.", TRAINING)
  define("float", "learning_rate", 5e-5, "Peak learning rate of Adam (with weight decay).",
         TRAINING)
  define("float", "num_train_epochs", 3.0, "Passes over the training data.", TRAINING)
  define("float", "warmup_proportion", 0.1, "Share of the steps over which the learning rate "
         "warms up from 0.", TRAINING)
  define("bool", "adam_bias_correction", adam_bias_correction, "Adam's bias correction, "
         "which Google's optimizer leaves out (false: Google's update). On by default in "
         "run_classifier.py (fewer failed runs on small sets), off in run_reg.py (higher "
         "STS-B figures); see README, Quality.", TRAINING)
  define("integer", "save_checkpoints_steps", 1000, "Steps between checkpoints (a rerun "
         "resumes from the last).", TRAINING)
  define("integer", "seed", None, "Random seed for initialization, dropout and shuffling.",
         TRAINING)

  define("integer", "intra_op_threads", 0, "Threads within one op, e.g. a matmul (0: one per "
         "core).", SPEED)
  define("integer", "inter_op_threads", 0, "Ops run at the same time (0: TensorFlow's "
         "choice).", SPEED)
  define("bool", "use_xla", False, "Compile with XLA auto-clustering (global_jit_level "
         "ON_1; batches padded to 4-token lengths so it compiles few shapes). Acts on GPUs; "
         "on a CPU only with TF_XLA_FLAGS=--tf_xla_cpu_global_jit, and measured slower "
         "there.", SPEED)
  define("string", "mixed_precision", "none", "none, float16 (GPUs; with dynamic loss "
         "scaling) or bfloat16 (TPUs, recent GPUs and CPUs): the encoder's matmuls in that "
         "dtype; variables, checkpoints, LayerNorm, softmax and the loss stay float32.",
         SPEED)
  define("string", "batch_layout", None, "bucketed (default off TPU): training batches "
         "drawn from 4-token length buckets, prediction sorted by length; trimmed: "
         "batches in shuffled order, each cut to its longest pair; fixed (Google's, the "
         "only one on TPU): every batch max_seq_length long. Each predicts the same; see "
         "README, Speed.", SPEED)
  define("integer", "conversion_workers", 0, "Processes that tokenize examples into "
         "TFRecords (0: one per core; 1: none).", SPEED)

  define("string", "distribution", "none", "none: one device (or a TPU with --use_tpu); "
         "mirrored: every GPU of this machine (or --devices); multi_worker: every machine "
         "in the TF_CONFIG variable. --train_batch_size stays the global batch.",
         DISTRIBUTION)
  define("string", "devices", None, "With --distribution=mirrored: the devices to use, "
         "e.g. /gpu:0,/gpu:1 (default every GPU).", DISTRIBUTION)

  define("bool", "use_tpu", False, "Run on a TPU (fixed batch shapes, one-hot embeddings).",
         TPU)
  define("string", "tpu_name", None, "Cloud TPU name or grpc:// address.", TPU)
  define("string", "tpu_zone", None, "GCE zone of the Cloud TPU (found from metadata if "
         "unset).", TPU)
  define("string", "gcp_project", None, "GCP project of the Cloud TPU (found from metadata "
         "if unset).", TPU)
  define("string", "master", None, "TensorFlow master URL.", TPU)
  define("integer", "num_tpu_cores", 8, "TPU cores (used with --use_tpu).", TPU)
  define("integer", "iterations_per_loop", 1000, "TPU steps per call to the device.", TPU)

  define("integer", "log_every_n_steps", 100, "Steps between progress lines (step, loss, "
         "learning rate, examples/s, ETA).", OUTPUT)
  define("bool", "original_output_format", False, "Write test_results.tsv as Google's "
         "scripts did: no header, predictions only.", OUTPUT)
  define("string", "export_dir", None, "Also export the model as a SavedModel to "
         "<export_dir>/<version>/ (TensorFlow Serving's layout; use it with predict.py).",
         OUTPUT)
  flags.mark_flags_as_required(
      ["data_dir", "bert_config_file", "task_name", "vocab_file", "output_dir"],
      flag_values=flag_values)


def grouped_help(flag_values, description):
  """The --help text: the description, then each group's flags, one line each."""
  lines = [description.strip(), ""]
  for group in GROUPS:
    names = [name for name, flag_group in _group_of_flag.items()
             if flag_group == group and name in flag_values]
    if not names:
      continue
    lines.append(group + ":")
    for name in names:
      flag = flag_values[name]
      default = "" if flag.default is None else "=%s" % str(flag.default).lower() \
          if isinstance(flag.default, bool) else "=%s" % flag.default
      lines.append("  --%-28s %s" % (name + default, flag.help))
    lines.append("")
  return "\n".join(lines)


def run_app(main_function, description, flag_values=flags.FLAGS):
  """absl's app.run, with --help (or -h) printing grouped_help instead of absl's listing."""

  def parse(argv):
    if any(arg in ("-h", "--help", "-help", "--helpshort", "--helpfull") for arg in argv[1:]):
      print(grouped_help(flag_values, description))
      sys.exit(0)
    return app.parse_flags_with_usage(argv)

  app.run(main_function, flags_parser=parse)


def run_options(flag_values):
  """RunOptions from parsed flags."""
  from finetune import pipeline  # pylint: disable=g-import-not-at-top
  names = [field.name for field in dataclasses.fields(pipeline.RunOptions)
           if field.name in flag_values]
  return pipeline.RunOptions(**{name: getattr(flag_values, name) for name in names})


def main(make_task, flag_values):
  """Runs the pipeline for the task `make_task(processor)` builds; exits 1 on a user error."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import processors  # pylint: disable=g-import-not-at-top
  from finetune import pipeline  # pylint: disable=g-import-not-at-top
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
