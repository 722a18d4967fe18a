"""The ranking formats (processors/ranking.py): each read, and a bad row of each located."""

import os
import shutil

import pytest

from common.errors import InputFileError
from processors import get_processor

WIKIQA = os.path.join(os.path.dirname(__file__), "fixtures", "wikiqa")


def write(directory, name, text):
  path = os.path.join(str(directory), name)
  with open(path, "w", encoding="utf-8") as f:
    f.write(text)
  return path


def groups(examples):
  return [(e.query_id, e.doc_id, e.label) for e in examples]


def test_grouped_rows_with_and_without_query_ids(tmp_path):
  write(tmp_path, "train.tsv", "query\tpassage\tlabel\nq one\tp a\t1\nq one\tp b\t0\n"
        "q two\tp c\t3\n")
  write(tmp_path, "dev.tsv", "7\tq one\tp a\t2\n7\tq one\tp b\t0\n8\tq two\tp c\t1\n")
  write(tmp_path, "test.tsv", "q one\tp a\nq one\tp b\n")
  processor = get_processor("ranking")
  assert groups(processor.get_train_examples(str(tmp_path))) == [
      ("q one", "0", 1), ("q one", "1", 0), ("q two", "0", 3)]
  dev = processor.get_dev_examples(str(tmp_path))
  assert groups(dev) == [("7", "0", 2), ("7", "1", 0), ("8", "0", 1)]
  assert (dev[0].text_a, dev[0].text_b) == ("q one", "p a")
  assert [e.label for e in processor.get_test_examples(str(tmp_path))] == [None, None]


@pytest.mark.parametrize("text, line, expected", [
    ("q\tp\t1\nq\tp2\t4\n", 2, "expected a relevance label 0..3 in column 3, found '4'"),
    ("q\tp\t1\nq\tp2\n", 2, "expected 3 tab-separated columns"),
    ("q\tp\t1\nr\tp2\t0\nq\tp3\t0\n", 3, "query 'q' again, after other queries"),
])
def test_grouped_bad_rows(tmp_path, text, line, expected):
  write(tmp_path, "train.tsv", text)
  with pytest.raises(InputFileError) as error:
    get_processor("ranking").get_train_examples(str(tmp_path))
  assert error.value.line == line and expected in str(error.value)
  assert str(error.value).startswith(os.path.join(str(tmp_path), "train.tsv:%d: " % line))


def test_wikiqa_release_files():
  processor = get_processor("wikiqa")
  train = processor.get_train_examples(WIKIQA)
  assert len(train) == 10 and train[1].query_id == "1" and train[1].doc_id == "1"
  assert train[1].label == 1 and train[1].text_a == "how are lakes formed ?"
  dev = processor.get_dev_examples(WIKIQA)  # the .tsv, header skipped
  assert groups(dev)[:3] == [("1", "0", 1), ("1", "1", 0), ("2", "0", 0)]
  assert dev[0].text_b == "Bees collect nectar from flowers."
  assert processor.ranking_truth(WIKIQA, "dev").evaluated == {"1", "2"}
  assert processor.ranking_truth(WIKIQA, "test").evaluated == {"1", "2"}
  assert processor.ranking_truth(WIKIQA, "train").evaluated is None
  test = processor.get_test_examples(WIKIQA)  # the .txt with its .ref
  assert groups(test)[-1] == ("3", "0", 1)


def test_wikiqa_txt_and_ref_must_agree(tmp_path):
  for name in os.listdir(WIKIQA):
    shutil.copy(os.path.join(WIKIQA, name), str(tmp_path))
  ref = os.path.join(str(tmp_path), "WikiQA-train.ref")
  lines = open(ref).read().splitlines()
  lines[1] = "1 0 1 0"  # the .txt says 1
  write(tmp_path, "WikiQA-train.ref", "\n".join(lines) + "\n")
  with pytest.raises(InputFileError) as error:
    get_processor("wikiqa").get_train_examples(str(tmp_path))
  assert str(error.value).startswith(os.path.join(str(tmp_path), "WikiQA-train.txt:2: "))
  assert "WikiQA-train.ref:2 says 0" in str(error.value)
  write(tmp_path, "WikiQA-dev.tsv", open(os.path.join(WIKIQA, "WikiQA-dev.tsv")).read()
        .replace("\t1\n", "\tyes\n", 1))
  with pytest.raises(InputFileError) as error:
    get_processor("wikiqa").get_dev_examples(str(tmp_path))
  assert "WikiQA-dev.tsv:2: expected a relevance label" in str(error.value)


