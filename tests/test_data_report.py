"""The data report (data_report.json) on data made for it, with every count known.

Texts are made of Chinese characters, each one token of the bert-base-chinese
vocabulary, so a pair of n and m characters is n + m + 3 tokens as the model sees it.
The zh_model fixture has max_position_embeddings 64, which caps the suggestion and is
how far each sentence's tokens are counted.
"""

import json
import os

import numpy as np
import pytest

from common.errors import InputFileError
from common.errors import UserError
from finetune import options as options_lib
from finetune import pipeline
from finetune.data import data_report
from finetune.data import feature_workers
from finetune.data import features as features_lib
from finetune.data import record_cache
from finetune.tasks import ClassificationTask
from finetune.tasks import RegressionTask
from helpers import CHINESE_VOCAB
from helpers import run_script
from processors import get_processor
from processors import InputExample
import tokenization_fast


def _pool():
  with open(CHINESE_VOCAB, encoding="utf-8") as f:
    tokens = f.read().split("\n")
  return [token for token in tokens if len(token) == 1 and "\u4e00" <= token <= "\u9fff"]


POOL = _pool()


def text(start, length):
  """`length` distinct CJK characters (one token each) from POOL[start:]."""
  return "".join(POOL[start:start + length])


A, B, C, D = text(0, 5), text(5, 5), text(10, 6), text(16, 6)
E, F, G, H = text(22, 10), text(32, 10), text(42, 20), text(62, 2)
I, J1, J2 = text(64, 4), text(68, 1), text(69, 1)
K1, K2, M = text(70, 1), text(71, 1), text(72, 3)
N, O, P, Q = text(75, 4), text(79, 4), text(83, 30), text(113, 30)
R, S = text(143, 3), text(146, 3)

# sim (regression): sentence_a, sentence_b, score. Lengths in tokens at the right.
SIM_TRAIN = [
    (A, B, "0.5"),                     # 1: 13
    (B, A, "0.5"),                     # 2: 13, row 1 in the other order, same score
    (C, D, "0.2"),                     # 3: 15
    (C, D, "0.8"),                     # 4: 15, row 3 again, another score
    (C, D, "0.2"),                     # 5: 15, row 3 a third time
    (E, F, "1.0"),                     # 6: 23, cut at 16 (7 tokens lost)
    (G, H, "0.0"),                     # 7: 25, cut at 16 (9 tokens lost)
    ("  ", I, "0.3"),                  # 8: 7, text_a whitespace only
    (J1 + " " + J2, K1 + K2, "0.4"),   # 9: 7
    (" %s  %s" % (J1, J2), K1 + K2, "0.4"),  # 10: 7, row 9 with other whitespace
    (M, "", "0.6"),                    # 11: 6, text_b empty
]
SIM_DEV = [
    (B, A, "0.5"),                     # 1: row 1 of train, in the other order
    (D, C, "0.9"),                     # 2: row 3 of train, in the other order
    (N, O, "0.1"),                     # 3: 11, not in train
    (J1 + "\u3000" + J2, K1 + K2 + " ", "0.4"),  # 4: row 9 of train (U+3000 a space too)
    (P, Q, "0.7"),                     # 5: 63, cut at 16 (47 tokens lost)
]
SIM_TEST = [(A, B), (R, S)]  # no scores; row 1 stands in train


def write_tsv(path, rows):
  with open(path, "w", encoding="utf-8") as f:
    f.writelines("\t".join(row) + "\n" for row in rows)


def sim_data(directory):
  os.makedirs(directory, exist_ok=True)
  for name, rows in (("train", SIM_TRAIN), ("dev", SIM_DEV), ("test", SIM_TEST)):
    write_tsv(os.path.join(directory, name + ".tsv"), rows)
  return str(directory)


