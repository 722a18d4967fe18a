"""The session engine: TensorFlow's own session machinery, where tf.estimator is gone.

TensorFlow 2.16 and later have no tf.estimator; everything this engine uses is still
there in tf.compat.v1 graph mode: tf.data iterators, MonitoredTrainingSession with its
checkpoint and summary hooks, MonitoredSession for prediction, and the graph-mode
strategies (finetune/training/distribution.py). It runs the same model_fn and input_fn as the
Estimator engine and writes the same files: checkpoints `model.ckpt-<step>` (every
save_checkpoints_steps and at the end, the last --keep_checkpoint_max kept), TensorBoard
`loss` and `learning_rate`. It also runs on TensorFlow 2.15 (--engine=session), so both
engines can be compared on one interpreter.

One device, a MirroredStrategy over several (GPUs, or logical CPUs in tests), or a
MultiWorkerMirroredStrategy over the machines of TF_CONFIG: each worker starts its
gRPC server and trains in a session connected to it; the chief writes the checkpoints
to output_dir, every other worker its own copy to output_dir/tmp_worker_<index>, as
tf.estimator does. Not TPUs, which run through TPUEstimator: validation refuses them
with one line before any work.
"""


from absl import logging
import tensorflow as tf

from finetune.engines import CheckpointSaverHook
from finetune.engines import Engine
from finetune.engines import session_config
from finetune.model import model_fn as model_fn_lib

tf1 = tf.compat.v1

def _checkpoint_step(output_dir):
  """The global step of output_dir's latest checkpoint, or None."""
  checkpoint = tf.train.latest_checkpoint(output_dir)
  if checkpoint is None:
    return None
  return int(tf.train.load_checkpoint(checkpoint).get_tensor("global_step"))


def _local_init_op(iterator_initializer):
  """The scaffold's usual local initialization, plus the input iterator's."""
  return tf.group(tf1.train.Scaffold.default_local_init_op(), iterator_initializer)


