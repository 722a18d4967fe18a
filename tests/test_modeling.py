"""BertModel: checkpoint names and shapes, config round trip, activations, masking."""

import json
import math

import numpy as np
import pytest
import tensorflow as tf

from helpers import tiny_config_dict
import modeling

tf1 = tf.compat.v1


def spec_variable_shapes(vocab, hidden, intermediate, layers, positions, types):
  """The variable names and shapes of Google's checkpoints, written out independently of
  modeling.py (docs/differences.md: the names are the interface)."""
  shapes = {
      "bert/embeddings/word_embeddings": [vocab, hidden],
      "bert/embeddings/token_type_embeddings": [types, hidden],
      "bert/embeddings/position_embeddings": [positions, hidden],
      "bert/embeddings/LayerNorm/beta": [hidden],
      "bert/embeddings/LayerNorm/gamma": [hidden],
      "bert/pooler/dense/kernel": [hidden, hidden],
      "bert/pooler/dense/bias": [hidden],
  }
  for n in range(layers):
    prefix = "bert/encoder/layer_%d/" % n
    for part in ("query", "key", "value"):
      shapes[prefix + "attention/self/%s/kernel" % part] = [hidden, hidden]
      shapes[prefix + "attention/self/%s/bias" % part] = [hidden]
    shapes[prefix + "attention/output/dense/kernel"] = [hidden, hidden]
    shapes[prefix + "attention/output/dense/bias"] = [hidden]
    shapes[prefix + "attention/output/LayerNorm/beta"] = [hidden]
    shapes[prefix + "attention/output/LayerNorm/gamma"] = [hidden]
    shapes[prefix + "intermediate/dense/kernel"] = [hidden, intermediate]
    shapes[prefix + "intermediate/dense/bias"] = [intermediate]
    shapes[prefix + "output/dense/kernel"] = [intermediate, hidden]
    shapes[prefix + "output/dense/bias"] = [hidden]
    shapes[prefix + "output/LayerNorm/beta"] = [hidden]
    shapes[prefix + "output/LayerNorm/gamma"] = [hidden]
  return shapes


def build(config, ids, mask=None, segments=None, is_training=False, **kwargs):
  return modeling.BertModel(config, is_training=is_training, input_ids=tf.constant(ids),
                            input_mask=None if mask is None else tf.constant(mask),
                            token_type_ids=None if segments is None else tf.constant(segments),
                            **kwargs)


def test_saved_checkpoint_has_exactly_the_spec_names_and_shapes(tiny_config, tmp_path):
  with tf.Graph().as_default():
    build(tiny_config, np.zeros([2, 5], np.int32))
    saver = tf1.train.Saver()
    with tf1.Session() as session:
      session.run(tf1.global_variables_initializer())
      prefix = saver.save(session, str(tmp_path / "model.ckpt"))
  saved = dict(tf.train.list_variables(prefix))
  expected = spec_variable_shapes(vocab=tiny_config.vocab_size, hidden=32, intermediate=37,
                                  layers=2, positions=64, types=2)
  assert saved == expected


def test_variable_shapes_are_those_of_a_built_model(tiny_config):
  with tf.Graph().as_default():
    build(tiny_config, np.zeros([1, 4], np.int32))
    built = {var.op.name: var.shape.as_list() for var in tf1.global_variables()}
  assert modeling.variable_shapes(tiny_config) == built


def test_config_round_trips_and_keeps_unknown_keys(tmp_path):
  source = dict(tiny_config_dict(), directionality="bidi", pooler_fc_size=32)
  path = tmp_path / "bert_config.json"
  path.write_text(json.dumps(source))
  config = modeling.BertConfig.from_json_file(str(path))
  assert config.hidden_size == 32 and config.extra == {"directionality": "bidi",
                                                       "pooler_fc_size": 32}
  assert json.loads(config.to_json_string()) == source
  assert config.to_dict() == source


def test_config_file_that_is_not_json_names_the_file(tmp_path):
  path = tmp_path / "bert_config.json"
  path.write_text("{not json")
  with pytest.raises(ValueError, match="bert_config.json: not a BERT config"):
    modeling.BertConfig.from_json_file(str(path))


