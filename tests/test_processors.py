"""Built-in processors on their file layouts, the TSV reader, and the registry."""

import os

import pytest

from common import tsv
from common.errors import InputFileError
from common.errors import ShortRowError
from common.errors import UserError
from helpers import MRPC_DIR
from helpers import STSB_DIR
import processors


def write(directory, name, text):
  path = os.path.join(str(directory), name)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w", encoding="utf-8") as f:
    f.write(text)
  return path


def test_sim_reads_pairs_skips_a_header_and_allows_unscored_test(tmp_path):
  write(tmp_path, "train.tsv", "a\tb\tscore\n支付宝怎么充值\t微信怎么充值\t0.5\nx\ty\t1\n")
  write(tmp_path, "test.tsv", "p\tq\nr\ts\t0.25\n")
  sim = processors.get_processor("sim")
  train = sim.get_train_examples(str(tmp_path))
  assert [(e.guid, e.text_a, e.text_b, e.label) for e in train] == [
      ("train-2", "支付宝怎么充值", "微信怎么充值", 0.5), ("train-3", "x", "y", 1.0)]
  assert train[0].line == 2 and train[0].path.endswith("train.tsv")
  test = sim.get_test_examples(str(tmp_path))
  assert [(e.text_a, e.label) for e in test] == [("p", None), ("r", 0.25)]
  assert sim.get_labels() is None


def test_sim_does_not_mistake_a_bad_first_score_for_a_header(tmp_path):
  write(tmp_path, "train.tsv", "a\tb\t0.5x\n")
  with pytest.raises(InputFileError, match=r"train.tsv:1: expected a real number score"):
    processors.get_processor("sim").get_train_examples(str(tmp_path))


def test_reader_handles_bom_crlf_blank_lines_and_no_final_newline(tmp_path):
  path = os.path.join(str(tmp_path), "train.tsv")
  with open(path, "wb") as f:
    f.write("\ufeffa\tb\t0.1\r\n\r\n   \nc\td\t0.2".encode("utf-8"))
  rows = tsv.read_tsv(path)
  assert [list(row) for row in rows] == [["a", "b", "0.1"], ["c", "d", "0.2"]]
  assert [row.line for row in rows] == [1, 4]


def test_reader_rejects_gbk_and_binary_with_the_line(tmp_path):
  path = os.path.join(str(tmp_path), "train.tsv")
  with open(path, "wb") as f:
    f.write(b"a\tb\t0.1\n" + "支付宝\t微信\t0.5\n".encode("gbk"))
  with pytest.raises(InputFileError, match=r"train.tsv:2: not valid UTF-8 .*iconv -f GBK"):
    tsv.read_tsv(path)
  with open(path, "wb") as f:
    f.write(b"a\tb\t1\n\x89PNG\x00\x00")
  with pytest.raises(InputFileError, match=r"train.tsv:2: contains a NUL byte"):
    tsv.read_tsv(path)


def test_row_index_error_names_file_and_line(tmp_path):
  rows = tsv.read_tsv(write(tmp_path, "x.tsv", "one\ttwo\n"))
  with pytest.raises(InputFileError, match=r"x.tsv:1: expected at least 4 tab-separated "
                                           r"columns, found 2"):
    rows[0][3]  # noqa: B018
  # Still an IndexError, for processors that catch it for an optional column.
  with pytest.raises(IndexError):
    rows[0][2]  # noqa: B018
  assert issubclass(ShortRowError, IndexError)


def test_examples_made_from_rows_know_their_place(tmp_path):
  """Made from a row's cells, as processors written for Google's scripts make them."""
  rows = tsv.read_tsv(write(tmp_path, "x.tsv", "h\th\nu\tv\n"))
  example = processors.InputExample("g", rows[1][0], rows[1][1])
  assert (os.path.basename(example.path), example.line) == ("x.tsv", 2)
  assert type(example.text_a) is str and example.text_a == "u"  # noqa: E721
  unlocated = processors.InputExample("g", "u", "v")
  assert (unlocated.path, unlocated.line) == (None, None)


