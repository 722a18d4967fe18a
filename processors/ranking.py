"""Ranking formats: a query's candidate passages with relevance grades (run_rerank.py).

Every example is a `RankingExample`: a (query, passage) pair with its grade (0 not
relevant; 1, 2, 3 relevant, as TREC qrels; None in unlabelled test data), the query's id
and the candidate's id within the query. A processor also gives each split's
`RankingTruth`: the qrels when the format has them (relevant passages that are not among
the candidates then count, as in trec_eval) and which queries the evaluation scores.

  ranking  grouped rows, `query<TAB>passage<TAB>label`, or `qid<TAB>query<TAB>passage<TAB>label`
           (a query's rows adjacent), in train.tsv, dev.tsv, test.tsv; labels 0..3
           (test.tsv may leave them out); a first line whose label is a word is a header.
           A fifth column, `qid<TAB>query<TAB>passage<TAB>label<TAB>teacher_score`, gives
           a teacher's score of the pair (a float: distillation, --loss=mse or
           margin_mse); the query id column is needed then.
  wikiqa   the WikiQA release's files as they are: WikiQA-train.txt with WikiQA-train.ref,
           WikiQA-{dev,test}.txt with their .ref or WikiQA-{dev,test}.tsv (with the
           header); dev and test scored on the questions of WikiQA-{dev,test}-filtered.ref.
  trec     what MS MARCO, BEIR and TREC hold: queries.tsv (id, text), corpus.tsv or
           collection.tsv (id, text), {train,dev,test}.run (TREC run: `query Q0 doc rank
           score tag`, the candidates) and {train,dev,test}.qrels (`query 0 doc grade`).
  triples  training triples `query<TAB>positive<TAB>negative` (MS MARCO's) in train.tsv,
           each a query of two candidates; dev.tsv and test.tsv as `ranking`.

Teacher scores of any format's training pairs can come from a file too (run_rerank.py's
--teacher_scores): lines `query_id<TAB>doc_id<TAB>score`, one per training pair, the ids
as the format gives them (eval_candidates.tsv and test_results.tsv show them: `ranking`'s
doc ids are the candidate's position in its query, 0 first; `triples`' query ids are
t<line> with the positive 0 and the negative 1). See read_teacher_scores.
"""

import copy
import dataclasses
import math
import os
from typing import Optional

from absl import logging

from common import files
from common.errors import InputFileError
from common.tsv import check_columns
from common.tsv import looks_like_header
from common.tsv import read_tsv
from processors.base import DataProcessor
from processors.base import InputExample

MAX_GRADE = 3
GRADES = [str(grade) for grade in range(MAX_GRADE + 1)]


class RankingExample(InputExample):
  """A (query, passage) pair of a query's candidates: InputExample + query_id, doc_id."""

  def __init__(self, guid, query, passage, label, query_id, doc_id, path=None, line=None,
               teacher_score=None):
    super().__init__(guid, query, passage, label, path=path, line=line)
    self.query_id = str(query_id)
    self.doc_id = str(doc_id)
    self.teacher_score = teacher_score  # a float, or None (see the module docstring)


@dataclasses.dataclass
class RankingTruth:
  """What a split's evaluation is judged against.

  qrels: {query_id: {doc_id: grade}}, or None: the candidates' own labels are the truth.
  evaluated: the query ids the evaluation scores, or None: every query.
  """
  qrels: Optional[dict] = None
  evaluated: Optional[frozenset] = None


def parse_grade(row, column):
  """The relevance grade 0..3 in row[column], or a located error."""
  text = row[column].strip()
  if text not in GRADES:
    raise row.error("expected a relevance label 0..%d in column %d, found %r" %
                    (MAX_GRADE, column + 1, text))
  return int(text)


def parse_score(row, column):
  """The finite float in row[column], or a located error."""
  text = row[column].strip()
  try:
    score = float(text)
  except ValueError:
    score = None
  if score is None or not math.isfinite(score):
    raise row.error("expected a teacher score (a finite number) in column %d, found %r" %
                    (column + 1, text))
  return score


def read_teacher_scores(path):
  """{(query_id, doc_id): score} of a `query_id<TAB>doc_id<TAB>score` file.

  A blank line is skipped; a first line whose score is a word is a header. A bad score,
  a wrong column count or a pair given twice is a located error (file:line).
  """
  scores, lines = {}, {}
  for row in read_tsv(path):
    if len(row) == 1 and not row[0].strip():
      continue
    check_columns(row, 3, 3, "query_id<TAB>doc_id<TAB>score")
    if row.line == 1 and looks_like_header(row[2]):
      continue
    key = (row[0].strip(), row[1].strip())
    if key in scores:
      raise row.error("query %r, document %r again (first at line %d); expected one "
                      "score per training pair" % (key[0], key[1], lines[key]))
    scores[key], lines[key] = parse_score(row, 2), row.line
  return scores


