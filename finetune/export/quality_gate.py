"""The int8 export's accuracy gate: an int8 model is kept only if dev says it may be.

The export scores the run's dev records with the float32 and the int8 model
(onnx_export.quality_report). `refusal(report, max_drop)` is None when no gated metric
fell by more than max_drop, else the one line that says which fell and by how much.
Gated are the metrics a user judges the task by: Pearson and Spearman for a
regression, accuracy and (two labels) F1 for a classifier; the errors (MAE, RMSE, loss)
move with them and are reported, not gated.

`layers_worst_first(ranges, num_layers)` orders the encoder layers for
--keep_float_layers=auto: by how far the largest input channel of any of the layer's
matmuls stands above its median channel on the calibration pairs. An activation's int8
scale spans its largest value, so the layer with the widest spread keeps the fewest
levels for its ordinary channels and loses the most; measured by one pass of the float
model, where ranking by trial (quantizing one layer at a time) would cost a
quantization and a dev scoring per layer.
"""

import re

import numpy as np

GATED = ("eval_pearson", "eval_spearman", "eval_accuracy", "eval_f1")
_LAYER = re.compile(r"^bert/encoder/layer_(\d+)/")


def drops(report):
  """{gated metric: float32 value - int8 value} of the metrics the report holds."""
  return {name: report["float32"][name] - report["int8"][name]
          for name in GATED if name in report["float32"] and name in report["int8"]}


def refusal(report, max_drop):
  """None if the int8 model passes, else a one-line description of what fell."""
  fallen = {name: drop for name, drop in drops(report).items() if drop > max_drop}
  if not fallen:
    return None
  return "int8 lost %s on %d dev pairs, more than --max_quality_drop=%g" % (
      ", ".join("%s %.4f -> %.4f (-%.4f)" % (name[len("eval_"):], report["float32"][name],
                                             report["int8"][name], drop)
                for name, drop in sorted(fallen.items())),
      report["dev_pairs"], max_drop)


def layers_worst_first(ranges, num_layers):
  """Encoder layer indices, the widest spread of input channels first.

  ranges: {dense layer scope: largest |value| per input channel [in]} on calibration pairs.
  """
  spread = np.zeros(num_layers)
  for scope, largest in ranges.items():
    match = _LAYER.match(scope)
    if match and int(match.group(1)) < num_layers:
      ratio = float(np.max(largest) / max(float(np.median(largest)), 1e-12))
      spread[int(match.group(1))] = max(spread[int(match.group(1))], ratio)
  return [int(i) for i in np.argsort(-spread, kind="stable")]


def parse_layers(text, num_layers):
  """--keep_float_layers's value: "" (none), "auto" (None: the gate chooses) or "0,5".

  Returns a sorted list of layer indices, or None for auto. Raises ValueError.
  """
  text = text.strip()
  if text == "auto":
    return None
  if not text:
    return []
  layers = set()
  for part in text.split(","):
    if not part.strip().isdigit() or int(part) >= num_layers:
      raise ValueError("--keep_float_layers=%s: expected auto or encoder layer numbers "
                       "0..%d separated by commas, found %r" % (text, num_layers - 1,
                                                               part.strip()))
    layers.add(int(part))
  return sorted(layers)
