"""The fine-tuned model as an ONNX graph, built from its weights with the onnx package.

  build_model(weights, config, info, fused=True) -> onnx.ModelProto

The graph computes what the exported SavedModel computes (finetune/export/saved_model.py): int32
`input_ids`, `input_mask`, `segment_ids` [B, S] (any S up to max_position_embeddings) ->
`score` float [B] in the user's units (regression), or `probabilities` float [B, K] and
`label_id` int32 [B] decided with the model's threshold (classification). The math is
Google's (modeling.py): embeddings -> LayerNorm; per layer
self-attention with (1 - mask) * -10000 added to the scaled scores, dense, residual
LayerNorm, intermediate dense with the activation, dense, residual LayerNorm; the
pooler on the first position; the head. As in our TensorFlow graph, the last layer
computes the first position only, which is all the pooler reads.

Two spellings of the same math:
  fused=True   ONNX Runtime's transformer kernels (domain com.microsoft):
               EmbedLayerNormalization, Attention (query, key and value in one matmul),
               SkipLayerNormalization (bias, residual add and LayerNorm in one),
               FastGelu (the tanh form) or BiasGelu (the erf form). What export_model.py
               writes: the fastest on ONNX Runtime.
  fused=False  standard ONNX operators only (opset 17): for other runtimes, and the
               reference the fused graph is tested against.
Shapes: B batch, S sequence length, H hidden size, N heads, D = H / N, I intermediate.
"""

import math

import numpy as np
import onnx
from onnx import helper
from onnx import numpy_helper
from onnx import TensorProto

OPSET = 17
MS_DOMAIN = "com.microsoft"
INPUTS = ("input_ids", "input_mask", "segment_ids")
MASK_VALUE = -10000.0
# Names of the nodes that stay float32 in an int8 model.
FLOAT_PREFIX = "float32."
# Activation names of bert_config.json (modeling.py): the tanh GELU, the erf GELU, others.
_TANH_GELU = ("gelu", "gelu_new")
_ERF_GELU = ("gelu_exact",)
_PLAIN_ACTIVATIONS = {"relu": "Relu", "tanh": "Tanh", "linear": None}


class _Graph:
  """Nodes and initializers of a graph being built; every name made here is unique.

  outliers: {dense layer scope: input channel indices} computed apart in float32 (see
  _dense).
  """

  def __init__(self, outliers=None):
    self.nodes = []
    self.initializers = []
    self.outliers = outliers or {}
    self.dense_inputs = {}  # dense layer scope -> the name of its input (calibration)
    self._names = 0

  def name(self, hint):
    self._names += 1
    return "%s_%d" % (hint, self._names)

  def constant(self, array, hint="const"):
    """An initializer holding `array` (its dtype kept); returns its name."""
    name = self.name(hint)
    self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
    return name

  def weight(self, weights, key):
    """The checkpoint variable `key` as a float32 initializer."""
    return self.constant(np.asarray(weights[key], np.float32), key.replace("/", "."))

  def op(self, op_type, inputs, outputs=1, domain=None, node_name=None, **attributes):
    """Adds a node; returns its output name (or names, when outputs > 1)."""
    names = [self.name(op_type.lower()) for _ in range(outputs)]
    self.nodes.append(helper.make_node(op_type, list(inputs), names, domain=domain,
                                       name=node_name or names[0], **attributes))
    return names[0] if outputs == 1 else names


