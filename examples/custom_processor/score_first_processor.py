"""A processor of your own: a TSV layout none of the built-in processors reads.

Layout of train.tsv and dev.tsv: a header line, then `id<TAB>score<TAB>sentence1<TAB>
sentence2`, the score between 0 and 1. Use it without editing the project:

  python run_reg.py \
    --task_name=examples/custom_processor/score_first_processor.py:ScoreFirstProcessor \
    --data_dir=examples/custom_processor/data ...
"""

import os

from processors import DataProcessor
from processors import InputExample


class ScoreFirstProcessor(DataProcessor):
  """id, score, sentence1, sentence2; first line is a header."""

  def get_train_examples(self, data_dir):
    return self._create_examples(os.path.join(data_dir, "train.tsv"), "train")

  def get_dev_examples(self, data_dir):
    return self._create_examples(os.path.join(data_dir, "dev.tsv"), "dev")

  def get_test_examples(self, data_dir):
    return self._create_examples(os.path.join(data_dir, "test.tsv"), "test")

  def get_labels(self):
    return None  # a regression task: labels are numbers

  def _create_examples(self, path, set_type):
    examples = []
    for line in self._read_tsv(path)[1:]:  # skip the header
      # A short line or a bad score is reported as "path:line: ..." by the pipeline.
      examples.append(InputExample(guid="%s-%s" % (set_type, line[0]), text_a=line[2],
                                   text_b=line[3], label=float(line[1])))
    return examples
