"""The Chinese sentence-pair processors (afqmc, bq, pawsx, atec, cnsd_sts) on their layouts.

Every file here holds a few made-up pairs written for these tests.
"""

import json
import os

import pytest

from common.errors import InputFileError
from common.json_lines import read_json_lines
from helpers import last_error_line
from helpers import model_flags
from helpers import read_eval_results
from helpers import read_tsv
from helpers import run_script
import processors


def write_files(directory, texts):
  """Writes each {name: text} into `directory`; returns the folder."""
  for name, text in texts.items():
    with open(os.path.join(str(directory), name), "w", encoding="utf-8") as f:
      f.write(text)
  return str(directory)


def read_splits(processor, data_dir):
  """{split: [(guid, text_a, text_b, label, file name, line)]} of train, dev and test."""
  return {split: [(e.guid, e.text_a, e.text_b, e.label, os.path.basename(e.path), e.line)
                  for e in getattr(processor, "get_%s_examples" % split)(data_dir)]
          for split in ("train", "dev", "test")}


def test_afqmc_reads_json_lines_with_string_or_number_labels_and_test_ids(tmp_path):
  data_dir = write_files(tmp_path, {
      "train.json": '{"sentence1": "花呗怎么还款", "sentence2": "花呗如何还钱", "label": "1"}\n'
                    '\n{"sentence1": "借呗额度", "sentence2": "余额宝收益", "label": 0}\n',
      "dev.json": '{"sentence1": "怎么开通花呗", "sentence2": "花呗开通方法", "label": 1}\n',
      "test.json": '{"id": 0, "sentence1": "花呗能提现吗", "sentence2": "借呗能提现吗"}\n'})
  afqmc = processors.get_processor("afqmc")
  assert afqmc.get_labels() == ["0", "1"]
  assert read_splits(afqmc, data_dir) == {
      "train": [
          ("train-1", "花呗怎么还款", "花呗如何还钱", "1", "train.json", 1),
          ("train-3", "借呗额度", "余额宝收益", "0", "train.json", 3)],
      "dev": [("dev-1", "怎么开通花呗", "花呗开通方法", "1", "dev.json", 1)],
      "test": [("test-0", "花呗能提现吗", "借呗能提现吗", None, "test.json", 1)]}
  assert afqmc.split_file(data_dir, "dev") == os.path.join(data_dir, "dev.json")


@pytest.mark.parametrize("bad_line,found", [
    ('{"sentence1": "花呗", "sentence2": "借呗", "label": "1",}', r"found invalid JSON \("),
    ('["花呗", "借呗", "1"]', r"found an array"),
    ('{"sentence1": "花呗", "label": "1"}', r"found no sentence2 \(keys: sentence1, label\)"),
    ('{"sentence1": "花呗", "sentence2": "借呗"}', r"found no label"),
    ('{"sentence1": 12, "sentence2": "借呗", "label": "1"}', r"found sentence1 as a number"),
])
def test_afqmc_rejects_a_bad_line_with_its_number(tmp_path, bad_line, found):
  data_dir = write_files(tmp_path, {
      "train.json": '{"sentence1": "花呗", "sentence2": "借呗", "label": "0"}\n' + bad_line})
  with pytest.raises(InputFileError, match=r"train.json:2: expected a JSON object with "
                                           r"sentence1 and sentence2 \(and label\), " + found):
    processors.get_processor("afqmc").get_train_examples(data_dir)


def test_json_lines_reader_reports_files_as_the_tsv_reader_does(tmp_path):
  path = os.path.join(str(tmp_path), "x.json")
  with open(path, "wb") as f:
    f.write('\ufeff{"a": 1}\r\n\r\n{"b": "花呗"}'.encode("utf-8"))
  assert read_json_lines(path) == [(1, {"a": 1}), (3, {"b": "花呗"})]
  with open(path, "wb") as f:
    f.write('{"a": 1}\n{"b": "花呗"}\n'.encode("gbk"))
  with pytest.raises(InputFileError, match=r"x.json:2: not valid UTF-8"):
    read_json_lines(path)
  write_files(tmp_path, {"x.json": "\n \n"})
  with pytest.raises(InputFileError, match=r"x.json: holds only blank lines; expected JSON "
                                           r"lines"):
    read_json_lines(path)
  write_files(tmp_path, {"x.json": '{"a": 1}\n"text"\n'})
  with pytest.raises(InputFileError, match=r"x.json:2: expected a JSON object, found a "
                                           r"string"):
    read_json_lines(path)


