"""TPUEstimator construction: one object for CPU, GPU (use_tpu=False) and TPU."""

import tensorflow as tf

tf1 = tf.compat.v1


def session_config(intra_op_threads=0, inter_op_threads=0, use_xla=False):
  """ConfigProto for the Estimator's sessions (0 threads: TensorFlow's choice).

  Args:
    intra_op_threads: threads inside one op (a matmul); the machine's cores is best.
    inter_op_threads: ops run at the same time.
    use_xla: compile the graph with XLA (auto-clustering, ON_1).
  """
  config = tf1.ConfigProto(intra_op_parallelism_threads=intra_op_threads,
                           inter_op_parallelism_threads=inter_op_threads,
                           allow_soft_placement=True)
  if use_xla:
    config.graph_options.optimizer_options.global_jit_level = tf1.OptimizerOptions.ON_1
  return config


def make_estimator(model_fn, output_dir, use_tpu, train_batch_size, predict_batch_size,
                   save_checkpoints_steps=1000, iterations_per_loop=1000, num_tpu_cores=8,
                   tpu_name=None, tpu_zone=None, gcp_project=None, master=None, seed=None,
                   config_proto=None, summary_steps=100):
  """Builds a TPUEstimator writing checkpoints to `output_dir`.

  predict_batch_size is the batch of the predict passes, which serve both evaluation
  (eval_batch_size) and prediction; build one estimator per batch size.
  config_proto: a session_config() for CPU/GPU sessions (ignored on TPU).
  summary_steps: steps between TensorBoard summaries (loss, learning rate).
  """
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
