"""InputExample, the DataProcessor base class, and a TSV reader that knows file and line.

A processor turns the files of a data folder into `InputExample`s. Processors written
for Google's run_classifier.py work unchanged: `self._read_tsv(path)` returns rows that
are lists of fields. Each row also remembers its file and line, so that every problem
found later (a missing column, a bad score, an unknown label) is reported as
"path:line: what was expected".
"""

import csv
import math
import os
import re
import threading

from absl import logging
import tensorflow as tf

from finetune.errors import InputFileError

# The file and row a processor read last, per thread. An InputExample made while a
# processor walks its rows takes that row's place in the file, so user processors get
# located error messages without passing anything.
_last_read = threading.local()


class Row(list):
  """The fields of one line of a TSV file, with `path` and `line` (1-based)."""

  def __init__(self, fields, path, line):
    super().__init__(fields)
    self.path = path
    self.line = line

  def __getitem__(self, index):
    _last_read.row = self
    try:
      return super().__getitem__(index)
    except IndexError:
      wanted = index + 1 if index >= 0 else -index
      raise InputFileError(
          self.path, self.line, "expected at least %d tab-separated columns, found %d" %
          (wanted, len(self))) from None

  def error(self, message):
    """An InputFileError at this row."""
    return InputFileError(self.path, self.line, message)


def current_row_location():
  """(path, line) of the row a processor read last in this thread.

  (path, None) when a file was read but none of its rows looked at yet; (None, None)
  when nothing was read.
  """
  row = getattr(_last_read, "row", None)
  if row is not None:
    return row.path, row.line
  return getattr(_last_read, "path", None), None


def reset_row_location():
  """Forgets what was read (called before a processor starts on a split)."""
  _last_read.row = None
  _last_read.path = None


class InputExample:
  """One sentence pair (or single sentence) with its label.

  Attributes:
    guid: a unique id, e.g. "train-12" (line 12 of train.tsv).
    text_a: the first sentence.
    text_b: the second sentence, or None for single-sentence tasks.
    label: a class name (str) for classification, a number for regression, or None
      for unlabelled test data.
    path, line: where the example was read (filled in automatically when the example is
      made from a `Row`), used in error messages.
  """

  def __init__(self, guid, text_a, text_b=None, label=None, path=None, line=None):
    self.guid = guid
    self.text_a = text_a
    self.text_b = text_b
    self.label = label
    if path is None:
      path, line = current_row_location()
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
  processor returns None from `get_labels` and numbers as labels.
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

  @classmethod
  def _read_tsv(cls, input_file, quotechar=None):
    """Reads a tab-separated file into a list of `Row`s (see read_tsv)."""
    return read_tsv(input_file, quotechar)


class TsvSplitsProcessor(DataProcessor):
  """A processor whose splits are files of `data_dir`, named in SPLIT_FILES.

  Subclasses implement `_create_examples(path, set_type)`.
  """

  SPLIT_FILES = {"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"}

  def get_train_examples(self, data_dir):
    return self._create_examples(os.path.join(data_dir, self.SPLIT_FILES["train"]), "train")

  def get_dev_examples(self, data_dir):
    return self._create_examples(os.path.join(data_dir, self.SPLIT_FILES["dev"]), "dev")

  def get_test_examples(self, data_dir):
    return self._create_examples(os.path.join(data_dir, self.SPLIT_FILES["test"]), "test")

  def _create_examples(self, path, set_type):
    raise NotImplementedError()


# Files that are not text, by their first bytes, and what they probably are.
_NOT_TEXT = (
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx workbook?)"),
    (b"\xd0\xcf\x11\xe0", "an Office document (an Excel .xls workbook?)"),
    (b"\x1f\x8b", "gzip-compressed (gunzip it first)"),
    (b"%PDF", "a PDF document"),
)
# Longer lines than this are reported: usually a file whose line breaks were lost.
LONG_LINE_CHARS = 100000


def _decode(path, data):
  """The text of a file's bytes, or an InputFileError saying what the bytes are."""
  problem = None
  if b"\x00" not in data:
    try:
      return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
      problem = e
  for magic, what in _NOT_TEXT:
    if data.startswith(magic):
      raise InputFileError(path, None, "is %s, not text; expected UTF-8 tab-separated text "
                           "(export it as tab-separated text, UTF-8)" % what)
  if data.startswith((b"\xff\xfe", b"\xfe\xff")):
    raise InputFileError(path, None, "is UTF-16 text (as Excel's \"Unicode Text\" export "
                         "writes it); expected UTF-8. Convert it first, e.g. iconv -f "
                         "UTF-16 -t UTF-8")
  if problem is None:
    line = data[:data.index(b"\x00")].count(b"\n") + 1
    raise InputFileError(path, line, "contains a NUL byte; expected a UTF-8 text file")
  line = data[:problem.start].count(b"\n") + 1
  raise InputFileError(
      path, line, "not valid UTF-8 (byte 0x%02x); expected a UTF-8 text file. Convert "
      "it first, e.g. iconv -f GBK -t UTF-8" % data[problem.start])


