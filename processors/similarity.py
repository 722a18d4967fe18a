"""Sentence-pair similarity formats: `sim` (the seed's), STS-B, and LCQMC."""

import os

from absl import logging

from common import files
from common.tsv import check_columns
from common.tsv import looks_like_header
from common.tsv import parse_score
from processors.base import DataProcessor
from processors.base import InputExample
from processors.base import TsvSplitsProcessor


class SimProcessor(TsvSplitsProcessor):
  """`sentence_a<TAB>sentence_b<TAB>score` in train.tsv, dev.tsv, test.tsv (regression).

  The score is a real number (0..1 for the sigmoid head, or any range mapped with
  --label_min/--label_max). test.tsv may omit the score. A first line whose score
  column is a word (e.g. "score") is a header and is skipped.
  """

  LAYOUT = "sentence_a<TAB>sentence_b<TAB>score"

  def get_labels(self):
    return None

  def _label(self, row):
    return parse_score(row, 2)

  def _create_examples(self, path, set_type):
    label_optional = set_type == "test"
    examples = []
    for row in self._read_tsv(path):
      check_columns(row, 2 if label_optional else 3, 3, self.LAYOUT)
      if row.line == 1 and len(row) == 3 and looks_like_header(row[2]):
        logging.info("%s:1: header line skipped", path)
        continue
      label = self._label(row) if len(row) == 3 else None
      examples.append(InputExample("%s-%d" % (set_type, row.line), row[0], row[1], label,
                                   path=row.path, line=row.line))
    return examples


class LcqmcProcessor(SimProcessor):
  """LCQMC, Chinese question matching: `question_a<TAB>question_b<TAB>0|1` (classes).

  train.tsv, dev.tsv, test.tsv; the label may be absent from test.tsv.
  """

  LAYOUT = "question_a<TAB>question_b<TAB>label"

  def get_labels(self):
    return ["0", "1"]

  def _label(self, row):
    return row[2].strip()


class StsbProcessor(DataProcessor):
  """STS benchmark (regression, scores 0..5): GLUE's tsv or the original csv files.

  GLUE: train.tsv, dev.tsv, test.tsv with a header; sentences in columns 8 and 9, the
  score in column 10 (none in test.tsv). Original (stsbenchmark.tar.gz): sts-train.csv,
  sts-dev.csv, sts-test.csv, tab-separated despite the name: genre, file, year, id,
  score, sentence 1, sentence 2, and sometimes extra source columns, which are ignored.
  Use --label_min=0 --label_max=5 with the sigmoid head.
  """

  def get_train_examples(self, data_dir):
    return self._create_examples(data_dir, "train")

  def get_dev_examples(self, data_dir):
    return self._create_examples(data_dir, "dev")

  def get_test_examples(self, data_dir):
    return self._create_examples(data_dir, "test")

  def get_labels(self):
    return None

  def split_file(self, data_dir, split):
    """GLUE's <split>.tsv, else the original sts-<split>.csv when only that exists."""
    glue_path = os.path.join(data_dir, "%s.tsv" % split)
    csv_path = os.path.join(data_dir, "sts-%s.csv" % split)
    return glue_path if files.exists(glue_path) or not files.exists(csv_path) else csv_path

  def _create_examples(self, data_dir, set_type):
    path = self.split_file(data_dir, set_type)
    examples = []
    if path.endswith(".tsv"):
      labelled = set_type != "test"
      for row in self._read_tsv(path)[1:]:
        check_columns(row, 10 if labelled else 9, 10,
                      "GLUE STS-B: index ... sentence1, sentence2" + (", score" if labelled
                                                                       else ""))
        score = parse_score(row, 9) if labelled else None
        examples.append(InputExample("%s-%d" % (set_type, row.line), row[7], row[8], score,
                                     path=row.path, line=row.line))
    else:
      for row in self._read_tsv(path):
        check_columns(row, 7, 9, "genre, file, year, id, score, sentence1, sentence2")
        examples.append(InputExample("%s-%d" % (set_type, row.line), row[5], row[6],
                                     parse_score(row, 4), path=row.path, line=row.line))
    return examples