def run_options(zh_model, data_dir, output_dir, task_name, **flags):
  values = dict(data_dir=data_dir, task_name=task_name, output_dir=str(output_dir),
                bert_config_file=os.path.join(zh_model, "bert_config.json"),
                vocab_file=os.path.join(zh_model, "vocab.txt"), max_seq_length=16,
                conversion_workers=1)
  values.update(flags)
  return options_lib.make_run_options(**values)


def report_only(zh_model, data_dir, output_dir, task_name, task, **flags):
  """Runs the pipeline with --data_report_only; returns data_report.json, parsed."""
  options = run_options(zh_model, data_dir, output_dir, task_name, data_report_only=True,
                        **flags)
  pipeline.run(task, get_processor(task_name), options)
  with open(os.path.join(output_dir, "data_report.json"), encoding="utf-8") as f:
    return json.load(f)


def test_regression_report_has_every_count(zh_model, tmp_path, caplog):
  data_dir = sim_data(tmp_path / "data")
  output_dir = tmp_path / "out"
  caplog.set_level("INFO")
  report = report_only(zh_model, data_dir, output_dir, "sim", RegressionTask())
  train_tsv = os.path.join(data_dir, "train.tsv")
  dev_tsv = os.path.join(data_dir, "dev.tsv")
  assert sorted(os.listdir(output_dir)) == ["data_report.json"]  # nothing else written
  assert list(report["splits"]) == ["train", "dev", "test"]  # every split there
  assert report["settings"] == {
      "task_name": "sim", "data_dir": data_dir,
      "vocab_file": os.path.join(zh_model, "vocab.txt"), "do_lower_case": True,
      "bert_config_file": os.path.join(zh_model, "bert_config.json"), "max_seq_length": 16,
      "max_position_embeddings": 64, "lengths_counted_up_to": 64}

  train = report["splits"]["train"]
  assert train["source"] == train_tsv and train["rows"] == 11
  # Scores over 0..1 (the sigmoid head's range): 0.3 falls in 0.3..0.4, 1.0 in the last.
  assert train["labels"] == {
      "kind": "scores", "labelled": 11, "min": 0.0, "max": 1.0,
      "mean": pytest.approx(4.9 / 11, abs=1e-6),
      "histogram": {"edges": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0],
                    "counts": [1, 0, 2, 1, 2, 2, 1, 0, 1, 1]}}
  # Lengths 6, 7, 7, 7, 13, 13, 15, 15, 15, 23, 25.
  assert train["token_lengths"] == {"p50": 13, "p90": 23, "p99": 25, "max": 25,
                                    "mean": round(146 / 11, 2), "at_least": 0}
  assert (train["cut_pairs"], train["cut_share"], train["tokens_lost"]) == (2, 0.1818, 16)
  assert train["tokens_lost_is_lower_bound"] is False
  assert train["suggested_max_seq_length"] == 32
  # Rows 1-2 (either order), 3-4-5 (scores 0.2, 0.8, 0.2) and 9-10 (whitespace).
  assert (train["duplicate_pairs"], train["duplicate_rows"],
          train["duplicate_pairs_disagreeing"]) == (3, 4, 1)
  assert "pairs_in_train" not in train
  assert train["empty_texts"] == {"text_a": 1, "text_b": 1}
  assert train["places"] == {
      "duplicate_pairs": ["%s:1 (0.5) = %s:2 (0.5)" % (train_tsv, train_tsv),
                          "%s:3 (0.2) = %s:4 (0.8) = %s:5 (0.2)" % ((train_tsv,) * 3),
                          "%s:9 (0.4) = %s:10 (0.4)" % (train_tsv, train_tsv)],
      "duplicate_pairs_disagreeing": ["%s:3 (0.2) = %s:4 (0.8) = %s:5 (0.2)" %
                                      ((train_tsv,) * 3)],
      "empty_texts": ["%s:8" % train_tsv, "%s:11" % train_tsv]}

  dev = report["splits"]["dev"]
  assert dev["rows"] == 5 and dev["labels"]["labelled"] == 5
  assert dev["token_lengths"]["max"] == 63 and dev["token_lengths"]["p50"] == 13
  assert (dev["cut_pairs"], dev["tokens_lost"]) == (1, 47)
  assert dev["suggested_max_seq_length"] == 64  # 63 -> 64, the model's positions
  assert dev["pairs_in_train"] == 3
  assert dev["places"]["pairs_in_train"] == [
      "%s:1 = %s:1" % (dev_tsv, train_tsv), "%s:2 = %s:3" % (dev_tsv, train_tsv),
      "%s:4 = %s:9" % (dev_tsv, train_tsv)]
  assert (dev["duplicate_pairs"], dev["duplicate_pairs_disagreeing"]) == (0, 0)

  test = report["splits"]["test"]
  assert test["labels"] is None  # test.tsv has no scores
  assert (test["rows"], test["pairs_in_train"], test["cut_pairs"]) == (2, 1, 0)

  assert report["suggested_max_seq_length"] == 64
  assert report["warnings"] == [
      "train: 18.2 % of pairs (2) are cut at --max_seq_length=16; 99 % fit in 25: try "
      "--max_seq_length=32",
      "train: 1 pair(s) occur more than once with different labels, e.g. %s:3 (0.2) = "
      "%s:4 (0.8) = %s:5 (0.2): correct their labels or keep one row of each" %
      ((train_tsv,) * 3),
      "train: empty or whitespace-only texts (text_a: 1, text_b: 1), e.g. %s:8: fix or "
      "drop those rows" % train_tsv,
      "dev: 20.0 % of pairs (1) are cut at --max_seq_length=16; 99 % fit in 63: try "
      "--max_seq_length=64",
      "dev: 3 of 5 pairs (60.0 %%) also stand in train (either order), e.g. %s:1 = %s:1: its "
      "figures will be optimistic; drop them from dev or from train" % (dev_tsv, train_tsv),
      "test: 1 of 2 pairs (50.0 %%) also stand in train (either order), e.g. %s:1 = %s:1: "
      "its figures will be optimistic; drop them from test or from train" % (
          os.path.join(data_dir, "test.tsv"), train_tsv)]
  warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
  assert warned == ["data report: " + line for line in report["warnings"]]
  lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("data report")]
  assert ("data report, train: 11 pairs; scores 0..1, mean 0.445; tokens p50 13, p90 23, "
          "p99 25, max 25; cut at --max_seq_length=16: 2 (18.2 %), 16 tokens lost; 3 "
          "duplicate pairs (1 with different labels); 2 empty texts") in lines
  assert lines[-1].startswith("data report: suggested --max_seq_length=64 ")


