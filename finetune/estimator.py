"""TPUEstimator construction: one object for CPU, GPU (use_tpu=False) and TPU."""

import tensorflow as tf

tf1 = tf.compat.v1


def make_estimator(model_fn, output_dir, use_tpu, train_batch_size, predict_batch_size,
                   save_checkpoints_steps=1000, iterations_per_loop=1000, num_tpu_cores=8,
                   tpu_name=None, tpu_zone=None, gcp_project=None, master=None, seed=None):
  """Builds a TPUEstimator writing checkpoints to `output_dir`.

  predict_batch_size is the batch of the predict passes, which serve both evaluation
  (eval_batch_size) and prediction; build one estimator per batch size.
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
