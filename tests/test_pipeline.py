"""Pipeline pieces in-process: TPU-style fixed batches on CPU, and batch trimming."""

import os

import numpy as np
import pytest

from common.errors import UserError
from finetune import options as options_lib
from finetune.data import records
from finetune.data.input_fn import file_based_input_fn_builder
from finetune.engines import resolve_engine
from finetune.tasks import RegressionTask
from helpers import ENGINES
from helpers import predict_dev
from helpers import ZH_DATA
from processors import get_processor
import tokenization_fast


@pytest.mark.skipif("estimator" not in ENGINES,
                    reason="TPUs run through TPUEstimator, TensorFlow <= 2.15 only")
def test_tpu_layout_pads_with_fake_examples_and_counts_each_once(zh_model, tmp_path):
  tpu_outputs, tpu_records, examples = predict_dev(zh_model, str(tmp_path / "tpu"), True, 5,
                                                   count=13)
  cpu_outputs, cpu_records, _ = predict_dev(zh_model, str(tmp_path / "cpu"), False, 5,
                                            count=13)
  assert (tpu_records, cpu_records) == (15, 13)  # two fake examples fill the last batch
  assert len(tpu_outputs["score"]) == len(cpu_outputs["score"]) == len(examples) == 13
  np.testing.assert_allclose(tpu_outputs["score"], cpu_outputs["score"], atol=1e-5)
  np.testing.assert_allclose(tpu_outputs["label"], [e.label for e in examples], atol=1e-6)


def test_batches_are_trimmed_to_their_longest_pair(zh_model, tmp_path):
  tokenizer = tokenization_fast.FastFullTokenizer(os.path.join(zh_model, "vocab.txt"))
  task = RegressionTask()
  examples = get_processor("sim").get_dev_examples(ZH_DATA)
  record_file = str(tmp_path / "dev.tf_record")
  settings = records.RecordSettings(tokenizer=tokenizer,
                                    vocab_file=os.path.join(zh_model, "vocab.txt"),
                                    do_lower_case=True, max_seq_length=64,
                                    label_feature=task.label_feature)
  records.write_record_file(examples, [e.label for e in examples], record_file, settings)
  lengths = [len(tokenizer.tokenize(e.text_a)) + len(tokenizer.tokenize(e.text_b)) + 3
             for e in examples]
  for layout in ("trimmed", "fixed"):
    input_fn = file_based_input_fn_builder(record_file, seq_length=64,
                                           label_feature=task.label_feature,
                                           is_training=False, drop_remainder=False,
                                           layout=layout)
    batches = list(input_fn({"batch_size": 8}).as_numpy_iterator())
    widths = [batch["input_ids"].shape[1] for batch in batches]
    if layout == "trimmed":
      assert widths == [max(lengths[i:i + 8]) for i in range(0, len(lengths), 8)]
      assert all(batch["input_mask"][:, -1].any() for batch in batches)
    else:
      assert set(widths) == {64}


def run_options(**values):
  """Options that pass every check but the one under test."""
  values = dict(dict(data_dir=ZH_DATA, task_name="sim", output_dir="/tmp/unused",
                     bert_config_file=__file__, vocab_file=__file__, do_train=True),
                **values)
  return options_lib.make_run_options(**values)


def test_batch_layout_defaults_and_checks():
  assert run_options().runtime.layout == "bucketed"
  assert run_options(use_tpu=True).runtime.layout == "fixed"
  assert run_options(batch_layout="trimmed").runtime.layout == "trimmed"
  with pytest.raises(UserError, match=r"--batch_layout=trimmed with --use_tpu: a TPU"):
    options_lib.validate(run_options(batch_layout="trimmed", use_tpu=True))
  if "estimator" in ENGINES:
    options_lib.validate(run_options(batch_layout="fixed", use_tpu=True))
  else:
    with pytest.raises(UserError, match=r"--use_tpu needs the estimator engine: TPUs run "
                                        r"through TPUEstimator, on TensorFlow 2.15"):
      options_lib.validate(run_options(batch_layout="fixed", use_tpu=True))
  with pytest.raises(UserError, match=r"--use_tpu needs the estimator engine"):
    options_lib.validate(run_options(use_tpu=True, engine="session"))


@pytest.mark.parametrize("values,message", [
    (dict(distribution="ring"), "--distribution=ring: expected one of none, mirrored, "
     "multi_worker"),
    (dict(devices="/gpu:0"), "--devices=/gpu:0 is for --distribution=mirrored"),
    (dict(distribution="mirrored", use_tpu=True), "--distribution=mirrored with --use_tpu: "
     "a TPU runs through TPUEstimator"),
    (dict(mixed_precision="float16", use_tpu=True), "--mixed_precision=float16 with "
     "--use_tpu: TPUs compute in bfloat16"),
    (dict(mixed_precision="half"), "--mixed_precision=half: expected one of none, float16, "
     "bfloat16"),
    (dict(do_train=False), "nothing to do: set at least one of --do_train"),
    (dict(train_batch_size=0), "--train_batch_size=0: expected an integer >= 1"),
    (dict(warmup_proportion=1.5), "--warmup_proportion=1.5: expected a number from 0 to 1"),
    (dict(max_seq_length=2), "--max_seq_length=2: expected an integer >= 3"),
])
def test_settings_and_combinations_that_cannot_run_are_user_errors(values, message):
  with pytest.raises(UserError) as error:
    options_lib.validate(run_options(**values))
  assert str(error.value).startswith(message)


def test_make_run_options_refuses_unknown_names():
  with pytest.raises(TypeError, match="not settings of a run: trian_batch_size"):
    options_lib.make_run_options(trian_batch_size=8)


def test_auto_takes_the_estimator_engine_where_tf_estimator_exists():
  assert resolve_engine("session") == "session"
  if "estimator" in ENGINES:  # TensorFlow 2.15
    assert resolve_engine("auto") == "estimator" == resolve_engine("estimator")
  else:  # TensorFlow 2.16 and later
    assert resolve_engine("auto") == "session"
    with pytest.raises(UserError, match=r"--engine=estimator: TensorFlow 2\.\d+\.\d+ has no "
                                        r"tf\.estimator .*use --engine=session"):
      resolve_engine("estimator")