def test_the_report_of_a_run_comes_from_its_records_and_again_from_their_cache(
    zh_model, tmp_path, monkeypatch):
  """Records written with the report give the report --data_report_only gives; a rerun
  reuses the records and their stored lengths, tokenizing nothing."""
  data_dir = sim_data(tmp_path / "data")
  expected = report_only(zh_model, data_dir, tmp_path / "alone", "sim", RegressionTask())
  task = RegressionTask()
  options = run_options(zh_model, data_dir, tmp_path / "run", "sim", do_train=True,
                        do_eval=True, do_predict=True)
  os.makedirs(options.data.output_dir)

  def report_of_a_run():
    prepared = pipeline.prepare(task, get_processor("sim"), options)
    pipeline.report_data(prepared, task, write_records=True)
    with open(os.path.join(options.data.output_dir, "data_report.json"),
              encoding="utf-8") as f:
      return json.load(f), prepared

  first, prepared = report_of_a_run()
  assert first["splits"] == expected["splits"] and first["warnings"] == expected["warnings"]
  assert sorted(prepared.record_files) == ["dev", "test", "train"]
  with open(prepared.record_files["train"].path + ".key", encoding="utf-8") as f:
    assert json.load(f)["lengths"] == {
        "count_limit": 64, "pairs": 11, "p50": 13, "p90": 23, "p99": 25, "max": 25,
        "mean": round(146 / 11, 2), "at_least": 0, "cut_pairs": 2, "tokens_lost": 16}

  def no_tokenizing(*args, **kwargs):
    raise AssertionError("tokenized again")

  monkeypatch.setattr(features_lib, "tokenize_pair", no_tokenizing)
  second, _ = report_of_a_run()
  assert second == first
  # --data_report_only into the run's folder reuses the stored lengths too.
  assert report_only(zh_model, data_dir, tmp_path / "run", "sim", RegressionTask(),
                     do_train=True)["splits"]["train"] == first["splits"]["train"]