@pytest.mark.parametrize("task", ["bq", "pawsx"])
def test_bq_and_pawsx_read_pairs_skip_a_header_and_allow_an_unlabelled_test(tmp_path, task):
  data_dir = write_files(tmp_path, {
      "train.tsv": "sentence1\tsentence2\tlabel\n我的额度怎么降了\t为什么我的额度变少了\t1\n"
                   "怎么更改绑定的手机号\t今天还款可以吗\t0\n",
      "dev.tsv": "贷款多久到账\t借款什么时候到账\t1\n",
      "test.tsv": "可以提前还款吗\t能不能提前还清\n"})
  processor = processors.get_processor(task)
  assert processor.get_labels() == ["0", "1"]
  assert read_splits(processor, data_dir) == {
      "train": [
          ("train-2", "我的额度怎么降了", "为什么我的额度变少了", "1", "train.tsv", 2),
          ("train-3", "怎么更改绑定的手机号", "今天还款可以吗", "0", "train.tsv", 3)],
      "dev": [("dev-1", "贷款多久到账", "借款什么时候到账", "1", "dev.tsv", 1)],
      "test": [("test-1", "可以提前还款吗", "能不能提前还清", None, "test.tsv", 1)]}
  assert processor.split_file(data_dir, "test") == os.path.join(data_dir, "test.tsv")


@pytest.mark.parametrize("task", ["bq", "pawsx"])
def test_bq_and_pawsx_reject_a_row_without_its_label(tmp_path, task):
  data_dir = write_files(tmp_path, {"train.tsv": "贷款多久到账\t借款什么时候到账\t1\n"
                                                 "贷款多久到账\t1\n"})
  with pytest.raises(InputFileError, match=r"train.tsv:2: expected 3 tab-separated columns "
                                           r"\(sentence1<TAB>sentence2<TAB>label\), found 2"):
    processors.get_processor(task).get_train_examples(data_dir)


def test_atec_reads_id_pair_label_and_an_unlabelled_test(tmp_path):
  data_dir = write_files(tmp_path, {
      "train.tsv": "1\t怎么更改花呗手机号码\t我的花呗是以前的手机号码\t1\n"
                   "2\t花呗分期\t借呗还款\t0\n",
      "dev.tsv": "3\t蚂蚁借呗能提前还吗\t借呗可以提前还款吗\t1\n",
      "test.tsv": "4\t花呗账单怎么查\t在哪看花呗账单\n"})
  atec = processors.get_processor("atec")
  assert atec.get_labels() == ["0", "1"]
  assert read_splits(atec, data_dir) == {
      "train": [
          ("train-1", "怎么更改花呗手机号码", "我的花呗是以前的手机号码", "1", "train.tsv", 1),
          ("train-2", "花呗分期", "借呗还款", "0", "train.tsv", 2)],
      "dev": [("dev-1", "蚂蚁借呗能提前还吗", "借呗可以提前还款吗", "1", "dev.tsv", 1)],
      "test": [("test-1", "花呗账单怎么查", "在哪看花呗账单", None, "test.tsv", 1)]}
  assert atec.split_file(data_dir, "train") == os.path.join(data_dir, "train.tsv")


def test_atec_rejects_a_row_without_its_id(tmp_path):
  data_dir = write_files(tmp_path, {"train.tsv": "1\t花呗分期\t借呗还款\t0\n"
                                                 "花呗分期\t借呗还款\t0\n"})
  with pytest.raises(InputFileError, match=r"train.tsv:2: expected 4 tab-separated columns "
                                           r"\(id<TAB>sentence1<TAB>sentence2<TAB>label\), "
                                           r"found 3"):
    processors.get_processor("atec").get_train_examples(data_dir)


def test_cnsd_sts_reads_scores_as_floats_in_its_range(tmp_path):
  data_dir = write_files(tmp_path, {
      "cnsd-sts-train.txt": "MSRvid||一个男人在弹吉他。||一个人在弹吉他。||4.2\n"
                            "images||一只猫在睡觉。||一只狗在跑。||0\n",
      "cnsd-sts-dev.txt": "headlines||股市今天上涨。||今天股价走高。||5\n",
      "cnsd-sts-test.txt": "MSRvid||一个女人在切洋葱。||有人在做饭。\n"})
  sts = processors.get_processor("cnsd_sts")
  assert sts.get_labels() is None
  assert sts.LABEL_RANGE == (0.0, 5.0)
  assert read_splits(sts, data_dir) == {
      "train": [
          ("train-1", "一个男人在弹吉他。", "一个人在弹吉他。", 4.2, "cnsd-sts-train.txt", 1),
          ("train-2", "一只猫在睡觉。", "一只狗在跑。", 0.0, "cnsd-sts-train.txt", 2)],
      "dev": [("dev-1", "股市今天上涨。", "今天股价走高。", 5.0, "cnsd-sts-dev.txt", 1)],
      "test": [("test-1", "一个女人在切洋葱。", "有人在做饭。", None, "cnsd-sts-test.txt", 1)]}
  assert all(isinstance(e.label, float) for e in sts.get_train_examples(data_dir))
  assert sts.split_file(data_dir, "dev") == os.path.join(data_dir, "cnsd-sts-dev.txt")


