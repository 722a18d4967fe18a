"""Every setting of a fine-tuning run, declared once and grouped by concern.

  RunOptions
    do_train, do_eval, do_predict   what to run (data_report_only: only report the data)
    data: DataOptions               where examples come from and results go
    model: ModelOptions             the pre-trained model and how pairs are encoded
    training: TrainingOptions       the optimization
    runtime: RuntimeOptions         how and where it computes (threads, devices, TPU)

Each field is a setting (common/settings.py): its default, help and check live here and
nowhere else; the flags of run_reg.py and run_classifier.py are made from them, with
the names and defaults of Google's scripts. `validate` checks every value and the
combinations before any work. Build options in code with `make_run_options(**flags)`.
"""

import dataclasses
from typing import Optional

import tensorflow as tf

from common import checks
from common import cli
from common import settings
from common.errors import UserError
from common.settings import setting
from finetune.data.input_fn import LAYOUTS
from finetune.engines import ENGINES
from finetune.engines import resolve_engine
from finetune.model import precision
from finetune.training.distribution import DISTRIBUTIONS
from processors import PROCESSORS


@dataclasses.dataclass(frozen=True)
class DataOptions:
  """Where the examples come from and where everything is written."""
  data_dir: str = setting(
      None, "Folder with the task's data files (e.g. train.tsv, dev.tsv, test.tsv).",
      cli.REQUIRED, checks.ExistingFolder("the folder of the task's data files"),
      required=True)
  task_name: str = setting(
      None, "A built-in task (%s) or path/to/file.py:Class or module:Class." %
      ", ".join(sorted(PROCESSORS)),
      cli.REQUIRED, checks.NonEmpty(), required=True)
  output_dir: str = setting(
      None, "Where checkpoints, TFRecords and results are written.", cli.REQUIRED,
      checks.OutputFolder(), required=True)
  export_dir: Optional[str] = setting(
      None, "Also export the model as a SavedModel to <export_dir>/<version>/ "
      "(TensorFlow Serving's layout; use it with predict.py).", cli.OUTPUT,
      checks.OutputFolder())
  original_output_format: bool = setting(
      False, "Write test_results.tsv as Google's scripts did: no header, predictions "
      "only.", cli.OUTPUT)


@dataclasses.dataclass(frozen=True)
class ModelOptions:
  """The pre-trained model and how sentence pairs become its inputs."""
  bert_config_file: str = setting(
      None, "bert_config.json of the pre-trained model.", cli.REQUIRED,
      checks.ExistingFile("bert_config.json"), required=True)
  vocab_file: str = setting(
      None, "vocab.txt of the pre-trained model.", cli.REQUIRED,
      checks.ExistingFile("vocab.txt"), required=True)
  init_checkpoint: Optional[str] = setting(
      None, "Checkpoint to start from, e.g. .../bert_model.ckpt (a folder: its latest "
      "checkpoint).", cli.MODEL, checks.CheckpointPath())
  checkpoint: Optional[str] = setting(
      None, "Without --do_train: the trained checkpoint that --do_eval, --do_predict and "
      "--export_dir use instead of --output_dir's latest (or best/'s), e.g. "
      "runs/sim/model.ckpt-300 (a folder: its latest).", cli.MODEL, checks.CheckpointPath())
  do_lower_case: bool = setting(
      True, "Lower-case and strip accents (true for uncased and Chinese models).",
      cli.MODEL)
  max_seq_length: int = setting(
      128, "Tokens per pair after WordPiece, [CLS] and [SEP] included; longer pairs are "
      "truncated.", cli.MODEL, checks.AtLeast(3))
  num_hidden_layers: Optional[int] = setting(
      None, "A smaller student: keep the first N transformer layers of bert_config.json "
      "(layer_0 .. layer_N-1, loaded from --init_checkpoint with the embeddings and the "
      "pooler; the layers above are not used); the run's bert_config.json says N.",
      cli.MODEL, checks.AtLeast(1))


