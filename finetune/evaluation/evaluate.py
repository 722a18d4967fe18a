"""Evaluating a checkpoint on dev: exact metrics over every real example.

The task's metrics (tasks.py), plus eval_loss (the mean loss per example, which Google's
scripts reported), loss (the same, as they named it too), eval_num_examples and the
checkpoint's global_step.
"""

from absl import logging
import numpy as np
import tensorflow as tf

from finetune.data import records
from finetune.evaluation.prediction import predict_split


def evaluate_checkpoint(engine, prepared, task, checkpoint):
  """Predicts dev with `checkpoint` (None: the latest); returns (metrics, tasks.Evaluation)."""
  outputs = predict_split(engine, prepared, task, prepared.splits["dev"],
                          prepared.options.runtime.eval_batch_size, records.RECORD_FILES["dev"],
                          checkpoint=checkpoint)
  evaluation = task.evaluate(outputs, prepared.splits["dev"])
  result = dict(evaluation.metrics)
  mean_loss = float(np.mean(outputs["loss"]))
  result.update(eval_loss=mean_loss, loss=mean_loss, eval_num_examples=len(outputs["loss"]))
  checkpoint = checkpoint or tf.train.latest_checkpoint(prepared.options.data.output_dir)
  if checkpoint:
    result["global_step"] = int(tf.train.load_checkpoint(checkpoint).get_tensor("global_step"))
  logging.info("eval results: %s", ", ".join("%s = %s" % item for item in sorted(result.items())))
  return result, evaluation
