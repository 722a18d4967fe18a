"""JSON lines files (one JSON object a line), read with the same care as TSV files.

The text goes through read_text_lines, so encodings, byte-order marks, blank lines and
empty files are handled and reported as for a TSV file; a line that is not a JSON
object is an InputFileError at its line.
"""

import json

from common.errors import InputFileError
from common.text_files import read_text_lines

_JSON_KINDS = ((bool, "true/false"), (str, "a string"), ((int, float), "a number"),
               (list, "an array"), (type(None), "null"))


def json_kind(value):
  """What a decoded JSON value is, in JSON's words ("a string", "an array", ...)."""
  for types, kind in _JSON_KINDS:
    if isinstance(value, types):
      return kind
  return "an object"


def read_json_lines(path, expected="a JSON object"):
  """Reads a JSON lines file as [(line_number, dict)].

  `expected` describes a good line in the messages about bad ones, e.g. "path:3:
  expected a JSON object with sentence1 and sentence2, found invalid JSON (...)".
  """
  records = []
  for number, line in read_text_lines(path, what="JSON lines"):
    try:
      record = json.loads(line)
    except ValueError as e:
      problem = "%s at column %d" % (e.msg, e.colno) if hasattr(e, "colno") else str(e)
      raise InputFileError(path, number, "expected %s, found invalid JSON (%s)" %
                           (expected, problem)) from None
    if not isinstance(record, dict):
      raise InputFileError(path, number, "expected %s, found %s" %
                           (expected, json_kind(record)))
    records.append((number, record))
  return records
