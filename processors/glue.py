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
"""GLUE classification formats: MRPC (also its original release), CoLA, MNLI, QQP."""

import hashlib
import os

from common import files
from common.tsv import check_columns
from processors.base import DataProcessor
from processors.base import InputExample
from processors.base import TsvSplitsProcessor

# Size of GLUE's MRPC dev split, which GLUE also carved out of msr_paraphrase_train.txt.
MRPC_DEV_SIZE = 408


class MrpcProcessor(DataProcessor):
  """Microsoft Research Paraphrase Corpus (classes "0", "1").

  GLUE layout: train.tsv, dev.tsv, test.tsv, each with a header; quality (label), #1 ID,
  #2 ID, #1 String, #2 String (test.tsv has an index in place of the label).

  Original layout, used when train.tsv is absent: msr_paraphrase_train.txt (same columns,
  4,076 pairs) and msr_paraphrase_test.txt. Without dev.tsv, the dev split is 408 pairs
  of msr_paraphrase_train.txt, like GLUE's, chosen by a fixed rule: the pairs whose
  MD5("#1 ID<TAB>#2 ID") hex digests sort first. Training uses the other 3,668.
  The test split is test.tsv, else msr_paraphrase_test.txt. The original release writes
  a double quote as the token "<QUOTE>"; it is read as '"', the text of GLUE's files.
  """

  ORIGINAL_FILES = {"train": "msr_paraphrase_train.txt", "dev": "msr_paraphrase_train.txt",
                    "test": "msr_paraphrase_test.txt"}

  def split_file(self, data_dir, split):
    """GLUE's <split>.tsv, else the original release's file holding the split."""
    glue_path = os.path.join(data_dir, "%s.tsv" % split)
    if files.exists(glue_path):
      return glue_path
    return os.path.join(data_dir, self.ORIGINAL_FILES[split])

  def get_train_examples(self, data_dir):
    return self._labelled_split(data_dir, "train")

  def get_dev_examples(self, data_dir):
    return self._labelled_split(data_dir, "dev")

  def get_test_examples(self, data_dir):
    path = self.split_file(data_dir, "test")
    return self._create_examples(path, "test", labelled=path.endswith(".txt"))

  def get_labels(self):
    return ["0", "1"]

  def _create_examples(self, path, set_type, labelled=True):
    examples = []
    for row in self._read_tsv(path)[1:]:
      check_columns(row, 5, 5, "quality, #1 ID, #2 ID, #1 String, #2 String")
      label = row[0].strip() if labelled else None
      example = InputExample("%s-%d" % (set_type, row.line), _unquote(row[3]),
                             _unquote(row[4]), label, path=row.path, line=row.line)
      example.pair_id = "%s\t%s" % (row[1].strip(), row[2].strip())
      examples.append(example)
    return examples

  def _labelled_split(self, data_dir, split):
    """train or dev: GLUE's file, else that part of the original release's train file."""
    path = self.split_file(data_dir, split)
    if path.endswith(".tsv"):
      return self._create_examples(path, split)
    train, dev = self._split_original(path)
    return train if split == "train" else dev

  def _split_original(self, path):
    examples = self._create_examples(path, "train")
    by_digest = sorted(examples,
                       key=lambda e: hashlib.md5(e.pair_id.encode("utf-8")).hexdigest())
    dev_guids = {example.guid for example in by_digest[:MRPC_DEV_SIZE]}
    train = [example for example in examples if example.guid not in dev_guids]
    dev = [example for example in examples if example.guid in dev_guids]
    for example in dev:
      example.guid = "dev-%d" % example.line
    return train, dev


def _unquote(text):
  return text.replace("<QUOTE>", '"')


def _examples(rows, set_type, layout, text_a, text_b=None, label=None):
  """InputExamples of rows of the columns `layout` names (", "-separated), each row
  checked: the texts in columns text_a and text_b, the label in column `label` (0-based;
  None: not there)."""
  columns = len(layout.split(", "))
  examples = []
  for row in rows:
    check_columns(row, columns, columns, layout)
    examples.append(InputExample("%s-%d" % (set_type, row.line), row[text_a],
                                 None if text_b is None else row[text_b],
                                 None if label is None else row[label].strip(),
                                 path=row.path, line=row.line))
  return examples


class ColaProcessor(TsvSplitsProcessor):
  """CoLA, single sentences (classes "0", "1").

  train.tsv and dev.tsv have no header: source, label, original mark, sentence.
  test.tsv has a header: index, sentence.
  """

  def get_labels(self):
    return ["0", "1"]

  def _create_examples(self, path, set_type):
    if set_type == "test":
      return _examples(self._read_tsv(path)[1:], "test", "index, sentence", 1)
    return _examples(self._read_tsv(path), set_type, "source, label, original mark, sentence",
                     3, label=1)


class MnliProcessor(TsvSplitsProcessor):
  """MultiNLI (classes contradiction, entailment, neutral).

  train.tsv, dev_matched.tsv, test_matched.tsv with a header; premise and hypothesis
  in columns 9 and 10, the gold label in the last column (none in the test file).
  """

  SPLIT_FILES = {"train": "train.tsv", "dev": "dev_matched.tsv", "test": "test_matched.tsv"}

  def get_labels(self):
    return ["contradiction", "entailment", "neutral"]

  def _create_examples(self, path, set_type):
    examples = []
    for row in self._read_tsv(path)[1:]:
      label = None if set_type == "test" else row[-1].strip()
      examples.append(InputExample("%s-%d" % (set_type, row.line), row[8], row[9], label,
                                   path=row.path, line=row.line))
    return examples


class QqpProcessor(TsvSplitsProcessor):
  """Quora Question Pairs (classes "0", "1").

  train.tsv, dev.tsv: header, then id, qid1, qid2, question1, question2, is_duplicate.
  test.tsv: header, then id, question1, question2.
  """

  def get_labels(self):
    return ["0", "1"]

  def _create_examples(self, path, set_type):
    if set_type == "test":
      return _examples(self._read_tsv(path)[1:], "test", "id, question1, question2", 1, 2)
    return _examples(self._read_tsv(path)[1:], set_type,
                     "id, qid1, qid2, question1, question2, is_duplicate", 3, 4, label=5)