def _dense(graph, x, weights, scope, bias=True, keep_float=False):
  """x [..., in] @ kernel [in, out] (+ bias).

  When graph.outliers names input channels of this layer, they are zeroed in x for the
  main product and multiplied apart (a matmul over those few channels, kept float32
  when the rest is quantized: its node name starts with FLOAT_PREFIX). The sum is the
  same product; an int8 quantization of x then spans the ordinary channels' range, not
  that of one channel 10 to 20 times larger (BERT's outlier features). keep_float: the
  whole product stays float32.
  """
  kernel = np.asarray(weights[scope + "/kernel"], np.float32)
  graph.dense_inputs[scope] = x
  channels = graph.outliers.get(scope)
  if channels is None or not len(channels):
    # Named after the scope either way: OpenVINO's int8 export keeps a layer in float32 by
    # these names (openvino_int8.py).
    y = graph.op("MatMul", [x, graph.constant(kernel, scope.replace("/", ".") + ".kernel")],
                 node_name=graph.name((FLOAT_PREFIX if keep_float else "")
                                      + scope.replace("/", ".")))
  else:
    channels = np.asarray(channels, np.int64)
    keep = np.ones(kernel.shape[0], np.float32)
    keep[channels] = 0.0
    main = graph.op("MatMul", [graph.op("Mul", [x, graph.constant(keep)]),
                               graph.constant(kernel, scope.replace("/", ".") + ".kernel")],
                    node_name=graph.name(scope.replace("/", ".")))
    apart = graph.op("MatMul", [graph.op("Gather", [x, graph.constant(channels)], axis=-1),
                                graph.constant(kernel[channels])],
                     node_name=graph.name(FLOAT_PREFIX + scope.replace("/", ".")))
    y = graph.op("Add", [main, apart])
  return graph.op("Add", [y, graph.weight(weights, scope + "/bias")]) if bias else y


def _layer_norm(graph, x, weights, scope, epsilon):
  return graph.op("LayerNormalization", [x, graph.weight(weights, scope + "/gamma"),
                                         graph.weight(weights, scope + "/beta")],
                  axis=-1, epsilon=epsilon)


def _activation(graph, x, name):
  """The config's hidden_act on x, in standard operators."""
  if name in _TANH_GELU:  # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    cube = graph.op("Mul", [graph.op("Mul", [x, x]), x])
    inner = graph.op("Add", [x, graph.op("Mul", [cube, graph.constant(np.float32(0.044715))])])
    tanh = graph.op("Tanh", [graph.op("Mul", [inner, graph.constant(
        np.float32(math.sqrt(2.0 / math.pi)))])])
    half = graph.op("Mul", [x, graph.constant(np.float32(0.5))])
    return graph.op("Mul", [half, graph.op("Add", [tanh, graph.constant(np.float32(1.0))])])
  if name in _ERF_GELU:  # 0.5 x (1 + erf(x / sqrt(2)))
    erf = graph.op("Erf", [graph.op("Mul", [x, graph.constant(np.float32(1 / math.sqrt(2)))])])
    half = graph.op("Mul", [x, graph.constant(np.float32(0.5))])
    return graph.op("Mul", [half, graph.op("Add", [erf, graph.constant(np.float32(1.0))])])
  if name not in _PLAIN_ACTIVATIONS:
    raise ValueError("hidden_act %r: expected one of %s" % (
        name, ", ".join(_TANH_GELU + _ERF_GELU + tuple(_PLAIN_ACTIVATIONS))))
  op_type = _PLAIN_ACTIVATIONS[name]
  return graph.op(op_type, [x]) if op_type else x


def _split_heads(graph, x, heads, head_size, key=False):
  """[B, L, H] -> [B, N, L, D] (keys: [B, N, D, L], ready to multiply queries by)."""
  shaped = graph.op("Reshape", [x, graph.constant(np.array([0, 0, heads, head_size],
                                                           np.int64))])
  return graph.op("Transpose", [shaped], perm=[0, 2, 3, 1] if key else [0, 2, 1, 3])


def _attention_context(graph, query, hidden, weights, scope, mask_bias, config):
  """Standard-operator attention: queries from `query` [B, Q, H], keys and values from
  `hidden` [B, S, H]; returns the heads' contexts [B, Q, H] (before the output dense)."""
  heads = config.num_attention_heads
  head_size = config.hidden_size // heads
  q = _split_heads(graph, _dense(graph, query, weights, scope + "/query"), heads, head_size)
  k = _split_heads(graph, _dense(graph, hidden, weights, scope + "/key"), heads, head_size,
                   key=True)
  v = _split_heads(graph, _dense(graph, hidden, weights, scope + "/value"), heads, head_size)
  scores = graph.op("Mul", [graph.op("MatMul", [q, k],
                                     node_name=graph.name(scope.replace("/", ".") + ".scores")),
                            graph.constant(np.float32(1.0 / math.sqrt(head_size)))])
  probabilities = graph.op("Softmax", [graph.op("Add", [scores, mask_bias])], axis=-1)
  context = graph.op("Transpose", [graph.op("MatMul", [probabilities, v], node_name=graph.name(
      scope.replace("/", ".") + ".context"))], perm=[0, 2, 1, 3])
  return graph.op("Reshape", [context, graph.constant(np.array([0, 0, config.hidden_size],
                                                               np.int64))])


