"""Which engine trains, over how many replicas, and the batch numbers that follow.

  --distribution=none          one device: TPUEstimator on the CPU or GPU, or on a TPU
                               (slice or pod) with --use_tpu: its cores are the replicas.
  --distribution=mirrored      tf.distribute.MirroredStrategy: every GPU of this machine,
                               or the devices named by --devices.
  --distribution=multi_worker  tf.distribute.MultiWorkerMirroredStrategy: every GPU (or the
                               CPU) of each machine listed in the TF_CONFIG variable.

Whatever the engine, --train_batch_size is the global batch: each of the N replicas
runs train_batch_size / N examples per step, the gradients are summed, and a step is
one update of the model (so the step count does not depend on N).
"""

import dataclasses
import json
import os
from typing import Optional

from absl import logging
import tensorflow as tf

from common.errors import UserError

# The graph-mode (TF1) strategies: both engines drive them from a tf.compat.v1 graph, and
# only they make one input iterator per worker (make_input_fn_iterator).
tf1_distribute = tf.compat.v1.distribute

DISTRIBUTIONS = ("none", "mirrored", "multi_worker")
# TF_CONFIG task types a worker may have here ("evaluator" and "ps" serve other setups).
TRAINING_TASKS = ("chief", "worker")


@dataclasses.dataclass
class Distribution:
  """The training engine's layout.

  strategy: a graph-mode tf.distribute strategy, or None (one device, or TPUEstimator).
  num_replicas: copies of the model trained in sync, over all machines.
  num_workers: processes (machines) taking part.
  is_chief: this process writes the checkpoints, evaluates and predicts.
  cpu_devices: CPU devices the sessions must expose (2 for mirrored over /cpu:0,/cpu:1).
  description: for the log, e.g. "mirrored over /gpu:0, /gpu:1".
  task: this process in the cluster, e.g. "worker 1".
  cluster: the TF_CONFIG cluster {job: [host:port]} of a multi-worker run, else None.
  task_type, task_index: this process's place in `cluster`.
  """
  strategy: Optional[object] = None
  num_replicas: int = 1
  num_workers: int = 1
  is_chief: bool = True
  cpu_devices: int = 1
  description: str = "one device"
  task: str = "worker 0"
  cluster: Optional[dict] = None
  task_type: str = "worker"
  task_index: int = 0
  _server: Optional[object] = dataclasses.field(default=None, repr=False)

  @property
  def multi_worker(self):
    return self.num_workers > 1

  def server(self, session_config):
    """This worker's gRPC server in the cluster, started once per process.

    A graph-mode session of a multi-worker run connects to it (its `target`); the
    session config must be the strategy's (update_config_proto).
    """
    if self._server is None:
      self._server = tf.distribute.Server(tf.train.ClusterSpec(self.cluster),
                                          job_name=self.task_type,
                                          task_index=self.task_index,
                                          config=session_config, start=True)
    return self._server

  def per_replica_batch(self, global_batch, flag="--train_batch_size"):
    """Examples per replica per step; raises UserError if the replicas cannot share it."""
    if global_batch % self.num_replicas:
      raise UserError("%s=%d is the global batch and must divide evenly over the %d "
                      "replicas (%s); expected a multiple of %d" %
                      (flag, global_batch, self.num_replicas, self.description,
                       self.num_replicas))
    return global_batch // self.num_replicas


def make_distribution(kind, devices=None, use_tpu=False, num_tpu_cores=8,
                      environ=os.environ, engine="estimator"):
  """Builds the Distribution for --distribution, --devices and the TPU flags.

  The flags' values and combinations were checked by options.validate.

  Args:
    kind: one of DISTRIBUTIONS.
    devices: comma-separated device names for "mirrored" ("/gpu:0,/gpu:1"), or None.
    environ: where TF_CONFIG is read from ("multi_worker").
    engine: the resolved engine ("estimator" or "session"), which starts a multi-worker
      cluster's servers differently.
  Raises:
    UserError: devices this machine lacks, a bad device list or TF_CONFIG.
  """
  if use_tpu:
    return Distribution(num_replicas=num_tpu_cores,
                        description="TPUEstimator over %d TPU cores" % num_tpu_cores)
  if kind == "mirrored":
    return _mirrored(devices)
  if kind == "multi_worker":
    return _multi_worker(environ, engine)
  return Distribution()


