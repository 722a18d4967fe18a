"""A full disk (ENOSPC) or a quota while writing: one line, nothing half-written, a rerun
that goes on from the last good state.

The writes are made to fail where the file layer writes (common/files.py's local files,
with the operating system's ENOSPC) and where it meets TensorFlow (tf.io.gfile, the
TFRecord writer, the SavedModel builder, the checkpoint Saver) as TensorFlow fails them
on a full disk: part of the bytes land, then RESOURCE_EXHAUSTED "<file>; No space left
on device" (what a run on a full tmpfs showed). No disk is filled.
"""

import errno
import fnmatch
import glob
import logging
import os
import re

import numpy as np
import pytest
import tensorflow as tf

from common import files
from finetune.data import records
from finetune.model import checkpoints
from finetune.model import model_files
from finetune.runtime import folders as model_folders
from finetune.runtime import tensorflow_model
from helpers import ENGINES
from helpers import model_flags
from helpers import ONE_ENGINE
from helpers import read_eval_results
from helpers import read_tsv
from helpers import run_reg_in_process
from helpers import ZH_DATA

tf1 = tf.compat.v1
DATA = ".data-00000-of-00001"
FULL = ("could not be written: no space left on the device. Nothing was left half-written "
        "under a real name; once the file can be written, the same command resumes")


def no_space(path):
  """The error TensorFlow raises for a write that finds the disk full."""
  return tf.errors.ResourceExhaustedError(None, None, "%s; No space left on device" % path)