def read_text_lines(path):
  """Reads a UTF-8 text file as [(line_number, text)], without the line breaks.

  A leading byte-order mark and "\\r" before "\\n" are dropped; a file with no "\\n"
  but "\\r" line breaks (old Mac, some spreadsheet exports) is split on "\\r". Blank
  lines are skipped and counted in the log. Missing files, folders, files that are not
  UTF-8 text and files without a non-blank line raise InputFileError.
  """
  _last_read.path, _last_read.row = path, None
  if not tf.io.gfile.exists(path):
    raise InputFileError(path, None, "file not found")
  if tf.io.gfile.isdir(path):
    raise InputFileError(path, None, "is a directory; expected a text file")
  with tf.io.gfile.GFile(path, "rb") as f:
    data = f.read()
  text = _decode(path, data)
  lines = text.split("\n" if "\n" in text or "\r" not in text else "\r")
  if lines and lines[-1] == "":
    lines.pop()
  numbered, blank = [], 0
  for number, line in enumerate(lines, start=1):
    if line.endswith("\r"):
      line = line[:-1]
    if not line.strip():
      blank += 1
      continue
    if len(line) > LONG_LINE_CHARS:
      logging.warning("%s:%d: a line of %d characters (lost line breaks?); each sentence "
                      "is cut to --max_seq_length tokens", path, number, len(line))
    numbered.append((number, line))
  if not numbered:
    if blank:
      raise InputFileError(path, None, "holds only blank lines; expected tab-separated "
                           "lines")
    raise InputFileError(path, None, "the file is empty; expected tab-separated lines")
  if blank:
    logging.info("%s: skipped %d blank line(s)", path, blank)
  return numbered


def read_tsv(path, quotechar=None):
  """Reads a tab-separated file into a list of `Row`s.

  Fields are split on every tab: there is no quoting unless `quotechar` is given, as in
  Google's scripts (sentences may contain quote marks).
  """
  numbered = read_text_lines(path)
  if quotechar is None:
    return [Row(line.split("\t"), path, number) for number, line in numbered]
  rows = []
  for number, line in numbered:
    try:
      fields = next(csv.reader([line], delimiter="\t", quotechar=quotechar))
    except csv.Error as e:
      raise InputFileError(path, number, "unreadable quoted field (%s)" % e) from None
    rows.append(Row(fields, path, number))
  return rows


_HEADER_WORD = re.compile(r"^[A-Za-z_#][\w #]*$")


def looks_like_header(field):
  """True for a column name such as "score" or "label" (not a number, not a typo'd one)."""
  return bool(_HEADER_WORD.match(field.strip())) and not _is_number(field)


def _is_number(text):
  try:
    float(text)
    return True
  except ValueError:
    return False


def parse_score(row, column):
  """The finite real number in `row[column]`, or an error naming file, line and column."""
  text = row[column].strip()
  try:
    value = float(text)
  except ValueError:
    if not text:
      found = "an empty cell"
    elif re.fullmatch(r"[-+]?\d*,\d+", text):
      found = "%r (a decimal comma? write %s)" % (text, text.replace(",", "."))
    else:
      found = repr(text)
    raise row.error("expected a real number score in column %d, found %s" %
                    (column + 1, found)) from None
  if not math.isfinite(value):
    raise row.error("expected a finite score in column %d, found %r" % (column + 1, text))
  return value


def check_columns(row, minimum, maximum, layout):
  """Raises a located error unless minimum <= len(row) <= maximum."""
  if minimum <= len(row) <= maximum:
    return
  expected = str(minimum) if minimum == maximum else "%d to %d" % (minimum, maximum)
  hint = ""
  if len(row) > maximum:
    # Fields are split on every tab, quoted or not, as Google's scripts split them.
    quoted = any('"' in field for field in row)
    hint = (" (a tab inside a quoted sentence? quotes do not protect tabs here)" if quoted
            else " (a tab inside a sentence?)")
  elif len(row) == 1:
    hint = " (no tab on the line: is the file comma-separated?)"
  raise row.error("expected %s tab-separated columns (%s), found %d%s" %
                  (expected, layout, len(row), hint))
