"""Which precision a run computes in: native ones as asked, emulated ones fall back."""

import logging

import pytest

from finetune.model import precision

WITHOUT_BF16 = ("Intel Xeon", frozenset({"avx2", "fma", "avx512f", "avx512_vnni"}))
WITH_BF16 = ("AMD EPYC", frozenset({"avx2", "avx512f", "avx512_vnni", "avx512_bf16"}))
WITH_AMX = ("Intel Xeon Sapphire Rapids", frozenset({"avx512f", "amx_bf16", "amx_fp16"}))


@pytest.mark.parametrize("wanted,cpu_info,slow", [
    ("bfloat16", WITHOUT_BF16, True), ("bfloat16", WITH_BF16, False),
    ("bfloat16", WITH_AMX, False), ("float16", WITH_BF16, True), ("float16", WITH_AMX, False),
    ("none", WITHOUT_BF16, False), ("float32", WITHOUT_BF16, False),
    ("bfloat16", ("unknown", frozenset()), False),  # flags unknown: no claim either way
    ("int8", WITHOUT_BF16, False), ("int8", WITH_AMX, True),
    ("int8", ("Intel Xeon Sapphire Rapids", frozenset({"avx512f", "amx_int8"})), False),
    ("int8", ("Intel Core", frozenset({"avx2", "avx_vnni"})), False),
    ("int8", ("Ampere Altra", frozenset({"asimd", "asimddp"})), False),
    ("int8", ("Intel Xeon E5", frozenset({"avx2", "fma"})), True),
])
def test_cpu_instructions_decide(wanted, cpu_info, slow):
  reason = precision.why_slow(wanted, cpu_info=cpu_info, gpu_info=[])
  assert (reason is not None) == slow
  if slow:
    assert reason.startswith("this CPU (%s) has no %s instructions (" % (cpu_info[0], wanted))


@pytest.mark.parametrize("wanted,capability,slow", [
    ("bfloat16", (7, 5), True), ("bfloat16", (8, 0), False), ("float16", (7, 0), False),
    ("float16", (6, 1), True)])
def test_gpu_compute_capability_decides_and_the_cpu_then_does_not_count(wanted, capability,
                                                                        slow):
  reason = precision.why_slow(wanted, cpu_info=WITHOUT_BF16, gpu_info=[("Tesla X", capability)])
  assert (reason is not None) == slow
  if slow:
    assert "the GPU Tesla X (compute capability %d.%d) has no %s tensor cores" % (
        capability + (wanted,)) in reason


def test_int8_is_decided_by_the_cpu_whatever_the_gpus():
  """int8 runs in ONNX Runtime on the CPU: a GPU neither helps nor hinders it."""
  old_cpu = ("Intel Xeon E5", frozenset({"avx2", "fma"}))
  assert precision.why_slow("int8", cpu_info=WITHOUT_BF16, gpu_info=[("Tesla X", (6, 1))]) is None
  reason = precision.why_slow("int8", cpu_info=old_cpu, gpu_info=[("A100", (8, 0))])
  assert reason == ("this CPU (Intel Xeon E5) has no int8 instructions (avx512_vnni or "
                    "avx_vnni or amx_int8 or asimddp): int8 matmuls there are no faster "
                    "than float32 and lose accuracy to saturation")


def test_tpus_compute_bfloat16():
  assert precision.why_slow("bfloat16", use_tpu=True, cpu_info=WITHOUT_BF16) is None


def test_a_slow_precision_falls_back_to_float32_with_one_warning_line(caplog):
  with caplog.at_level(logging.WARNING):
    chosen = precision.usable_precision("bfloat16", "--precision", cpu_info=WITHOUT_BF16,
                                        gpu_info=[])
  assert chosen == "float32"
  [record] = [r for r in caplog.records if r.levelno == logging.WARNING]
  message = record.getMessage()
  assert "\n" not in message
  assert message.startswith("--precision=bfloat16: this CPU (Intel Xeon) has no bfloat16 "
                            "instructions (avx512_bf16 or amx_bf16)")
  assert message.endswith("; computing in float32 instead")
  assert precision.usable_precision("bfloat16", "--precision", cpu_info=WITH_BF16,
                                    gpu_info=[]) == "bfloat16"


def test_this_machines_cpu_is_read_and_described():
  name, flags = precision.cpu()
  assert name
  line = precision.describe_cpu()
  assert line.startswith(name)
  if flags:  # Linux: every flag worth naming is either had or lacked
    assert all(flag in line for flag in precision.SPEED_CPU_FLAGS)
