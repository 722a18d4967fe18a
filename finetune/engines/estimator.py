"""The Estimator engine: TPUEstimator on one device or a TPU, tf.estimator with a strategy.

One device (CPU or GPU) and TPUs run through TPUEstimator, as in Google's scripts; several
GPUs or machines (a tf.distribute strategy) through a plain tf.estimator.Estimator that
trains data-parallel. Both run the same model_fn (finetune/model/model_fn.py). Needs
TensorFlow <= 2.15, the last release with tf.estimator.
"""

from absl import logging
import tensorflow as tf

from finetune.engines import CheckpointSaverHook
from finetune.engines import Engine
from finetune.engines import session_config
from finetune.model import model_fn as model_fn_lib

tf1 = tf.compat.v1

_MODES = {tf.estimator.ModeKeys.TRAIN: model_fn_lib.TRAIN,
          tf.estimator.ModeKeys.PREDICT: model_fn_lib.PREDICT}


class EstimatorEngine(Engine):
  """train() and predict() through (TPU)Estimator; see finetune/engines/__init__.py."""

  name = "estimator"

  def train(self, input_fn, max_steps, monitors):
    """Trains to global step max_steps, resuming from output_dir's latest checkpoint."""
    estimator = self._estimator(monitors, predict_batch_size=None)
    hooks = self._hooks(monitors)
    if not self._runtime.use_tpu:
      # Given a checkpoint hook, tf.estimator adds none of its own (over a cluster it
      # does, in the same folder). A worker that is not the chief saves in its own folder:
      # its final save beside the chief's raced it for the same temporary files.
      hooks.append(CheckpointSaverHook(self._checkpoint_dir(),
                                       save_steps=self._training.save_checkpoints_steps))
    if self._distribution.multi_worker:
      # tf.estimator trains over a TF_CONFIG cluster only through train_and_evaluate
      # (Estimator.train refuses it). The cluster has no evaluator task, so the EvalSpec
      # never runs: evaluation follows training, on the chief.
      tf.estimator.train_and_evaluate(
          estimator, tf.estimator.TrainSpec(input_fn, max_steps=max_steps, hooks=hooks),
          tf.estimator.EvalSpec(input_fn))
    else:
      # Hooks given here run before the Estimator's own NanTensorHook: the divergence
      # guard speaks first.
      estimator.train(input_fn=input_fn, max_steps=max_steps, hooks=hooks)

  def predict(self, input_fn, batch_size, monitors, checkpoint=None):
    """Yields {name: array [B, ...]} per batch of input_fn, with batches of batch_size.

    checkpoint: the prefix to restore; None: output_dir's latest.
    """
    estimator = self._estimator(monitors, predict_batch_size=batch_size)
    yield from estimator.predict(input_fn=input_fn, yield_single_examples=False,
                                 hooks=self._hooks(monitors), checkpoint_path=checkpoint)

  def _hooks(self, monitors):
    # On TPU the step's tensors live on the device: no host-side hook can read them.
    return monitors.session_hooks(reads_tensors=not self._runtime.use_tpu)

  def _estimator_model_fn(self, monitors):
    """Our model_fn under the (TPU)Estimator's signature, attaching the monitors."""
    use_tpu = self._runtime.use_tpu

    def estimator_model_fn(features, labels, mode, params):
      del labels  # they travel inside features
      spec = self._model_fn(features, _MODES[mode], params)
      logging.info("engine: %s graph built", _MODES[mode])
      if not use_tpu:
        monitors.attach(spec)
      return tf1.estimator.tpu.TPUEstimatorSpec(
          mode=mode, loss=spec.loss, train_op=spec.train_op, predictions=spec.predictions,
          scaffold_fn=spec.scaffold_fn)

    return estimator_model_fn

  def _estimator(self, monitors, predict_batch_size):
    """The Estimator for one call: predict_batch_size None to train.

    With a strategy: a plain Estimator that trains data-parallel; the input_fn gets
    params["batch_size"] as TPUEstimator gives it: for training, the per-replica batch
    (each replica draws its own batches); for prediction, which tf.estimator runs on
    one device, the predict batch. Else a TPUEstimator (one device or a TPU).
    """
    runtime, training, distribution = self._runtime, self._training, self._distribution
    model_fn = self._estimator_model_fn(monitors)
    config_proto = session_config(
        intra_op_threads=runtime.intra_op_threads, inter_op_threads=runtime.inter_op_threads,
        use_xla=runtime.use_xla, cpu_devices=distribution.cpu_devices)
    common = dict(
        model_dir=self._output_dir,
        save_checkpoints_steps=training.save_checkpoints_steps,
        tf_random_seed=training.seed,
        log_step_count_steps=None,  # progress.TrainingProgressHook logs instead
        save_summary_steps=training.log_every_n_steps,
        keep_checkpoint_max=training.keep_checkpoint_max)
    if distribution.strategy is not None:
      batch_size = predict_batch_size
      if predict_batch_size is None:
        batch_size = distribution.per_replica_batch(training.train_batch_size)

      def estimator_model_fn(features, labels, mode, params):
        return model_fn(features, labels, mode, params).as_estimator_spec()

      run_config = tf.estimator.RunConfig(session_config=config_proto,
                                          train_distribute=distribution.strategy, **common)
      return tf.estimator.Estimator(estimator_model_fn, config=run_config,
                                    params={"batch_size": batch_size})
    cluster = None
    if runtime.use_tpu and runtime.tpu_name:
      cluster = tf.distribute.cluster_resolver.TPUClusterResolver(
          runtime.tpu_name, zone=runtime.tpu_zone, project=runtime.gcp_project)
    run_config = tf1.estimator.tpu.RunConfig(
        cluster=cluster,
        master=runtime.master,
        session_config=None if runtime.use_tpu else config_proto,
        tpu_config=tf1.estimator.tpu.TPUConfig(
            iterations_per_loop=runtime.iterations_per_loop,
            num_shards=runtime.num_tpu_cores,
            per_host_input_for_training=tf1.estimator.tpu.InputPipelineConfig.PER_HOST_V2),
        **common)
    return tf1.estimator.tpu.TPUEstimator(
        use_tpu=runtime.use_tpu, model_fn=model_fn, config=run_config,
        train_batch_size=training.train_batch_size, predict_batch_size=predict_batch_size)
