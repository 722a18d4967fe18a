"""Tasks: what differs between regression and classification, behind one interface.

A task owns its output head (variables `output_weights`, `output_bias`, as in Google's
scripts), its loss, how labels become record values, its metrics, and how predictions
are written. The pipeline (pipeline.py) does everything else the same way for both.
Tasks are immutable: what evaluation decides (classification's threshold with
--threshold=auto) comes back as a result, and `task.apply(evaluation)` gives the task
that uses it.

Interface used by the pipeline:
  label_feature                      TFRecord feature holding the label
  head_variable_shapes(hidden_size)  {name: shape} of the head's variables
  encode_label(example, required)    InputExample -> number stored in the record
  build_head(pooled, labels, is_training)
                                     -> (per_example_loss [B], outputs {name: [B,...]});
                                     with head_reads_is_real, also is_real=[B] (0 for
                                     padding rows)
                                     with uses_teacher_scores (training only),
                                     also teacher_scores=[B] (record_format.py)
  evaluate(outputs, split=None)      numpy outputs of real dev examples (and the dev
                                     examples.Split) -> Evaluation
  train_group_size                   training records per group (1: each pair alone)
  training_rows(examples, labels, seed) -> (examples, labels) the train records hold
  apply(evaluation)                  the task using what the evaluation decided
  needs_dev_evaluation               True while predicting needs a value chosen on dev
  prediction_table(examples, outputs, original_format) -> (header or None, rows)
  serving_outputs(pooled)            the exported model's outputs, in the user's terms
  describe()                         a JSON-able dict; task_from_description() inverts it
  divergence_hint(train_labels)      what in the labels could make training diverge, or None
  metric_names()                     the names evaluate() reports (eval_loss included)
  default_best_metric                what picks the best checkpoint unless --best_metric
  fitted_to(train_labels)            the task with what it learns from the training labels
                                     (classification's balanced class weights)

Each script's task settings (--use_sigmoid_act, --threshold, --loss, ...) are declared
here, in RegressionOptions, ClassificationOptions and RankingOptions.
"""

import collections
import dataclasses
import math
from typing import Optional

from absl import logging
import numpy as np
import tensorflow as tf

from common import checks
from common import cli
from common import settings
from common.errors import UserError
from common.settings import setting
from finetune.data import groups as groups_lib
from finetune.data.record_format import CLASSIFICATION_LABEL
from finetune.data.record_format import REGRESSION_LABEL
from finetune.evaluation import metrics
from finetune.evaluation import ranking_metrics
from finetune.model import model_files
from finetune.model import ranking_losses
from modeling import create_initializer
from processors import ranking as ranking_formats

tf1 = tf.compat.v1

HEAD_DROPOUT = 0.1
# Scores (in the model's units) above this size make a freshly initialized linear head
# start with a squared error large enough to diverge at the usual learning rates.
LARGE_SCORE = 100.0


@dataclasses.dataclass(frozen=True)
class RegressionOptions:
  """run_reg.py's head settings."""
  use_sigmoid_act: bool = setting(
      True, "Sigmoid output, in 0..1 (false: a linear output for an unbounded target).",
      cli.MODEL)
  label_min: Optional[float] = setting(
      None, "With --label_max: scores in [label_min, label_max] are mapped into 0..1 and "
      "predictions back (STS-B: 0 and 5).", cli.MODEL, checks.Finite())
  label_max: Optional[float] = setting(
      None, "Upper end of the score range (see --label_min).", cli.MODEL, checks.Finite())


class ClassWeights(checks.Check):
  """"balanced", or one positive number per label ("1,3.5")."""

  expected = "'balanced' or one positive weight per label, separated by commas"
  bad_values = ("0,1", "heavy")

  def accepts(self, value):
    if value.strip().lower() == "balanced":
      return True
    try:
      weights = [float(part) for part in value.split(",")]
    except ValueError:
      return False
    return all(math.isfinite(weight) and weight > 0 for weight in weights)


@dataclasses.dataclass(frozen=True)
class ClassificationOptions:
  """run_classifier.py's head settings."""
  threshold: str = setting(
      "0.5", "Two labels: predict the positive label when its probability is >= this; "
      "'auto': the F1-best threshold on dev.", cli.MODEL, checks.NumberOrWord(0, 1, "auto"))
  positive_label: Optional[str] = setting(
      None, "Two labels: which one is positive (default \"1\" if it is a label, else the "
      "second label).", cli.MODEL,
      unchecked="checked against the processor's get_labels() when the task is made")
  class_weights: Optional[str] = setting(
      None, "Weights of the cross-entropy per class: 'balanced' (n / (classes * n_class) "
      "from the training labels) or one per label in get_labels() order, e.g. 1,3.",
      cli.MODEL, ClassWeights())