def _plain_layer(graph, hidden, weights, scope, mask_bias, config, first_token_only):
  """One encoder layer in standard operators: [B, S, H] -> [B, S, H] (or [B, 1, H])."""
  epsilon = config.layer_norm_eps
  query = hidden
  if first_token_only:
    query = graph.op("Slice", [hidden, graph.constant(np.array([0], np.int64)),
                               graph.constant(np.array([1], np.int64)),
                               graph.constant(np.array([1], np.int64))])
  context = _attention_context(graph, query, hidden, weights, scope + "/attention/self",
                               mask_bias, config)
  attention = _layer_norm(graph, graph.op("Add", [
      _dense(graph, context, weights, scope + "/attention/output/dense"), query]),
                          weights, scope + "/attention/output/LayerNorm", epsilon)
  intermediate = _activation(graph, _dense(graph, attention, weights,
                                           scope + "/intermediate/dense"), config.hidden_act)
  output = graph.op("Add", [_dense(graph, intermediate, weights, scope + "/output/dense"),
                            attention])
  return _layer_norm(graph, output, weights, scope + "/output/LayerNorm", epsilon)


def _skip_layer_norm(graph, x, skip, weights, dense_scope, norm_scope, epsilon):
  """LayerNorm(x + dense bias + skip) in one com.microsoft kernel."""
  return graph.op("SkipLayerNormalization", [
      x, skip, graph.weight(weights, norm_scope + "/gamma"),
      graph.weight(weights, norm_scope + "/beta"), graph.weight(weights, dense_scope + "/bias")],
                  domain=MS_DOMAIN, epsilon=epsilon)


def _fused_feed_forward(graph, attention, weights, scope, config):
  """The intermediate dense with its activation, fused where ONNX Runtime has a kernel."""
  dense = scope + "/intermediate/dense"
  product = _dense(graph, attention, weights, dense, bias=False)
  bias = graph.weight(weights, dense + "/bias")
  if config.hidden_act in _TANH_GELU:
    return graph.op("FastGelu", [product, bias], domain=MS_DOMAIN)
  if config.hidden_act in _ERF_GELU:
    return graph.op("BiasGelu", [product, bias], domain=MS_DOMAIN)
  return _activation(graph, graph.op("Add", [product, bias]), config.hidden_act)


def _fused_layer(graph, hidden, mask, weights, scope, mask_bias, config, first_token_only):
  """One encoder layer in ONNX Runtime's kernels: [B, S, H] -> [B, S, H] (or [B, 1, H]).

  The last layer (first_token_only) computes its attention in standard operators, for
  the first position only; its dense layers still use the fused kernels.
  """
  epsilon = config.layer_norm_eps
  self_scope = scope + "/attention/self"
  if first_token_only:
    query = graph.op("Slice", [hidden, graph.constant(np.array([0], np.int64)),
                               graph.constant(np.array([1], np.int64)),
                               graph.constant(np.array([1], np.int64))])
    context = _attention_context(graph, query, hidden, weights, self_scope, mask_bias,
                                 config)
  else:
    query = hidden
    packed = graph.constant(np.concatenate(
        [np.asarray(weights["%s/%s/kernel" % (self_scope, part)], np.float32)
         for part in ("query", "key", "value")], axis=1), self_scope + ".qkv.kernel")
    packed_bias = graph.constant(np.concatenate(
        [np.asarray(weights["%s/%s/bias" % (self_scope, part)], np.float32)
         for part in ("query", "key", "value")]), self_scope + ".qkv.bias")
    context = graph.op("Attention", [hidden, packed, packed_bias, mask], domain=MS_DOMAIN,
                       num_heads=config.num_attention_heads, mask_filter_value=MASK_VALUE,
                       node_name=graph.name(self_scope.replace("/", ".")))
  attention = _skip_layer_norm(
      graph, _dense(graph, context, weights, scope + "/attention/output/dense", bias=False),
      query, weights, scope + "/attention/output/dense", scope + "/attention/output/LayerNorm",
      epsilon)
  intermediate = _fused_feed_forward(graph, attention, weights, scope, config)
  return _skip_layer_norm(
      graph, _dense(graph, intermediate, weights, scope + "/output/dense", bias=False),
      attention, weights, scope + "/output/dense", scope + "/output/LayerNorm", epsilon)


