"""Tab-separated files as rows that know their file and line, and the checks on their cells.

`read_tsv(path)` returns `Row`s: lists of fields, as Google's scripts' `_read_tsv` did, that
also carry `path` and `line`. A row asked for a column it lacks raises ShortRowError
("path:line: expected at least 4 tab-separated columns, found 3"). Its cells (`row[i]`)
are `Cell`s, strings that carry the same place, so that an InputExample made from them by
a processor written for Google's scripts knows where it was read without being told.
"""

import csv
import math
import re

from common.errors import InputFileError
from common.errors import ShortRowError
from common.text_files import read_text_lines


class Cell(str):
  """A field of a row: a str that also has `path` and `line`."""

  def __new__(cls, text, path, line):
    cell = super().__new__(cls, text)
    cell.path = path
    cell.line = line
    return cell


def location_of(value):
  """(path, line) of a Cell, else (None, None)."""
  if isinstance(value, Cell):
    return value.path, value.line
  return None, None


class Row(list):
  """The fields of one line of a TSV file, with `path` and `line` (1-based)."""

  def __init__(self, fields, path, line):
    super().__init__(fields)
    self.path = path
    self.line = line

  def __getitem__(self, index):
    try:
      value = super().__getitem__(index)
    except IndexError:
      wanted = index + 1 if index >= 0 else -index
      raise ShortRowError(self.path, self.line,
                          "expected at least %d tab-separated columns, found %d" %
                          (wanted, len(self))) from None
    if isinstance(index, slice):
      return [Cell(field, self.path, self.line) for field in value]
    return Cell(value, self.path, self.line)

  def error(self, message):
    """An InputFileError at this row."""
    return InputFileError(self.path, self.line, message)


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
