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
"""InputExample and the DataProcessor base class.

A processor turns the files of a data folder into `InputExample`s. Processors written
for Google's run_classifier.py work unchanged: `self._read_tsv(path)` returns rows that
are lists of fields (common/tsv.py). Built-in processors give each example the file and
line it came from (`path=row.path, line=row.line`); an example made from a row's cells
without them takes the place the cells carry. Either way, every problem found later (a
bad score, an unknown label) is reported as "path:line: what was expected".
"""

import os

from common.errors import InputFileError
from common.tsv import Cell
from common.tsv import location_of
from common.tsv import read_tsv


def _plain(value):
  """A Cell as a plain str (the example keeps its place itself)."""
  return str(value) if isinstance(value, Cell) else value


class InputExample:
  """One sentence pair (or single sentence) with its label.

  Attributes:
    guid: a unique id, e.g. "train-12" (line 12 of train.tsv).
    text_a: the first sentence.
    text_b: the second sentence, or None for single-sentence tasks.
    label: a class name (str) for classification, a number for regression, or None
      for unlabelled test data.
    path, line: where the example was read, used in error messages. When not given,
      taken from the row cells it is made of (common.tsv.Cell), if it is.
  """

  def __init__(self, guid, text_a, text_b=None, label=None, path=None, line=None):
    if path is None:
      for value in (text_a, text_b, label):
        path, line = location_of(value)
        if path is not None:
          break
    self.guid = _plain(guid)
    self.text_a = _plain(text_a)
    self.text_b = _plain(text_b)
    self.label = _plain(label)
    self.path = path
    self.line = line

  def error(self, message):
    """An InputFileError located at this example (or at its guid when unknown)."""
    if self.path is None:
      return InputFileError("example %s" % self.guid, None, message)
    return InputFileError(self.path, self.line, message)

  def __repr__(self):
    return "InputExample(guid=%r, text_a=%r, text_b=%r, label=%r)" % (
        self.guid, self.text_a, self.text_b, self.label)


class DataProcessor:
  """Reads the train/dev/test splits of one data format.

  Subclasses implement the get_*_examples methods and `get_labels`. A regression
  processor returns None from `get_labels` and numbers as labels. `split_file` is
  optional: it names the file a split comes from in messages about the split.
  """

  def get_train_examples(self, data_dir):
    """List of InputExample for training."""
    raise NotImplementedError()

  def get_dev_examples(self, data_dir):
    """List of InputExample for evaluation."""
    raise NotImplementedError()

  def get_test_examples(self, data_dir):
    """List of InputExample for prediction (labels may be None)."""
    raise NotImplementedError()

  def get_labels(self):
    """The class names, in the order of the model's outputs; None for regression."""
    raise NotImplementedError()

  def split_file(self, data_dir, split):
    """The file the split ("train", "dev", "test") is read from, or None if unknown."""
    del data_dir, split
    return None

  @classmethod
  def _read_tsv(cls, input_file, quotechar=None):
    """Reads a tab-separated file into a list of `Row`s (see common.tsv.read_tsv)."""
    return read_tsv(input_file, quotechar)


class TsvSplitsProcessor(DataProcessor):
  """A processor whose splits are files of `data_dir`, named in SPLIT_FILES.

  Subclasses implement `_create_examples(path, set_type)`.
  """

  SPLIT_FILES = {"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"}

  def get_train_examples(self, data_dir):
    return self._create_examples(self.split_file(data_dir, "train"), "train")

  def get_dev_examples(self, data_dir):
    return self._create_examples(self.split_file(data_dir, "dev"), "dev")

  def get_test_examples(self, data_dir):
    return self._create_examples(self.split_file(data_dir, "test"), "test")

  def split_file(self, data_dir, split):
    return os.path.join(data_dir, self.SPLIT_FILES[split])

  def _create_examples(self, path, set_type):
    raise NotImplementedError()
