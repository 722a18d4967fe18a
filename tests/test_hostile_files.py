"""Files as spreadsheets and editors export them: each is read as meant, or stops the run
with one line naming the file, the line and what was expected, before anything is
written.

The mistakes run through pipeline.run in this process (the scripts print the same
message as `error: ...`; tests/test_bad_input.py checks that path with its own cases:
GBK from line 1, NaN and inf scores, an empty file, a directory, an .xlsx workbook, none
of them repeated here). The files that are read as meant run through run_reg.py.
"""

import os
import re

import numpy as np
import pytest
import tensorflow as tf

from common.errors import UserError
from finetune import pipeline
from finetune.options import make_run_options
from finetune.tasks import ClassificationTask
from finetune.tasks import RegressionTask
from helpers import lcqmc
from helpers import model_flags
from helpers import read_eval_results
from helpers import read_tsv
from helpers import run_script
from helpers import with_line
from helpers import ZH_DATA
from helpers import zh_text
import processors


def dev_lines():
  return zh_text("dev").splitlines(keepends=True)


CASES = {
    "gbk_from_line_3": dict(
        files={"dev.tsv": b"a\tb\t0.1\nc\td\t0.2\n" + "支付宝\t微信\t0.5\n".encode("gbk")},
        message=r"dev.tsv:3: not valid UTF-8"),
    "tab_inside_quotes": dict(
        files={"train.tsv": lambda: with_line(5, '"他说\t你好"\t你好吗\t0.5')},
        message=r"train.tsv:5: expected 3 tab-separated columns "
                r"\(sentence_a<TAB>sentence_b<TAB>score\), found 4 \(a tab inside a quoted "
                r"sentence\? quotes do not protect tabs here\)$"),
    "empty_score": dict(
        files={"train.tsv": lambda: with_line(6, "问题一\t问题二\t")},
        message=r"train.tsv:6: expected a real number score in column 3, found an empty "
                r"cell$"),
    "blank_score": dict(
        files={"dev.tsv": lambda: with_line(2, "问题一\t问题二\t  ", dev_lines())},
        message=r"dev.tsv:2: expected a real number score in column 3, found an empty "
                r"cell$"),
    "decimal_comma": dict(
        files={"train.tsv": lambda: with_line(7, "问题一\t问题二\t0,75")},
        message=r"train.tsv:7: expected a real number score in column 3, found '0,75' "
                r"\(a decimal comma\? write 0.75\)$"),
    "label_outside_get_labels": dict(
        task="lcqmc",
        files={"train.tsv": lambda: with_line(3, "问题一\t问题二\t1.0",
                                              lcqmc(zh_text("train")).splitlines(True)),
               "dev.tsv": lambda: lcqmc(zh_text("dev"))},
        message=r"train.tsv:3: label '1.0' is not one of get_labels\(\): 0, 1$"),
    "comma_separated": dict(
        files={"train.tsv": lambda: zh_text("train").replace("\t", ",")},
        message=r"train.tsv:1: expected 3 tab-separated columns \(.*\), found 1 \(no tab on "
                r"the line: is the file comma-separated\?\)$"),
    "empty_dev_split": dict(
        files={"dev.tsv": "sentence_a\tsentence_b\tscore\n"},
        message=r"dev.tsv: the dev split has no examples; expected at least one row$"),
    "only_blank_lines": dict(
        files={"dev.tsv": "\n  \r\n\t\n"},
        message=r"dev.tsv: holds only blank lines; expected tab-separated lines$"),
    "old_excel_workbook": dict(
        files={"dev.tsv": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600)},
        message=r"dev.tsv: is an Office document \(an Excel .xls workbook\?\), not text"),
    "excel_unicode_text": dict(
        files={"train.tsv": lambda: zh_text("train").encode("utf-16")},
        message=r"train.tsv: is UTF-16 text \(as Excel's \"Unicode Text\" export writes "
                r"it\); expected UTF-8. Convert it first, e.g. iconv -f UTF-16 -t UTF-8$"),
    "binary_with_nul": dict(
        files={"train.tsv": lambda: (zh_text("train").encode() +
                                     b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")},
        message=r"train.tsv:103: contains a NUL byte; expected a UTF-8 text file$"),
    "invalid_utf8_bytes": dict(
        files={"train.tsv": b"a\tb\t0.5\n\xff\xfe\xfd\tc\t0.1\n"},
        message=r"train.tsv:2: not valid UTF-8 \(byte 0xff\)"),
}


def write_data(data_dir, files):
  os.makedirs(data_dir)
  for split in ("train", "dev", "test"):
    with open(os.path.join(data_dir, split + ".tsv"), "w", encoding="utf-8") as f:
      f.write(zh_text(split))
  for name, content in files.items():
    if callable(content):
      content = content()
    path = os.path.join(data_dir, name)
    os.remove(path)
    with open(path, "wb") as f:
      f.write(content if isinstance(content, bytes) else content.encode("utf-8"))


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_hostile_file_stops_the_run_with_one_located_line(case, zh_model, tmp_path):
  spec = CASES[case]
  data_dir, output_dir = str(tmp_path / "data"), str(tmp_path / "out")
  write_data(data_dir, spec["files"])
  processor = processors.get_processor(spec.get("task", "sim"))
  task = (ClassificationTask(processor.get_labels()) if processor.get_labels()
          else RegressionTask())
  options = make_run_options(
      data_dir=data_dir, task_name=spec.get("task", "sim"), output_dir=output_dir,
      bert_config_file=os.path.join(zh_model, "bert_config.json"),
      vocab_file=os.path.join(zh_model, "vocab.txt"),
      init_checkpoint=os.path.join(zh_model, "bert_model.ckpt"), do_train=True, do_eval=True,
      max_seq_length=32)
  with pytest.raises(UserError) as raised:
    pipeline.run(task, processor, options)
  message = str(raised.value)
  assert "\n" not in message
  assert re.search(spec["message"], message), message
  assert message.startswith(data_dir)  # the full path of the file
  assert not os.path.exists(output_dir) or os.listdir(output_dir) == []


@pytest.mark.slow
def test_bom_crlf_cr_blank_lines_no_final_newline_and_a_10_mb_line_are_read_as_meant(
    zh_model, tmp_path):
  """Through run_reg.py: every row is read once, with its text as written."""
  data_dir, output_dir = tmp_path / "data", str(tmp_path / "out")
  data_dir.mkdir()
  train = zh_text("train").splitlines()
  long_sentence = "支付宝怎么充值，微信怎么充值？" * (10 * 1000 * 1000 // 45)
  train[50:50] = ["", "   ", "%s\t微信怎么充值\t0.5" % long_sentence]
  (data_dir / "train.tsv").write_bytes(("\ufeff" + "\r\n".join(train)).encode("utf-8"))
  (data_dir / "dev.tsv").write_bytes(zh_text("dev").replace("\n", "\r").encode("utf-8"))
  (data_dir / "test.tsv").write_bytes(("\ufeff" + zh_text("test").replace("\n", "\r\n"))
                                      .encode("utf-8"))
  assert os.path.getsize(data_dir / "train.tsv") > 10 * 1000 * 1000
  result = run_script("run_reg.py", "--task_name=sim", "--do_train=true", "--do_eval=true",
                      "--do_predict=true", "--data_dir=%s" % data_dir,
                      "--output_dir=" + output_dir, "--max_seq_length=32",
                      "--train_batch_size=16", "--num_train_epochs=1", *model_flags(zh_model))
  log = result.stderr
  assert re.search(r"train.tsv: skipped 2 blank line\(s\)", log)
  assert re.search(r"train.tsv:53: a line of \d{7} characters \(lost line breaks\?\)", log)
  # How fast the 10 MB line converts is bench/conversion.py's to measure (--long_line).
  assert re.search(r"wrote 101 records to .*train.tf_record in ([\d.]+) s", log), log[-3000:]
  lengths = [int(np.sum(tf.train.Example.FromString(record).features.feature["input_mask"]
                        .int64_list.value))
             for record in tf.compat.v1.io.tf_record_iterator(
                 os.path.join(output_dir, "train.tf_record"))]
  assert len(lengths) == 101 and max(lengths) == 32
  assert read_eval_results(output_dir)["eval_num_examples"] == 28  # "\r" line breaks
  table = read_tsv(os.path.join(output_dir, "test_results.tsv"))
  assert [row[2:] for row in table[1:]] == read_tsv(os.path.join(ZH_DATA, "test.tsv"))