def _embeddings(graph, weights, config, fused):
  """Word + segment + position embeddings, then LayerNorm: [B, S, H]."""
  scope = "bert/embeddings"
  if fused:
    output, _ = graph.op("EmbedLayerNormalization", [
        "input_ids", "segment_ids", graph.weight(weights, scope + "/word_embeddings"),
        graph.weight(weights, scope + "/position_embeddings"),
        graph.weight(weights, scope + "/token_type_embeddings"),
        graph.weight(weights, scope + "/LayerNorm/gamma"),
        graph.weight(weights, scope + "/LayerNorm/beta"), "input_mask"],
                         outputs=2, domain=MS_DOMAIN, epsilon=config.layer_norm_eps)
    return output
  words = graph.op("Gather", [graph.weight(weights, scope + "/word_embeddings"), "input_ids"])
  segments = graph.op("Gather", [graph.weight(weights, scope + "/token_type_embeddings"),
                                 "segment_ids"])
  length = graph.op("Slice", [graph.op("Shape", ["input_ids"]),
                              graph.constant(np.array([1], np.int64)),
                              graph.constant(np.array([2], np.int64))])
  positions = graph.op("Slice", [graph.weight(weights, scope + "/position_embeddings"),
                                 graph.constant(np.array([0], np.int64)), length,
                                 graph.constant(np.array([0], np.int64))])
  summed = graph.op("Add", [graph.op("Add", [words, segments]), positions])
  return _layer_norm(graph, summed, weights, scope + "/LayerNorm", config.layer_norm_eps)


def _head(graph, pooled, weights, info):
  """The task's outputs from the pooled output [B, H]: {output name: graph name}."""
  kernel = graph.constant(np.asarray(weights["output_weights"], np.float32).T, "output_weights")
  logits = graph.op("Add", [graph.op("MatMul", [pooled, kernel],
                                     node_name=graph.name(FLOAT_PREFIX + "head")),
                            graph.weight(weights, "output_bias")])
  if info["task"] == "regression":
    score = graph.op("Reshape", [logits, graph.constant(np.array([-1], np.int64))])
    if info["use_sigmoid_act"]:
      score = graph.op("Sigmoid", [score])
    if info.get("label_min") is not None:
      low, high = info["label_min"], info["label_max"]
      score = graph.op("Add", [graph.op("Mul", [score, graph.constant(np.float32(high - low))]),
                               graph.constant(np.float32(low))])
    return {"score": score}
  probabilities = graph.op("Softmax", [logits], axis=-1)
  labels = info["labels"]
  if len(labels) == 2:  # P(positive) >= threshold, as tasks.decide
    if info.get("threshold") is None:
      raise ValueError("a two-label model needs its threshold (model_info.json)")
    positive = labels.index(info["positive_label"])
    chosen = graph.op("Gather", [probabilities, graph.constant(np.int64(positive))], axis=1)
    label_id = graph.op("Where", [
        graph.op("GreaterOrEqual", [chosen, graph.constant(np.float32(info["threshold"]))]),
        graph.constant(np.int32(positive)), graph.constant(np.int32(1 - positive))])
  else:
    label_id = graph.op("Cast", [graph.op("ArgMax", [probabilities], axis=-1, keepdims=0)],
                        to=TensorProto.INT32)
  return {"probabilities": probabilities, "label_id": label_id}


