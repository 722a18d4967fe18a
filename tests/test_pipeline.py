"""Pipeline pieces in-process: TPU-style fixed batches on CPU, and batch trimming."""

import os

import numpy as np
import pytest
import tensorflow as tf

import modeling
import tokenization
from finetune import pipeline
from finetune.errors import UserError
from finetune.estimator import make_estimator
from finetune.input_fn import file_based_input_fn_builder
from finetune.model_fn import model_fn_builder
from finetune.tasks import RegressionTask
from processors import get_processor
from test_run_scripts import ZH_DATA


def predict_dev(zh_model, output_dir, use_tpu_layout, batch_size, count=28, layout=None,
                max_seq_length=32):
  """Predicts `count` dev pairs with the chosen batch layout.

  TPU layout: fake padding examples, fixed shapes, one-hot lookups (TPUEstimator itself
  runs with use_tpu=False: there is no TPU here).
  Returns (outputs, number of records written, examples).
  """
  config = modeling.BertConfig.from_json_file(os.path.join(zh_model, "bert_config.json"))
  tokenizer = tokenization.FullTokenizer(os.path.join(zh_model, "vocab.txt"))
  task = RegressionTask()
  examples = get_processor("sim").get_dev_examples(ZH_DATA)[:count]
  split = pipeline.Split(examples, [task.encode_label(e, True) for e in examples])
  os.makedirs(output_dir)
  options = pipeline.RunOptions(data_dir=ZH_DATA, output_dir=output_dir, bert_config_file="",
                                vocab_file=os.path.join(zh_model, "vocab.txt"),
                                max_seq_length=max_seq_length, use_tpu=use_tpu_layout,
                                batch_layout=layout)
  model_fn = model_fn_builder(config, task, os.path.join(zh_model, "bert_model.ckpt"), 1e-5,
                              1, 0, use_tpu=False, use_one_hot_embeddings=use_tpu_layout)
  estimator = make_estimator(model_fn, output_dir, False, 8, batch_size, seed=7)
  outputs = pipeline.predict_split(estimator, split, tokenizer, task, options, batch_size,
                                   "predict.tf_record")
  records = sum(1 for _ in tf.compat.v1.io.tf_record_iterator(
      os.path.join(output_dir, "predict.tf_record")))
  return outputs, records, examples


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
  tokenizer = tokenization.FullTokenizer(os.path.join(zh_model, "vocab.txt"))
  task = RegressionTask()
  examples = get_processor("sim").get_dev_examples(ZH_DATA)
  record_file = str(tmp_path / "dev.tf_record")
  options = pipeline.RunOptions(data_dir=ZH_DATA, output_dir=str(tmp_path), bert_config_file="",
                                vocab_file=os.path.join(zh_model, "vocab.txt"),
                                max_seq_length=64)
  pipeline.write_examples(examples, [e.label for e in examples], tokenizer, options, task,
                          record_file)
  lengths = [len(tokenizer.tokenize(e.text_a)) + len(tokenizer.tokenize(e.text_b)) + 3
             for e in examples]
  for layout in ("trimmed", "fixed"):
    input_fn = file_based_input_fn_builder(record_file, 64, task.label_feature,
                                           is_training=False, drop_remainder=False,
                                           layout=layout)
    batches = list(input_fn({"batch_size": 8}).as_numpy_iterator())
    widths = [batch["input_ids"].shape[1] for batch in batches]
    if layout == "trimmed":
      assert widths == [max(lengths[i:i + 8]) for i in range(0, len(lengths), 8)]
      assert all(batch["input_mask"][:, -1].any() for batch in batches)
    else:
      assert set(widths) == {64}


def test_batch_layout_defaults_and_checks():
  def options(**kwargs):
    return pipeline.RunOptions(data_dir="", output_dir="", bert_config_file="", vocab_file="",
                               **kwargs)
  assert options().layout == "bucketed"
  assert options(use_tpu=True).layout == "fixed"
  assert options(batch_layout="trimmed").layout == "trimmed"
  pipeline.check_batch_layout(options(batch_layout="fixed", use_tpu=True))
  with pytest.raises(UserError, match=r"--batch_layout=trimmed with --use_tpu: a TPU"):
    pipeline.check_batch_layout(options(batch_layout="trimmed", use_tpu=True))