class FullDisk:
  """Writes of files whose real name matches `pattern` (a glob) fail as on a full disk:
  half of the bytes land, then ENOSPC. `failed`: the paths that failed, in order."""

  def __init__(self, monkeypatch, pattern):
    self.pattern = pattern
    self.failed = []
    disk = self
    real_gfile, real_copy = tf.io.gfile.GFile, tf.io.gfile.copy

    class GFile(real_gfile):

      def write(self, data):
        if "w" in self.mode and disk.full(self.name):
          super().write(data[:len(data) // 2])
          self.flush()
          raise no_space(self.name)
        return super().write(data)

    def copy(source, target, overwrite=False):
      if disk.full(target):
        with open(target, "wb") as f:
          f.write(files.read_bytes(source)[:100])
        raise no_space(target)
      return real_copy(source, target, overwrite)

    class TFRecordWriter(tf.io.TFRecordWriter):

      def __init__(self, path, options=None):
        super().__init__(path, options)
        self.path = path

      def write(self, record):
        super().write(record)
        if disk.full(self.path):
          self.flush()
          raise no_space(self.path)

    class Builder(tf1.saved_model.Builder):

      def __init__(self, export_dir):
        super().__init__(export_dir)
        self.folder = export_dir

      def save(self, as_text=False):
        if disk.full(self.folder):  # the variables are written already
          raise no_space(os.path.join(self.folder, "saved_model.pb"))
        return super().save(as_text)

    class LocalFile:
      """A local file of the file layer (files.open_file) on the same full disk."""

      def __init__(self, path, mode, real):
        self.path, self.mode, self.real = path, mode, real

      def write(self, data):
        if "w" in self.mode and disk.full(self.path):
          self.real.write(data[:len(data) // 2])
          self.real.flush()
          raise OSError(errno.ENOSPC, "No space left on device", self.path)
        return self.real.write(data)

      def __getattr__(self, name):
        return getattr(self.real, name)

      def __enter__(self):
        return self

      def __exit__(self, *exc_info):
        self.real.close()

    real_open, real_local_copy = files.open_file, files.copy

    def open_file(path, mode):
      return LocalFile(path, mode, real_open(path, mode))

    def local_copy(source, target):
      if disk.full(target):
        with open(target, "wb") as f:
          f.write(files.read_bytes(source)[:100])
        raise OSError(errno.ENOSPC, "No space left on device", target)
      return real_local_copy(source, target)

    monkeypatch.setattr(tf.io.gfile, "GFile", GFile)
    monkeypatch.setattr(tf.io.gfile, "copy", copy)
    monkeypatch.setattr(files, "open_file", open_file)
    monkeypatch.setattr(files, "copy", local_copy)
    monkeypatch.setattr(tf.io, "TFRecordWriter", TFRecordWriter)
    monkeypatch.setattr(tf1.saved_model, "Builder", Builder)

  def full(self, path):
    if fnmatch.fnmatch(files.real_name(path), self.pattern):
      self.failed.append(path)
      return True
    return False


def names_in(directory):
  """Every file and folder under `directory`, relative to it."""
  found = []
  for root, folders, names in os.walk(directory):
    found += [os.path.relpath(os.path.join(root, name), directory) for name in folders + names]
  return sorted(found)


def temporaries(directory):
  return [name for name in names_in(directory)
          if re.search(r"\.tmp-\d+|\.tempstate\d+|_temp$|/\.tmp-", name) or
          os.path.basename(name).startswith(".tmp-")]


# ------------------------------------------------------------------------------------
# The file layer.
# ------------------------------------------------------------------------------------


def test_a_text_file_on_a_full_disk_keeps_its_old_content(tmp_path, monkeypatch):
  path = str(tmp_path / "eval_results.txt")
  files.write_text_atomically(path, "eval_loss = 0.1\n")
  disk = FullDisk(monkeypatch, path)
  with pytest.raises(files.WriteError) as raised:
    files.write_text_atomically(path, "eval_loss = 0.2\n" * 100)
  assert str(raised.value) == "%s: %s" % (path, FULL)  # the real name, not the temporary
  assert files.real_name(disk.failed[0]) == path and disk.failed[0] != path
  assert files.read_text(path) == "eval_loss = 0.1\n"
  assert os.listdir(tmp_path) == ["eval_results.txt"]


def test_records_and_copies_on_a_full_disk_leave_nothing(tmp_path, monkeypatch):
  record_file = str(tmp_path / "train.tf_record")
  copied = str(tmp_path / "vocab.txt")
  FullDisk(monkeypatch, str(tmp_path / "*"))
  with pytest.raises(files.WriteError) as raised:
    records.write_records([b"a record"] * 10, record_file)
  assert str(raised.value) == "%s: %s" % (record_file, FULL)
  with pytest.raises(files.WriteError) as raised:
    files.copy_atomically(__file__, copied)
  assert str(raised.value) == "%s: %s" % (copied, FULL)
  assert os.listdir(tmp_path) == []


def test_several_files_are_renamed_only_once_all_are_written(tmp_path, monkeypatch):
  paths = [str(tmp_path / name) for name in ("a.txt", "b.txt", "c.txt")]
  for path in paths:
    files.write_text_atomically(path, "old\n")
  FullDisk(monkeypatch, paths[2])
  with pytest.raises(files.WriteError) as raised:
    with files.atomic_outputs(paths) as temporaries_:
      for temporary in temporaries_:
        with tf.io.gfile.GFile(temporary, "w") as f:
          f.write("new\n")
  assert str(raised.value).startswith(paths[2] + ": could not be written")
  assert [files.read_text(path) for path in paths] == ["old\n"] * 3
  assert sorted(os.listdir(tmp_path)) == ["a.txt", "b.txt", "c.txt"]
  monkeypatch.undo()
  with files.atomic_outputs(paths) as temporaries_:
    for temporary in temporaries_:
      with tf.io.gfile.GFile(temporary, "w") as f:
        f.write("new\n")
  assert [files.read_text(path) for path in paths] == ["new\n"] * 3


def test_a_folder_appears_whole_or_not_at_all(tmp_path, monkeypatch):
  final = str(tmp_path / "1796114079")
  FullDisk(monkeypatch, str(tmp_path / "*" / "saved_model.pb"))
  with pytest.raises(files.WriteError) as raised:
    with files.atomic_directory(final) as staging:
      files.makedirs(os.path.join(staging, "variables"))
      with tf.io.gfile.GFile(os.path.join(staging, "variables", "x"), "w") as f:
        f.write("fits")
      with tf.io.gfile.GFile(os.path.join(staging, "saved_model.pb"), "w") as f:
        f.write("does not fit")
  assert str(raised.value) == "%s: %s" % (final, FULL)
  assert os.listdir(tmp_path) == []


def test_what_a_failed_write_says():
  # TensorFlow's message for a save on a full tmpfs: a stack, a node name, then the file.
  message = ("Graph execution error:\n\nDetected at node 'save/SaveV2' defined at (most "
             "recent call last):\n    File \"/x/run.py\", line 13, in <module>\nNode: "
             "'save/SaveV2'\n/data/run/model.ckpt-5_temp/part-00000-of-00001.data-00000-of-"
             "00001.tempstate7468773010498801718; No space left on device\n\t [[{{node "
             "save/SaveV2}}]]")
  failure = files.write_failure(tf.errors.ResourceExhaustedError(None, None, message), "x")
  assert failure.path == ("/data/run/model.ckpt-5_temp/part-00000-of-00001.data-00000-of-"
                          "00001")
  assert failure.reason == "no space left on the device"
  quota = files.write_failure(OSError(errno.EDQUOT, "Disk quota exceeded", "/data/a.tsv"), "x")
  assert str(quota).startswith("/data/a.tsv: could not be written: the disk quota is "
                               "exceeded. ")
  assert files.write_failure(OSError(errno.ENOSPC, "No space left on device"), "/d/f").path == (
      "/d/f")
  assert files.write_failure(ValueError("No such thing"), "x") is None
  assert files.real_name("/d/eval_results.txt.tmp-4242") == "/d/eval_results.txt"
  assert files.real_name("/d/graph.pbtxt.tmp" + "0123456789abcdef" * 2) == "/d/graph.pbtxt"


# ------------------------------------------------------------------------------------
# Runs.
# ------------------------------------------------------------------------------------


def command(output_dir, engine, model_dir, *extra):
  """run_reg.py: 25 steps (100 pairs, batch 8, 2 epochs), a checkpoint every 5."""
  return ["--task_name=sim", "--do_train=true", "--data_dir=" + ZH_DATA,
          "--output_dir=" + output_dir, "--max_seq_length=32", "--train_batch_size=8",
          "--num_train_epochs=2", "--save_checkpoints_steps=5", "--log_every_n_steps=5",
          "--seed=1", "--conversion_workers=1", "--engine=" + engine,
          *model_flags(model_dir), *extra]


def failing_saves(monkeypatch, from_step):
  """Checkpoint saves from `from_step` on fail as on a full disk, leaving what TensorFlow
  leaves: its `<prefix>_temp` folder with a part file, here also a data file already
  under the checkpoint's name (as when the disk fills while the save's parts are merged)."""
  real_save = tf1.train.Saver.save

  def save(saver, session, save_path, global_step=None, *args, **kwargs):
    step = -1 if global_step is None else int(
        global_step if isinstance(global_step, (int, np.integer)) else
        tf1.train.global_step(session, global_step))
    if step < from_step:
      return real_save(saver, session, save_path, global_step, *args, **kwargs)
    prefix = "%s-%d" % (save_path, step)
    part = os.path.join(prefix + "_temp", "part-00000-of-00001" + DATA + ".tempstate123")
    os.makedirs(os.path.dirname(part), exist_ok=True)
    for path in (part, prefix + DATA):
      with open(path, "wb") as f:
        f.write(b"\0" * 1000)
    raise tf.errors.ResourceExhaustedError(None, None, (
        "Graph execution error:\n\nDetected at node 'save/SaveV2'\nNode: 'save/SaveV2'\n"
        "%s; No space left on device\n\t [[{{node save/SaveV2}}]]" % part))

  monkeypatch.setattr(tf1.train.Saver, "save", save)


def restored_from(caplog):
  return [re.search(r"Restoring parameters from (\S+)", record.getMessage()).group(1)
          for record in caplog.records if "Restoring parameters from" in record.getMessage()]


@pytest.mark.slow
@pytest.mark.parametrize("engine", ONE_ENGINE)
def test_a_checkpoint_save_on_a_full_disk_is_one_line_and_the_rerun_resumes(
    engine, zh_model, tmp_path, monkeypatch, caplog):
  output_dir = str(tmp_path / "out")
  arguments = command(output_dir, engine, zh_model)
  failing_saves(monkeypatch, from_step=10)
  assert run_reg_in_process(*arguments) == (
      1, "error: %s/model.ckpt-10: %s" % (output_dir, FULL))
  assert sorted(name for name in os.listdir(output_dir) if name.startswith("model.ckpt-")) == [
      "model.ckpt-5" + DATA, "model.ckpt-5.index", "model.ckpt-5.meta"]
  assert tf.train.latest_checkpoint(output_dir) == os.path.join(output_dir, "model.ckpt-5")
  assert temporaries(output_dir) == []

  monkeypatch.undo()  # room again
  caplog.set_level(logging.INFO)
  caplog.clear()
  assert run_reg_in_process(*arguments) == (0, None)
  assert restored_from(caplog) == [os.path.join(output_dir, "model.ckpt-5")]
  latest = tf.train.latest_checkpoint(output_dir)
  checkpoints.check_checkpoint(latest)
  assert int(tf.train.load_checkpoint(latest).get_tensor("global_step")) == 25


# Where a full disk stops a run that trains with evaluations, predicts and exports, in
# the order the run meets them: a glob under --output_dir (the writer that meets it).
WRITES = [
    "train.tf_record",            # the TFRecord writer, before training
    "data_report.json",           # the data report, once every split's records are written
    "best/model.ckpt-*" + DATA,   # a copy into best/, after the evaluation at step 3
    "eval_history.tsv",           # a text file rewritten whole, after that evaluation
    "best/state.json",            # after the evaluation at step 6
    "eval_results.txt",           # after training
    "model_info.json",
    "export/*",                   # the SavedModel builder
    "test_results.tsv",           # after predicting, the last
]


@pytest.mark.slow
def test_a_full_disk_at_each_write_is_one_line_and_each_rerun_goes_on(zh_model, tmp_path,
                                                                     monkeypatch):
  """The disk fills at one write after another; after each failure, with room for that
  write again, the same command goes on from where the last one stopped."""
  output_dir = str(tmp_path / "out")
  # 6 steps, evaluated at 3 and 6; test.tsv predicted; exported.
  arguments = command(output_dir, ENGINES[-1], zh_model, "--num_train_epochs=0.5",
                      "--eval_every_n_steps=3", "--save_checkpoints_steps=3",
                      "--do_predict=true", "--learning_rate=1e-3",
                      "--export_dir=%s/export" % output_dir)
  for target in WRITES:
    before = {path: files.read_bytes(path) for path in
              glob.glob(os.path.join(output_dir, target)) if os.path.isfile(path)}
    with monkeypatch.context() as patches:
      disk = FullDisk(patches, os.path.join(output_dir, target))
      status, line = run_reg_in_process(*arguments)
    assert disk.failed, "nothing tried to write %s" % target
    named = files.real_name(disk.failed[0])
    if target == "export/*":  # the version folder, named before it is built
      named = "".join(re.findall(r"^error: (%s/export/\d+): " % re.escape(output_dir), line))
    assert (status, line) == (1, "error: %s: %s" % (named, FULL)), target
    if named in before:  # under the real name, the old file whole, or nothing
      assert files.read_bytes(named) == before[named], target
    else:
      assert not os.path.exists(named), target
    assert temporaries(output_dir) == [], target
    if target == "train.tf_record":
      assert not os.path.exists(named + ".key")
    if target.startswith("best/model.ckpt"):  # best/ is named only once all of it is written
      assert not os.path.exists(os.path.join(output_dir, "best", "checkpoint"))

  assert run_reg_in_process(*arguments) == (0, None)  # room for everything
  assert temporaries(output_dir) == []
  history = read_tsv(os.path.join(output_dir, "eval_history.tsv"))
  assert [int(row[0]) for row in history[1:]] == [3, 6]  # each evaluation once
  spearman = history[0].index("eval_spearman")
  best_step = int(max(history[1:], key=lambda row: float(row[spearman]))[0])
  state = model_files.read_json(os.path.join(output_dir, "best", "state.json"))
  assert (state["step"], state["last_step"]) == (best_step, 6)
  # The evaluation at 6, made twice (its state could not be written), counted once.
  assert state["evaluations_without_improvement"] == (0 if best_step == 6 else 1)
  assert read_eval_results(output_dir)["global_step"] == best_step
  assert len(read_tsv(os.path.join(output_dir, "test_results.tsv"))) == 1 + len(
      read_tsv(os.path.join(ZH_DATA, "test.tsv")))
  [version] = model_folders.versions(os.path.join(output_dir, "export"))
  tensorflow_model.check_saved_model(version)
  assert model_files.read_json(os.path.join(version, "assets.extra", "model_info.json"))[
      "checkpoint"] == "model.ckpt-%d" % best_step


@pytest.mark.parametrize("export_format,failing", [("onnx", "model.onnx"),
                                                   ("hf", "model.safetensors")])
def test_an_export_on_a_full_disk_is_one_line_and_leaves_nothing(export_format, failing,
                                                                zh_model, tmp_path,
                                                                monkeypatch):
  from finetune.export import exporting
  from finetune.tasks import RegressionTask
  from helpers import make_tiny_run
  run_dir = make_tiny_run(str(tmp_path / "run"), zh_model, RegressionTask())
  output_dir = str(tmp_path / "exported")
  disk = FullDisk(monkeypatch, "*/" + failing)
  with pytest.raises(files.WriteError) as raised:
    exporting.export(run_dir, export_format, output_dir, "float32")
  assert disk.failed
  assert str(raised.value) == "%s: %s" % (os.path.join(output_dir, failing), FULL)
  assert not os.path.exists(output_dir) and temporaries(str(tmp_path)) == []
  assert sorted(os.listdir(tmp_path)) == ["run"]
  monkeypatch.undo()  # room again: the same command makes it
  exporting.export(run_dir, export_format, output_dir, "float32")
  assert failing in os.listdir(output_dir)
