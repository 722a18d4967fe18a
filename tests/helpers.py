"""What several test modules share: paths, a tiny model, running the scripts, data helpers.

Test modules import from here (and take fixtures from conftest.py), never from each
other. Nothing here reads a file when imported.
"""

import atexit
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading

import numpy as np

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _available_engines():
  from finetune.engines import estimator_available
  return ("estimator", "session") if estimator_available() else ("session",)


# The engines this TensorFlow runs: both on 2.15, the session engine alone from 2.16 on.
# A test of what an engine's own code does (saving at a signal, resuming after a kill,
# several devices, the engines against each other) runs on ENGINES.
ENGINES = _available_engines()
# A test of what the engines share (the pipeline, the model, the checks, the outputs)
# runs on this TensorFlow's default engine alone: the estimator on 2.15 (Python 3.11's
# suite), the session engine from 2.16 on (3.13's suite), so each engine still meets it.
ONE_ENGINE = ENGINES[:1]
# The public data the suite reads, carried in the repository (data/README.md).
DATA_DIR = os.path.join(REPO_ROOT, "data")
CHINESE_VOCAB = os.path.join(DATA_DIR, "vocab", "bert-base-chinese-vocab.txt")
STSB_DIR = os.path.join(DATA_DIR, "stsbenchmark")
MRPC_DIR = os.path.join(DATA_DIR, "mrpc")
ZH_DATA = os.path.join(REPO_ROOT, "examples", "sim_zh")

# A vocabulary of about 100 tokens: specials, letters, a few words and pieces, CJK.
TINY_VOCAB = (
    ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] +
    list("abcdefghijklmnopqrstuvwxyz") + ["##" + c for c in "abcdefghijklmnopqrstuvwxyz"] +
    ["the", "a", "man", "woman", "is", "playing", "guitar", "dog", "cat", "runs", "un",
     "##aff", "##able", "want", "##ed", "##ing", "how", "to", "pay", ".", ",", "?", "!"] +
    list("支付宝怎么充值微信") + list("0123456789"))


def tiny_config_dict():
  """2 layers, hidden 32: a model that builds and trains in a second."""
  return {
      "vocab_size": len(TINY_VOCAB), "hidden_size": 32, "num_hidden_layers": 2,
      "num_attention_heads": 4, "intermediate_size": 37, "hidden_act": "gelu",
      "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
      "max_position_embeddings": 64, "type_vocab_size": 2, "initializer_range": 0.02,
  }


def make_tiny_model(directory, vocab_file, vocab_size=None, seed=0, **overrides):
  """Writes bert_config.json, vocab.txt and a randomly initialized bert_model.ckpt.

  Returns the folder. A stand-in for a pre-trained checkpoint where only the plumbing
  is under test.
  """
  import tensorflow as tf

  import modeling
  import tokenization
  os.makedirs(directory, exist_ok=True)
  config = tiny_config_dict()
  config["vocab_size"] = vocab_size or tokenization.FullTokenizer(vocab_file).vocab_size
  config.update(overrides)
  with open(os.path.join(directory, "bert_config.json"), "w") as f:
    f.write(modeling.BertConfig.from_dict(config).to_json_string())
  shutil.copyfile(vocab_file, os.path.join(directory, "vocab.txt"))
  with tf.Graph().as_default():
    tf.compat.v1.set_random_seed(seed)
    modeling.BertModel(modeling.BertConfig.from_dict(config), is_training=False,
                       input_ids=tf.compat.v1.placeholder(tf.int32, [None, None]))
    with tf.compat.v1.Session() as session:
      session.run(tf.compat.v1.global_variables_initializer())
      tf.compat.v1.train.Saver().save(session, os.path.join(directory, "bert_model.ckpt"),
                                      write_meta_graph=False, write_state=False)
  return str(directory)


def evaluate(tensor):
  """The value of tensor() (a function building it) in a graph and session of its own."""
  import tensorflow as tf
  with tf.Graph().as_default(), tf.compat.v1.Session() as session:
    return session.run(tensor())