@dataclasses.dataclass(frozen=True)
class Evaluation:
  """What evaluating dev gives: the metrics, and a threshold it chose (or None).

  tables: {file name: (header, rows)} written beside eval_results.txt (a ranking's
  per-query figures).
  """
  metrics: dict
  threshold: Optional[float] = None
  tables: dict = dataclasses.field(default_factory=dict)


class PairsOneByOne:
  """What the pair tasks share by default: each training pair a record of its own, nothing
  fitted to the training labels."""

  train_group_size = 1
  # Whether build_head takes is_real= too: a list loss must leave padding rows out of its
  # groups. Off by default, so a user's task with the three-argument build_head works.
  head_reads_is_real = False

  def training_rows(self, examples, labels, seed=None):
    del seed  # the input pipeline shuffles the records
    return examples, labels

  def dev_candidates_text(self, split):
    """The text of eval_candidates.tsv beside eval.tf_record, or None (see RankingTask)."""
    del split
    return None

  def fitted_to(self, train_labels):
    """The task as it is: a head that learns nothing from the labels before training
    (ClassificationTask's balanced class weights do)."""
    del train_labels
    return self


def _output_shapes(num_outputs, hidden_size):
  """{name: shape} of the variables _output_layer makes."""
  return {"output_weights": [num_outputs, hidden_size], "output_bias": [num_outputs]}


def _output_layer(pooled_output, num_outputs, is_training):
  """Dropout (training only) then a dense layer with Google's head variable names.

  Args:
    pooled_output: float [B, H].
  Returns:
    logits float [B, num_outputs].
  """
  hidden_size = pooled_output.shape[-1]
  output_weights = tf1.get_variable("output_weights", [num_outputs, hidden_size],
                                    initializer=create_initializer(0.02))
  output_bias = tf1.get_variable("output_bias", [num_outputs],
                                 initializer=tf1.zeros_initializer())
  if is_training:
    pooled_output = tf.nn.dropout(pooled_output, rate=HEAD_DROPOUT)
  return tf.nn.bias_add(tf.matmul(pooled_output, output_weights, transpose_b=True), output_bias)


def _cell(text):
  """Text for one TSV cell: tabs and line breaks would break the table."""
  return " ".join(str(text).split()) if text is not None else ""


