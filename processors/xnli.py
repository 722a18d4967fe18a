# Copyright 2018 The Google AI Language Team Authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
#
# Changed from Google's BERT (github.com/google-research/bert) by this project: what
# differs and why is in docs/differences.md.
"""XNLI: cross-lingual NLI, Chinese by default (classes contradiction, entailment, neutral)."""

import os

from common.tsv import check_columns
from processors.base import DataProcessor
from processors.base import InputExample


class XnliProcessor(DataProcessor):
  """XNLI for one language (default "zh").

  Training: data_dir/multinli/multinli.train.<language>.tsv (the machine-translated
  MultiNLI), header then premise, hypothesis, label; its label "contradictory" means
  "contradiction". Dev and test: data_dir/xnli.dev.tsv and xnli.test.tsv, header then
  language, gold label, ..., sentence1 (column 7), sentence2 (column 8); only rows of
  the chosen language are used.
  """

  def __init__(self, language="zh"):
    self.language = language

  def split_file(self, data_dir, split):
    if split == "train":
      return os.path.join(data_dir, "multinli", "multinli.train.%s.tsv" % self.language)
    return os.path.join(data_dir, "xnli.%s.tsv" % split)

  def get_train_examples(self, data_dir):
    path = self.split_file(data_dir, "train")
    examples = []
    for row in self._read_tsv(path)[1:]:
      check_columns(row, 3, 3, "premise, hypothesis, label")
      label = row[2].strip()
      if label == "contradictory":
        label = "contradiction"
      examples.append(InputExample("train-%d" % row.line, row[0], row[1], label,
                                   path=row.path, line=row.line))
    return examples

  def get_dev_examples(self, data_dir):
    return self._xnli_examples(self.split_file(data_dir, "dev"), "dev")

  def get_test_examples(self, data_dir):
    return self._xnli_examples(self.split_file(data_dir, "test"), "test")

  def get_labels(self):
    return ["contradiction", "entailment", "neutral"]

  def _xnli_examples(self, path, set_type):
    examples = []
    for row in self._read_tsv(path)[1:]:
      if row[0].strip() != self.language:
        continue
      examples.append(InputExample("%s-%d" % (set_type, row.line), row[6], row[7],
                                   row[1].strip(), path=row.path, line=row.line))
    return examples
