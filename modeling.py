# Copyright 2018 The Google AI Language Team Authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
#
# Changed from Google's BERT (github.com/google-research/bert) by this project: what
# differs and why is in docs/differences.md.
"""The BERT encoder, in TF1-style graph mode, with Google's checkpoint variable names.

Read top to bottom: `BertConfig`, the activations, the small layers (dense, layer norm,
dropout), embeddings, attention, the transformer stack, `BertModel`, then checkpoint
helpers. Every layer creates its variables through `tf.compat.v1.get_variable` inside
named variable scopes, so a graph built here saves and restores the exact names of
Google's published checkpoints (`bert/encoder/layer_0/attention/self/query/kernel`, ...).

Shapes use B = batch size, S = sequence length, H = hidden size, N = attention heads,
D = H / N (head size), I = intermediate size. S may be unknown until run time: the
input pipeline trims each batch to its longest real sequence.
"""

import collections
import copy
import json
import math
import re

import numpy as np
import tensorflow as tf

tf1 = tf.compat.v1

# Google's checkpoints and the model math use this epsilon for every LayerNorm.
DEFAULT_LAYER_NORM_EPS = 1e-12


class BertConfig:
  """Hyper-parameters of a BERT encoder, as stored in `bert_config.json`."""

  _KNOWN_KEYS = (
      "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
      "intermediate_size", "hidden_act", "hidden_dropout_prob",
      "attention_probs_dropout_prob", "max_position_embeddings", "type_vocab_size",
      "initializer_range", "layer_norm_eps")

  def __init__(self,
               vocab_size,
               hidden_size=768,
               num_hidden_layers=12,
               num_attention_heads=12,
               intermediate_size=3072,
               hidden_act="gelu",
               hidden_dropout_prob=0.1,
               attention_probs_dropout_prob=0.1,
               max_position_embeddings=512,
               type_vocab_size=16,
               initializer_range=0.02,
               layer_norm_eps=DEFAULT_LAYER_NORM_EPS):
    self.vocab_size = vocab_size
    self.hidden_size = hidden_size
    self.num_hidden_layers = num_hidden_layers
    self.num_attention_heads = num_attention_heads
    self.intermediate_size = intermediate_size
    self.hidden_act = hidden_act
    self.hidden_dropout_prob = hidden_dropout_prob
    self.attention_probs_dropout_prob = attention_probs_dropout_prob
    self.max_position_embeddings = max_position_embeddings
    self.type_vocab_size = type_vocab_size
    self.initializer_range = initializer_range
    self.layer_norm_eps = layer_norm_eps
    # Published configs carry keys the model does not use (the Chinese one has
    # "directionality", "pooler_fc_size", ...); they are kept so to_dict round-trips.
    self.extra = {}

  @classmethod
  def from_dict(cls, json_object):
    """Builds a config from a dict; unknown keys are kept in `extra`."""
    if "vocab_size" not in json_object:
      raise ValueError("a BERT config needs 'vocab_size'")
    config = cls(vocab_size=json_object["vocab_size"])
    for key, value in json_object.items():
      if key in cls._KNOWN_KEYS:
        setattr(config, key, value)
      else:
        config.extra[key] = value
    return config

  @classmethod
  def from_json_file(cls, json_file):
    """Reads `bert_config.json`."""
    with tf.io.gfile.GFile(json_file, "r") as reader:
      text = reader.read()
    try:
      return cls.from_dict(json.loads(text))
    except (json.JSONDecodeError, ValueError) as e:
      raise ValueError("%s: not a BERT config (%s)" % (json_file, e)) from None

  def to_dict(self):
    """Returns the config as a plain dict (unknown keys of the source included)."""
    output = copy.deepcopy(self.extra)
    for key in self._KNOWN_KEYS:
      value = getattr(self, key)
      if key == "layer_norm_eps" and value == DEFAULT_LAYER_NORM_EPS:
        continue  # Google's configs do not have the key; keep files identical.
      output[key] = value
    return output

  def to_json_string(self):
    """Serializes the config to a JSON string, keys sorted."""
    return json.dumps(self.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"

  @property
  def head_size(self):
    return self.hidden_size // self.num_attention_heads


# --------------------------------------------------------------------------------------
# Activations
# --------------------------------------------------------------------------------------


# Both GELUs are written the way TensorFlow's graph optimizer recognizes after a dense
# layer: on CPU with oneDNN it fuses matmul, bias and activation into one kernel (Google's
# own spelling of the tanh form was not recognized and ran as nine separate ops).


def gelu(x):
  """Google BERT's GELU: the tanh approximation, 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3)))."""
  return tf.nn.gelu(x, approximate=True)


def gelu_exact(x):
  """The exact GELU, x * Phi(x) with the normal CDF via erf (Hugging Face's "gelu")."""
  return tf.nn.gelu(x, approximate=False)


# "gelu" means what it meant in Google's code. A model converted from Hugging Face keeps
# its exact erf activation under the distinct name "gelu_exact" (see convert_hf_checkpoint).
_ACTIVATIONS = {
    "gelu": gelu,
    "gelu_new": gelu,  # Hugging Face's name for the tanh approximation.
    "gelu_exact": gelu_exact,
    "relu": tf.nn.relu,
    "tanh": tf.tanh,
    "linear": None,
}


def get_activation(activation_string):
  """Maps an activation name from a config to a function (None for linear)."""
  if activation_string is None or callable(activation_string):
    return activation_string
  name = activation_string.lower()
  if name not in _ACTIVATIONS:
    raise ValueError("unsupported hidden_act %r; expected one of %s" %
                     (activation_string, ", ".join(sorted(_ACTIVATIONS))))
  return _ACTIVATIONS[name]


# --------------------------------------------------------------------------------------
# Small layers. Written with get_variable (not Keras) so that names are Google's.
# --------------------------------------------------------------------------------------


def create_initializer(initializer_range=0.02):
  """Truncated normal initializer with stddev `initializer_range`."""
  return tf1.truncated_normal_initializer(stddev=initializer_range)


def dense(x, units, initializer_range, activation=None, name="dense",
          compute_dtype=tf.float32):
  """A fully connected layer: float32 [..., in] -> float32 [..., units].

  Creates `<name>/kernel` [in, units] and `<name>/bias` [units], always float32. With a
  float16 or bfloat16 compute_dtype only the matmul computes in it (x and the kernel cast
  to it, the product cast back); the bias and the activation stay float32, since a CPU
  has no bfloat16 arithmetic for them and computes TensorFlow's bfloat16 elementwise
  kernels through float32, element by element (docs/speed.md, Training on a CPU with AMX).
  """
  in_units = x.shape[-1]
  with tf1.variable_scope(name):
    kernel = tf1.get_variable(
        "kernel", [in_units, units], initializer=create_initializer(initializer_range))
    bias = tf1.get_variable("bias", [units], initializer=tf1.zeros_initializer())
  low_x, low_kernel = tf.cast(x, compute_dtype), tf.cast(kernel, compute_dtype)
  if x.shape.ndims == 2:
    y = tf.matmul(low_x, low_kernel)
  else:
    y = tf.tensordot(low_x, low_kernel, axes=[[x.shape.ndims - 1], [0]])
  y = tf.nn.bias_add(tf.cast(y, tf.float32), bias)
  return activation(y) if activation is not None else y


def layer_norm(x, epsilon=DEFAULT_LAYER_NORM_EPS, name="LayerNorm"):
  """Normalizes the last axis; creates `<name>/beta` and `<name>/gamma` [H].

  Computed in float32 whatever x's dtype (a variance in float16 over- and underflows,
  and epsilon 1e-12 is zero in it); the result has x's dtype.
  """
  with tf1.variable_scope(name):
    beta = tf1.get_variable("beta", [x.shape[-1]], initializer=tf1.zeros_initializer())
    gamma = tf1.get_variable("gamma", [x.shape[-1]], initializer=tf1.ones_initializer())
  x32 = tf.cast(x, tf.float32)
  mean, variance = tf.nn.moments(x32, axes=[-1], keepdims=True)
  return tf.cast((x32 - mean) * tf.math.rsqrt(variance + epsilon) * gamma + beta, x.dtype)


def dropout(x, rate):
  """Dropout with drop probability `rate`; identity when rate is 0 or None."""
  if not rate:
    return x
  return tf.nn.dropout(x, rate=rate)


def get_shape_list(tensor):
  """Returns the shape as a list: Python ints where static, scalar tensors where not."""
  static = tensor.shape.as_list()
  dynamic = tf.shape(tensor)
  return [dim if dim is not None else dynamic[i] for i, dim in enumerate(static)]


# --------------------------------------------------------------------------------------
# Embeddings
# --------------------------------------------------------------------------------------


def embedding_lookup(input_ids, vocab_size, hidden_size, initializer_range,
                     use_one_hot_embeddings=False, name="word_embeddings"):
  """Looks up word embeddings.

  Args:
    input_ids: int [B, S].
    use_one_hot_embeddings: a one-hot matmul instead of a gather; faster on TPU.
  Returns:
    (embeddings [B, S, H], the table [vocab_size, H]).
  """
  table = tf1.get_variable(
      name, [vocab_size, hidden_size], initializer=create_initializer(initializer_range))
  if use_one_hot_embeddings:
    one_hot = tf.one_hot(input_ids, depth=vocab_size, dtype=table.dtype)
    output = tf.einsum("bsv,vh->bsh", one_hot, table)
  else:
    # A gather from the variable itself (ResourceGather) puts the variable in
    # copy-on-read mode: every later read of the table, the optimizer's among them,
    # then copied all of it (vocab_size x H floats) each step. A gather from its value
    # reads it as any dense variable is read; the gradient is the same sparse one.
    output = tf.gather(tf.convert_to_tensor(table), input_ids)
  return output, table


def embedding_postprocessor(word_embeddings, token_type_ids, config, dropout_rate):
  """Adds token-type and position embeddings, then LayerNorm and dropout.

  Args:
    word_embeddings: float [B, S, H].
    token_type_ids: int [B, S].
  Returns:
    float [B, S, H].
  """
  seq_length = get_shape_list(word_embeddings)[1]
  token_type_table = tf1.get_variable(
      "token_type_embeddings", [config.type_vocab_size, config.hidden_size],
      initializer=create_initializer(config.initializer_range))
  # A one-hot matmul: the table is tiny, and this is fast on every device.
  token_type_one_hot = tf.one_hot(
      token_type_ids, depth=config.type_vocab_size, dtype=token_type_table.dtype)
  output = word_embeddings + tf.einsum("bst,th->bsh", token_type_one_hot, token_type_table)

  position_table = tf1.get_variable(
      "position_embeddings", [config.max_position_embeddings, config.hidden_size],
      initializer=create_initializer(config.initializer_range))
  output += tf.expand_dims(position_table[:seq_length], 0)

  output = layer_norm(output, config.layer_norm_eps)
  return dropout(output, dropout_rate)


# --------------------------------------------------------------------------------------
# Attention and the transformer stack. Hidden states travel as 2-D [B*S, H] matrices so
# that each dense layer is one matmul.
# --------------------------------------------------------------------------------------


def attention_bias_from_mask(input_mask, dtype):
  """Turns a [B, S] 0/1 mask into an additive bias [B, 1, 1, S]: 0 to keep, -10000 to drop."""
  mask = tf.cast(input_mask[:, tf.newaxis, tf.newaxis, :], dtype)
  return (1.0 - mask) * -10000.0


def self_attention(hidden_2d, attention_bias, batch_size, seq_length, config, is_training,
                   query_2d=None, compute_dtype=tf.float32):
  """Multi-head self-attention.

  Args:
    hidden_2d: float32 [B*S, H], the states keys and values come from.
    attention_bias: float32 [B, 1, 1, S], added to the scores.
    query_2d: float32 [B*Q, H], the states queries come from (default hidden_2d, Q = S).
    compute_dtype: the dtype of the matmuls (dense's); the rest is float32.
  Returns:
    float32 [B*Q, H], the heads' contexts concatenated (before the output dense).
  """
  num_heads, head_size = config.num_attention_heads, config.head_size
  if query_2d is None:
    query_2d, query_length = hidden_2d, seq_length
  else:
    query_length = -1  # whatever the rows of query_2d make per example

  def split_heads(x_2d, length):  # [B*L, H] -> [B, N, L, D]
    x = tf.reshape(x_2d, [batch_size, length, num_heads, head_size])
    return tf.transpose(x, [0, 2, 1, 3])

  def projected(x_2d, name, length):
    return split_heads(dense(x_2d, config.hidden_size, config.initializer_range, name=name,
                             compute_dtype=compute_dtype), length)

  query = projected(query_2d, "query", query_length)
  key = projected(hidden_2d, "key", seq_length)
  value = projected(hidden_2d, "value", seq_length)

  scores = tf.matmul(tf.cast(query, compute_dtype), tf.cast(key, compute_dtype),
                     transpose_b=True)
  # Scaled, masked and normalized in float32: -10000 and exp() overflow float16.
  scores = tf.cast(scores, tf.float32) * (1.0 / math.sqrt(head_size)) + attention_bias
  probs = tf.nn.softmax(scores)  # [B, N, Q, S]
  probs = dropout(probs, config.attention_probs_dropout_prob if is_training else 0.0)

  context = tf.matmul(tf.cast(probs, compute_dtype), tf.cast(value, compute_dtype))
  context = tf.transpose(tf.cast(context, tf.float32), [0, 2, 1, 3])  # [B, Q, N, D]
  return tf.reshape(context, [-1, config.hidden_size])


def transformer_layer(hidden_2d, attention_bias, batch_size, seq_length, config, is_training,
                      first_token_only=False, compute_dtype=tf.float32):
  """One encoder layer: attention block then feed-forward block, each with a residual.

  Args:
    hidden_2d: float32 [B*S, H].
    first_token_only: compute the output at the first position only (all positions
      still serve as keys and values). Enough when only the pooled output is used.
    compute_dtype: the dtype of the matmuls; the rest is float32.
  Returns:
    float32 [B*S, H], or [B, H] with first_token_only.
  """
  hidden_dropout = config.hidden_dropout_prob if is_training else 0.0
  query_2d = None
  residual = hidden_2d
  if first_token_only:
    query_2d = tf.reshape(hidden_2d, [batch_size, seq_length, config.hidden_size])[:, 0, :]
    residual = query_2d
  with tf1.variable_scope("attention"):
    with tf1.variable_scope("self"):
      context = self_attention(hidden_2d, attention_bias, batch_size, seq_length, config,
                               is_training, query_2d=query_2d, compute_dtype=compute_dtype)
    with tf1.variable_scope("output"):
      attention_output = dense(context, config.hidden_size, config.initializer_range,
                               compute_dtype=compute_dtype)
      attention_output = dropout(attention_output, hidden_dropout)
      attention_output = layer_norm(attention_output + residual, config.layer_norm_eps)

  with tf1.variable_scope("intermediate"):
    intermediate = dense(attention_output, config.intermediate_size, config.initializer_range,
                         activation=get_activation(config.hidden_act),
                         compute_dtype=compute_dtype)
  with tf1.variable_scope("output"):
    layer_output = dense(intermediate, config.hidden_size, config.initializer_range,
                         compute_dtype=compute_dtype)
    layer_output = dropout(layer_output, hidden_dropout)
    return layer_norm(layer_output + attention_output, config.layer_norm_eps)


class BertModel:
  """The BERT encoder: embeddings, `num_hidden_layers` transformer layers, the pooler.

  Example:
    model = BertModel(config, is_training=False, input_ids=ids, input_mask=mask,
                      token_type_ids=segments)
    pooled = model.get_pooled_output()  # [B, H]

  Mixed precision: with compute_dtype float16 or bfloat16 the encoder's matmuls run in
  that dtype (their inputs cast to it, their products back), as PyTorch's autocast does;
  the activations between them, the variables (hence checkpoints), embeddings, every
  LayerNorm, GELU, dropout and the attention softmax stay float32.
  """

  def __init__(self, config, is_training, input_ids, input_mask=None, token_type_ids=None,
               use_one_hot_embeddings=False, scope=None, pooled_output_only=False,
               compute_dtype=tf.float32):
    """Builds the graph.

    Args:
      config: `BertConfig`.
      is_training: dropout is applied only when True.
      input_ids: int32 [B, S] token ids.
      input_mask: int32 [B, S], 1 for real tokens and 0 for padding (default all 1).
      token_type_ids: int32 [B, S] segment ids (default all 0).
      use_one_hot_embeddings: word lookup as a one-hot matmul (TPU).
      scope: variable scope name; "bert" by default.
      pooled_output_only: the last layer computes the first position only, which is all
        the pooler reads: the same pooled output for about 1/num_hidden_layers less
        work. The sequence output and the last of all_encoder_layers are then the first
        position only, [B, 1, H].
      compute_dtype: tf.float32, or tf.float16 / tf.bfloat16 for mixed precision.
    """
    config = copy.deepcopy(config)
    if config.hidden_size % config.num_attention_heads:
      raise ValueError("hidden_size %d is not a multiple of num_attention_heads %d" %
                       (config.hidden_size, config.num_attention_heads))
    batch_size, seq_length = get_shape_list(input_ids)
    if input_mask is None:
      input_mask = tf.ones_like(input_ids)
    if token_type_ids is None:
      token_type_ids = tf.zeros_like(input_ids)

    with tf1.variable_scope(scope, default_name="bert"):
      with tf1.variable_scope("embeddings"):
        word_embeddings, self._embedding_table = embedding_lookup(
            input_ids, config.vocab_size, config.hidden_size, config.initializer_range,
            use_one_hot_embeddings)
        self._embedding_output = embedding_postprocessor(
            word_embeddings, token_type_ids, config,
            config.hidden_dropout_prob if is_training else 0.0)

      with tf1.variable_scope("encoder"):
        attention_bias = attention_bias_from_mask(input_mask, tf.float32)
        hidden_2d = tf.reshape(self._embedding_output, [-1, config.hidden_size])
        self._all_encoder_layers = []
        for layer_index in range(config.num_hidden_layers):
          last = layer_index == config.num_hidden_layers - 1
          with tf1.variable_scope("layer_%d" % layer_index):
            hidden_2d = transformer_layer(hidden_2d, attention_bias, batch_size, seq_length,
                                          config, is_training,
                                          first_token_only=pooled_output_only and last,
                                          compute_dtype=compute_dtype)
            self._all_encoder_layers.append(
                tf.reshape(hidden_2d, [batch_size, -1, config.hidden_size]))
      self._sequence_output = (self._all_encoder_layers[-1] if self._all_encoder_layers
                               else self._embedding_output)

      with tf1.variable_scope("pooler"):
        first_token = self._sequence_output[:, 0, :]
        self._pooled_output = dense(first_token, config.hidden_size, config.initializer_range,
                                    activation=tf.tanh, compute_dtype=compute_dtype)

  def get_pooled_output(self):
    """float32 [B, H]: tanh(dense(first token's final hidden state))."""
    return tf.cast(self._pooled_output, tf.float32)

  def get_sequence_output(self):
    """float32 [B, S, H]: the final encoder layer."""
    return tf.cast(self._sequence_output, tf.float32)

  def get_all_encoder_layers(self):
    """list of num_hidden_layers float32 [B, S, H]."""
    return [tf.cast(layer, tf.float32) for layer in self._all_encoder_layers]

  def get_embedding_output(self):
    """float32 [B, S, H]: embeddings after LayerNorm (and dropout when training)."""
    return tf.cast(self._embedding_output, tf.float32)

  def get_embedding_table(self):
    """float [vocab_size, H]: the word embedding variable."""
    return self._embedding_table


# --------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------


class CheckpointShapeError(ValueError):
  """A checkpoint variable has the same name as a model variable but another shape."""


def get_assignment_map_from_checkpoint(tvars, init_checkpoint, skip=()):
  """Matches graph variables to checkpoint variables of the same name.

  Args:
    tvars: the graph's variables.
    init_checkpoint: a checkpoint prefix (e.g. `.../bert_model.ckpt`).
    skip: names of variables that start fresh even if the checkpoint holds them (a head
      of another shape).
  Returns:
    (assignment_map: OrderedDict checkpoint name -> graph name,
     initialized_variable_names: dict with both `name` and `name:0` for each match).
  Raises:
    CheckpointShapeError: names match but shapes do not; the message lists every one.
  """
  graph_vars = collections.OrderedDict()
  for var in tvars:
    name = re.sub(r":\d+$", "", var.name)
    graph_vars[name] = var

  assignment_map = collections.OrderedDict()
  initialized_variable_names = {}
  mismatches = []
  for name, shape in tf.train.list_variables(init_checkpoint):
    if name not in graph_vars or name in skip:
      continue
    graph_shape = graph_vars[name].shape.as_list()
    if list(shape) != graph_shape:
      mismatches.append("%s: checkpoint %s, model %s" % (name, list(shape), graph_shape))
      continue
    assignment_map[name] = name
    initialized_variable_names[name] = 1
    initialized_variable_names[name + ":0"] = 1
  if mismatches:
    raise CheckpointShapeError(
        "%s does not fit the model (does bert_config.json belong to this checkpoint?): %s" %
        (init_checkpoint, "; ".join(mismatches)))
  return assignment_map, initialized_variable_names


def variable_shapes(config):
  """{name: shape} of the variables BertModel creates for `config`.

  Worked out from the config, without building a graph (which costs a run about half a
  second); tests/test_modeling.py checks it against the variables of a built model.
  """
  hidden, inner = config.hidden_size, config.intermediate_size
  shapes = {
      "bert/embeddings/word_embeddings": [config.vocab_size, hidden],
      "bert/embeddings/token_type_embeddings": [config.type_vocab_size, hidden],
      "bert/embeddings/position_embeddings": [config.max_position_embeddings, hidden],
      "bert/embeddings/LayerNorm/beta": [hidden],
      "bert/embeddings/LayerNorm/gamma": [hidden],
      "bert/pooler/dense/kernel": [hidden, hidden],
      "bert/pooler/dense/bias": [hidden],
  }
  dense = {"attention/self/query": (hidden, hidden), "attention/self/key": (hidden, hidden),
           "attention/self/value": (hidden, hidden), "attention/output/dense": (hidden, hidden),
           "intermediate/dense": (hidden, inner), "output/dense": (inner, hidden)}
  for layer in range(config.num_hidden_layers):
    prefix = "bert/encoder/layer_%d/" % layer
    for name, (units_in, units_out) in dense.items():
      shapes[prefix + name + "/kernel"] = [units_in, units_out]
      shapes[prefix + name + "/bias"] = [units_out]
    for name in ("attention/output/LayerNorm", "output/LayerNorm"):
      shapes[prefix + name + "/beta"] = [hidden]
      shapes[prefix + name + "/gamma"] = [hidden]
  return shapes


def checkpoint_variables(checkpoint):
  """Returns {name: numpy array} for every variable in a checkpoint (for tools and tests)."""
  reader = tf.train.load_checkpoint(checkpoint)
  return {name: np.asarray(reader.get_tensor(name))
          for name in reader.get_variable_to_shape_map()}