class RegressionTask(PairsOneByOne):
  """A scalar score: sigmoid (0..1) or linear output, mean squared error.

  With label_min/label_max, targets are mapped from [label_min, label_max] into [0, 1]
  for the model, and predictions are mapped back, so a 0..5 scale trains with the
  sigmoid head and is reported in its own units.
  """

  label_feature = REGRESSION_LABEL
  needs_dev_evaluation = False

  def __init__(self, use_sigmoid_act=True, label_min=None, label_max=None):
    settings.validate(RegressionOptions(use_sigmoid_act, label_min, label_max))
    if (label_min is None) != (label_max is None):
      raise UserError("--label_min and --label_max go together; give both or neither")
    if label_min is not None and not label_min < label_max:
      raise UserError("--label_min=%s must be below --label_max=%s" % (label_min, label_max))
    self.use_sigmoid_act = use_sigmoid_act
    self.label_min = label_min
    self.label_max = label_max

  default_best_metric = "eval_spearman"

  @classmethod
  def from_options(cls, options, label_range=None):
    """The task of a RegressionOptions.

    label_range: (min, max) of the processor's scores (its LABEL_RANGE), used when
      --label_min and --label_max are not given.
    """
    if options.label_min is None and options.label_max is None and label_range:
      return cls(options.use_sigmoid_act, *label_range)
    return cls(options.use_sigmoid_act, options.label_min, options.label_max)

  def metric_names(self):
    return ["eval_loss", "eval_mae", "eval_pearson", "eval_rmse", "eval_spearman"]

  def head_variable_shapes(self, hidden_size):
    return _output_shapes(1, hidden_size)

  def encode_label(self, example, required):
    """The example's score in the model's units (mapped into 0..1 when a range is set)."""
    if example.label is None:
      if required:
        raise example.error("expected a score, found none")
      return 0.0
    try:
      value = float(example.label)
    except (TypeError, ValueError):
      raise example.error("expected a real number score, found %r" % (example.label,)) from None
    if not math.isfinite(value):
      raise example.error("expected a finite score, found %r" % (example.label,))
    if self.label_min is not None:
      if not self.label_min <= value <= self.label_max:
        raise example.error("score %g is outside --label_min=%g..--label_max=%g" %
                            (value, self.label_min, self.label_max))
      return model_files.to_unit_range(value, self.label_min, self.label_max)
    if self.use_sigmoid_act and not 0.0 <= value <= 1.0:
      raise example.error(
          "score %g is outside 0..1, the range of the sigmoid output; map your scale with "
          "--label_min and --label_max (e.g. --label_min=0 --label_max=5), or use "
          "--use_sigmoid_act=false" % value)
    return value

  def divergence_hint(self, train_labels):
    """Scores too large for the head, if there are any (else None)."""
    largest = float(np.max(np.abs(train_labels))) if len(train_labels) else 0.0
    if largest <= LARGE_SCORE:
      return None
    return ("training scores too large for the linear head (up to %g): map them into 0..1 "
            "with --label_min and --label_max" % largest)

  def to_label_units(self, scores):
    """Model units -> the user's units (undoes the label range mapping).

    Works on tensors and on numbers alike (numbers become a float64 array): the
    exported model maps its scores with this same function.
    """
    if not tf.is_tensor(scores):
      scores = np.asarray(scores, np.float64)
    if self.label_min is None:
      return scores
    return scores * (self.label_max - self.label_min) + self.label_min

  def _score(self, pooled_output, is_training):
    """pooled_output [B, H] -> score [B] in the model's units."""
    logits = tf.squeeze(_output_layer(pooled_output, 1, is_training), axis=-1)
    return tf.sigmoid(logits) if self.use_sigmoid_act else logits

  def build_head(self, pooled_output, labels, is_training):
    """Score head. pooled_output [B, H], labels float [B] -> (squared error [B], {"score": [B]})."""
    score = self._score(pooled_output, is_training)
    per_example_loss = tf.square(score - tf.cast(labels, score.dtype))
    return per_example_loss, {"score": score}

  def serving_outputs(self, pooled_output):
    """{"score": float [B]} in the user's units (the label range mapped back)."""
    return {"score": self.to_label_units(self._score(pooled_output, is_training=False))}

  def describe(self):
    return {"task": "regression", "use_sigmoid_act": self.use_sigmoid_act,
            "label_min": self.label_min, "label_max": self.label_max}

  def evaluate(self, outputs, split=None):
    """Pearson, Spearman, MAE and RMSE in the user's units over all real dev examples."""
    del split  # the outputs carry the labels
    result = metrics.regression_metrics(self.to_label_units(outputs["score"]),
                                        self.to_label_units(outputs["label"]))
    return Evaluation({"eval_" + name: value for name, value in result.items()})

  def apply(self, evaluation):
    """Evaluation decides nothing for regression: this task."""
    del evaluation
    return self

  def prediction_table(self, examples, outputs, original_format):
    scores = self.to_label_units(outputs["score"])
    if original_format:
      return None, [["%.6f" % score] for score in scores]
    rows = [[example.guid, "%.6f" % score, _cell(example.text_a), _cell(example.text_b)]
            for example, score in zip(examples, scores)]
    return ["guid", "prediction", "text_a", "text_b"], rows


def decide(probabilities, positive_index, threshold, ops=np):
  """Class ids [N] from probabilities [N, K]: the decision rule of every path.

  Two labels (positive_index given): the positive one when its probability is
  >= threshold. More labels: the argmax. `ops` is numpy for evaluation and written
  predictions, tensorflow in the exported model.
  """
  if positive_index is None:
    return ops.argmax(probabilities, axis=-1)
  return ops.where(probabilities[:, positive_index] >= threshold, positive_index,
                   1 - positive_index)


