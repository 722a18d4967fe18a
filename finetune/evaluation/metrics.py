"""Evaluation metrics over a whole dev set (numpy, exact; not streaming estimates)."""

import numpy as np


def pearson(x, y):
  """Pearson correlation of two 1-D arrays; nan when either is constant."""
  x = np.asarray(x, np.float64)
  y = np.asarray(y, np.float64)
  dx, dy = x - x.mean(), y - y.mean()
  denominator = np.sqrt((dx * dx).sum() * (dy * dy).sum())
  return float((dx * dy).sum() / denominator) if denominator > 0 else float("nan")


def average_ranks(values):
  """Ranks 1..n, ties sharing the average of their ranks."""
  values = np.asarray(values, np.float64)
  order = np.argsort(values, kind="mergesort")
  sorted_values = values[order]
  ranks = np.empty(len(values), np.float64)
  start = 0
  while start < len(values):
    end = start
    while end + 1 < len(values) and sorted_values[end + 1] == sorted_values[start]:
      end += 1
    ranks[order[start:end + 1]] = (start + end) / 2.0 + 1.0
    start = end + 1
  return ranks


def spearman(x, y):
  """Spearman rank correlation (Pearson of average ranks)."""
  return pearson(average_ranks(x), average_ranks(y))


def regression_metrics(predictions, targets):
  """MAE, RMSE, Pearson and Spearman of predictions against targets (same units)."""
  predictions = np.asarray(predictions, np.float64)
  targets = np.asarray(targets, np.float64)
  errors = predictions - targets
  return {
      "mae": float(np.abs(errors).mean()),
      "rmse": float(np.sqrt((errors * errors).mean())),
      "pearson": pearson(predictions, targets),
      "spearman": spearman(predictions, targets),
  }


def precision_recall_f1(is_positive, predicted_positive):
  """Precision, recall and F1 of the positive class (0 where undefined)."""
  is_positive = np.asarray(is_positive, bool)
  predicted_positive = np.asarray(predicted_positive, bool)
  true_positives = float(np.sum(is_positive & predicted_positive))
  precision = true_positives / max(np.sum(predicted_positive), 1)
  recall = true_positives / max(np.sum(is_positive), 1)
  f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
  return precision, recall, f1


def roc_auc(is_positive, scores):
  """Area under the ROC curve: P(score of a positive > score of a negative), ties half.

  nan when only one class is present.
  """
  is_positive = np.asarray(is_positive, bool)
  positives = int(is_positive.sum())
  negatives = len(is_positive) - positives
  if positives == 0 or negatives == 0:
    return float("nan")
  ranks = average_ranks(scores)
  rank_sum = ranks[is_positive].sum()
  return float((rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives))


def best_f1_threshold(is_positive, scores):
  """The threshold t maximising F1 of the rule `score >= t`.

  Candidates are the distinct scores; the chosen one is moved halfway down to the next
  lower score, so that a new example scoring between the two is decided like the dev
  examples nearest to it. Returns (threshold, f1).
  """
  is_positive = np.asarray(is_positive, bool)
  scores = np.asarray(scores, np.float64)
  distinct = np.unique(scores)[::-1]  # high to low
  order = np.argsort(-scores, kind="mergesort")
  sorted_scores, sorted_positive = scores[order], is_positive[order]
  total_positive = max(int(is_positive.sum()), 1)
  best_f1, best_index = -1.0, 0
  cumulative_tp = np.cumsum(sorted_positive)
  for index, candidate in enumerate(distinct):
    predicted = int(np.searchsorted(-sorted_scores, -candidate, side="right"))
    true_positives = cumulative_tp[predicted - 1]
    precision = true_positives / predicted
    recall = true_positives / total_positive
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    if f1 > best_f1:
      best_f1, best_index = f1, index
  chosen = distinct[best_index]
  if best_index + 1 < len(distinct):
    chosen = (chosen + distinct[best_index + 1]) / 2.0
  return float(chosen), float(best_f1)