def with_teacher_scores(examples, scores, path):
  """Copies of `examples` carrying their teacher scores from `scores` (read from `path`).

  Every example needs one, and every score an example: otherwise an error naming the
  first example without a score (its file and line), or the count and a pair that
  matches no example.
  """
  out, used = [], set()
  for example in examples:
    key = (example.query_id, example.doc_id)
    if key not in scores:
      raise example.error("no teacher score for query %r, document %r in %s (%d scores "
                          "for %d training pairs); expected a line query_id<TAB>doc_id"
                          "<TAB>score for each" % (key[0], key[1], path, len(scores),
                                                    len(examples)))
    example = copy.copy(example)
    example.teacher_score = scores[key]
    used.add(key)
    out.append(example)
  if len(used) != len(scores):
    extra = next(key for key in scores if key not in used)
    raise InputFileError(path, None, "%d scores for %d training pairs; query %r, document "
                         "%r is no training pair" % (len(scores), len(examples), extra[0],
                                                      extra[1]))
  return out


def check_adjacent(examples, path):
  """Raises a located error when a query's rows are not adjacent (a query split in two)."""
  first_line, previous = {}, None
  for example in examples:
    if example.query_id != previous and example.query_id in first_line:
      raise InputFileError(example.path, example.line,
                           "query %r again, after other queries (its rows start at line "
                           "%d); expected a query's rows adjacent" % (
                               example.query_id, first_line[example.query_id]))
    first_line.setdefault(example.query_id, example.line)
    previous = example.query_id
  del path


def read_grouped(path, set_type):
  """RankingExamples of a grouped file (see the module docstring)."""
  label_optional = set_type == "test"
  rows = read_tsv(path)
  # A query id column makes four columns (test.tsv keeps the fourth, empty, without labels);
  # a teacher's score after the label, five.
  with_teacher = bool(rows) and len(rows[0]) == 5
  with_ids = bool(rows) and len(rows[0]) in (4, 5)
  layout = ("qid<TAB>query<TAB>passage<TAB>label<TAB>teacher_score" if with_teacher else
            "qid<TAB>query<TAB>passage<TAB>label" if with_ids else
            "query<TAB>passage<TAB>label")
  width = 5 if with_teacher else 4 if with_ids else 3
  label_column = 3 if with_ids else 2
  examples, position, previous = [], 0, None
  for row in rows:
    check_columns(row, width - 1 if label_optional and not with_teacher else width, width,
                  layout)
    if row.line == 1 and len(row) == width and looks_like_header(row[label_column]):
      logging.info("%s:1: header line skipped", path)
      continue
    query_id = row[0] if with_ids else row[0].strip()
    query, passage = (row[1], row[2]) if with_ids else (row[0], row[1])
    position = position + 1 if query_id == previous else 0
    previous = query_id
    label = None
    if len(row) > label_column and not (label_optional and not row[label_column].strip()):
      label = parse_grade(row, label_column)
    teacher_score = parse_score(row, 4) if with_teacher else None
    examples.append(RankingExample("%s-%d" % (set_type, row.line), query, passage, label,
                                   query_id, position, path=row.path, line=row.line,
                                   teacher_score=teacher_score))
  check_adjacent(examples, path)
  return examples


class GroupedProcessor(DataProcessor):
  """`ranking`: grouped rows in train.tsv, dev.tsv, test.tsv (see the module docstring)."""

  SPLIT_FILES = {"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"}

  def get_labels(self):
    return GRADES

  def split_file(self, data_dir, split):
    return os.path.join(data_dir, self.SPLIT_FILES[split])

  def get_train_examples(self, data_dir):
    return read_grouped(self.split_file(data_dir, "train"), "train")

  def get_dev_examples(self, data_dir):
    return read_grouped(self.split_file(data_dir, "dev"), "dev")

  def get_test_examples(self, data_dir):
    return read_grouped(self.split_file(data_dir, "test"), "test")

  def ranking_truth(self, data_dir, split):
    del data_dir, split
    return RankingTruth()


def read_trec_lines(path, layout):
  """(row, fields) of each non-blank line of a TREC file, its whitespace-separated
  fields checked against `layout` (their names, e.g. "query iteration doc grade")."""
  count = len(layout.split())
  for row in read_tsv(path):
    fields = " ".join(row).split()
    if not fields:
      continue
    if len(fields) != count:
      raise row.error("expected %d fields (%s), found %d" % (count, layout, len(fields)))
    yield row, fields