class ClassificationTask(PairsOneByOne):
  """Softmax over the processor's labels, cross-entropy loss.

  With two labels the decision is P(positive) >= threshold; `threshold="auto"` takes
  the threshold that maximises F1 on dev (chosen by `evaluate`, applied by `apply`).
  With more labels the decision is the argmax.
  """

  label_feature = CLASSIFICATION_LABEL

  def __init__(self, labels, threshold="0.5", positive_label=None, class_weights=None):
    """class_weights: None, "balanced" (set by fitted_to), a list of floats, or their text."""
    text_weights = class_weights if isinstance(class_weights, str) else None
    settings.validate(ClassificationOptions(str(threshold), positive_label, text_weights))
    if not labels:
      raise UserError("this task has no class labels (a regression task?); use run_reg.py")
    self.labels = [str(label) for label in labels]
    self.balanced = str(class_weights).strip().lower() == "balanced"
    self.class_weights = None
    if class_weights is not None and not self.balanced:
      weights = ([float(part) for part in class_weights.split(",")]
                 if text_weights is not None else [float(w) for w in class_weights])
      if len(weights) != len(self.labels):
        raise UserError("--class_weights=%s: %d weights for %d labels (%s); expected one "
                        "per label, in get_labels() order" % (
                            class_weights, len(weights), len(self.labels),
                            ", ".join(self.labels)))
      self.class_weights = weights
    self.label_ids = {label: index for index, label in enumerate(self.labels)}
    self.auto_threshold = str(threshold).strip().lower() == "auto"
    self.threshold = None if self.auto_threshold else float(threshold)
    self.positive_index = None
    if len(self.labels) == 2:
      positive = positive_label if positive_label is not None else (
          "1" if "1" in self.label_ids else self.labels[1])
      if positive not in self.label_ids:
        raise UserError("--positive_label=%s is not one of the labels %s" %
                        (positive, ", ".join(self.labels)))
      self.positive_index = self.label_ids[positive]

  @classmethod
  def from_options(cls, labels, options):
    """The task of a ClassificationOptions over the processor's labels."""
    return cls(labels, options.threshold, options.positive_label, options.class_weights)

  @property
  def default_best_metric(self):
    return "eval_f1" if len(self.labels) == 2 else "eval_accuracy"

  def metric_names(self):
    names = ["eval_accuracy", "eval_loss"]
    if len(self.labels) == 2:
      names += ["eval_auc", "eval_f1", "eval_precision", "eval_recall", "eval_threshold"]
    return sorted(names)

  def fitted_to(self, train_labels):
    """With balanced class weights: the task weighting each class by n / (k * n_class).

    Args:
      train_labels: the training examples' class ids.
    """
    fitted = self
    if self.balanced and self.class_weights is None:
      counts = np.bincount(np.asarray(train_labels, np.int64), minlength=len(self.labels))
      missing = [label for label, count in zip(self.labels, counts) if not count]
      if missing:
        raise UserError("--class_weights=balanced: no training example of class %s; "
                        "expected every label of get_labels() in the train split" %
                        ", ".join(missing))
      fitted = self._copy()
      fitted.class_weights = [float(len(train_labels) / (len(self.labels) * count))
                              for count in counts]
    if fitted.class_weights is not None:
      logging.info("class weights: %s", ", ".join(
          "%s = %.4f" % item for item in zip(self.labels, fitted.class_weights)))
    return fitted

  def _copy(self):
    copy = ClassificationTask.__new__(ClassificationTask)
    copy.__dict__.update(self.__dict__)
    return copy

  @property
  def needs_dev_evaluation(self):
    return self.auto_threshold and self.threshold is None

  def head_variable_shapes(self, hidden_size):
    return _output_shapes(len(self.labels), hidden_size)

  def encode_label(self, example, required):
    """The example's class id."""
    if example.label is None:
      if required:
        raise example.error("expected a label (one of %s), found none" % ", ".join(self.labels))
      return 0
    label = str(example.label)
    if label not in self.label_ids:
      raise example.error("label %r is not one of get_labels(): %s" %
                          (label, ", ".join(self.labels)))
    return self.label_ids[label]

  def _log_probabilities(self, pooled_output, is_training):
    """pooled_output [B, H] -> log-probabilities [B, K]."""
    logits = _output_layer(pooled_output, len(self.labels), is_training)
    return tf.nn.log_softmax(logits, axis=-1)

  def build_head(self, pooled_output, labels, is_training):
    """pooled_output [B, H], labels int [B] -> (cross-entropy [B], {"probabilities": [B, K]}).

    With class weights w, an example of class y has the loss w[y] * cross-entropy; the
    mean of that over the batch is what training minimizes and eval_loss reports.
    """
    log_probs = self._log_probabilities(pooled_output, is_training)
    one_hot = tf.one_hot(labels, depth=len(self.labels), dtype=log_probs.dtype)
    per_example_loss = -tf.reduce_sum(one_hot * log_probs, axis=-1)
    if self.class_weights is not None:
      per_example_loss *= tf.gather(tf.constant(self.class_weights, log_probs.dtype), labels)
    return per_example_loss, {"probabilities": tf.exp(log_probs)}

  def serving_outputs(self, pooled_output):
    """{"probabilities": [B, K], "label_id": int32 [B], "label": string [B]}, as decide()
    decides."""
    if self.needs_dev_evaluation:
      raise UserError("--threshold=auto has no threshold yet: evaluate dev first "
                      "(--do_eval=true) before exporting")
    probabilities = tf.exp(self._log_probabilities(pooled_output, is_training=False))
    label_id = tf.cast(decide(probabilities, self.positive_index, self.threshold, ops=tf),
                       tf.int32)
    return {"probabilities": probabilities, "label_id": label_id,
            "label": tf.gather(tf.constant(self.labels), label_id)}

  def describe(self):
    return {"task": "classification", "labels": self.labels,
            "positive_label": (None if self.positive_index is None
                               else self.labels[self.positive_index]),
            "threshold": self.threshold, "class_weights": self.class_weights}

  def divergence_hint(self, train_labels):
    del train_labels  # class ids, each checked against get_labels() when read
    return None

  def decide(self, probabilities):
    """Predicted class ids [N] from probabilities [N, K], with this task's threshold."""
    return decide(np.asarray(probabilities), self.positive_index, self.threshold)

  def evaluate(self, outputs, split=None):
    """Accuracy; for two labels also precision, recall, F1, AUC and the threshold used.

    With --threshold=auto the F1-best threshold is chosen here and returned in the
    Evaluation; the metrics are those of deciding with it.
    """
    del split  # the outputs carry the labels
    probabilities, labels = outputs["probabilities"], np.asarray(outputs["label"])
    threshold = self.threshold
    result = collections.OrderedDict()
    if self.positive_index is not None:
      is_positive = labels == self.positive_index
      positive_scores = probabilities[:, self.positive_index]
      if self.auto_threshold:
        threshold, _ = metrics.best_f1_threshold(is_positive, positive_scores)
      decided = decide(probabilities, self.positive_index, threshold)
      precision, recall, f1 = metrics.precision_recall_f1(is_positive,
                                                          decided == self.positive_index)
      result.update(eval_precision=precision, eval_recall=recall, eval_f1=f1,
                    eval_auc=metrics.roc_auc(is_positive, positive_scores),
                    eval_threshold=threshold)
    else:
      decided = decide(probabilities, None, None)
    result["eval_accuracy"] = float(np.mean(decided == labels))
    return Evaluation(dict(result), threshold if self.auto_threshold else None)

  def apply(self, evaluation):
    """The task deciding with the threshold `evaluation` chose, if it chose one."""
    if not self.auto_threshold or evaluation.threshold is None:
      return self
    decided = self._copy()
    decided.threshold = evaluation.threshold
    return decided

  def prediction_table(self, examples, outputs, original_format):
    probabilities = outputs["probabilities"]
    if original_format:  # Google's file: str() of each float32 probability, no header
      return None, [[str(np.float32(p)) for p in row] for row in probabilities]
    probability_cells = [["%.6f" % p for p in row] for row in probabilities]
    decisions = self.decide(probabilities)
    rows = [cells + [self.labels[decision]]
            for cells, decision in zip(probability_cells, decisions)]
    return ["prob_" + label for label in self.labels] + ["prediction"], rows