@pytest.mark.parametrize("score,message", [
    ("6", r"expected a score from 0 to 5 in column 4, found 6"),
    ("-0.5", r"expected a score from 0 to 5 in column 4, found -0.5"),
    ("abc", r"expected a real number score in column 4, found 'abc'"),
    ("nan", r"expected a finite score in column 4"),
    ("3||多余", r"expected 4 \|\|-separated fields \(source\|\|sentence1\|\|sentence2\|\|"
                r"score\), found 5"),
])
def test_cnsd_sts_rejects_a_bad_score_with_its_line(tmp_path, score, message):
  data_dir = write_files(tmp_path, {
      "cnsd-sts-train.txt": "MSRvid||一个男人在弹吉他。||一个人在弹吉他。||4\n"
                            "MSRvid||一只猫在睡觉。||一只狗在跑。||%s\n" % score})
  with pytest.raises(InputFileError, match=r"cnsd-sts-train.txt:2: " + message):
    processors.get_processor("cnsd_sts").get_train_examples(data_dir)


def test_cnsd_sts_requires_the_score_outside_the_test_split(tmp_path):
  data_dir = write_files(tmp_path, {"cnsd-sts-dev.txt": "MSRvid||一只猫在睡觉。||一只狗在跑。\n"})
  with pytest.raises(InputFileError, match=r"cnsd-sts-dev.txt:1: expected 4 \|\|-separated "
                                           r"fields"):
    processors.get_processor("cnsd_sts").get_dev_examples(data_dir)


@pytest.mark.slow
def test_afqmc_trains_evaluates_and_predicts_through_run_classifier(zh_model, tmp_path):
  pairs = [("花呗怎么还款", "花呗如何还钱", "1"), ("借呗额度怎么提高", "余额宝收益多少", "0"),
           ("怎么开通花呗", "花呗开通方法", 1), ("支付宝怎么充值", "微信怎么充值", 0)] * 3
  lines = ['{"sentence1": "%s", "sentence2": "%s", "label": %s}' %
           (a, b, '"%s"' % label if isinstance(label, str) else label) for a, b, label in pairs]
  data_dir = write_files(tmp_path, {
      "train.json": "\n".join(lines) + "\n", "dev.json": "\n".join(lines[:5]) + "\n",
      "test.json": '{"id": 7, "sentence1": "花呗能提现吗", "sentence2": "借呗能提现吗"}\n'})
  output_dir = str(tmp_path / "out")
  flags = ["--task_name=afqmc", "--data_dir=" + data_dir, "--output_dir=" + output_dir,
           "--max_seq_length=32", "--train_batch_size=4"] + model_flags(zh_model)
  run_script("run_classifier.py", "--do_train=true", "--do_eval=true", "--do_predict=true",
             *flags)
  assert read_eval_results(output_dir)["eval_num_examples"] == 5
  assert len(read_tsv(os.path.join(output_dir, "test_results.tsv"))) == 2

  write_files(tmp_path, {"train.json": lines[0] + "\n" + lines[1].replace('"0"', '"2"')})
  result = run_script("run_classifier.py", "--do_train=true", *flags, "--output_dir=" +
                      str(tmp_path / "bad"), check=False)
  assert result.returncode != 0
  assert "train.json:2: " in last_error_line(result) and "'2'" in last_error_line(result)


@pytest.mark.slow
def test_cnsd_sts_trains_on_its_0_to_5_scale_without_label_flags(zh_model, tmp_path):
  """run_reg.py applies cnsd_sts's LABEL_RANGE: no --label_min/--label_max, scores in 0..5."""
  rows = ["MSRvid||一个女人正在跳舞。||一个女人在跳舞。||5",
          "MSRvid||一个男人在弹吉他。||一个人在做饭。||0.5",
          "images||一只猫坐在桌子上。||一只猫在桌子上。||4.2",
          "headlines||股市今天上涨。||天气今天很好。||0"] * 4
  data_dir = write_files(tmp_path, {
      "cnsd-sts-train.txt": "\n".join(rows) + "\n",
      "cnsd-sts-dev.txt": "\n".join(rows[:4]) + "\n",
      "cnsd-sts-test.txt": "MSRvid||一个女人在唱歌。||一个女人在跳舞。\n"})
  output_dir = str(tmp_path / "out")
  run_script("run_reg.py", "--task_name=cnsd_sts", "--data_dir=" + data_dir,
             "--output_dir=" + output_dir, "--do_train=true", "--do_eval=true",
             "--do_predict=true", "--max_seq_length=32", "--train_batch_size=4",
             *model_flags(zh_model))
  with open(os.path.join(output_dir, "model_info.json"), encoding="utf-8") as f:
    info = json.load(f)
  assert (info["label_min"], info["label_max"]) == (0.0, 5.0)
  [row] = read_tsv(os.path.join(output_dir, "test_results.tsv"))[1:]
  assert 0.0 <= float(row[1]) <= 5.0
  assert read_eval_results(output_dir)["eval_num_examples"] == 4
