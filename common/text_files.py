"""Reading a data file as numbered lines of UTF-8 text, or saying what the file is instead.

Spreadsheets and editors export text in many ways; each way a file can fail to be UTF-8
text (a workbook, UTF-16, GBK, a NUL byte) is an InputFileError naming the file and, where
there is one, the line.
"""

from absl import logging

from common import files
from common.errors import InputFileError

# Files that are not text, by their first bytes, and what they probably are.
_NOT_TEXT = (
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx workbook?)"),
    (b"\xd0\xcf\x11\xe0", "an Office document (an Excel .xls workbook?)"),
    (b"\x1f\x8b", "gzip-compressed (gunzip it first)"),
    (b"%PDF", "a PDF document"),
)
# Longer lines than this are reported: usually a file whose line breaks were lost.
LONG_LINE_CHARS = 100000


def decode(path, data):
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


def split_lines(text):
  """Lines of `text` without their breaks: "\\n" (with or without "\\r"), or "\\r" alone.

  A file with no "\\n" but "\\r" line breaks (old Mac, some spreadsheet exports) is split
  on "\\r"; a last empty line (after a final line break) is dropped.
  """
  lines = text.split("\n" if "\n" in text or "\r" not in text else "\r")
  if lines and lines[-1] == "":
    lines.pop()
  return [line[:-1] if line.endswith("\r") else line for line in lines]


def read_text_lines(path, what="tab-separated lines"):
  """Reads a UTF-8 text file as [(line_number, text)], without the line breaks.

  A leading byte-order mark is dropped. Blank lines are skipped and counted in the log.
  Missing files, folders, files that are not UTF-8 text and files without a non-blank
  line raise InputFileError. `what` names the expected content in those messages.
  """
  if not files.exists(path):
    raise InputFileError(path, None, "file not found")
  if files.isdir(path):
    raise InputFileError(path, None, "is a directory; expected a text file")
  numbered, blank = [], 0
  for number, line in enumerate(split_lines(decode(path, files.read_bytes(path))), start=1):
    if not line.strip():
      blank += 1
      continue
    if len(line) > LONG_LINE_CHARS:
      logging.warning("%s:%d: a line of %d characters (lost line breaks?); each sentence "
                      "is cut to --max_seq_length tokens", path, number, len(line))
    numbered.append((number, line))
  if not numbered:
    if blank:
      raise InputFileError(path, None, "holds only blank lines; expected %s" % what)
    raise InputFileError(path, None, "the file is empty; expected %s" % what)
  if blank:
    logging.info("%s: skipped %d blank line(s)", path, blank)
  return numbered