def check_best_metric(task, best_metric):
  """The metric that picks the best checkpoint: best_metric, else the task's default.

  Returns (name, True when higher is better). Raises UserError for a name the task does
  not report.
  """
  name = best_metric or task.default_best_metric
  if name not in task.metric_names() and "eval_" + name in task.metric_names():
    name = "eval_" + name  # --best_metric=map, mrr@10, ndcg@10
  if name not in task.metric_names():
    raise UserError("--best_metric=%s: expected one of this task's metrics: %s" %
                    (name, ", ".join(task.metric_names())))
  return name, not name.endswith("loss")


def task_from_description(description):
  """The task describe() described (for predict.py and exported models)."""
  if "ranking" in description:
    ranking = description["ranking"]
    return RankingTask(ranking["labels"], ranking["loss"], ranking["group_size"],
                       ranking["score_queries_without_relevant"])
  if description["task"] == "regression":
    return RegressionTask(description["use_sigmoid_act"], description["label_min"],
                          description["label_max"])
  threshold = description["threshold"]
  task = ClassificationTask(description["labels"], "auto" if threshold is None else "0.5",
                            description["positive_label"], description.get("class_weights"))
  # The exact threshold, not its text: a float of dev probabilities is kept to the bit.
  return task if threshold is None else task.apply(Evaluation({}, threshold))


LOSSES = ("pointwise", "listwise", "lambda", "mse", "margin_mse")
DISTILLATION_LOSSES = ("mse", "margin_mse")
PAIR_LOSSES = ("pointwise", "mse")  # each pair a record of its own, no groups
RANKING_METRICS = {"map": "eval_map", "mrr@10": "eval_mrr@10", "ndcg@10": "eval_ndcg@10"}