def make_tiny_run(directory, model_dir, task, max_seq_length=32, seed=0, dev_pairs=None):
  """A run folder as training leaves it, without training: a tiny model with a random head
  (of a trained head's size: pairs get outputs far apart).

  Writes bert_config.json, vocab.txt, model_info.json and a checkpoint (encoder from
  model_dir's, head freshly initialized) into `directory`; with dev_pairs
  [(text_a, text_b, label)], also eval.tf_record as a run writes it. Returns the folder.
  """
  import tensorflow as tf

  from finetune.data import records
  from finetune.model import model_files
  from finetune.runtime import tensorflow_model
  import modeling
  from processors import InputExample
  import tokenization_fast
  os.makedirs(directory, exist_ok=True)
  config_file = os.path.join(model_dir, "bert_config.json")
  vocab_file = os.path.join(model_dir, "vocab.txt")
  model_files.save_model_files(directory, model_files.model_info(task, True, max_seq_length),
                               config_file, vocab_file)
  with tf.Graph().as_default():
    tf.compat.v1.set_random_seed(seed)
    tensorflow_model.build_serving_graph(modeling.BertConfig.from_json_file(config_file), task)
    variables = tf.compat.v1.global_variables()
    encoder = [v for v in variables if v.op.name.startswith("bert/")]
    with tf.compat.v1.Session() as session:
      session.run(tf.compat.v1.global_variables_initializer())
      tf.compat.v1.train.Saver(encoder).restore(session, os.path.join(model_dir,
                                                                      "bert_model.ckpt"))
      # A head as large as a trained one, so that pairs get outputs far apart.
      rng = np.random.RandomState(seed)
      for variable in variables:
        if variable.op.name == "output_weights":
          variable.load(rng.randn(*variable.shape.as_list()).astype(np.float32) * 2.0, session)
      tf.compat.v1.train.Saver(variables).save(session, os.path.join(directory, "model.ckpt"),
                                               global_step=1, write_meta_graph=False)
  if dev_pairs:
    examples = [InputExample("dev-%d" % i, a, b, label) for i, (a, b, label) in
                enumerate(dev_pairs)]
    settings = records.RecordSettings(
        tokenizer=tokenization_fast.FastFullTokenizer(vocab_file, True), vocab_file=vocab_file,
        do_lower_case=True, max_seq_length=max_seq_length, label_feature=task.label_feature,
        workers=1)
    records.write_record_file(examples, [task.encode_label(e, True) for e in examples],
                              os.path.join(directory, "eval.tf_record"), settings)
  return str(directory)


def write_ranking_records(examples, labels, path, vocab_file, max_seq_length):
  """Writes grouped ranking examples (label_ids, one worker) as a run's records at path."""
  from finetune.data import records
  import tokenization
  settings = records.RecordSettings(
      tokenizer=tokenization.FullTokenizer(vocab_file), vocab_file=vocab_file,
      do_lower_case=True, max_seq_length=max_seq_length, label_feature="label_ids",
      workers=1, count_limit=0)
  records.write_record_file(examples, labels, path, settings)


# ------------------------------------------------------------------------------------
# Running the scripts as a user does, and reading what they write.
# ------------------------------------------------------------------------------------


def run_script(script, *args, check=True, stdin=None, fresh=False):
  """Runs a script of the repository; returns the CompletedProcess (stdout, stderr as text).

  The script runs in a fork of an interpreter that imported TensorFlow once
  (tests/script_forker.py), with this process's environment, in REPO_ROOT; fresh=True
  starts a new interpreter instead, for what is about start-up itself.
  """
  command = [sys.executable, os.path.join(REPO_ROOT, script)] + list(args)
  if fresh:
    result = subprocess.run(command, input=stdin, capture_output=True, text=True,
                            check=False, cwd=REPO_ROOT)
  else:
    result = _FORKER.run(command, stdin)
  if check and result.returncode != 0:
    raise AssertionError("%s failed:\n%s" % (script, result.stderr[-3000:]))
  return result