def parse_trec_field(row, fields, index, convert, what):
  """convert(fields[index]) (index 0-based), or a located error naming `what` it expected."""
  try:
    return convert(fields[index])
  except ValueError:
    raise row.error("expected %s in field %d, found %r" %
                    (what, index + 1, fields[index])) from None


def read_qrels(path):
  """{query_id: {doc_id: grade}} of a TREC qrels file (`query iteration doc grade`)."""
  qrels = {}
  for row, fields in read_trec_lines(path, "query iteration doc grade"):
    grade = parse_trec_field(row, fields, 3, int, "an integer grade")
    if grade < 0:
      grade = 0  # TREC's -1 / -2: judged not relevant
    qrels.setdefault(fields[0], {})[fields[2]] = grade
  return qrels


def read_run(path):
  """[(query_id, doc_id, row)] of a TREC run (`query Q0 doc rank score tag`), best first.

  Within a query, candidates are ordered by score, descending (ties by doc id
  descending, as trec_eval orders them), not by the rank column.
  """
  entries, seen = [], set()
  for row, fields in read_trec_lines(path, "query Q0 doc rank score tag"):
    score = parse_trec_field(row, fields, 4, float, "a number score")
    if (fields[0], fields[2]) in seen:
      raise row.error("document %r twice for query %r" % (fields[2], fields[0]))
    seen.add((fields[0], fields[2]))
    entries.append((fields[0], fields[2], score, row))
  order = {}
  for entry in entries:
    order.setdefault(entry[0], []).append(entry)
  ranked = []
  for query_entries in order.values():
    query_entries.sort(key=lambda e: (e[2], e[1]), reverse=True)
    ranked.extend((e[0], e[1], e[3]) for e in query_entries)
  return ranked


def read_id_texts(path, wanted=None):
  """{id: text} of an `id<TAB>text` file; only the ids in `wanted` when it is given."""
  texts = {}
  for row in read_tsv(path):
    check_columns(row, 2, 2, "id<TAB>text")
    key = row[0].strip()
    if wanted is None or key in wanted:
      texts[key] = row[1]
  return texts


class TrecProcessor(DataProcessor):
  """`trec`: queries.tsv, corpus.tsv (or collection.tsv), <split>.run and <split>.qrels."""

  def get_labels(self):
    return GRADES

  def split_file(self, data_dir, split):
    return os.path.join(data_dir, "%s.run" % split)

  def _corpus_path(self, data_dir):
    for name in ("corpus.tsv", "collection.tsv"):
      path = os.path.join(data_dir, name)
      if files.exists(path):
        return path
    raise InputFileError(os.path.join(data_dir, "corpus.tsv"), None,
                         "file not found (nor collection.tsv); expected id<TAB>text lines")

  def _qrels_path(self, data_dir, split):
    return os.path.join(data_dir, "%s.qrels" % split)

  def _examples(self, data_dir, split):
    run = read_run(self.split_file(data_dir, split))
    qrels_path = self._qrels_path(data_dir, split)
    qrels = read_qrels(qrels_path) if files.exists(qrels_path) else None
    if qrels is None and split != "test":
      raise InputFileError(qrels_path, None, "file not found; the %s split needs the "
                           "relevance judgements of its run" % split)
    queries_path = os.path.join(data_dir, "queries.tsv")
    queries = read_id_texts(queries_path, {query for query, _, _ in run})
    corpus_path = self._corpus_path(data_dir)
    corpus = read_id_texts(corpus_path, {doc for _, doc, _ in run})
    examples = []
    for query_id, doc_id, row in run:
      if query_id not in queries:
        raise row.error("query %r is not in %s" % (query_id, queries_path))
      if doc_id not in corpus:
        raise row.error("document %r is not in %s" % (doc_id, corpus_path))
      label = None if qrels is None else qrels.get(query_id, {}).get(doc_id, 0)
      if label is not None:
        label = min(label, MAX_GRADE)
      examples.append(RankingExample("%s-%d" % (split, row.line), queries[query_id],
                                     corpus[doc_id], label, query_id, doc_id,
                                     path=row.path, line=row.line))
    return examples

  def get_train_examples(self, data_dir):
    return self._examples(data_dir, "train")

  def get_dev_examples(self, data_dir):
    return self._examples(data_dir, "dev")

  def get_test_examples(self, data_dir):
    return self._examples(data_dir, "test")

  def ranking_truth(self, data_dir, split):
    path = self._qrels_path(data_dir, split)
    return RankingTruth(qrels=read_qrels(path) if files.exists(path) else None)