@dataclasses.dataclass(frozen=True)
class RankingOptions:
  """run_rerank.py's head settings."""
  loss: str = setting(
      "pointwise", "pointwise: sigmoid cross-entropy of each pair (graded labels as "
      "grade/max); listwise: softmax cross-entropy over a relevant candidate and "
      "--group_size - 1 non-relevant ones of its query; lambda: LambdaLoss (nDCG-weighted "
      "pairs) over groups of a query's candidates; mse: squared error of each pair's score "
      "against its teacher's score; margin_mse: MarginMSE, the squared error of the "
      "margin s_pos - s_neg against the teacher's, over a relevant candidate and "
      "--group_size - 1 non-relevant ones (mse and margin_mse need teacher scores: a "
      "fifth column of --task_name=ranking's rows or --teacher_scores).", cli.MODEL,
      checks.OneOf(LOSSES))
  group_size: int = setting(
      8, "listwise, lambda and margin_mse: candidates per group (short groups are padded "
      "and masked); "
      "--train_batch_size must be a multiple of it.", cli.MODEL, checks.AtLeast(2))
  score_queries_without_relevant: bool = setting(
      False, "Score queries without a relevant candidate as 0 in MAP, MRR and nDCG "
      "(default: counted, and left out, as WikiQA's and trec_eval's evaluations do).",
      cli.MODEL)
  teacher_scores: Optional[str] = setting(
      None, "--loss=mse or margin_mse: a file of the teacher's score of every training "
      "pair, lines query_id<TAB>doc_id<TAB>score (the ids of eval_candidates.tsv and "
      "test_results.tsv); it replaces a teacher column of the train rows.", cli.TRAINING,
      unchecked="read, line by line with located errors, when the train rows are made")


