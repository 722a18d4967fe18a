"""Which compute precisions this machine runs fast, and what a run does when it does not.

A lower precision is only worth asking for where the hardware computes it natively:
bfloat16 on TPUs, on GPUs of compute capability 8.0 and later, and on CPUs with
AVX512-BF16 or AMX-BF16; float16 on GPUs of compute capability 7.0 and later, and on
CPUs with AVX512-FP16 or AMX-FP16. Elsewhere TensorFlow emulates it, several times slower
than float32 (measured on an Intel Xeon without AVX512-BF16: a bfloat16 matmul at 59
GFLOP/s against 260 in float32; prediction about 3x slower). There a run computes in
float32 instead and says so in one warning line: the user asked for speed, and float32
gives both more of it and more accuracy. Checkpoints are float32 either way. The same
rule holds for int8 (export_model.py --precision=int8, for ONNX Runtime on the CPU):
it needs the CPU's int8 dot-product instructions (VNNI or AMX on x86, the dot-product
extension on ARM); without them int8 matmuls gain nothing and saturate.
TensorFlow is imported only by the functions that need it.
"""

import functools
import platform

from absl import logging

FLOAT32 = "float32"
MIXED_PRECISIONS = ("none", "float16", "bfloat16")  # --mixed_precision's values
PRECISIONS = (FLOAT32, "bfloat16", "float16")  # predict.py --precision's values
# The CPU instruction sets (names as in /proc/cpuinfo) that compute each natively.
NATIVE_CPU_FLAGS = {"bfloat16": ("avx512_bf16", "amx_bf16"),
                    "float16": ("avx512_fp16", "amx_fp16"),
                    # int8 dot products (ONNX Runtime's int8 matmuls, on the CPU):
                    # x86's VNNI or AMX, ARM's dot-product instructions.
                    "int8": ("avx512_vnni", "avx_vnni", "amx_int8", "asimddp")}
# What computing in a precision without those instructions costs.
_EMULATION_COST = {
    "bfloat16": "TensorFlow emulates bfloat16 several times slower than float32",
    "float16": "TensorFlow emulates float16 several times slower than float32",
    "int8": "int8 matmuls there are no faster than float32 and lose accuracy to "
            "saturation"}
# The first GPU compute capability with tensor cores for each.
NATIVE_GPU_CAPABILITY = {"bfloat16": (8, 0), "float16": (7, 0)}
# Flags worth printing next to a speed figure.
SPEED_CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16",
                   "avx512_fp16", "amx_bf16", "amx_int8", "amx_fp16")


@functools.cache
def cpu():
  """(model name, frozenset of instruction flags) of this machine's first CPU.

  The flags are empty where /proc/cpuinfo cannot be read (not Linux): unknown, not absent.
  """
  name, flags = platform.processor() or platform.machine(), frozenset()
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name":
          name = value.strip()
        elif key in ("flags", "Features"):
          flags = frozenset(value.split())
        if key == "" and flags:  # the end of the first processor's block
          break
  except OSError:
    pass
  return name, flags


def compute_dtype(precision):
  """The tf.DType the encoder computes in for a --mixed_precision / --precision value."""
  import tensorflow as tf
  return {"none": tf.float32, FLOAT32: tf.float32, "float16": tf.float16,
          "bfloat16": tf.bfloat16}[precision]


def gpus():
  """[(device name, compute capability (major, minor) or None)] of the visible GPUs."""
  import tensorflow as tf
  found = []
  for device in tf.config.list_physical_devices("GPU"):
    details = tf.config.experimental.get_device_details(device)
    found.append((details.get("device_name", device.name),
                  details.get("compute_capability")))
  return found


def why_slow(precision, use_tpu=False, cpu_info=None, gpu_info=None):
  """The reason `precision` would run slower than float32 here, or None if it would not.

  Args:
    precision: "none"/"float32", "bfloat16" or "float16".
    use_tpu: the run computes on a TPU (bfloat16 is its native precision).
    cpu_info: (name, flags) as cpu() returns (default: this machine's).
    gpu_info: [(name, capability)] as gpus() returns (default: this machine's). A run
      with GPUs computes on them, so then only they count.
  """
  if precision not in NATIVE_CPU_FLAGS:
    return None
  if use_tpu:
    return None if precision == "bfloat16" else "TPUs compute in %s, not %s" % (
        "bfloat16", precision)
  # int8 is for ONNX Runtime on the CPU, whatever GPUs the machine has.
  gpu_info = [] if precision == "int8" else gpus() if gpu_info is None else gpu_info
  if gpu_info:
    needed = NATIVE_GPU_CAPABILITY[precision]
    for name, capability in gpu_info:
      if capability is not None and tuple(capability) < needed:
        return ("the GPU %s (compute capability %d.%d) has no %s tensor cores (they start at "
                "%d.%d)" % ((name,) + tuple(capability) + (precision,) + needed))
    return None
  name, flags = cpu() if cpu_info is None else cpu_info
  if not flags or flags & set(NATIVE_CPU_FLAGS[precision]):
    return None
  return "this CPU (%s) has no %s instructions (%s): %s" % (
      name, precision, " or ".join(NATIVE_CPU_FLAGS[precision]), _EMULATION_COST[precision])


def usable_precision(precision, flag_name, use_tpu=False, cpu_info=None, gpu_info=None):
  """`precision`, or "float32" with one warning line when this machine would run it slowly.

  flag_name: the flag that asked for it, named in the warning (e.g. "--mixed_precision").
  """
  reason = why_slow(precision, use_tpu, cpu_info, gpu_info)
  if reason is None:
    return precision
  logging.warning("%s=%s: %s; computing in float32 instead", flag_name, precision, reason)
  return FLOAT32


def describe_cpu():
  """One line: the CPU's model and which of SPEED_CPU_FLAGS it has."""
  name, flags = cpu()
  if not flags:
    return "%s (instruction flags unknown)" % name
  return "%s; has %s; lacks %s" % (
      name, ", ".join(f for f in SPEED_CPU_FLAGS if f in flags) or "none of them",
      ", ".join(f for f in SPEED_CPU_FLAGS if f not in flags) or "none")