class TriplesProcessor(GroupedProcessor):
  """`triples`: train.tsv of `query<TAB>positive<TAB>negative`; dev/test grouped rows."""

  def get_train_examples(self, data_dir):
    path = self.split_file(data_dir, "train")
    examples = []
    for row in read_tsv(path):
      check_columns(row, 3, 3, "query<TAB>positive<TAB>negative")
      query_id = "t%d" % row.line  # each triple its own query of two candidates
      for position, (column, label) in enumerate(((1, 1), (2, 0))):
        examples.append(RankingExample("train-%d-%d" % (row.line, position), row[0],
                                       row[column], label, query_id, position,
                                       path=row.path, line=row.line))
    return examples


class WikiqaProcessor(DataProcessor):
  """`wikiqa`: the WikiQA release's files (see the module docstring).

  Question and candidate ids are those of the .ref files: questions numbered from 1 in
  file order, candidates from 0 within a question. The .txt files (tokenized) are read
  where they are, so that dev and test are tokenized as train is; else the .tsv.
  """

  def get_labels(self):
    return ["0", "1"]

  def split_file(self, data_dir, split):
    txt = os.path.join(data_dir, "WikiQA-%s.txt" % split)
    if split == "train" or files.exists(txt):
      return txt
    return os.path.join(data_dir, "WikiQA-%s.tsv" % split)

  def _ref_path(self, data_dir, split):
    return os.path.join(data_dir, "WikiQA-%s.ref" % split)

  def _from_txt(self, data_dir, split):
    path = self.split_file(data_dir, split)
    ref_path = self._ref_path(data_dir, split)
    rows = read_tsv(path)
    refs = [row for row in read_tsv(ref_path)]
    if len(refs) != len(rows):
      raise InputFileError(ref_path, None, "%d lines for the %d of %s; expected one per "
                           "line, in the same order" % (len(refs), len(rows), path))
    examples = []
    for row, ref in zip(rows, refs):
      check_columns(row, 3, 3, "question<TAB>sentence<TAB>label")
      fields = " ".join(ref).split()
      if len(fields) != 4:
        raise ref.error("expected 4 fields (question 0 candidate label), found %d" %
                        len(fields))
      label = parse_grade(row, 2)
      if label > 1:
        raise row.error("expected a label 0 or 1 in column 3, found %d" % label)
      if fields[3] != str(label):
        raise row.error("label %d, but %s:%d says %s" % (label, ref_path, ref.line,
                                                          fields[3]))
      examples.append(RankingExample("%s-%d" % (split, row.line), row[0], row[1], label,
                                     fields[0], fields[2], path=row.path, line=row.line))
    check_adjacent(examples, path)
    return examples

  def _from_tsv(self, path, split):
    rows = read_tsv(path)
    layout = "QuestionID<TAB>Question<TAB>DocumentID<TAB>DocumentTitle<TAB>SentenceID" \
             "<TAB>Sentence<TAB>Label"
    examples, numbers, previous, position = [], {}, None, 0
    for row in rows:
      if row.line == 1 and row and row[0] == "QuestionID":
        continue
      check_columns(row, 7, 7, layout)
      question = row[0]
      if question not in numbers:
        numbers[question] = len(numbers) + 1
      position = position + 1 if question == previous else 0
      previous = question
      label = parse_grade(row, 6)
      if label > 1:
        raise row.error("expected a label 0 or 1 in column 7, found %d" % label)
      examples.append(RankingExample("%s-%d" % (split, row.line), row[1], row[5], label,
                                     numbers[question], position, path=row.path,
                                     line=row.line))
    check_adjacent(examples, path)
    return examples

  def _examples(self, data_dir, split):
    path = self.split_file(data_dir, split)
    if path.endswith(".txt"):
      return self._from_txt(data_dir, split)
    return self._from_tsv(path, split)

  def get_train_examples(self, data_dir):
    return self._examples(data_dir, "train")

  def get_dev_examples(self, data_dir):
    return self._examples(data_dir, "dev")

  def get_test_examples(self, data_dir):
    return self._examples(data_dir, "test")

  def ranking_truth(self, data_dir, split):
    """Dev and test: the questions of -filtered.ref (a correct and a wrong candidate)."""
    if split == "train":
      return RankingTruth()
    path = os.path.join(data_dir, "WikiQA-%s-filtered.ref" % split)
    if not files.exists(path):
      logging.warning("%s is not there: every %s question with a correct sentence is "
                      "scored", path, split)
      return RankingTruth()
    return RankingTruth(evaluated=frozenset(read_qrels(path)))