def test_built_in_processors_locate_every_example(tmp_path):
  write(tmp_path, "train.tsv", "a\tb\t0.5\nc\td\t0.25\n")
  examples = processors.get_processor("sim").get_train_examples(str(tmp_path))
  assert [(os.path.basename(e.path), e.line) for e in examples] == [("train.tsv", 1),
                                                                   ("train.tsv", 2)]


def test_stsb_original_csv_and_glue_tsv(tmp_path):
  stsb = processors.get_processor("stsb")
  train = stsb.get_train_examples(STSB_DIR)
  dev = stsb.get_dev_examples(STSB_DIR)
  assert (len(train), len(dev)) == (5749, 1500)
  assert (train[0].text_a, train[0].text_b, train[0].label) == (
      "A plane is taking off.", "An air plane is taking off.", 5.0)
  glue_header = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2"
  write(tmp_path, "train.tsv",
        glue_header + "\tscore\n0\tg\tf\t2012\t1\tnone\tnone\tA b.\tC d.\t3.2\n")
  write(tmp_path, "test.tsv", glue_header + "\n0\tg\tf\t2012\t1\tnone\tnone\tE f.\tG h.\n")
  glue_train = stsb.get_train_examples(str(tmp_path))
  assert [(e.text_a, e.text_b, e.label) for e in glue_train] == [("A b.", "C d.", 3.2)]
  assert [(e.text_a, e.label) for e in stsb.get_test_examples(str(tmp_path))] == [("E f.", None)]


def test_mrpc_original_release_split_is_fixed_and_disjoint():
  mrpc = processors.get_processor("mrpc")
  train = mrpc.get_train_examples(MRPC_DIR)
  dev = mrpc.get_dev_examples(MRPC_DIR)
  assert (len(train), len(dev)) == (3668, 408)
  assert not {e.line for e in train} & {e.line for e in dev}
  assert all(e.guid.startswith("dev-") for e in dev)
  assert {e.label for e in train + dev} == {"0", "1"}
  again = processors.get_processor("mrpc").get_dev_examples(MRPC_DIR)
  assert [e.line for e in again] == [e.line for e in dev]


def test_mrpc_glue_layout(tmp_path):
  header = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
  write(tmp_path, "train.tsv", header + "1\t1\t2\tA.\tB.\n0\t3\t4\tC.\tD.\n")
  write(tmp_path, "test.tsv", "index\t#1 ID\t#2 ID\t#1 String\t#2 String\n0\t5\t6\tE.\tF.\n")
  mrpc = processors.get_processor("mrpc")
  assert [(e.text_a, e.label) for e in mrpc.get_train_examples(str(tmp_path))] == [
      ("A.", "1"), ("C.", "0")]
  assert [(e.text_b, e.label) for e in mrpc.get_test_examples(str(tmp_path))] == [("F.", None)]


