"""The inputs of mining: queries and corpus (`id<TAB>text`), positives (qrels or pairs).

A corpus of millions of passages is streamed, one line at a time, never read whole:
each line is decoded on its own, so that a bad byte is reported at its line, and a
passage's text is found again later by the byte offset of its line (PassageTexts).
Every bad row is an InputFileError naming the file and the line.
"""

from common import files
from common.errors import InputFileError


def id_text_rows(path, what):
  """Yields (line number, byte offset of the line, id, text) of an `id<TAB>text` file.

  Blank lines are skipped. `what` names the file's role in errors ("the corpus").
  """
  if not files.exists(path):
    raise InputFileError(path, None, "file not found; expected %s (id<TAB>text lines)" % what)
  if files.isdir(path):
    raise InputFileError(path, None, "is a directory; expected %s" % what)
  found = False
  with files.open_file(path, "rb") as f:
    offset = 0
    for number, raw in enumerate(f, start=1):
      start, offset = offset, offset + len(raw)
      line = _decoded(path, number, raw)
      if number == 1 and line.startswith("\ufeff"):
        line = line[1:]
      if not line.strip():
        continue
      fields = line.split("\t")
      if len(fields) != 2:
        hint = " (no tab on the line)" if len(fields) == 1 else " (a tab inside the text?)"
        raise InputFileError(path, number, "expected 2 tab-separated columns (id, text) "
                             "in %s, found %d%s" % (what, len(fields), hint))
      identifier, text = fields[0].strip(), fields[1].strip()
      if not identifier:
        raise InputFileError(path, number, "empty id in %s" % what)
      found = True
      yield number, start, identifier, text
  if not found:
    raise InputFileError(path, None, "holds no id<TAB>text line; expected %s" % what)


def _decoded(path, number, raw):
  if b"\x00" in raw:
    raise InputFileError(path, number, "contains a NUL byte; expected UTF-8 text")
  try:
    return raw.decode("utf-8").rstrip("\r\n")
  except UnicodeDecodeError as e:
    raise InputFileError(path, number, "not valid UTF-8 (byte 0x%02x); expected UTF-8 "
                         "text" % raw[e.start]) from None


def read_queries(path):
  """{query id: text} in file order; a repeated id is an error at its second line."""
  queries, line_of = {}, {}
  for number, _, identifier, text in id_text_rows(path, "the queries"):
    if identifier in queries:
      raise InputFileError(path, number, "query id %r already on line %d" %
                           (identifier, line_of[identifier]))
    queries[identifier] = text
    line_of[identifier] = number
  return queries


def read_positives(path, query_ids, passage_index):
  """{query id: [passage indices]}, from TREC qrels or query-id/passage-id pairs.

  A line is `query_id 0 passage_id relevance` (TREC qrels: tabs or spaces; relevance
  <= 0 is not a positive) or `query_id<TAB>passage_id`. A query or passage id that is
  not in the queries or corpus is an error at its line.

  Args:
    query_ids: the ids of the queries file (a set or dict).
    passage_index: {passage id: its index in the corpus}.
  """
  if not files.exists(path):
    raise InputFileError(path, None, "file not found; expected positives (TREC qrels or "
                         "query_id<TAB>passage_id lines)")
  positives = {}
  with files.open_file(path, "rb") as f:
    for number, raw in enumerate(f, start=1):
      line = _decoded(path, number, raw).lstrip("\ufeff")
      if not line.strip():
        continue
      fields = line.split("\t") if "\t" in line else line.split()
      fields = [field.strip() for field in fields]
      if len(fields) == 4:
        query, passage, relevance = fields[0], fields[2], fields[3]
        try:
          relevant = float(relevance) > 0
        except ValueError:
          raise InputFileError(path, number, "expected a number as the relevance in column "
                               "4 (TREC qrels: query_id 0 passage_id relevance), found %r" %
                               relevance) from None
      elif len(fields) == 2:
        (query, passage), relevant = fields, True
      else:
        raise InputFileError(path, number, "expected TREC qrels (query_id 0 passage_id "
                             "relevance) or query_id<TAB>passage_id, found %d columns" %
                             len(fields))
      if query not in query_ids:
        raise InputFileError(path, number, "query id %r is not in the queries file" % query)
      if passage not in passage_index:
        raise InputFileError(path, number, "passage id %r is not in the corpus" % passage)
      if relevant:
        found = positives.setdefault(query, [])
        if passage_index[passage] not in found:
          found.append(passage_index[passage])
  if not positives:
    raise InputFileError(path, None, "holds no positive (relevance > 0); expected TREC "
                         "qrels or query_id<TAB>passage_id lines")
  return positives


class PassageTexts:
  """A passage's text by its index, read again from the corpus at its line's offset.

  The offsets are those the index recorded; the corpus file is the one it was built
  from (the index checks its size and modification time).
  """

  def __init__(self, path, offsets):
    self.path = path
    self.offsets = offsets
    self._file = files.open_file(path, "rb")

  def text(self, index):
    self._file.seek(int(self.offsets[index]))
    line = self._file.readline().decode("utf-8").rstrip("\r\n")
    if line.startswith("\ufeff"):
      line = line[1:]
    return line.split("\t", 1)[1].strip()

  def close(self):
    self._file.close()