class RankingTask(PairsOneByOne):
  """A relevance score per (query, passage), judged by the order within each query.

  The head is regression's, one logit (`output_weights [1, H]`, `output_bias [1]`);
  the score is that logit, unbounded: a sigmoid would tie candidates whose logits
  pass ~17 in float32, and only the order counts. Labels are relevance grades 0..max.
  Training: --loss (see RankingOptions and model/ranking_losses.py); eval_loss is the
  pointwise cross-entropy whatever the loss, so that runs can be compared by it.
  Evaluation: MAP, MRR@10, nDCG@10, Recall@k per query (evaluation/ranking_metrics.py),
  AUC of the pairs; the per-query figures go to eval_queries.tsv.
  The exported model is regression's with a linear output: one score per pair, which
  every export format, predict.py and serve.py's /rerank already carry.
  """

  head_reads_is_real = True

  label_feature = CLASSIFICATION_LABEL
  needs_dev_evaluation = False
  default_best_metric = "eval_map"
  PER_QUERY_FILE = "eval_queries.tsv"

  def __init__(self, labels, loss="pointwise", group_size=8,
               score_queries_without_relevant=False, teacher_scores=None):
    settings.validate(RankingOptions(loss, group_size, score_queries_without_relevant,
                                     teacher_scores))
    if teacher_scores and loss not in DISTILLATION_LOSSES:
      raise UserError("--teacher_scores=%s: only --loss=%s read teacher scores, not "
                      "--loss=%s" % (teacher_scores, " or ".join(DISTILLATION_LOSSES), loss))
    self.labels = [str(label) for label in (labels or ["0", "1"])]
    if any(not label.isdigit() for label in self.labels):
      raise UserError("a ranking task needs relevance grades 0..n as labels, found %s" %
                      ", ".join(self.labels))
    self.max_grade = max(int(label) for label in self.labels)
    self.loss = loss
    self.group_size = group_size
    self.score_queries_without_relevant = score_queries_without_relevant
    self.teacher_scores = teacher_scores  # a file path, or None

  @classmethod
  def from_options(cls, labels, options):
    return cls(labels, options.loss, options.group_size,
               options.score_queries_without_relevant, options.teacher_scores)

  @property
  def train_group_size(self):
    return 1 if self.loss in PAIR_LOSSES else self.group_size

  @property
  def uses_teacher_scores(self):
    """True when training reads the records' teacher_score feature."""
    return self.loss in DISTILLATION_LOSSES

  def _with_teacher_scores(self, examples):
    """The examples with their teacher scores (--teacher_scores, else their own), each
    one's checked: a located error names the first without."""
    if self.teacher_scores:
      scores = ranking_formats.read_teacher_scores(self.teacher_scores)
      examples = ranking_formats.with_teacher_scores(examples, scores, self.teacher_scores)
    for example in examples:
      if getattr(example, "teacher_score", None) is None:
        raise example.error("--loss=%s needs a teacher score for every training pair, "
                            "this one has none (a fifth column teacher_score of "
                            "--task_name=ranking's rows, or --teacher_scores)" % self.loss)
    return examples

  def training_rows(self, examples, labels, seed=None):
    """Pointwise and mse: the pairs as read. List losses and margin_mse: whole groups
    (data/groups.py; margin_mse's as listwise's: a relevant candidate and negatives)."""
    if self.uses_teacher_scores:
      examples = self._with_teacher_scores(examples)
    if self.loss in PAIR_LOSSES:
      return examples, labels
    arrangement = "listwise" if self.loss == "margin_mse" else self.loss
    arranged = groups_lib.arrange(examples, labels, self.group_size, arrangement, seed)
    logging.info("--loss=%s: %d groups of %d (%d padding rows) from %d queries; %d "
                 "queries give no group (no relevant%s candidate)", self.loss,
                 arranged.groups, self.group_size, arranged.padding, arranged.queries_used,
                 arranged.queries_left_out,
                 " or no non-relevant" if arrangement == "listwise" else ", or one grade only")
    if not arranged.groups:
      raise UserError("--loss=%s: no query of the train split has both a relevant and a "
                      "non-relevant candidate; nothing to train on" % self.loss)
    return arranged.examples, arranged.labels

  def metric_names(self):
    names = ["eval_auc", "eval_loss", "eval_map", "eval_mrr", "eval_mrr@10",
             "eval_ndcg@10", "eval_num_queries", "eval_num_queries_scored",
             "eval_num_queries_without_relevant", "eval_num_queries_not_evaluated"]
    names += ["eval_recall@%d" % k for k in ranking_metrics.RECALL_CUTOFFS]
    return sorted(names)

  def head_variable_shapes(self, hidden_size):
    return _output_shapes(1, hidden_size)

  def encode_label(self, example, required):
    """The example's grade 0..max_grade."""
    if example.label is None:
      if required:
        raise example.error("expected a relevance label (%s), found none" %
                            ", ".join(self.labels))
      return 0
    label = str(example.label)
    if label not in self.labels:
      raise example.error("relevance label %r is not one of %s" %
                          (label, ", ".join(self.labels)))
    return int(label)

  def divergence_hint(self, train_labels):
    del train_labels
    return None

  def to_label_units(self, values):
    """Grades are reported as they are (the data report's label summary)."""
    return np.asarray(values, np.float64) if not tf.is_tensor(values) else values

  def _logit(self, pooled_output, is_training):
    return tf.squeeze(_output_layer(pooled_output, 1, is_training), axis=-1)

  def build_head(self, pooled_output, labels, is_training, is_real=None,
                 teacher_scores=None):
    """pooled [B, H], grades int [B] -> (loss [B], {"score": logit [B]}).

    Training with a list loss: the batch is [B / G, G] groups (input_fn.py); each
    group's loss is shared out over its real rows so that the model's mean over real
    rows is the mean loss per group. mse and margin_mse read teacher_scores float [B]
    (the records' teacher_score feature).
    """
    logit = self._logit(pooled_output, is_training)
    grades = tf.cast(labels, tf.float32)
    pointwise = tf.nn.sigmoid_cross_entropy_with_logits(
        labels=tf.minimum(grades / float(self.max_grade), 1.0),
        logits=tf.cast(logit, tf.float32))
    outputs = {"score": logit}
    if not is_training or self.loss == "pointwise":
      return pointwise, outputs
    real = (tf.ones_like(grades) if is_real is None else tf.cast(is_real, tf.float32))
    if self.uses_teacher_scores and teacher_scores is None:
      raise ValueError("--loss=%s: the batch holds no teacher scores" % self.loss)
    if self.loss == "mse":
      return ranking_losses.teacher_mse(logit, teacher_scores, real), outputs
    shape = [-1, self.group_size]
    scores, grades, real = (tf.reshape(t, shape) for t in (logit, grades, real))
    if self.loss == "margin_mse":
      group_loss = ranking_losses.margin_mse(scores, tf.reshape(teacher_scores, shape),
                                             grades, real)
    else:
      loss_of = (ranking_losses.listwise_softmax if self.loss == "listwise"
                 else ranking_losses.lambda_loss)
      group_loss = loss_of(scores, grades, real)  # [groups]
    rows_per_group = tf.maximum(tf.reduce_sum(real, axis=-1), 1.0)
    num_groups = tf.cast(tf.shape(scores)[0], tf.float32)
    share = group_loss / rows_per_group * tf.reduce_sum(real) / num_groups
    return tf.reshape(real * share[:, None], [-1]), outputs

  def serving_outputs(self, pooled_output):
    """{"score": float [B]}: the logit (see the class docstring)."""
    return {"score": self._logit(pooled_output, is_training=False)}

  def describe(self):
    # "regression" with a linear output is what the exported model is: one score per
    # pair; "ranking" holds what only training and evaluation need.
    return {"task": "regression", "use_sigmoid_act": False, "label_min": None,
            "label_max": None,
            "ranking": {"labels": self.labels, "loss": self.loss,
                        "group_size": self.group_size,
                        "score_queries_without_relevant":
                            self.score_queries_without_relevant}}

  CANDIDATES_FILE = "eval_candidates.tsv"

  def dev_candidates_text(self, split):
    """eval_candidates.tsv: query_id, doc_id and whether the query is scored (1/0), one
    line per dev pair in record order, so that what judges the model later (the int8
    export's quantization report) ranks it as evaluation did (qrels aside: there the
    candidates' grades are the truth)."""
    evaluated = split.truth.evaluated if split.truth is not None else None
    return "".join("%s\t%s\t%d\n" % (e.query_id, e.doc_id,
                                      evaluated is None or e.query_id in evaluated)
                   for e in split.examples)

  @staticmethod
  def read_candidates(text):
    """((query_ids, doc_ids), RankingTruth) of an eval_candidates.tsv text."""
    rows = [line.split("\t") for line in text.splitlines()]
    truth = ranking_formats.RankingTruth(
        evaluated=frozenset(r[0] for r in rows if r[2] == "1"))
    return ([r[0] for r in rows], [r[1] for r in rows]), truth

  def query_results(self, scores, grades, query_ids, doc_ids, truth=None):
    """(QueryResult of each query the evaluation scores, queries not scored)."""
    qrels = truth.qrels if truth is not None else None
    evaluated = truth.evaluated if truth is not None else None
    results = ranking_metrics.score_queries(query_ids, doc_ids, [float(s) for s in scores],
                                            [int(g) for g in grades], qrels)
    if evaluated is None:
      return results, 0
    kept = [r for r in results if r.query_id in evaluated]
    return kept, len(results) - len(kept)

  def evaluate(self, outputs, split=None, candidates=None, truth=None):
    """MAP, MRR@10 (and uncut), nDCG@10, Recall@k over the queries; AUC over the pairs.

    The queries come from the split's examples, or from `candidates` (query_ids, doc_ids)
    with `truth` (a RankingTruth or None) where there is no split (the int8 report).
    """
    if split is not None and hasattr(split.examples[0], "query_id"):
      candidates = ([e.query_id for e in split.examples], [e.doc_id for e in split.examples])
      truth = getattr(split, "truth", None)
    if candidates is None:
      raise UserError("a ranking evaluation needs a ranking processor's examples (query "
                      "and candidate ids): --task_name=ranking, wikiqa, trec or triples")
    scores = np.asarray(outputs["score"], np.float64)
    results, not_evaluated = self.query_results(scores, np.asarray(outputs["label"]),
                                                candidates[0], candidates[1], truth)
    result = ranking_metrics.summarize(results, self.score_queries_without_relevant)
    result["eval_num_queries_not_evaluated"] = not_evaluated
    result["eval_auc"] = metrics.roc_auc(np.asarray(outputs["label"]) > 0, scores)
    return Evaluation(result, tables={
        self.PER_QUERY_FILE: ranking_metrics.per_query_table(results)})

  def apply(self, evaluation):
    del evaluation
    return self

  def prediction_table(self, examples, outputs, original_format):
    """guid, query_id, doc_id, score (float32 whole: 9 significant digits), rank, texts."""
    scores = np.asarray(outputs["score"], np.float32)
    if original_format:
      return None, [["%.9g" % score] for score in scores]
    ranks = ranking_metrics.ranks_within_query(
        [e.query_id for e in examples], [e.doc_id for e in examples],
        [float(s) for s in scores])
    rows = [[e.guid, e.query_id, e.doc_id, "%.9g" % score, str(rank), _cell(e.text_a),
             _cell(e.text_b)] for e, score, rank in zip(examples, scores, ranks)]
    return ["guid", "query_id", "doc_id", "score", "rank", "text_a", "text_b"], rows