class SessionEngine(Engine):
  """train() and predict() with MonitoredTrainingSession; see finetune/engines/__init__.py."""

  name = "session"

  def _session_config(self):
    config = session_config(
        intra_op_threads=self._runtime.intra_op_threads,
        inter_op_threads=self._runtime.inter_op_threads, use_xla=self._runtime.use_xla,
        cpu_devices=self._distribution.cpu_devices)
    if self._distribution.multi_worker:
      # The collective ops' settings (group leader, ...) for this worker.
      config = self._distribution.strategy.update_config_proto(config)
    return config

  def _training_target(self, config):
    """(session master, checkpoint folder) of this process's training session."""
    distribution = self._distribution
    if not distribution.multi_worker:
      return "", self._output_dir
    return distribution.server(config).target, self._checkpoint_dir()

  def _new_graph(self):
    graph = tf.Graph()
    with graph.as_default():
      if self._training.seed is not None:
        tf1.set_random_seed(self._training.seed)
    return graph

  def train(self, input_fn, max_steps, monitors):
    """Trains to global step max_steps, resuming from output_dir's latest checkpoint."""
    config = self._session_config()
    master, checkpoint_dir = self._training_target(config)
    step = _checkpoint_step(checkpoint_dir)
    if step is not None and step >= max_steps:
      logging.info("skipping training: the checkpoint in %s is at step %d of %d",
                   checkpoint_dir, step, max_steps)
      return
    graph = self._new_graph()
    with graph.as_default():
      train_op, loss, iterator_initializer = self._build_training(input_fn, monitors)
      logging.info("engine: %s graph built", model_fn_lib.TRAIN)
      tf1.summary.scalar("loss", loss)
      scaffold = tf1.train.Scaffold(
          saver=tf1.train.Saver(max_to_keep=self._training.keep_checkpoint_max,
                                sharded=True, save_relative_paths=True),
          local_init_op=_local_init_op(iterator_initializer))
      # Given as chief-only hooks, the monitors' hooks run before MonitoredTrainingSession's
      # summary and checkpoint hooks (its `hooks` run after them): the divergence guard
      # must see a NaN before a checkpoint is saved, as under tf.estimator.
      hooks = monitors.session_hooks() + [
          tf1.train.StopAtStepHook(last_step=max_steps),
          CheckpointSaverHook(checkpoint_dir, save_steps=self._training.save_checkpoints_steps,
                              scaffold=scaffold)]
      # Every worker of a cluster initializes its own copy of the variables (the
      # strategy broadcasts worker 0's initial values), so each is "chief" of its session.
      with tf1.train.MonitoredTrainingSession(
          master=master, is_chief=True, checkpoint_dir=checkpoint_dir, scaffold=scaffold,
          chief_only_hooks=hooks, save_checkpoint_steps=None, save_checkpoint_secs=None,
          save_summaries_steps=self._training.log_every_n_steps, log_step_count_steps=None,
          config=config) as session:
        while not session.should_stop():
          session.run(train_op)

  def _build_training(self, input_fn, monitors):
    """The training step in the current graph: (train op, loss, iterator initializer)."""
    strategy = self._distribution.strategy
    batch_size = self._distribution.per_replica_batch(self._training.train_batch_size)
    params = {"batch_size": batch_size}
    if strategy is None:
      tf1.train.get_or_create_global_step()
      iterator = tf1.data.make_initializable_iterator(input_fn(params))
      spec = self._model_fn(iterator.get_next(), model_fn_lib.TRAIN, params)
      monitors.attach(spec)
      return spec.train_op, spec.loss, iterator.initializer

    def replica_step(features):
      spec = self._model_fn(features, model_fn_lib.TRAIN, params)
      monitors.attach(spec)
      return spec.train_op, spec.loss

    with strategy.scope():
      tf1.train.get_or_create_global_step()
      # One input pipeline per worker; each replica draws batches of its own from it.
      iterator = strategy.make_input_fn_iterator(
          lambda input_context: input_fn(params, input_context))
      train_ops, losses = strategy.extended.call_for_each_replica(
          replica_step, args=(iterator.get_next(),))
      train_op = strategy.group(train_ops)
      loss = strategy.reduce(tf.distribute.ReduceOp.MEAN, losses, axis=None)
    return train_op, loss, iterator.initializer

  def predict(self, input_fn, batch_size, monitors, checkpoint=None):
    """Yields {name: array [B, ...]} per batch of input_fn, with batches of batch_size.

    Restores `checkpoint`, by default output_dir's latest; without one, the model starts
    from its initializers (the initial checkpoint, as model_fn sets them up), as
    tf.estimator does.
    """
    checkpoint = checkpoint or tf.train.latest_checkpoint(self._output_dir)
    if checkpoint is None:
      logging.info("no checkpoint in %s: predicting with the initial weights",
                   self._output_dir)
    graph = self._new_graph()
    with graph.as_default():
      params = {"batch_size": batch_size}
      tf1.train.get_or_create_global_step()
      iterator = tf1.data.make_initializable_iterator(input_fn(params))
      spec = self._model_fn(iterator.get_next(), model_fn_lib.PREDICT, params)
      logging.info("engine: %s graph built", model_fn_lib.PREDICT)
      monitors.attach(spec)
      scaffold = tf1.train.Scaffold(local_init_op=_local_init_op(iterator.initializer))
      creator = tf1.train.ChiefSessionCreator(scaffold=scaffold,
                                              checkpoint_filename_with_path=checkpoint,
                                              config=self._session_config())
      # The end of the input ends the session: MonitoredSession takes its OutOfRangeError
      # for a normal stop.
      with tf1.train.MonitoredSession(session_creator=creator,
                                      hooks=monitors.session_hooks()) as session:
        while not session.should_stop():
          yield session.run(spec.predictions)