@dataclasses.dataclass(frozen=True)
class TrainingOptions:
  """The optimization: batches, learning rate, steps, checkpoints."""
  train_batch_size: int = setting(
      32, "Training batch size (global, over all devices).", cli.TRAINING, checks.AtLeast(1))
  learning_rate: float = setting(
      5e-5, "Peak learning rate of Adam (with weight decay).", cli.TRAINING, checks.Above(0))
  num_train_epochs: float = setting(
      3.0, "Passes over the training data.", cli.TRAINING, checks.Above(0))
  warmup_proportion: float = setting(
      0.1, "Share of the steps over which the learning rate warms up from 0.",
      cli.TRAINING, checks.Between(0, 1))
  # Google's update by default; run_classifier.py turns the correction on (docs/quality.md
  # has the measurements behind each script's choice).
  adam_bias_correction: bool = setting(
      False, "Adam's bias correction, which Google's optimizer leaves out (false: "
      "Google's update). On by default in run_classifier.py (fewer failed runs on small "
      "sets), off in run_reg.py (higher STS-B figures); see docs/quality.md.",
      cli.TRAINING)
  save_checkpoints_steps: int = setting(
      1000, "Steps between checkpoints (a rerun resumes from the last).", cli.TRAINING,
      checks.AtLeast(1))
  seed: Optional[int] = setting(
      None, "Random seed for initialization, dropout and shuffling.", cli.TRAINING,
      checks.AtLeast(0))
  keep_checkpoint_max: int = setting(
      5, "Checkpoints kept in --output_dir; older ones are deleted (best/ is kept apart).",
      cli.TRAINING, checks.AtLeast(1))
  gradient_accumulation_steps: int = setting(
      1, "Computes each step's batch as this many micro-batches, one after the other: the "
      "same update, in the memory of a smaller batch (1: off; CPU/GPU only).", cli.TRAINING,
      checks.AtLeast(1))
  eval_every_n_steps: int = setting(
      0, "While training, evaluate dev every N steps and at the last step (0: only at the "
      "end). Writes eval_history.tsv and keeps the best checkpoint in best/.", cli.TRAINING,
      checks.AtLeast(0))
  best_metric: Optional[str] = setting(
      None, "The dev metric that picks the best checkpoint (default: eval_spearman for "
      "regression, eval_f1 for two labels, eval_accuracy for more); one ending in 'loss' "
      "is better lower.", cli.TRAINING,
      unchecked="checked against the task's metric names by tasks.check_best_metric")
  use_best_checkpoint: bool = setting(
      True, "With --eval_every_n_steps: eval_results.txt, --do_predict, --export_dir and "
      "predict.py use the best checkpoint (false: the last one).", cli.TRAINING)
  early_stopping_patience: int = setting(
      0, "With --eval_every_n_steps: stop after this many evaluations without an "
      "improvement of --best_metric (0: off).", cli.TRAINING, checks.AtLeast(0))
  early_stopping_min_delta: float = setting(
      0.0, "The smallest change of --best_metric that counts as an improvement.",
      cli.TRAINING, checks.AtLeast(0.0))
  log_every_n_steps: int = setting(
      100, "Steps between progress lines (step, loss, learning rate, examples/s, ETA).",
      cli.OUTPUT, checks.AtLeast(1))