def lcqmc_rows():
  """148 pairs of class 0, then a pair of class 1 and the same pair, reversed, of class 0."""
  rows = [(text(i, 2), text(i + 150, 2), "0") for i in range(148)]
  return rows + [(A, B, "1"), (B, A, "0")]


def test_classification_report_counts_classes_rare_ones_and_conflicts(zh_model, tmp_path):
  data_dir = tmp_path / "data"
  data_dir.mkdir()
  write_tsv(data_dir / "train.tsv", lcqmc_rows())
  dev_rows = [(text(i, 2), text(i + 200, 2), str(i % 2)) for i in range(300, 309)]
  write_tsv(data_dir / "dev.tsv", dev_rows + [(text(7 + 150, 2), text(7, 2), "1")])
  report = report_only(zh_model, str(data_dir), tmp_path / "out", "lcqmc",
                       ClassificationTask(["0", "1"]), do_train=True, do_eval=True)
  assert list(report["splits"]) == ["train", "dev"]  # those --do_train and --do_eval name
  train = report["splits"]["train"]
  assert train["labels"] == {"kind": "classes", "labelled": 150, "classes": [
      {"label": "0", "count": 149, "share": 0.9933},
      {"label": "1", "count": 1, "share": 0.0067}]}
  assert (train["duplicate_pairs"], train["duplicate_rows"],
          train["duplicate_pairs_disagreeing"]) == (1, 1, 1)
  # 148 pairs of 7 tokens, 2 of 13.
  assert (train["cut_pairs"], train["token_lengths"]["max"]) == (0, 13)
  assert (train["token_lengths"]["p90"], train["token_lengths"]["p99"]) == (7, 13)
  assert train["suggested_max_seq_length"] == 16
  dev = report["splits"]["dev"]
  assert [entry["count"] for entry in dev["labels"]["classes"]] == [5, 5]
  assert dev["suggested_max_seq_length"] == 8
  assert dev["pairs_in_train"] == 1  # its last row is train's 8th, reversed
  train_tsv = str(data_dir / "train.tsv")
  assert report["warnings"] == [
      "train: 1 pair(s) occur more than once with different labels, e.g. %s:149 (1) = "
      "%s:150 (0): correct their labels or keep one row of each" % (train_tsv, train_tsv),
      "train: class 1 has 1 of 150 pairs (0.7 %): too few to learn it well: add pairs of it "
      "or weight it (--class_weights=balanced)",
      "dev: 1 of 10 pairs (10.0 %%) also stand in train (either order), e.g. %s:10 = "
      "%s:8: its figures will be optimistic; drop them from dev or from train" % (
          data_dir / "dev.tsv", train_tsv)]
  assert report["suggested_max_seq_length"] == 16


