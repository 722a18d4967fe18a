"""The result files of a run: eval_results.txt, eval_history.tsv, test_results.tsv, and
the TensorBoard eval scalars.

Each is written whole or not at all (common/files.py).
"""

import os

from absl import logging
import numpy as np
import tensorflow as tf

from common import files
from common.errors import UserError

EVAL_RESULTS = "eval_results.txt"
TEST_RESULTS = "test_results.tsv"
EVAL_SUMMARY_DIR = "eval"


def write_eval_results(output_dir, result):
  """eval_results.txt: `key = value` lines, sorted, as Google's scripts wrote them."""
  files.write_text_atomically(os.path.join(output_dir, EVAL_RESULTS),
                              format_eval_results(result))


def read_eval_results(directory):
  """eval_results.txt of `directory` as {key: float}."""
  result = {}
  for line in files.read_text(os.path.join(directory, EVAL_RESULTS)).splitlines():
    key, value = line.split(" = ")
    result[key] = float(value)
  return result


def write_eval_summaries(output_dir, result):
  """Writes the numeric eval results as TensorBoard scalars at their global_step."""
  directory = os.path.join(output_dir, EVAL_SUMMARY_DIR)
  with files.writing(directory):
    writer = tf.summary.create_file_writer(directory)
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


def table_text(header, rows):
  """Tab-separated lines: the header, then the rows."""
  return "".join("\t".join(cells) + "\n" for cells in [header] + rows)


def write_tables(output_dir, tables):
  """Writes each {file name: (header, rows)} of an evaluation (eval_queries.tsv) whole."""
  for name, (header, rows) in tables.items():
    files.write_text_atomically(os.path.join(output_dir, name), table_text(header, rows))


EVAL_HISTORY = "eval_history.tsv"


def format_eval_results(result):
  """The text of eval_results.txt for `result`."""
  return "".join("%s = %s\n" % (key, result[key]) for key in sorted(result))


def read_eval_history(output_dir):
  """The rows of eval_history.tsv as [{column: float}], or [] without the file."""
  path = os.path.join(output_dir, EVAL_HISTORY)
  if not files.exists(path):
    return []
  lines = files.read_text(path).splitlines()
  header = lines[0].split("\t")
  return [dict(zip(header, (float(cell) for cell in line.split("\t")))) for line in lines[1:]]


def append_eval_history(output_dir, step, result):
  """Adds a row to eval_history.tsv: the step, then every metric, a header first.

  The file is rewritten whole with the new row, so a run killed meanwhile leaves the old
  file or the new one.
  """
  path = os.path.join(output_dir, EVAL_HISTORY)
  columns = ["step"] + sorted(name for name in result if name != "global_step")
  lines = files.read_text(path).splitlines() if files.exists(path) else ["\t".join(columns)]
  if lines[0].split("\t") != columns:
    raise UserError("%s: columns %s, but this run evaluates %s; use a new --output_dir" %
                    (path, lines[0].replace("\t", ", "), ", ".join(columns)))
  lines.append("\t".join([str(step)] + ["%r" % float(result[name]) for name in columns[1:]]))
  files.write_text_atomically(path, "\n".join(lines) + "\n")