def build_model(weights, config, info, fused=True, outliers=None):
  """The ONNX model of a fine-tuned checkpoint; see _build for the arguments."""
  return _build(weights, config, info, fused, outliers)[0]


def dense_input_model(weights, config, info):
  """The fused model, also returning the input of each dense layer it computes apart.

  Returns:
    (onnx.ModelProto, {dense layer scope: output name}); the extra outputs are the
    layers' inputs, [B, S, in] (or [B, 1, in] / [B, in] past the last layer's slice).
  """
  model, graph = _build(weights, config, info, fused=True)
  for _, name in sorted(graph.dense_inputs.items()):
    model.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
  return model, dict(graph.dense_inputs)


def _build(weights, config, info, fused=True, outliers=None):
  """The ONNX model of a fine-tuned checkpoint.

  Args:
    weights: {checkpoint variable name: numpy array}, Google's names (SPEC), the head's
      `output_weights` and `output_bias` included.
    config: modeling.BertConfig.
    info: model_info.json as a dict (task, labels, threshold or label range).
    fused: ONNX Runtime's kernels (True) or standard operators only (False).
    outliers: {dense layer scope, e.g. "bert/encoder/layer_0/output/dense": input channel
      indices} to multiply apart (see _dense); for int8 quantization.
  Returns:
    (onnx.ModelProto, the _Graph it was built from); inputs and outputs as the module
    docstring says; the standard-operator model is checked with onnx's checker.
  """
  graph = _Graph(outliers)
  mask_bias = graph.op("Unsqueeze", [
      graph.op("Mul", [graph.op("Sub", [graph.constant(np.float32(1.0)),
                                        graph.op("Cast", ["input_mask"], to=TensorProto.FLOAT)]),
                       graph.constant(np.float32(MASK_VALUE))]),
      graph.constant(np.array([1, 2], np.int64))])  # [B, 1, 1, S]
  hidden = _embeddings(graph, weights, config, fused)
  for index in range(config.num_hidden_layers):
    scope = "bert/encoder/layer_%d" % index
    last = index == config.num_hidden_layers - 1
    if fused:
      hidden = _fused_layer(graph, hidden, "input_mask", weights, scope, mask_bias, config,
                            first_token_only=last)
    else:
      hidden = _plain_layer(graph, hidden, weights, scope, mask_bias, config,
                            first_token_only=last)
  first = graph.op("Reshape", [graph.op("Slice", [
      hidden, graph.constant(np.array([0], np.int64)), graph.constant(np.array([1], np.int64)),
      graph.constant(np.array([1], np.int64))]),
                               graph.constant(np.array([-1, config.hidden_size], np.int64))])
  # The pooler and the head are tiny ([B, H] inputs): they stay float32 in int8 models.
  pooled = graph.op("Tanh", [_dense(graph, first, weights, "bert/pooler/dense",
                                    keep_float=True)])
  outputs = _head(graph, pooled, weights, info)
  for name, value in outputs.items():  # the outputs under their public names
    graph.nodes.append(helper.make_node("Identity", [value], [name]))
  token_inputs = [helper.make_tensor_value_info(name, TensorProto.INT32, ["batch", "length"])
                  for name in INPUTS]
  shapes = {"score": ["batch"], "probabilities": ["batch", len(info.get("labels") or [])],
            "label_id": ["batch"]}
  types = {"score": TensorProto.FLOAT, "probabilities": TensorProto.FLOAT,
           "label_id": TensorProto.INT32}
  onnx_outputs = [helper.make_tensor_value_info(name, types[name], shapes[name])
                  for name in outputs]
  onnx_graph = helper.make_graph(graph.nodes, "bert_sentence_pair", token_inputs,
                                 onnx_outputs, graph.initializers)
  opsets = [helper.make_opsetid("", OPSET)]
  if fused:
    opsets.append(helper.make_opsetid(MS_DOMAIN, 1))
  model = helper.make_model(onnx_graph, opset_imports=opsets,
                            producer_name="bert-sentence-pair export_model.py")
  model.ir_version = min(model.ir_version, 9)  # readable by older runtimes too
  if not fused:
    onnx.checker.check_model(model, full_check=True)
  return model, graph
