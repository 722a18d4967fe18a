"""The engine seam: what drives training and prediction of a model_fn.

An engine takes the model contract (finetune/model/model_fn.py: model_fn(features, mode,
params) -> ModelSpec) and the input contract (finetune/data/input_fn.py: input_fn(params,
input_context=None) -> tf.data.Dataset), and offers two calls:

  train(input_fn, max_steps, monitors)
      trains until the global step reaches max_steps, resuming from the latest
      checkpoint in output_dir; saves checkpoints every save_checkpoints_steps and at
      the end, and TensorBoard summaries.
  predict(input_fn, batch_size, monitors, checkpoint=None)
      restores `checkpoint` (default: the latest of output_dir, else the initial
      checkpoint) and yields the model's predictions batch by batch,
      {name: numpy array [B, ...]}.

`monitors` (finetune/training/monitors.py) watch the step: the engine calls
monitors.attach(spec) once the graph is built and runs monitors.session_hooks().

Engines (--engine):
  estimator  engines/estimator.py: TPUEstimator on one device or a TPU, tf.estimator
             with a distribution strategy. TensorFlow <= 2.15 only.
  session    engines/session.py: MonitoredTrainingSession, on every TensorFlow from
             2.15 to 2.21; one device or a mirrored strategy.
  auto       the estimator engine where tf.estimator exists, else the session engine.
A new engine is a module here with a subclass of Engine offering the two calls, and a
line in make_engine.
"""

import functools
import os

from absl import logging
import tensorflow as tf

from common.errors import UserError

tf1 = tf.compat.v1

ENGINES = ("auto", "estimator", "session")


@functools.cache
def estimator_available():
  """True when this TensorFlow has tf.estimator (2.15 and before)."""
  try:
    return tf.compat.v1.estimator.tpu.TPUEstimator is not None
  except (AttributeError, ImportError):
    return False


def resolve_engine(kind):
  """The engine --engine=kind names ("auto" chosen here); UserError if it cannot run."""
  if kind == "auto":
    return "estimator" if estimator_available() else "session"
  if kind == "estimator" and not estimator_available():
    raise UserError("--engine=estimator: TensorFlow %s has no tf.estimator (the last "
                    "release with it is 2.15, on Python <= 3.11); use --engine=session, "
                    "or leave --engine unset" % tf.__version__)
  return kind


class CheckpointSaverHook(tf1.train.CheckpointSaverHook):
  """TensorFlow's checkpoint hook, but for the save of step 0 when a run starts there.

  At step 0 the variables are the initial checkpoint's, a freshly initialized head and
  Adam's zero slots: a run stopped before its first save makes that same state again
  when it restarts, so writing it (the model and two slots: 270 MB for MiniLM-L6, 1.3
  GB for BERT-base) buys nothing and costs seconds of start-up. Every save at
  --save_checkpoints_steps and the final one are TensorFlow's as ever, and so is the
  graph written at the start (graph.pbtxt, TensorBoard's graph).
  """

  def after_create_session(self, session, coord):
    if session.run(self._global_step_tensor) != 0:
      super().after_create_session(session, coord)
      return
    graph = tf1.get_default_graph()
    if self._save_graph_def:
      tf1.train.write_graph(graph.as_graph_def(add_shapes=True), self._checkpoint_dir,
                            "graph.pbtxt")
    self._summary_writer.add_graph(graph)
    # Counts as saved at step 0: the next save comes at --save_checkpoints_steps.
    self._timer.update_last_triggered_step(0)

  def end(self, session):
    super().end(session)
    # What follows is closing the session (a milestone of bench/startup.py).
    logging.info("engine: final checkpoint saved at step %d",
                 session.run(self._global_step_tensor))


def session_config(intra_op_threads=0, inter_op_threads=0, use_xla=False, cpu_devices=1):
  """ConfigProto for an engine's sessions (0 threads: TensorFlow's choice).

  Args:
    intra_op_threads: threads inside one op (a matmul); the machine's cores is best.
    inter_op_threads: ops run at the same time.
    use_xla: compile the graph with XLA (auto-clustering, ON_1).
    cpu_devices: CPU devices a session exposes; above 1 for a strategy over /cpu:0,
      /cpu:1, ... (tests and CPU-only machines).
  """
  config = tf1.ConfigProto(intra_op_parallelism_threads=intra_op_threads,
                           inter_op_parallelism_threads=inter_op_threads,
                           allow_soft_placement=True)
  if cpu_devices > 1:
    # Without it /cpu:1 does not exist, and soft placement quietly puts every replica
    # on /cpu:0.
    config.device_count["CPU"] = cpu_devices
  if use_xla:
    config.graph_options.optimizer_options.global_jit_level = tf1.OptimizerOptions.ON_1
  return config


class Engine:
  """What every engine is made from (make_engine's arguments); subclasses add train()
  and predict()."""

  name = None

  def __init__(self, *, model_fn, output_dir, distribution, training, runtime):
    self._model_fn = model_fn
    self._output_dir = output_dir
    self._distribution = distribution
    self._training = training
    self._runtime = runtime

  def _checkpoint_dir(self):
    """Where this process saves: output_dir, except on a multi-worker cluster's other
    workers, which save their copy (collective saves need every worker to save) in
    output_dir/tmp_worker_<index>, never beside the chief's files."""
    distribution = self._distribution
    if not distribution.multi_worker or distribution.is_chief:
      return self._output_dir
    return os.path.join(self._output_dir, "tmp_worker_%d" % distribution.task_index)


def make_engine(kind, *, model_fn, output_dir, distribution, training, runtime):
  """The engine `kind` (one of ENGINES) for model_fn, writing to output_dir.

  Args:
    distribution: a distribution.Distribution (replicas, strategy, chief).
    training: options.TrainingOptions (batch, checkpoints, seed, log cadence).
    runtime: options.RuntimeOptions (threads, XLA, TPU).
  """
  kind = resolve_engine(kind)
  arguments = dict(model_fn=model_fn, output_dir=output_dir, distribution=distribution,
                   training=training, runtime=runtime)
  if kind == "estimator":
    from finetune.engines import estimator
    return estimator.EstimatorEngine(**arguments)
  if kind == "session":
    from finetune.engines import session
    return session.SessionEngine(**arguments)
  raise ValueError("engine %r: expected one of %s" % (kind, ", ".join(ENGINES)))