def test_output_shapes_and_accessors(tiny_config):
  with tf.Graph().as_default():
    model = build(tiny_config, np.ones([3, 7], np.int32))
    assert model.get_sequence_output().shape.as_list() == [3, 7, 32]
    assert model.get_pooled_output().shape.as_list() == [3, 32]
    assert len(model.get_all_encoder_layers()) == 2
    assert model.get_embedding_output().shape.as_list() == [3, 7, 32]
    assert model.get_embedding_table().shape.as_list() == [tiny_config.vocab_size, 32]


@pytest.mark.parametrize("name,reference", [
    ("gelu", lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))),
    ("gelu_exact", lambda x: 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))),
    ("relu", lambda x: np.maximum(x, 0)),
    ("tanh", np.tanh),
])
def test_activations_match_their_formulas(name, reference):
  x = np.linspace(-5, 5, 41).astype(np.float32)
  with tf.Graph().as_default(), tf1.Session() as session:
    got = session.run(modeling.get_activation(name)(tf.constant(x)))
  np.testing.assert_allclose(got, reference(x.astype(np.float64)), atol=1e-6)


def test_the_two_gelus_differ_where_the_port_says_they_do():
  with tf.Graph().as_default(), tf1.Session() as session:
    value = tf.constant([-1.5, 1.5])
    tanh_form, erf_form = session.run([modeling.gelu(value), modeling.gelu_exact(value)])
  assert 1e-4 < np.max(np.abs(tanh_form - erf_form)) < 1e-2


def test_linear_activation_and_unknown_name():
  assert modeling.get_activation("linear") is None
  with pytest.raises(ValueError, match="unsupported hidden_act 'swish'"):
    modeling.get_activation("swish")


def run_model(config, ids, mask, segments, seed=3, is_training=False):
  with tf.Graph().as_default():
    tf1.set_random_seed(seed)
    model = build(config, ids, mask, segments, is_training=is_training)
    with tf1.Session() as session:
      session.run(tf1.global_variables_initializer())
      return session.run([model.get_sequence_output(), model.get_pooled_output()])


def test_padding_does_not_change_real_positions(tiny_config):
  """A pair padded to 12 tokens gives the outputs of the same pair cut to its 6 tokens."""
  ids = np.array([[2, 40, 41, 3, 42, 3, 0, 0, 0, 0, 0, 0]], np.int32)
  mask = (np.arange(12) < 6).astype(np.int32)[None]
  segments = np.array([[0, 0, 0, 0, 1, 1] + [0] * 6], np.int32)
  padded_seq, padded_pooled = run_model(tiny_config, ids, mask, segments)
  cut_seq, cut_pooled = run_model(tiny_config, ids[:, :6], mask[:, :6], segments[:, :6])
  np.testing.assert_allclose(padded_seq[:, :6], cut_seq, atol=1e-5)
  np.testing.assert_allclose(padded_pooled, cut_pooled, atol=1e-5)


def test_dropout_only_when_training(tiny_config):
  ids = np.array([[2, 40, 41, 3, 42, 3]], np.int32)
  mask = np.ones_like(ids)
  with tf.Graph().as_default():
    tf1.set_random_seed(1)
    eval_model = build(tiny_config, ids, mask, scope="bert")
    train_model = build(tiny_config, ids, mask, is_training=True, scope="bert_train")
    with tf1.Session() as session:
      session.run(tf1.global_variables_initializer())
      eval_runs = [session.run(eval_model.get_pooled_output()) for _ in range(2)]
      train_runs = [session.run(train_model.get_pooled_output()) for _ in range(2)]
  np.testing.assert_array_equal(eval_runs[0], eval_runs[1])
  assert np.max(np.abs(train_runs[0] - train_runs[1])) > 1e-4