def _parse_devices(devices):
  """"/gpu:0, /gpu:1" -> [DeviceSpec]; raises UserError for a bad or repeated name."""
  names = [name.strip() for name in devices.split(",") if name.strip()]
  specs = []
  for name in names:
    try:
      spec = tf.DeviceSpec.from_string(name)
    except ValueError:
      spec = None
    if spec is None or spec.device_type not in ("CPU", "GPU") or spec.device_index is None:
      raise UserError("--devices: %r is not a device name; expected names like /gpu:0 or "
                      "/cpu:1, separated by commas" % name)
    specs.append(spec)
  if len({spec.to_string() for spec in specs}) != len(specs):
    raise UserError("--devices=%s names a device twice" % devices)
  return names, specs


def _mirrored(devices):
  """MirroredStrategy over `devices` (None: every local GPU, else the CPU)."""
  if not devices:
    strategy = tf1_distribute.MirroredStrategy()
    names = list(strategy.extended.worker_devices)
    return Distribution(strategy, strategy.num_replicas_in_sync,
                        description="mirrored over %s" % ", ".join(names))
  names, specs = _parse_devices(devices)
  gpus = len(tf.config.list_physical_devices("GPU"))
  for name, spec in zip(names, specs):
    if spec.device_type == "GPU" and spec.device_index >= gpus:
      raise UserError("--devices: %s does not exist; this machine has %d GPU(s)" % (name, gpus))
  cpu_indices = [spec.device_index for spec in specs if spec.device_type == "CPU"]
  if cpu_indices:
    # NCCL is for GPUs only: CPU devices reduce on one device. The logical CPU devices
    # exist only in the sessions (session_config's device_count), not in the eager
    # context, where the strategy would place state on them once that context has run
    # anything (a second run in one process): build it outside the eager context.
    with tf.Graph().as_default():
      strategy = tf1_distribute.MirroredStrategy(
          names, cross_device_ops=tf.distribute.ReductionToOneDevice())
  else:
    strategy = tf1_distribute.MirroredStrategy(names)  # NCCL all-reduce between GPUs
  return Distribution(strategy, len(names), cpu_devices=max(cpu_indices, default=0) + 1,
                      description="mirrored over %s" % ", ".join(names))


def _read_tf_config(environ):
  """The parsed TF_CONFIG: (cluster dict, task type, task index); raises UserError."""
  text = environ.get("TF_CONFIG")
  if not text:
    raise UserError("--distribution=multi_worker needs the TF_CONFIG environment variable "
                    "(the cluster and this worker's place in it; see docs/devices.md)")
  try:
    config = json.loads(text)
    cluster, task = config["cluster"], config["task"]
    task_type, task_index = task["type"], int(task["index"])
  except (ValueError, KeyError, TypeError) as e:
    raise UserError("TF_CONFIG is not valid (%s: %s); expected {\"cluster\": {\"worker\": "
                    "[\"host:port\", ...]}, \"task\": {\"type\": \"worker\", \"index\": 0}}" %
                    (type(e).__name__, e)) from None
  for job in cluster:
    if job not in TRAINING_TASKS:
      raise UserError("TF_CONFIG: job %r in the cluster; expected only %s jobs (evaluation "
                      "runs on the chief after training)" % (job, " and ".join(TRAINING_TASKS)))
  if task_type not in cluster or not 0 <= task_index < len(cluster[task_type]):
    raise UserError("TF_CONFIG: task %s %d is not in the cluster %s" %
                    (task_type, task_index, json.dumps(cluster)))
  return cluster, task_type, task_index


def _multi_worker(environ, engine):
  """MultiWorkerMirroredStrategy over the cluster in TF_CONFIG."""
  cluster, task_type, task_index = _read_tf_config(environ)
  # TensorFlow's rule: the chief job if there is one, else worker 0.
  is_chief = task_type == "chief" or ("chief" not in cluster and task_index == 0)
  num_workers = sum(len(cluster[job]) for job in cluster)
  if engine == "estimator":
    # Made in the eager context, the strategy starts this worker's server on its
    # TF_CONFIG address, which tf.estimator's sessions use.
    strategy = tf1_distribute.experimental.MultiWorkerMirroredStrategy()
  else:
    # Made in a graph, it starts none: the session engine starts the server with the
    # strategy's session config (Distribution.server).
    with tf.Graph().as_default():
      strategy = tf1_distribute.experimental.MultiWorkerMirroredStrategy()
  logging.info("multi_worker: %s %d of %d workers%s", task_type, task_index, num_workers,
               " (chief)" if is_chief else "")
  return Distribution(strategy, strategy.num_replicas_in_sync, num_workers=num_workers,
                      is_chief=is_chief, task="%s %d" % (task_type, task_index),
                      description="multi_worker over %d workers, %d replicas in all" %
                      (num_workers, strategy.num_replicas_in_sync), cluster=cluster,
                      task_type=task_type, task_index=task_index)