def trec_folder(directory, run="1 Q0 d2 1 9.5 bm25\n1 Q0 d1 2 3.0 bm25\n2 Q0 d3 1 2.0 bm25\n"):
  write(directory, "queries.tsv", "1\twhat is a tide\n2\twho wrote it\n3\tunused\n")
  write(directory, "collection.tsv", "d1\tTides are caused by the moon.\nd2\tSand.\n"
        "d3\tShe wrote it.\nd4\tNever retrieved.\n")
  write(directory, "dev.run", run)
  write(directory, "dev.qrels", "1 0 d1 2\n1 0 d4 1\n2 0 d3 1\n")


def test_trec_run_qrels_queries_and_collection(tmp_path):
  trec_folder(tmp_path)
  processor = get_processor("trec")
  dev = processor.get_dev_examples(str(tmp_path))
  assert groups(dev) == [("1", "d2", 0), ("1", "d1", 2), ("2", "d3", 1)]
  assert dev[1].text_a == "what is a tide" and dev[1].text_b == "Tides are caused by the moon."
  truth = processor.ranking_truth(str(tmp_path), "dev")
  assert truth.qrels["1"] == {"d1": 2, "d4": 1}  # d4, never retrieved, still counts


@pytest.mark.parametrize("run, line, expected", [
    ("1 Q0 d2 1 9.5\n", 1, "expected 6 fields (query Q0 doc rank score tag), found 5"),
    ("1 Q0 d2 1 high bm25\n", 1, "expected a number score in field 5"),
    ("1 Q0 d2 1 1 t\n1 Q0 d9 2 0.5 t\n", 2, "document 'd9' is not in"),
    ("1 Q0 d2 1 1 t\n1 Q0 d2 2 0.5 t\n", 2, "document 'd2' twice for query '1'"),
    ("5 Q0 d2 1 1 t\n", 1, "query '5' is not in"),
])
def test_trec_bad_rows(tmp_path, run, line, expected):
  trec_folder(tmp_path, run)
  with pytest.raises(InputFileError) as error:
    get_processor("trec").get_dev_examples(str(tmp_path))
  assert str(error.value).startswith(os.path.join(str(tmp_path), "dev.run:%d: " % line))
  assert expected in str(error.value)


def test_trec_bad_qrels_row(tmp_path):
  trec_folder(tmp_path)
  write(tmp_path, "dev.qrels", "1 0 d1 2\n1 0 d4\n")
  with pytest.raises(InputFileError) as error:
    get_processor("trec").get_dev_examples(str(tmp_path))
  assert str(error.value).startswith(os.path.join(str(tmp_path), "dev.qrels:2: expected 4"))


def test_triples(tmp_path):
  write(tmp_path, "train.tsv", "q one\tgood\tbad\nq two\tfine\tpoor\n")
  train = get_processor("triples").get_train_examples(str(tmp_path))
  assert [(e.query_id, e.text_b, e.label) for e in train] == [
      ("t1", "good", 1), ("t1", "bad", 0), ("t2", "fine", 1), ("t2", "poor", 0)]
  write(tmp_path, "train.tsv", "q one\tgood\tbad\nq two\tfine\n")
  with pytest.raises(InputFileError) as error:
    get_processor("triples").get_train_examples(str(tmp_path))
  assert str(error.value).startswith(os.path.join(str(tmp_path), "train.tsv:2: expected 3"))
