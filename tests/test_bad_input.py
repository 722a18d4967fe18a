"""A user's mistake ends with one line naming the file, the line and what was expected.

Each case runs the script as a user would and checks the last line of stderr, that
there is no traceback, and that nothing was written to the output folder.
"""

import json
import os
import re
import shutil

import pytest

from helpers import lcqmc
from helpers import model_flags
from helpers import REPO_ROOT
from helpers import run_script
from helpers import with_line
from helpers import zh_text

# Each test runs a script: seconds, not milliseconds.
pytestmark = pytest.mark.slow


def dev_lines():
  return zh_text("dev").splitlines(True)


# Each case: the files that replace the good ones (None: deleted; "<dir>": a folder), the
# script, task and extra flags, and the message the last line must match. Callables are
# called when the case runs (no file is read at import time).
CASES = {
    "too_few_columns": dict(
        files={"train.tsv": lambda: with_line(2, "只有一列\t还有一列")},
        message=r"train.tsv:2: expected 3 tab-separated columns "
                r"\(sentence_a<TAB>sentence_b<TAB>score\), found 2$"),
    "too_many_columns": dict(
        files={"train.tsv": lambda: with_line(5, "a\tb\t0.5\textra")},
        message=r"train.tsv:5: expected 3 tab-separated columns .*found 4 \(a tab inside a "
                r"sentence\?\)$"),
    "unparsable_score": dict(
        files={"train.tsv": lambda: with_line(3, "问题一\t问题二\thigh")},
        message=r"train.tsv:3: expected a real number score in column 3, found 'high'$"),
    "nan_score": dict(
        files={"train.tsv": lambda: with_line(4, "问题一\t问题二\tnan")},
        message=r"train.tsv:4: expected a finite score in column 3, found 'nan'$"),
    "inf_score": dict(
        files={"dev.tsv": lambda: with_line(7, "问题一\t问题二\t-inf", dev_lines())},
        message=r"dev.tsv:7: expected a finite score in column 3, found '-inf'$"),
    "score_outside_sigmoid_range": dict(
        files={"train.tsv": lambda: with_line(9, "问题一\t问题二\t4")},
        message=r"train.tsv:9: score 4 is outside 0..1, the range of the sigmoid output; "
                r"map your scale with --label_min and --label_max"),
    "score_outside_label_range": dict(
        files={"train.tsv": lambda: with_line(9, "问题一\t问题二\t6")},
        args=["--label_min=0", "--label_max=5"],
        message=r"train.tsv:9: score 6 is outside --label_min=0..--label_max=5$"),
    "label_not_in_get_labels": dict(
        script="run_classifier.py", task="lcqmc",
        files={"train.tsv": lambda: lcqmc(zh_text("train")),
               "dev.tsv": lambda: with_line(4, "问题一\t问题二\t2",
                                            lcqmc(zh_text("dev")).splitlines(True))},
        message=r"dev.tsv:4: label '2' is not one of get_labels\(\): 0, 1$"),
    "empty_file": dict(
        files={"train.tsv": ""},
        message=r"train.tsv: the file is empty; expected tab-separated lines$"),
    "only_a_header": dict(
        script="run_classifier.py", task="mrpc",
        files={"train.tsv": "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n", "dev.tsv": ""},
        message=r"train.tsv: the train split has no examples; expected at least one row$"),
    "missing_file": dict(
        files={"dev.tsv": None},
        message=r"dev.tsv: file not found$"),
    "directory_for_a_file": dict(
        files={"dev.tsv": "<dir>"},
        message=r"dev.tsv: is a directory; expected a text file$"),
    "gbk_encoded_file": dict(
        files={"dev.tsv": lambda: zh_text("dev").encode("gbk")},
        message=r"dev.tsv:1: not valid UTF-8 \(byte 0x\w\w\); expected a UTF-8 text file. "
                r"Convert it first, e.g. iconv -f GBK -t UTF-8$"),
    "excel_workbook_for_a_file": dict(
        files={"train.tsv": b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00[Content_Types].xml"
                            + bytes(range(256))},
        message=r"train.tsv: is a ZIP archive \(an Excel .xlsx workbook\?\), not text; "
                r"expected UTF-8 tab-separated text"),
    "vocab_larger_than_config": dict(
        config={"vocab_size": 21128},
        message=r"vocab.txt:21129: 21156 tokens, but .*bert_config.json says vocab_size "
                r"21128; expected a vocabulary of at most 21128 lines"),
    "max_seq_length_above_positions": dict(
        args=["--max_seq_length=128"],
        message=r"bert_config.json: --max_seq_length=128 is above max_position_embeddings=64; "
                r"expected --max_seq_length <= 64$"),
    "checkpoint_shapes_do_not_fit": dict(
        config={"hidden_size": 48},
        message=r"bert_model.ckpt: --init_checkpoint does not fit .*bert_config.json: "
                r"bert/embeddings/LayerNorm/beta \[32\] \(model: \[48\]\)"),
    "missing_checkpoint": dict(
        args=["--init_checkpoint=/nonexistent/bert_model.ckpt"],
        message=r"--init_checkpoint=/nonexistent/bert_model.ckpt: expected a checkpoint prefix "
                r".*; no checkpoint found there$"),
    "unknown_batch_layout": dict(
        args=["--batch_layout=sorted"],
        message=r"--batch_layout=sorted: expected one of fixed, trimmed, bucketed$"),
    "unknown_task": dict(
        task="simm", message=r"unknown --task_name=simm; expected one of afqmc, atec, bq, "
                             r"cnsd_sts, cola, lcqmc, "),
    "user_processor_bug_is_located": dict(
        task=os.path.join(REPO_ROOT, "examples", "custom_processor",
                          "score_first_processor.py") + ":ScoreFirstProcessor",
        files={"train.tsv": "id\tscore\tsentence1\tsentence2\nx1\t0.5\tonly one sentence\n"},
        message=r"train.tsv:2: expected at least 4 tab-separated columns, found 3$"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_clear_line(case, zh_model, tmp_path):
  spec = CASES[case]
  data_dir = tmp_path / "data"
  data_dir.mkdir()
  (data_dir / "train.tsv").write_text(zh_text("train"), encoding="utf-8")
  (data_dir / "dev.tsv").write_text(zh_text("dev"), encoding="utf-8")
  for name, content in spec.get("files", {}).items():
    if callable(content):
      content = content()
    if content is None:
      os.remove(data_dir / name)
    elif content == "<dir>":
      os.remove(data_dir / name)
      (data_dir / name).mkdir()
    elif isinstance(content, bytes):
      (data_dir / name).write_bytes(content)
    else:
      (data_dir / name).write_text(content, encoding="utf-8")
  model_dir = zh_model
  if "config" in spec:
    model_dir = str(tmp_path / "model")
    shutil.copytree(zh_model, model_dir)
    config_path = os.path.join(model_dir, "bert_config.json")
    with open(config_path) as f:
      config = json.load(f)
    config.update(spec["config"])
    with open(config_path, "w") as f:
      json.dump(config, f)
  output_dir = tmp_path / "out"
  result = run_script(
      spec.get("script", "run_reg.py"), "--task_name=" + spec.get("task", "sim"),
      "--data_dir=%s" % data_dir, "--output_dir=%s" % output_dir, "--do_train=true",
      "--do_eval=true", "--max_seq_length=32", *model_flags(model_dir), *spec.get("args", []),
      check=False)
  last_line = result.stderr.strip().splitlines()[-1]
  assert result.returncode == 1, result.stderr[-2000:]
  assert last_line.startswith("error: "), result.stderr[-2000:]
  assert re.search(spec["message"], last_line), last_line
  assert "Traceback" not in result.stderr
  written = os.listdir(output_dir) if os.path.exists(output_dir) else []
  assert written == []  # nothing half-done left behind


BUGGY_PROCESSOR = '''"""A processor with a bug of its own: a misspelt method name."""

import os

from processors import DataProcessor, InputExample


class Buggy(DataProcessor):

  def get_train_examples(self, data_dir):
    examples = []
    for row in self._read_tsv(os.path.join(data_dir, "train.tsv")):
      examples.append(InputExample("train-%d" % row.line, row[0], row[1],
                                   self.parse_scroe(row[2])))
    return examples

  def get_dev_examples(self, data_dir):
    return self.get_train_examples(data_dir)

  def get_test_examples(self, data_dir):
    return self.get_train_examples(data_dir)

  def get_labels(self):
    return None

  def parse_score(self, text):
    return float(text)
'''


def test_a_bug_in_a_users_processor_is_reported_against_its_own_file(zh_model, tmp_path):
  processor_file = tmp_path / "buggy_processor.py"
  processor_file.write_text(BUGGY_PROCESSOR, encoding="utf-8")
  data_dir = tmp_path / "data"
  data_dir.mkdir()
  (data_dir / "train.tsv").write_text(zh_text("train"), encoding="utf-8")
  result = run_script("run_reg.py", "--task_name=%s:Buggy" % processor_file,
                      "--data_dir=%s" % data_dir, "--output_dir=%s" % (tmp_path / "out"),
                      "--do_train=true", "--max_seq_length=32", *model_flags(zh_model),
                      check=False)
  last_line = result.stderr.strip().splitlines()[-1]
  assert result.returncode == 1, result.stderr[-2000:]
  assert "Traceback" not in result.stderr
  # The line of the misspelt call in the processor's file, not a line of train.tsv.
  line = BUGGY_PROCESSOR.splitlines().index(
      "                                   self.parse_scroe(row[2])))") + 1
  assert last_line.startswith("error: %s:%d: AttributeError: " % (processor_file, line)), \
      last_line
  assert "'Buggy' object has no attribute 'parse_scroe'" in last_line
  assert "train.tsv:" not in last_line
  assert not os.path.exists(tmp_path / "out")