class _ScriptForker:
  """The client of tests/script_forker.py: one server per test process, started at the
  first run and ended with the process."""

  def __init__(self):
    self._lock = threading.Lock()
    self._process = None

  def run(self, command, stdin=None):
    with self._lock, tempfile.TemporaryDirectory(prefix="script-") as folder:
      paths = {name: os.path.join(folder, name) for name in ("stdin", "stdout", "stderr")}
      if stdin is None:
        paths["stdin"] = None
      else:
        with open(paths["stdin"], "w") as f:
          f.write(stdin)
      request = dict(paths, script=command[1], args=command[2:], cwd=REPO_ROOT,
                     env=dict(os.environ))
      answer = self._ask(json.dumps(request) + "\n")
      with open(paths["stdout"]) as out, open(paths["stderr"]) as err:
        return subprocess.CompletedProcess(command, answer["returncode"], out.read(),
                                           err.read())

  def _ask(self, line):
    if self._process is None or self._process.poll() is not None:
      self._start()
    self._requests.write(line)
    self._requests.flush()
    answer = self._answers.readline()
    if not answer:
      raise RuntimeError("tests/script_forker.py ended (status %s); its log: %s"
                         % (self._process.wait(), self._log_path))
    return json.loads(answer)

  def _start(self):
    requests_read, requests_write = os.pipe()
    answers_read, answers_write = os.pipe()
    self._log_path = os.path.join(tempfile.gettempdir(), "script_forker-%d.log" % os.getpid())
    with open(self._log_path, "w") as log:
      self._process = subprocess.Popen(
          [sys.executable, os.path.join(REPO_ROOT, "tests", "script_forker.py"),
           str(requests_read), str(answers_write)], cwd=REPO_ROOT, stdin=subprocess.DEVNULL,
          stdout=log, stderr=log, pass_fds=(requests_read, answers_write))
    os.close(requests_read)
    os.close(answers_write)
    self._requests = os.fdopen(requests_write, "w", encoding="utf-8")
    self._answers = os.fdopen(answers_read, "r", encoding="utf-8")
    atexit.register(self.close)

  def close(self):
    if self._process is not None and self._process.poll() is None:
      self._requests.close()  # the server reads to the end of its requests, then exits
      self._process.wait(timeout=30)


_FORKER = _ScriptForker()


def last_error_line(result):
  """The last line of a script's stderr."""
  return result.stderr.strip().splitlines()[-1]


def model_flags(model_dir):
  return ["--vocab_file=" + os.path.join(model_dir, "vocab.txt"),
          "--bert_config_file=" + os.path.join(model_dir, "bert_config.json"),
          "--init_checkpoint=" + os.path.join(model_dir, "bert_model.ckpt")]


def read_eval_results(output_dir):
  values = {}
  with open(os.path.join(output_dir, "eval_results.txt"), encoding="utf-8") as f:
    for line in f:
      key, value = line.rstrip("\n").split(" = ")
      values[key] = float(value)
  return values


def read_tsv(path):
  with open(path, encoding="utf-8") as f:
    return [line.rstrip("\n").split("\t") for line in f]


def prediction_scores(output_dir):
  """The prediction column of a regression run's test_results.tsv, as floats."""
  return np.array([float(row[1]) for row in
                   read_tsv(os.path.join(output_dir, "test_results.tsv"))[1:]])


# ------------------------------------------------------------------------------------
# Data: examples/sim_zh and variations of it.
# ------------------------------------------------------------------------------------


@functools.cache
def zh_text(split):
  """examples/sim_zh/<split>.tsv as text."""
  with open(os.path.join(ZH_DATA, split + ".tsv"), encoding="utf-8") as f:
    return f.read()


def with_line(number, text, lines=None):
  """The good train.tsv (or `lines`) with line `number` (1-based) replaced."""
  changed = list(lines if lines is not None else zh_text("train").splitlines(keepends=True))
  changed[number - 1] = text + "\n"
  return "".join(changed)


def lcqmc(text):
  """sim lines as LCQMC lines: score >= 0.7 means the same question (label 1)."""
  return "".join("%s\t%s\t%d\n" % (a, b, float(s) >= 0.7) for a, b, s in
                 (line.split("\t") for line in text.splitlines()))


def classification_data(directory):
  """examples/sim_zh as an LCQMC-style 0/1 task: score >= 0.7 means the same question."""
  os.makedirs(directory, exist_ok=True)
  for split in ("train", "dev"):
    with open(os.path.join(directory, split + ".tsv"), "w", encoding="utf-8") as f:
      f.write(lcqmc(zh_text(split)))
  shutil.copyfile(os.path.join(ZH_DATA, "test.tsv"), os.path.join(directory, "test.tsv"))
  return str(directory)