USERS_PROCESSOR = '''
import os
from processors import DataProcessor, InputExample

class ScoreLastProcessor(DataProcessor):
  """A header, then id<TAB>sentence1<TAB>sentence2<TAB>score (0..5), in *.txt files."""
  def get_train_examples(self, data_dir):
    return self._create(os.path.join(data_dir, "train.txt"), "train")
  def get_dev_examples(self, data_dir):
    return self._create(os.path.join(data_dir, "dev.txt"), "dev")
  def get_test_examples(self, data_dir):
    return self._create(os.path.join(data_dir, "test.txt"), "test")
  def get_labels(self):
    return None
  def _create(self, path, split):
    return [InputExample("%s-%s" % (split, row[0]), row[1], row[2], float(row[3]))
            for row in self._read_tsv(path)[1:]]
'''


def test_a_users_own_processor_with_a_label_range(zh_model, tmp_path):
  """No split_file, no test.txt: --data_report_only reports train and dev, in 0..5."""
  processor_file = tmp_path / "score_last.py"
  processor_file.write_text(USERS_PROCESSOR, encoding="utf-8")
  data_dir = tmp_path / "data"
  data_dir.mkdir()
  header = ("id", "sentence1", "sentence2", "score")
  write_tsv(data_dir / "train.txt", [header, ("a", A, B, "0"), ("b", C, D, "2.5"),
                                     ("c", E, F, "5"), ("d", D, C, "1.2")])
  write_tsv(data_dir / "dev.txt", [header, ("e", F, E, "4"), ("f", N, O, "3")])
  task_name = "%s:ScoreLastProcessor" % processor_file
  report = report_only(zh_model, str(data_dir), tmp_path / "out", task_name,
                       RegressionTask(label_min=0.0, label_max=5.0))
  assert list(report["splits"]) == ["train", "dev"]
  train, dev = report["splits"]["train"], report["splits"]["dev"]
  assert train["source"] is None  # the processor does not name its files
  assert train["labels"]["histogram"] == {
      "edges": [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0],
      "counts": [1, 0, 1, 0, 0, 1, 0, 0, 0, 1]}
  assert (train["labels"]["min"], train["labels"]["max"]) == (0.0, 5.0)  # the user's units
  assert train["labels"]["mean"] == pytest.approx(8.7 / 4)
  train_txt = str(data_dir / "train.txt")
  assert (train["duplicate_pairs"], train["duplicate_pairs_disagreeing"]) == (1, 1)
  assert train["places"]["duplicate_pairs_disagreeing"] == [
      "%s:3 (2.5) = %s:5 (1.2)" % (train_txt, train_txt)]
  assert (train["cut_pairs"], train["tokens_lost"]) == (1, 7)
  assert dev["pairs_in_train"] == 1
  assert dev["places"]["pairs_in_train"] == ["%s:2 = %s:4" % (data_dir / "dev.txt",
                                                              train_txt)]


def test_a_bad_row_is_still_one_located_error(zh_model, tmp_path):
  """The report reads what a run reads: a bad score in test.tsv stops it, even when no
  flag names test, and nothing is written."""
  data_dir = sim_data(tmp_path / "data")
  write_tsv(os.path.join(data_dir, "test.tsv"), [(A, B), (C, D, "high")])
  with pytest.raises(InputFileError) as raised:
    report_only(zh_model, data_dir, tmp_path / "out", "sim", RegressionTask())
  assert str(raised.value) == ("%s:2: expected a real number score in column 3, found "
                               "'high'" % os.path.join(data_dir, "test.tsv"))
  assert not os.path.exists(tmp_path / "out" / "data_report.json")


def test_no_split_at_all_is_an_error(zh_model, tmp_path):
  (tmp_path / "empty").mkdir()
  with pytest.raises(UserError, match="no train, dev or test split found"):
    report_only(zh_model, str(tmp_path / "empty"), tmp_path / "out", "sim", RegressionTask())


