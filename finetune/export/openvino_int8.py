"""export_model.py --format=onnx --precision=int8 --runtime=openvino: OpenVINO's own int8.

Static post-training quantization by NNCF (`nncf.quantize`, `ModelType.TRANSFORMER`,
which keeps softmax, LayerNorm and the residual adds in float and smooths the
activations' outlier channels into the weights) of the standard-operator graph of
onnx_graph.py (fused=False: NNCF and OpenVINO know these operators, and OpenVINO fuses
attention itself), calibrated on the run's own pairs in prediction's batches
(calibration.py). Activations get scales fixed at export, weights int8 per channel; on
a CPU with VNNI or AMX-INT8 OpenVINO runs the matmuls as int8 dot products with no
quantization at run time. The result is an OpenVINO IR (IR_FILE and its .bin) beside
the float32 model.onnx, which stays for ONNX Runtime and for OpenVINO in float32 or
bfloat16: the folder serves every runtime. predict.py and serve.py load the IR through
finetune/runtime/openvino_runtime.open_int8_ir.

`float_layers` are encoder layers kept whole in float32 (the accuracy gate's way back,
onnx_export.py); the pooler and the head are float32 always ([B, H]: nothing to gain).
"""

import logging as std_logging
import os

from common.errors import UserError
from finetune.export import onnx_graph
from finetune.runtime import openvino_runtime
from finetune.runtime.predictor import outputs_in_order

IR_FILE = "openvino_int8.xml"
WEIGHTS_FILE = "openvino_int8.bin"


def _imports():
  try:
    import nncf
    import openvino
  except ImportError:
    raise UserError("--runtime=openvino --precision=int8 needs the nncf and openvino "
                    "packages, which are not installed here: %s" %
                    openvino_runtime.INSTALL) from None
  return nncf, openvino


def layer_pattern(index):
  """The node names of encoder layer `index` in onnx_graph's graph (and OpenVINO's)."""
  return r"bert\.encoder\.layer_%d\..*" % index


def quantize(weights, fine_tuned, batches, float_layers, staging):
  """Writes IR_FILE and WEIGHTS_FILE into `staging`; returns the IR's path.

  batches: calibration.calibration_batches(...), [{name: int32 [b, L]}].
  float_layers: encoder layer indices kept in float32.
  """
  nncf, openvino = _imports()
  float_model = _float_model(weights, fine_tuned, staging)
  patterns = [onnx_graph.FLOAT_PREFIX.replace(".", r"\.") + ".*"]
  patterns += [layer_pattern(index) for index in sorted(float_layers)]
  root = std_logging.getLogger()
  level = root.level
  root.setLevel(std_logging.ERROR)  # NNCF logs its progress bars and notes on the root logger
  try:
    quantized = nncf.quantize(
        float_model, nncf.Dataset(batches), model_type=nncf.ModelType.TRANSFORMER,
        subset_size=len(batches),  # NNCF counts the dataset's items: batches, not pairs
        ignored_scope=nncf.IgnoredScope(patterns=patterns, validate=False))
  finally:
    root.setLevel(level)
  ir_file = os.path.join(staging, IR_FILE)
  openvino.save_model(quantized, ir_file, compress_to_fp16=False)
  return ir_file


def _float_model(weights, fine_tuned, staging):
  """onnx_graph's standard-operator graph read into OpenVINO."""
  _imports()  # NNCF and OpenVINO both there, or a one-line error
  model = onnx_graph.build_model(weights, fine_tuned.bert_config, fine_tuned.info,
                                 fused=False)
  onnx_file = os.path.join(staging, "openvino_source.onnx.tmp")
  with open(onnx_file, "wb") as f:
    f.write(model.SerializeToString())
  try:
    return openvino_runtime.core().read_model(onnx_file)
  finally:
    os.remove(onnx_file)


def score(ir_file, columns, batch_size=32):
  """The outputs of the int8 IR at `ir_file` on padded pairs {name: int32 [N, S]}, in
  their order (the accuracy gate's int8 side)."""
  return outputs_in_order(
      openvino_runtime.batch_runner(openvino_runtime.open_int8_ir(ir_file)), columns,
      batch_size)