@dataclasses.dataclass(frozen=True)
class RuntimeOptions:
  """How and where the work runs: engine, batches of the predict passes, threads, devices."""
  engine: str = setting(
      "auto", "What drives training and prediction: estimator (tf.estimator and "
      "TPUEstimator, TensorFlow <= 2.15), session (TensorFlow's MonitoredTrainingSession, "
      "every TensorFlow from 2.15 on) or auto (estimator where it exists).", cli.ENGINE,
      checks.OneOf(ENGINES))
  eval_batch_size: int = setting(8, "Evaluation batch size.", cli.TRAINING, checks.AtLeast(1))
  predict_batch_size: int = setting(8, "Prediction batch size.", cli.TRAINING,
                                    checks.AtLeast(1))
  intra_op_threads: int = setting(
      0, "Threads within one op, e.g. a matmul (0: one per core).", cli.SPEED,
      checks.AtLeast(0))
  inter_op_threads: int = setting(
      0, "Ops run at the same time (0: TensorFlow's choice).", cli.SPEED, checks.AtLeast(0))
  use_xla: bool = setting(
      False, "Compile with XLA auto-clustering (global_jit_level ON_1; batches padded to "
      "4-token lengths so it compiles few shapes). Acts on GPUs; on a CPU only with "
      "TF_XLA_FLAGS=--tf_xla_cpu_global_jit, and measured slower there.", cli.SPEED)
  mixed_precision: str = setting(
      "none", "none, float16 (GPUs; with dynamic loss scaling) or bfloat16 (TPUs, recent "
      "GPUs and CPUs): the encoder's matmuls in that dtype; variables, checkpoints, "
      "LayerNorm, softmax and the loss stay float32. Where the hardware lacks native "
      "support (e.g. a CPU without AVX512-BF16) the run computes in float32 and says so.",
      cli.SPEED,
      checks.OneOf(precision.MIXED_PRECISIONS))
  batch_layout: Optional[str] = setting(
      None, "bucketed (default off TPU): training batches drawn from 4-token length "
      "buckets, prediction sorted by length; trimmed: batches in shuffled order, each cut "
      "to its longest pair; fixed (Google's, the only one on TPU): every batch "
      "max_seq_length long. Each predicts the same; see docs/speed.md.", cli.SPEED,
      checks.OneOf(LAYOUTS))
  conversion_workers: int = setting(
      0, "Processes that tokenize examples into TFRecords (0: one per core; 1: none).",
      cli.SPEED, checks.AtLeast(0))
  distribution: str = setting(
      "none", "none: one device (or a TPU with --use_tpu); mirrored: every GPU of this "
      "machine (or --devices); multi_worker: every machine in the TF_CONFIG variable. "
      "--train_batch_size stays the global batch.", cli.DISTRIBUTION,
      checks.OneOf(DISTRIBUTIONS))
  devices: Optional[str] = setting(
      None, "With --distribution=mirrored: the devices to use, e.g. /gpu:0,/gpu:1 "
      "(default every GPU).", cli.DISTRIBUTION, checks.DeviceNames())
  use_tpu: bool = setting(False, "Run on a TPU (fixed batch shapes, one-hot embeddings).",
                          cli.TPU)
  tpu_name: Optional[str] = setting(None, "Cloud TPU name or grpc:// address.", cli.TPU,
                                    unchecked="resolved by TensorFlow's TPUClusterResolver")
  tpu_zone: Optional[str] = setting(
      None, "GCE zone of the Cloud TPU (found from metadata if unset).", cli.TPU,
      unchecked="resolved by TensorFlow's TPUClusterResolver")
  gcp_project: Optional[str] = setting(
      None, "GCP project of the Cloud TPU (found from metadata if unset).", cli.TPU,
      unchecked="resolved by TensorFlow's TPUClusterResolver")
  master: Optional[str] = setting(None, "TensorFlow master URL.", cli.TPU,
                                  unchecked="a URL TensorFlow connects to")
  num_tpu_cores: int = setting(8, "TPU cores (used with --use_tpu).", cli.TPU,
                               checks.AtLeast(1))
  iterations_per_loop: int = setting(1000, "TPU steps per call to the device.", cli.TPU,
                                     checks.AtLeast(1))

  @property
  def layout(self):
    """The batch layout in use: --batch_layout, else "fixed" on TPU and "bucketed" off it."""
    if self.batch_layout:
      return self.batch_layout
    return "fixed" if self.use_tpu else "bucketed"


