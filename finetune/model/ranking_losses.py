"""Losses over a query's group of candidates (run_rerank.py's --loss), in TensorFlow.

Each takes scores (logits) and grades of shape [groups, G] and a mask [groups, G]
(1 real candidate, 0 padding) and returns the loss of each group [groups]; padded
entries take no part. Computed in float32 whatever the model's precision.

  listwise  softmax cross-entropy over the group: the target is the grades normalized
            to sum to 1 (one relevant candidate: its one-hot), as ListNet's top-one
            probability and sentence-transformers' in-group softmax losses.
  lambda    LambdaLoss (Wang et al., CIKM 2018), its NDCG-Loss2 weighting: for every
            pair i, j with grade_i > grade_j,
              -|1/D(|r_i - r_j|) - 1/D(|r_i - r_j| + 1)| * |g_i - g_j| / maxDCG
                * log2(sigmoid(s_i - s_j)),
            D(k) = log2(1 + k), r the ranks under the current scores (not
            differentiated), g the gains: the grades themselves, the linear gains that
            nDCG@10 is judged by here (trec_eval's), so a pair weighs what swapping it
            costs in nDCG.

Distillation from a teacher's scores t (the `teacher_score` feature, see
processors/ranking.py):
  mse         pointwise: (s - t)^2 of each real pair (teacher_mse, elementwise).
  margin_mse  MarginMSE (Hofstaetter et al., 2020): for every pair i, j of a group with
              grade_i > grade_j (a positive and each negative of a listwise group),
              ((s_i - s_j) - (t_i - t_j))^2, averaged over the group's pairs.
"""

import tensorflow as tf

NEG_LARGE = -1e9


def listwise_softmax(scores, grades, mask):
  scores, grades, mask = (tf.cast(t, tf.float32) for t in (scores, grades, mask))
  masked = tf.where(mask > 0, scores, tf.fill(tf.shape(scores), NEG_LARGE))
  log_probs = tf.nn.log_softmax(masked, axis=-1)
  target = grades * mask
  total = tf.reduce_sum(target, axis=-1, keepdims=True)
  target = tf.math.divide_no_nan(target, total)
  return -tf.reduce_sum(target * tf.where(mask > 0, log_probs, tf.zeros_like(log_probs)),
                        axis=-1)


def _log2(x):
  return tf.math.log(x) / tf.math.log(2.0)


def lambda_loss(scores, grades, mask):
  scores, grades, mask = (tf.cast(t, tf.float32) for t in (scores, grades, mask))
  masked = tf.where(mask > 0, scores, tf.fill(tf.shape(scores), NEG_LARGE))
  # Rank (1 = best) of each candidate under the current scores; padding sorts last.
  order = tf.argsort(tf.stop_gradient(masked), axis=-1, direction="DESCENDING",
                     stable=True)
  ranks = tf.cast(tf.argsort(order, axis=-1, stable=True), tf.float32) + 1.0
  gains = grades * mask
  sorted_gains = tf.sort(gains, axis=-1, direction="DESCENDING")
  positions = tf.cast(tf.range(tf.shape(scores)[-1]), tf.float32) + 1.0
  max_dcg = tf.reduce_sum(sorted_gains / _log2(positions + 1.0), axis=-1)  # [n]
  # At least 1: the diagonal (i = i) is no pair, and 1/D(0) would be infinite there.
  rank_gap = tf.maximum(tf.abs(ranks[:, :, None] - ranks[:, None, :]), 1.0)  # [n, G, G]
  delta = tf.abs(1.0 / _log2(1.0 + rank_gap) - 1.0 / _log2(2.0 + rank_gap))
  gain_gap = gains[:, :, None] - gains[:, None, :]
  pair = tf.cast(gain_gap > 0, tf.float32) * mask[:, :, None] * mask[:, None, :]
  weight = pair * delta * tf.abs(gain_gap) / tf.maximum(max_dcg, 1e-9)[:, None, None]
  score_gap = scores[:, :, None] - scores[:, None, :]
  # log2(sigmoid(x)) = -softplus(-x) / ln 2, stable for large |x|.
  pair_loss = tf.nn.softplus(-score_gap) / tf.math.log(2.0)
  return tf.reduce_sum(tf.stop_gradient(weight) * pair_loss, axis=[1, 2])


def teacher_mse(scores, teacher_scores, mask):
  """(s - t)^2 of each entry, 0 where mask is 0; any shape."""
  scores, teacher_scores, mask = (tf.cast(t, tf.float32)
                                  for t in (scores, teacher_scores, mask))
  return mask * tf.square(scores - teacher_scores)


def margin_mse(scores, teacher_scores, grades, mask):
  """MarginMSE of each group [groups] (see the module docstring); 0 for a group without
  a pair (one grade only, or all padding)."""
  scores, teacher_scores, grades, mask = (
      tf.cast(t, tf.float32) for t in (scores, teacher_scores, grades, mask))
  pair = (tf.cast(grades[:, :, None] > grades[:, None, :], tf.float32) *
          mask[:, :, None] * mask[:, None, :])  # [n, G, G]: i above j, both real
  student_margin = scores[:, :, None] - scores[:, None, :]
  teacher_margin = teacher_scores[:, :, None] - teacher_scores[:, None, :]
  squared = pair * tf.square(student_margin - teacher_margin)
  return tf.math.divide_no_nan(tf.reduce_sum(squared, axis=[1, 2]),
                               tf.reduce_sum(pair, axis=[1, 2]))