def test_a_10_mb_sentence_is_reported_cut_with_at_least_its_counted_tokens(monkeypatch):
  """Counted up to 512 tokens a sentence, the pair is cut, its loss a lower bound, and the
  10 million characters are still read only a few thousand at a time."""
  tokenizer = tokenization_fast.FastFullTokenizer(CHINESE_VOCAB, True)
  read = []
  whole_text_tokenize = tokenizer.tokenize
  monkeypatch.setattr(tokenizer, "tokenize", lambda piece: read.append(len(piece)) or
                      whole_text_tokenize(piece))
  long_text = "支付宝怎么充值，微信怎么充值？" * (10 * 1000 * 1000 // 45)
  example = InputExample("long-1", long_text, "微信怎么充值", 0.5)
  plain = features_lib.convert_single_example(example, 0.5, 128, tokenizer)
  counted = features_lib.convert_single_example(example, 0.5, 128, tokenizer, count_limit=512)
  assert (counted.input_ids, counted.input_mask) == (plain.input_ids, plain.input_mask)
  assert (counted.pair_length, counted.pair_length_is_lower_bound) == (512 + 6 + 3, True)
  assert sum(read) < 20000
  summary = data_report.length_summary(np.array([counted.pair_length, 9, -1]),
                                       np.array([True, False, False]), 128, 512)
  assert (summary["pairs"], summary["cut_pairs"], summary["tokens_lost"]) == (2, 1, 521 - 128)
  assert (summary["at_least"], summary["max"]) == (1, 521)


def test_counting_lengths_changes_no_record_and_counts_what_the_tokenizer_gives(tmp_path):
  tokenizer = tokenization_fast.FastFullTokenizer(CHINESE_VOCAB, True)
  rng = np.random.RandomState(3)
  pieces = ["支付宝", "怎么", "充值", "微信", "the", "cat", "running", "，", "?", " "]
  examples = [InputExample("t-%d" % i, "".join(rng.choice(pieces, rng.randint(0, 60))),
                           None if i % 7 == 0 else "".join(rng.choice(pieces,
                                                                      rng.randint(0, 60))))
              for i in range(200)]
  labels = [0.5] * len(examples)

  def records(count_limit, pair_lengths=None):
    return list(feature_workers.convert_examples(
        examples, labels, tokenizer=tokenizer, max_seq_length=32, label_feature="vals",
        serialize=lambda feature, _: repr((feature.input_ids, feature.input_mask,
                                          feature.segment_ids)).encode(),
        num_workers=1, pair_lengths=pair_lengths, count_limit=count_limit))

  pair_lengths = feature_workers.PairLengths()
  assert records(64, pair_lengths) == records(0)
  lengths, at_least = pair_lengths.arrays()
  full = [len(tokenizer.tokenize(e.text_a)) + (2 if e.text_b is None else
                                              len(tokenizer.tokenize(e.text_b)) + 3)
          for e in examples]
  exact = ~at_least
  assert exact.sum() > 100 and at_least.sum() > 0
  assert lengths[exact].tolist() == np.array(full)[exact].tolist()
  assert np.all(lengths[at_least] <= np.array(full)[at_least])
  alone = feature_workers.count_pair_lengths(examples, tokenizer=tokenizer, max_seq_length=32,
                                             count_limit=64, num_workers=1).arrays()
  assert alone[0].tolist() == lengths.tolist() and alone[1].tolist() == at_least.tolist()


def test_suggestion_and_percentiles():
  assert [data_report.suggested_max_seq_length(p, 512) for p in (1, 8, 9, 93, 96, 700)] == [
      8, 8, 16, 96, 96, 512]
  assert data_report.suggested_max_seq_length(63, 64) == 64
  ordered = np.arange(1, 201)  # 200 pairs of 1..200 tokens
  assert [data_report.nearest_rank(ordered, p) for p in (50, 90, 99)] == [100, 180, 198]


def test_histogram_puts_a_value_on_an_edge_in_the_bin_it_opens():
  counts, edges = data_report.histogram([0.0, 0.3, 0.7, 0.29, 1.0], 0.0, 1.0)
  assert counts == [1, 0, 1, 1, 0, 0, 0, 1, 0, 1]
  assert edges[3] == 0.3
  assert data_report.histogram([2.0, 2.0], 2.0, 2.0)[0] == [2] + [0] * 9


def test_the_key_file_of_an_older_run_without_lengths_is_rewritten(zh_model, tmp_path):
  """Records whose key file has no length summary (before the report) are written again."""
  data_dir = sim_data(tmp_path / "data")
  task = RegressionTask()
  options = run_options(zh_model, data_dir, tmp_path / "run", "sim", do_train=True)
  os.makedirs(options.data.output_dir)
  prepared = pipeline.prepare(task, get_processor("sim"), options)
  pipeline.report_data(prepared, task, write_records=True)
  key_file = prepared.record_files["train"].path + ".key"
  with open(key_file, encoding="utf-8") as f:
    stored = json.load(f)
  del stored["lengths"]
  with open(key_file, "w", encoding="utf-8") as f:
    json.dump(stored, f)
  assert record_cache.is_cached(prepared.record_files["train"].path, stored["key"])
  again = pipeline.prepare(task, get_processor("sim"), options)
  report = pipeline.report_data(again, task, write_records=True)
  assert report["splits"]["train"]["cut_pairs"] == 2
  with open(key_file, encoding="utf-8") as f:
    assert json.load(f)["lengths"]["pairs"] == 11


@pytest.mark.slow
@pytest.mark.parametrize("script,task_name", [("run_reg.py", "sim"),
                                              ("run_classifier.py", "lcqmc")])
def test_both_scripts_take_data_report_only(script, task_name, zh_model, tmp_path):
  data_dir = sim_data(tmp_path / "data")
  if task_name == "lcqmc":
    write_tsv(os.path.join(data_dir, "train.tsv"), lcqmc_rows())
    os.remove(os.path.join(data_dir, "dev.tsv"))
  output_dir = str(tmp_path / "out")
  result = run_script(script, "--task_name=" + task_name, "--data_dir=" + data_dir,
                      "--output_dir=" + output_dir, "--data_report_only=true",
                      "--max_seq_length=16",
                      "--vocab_file=" + os.path.join(zh_model, "vocab.txt"),
                      "--bert_config_file=" + os.path.join(zh_model, "bert_config.json"))
  assert sorted(os.listdir(output_dir)) == ["data_report.json"]
  with open(os.path.join(output_dir, "data_report.json"), encoding="utf-8") as f:
    report = json.load(f)
  if task_name == "lcqmc":
    assert list(report["splits"]) == ["train", "test"]  # no dev.tsv: skipped
    assert "data report: train: class 1 has 1 of 150 pairs (0.7 %)" in result.stderr
  else:
    assert list(report["splits"]) == ["train", "dev", "test"]
    assert ("data report: train: 18.2 % of pairs (2) are cut at --max_seq_length=16; 99 % "
            "fit in 25: try --max_seq_length=32") in result.stderr
  assert "Traceback" not in result.stderr
  assert "--data_report_only" in run_script(script, "--help").stdout


def test_disagreeing_looks_at_the_labelled_rows_of_repeated_pairs():
  keys = np.array([5, 3, 5, 7, 3, 3, 9, 7, 7], np.int64)
  values = np.array([1, 0, 2, 4, 0, 0, 1, 4, 6], np.float64)
  labelled = np.array([True] * 8 + [False])  # the third row of key 7 has no label
  groups = data_report.Groups(keys)
  repeated = np.flatnonzero(groups.sizes > 1)
  assert groups.sorted_keys[groups.starts[repeated]].tolist() == [3, 5, 7]
  found = data_report.disagreeing(groups, repeated, values, labelled)
  assert groups.sorted_keys[groups.starts[found]].tolist() == [5]
  assert groups.rows(found[0]).tolist() == [0, 2]
  assert groups.find(np.array([7, 8, 3], np.int64)).tolist() == [3, -1, 1]