@dataclasses.dataclass(frozen=True)
class RunOptions:
  """Everything a run needs (see the module docstring)."""
  do_train: bool = setting(False, "Fine-tune on the train split.", cli.RUN)
  do_eval: bool = setting(False, "Evaluate on the dev split; writes eval_results.txt.",
                          cli.RUN)
  do_predict: bool = setting(False, "Predict the test split; writes test_results.tsv.",
                             cli.RUN)
  data_report_only: bool = setting(
      False, "Read, tokenize and report the data, then stop: writes data_report.json and "
      "nothing else. Reports the splits --do_train/--do_eval/--do_predict name (without "
      "them: train, dev and test, each whose file is there).", cli.RUN)
  data: DataOptions = dataclasses.field(default_factory=DataOptions)
  model: ModelOptions = dataclasses.field(default_factory=ModelOptions)
  training: TrainingOptions = dataclasses.field(default_factory=TrainingOptions)
  runtime: RuntimeOptions = dataclasses.field(default_factory=RuntimeOptions)


def make_run_options(**values):
  """RunOptions from flag names and values, e.g. make_run_options(data_dir=..., do_train=True).

  Raises TypeError for a name that is not a setting (a typo would otherwise be ignored).
  """
  known = {field.name for field in settings.settings_of(RunOptions)}
  unknown = sorted(set(values) - known)
  if unknown:
    raise TypeError("not settings of a run: %s" % ", ".join(unknown))
  return settings.build(RunOptions, values)


def replace(options, **values):
  """A copy of `options` with some settings (by flag name) changed."""
  merged = settings.flat_values(options)
  merged.update(values)
  return make_run_options(**merged)


def validate(options):
  """Raises UserError for a bad value or a combination that cannot run, before any work."""
  settings.validate(options)
  runtime = options.runtime
  if not (options.do_train or options.do_eval or options.do_predict or
          options.data.export_dir or options.data_report_only):
    raise UserError("nothing to do: set at least one of --do_train, --do_eval, "
                    "--do_predict, --export_dir, --data_report_only")
  if runtime.use_tpu and runtime.layout != "fixed":
    raise UserError("--batch_layout=%s with --use_tpu: a TPU compiles one shape, so its "
                    "batches are fixed" % runtime.layout)
  if runtime.use_tpu and runtime.mixed_precision == "float16":
    raise UserError("--mixed_precision=float16 with --use_tpu: TPUs compute in bfloat16; "
                    "use --mixed_precision=bfloat16")
  if runtime.use_tpu and runtime.distribution != "none":
    raise UserError("--distribution=%s with --use_tpu: a TPU runs through TPUEstimator "
                    "over --num_tpu_cores; leave --distribution=none" % runtime.distribution)
  if runtime.devices and runtime.distribution != "mirrored":
    raise UserError("--devices=%s is for --distribution=mirrored" % runtime.devices)
  if options.model.checkpoint and options.do_train:
    raise UserError("--checkpoint=%s with --do_train: training resumes from the newest "
                    "intact checkpoint of --output_dir; --checkpoint chooses the model that "
                    "--do_eval, --do_predict and --export_dir use without training (to "
                    "start training from a checkpoint, use --init_checkpoint)" %
                    options.model.checkpoint)
  training = options.training
  if training.gradient_accumulation_steps > 1 and runtime.use_tpu:
    raise UserError("--gradient_accumulation_steps=%d with --use_tpu: a TPU core runs its "
                    "batch at once; use a larger --num_tpu_cores or a smaller "
                    "--train_batch_size instead" % training.gradient_accumulation_steps)
  if training.eval_every_n_steps and runtime.distribution == "multi_worker":
    raise UserError("--eval_every_n_steps with --distribution=multi_worker: the workers "
                    "cannot wait for the chief's evaluations; evaluate after training "
                    "(--eval_every_n_steps=0)")
  if training.early_stopping_patience and not training.eval_every_n_steps:
    raise UserError("--early_stopping_patience=%d needs --eval_every_n_steps: it counts "
                    "evaluations during training" % training.early_stopping_patience)
  if resolve_engine(runtime.engine) == "session":
    if runtime.use_tpu:
      raise UserError("--use_tpu needs the estimator engine: TPUs run through TPUEstimator, "
                      "on TensorFlow 2.15 (Python <= 3.11); this is TensorFlow %s" %
                      tf.__version__)