def test_one_hot_embeddings_give_the_same_outputs(tiny_config):
  ids = np.array([[2, 40, 41, 3, 42, 3], [2, 7, 8, 3, 9, 3]], np.int32)
  outputs = []
  for one_hot in (False, True):
    with tf.Graph().as_default():
      tf1.set_random_seed(5)
      model = build(tiny_config, ids, use_one_hot_embeddings=one_hot)
      with tf1.Session() as session:
        session.run(tf1.global_variables_initializer())
        outputs.append(session.run(model.get_pooled_output()))
  np.testing.assert_allclose(outputs[0], outputs[1], atol=1e-6)


def test_the_embedding_table_is_read_whole_not_gathered_from_the_variable(tiny_config):
  """A ResourceGather would put the table in copy-on-read mode: every read of it (the
  optimizer's each step) would copy all of it. The gradient stays sparse."""
  with tf.Graph().as_default():
    ids = np.array([[2, 40, 3, 3]], np.int32)
    model = build(tiny_config, ids)
    table = model.get_embedding_table()
    op_types = {op.type for op in tf1.get_default_graph().get_operations()}
    assert "ResourceGather" not in op_types
    (gradient,) = tf1.gradients(tf.reduce_sum(model.get_sequence_output()), [table])
    assert isinstance(gradient, tf.IndexedSlices)


def test_dynamic_sequence_length(tiny_config):
  """The graph accepts batches of any length, as trimmed batches need."""
  with tf.Graph().as_default():
    ids = tf1.placeholder(tf.int32, [None, None])
    model = modeling.BertModel(tiny_config, is_training=False, input_ids=ids)
    with tf1.Session() as session:
      session.run(tf1.global_variables_initializer())
      for length in (3, 9):
        out = session.run(model.get_sequence_output(),
                          {ids: np.full([2, length], 7, np.int32)})
        assert out.shape == (2, length, 32)


def test_assignment_map_reports_shape_mismatch(tiny_config, tmp_path):
  with tf.Graph().as_default():
    build(tiny_config, np.zeros([1, 4], np.int32))
    with tf1.Session() as session:
      session.run(tf1.global_variables_initializer())
      prefix = tf1.train.Saver().save(session, str(tmp_path / "small.ckpt"))
  bigger = modeling.BertConfig.from_dict(dict(tiny_config_dict(), hidden_size=48))
  with tf.Graph().as_default():
    build(bigger, np.zeros([1, 4], np.int32))
    with pytest.raises(modeling.CheckpointShapeError,
                       match=r"small.ckpt does not fit the model.*"
                       r"bert/embeddings/word_embeddings: "
                       r"checkpoint \[\d+, 32\], model \[\d+, 48\]"):
      modeling.get_assignment_map_from_checkpoint(tf1.global_variables(), prefix)
  with tf.Graph().as_default():
    build(tiny_config, np.zeros([1, 4], np.int32))
    with tf1.variable_scope("extra"):
      tf1.get_variable("not_in_checkpoint", [3])
    assignment_map, initialized = modeling.get_assignment_map_from_checkpoint(
        tf1.global_variables(), prefix)
  assert len(assignment_map) == len(spec_variable_shapes(tiny_config.vocab_size, 32, 37, 2, 64, 2))
  assert "bert/pooler/dense/kernel:0" in initialized
  assert "extra/not_in_checkpoint" not in assignment_map


def test_pooled_output_only_gives_the_same_pooled_output(tiny_config):
  ids = np.array([[2, 40, 41, 3, 42, 3, 0, 0], [2, 7, 8, 9, 3, 10, 11, 3]], np.int32)
  mask = (ids > 0).astype(np.int32)
  pooled, names = [], []
  for only in (False, True):
    with tf.Graph().as_default():
      tf1.set_random_seed(11)
      model = build(tiny_config, ids, mask, pooled_output_only=only)
      names.append(sorted(v.op.name for v in tf1.global_variables()))
      with tf1.Session() as session:
        session.run(tf1.global_variables_initializer())
        pooled.append(session.run(model.get_pooled_output()))
        if only:
          assert model.get_sequence_output().shape.as_list() == [2, 1, 32]
  assert names[0] == names[1]
  np.testing.assert_allclose(pooled[0], pooled[1], atol=1e-6)