def test_lcqmc_cola_mnli_qqp_xnli(tmp_path):
  write(tmp_path, "lcqmc/train.tsv",
        "喜欢打篮球的男生喜欢什么样的女生\t爱打篮球的男生喜欢什么样的女生\t1\n")
  write(tmp_path, "lcqmc/test.tsv", "我手机丢了\t我想换个手机\n")
  lcqmc = processors.get_processor("lcqmc")
  assert [e.label for e in lcqmc.get_train_examples(str(tmp_path / "lcqmc"))] == ["1"]
  assert [e.label for e in lcqmc.get_test_examples(str(tmp_path / "lcqmc"))] == [None]

  write(tmp_path, "cola/train.tsv", "gj04\t1\t\tOur friends won't buy this analysis.\n")
  write(tmp_path, "cola/test.tsv", "index\tsentence\n0\tBill whistled past the house.\n")
  cola = processors.get_processor("cola")
  [example] = cola.get_train_examples(str(tmp_path / "cola"))
  assert (example.text_a, example.text_b, example.label) == (
      "Our friends won't buy this analysis.", None, "1")
  assert cola.get_test_examples(str(tmp_path / "cola"))[0].text_a.startswith("Bill")

  mnli_row = "\t".join(["0", "1", "2", "g", "p1", "h1", "p2", "h2", "The cat sat.",
                        "A cat sat.", "entailment", "entailment"])
  write(tmp_path, "mnli/train.tsv", "header\n" + mnli_row + "\n")
  [example] = processors.get_processor("mnli").get_train_examples(str(tmp_path / "mnli"))
  assert (example.text_a, example.text_b, example.label) == ("The cat sat.", "A cat sat.",
                                                             "entailment")

  write(tmp_path, "qqp/train.tsv", "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n"
        "1\t2\t3\tHow do I learn Python?\tWhat is the best way to learn Python?\t1\n")
  [example] = processors.get_processor("qqp").get_train_examples(str(tmp_path / "qqp"))
  assert (example.text_a, example.label) == ("How do I learn Python?", "1")

  write(tmp_path, "xnli/multinli/multinli.train.zh.tsv",
        "premise\thypo\tlabel\n他说妈妈回来了\t他没说话\tcontradictory\n")
  dev_header = "\t".join(["language", "gold_label", "a", "b", "c", "d", "sentence1",
                          "sentence2"])
  write(tmp_path, "xnli/xnli.dev.tsv", dev_header + "\n" +
        "\t".join(["zh", "neutral", "", "", "", "", "你好", "再见"]) + "\n" +
        "\t".join(["en", "neutral", "", "", "", "", "hello", "bye"]) + "\n")
  xnli = processors.get_processor("xnli")
  assert [e.label for e in xnli.get_train_examples(str(tmp_path / "xnli"))] == ["contradiction"]
  assert [e.text_a for e in xnli.get_dev_examples(str(tmp_path / "xnli"))] == ["你好"]


def test_registry_names_module_and_file_references(tmp_path):
  module_file = write(tmp_path, "my_tasks.py",
                      "from processors import DataProcessor\n"
                      "class Mine(DataProcessor):\n"
                      "  def get_labels(self):\n"
                      "    return ['x', 'y']\n"
                      "class NotAProcessor:\n"
                      "  pass\n")
  assert processors.get_processor(module_file + ":Mine").get_labels() == ["x", "y"]
  processors.register_processor("mine", processors.get_processor(module_file + ":Mine")
                                .__class__)
  assert processors.get_processor("MINE").get_labels() == ["x", "y"]
  del processors.PROCESSORS["mine"]
  assert isinstance(processors.get_processor("processors.similarity:SimProcessor"),
                    processors.DataProcessor)
  with pytest.raises(UserError, match=r"unknown --task_name=nope; expected one of afqmc, atec, "
                                      r"bq, cnsd_sts, cola, "):
    processors.get_processor("nope")
  with pytest.raises(UserError, match=r"has no class Missing"):
    processors.get_processor(module_file + ":Missing")
  with pytest.raises(UserError, match=r"lacks get_train_examples, get_dev_examples, "
                                      r"get_test_examples, get_labels"):
    processors.get_processor(module_file + ":NotAProcessor")
  with pytest.raises(UserError, match=r"cannot import no_such_module"):
    processors.get_processor("no_such_module:X")


def test_mrpc_original_quote_token_reads_as_glue_text():
  train = processors.get_processor("mrpc").get_train_examples(MRPC_DIR)
  first = [e for e in train if e.line == 2][0]
  assert first.text_a == ('Amrozi accused his brother , whom he called " the witness " , of '
                          'deliberately distorting his evidence .')
  assert not any("<QUOTE>" in e.text_a + e.text_b for e in train)
