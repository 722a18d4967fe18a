"""Chinese sentence-pair benchmarks: AFQMC, BQ, PAWS-X (zh), ATEC, CNSD STS-B.

Each task reads three files of --data_dir; the label may be absent from the test file.

  afqmc     train.json, dev.json, test.json: JSON lines,
            {"sentence1": ..., "sentence2": ..., "label": "0"|"1"} (test: "id", no label)
  bq        train.tsv, dev.tsv, test.tsv: sentence1<TAB>sentence2<TAB>0|1, an optional
            header line
  pawsx     the same as bq
  atec      train.tsv, dev.tsv, test.tsv: id<TAB>sentence1<TAB>sentence2<TAB>0|1
  cnsd_sts  cnsd-sts-train.txt, cnsd-sts-dev.txt, cnsd-sts-test.txt:
            source||sentence1||sentence2||score, a score from 0 to 5 (regression)
"""

import json

from common.errors import InputFileError
from common.json_lines import json_kind
from common.json_lines import read_json_lines
from common.text_files import read_text_lines
from common.tsv import check_columns
from common.tsv import parse_score
from common.tsv import Row
from processors.base import InputExample
from processors.base import TsvSplitsProcessor
from processors.similarity import LcqmcProcessor


class AfqmcProcessor(TsvSplitsProcessor):
  """CLUE AFQMC (Ant Financial question matching), classes "0", "1".

  train.json, dev.json, test.json, one JSON object a line:
  {"sentence1": "...", "sentence2": "...", "label": "1"}. Test lines carry an "id" and
  may lack the label. A numeric label (1) reads as the string "1". The guid is
  "<split>-<id>", or "<split>-<line>" for a line without an id.
  """

  SPLIT_FILES = {"train": "train.json", "dev": "dev.json", "test": "test.json"}
  EXPECTED = "a JSON object with sentence1 and sentence2 (and label)"

  def get_labels(self):
    return ["0", "1"]

  def _create_examples(self, path, set_type):
    required = ("sentence1", "sentence2") + (() if set_type == "test" else ("label",))
    examples = []
    for number, record in read_json_lines(path, self.EXPECTED):
      for key in required:
        if key not in record:
          raise InputFileError(path, number, "expected %s, found no %s (keys: %s)" %
                               (self.EXPECTED, key, ", ".join(record) or "none"))
      for key in ("sentence1", "sentence2"):
        if not isinstance(record[key], str):
          raise InputFileError(path, number, "expected %s, found %s as %s" %
                               (self.EXPECTED, key, json_kind(record[key])))
      label = _as_text(record["label"]).strip() if "label" in record else None
      guid = "%s-%s" % (set_type, _as_text(record.get("id", number)))
      examples.append(InputExample(guid, record["sentence1"], record["sentence2"], label,
                                   path=path, line=number))
    return examples


def _as_text(value):
  """A JSON string as it is; any other value as written in JSON (1 -> "1")."""
  return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


class BqProcessor(LcqmcProcessor):
  """BQ corpus (bank customer questions), classes "0", "1".

  train.tsv, dev.tsv, test.tsv: `sentence1<TAB>sentence2<TAB>label`; the label may be
  absent from test.tsv. A first line whose label column is a word (e.g.
  "sentence1<TAB>sentence2<TAB>label") is a header and is skipped.
  """

  LAYOUT = "sentence1<TAB>sentence2<TAB>label"


class PawsxProcessor(BqProcessor):
  """PAWS-X Chinese (paraphrase adversaries), classes "0", "1": BQ's layout.

  train.tsv, dev.tsv, test.tsv: `sentence1<TAB>sentence2<TAB>label`, an optional header.
  """


class AtecProcessor(TsvSplitsProcessor):
  """ATEC (Ant Financial semantic similarity), classes "0", "1".

  train.tsv, dev.tsv, test.tsv: `id<TAB>sentence1<TAB>sentence2<TAB>label`, no header;
  the label may be absent from test.tsv.
  """

  LAYOUT = "id<TAB>sentence1<TAB>sentence2<TAB>label"

  def get_labels(self):
    return ["0", "1"]

  def _create_examples(self, path, set_type):
    examples = []
    for row in self._read_tsv(path):
      check_columns(row, 3 if set_type == "test" else 4, 4, self.LAYOUT)
      label = row[3].strip() if len(row) == 4 else None
      examples.append(InputExample("%s-%d" % (set_type, row.line), row[1], row[2], label,
                                   path=row.path, line=row.line))
    return examples


class CnsdStsProcessor(TsvSplitsProcessor):
  """Chinese STS-B of CNSD (regression, scores 0..5).

  cnsd-sts-train.txt, cnsd-sts-dev.txt, cnsd-sts-test.txt:
  `source||sentence1||sentence2||score`, fields separated by the two characters "||";
  the score may be absent from the test file. LABEL_RANGE maps 0..5 onto the sigmoid
  head without --label_min/--label_max.
  """

  SPLIT_FILES = {"train": "cnsd-sts-train.txt", "dev": "cnsd-sts-dev.txt",
                 "test": "cnsd-sts-test.txt"}
  LAYOUT = "source||sentence1||sentence2||score"
  LABEL_RANGE = (0.0, 5.0)

  def get_labels(self):
    return None

  def _create_examples(self, path, set_type):
    minimum = 3 if set_type == "test" else 4
    examples = []
    for number, text in read_text_lines(path, what="lines of " + self.LAYOUT):
      row = Row(text.split("||"), path, number)
      if not minimum <= len(row) <= 4:
        raise row.error("expected %s ||-separated fields (%s), found %d" % (
            minimum if minimum == 4 else "3 to 4", self.LAYOUT, len(row)))
      score = parse_score(row, 3) if len(row) == 4 else None
      if score is not None and not self.LABEL_RANGE[0] <= score <= self.LABEL_RANGE[1]:
        raise row.error("expected a score from %g to %g in column 4, found %s" %
                        (self.LABEL_RANGE + (row[3].strip(),)))
      examples.append(InputExample("%s-%d" % (set_type, number), row[1], row[2], score,
                                   path=path, line=number))
    return examples
