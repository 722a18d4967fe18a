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
  openvino = _openvino()
  config = {"INFERENCE_PRECISION_HINT": hint,
            "PERFORMANCE_HINT": "LATENCY"}  # one batch at a time, on every core
  if threads:
    config["INFERENCE_NUM_THREADS"] = threads
  try:
    return openvino.Core().compile_model(model, "CPU", config)
  except Exception as e:
    raise onnx_runtime.unloadable(model, "OpenVINO", e) from None


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
