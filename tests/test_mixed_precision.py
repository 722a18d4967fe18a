"""--mixed_precision: bfloat16 and float16 train and predict, and neither may change what a
checkpoint holds. A run falls back to float32 where the hardware would emulate the
precision (finetune/model/precision.py); these tests compute in it anyway, whatever the CPU, by
declaring every precision native, except the one that checks the fallback."""

import os

import numpy as np
import pytest
import tensorflow as tf

from finetune import pipeline
from finetune.model import precision
from finetune.options import make_run_options
from finetune.tasks import RegressionTask
from helpers import ENGINES
from helpers import prediction_scores
from helpers import ZH_DATA
import modeling
from processors import get_processor

# Each test runs the scripts or trains a model: seconds, not milliseconds.
pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def every_precision_native(monkeypatch):
  monkeypatch.setattr(precision, "why_slow", lambda *args, **kwargs: None)


def run(zh_model, output_dir, mixed_precision, **phases):
  options = make_run_options(
      data_dir=ZH_DATA, task_name="sim", output_dir=output_dir,
      bert_config_file=os.path.join(zh_model, "bert_config.json"),
      vocab_file=os.path.join(zh_model, "vocab.txt"),
      init_checkpoint=os.path.join(zh_model, "bert_model.ckpt"),  # a Google-format one
      max_seq_length=32, train_batch_size=16, num_train_epochs=0.64, learning_rate=1e-3,
      seed=2, conversion_workers=1, mixed_precision=mixed_precision, **phases)
  return pipeline.run(RegressionTask(), get_processor("sim"), options)


def expected_checkpoint_dtypes(zh_model):
  """Every variable of a float32 run: the model, the head, Adam's slots, the step."""
  config = modeling.BertConfig.from_json_file(os.path.join(zh_model, "bert_config.json"))
  names = list(modeling.variable_shapes(config)) + ["output_weights", "output_bias"]
  dtypes = {name + suffix: tf.float32 for name in names for suffix in ("", "/adam_m", "/adam_v")}
  dtypes["global_step"] = tf.int64
  return dtypes


@pytest.mark.parametrize("mixed_precision,engine",
                         [("bfloat16", engine) for engine in ENGINES] + [("float16", ENGINES[0])])
def test_mixed_precision_trains_and_checkpoints_stay_float32(zh_model, tmp_path,
                                                              mixed_precision, engine):
  output_dir = str(tmp_path / "out")
  results = run(zh_model, output_dir, mixed_precision, do_train=True, do_eval=True,
                do_predict=True, engine=engine)
  steps = int(100 / 16 * 0.64)
  # float16 skips steps whose gradients overflow; each applied one counts, to the end.
  assert results["global_step"] == steps
  assert np.isfinite(results["eval_loss"]) and results["eval_num_examples"] == 28

  checkpoint = tf.train.latest_checkpoint(output_dir)
  dtypes = tf.train.load_checkpoint(checkpoint).get_variable_to_dtype_map()
  assert dtypes == expected_checkpoint_dtypes(zh_model)  # no float16/bfloat16 copies,
  # and no loss scale: a float32 run can resume it, and the reverse
  trained = modeling.checkpoint_variables(checkpoint)
  start = modeling.checkpoint_variables(os.path.join(zh_model, "bert_model.ckpt"))
  assert all(np.isfinite(value).all() for value in trained.values())
  assert np.abs(trained["bert/pooler/dense/kernel"] -
                start["bert/pooler/dense/kernel"]).max() > 1e-4

  mixed_scores = prediction_scores(output_dir)
  # The same checkpoint, predicted in float32.
  run(zh_model, output_dir, "none", do_predict=True, engine=engine)
  float32_scores = prediction_scores(output_dir)
  assert len(mixed_scores) == len(float32_scores) == 12
  tolerance = {"bfloat16": 2e-2, "float16": 2e-3}[mixed_precision]  # 8 and 11 mantissa bits
  np.testing.assert_allclose(mixed_scores, float32_scores, atol=tolerance)
  assert np.abs(np.array(mixed_scores) - float32_scores).max() > 0  # it did compute in it


def test_a_precision_this_machine_would_emulate_falls_back_to_float32(zh_model, tmp_path,
                                                                      monkeypatch, caplog):
  output_dir = str(tmp_path / "out")
  run(zh_model, output_dir, "none", do_predict=True)
  float32_scores = prediction_scores(output_dir)
  monkeypatch.undo()  # the real why_slow, on a CPU without bfloat16 instructions
  monkeypatch.setattr(precision, "cpu", lambda: ("Test CPU", frozenset({"avx2", "fma"})))
  monkeypatch.setattr(precision, "gpus", lambda: [])
  with caplog.at_level("WARNING"):
    run(zh_model, output_dir, "bfloat16", do_predict=True)
  np.testing.assert_array_equal(prediction_scores(output_dir), float32_scores)
  assert any(record.getMessage().startswith(
      "--mixed_precision=bfloat16: this CPU (Test CPU) has no bfloat16 instructions")
             for record in caplog.records)