def scaled_scores_data(directory, scale=1.0, shift=0.0, splits=("train", "dev")):
  """examples/sim_zh with each score s of `splits` written as s * scale + shift; test.tsv kept."""
  os.makedirs(directory, exist_ok=True)
  for split in splits:
    rows = read_tsv(os.path.join(ZH_DATA, split + ".tsv"))
    with open(os.path.join(directory, split + ".tsv"), "w", encoding="utf-8") as f:
      f.writelines("%s\t%s\t%g\n" % (a, b, float(s) * scale + shift) for a, b, s in rows)
  shutil.copyfile(os.path.join(ZH_DATA, "test.tsv"), os.path.join(directory, "test.tsv"))
  return str(directory)


def stsb_sentences():
  """Every sentence of STS-B train and dev (about 14,500)."""
  sentences = []
  for name in ("sts-train.csv", "sts-dev.csv"):
    with open(os.path.join(STSB_DIR, name), encoding="utf-8") as f:
      for line in f:
        sentences.extend(line.rstrip("\n").split("\t")[5:7])
  return sentences


# Text that makes tokenizers trip: Chinese, mixed scripts, accents, emoji, controls.
HARD_TEXTS = [
    "支付宝怎么充值", "微信怎么充值？", "我今天用iPhone 14 Pro拍了张照片，效果very good!",
    "北京大学的BERT模型在GLUE上得了80.5分。", "混合English和中文mixed的sentence。",
    "Café crème brûlée, naïve résumé", "ÀÉÎÕÜ ñ ç ø å ß", "combining a\u0301 e\u0300 n\u0303",
    "我爱你😀❤️👍🏽 emoji测试🎉", "👨‍👩‍👧 family",
    "tab\there\r\nnewline\x00nul\x07bell\u200bzwsp\ufeffbom\ufffdrepl",
    "\u2028line sep\u2029para sep\u0085nel", "\x1c\x1d\x1e\x1f separators",
    "\ue000 private use \U000f0000", "全角ＡＢＣ１２３，。！", "\u3000全角空格\u3000",
    "日本語のテキストとカタカナ", "한국어 텍스트", "𠀀𠀁 ext-B chars 𪜀",
    "Ελληνικά κείμενο Ἀθῆναι", "русский текст Ёё", "عربي نص", "हिन्दी",
    "x" * 250, "  ", "", "don't stop-believing... (really) [yes] {no} <maybe> #tag @u $5 ^_^",
    "«quotes» „German“ ‘single’ — dash – en … ellipsis", "①②③ ⅰⅱ ㎡ ℃ ¥100 €5",
    "Ⅻ ﬁ ligature ＡＢ", "İstanbul ǅ ǈ",
]


# ------------------------------------------------------------------------------------
# The pipeline in this process.
# ------------------------------------------------------------------------------------


def predict_dev(zh_model, output_dir, use_tpu_layout, batch_size, count=28, layout=None,
                max_seq_length=32, engine="auto"):
  """Predicts `count` dev pairs of examples/sim_zh with the chosen batch layout.

  TPU layout: fake padding examples, fixed shapes, one-hot lookups, run by TPUEstimator
  with use_tpu=False on this CPU (there is no TPU here; TensorFlow <= 2.15 only).
  Returns (outputs, number of records written, examples).
  """
  import tensorflow as tf

  from finetune import options as options_lib
  from finetune import pipeline
  from finetune.data import examples as examples_lib
  from finetune.engines import make_engine
  from finetune.model.model_fn import model_fn_builder
  from finetune.tasks import RegressionTask
  from processors import get_processor
  task = RegressionTask()
  processor = get_processor("sim")
  examples = processor.get_dev_examples(ZH_DATA)[:count]
  split = examples_lib.Split("dev", examples, [task.encode_label(e, True) for e in examples])
  options = options_lib.make_run_options(
      data_dir=ZH_DATA, task_name="sim", output_dir=output_dir, do_predict=True,
      bert_config_file=os.path.join(zh_model, "bert_config.json"),
      vocab_file=os.path.join(zh_model, "vocab.txt"),
      init_checkpoint=os.path.join(zh_model, "bert_model.ckpt"),
      max_seq_length=max_seq_length, use_tpu=use_tpu_layout, num_tpu_cores=1,
      predict_batch_size=batch_size, batch_layout=layout, conversion_workers=1, seed=7)
  prepared = pipeline.prepare(task, processor, options)
  os.makedirs(output_dir)  # what pipeline.run does before it writes
  model_fn = model_fn_builder(
      bert_config=prepared.model.bert_config, task=task,
      init_checkpoint=prepared.model.init_checkpoint, learning_rate=1e-5, num_train_steps=1,
      num_warmup_steps=0, use_tpu=False, use_one_hot_embeddings=use_tpu_layout)
  on_cpu = options_lib.replace(options, use_tpu=False)
  engine = make_engine(engine, model_fn=model_fn, output_dir=output_dir,
                       distribution=prepared.distribution, training=on_cpu.training,
                       runtime=on_cpu.runtime)
  outputs = pipeline.predict_split(engine, prepared, task, split, batch_size,
                                   "predict.tf_record")
  records = sum(1 for _ in tf.compat.v1.io.tf_record_iterator(
      os.path.join(output_dir, "predict.tf_record")))
  return outputs, records, examples


