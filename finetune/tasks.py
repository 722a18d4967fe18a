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
  build_head(pooled, labels, is_training) -> (per_example_loss [B], outputs {name: [B,...]})
  evaluate(outputs)                  numpy outputs of real dev examples -> Evaluation
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

Each script's task settings (--use_sigmoid_act, --threshold, ...) are declared here, in
RegressionOptions and ClassificationOptions.
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
from finetune.data.record_format import CLASSIFICATION_LABEL
from finetune.data.record_format import REGRESSION_LABEL
from finetune.evaluation import metrics
from finetune.model import model_files
from modeling import create_initializer

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
  """What evaluating dev gives: the metrics, and a threshold it chose (or None)."""
  metrics: dict
  threshold: Optional[float] = None


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


class RegressionTask:
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

  def fitted_to(self, train_labels):
    del train_labels  # a score head learns nothing from the labels before training
    return self

  def head_variable_shapes(self, hidden_size):
    return {"output_weights": [1, hidden_size], "output_bias": [1]}

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

  def evaluate(self, outputs):
    """Pearson, Spearman, MAE and RMSE in the user's units over all real dev examples."""
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


class ClassificationTask:
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
    return {"output_weights": [len(self.labels), hidden_size],
            "output_bias": [len(self.labels)]}

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

  def evaluate(self, outputs):
    """Accuracy; for two labels also precision, recall, F1, AUC and the threshold used.

    With --threshold=auto the F1-best threshold is chosen here and returned in the
    Evaluation; the metrics are those of deciding with it.
    """
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
  if name not in task.metric_names():
    raise UserError("--best_metric=%s: expected one of this task's metrics: %s" %
                    (name, ", ".join(task.metric_names())))
  return name, not name.endswith("loss")


def task_from_description(description):
  """The task describe() described (for predict.py and exported models)."""
  if description["task"] == "regression":
    return RegressionTask(description["use_sigmoid_act"], description["label_min"],
                          description["label_max"])
  threshold = description["threshold"]
  task = ClassificationTask(description["labels"], "auto" if threshold is None else "0.5",
                            description["positive_label"], description.get("class_weights"))
  # The exact threshold, not its text: a float of dev probabilities is kept to the bit.
  return task if threshold is None else task.apply(Evaluation({}, threshold))
