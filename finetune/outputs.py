"""The result files of a run: eval_results.txt, test_results.tsv, TensorBoard eval scalars.

Each is written whole or not at all (common/files.py).
"""

import os

from absl import logging
import numpy as np
import tensorflow as tf

from common import files

EVAL_RESULTS = "eval_results.txt"
TEST_RESULTS = "test_results.tsv"
EVAL_SUMMARY_DIR = "eval"


def write_eval_results(output_dir, result):
  """eval_results.txt: `key = value` lines, sorted, as Google's scripts wrote them."""
  files.write_text_atomically(os.path.join(output_dir, EVAL_RESULTS),
                              "".join("%s = %s\n" % (key, result[key]) for key in sorted(result)))


def write_eval_summaries(output_dir, result):
  """Writes the numeric eval results as TensorBoard scalars at their global_step."""
  writer = tf.summary.create_file_writer(os.path.join(output_dir, EVAL_SUMMARY_DIR))
  with writer.as_default():
    for name, value in result.items():
      if name != "global_step" and value is not None and np.isfinite(value):
        tf.summary.scalar(name, value, step=int(result.get("global_step", 0)))
  writer.close()


def write_test_results(output_dir, header, rows):
  """test_results.tsv: the header (if any), then one tab-separated line per example."""
  lines = ([header] if header else []) + rows
  path = os.path.join(output_dir, TEST_RESULTS)
  files.write_text_atomically(path, "".join("\t".join(cells) + "\n" for cells in lines))
  logging.info("wrote %d predictions to %s", len(rows), path)
