"""An ONNX folder's float32 model in OpenVINO, which reads model.onnx as it is.

`open_model(path, precision)` compiles it for the CPU; `batch_runner(compiled)` is the
run_batch of finetune/runtime/predictor.py, as onnx_runtime's. Why a second runtime: on CPUs
with AMX (Intel Xeon since Sapphire Rapids), OpenVINO runs the float32 graph in
bfloat16 on the AMX tiles, faster than ONNX Runtime's int8 model (docs/export.md,
Speed). "float32" asks it for float32 exactly (its own default there is bfloat16);
"bfloat16" lets it use bfloat16 where the CPU has it. ONNX Runtime's int8 model.onnx is
its alone: OpenVINO cannot read QAttention, a com.microsoft operator. OpenVINO's own
int8 is an IR beside the float32 model.onnx (export_model.py --precision=int8
--runtime=openvino, finetune/export/openvino_int8.py): `open_int8_ir(ir_file)` compiles it.
"""

import threading

import numpy as np

from common.errors import UserError
from finetune.runtime import onnx_runtime

RUNTIMES = ("onnxruntime", "openvino")
# The ONNX graph's outputs (onnx_graph.py). OpenVINO gives each output tensor every name
# it had in the graph (e.g. {"score", "sigmoid_179"}): the graph output's is one of these.
OUTPUT_NAMES = ("score", "probabilities", "label_id")
_HINTS = {"float32": "f32", "bfloat16": "bf16"}
INSTALL = 'pip install -e ".[openvino]"'


def open_model(model_file, precision, info, threads=0):
  """The model compiled for OpenVINO's CPU plugin.

  precision: "float32" or "bfloat16" (the caller has checked that the CPU has it).
  info: the folder's model_info.json: model.onnx must be float32 (a float32 export, or
    an OpenVINO int8 export, whose int8 model is the IR beside it: open_int8_ir).
  threads: inference threads (0: OpenVINO's choice, one per physical core).
  """
  if info["precision"] != "float32" and info.get("runtime") != "openvino":
    raise UserError("--runtime=openvino: %s is the %s model, which only ONNX Runtime runs "
                    "(OpenVINO cannot read its QAttention nodes); export the float32 model "
                    "for OpenVINO (export_model.py --format=onnx), or drop --runtime" %
                    (model_file, info["precision"]))
  return _compile(model_file, _HINTS[precision], threads)


def open_int8_ir(ir_file, threads=0):
  """OpenVINO's int8 IR (a path, or an openvino.Model) compiled for the CPU: the int8
  matmuls as stored, the rest in float32."""
  # f32: what is not quantized stays float32 (on AMX OpenVINO would take it to bfloat16).
  return _compile(ir_file, "f32", threads)


def _compile(model, hint, threads):
  """`model` (a file, or an openvino.Model) compiled for the CPU plugin, with the
  inference precision `hint` ("f32", "bf16") and `threads` (0: OpenVINO's choice)."""
  shared_core = core()  # before the try: a missing package is its own one-line error
  config = {"INFERENCE_PRECISION_HINT": hint,
            "PERFORMANCE_HINT": "LATENCY"}  # one batch at a time, on every core
  if threads:
    config["INFERENCE_NUM_THREADS"] = threads
  try:
    return shared_core.compile_model(model, "CPU", config)
  except Exception as e:
    raise onnx_runtime.unloadable(model, "OpenVINO", e) from None


_CORE = []
_CORE_LOCK = threading.Lock()


def core():
  """The process's one openvino.Core, made on first use and kept until the process ends.

  Why one: OpenVINO's CPU plugin, as each Core loads it, maps an alternate signal stack
  for the loading thread (for AMX's larger signal frames) and, as it is unloaded, unmaps
  it, putting back the one it replaced only if its own is still the thread's. Two Cores
  whose plugins end in the order they began (a float32 and a bfloat16 predictor, say)
  leave the thread's signal stack on unmapped memory, or on memory malloc has since
  handed out: the next Python signal handler (a Ctrl-C, serve.py's SIGTERM) then dies
  with SIGSEGV, or writes its frame over live objects that the garbage collector meets
  later (docs/testing.md, "A native crash"). One Core, never unloaded, cannot nest.
  """
  openvino = _openvino()  # each time: its one-line error wherever the package is missing
  with _CORE_LOCK:
    if not _CORE:
      _CORE.append(openvino.Core())
    return _CORE[0]


def _openvino():
  try:
    import openvino
  except ImportError:
    raise UserError("--runtime=openvino needs the openvino package, which is not installed "
                    "here: %s" % INSTALL) from None
  return openvino


def batch_runner(compiled):
  """run_batch for a Predictor: feeds the model's inputs, returns {output name: array}."""
  inputs = [port.get_any_name() for port in compiled.inputs]
  outputs = {}
  for port in compiled.outputs:
    names = [name for name in OUTPUT_NAMES if name in port.get_names()]
    outputs[names[0] if names else port.get_any_name()] = port
  request = compiled.create_infer_request()

  def run_batch(batch):
    results = request.infer({name: np.asarray(batch[name], np.int32) for name in inputs})
    # Copies: the request's output buffers are reused by its next run.
    return {name: np.array(results[port]) for name, port in outputs.items()}

  return run_batch
