"""Estimator construction: TPUEstimator for one device or a TPU, a plain Estimator with a
distribution strategy for several GPUs or machines. Both run the same model_fn."""

import tensorflow as tf

tf1 = tf.compat.v1


def session_config(intra_op_threads=0, inter_op_threads=0, use_xla=False, cpu_devices=1):
  """ConfigProto for the Estimator's sessions (0 threads: TensorFlow's choice).

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


def make_estimator(model_fn, output_dir, use_tpu, train_batch_size, predict_batch_size,
                   save_checkpoints_steps=1000, iterations_per_loop=1000, num_tpu_cores=8,
                   tpu_name=None, tpu_zone=None, gcp_project=None, master=None, seed=None,
                   config_proto=None, distribution=None, summary_steps=100):
  """Builds the Estimator writing checkpoints to `output_dir`.

  Args:
    model_fn: returns a TPUEstimatorSpec (model_fn.model_fn_builder).
    train_batch_size: the global training batch.
    predict_batch_size: the batch of the predict passes, which serve both evaluation
      (eval_batch_size) and prediction; build one estimator per batch size, and one
      with None to train.
    config_proto: a session_config() for CPU/GPU sessions (ignored on TPU).
    distribution: a distribution.Distribution. With a strategy: a plain Estimator that
      trains data-parallel with it (see data_parallel_estimator); else a TPUEstimator.
    summary_steps: steps between TensorBoard summaries (loss, learning rate).
  """
  if distribution is not None and distribution.strategy is not None:
    batch_size = predict_batch_size
    if predict_batch_size is None:
      batch_size = distribution.per_replica_batch(train_batch_size)
    return data_parallel_estimator(model_fn, output_dir, distribution.strategy, batch_size,
                                   save_checkpoints_steps, seed, config_proto, summary_steps)
  cluster = None
  if use_tpu and tpu_name:
    cluster = tf.distribute.cluster_resolver.TPUClusterResolver(
        tpu_name, zone=tpu_zone, project=gcp_project)
  run_config = tf1.estimator.tpu.RunConfig(
      cluster=cluster,
      master=master,
      model_dir=output_dir,
      save_checkpoints_steps=save_checkpoints_steps,
      tf_random_seed=seed,
      log_step_count_steps=None,  # progress.TrainingProgressHook logs instead
      save_summary_steps=summary_steps,
      session_config=None if use_tpu else config_proto,
      tpu_config=tf1.estimator.tpu.TPUConfig(
          iterations_per_loop=iterations_per_loop,
          num_shards=num_tpu_cores,
          per_host_input_for_training=tf1.estimator.tpu.InputPipelineConfig.PER_HOST_V2))
  return tf1.estimator.tpu.TPUEstimator(
      use_tpu=use_tpu,
      model_fn=model_fn,
      config=run_config,
      train_batch_size=train_batch_size,
      predict_batch_size=predict_batch_size)


def data_parallel_estimator(model_fn, output_dir, strategy, batch_size,
                            save_checkpoints_steps=1000, seed=None, config_proto=None,
                            summary_steps=100):
  """A tf.estimator.Estimator that trains with `strategy`, for our TPUEstimator model_fn.

  The TPUEstimatorSpec is converted to an EstimatorSpec, and the input_fn gets
  params["batch_size"] = batch_size, as TPUEstimator gives it: for training, the
  per-replica batch (each replica draws its own batches); for prediction, which
  tf.estimator runs on one device, the predict batch. A strategy's InputContext
  reaches the input_fn as its `input_context` argument.
  """

  def estimator_model_fn(features, labels, mode, params):
    return model_fn(features, labels, mode, params).as_estimator_spec()

  run_config = tf.estimator.RunConfig(
      model_dir=output_dir,
      save_checkpoints_steps=save_checkpoints_steps,
      tf_random_seed=seed,
      log_step_count_steps=None,  # progress.TrainingProgressHook logs instead
      save_summary_steps=summary_steps,
      session_config=config_proto,
      train_distribute=strategy)
  return tf.estimator.Estimator(estimator_model_fn, config=run_config,
                                params={"batch_size": batch_size})