# ------------------------------------------------------------------------------------
# Damaged files and a script's main in this process.
# ------------------------------------------------------------------------------------


def cut_short(path, keep):
  """Truncates a file to `keep` bytes, as a full disk or an interrupted copy leaves it;
  returns the size it had."""
  size = os.path.getsize(path)
  assert keep < size
  os.truncate(path, keep)
  return size


def flip_byte(path, offset):
  """Inverts the bits of one byte: a file of the right size with wrong contents."""
  with open(path, "r+b") as f:
    f.seek(offset)
    value = f.read(1)[0]
    f.seek(offset)
    f.write(bytes([value ^ 0xff]))


def run_reg_in_process(*args):
  """run_reg.py's main in this process with these arguments, as its command line runs it
  (common/cli.run_main): returns (exit status, the error line or None)."""
  from absl import flags

  from common import cli
  from finetune import cli as run_cli
  from finetune import tasks
  flag_values = flags.FlagValues()
  run_cli.define_run_flags(tasks.RegressionOptions, flag_values=flag_values)
  flag_values(["run_reg.py"] + list(args))

  def make_task(processor, head_options):  # as run_reg.py makes it
    return tasks.RegressionTask.from_options(head_options,
                                             getattr(processor, "LABEL_RANGE", None))

  try:
    cli.run_main(lambda argv: run_cli.main(make_task, tasks.RegressionOptions, flag_values),
                 ["run_reg.py"])
  except SystemExit as e:
    if isinstance(e.code, str):  # sys.exit("error: ...") prints it, with status 1
      assert "\n" not in e.code, e.code
      return 1, e.code
    return e.code, None
  return 0, None


def dangling_signal_stack():
  """This thread's alternate signal stack as "0x... (N bytes)" when any of it lies on
  unmapped memory, else None (no such stack, or one wholly mapped). Linux only (None
  elsewhere).

  Why: a native library that unmaps a signal stack it set, and leaves it the thread's
  (OpenVINO's CPU plugin did: finetune/runtime/openvino_runtime.core), turns the next
  signal a Python handler takes into a SIGSEGV, or a frame written over live objects.
  """
  import ctypes

  if not sys.platform.startswith("linux"):
    return None

  class StackT(ctypes.Structure):  # struct stack_t, <signal.h>
    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int),
                ("ss_size", ctypes.c_size_t)]

  current = StackT()
  if ctypes.CDLL(None).sigaltstack(None, ctypes.byref(current)) != 0:
    raise OSError("sigaltstack failed")
  if current.ss_flags & 2:  # SS_DISABLE: handlers run on the thread's own stack
    return None
  start, end = current.ss_sp, current.ss_sp + current.ss_size
  with open("/proc/self/maps", encoding="ascii") as maps:
    spans = sorted(tuple(int(bound, 16) for bound in line.split(None, 1)[0].split("-"))
                   for line in maps)
  for low, high in spans:  # adjacent mappings may share the stack between them
    if low <= start < high:
      start = high
    if start >= end:
      return None
  return "0x%x (%d bytes)" % (current.ss_sp, current.ss_size)
