"""Feature layout, whole-set metrics against scipy, and the tasks' label and decision rules."""

import numpy as np
import pytest
from scipy import stats

from common.errors import InputFileError
from common.errors import UserError
from finetune.data import features
from finetune.evaluation import metrics
from finetune.tasks import ClassificationTask
from finetune.tasks import RegressionTask
from processors import InputExample
import tokenization


def test_pair_layout_and_padding(tiny_vocab_file):
  tokenizer = tokenization.FullTokenizer(tiny_vocab_file)
  example = InputExample("g", "The man", "a dog", label=0.5)
  feature = features.convert_single_example(example, example.label, 10, tokenizer)
  tokens = tokenizer.convert_ids_to_tokens(feature.input_ids[:feature.length])
  assert tokens == ["[CLS]", "the", "man", "[SEP]", "a", "dog", "[SEP]"]
  assert feature.input_mask == [1] * 7 + [0] * 3
  assert feature.segment_ids == [0, 0, 0, 0, 1, 1, 1, 0, 0, 0]
  assert feature.input_ids[7:] == [0, 0, 0] and feature.label == 0.5
  assert feature.is_real_example


def test_truncation_pops_from_the_longer_side(tiny_vocab_file):
  tokenizer = tokenization.FullTokenizer(tiny_vocab_file)
  example = InputExample("g", "a b c d e f", "the man")
  feature = features.convert_single_example(example, 0, 9, tokenizer)
  tokens = tokenizer.convert_ids_to_tokens(feature.input_ids)
  assert tokens == ["[CLS]", "a", "b", "c", "d", "[SEP]", "the", "man", "[SEP]"]
  single = features.convert_single_example(InputExample("g", "a b c d e f"), 0, 5, tokenizer)
  assert tokenizer.convert_ids_to_tokens(single.input_ids) == ["[CLS]", "a", "b", "c", "[SEP]"]
  assert single.segment_ids == [0] * 5


def test_padding_example_is_not_real(tiny_vocab_file):
  tokenizer = tokenization.FullTokenizer(tiny_vocab_file)
  fake = features.convert_single_example(features.PaddingInputExample(), 0, 6, tokenizer)
  assert fake.input_ids == [0] * 6 and fake.input_mask == [0] * 6 and not fake.is_real_example


def test_correlations_match_scipy():
  rng = np.random.RandomState(0)
  x = rng.randn(300)
  y = 0.6 * x + rng.randn(300)
  y_tied = np.round(y)  # many ties
  assert metrics.pearson(x, y) == pytest.approx(stats.pearsonr(x, y)[0], abs=1e-12)
  assert metrics.spearman(x, y_tied) == pytest.approx(stats.spearmanr(x, y_tied)[0], abs=1e-12)
  assert np.isnan(metrics.pearson(x, np.ones(300)))
  result = metrics.regression_metrics([1.0, 2.0, 4.0], [1.0, 3.0, 3.0])
  assert result["mae"] == pytest.approx(2 / 3) and result["rmse"] == pytest.approx(np.sqrt(2 / 3))


def test_auc_matches_mann_whitney_and_f1_threshold_is_best():
  rng = np.random.RandomState(1)
  labels = rng.rand(200) < 0.4
  scores = np.round(labels * 0.3 + rng.rand(200), 2)  # with ties
  u_statistic = stats.mannwhitneyu(scores[labels], scores[~labels]).statistic
  assert metrics.roc_auc(labels, scores) == pytest.approx(
      u_statistic / (labels.sum() * (~labels).sum()), abs=1e-12)
  threshold, best = metrics.best_f1_threshold(labels, scores)
  brute = max(metrics.precision_recall_f1(labels, scores >= t)[2] for t in np.unique(scores))
  assert best == pytest.approx(brute)
  assert metrics.precision_recall_f1(labels, scores >= threshold)[2] == pytest.approx(brute)
  assert metrics.precision_recall_f1([1, 0, 1, 1], [1, 1, 0, 1]) == pytest.approx(
      (2 / 3, 2 / 3, 2 / 3))


def test_regression_label_range_round_trip():
  task = RegressionTask(use_sigmoid_act=True, label_min=0, label_max=5)
  assert task.encode_label(InputExample("g", "a", "b", 3.5), True) == pytest.approx(0.7)
  assert task.to_label_units([0.7])[0] == pytest.approx(3.5)
  assert RegressionTask(use_sigmoid_act=False).encode_label(InputExample("g", "a", "b", "-7.5"),
                                                            True) == -7.5
  with pytest.raises(InputFileError, match="expected a score, found none"):
    task.encode_label(InputExample("g", "a", "b", None, path="t.tsv", line=3), True)
  with pytest.raises(UserError, match="--label_min and --label_max go together"):
    RegressionTask(label_min=0)


def test_classification_threshold_rules():
  task = ClassificationTask(["0", "1"], threshold="0.8")
  probabilities = np.array([[0.3, 0.7], [0.1, 0.9], [0.5, 0.5]])
  assert task.decide(probabilities).tolist() == [0, 1, 0]
  flipped = ClassificationTask(["pos", "neg"], threshold="0.5", positive_label="pos")
  assert flipped.decide(probabilities).tolist() == [1, 1, 0]
  three = ClassificationTask(["a", "b", "c"])
  assert three.decide(np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])).tolist() == [2, 0]
  auto = ClassificationTask(["0", "1"], threshold="auto")
  assert auto.needs_dev_evaluation
  evaluation = auto.evaluate({"probabilities": np.array([[0.9, 0.1], [0.6, 0.4], [0.8, 0.2],
                                                         [0.3, 0.7]]),
                              "label": np.array([0, 1, 0, 1])})
  assert evaluation.metrics["eval_f1"] == 1.0 and 0.2 < evaluation.threshold <= 0.4
  assert evaluation.metrics["eval_threshold"] == evaluation.threshold
  assert auto.needs_dev_evaluation and auto.threshold is None  # evaluating changed nothing
  decided = auto.apply(evaluation)
  assert not decided.needs_dev_evaluation and decided.threshold == evaluation.threshold
  for bad in ("1.5", "high"):
    with pytest.raises(UserError, match="--threshold=%s: expected a number in 0..1 or 'auto'"
                       % bad):
      ClassificationTask(["0", "1"], threshold=bad)
  with pytest.raises(UserError, match="--positive_label=2 is not one of the labels 0, 1"):
    ClassificationTask(["0", "1"], positive_label="2")
