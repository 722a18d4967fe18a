"""Damaged run folders: checkpoints cut short or corrupt, best/, SavedModels, state files.

A checkpoint is checked whole before it is used (its index, the sizes of its data
shards, the restore itself). Training resumes from the newest intact checkpoint, moving
the damaged ones into damaged/ and saying so in one line; a command that uses a trained
model never takes another checkpoint silently: one line names the damaged file, the
newest intact checkpoint and the flag that uses it.
"""

import json
import logging
import os
import re
import shutil

import numpy as np
import pytest
import tensorflow as tf

from common import files
from common.errors import DamagedFileError
from finetune.model import checkpoint_index
from finetune.model import checkpoints
from finetune.model import model_files
from finetune.runtime import folders
from finetune.runtime import tensorflow_model
from finetune.runtime.predictor import load_predictor
from helpers import cut_short
from helpers import ENGINES
from helpers import flip_byte
from helpers import model_flags
from helpers import ONE_ENGINE
from helpers import read_eval_results
from helpers import read_tsv
from helpers import run_reg_in_process
from helpers import run_script
from helpers import ZH_DATA

tf1 = tf.compat.v1
DATA = ".data-00000-of-00001"


def save_steps(directory, steps, shards=1):
  """Checkpoints of three small variables at `steps`, saved as training saves them
  (a sharded Saver; two shards put the variables on two devices)."""
  with tf.Graph().as_default():
    with tf.device("/cpu:0"):
      step = tf1.train.get_or_create_global_step()
      tf1.get_variable("kernel", [300, 40])
    with tf.device("/cpu:%d" % (shards - 1)):
      tf1.get_variable("bias", [70], dtype=tf.float64)
    saver = tf1.train.Saver(max_to_keep=10, sharded=True, save_relative_paths=True)
    with tf1.Session(config=tf1.ConfigProto(device_count={"CPU": shards})) as session:
      session.run(tf1.global_variables_initializer())
      for number in steps:
        session.run(step.assign(number))
        saver.save(session, os.path.join(directory, "model.ckpt"), global_step=number,
                   write_meta_graph=False)
  return [os.path.join(directory, "model.ckpt-%d" % number) for number in steps]


def read_index(prefix):
  with open(prefix + ".index", "rb") as f:
    return checkpoint_index.parse_index(f.read())


def damage_message(prefix, **kwargs):
  with pytest.raises(DamagedFileError) as raised:
    checkpoints.check_checkpoint(prefix, **kwargs)
  assert "\n" not in str(raised.value)
  return str(raised.value)


# ------------------------------------------------------------------------------------
# The check itself, on small checkpoints.
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize("shards", [1, 2])
def test_the_index_reader_places_every_tensor_in_its_shard(tmp_path, shards):
  [prefix] = save_steps(str(tmp_path), [7], shards)
  index = read_index(prefix)
  reader = tf.train.load_checkpoint(prefix)
  shapes, dtypes = reader.get_variable_to_shape_map(), reader.get_variable_to_dtype_map()
  assert set(index.tensors) == set(shapes) == {"kernel", "bias", "global_step"}
  for name, extent in index.tensors.items():
    assert extent.size == int(np.prod(shapes[name])) * dtypes[name].size, name
  assert index.num_shards == shards
  assert index.bytes_needed() == {
      shard: os.path.getsize(checkpoint_index.data_file(prefix, shard, shards))
      for shard in range(shards)}
  checkpoints.check_checkpoint(prefix, read_tensors=True)  # whole


def test_each_kind_of_damage_names_its_file_and_what_was_found(tmp_path):
  cases = {}
  for name in ("data_cut", "data_missing", "index_cut", "index_empty", "index_missing",
               "corrupt", "second_shard_cut"):
    directory = tmp_path / name
    directory.mkdir()
    [cases[name]] = save_steps(str(directory), [7], shards=2 if "shard" in name else 1)
  size = cut_short(cases["data_cut"] + DATA, 1000)
  assert damage_message(cases["data_cut"]) == (
      "%s%s: cut short (1000 of %d bytes)" % (cases["data_cut"], DATA, size))
  os.remove(cases["data_missing"] + DATA)
  assert damage_message(cases["data_missing"]) == (
      "%s%s: missing; expected data shard 1 of 1 of checkpoint model.ckpt-7 (%d bytes)" %
      (cases["data_missing"], DATA, size))
  cut_short(cases["index_cut"] + ".index", 100)
  assert re.fullmatch(r"%s\.index: not a whole checkpoint index \(100 bytes; TensorFlow: "
                      r".+\)" % re.escape(cases["index_cut"]),
                      damage_message(cases["index_cut"]))
  cut_short(cases["index_empty"] + ".index", 0)
  assert damage_message(cases["index_empty"]).startswith(
      "%s.index: not a whole checkpoint index (0 bytes; TensorFlow: " % cases["index_empty"])
  os.remove(cases["index_missing"] + ".index")
  assert damage_message(cases["index_missing"]) == (
      "%s.index: missing; expected the index of checkpoint model.ckpt-7" %
      cases["index_missing"])
  second = checkpoint_index.data_file(cases["second_shard_cut"], 1, 2)
  shard_size = cut_short(second, 10)
  assert damage_message(cases["second_shard_cut"]) == (
      "%s: cut short (10 of %d bytes)" % (second, shard_size))

  # Bytes changed inside the file: the sizes are right, reading the tensors tells.
  kernel = read_index(cases["corrupt"]).tensors["kernel"]
  flip_byte(cases["corrupt"] + DATA, kernel.offset + 100)
  checkpoints.check_checkpoint(cases["corrupt"])  # the cheap check cannot see it
  assert damage_message(cases["corrupt"], read_tensors=True) == (
      "%s%s: corrupt (the bytes of tensor kernel do not match their checksum)" %
      (cases["corrupt"], DATA))


def test_a_command_never_takes_another_checkpoint_silently(tmp_path):
  directory = str(tmp_path)
  ten, twenty, thirty = save_steps(directory, [10, 20, 30])
  assert checkpoints.checkpoint_to_use(directory) == thirty
  size = cut_short(thirty + DATA, 500)
  with pytest.raises(DamagedFileError) as raised:
    checkpoints.checkpoint_to_use(directory)
  assert str(raised.value) == (
      "%s%s: cut short (500 of %d bytes); the newest intact checkpoint is %s (step 20): "
      "to use it, add --checkpoint=%s" % (thirty, DATA, size, twenty, twenty))
  assert checkpoints.checkpoint_to_use(twenty) == twenty  # the way out works
  assert checkpoints.newest_intact_checkpoint(directory) == twenty
  with pytest.raises(DamagedFileError) as raised:  # asked for by name, it is refused too
    checkpoints.checkpoint_to_use(thirty)
  assert str(raised.value).startswith("%s%s: cut short" % (thirty, DATA))

  for prefix in (ten, twenty):
    cut_short(prefix + DATA, 500)
  with pytest.raises(DamagedFileError) as raised:
    checkpoints.checkpoint_to_use(directory)
  assert str(raised.value).endswith("; no other intact checkpoint is in %s: train again" %
                                    directory)
  assert checkpoints.newest_intact_checkpoint(directory) is None


def test_a_damaged_or_missing_state_file_is_named_too(tmp_path):
  directory = str(tmp_path)
  _, thirty = save_steps(directory, [20, 30])
  state = os.path.join(directory, "checkpoint")
  cut = 'model_checkpoint_path: "model.ck'  # what is left of a state file cut short
  with open(state, "w", encoding="utf-8") as f:
    f.write(cut)
  with pytest.raises(DamagedFileError) as raised:
    checkpoints.checkpoint_to_use(directory)
  assert str(raised.value) == (
      '%s: not a checkpoint state file TensorFlow can read (%d bytes); expected lines such '
      'as model_checkpoint_path: "model.ckpt-40"; the newest intact checkpoint is %s (step '
      '30): to use it, add --checkpoint=%s' % (state, len(cut), thirty, thirty))
  os.remove(state)
  with pytest.raises(DamagedFileError) as raised:
    checkpoints.checkpoint_to_use(directory)
  assert str(raised.value).startswith(
      "%s: missing; expected the state file that names the latest checkpoint; the newest "
      "intact checkpoint is %s (step 30)" % (state, thirty))
  # A state file written on another machine names its own paths: those here are used.
  with open(state, "w", encoding="utf-8") as f:
    f.write('model_checkpoint_path: "/elsewhere/run/model.ckpt-30"\n'
            'all_model_checkpoint_paths: "/elsewhere/run/model.ckpt-30"\n')
  assert checkpoints.checkpoint_to_use(directory) == thirty
  os.makedirs(tmp_path / "empty")
  assert checkpoints.checkpoint_to_use(str(tmp_path / "empty")) is None  # nothing trained


def warnings_of(caplog):
  return [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]


def test_training_sets_damaged_checkpoints_aside_and_names_where_it_resumes(tmp_path, caplog):
  directory = str(tmp_path)
  ten, twenty, thirty = save_steps(directory, [10, 20, 30])
  size = cut_short(thirty + DATA, 700)
  os.makedirs(os.path.join(directory, "model.ckpt-40_temp"))  # a save that never finished
  with open(os.path.join(directory, "model.ckpt-40_temp", "part-00000-of-00001.index"),
            "wb") as f:
    f.write(b"half")
  caplog.set_level(logging.INFO)
  assert checkpoints.prepare_to_resume(directory, "models/bert_model.ckpt") == twenty
  assert warnings_of(caplog) == [
      "checkpoint model.ckpt-30 is damaged: model.ckpt-30%s is cut short (700 of %d "
      "bytes); moved it to %s/damaged/; resuming from model.ckpt-20 (step 20)" %
      (DATA, size, directory)]
  assert sorted(os.listdir(os.path.join(directory, "damaged"))) == [
      "model.ckpt-30" + DATA, "model.ckpt-30.index"]
  assert os.path.getsize(os.path.join(directory, "damaged", "model.ckpt-30" + DATA)) == 700
  assert not os.path.exists(os.path.join(directory, "model.ckpt-40_temp"))
  state = tf.train.get_checkpoint_state(directory)
  assert state.model_checkpoint_path == twenty
  assert list(state.all_model_checkpoint_paths) == [ten, twenty]
  assert tf.train.latest_checkpoint(directory) == twenty

  caplog.clear()  # once set aside, nothing more to say
  assert checkpoints.prepare_to_resume(directory) == twenty
  assert warnings_of(caplog) == []

  for prefix in (ten, twenty):
    cut_short(prefix + DATA, 100)
  assert checkpoints.prepare_to_resume(directory, "models/bert_model.ckpt") is None
  assert warnings_of(caplog)[-1] == (
      "checkpoint model.ckpt-20 is damaged: model.ckpt-20%s is cut short (100 of %d bytes); "
      "checkpoint model.ckpt-10 is damaged: model.ckpt-10%s is cut short (100 of %d "
      "bytes); moved them to %s/damaged/; no intact checkpoint is left: starting from "
      "--init_checkpoint models/bert_model.ckpt" % (DATA, size, DATA, size, directory))
  assert not os.path.exists(os.path.join(directory, "checkpoint"))
  assert tf.train.latest_checkpoint(directory) is None
  assert len(os.listdir(os.path.join(directory, "damaged"))) == 6


def test_an_unreadable_state_file_is_set_aside_and_rebuilt_from_the_folder(tmp_path, caplog):
  directory = str(tmp_path)
  ten, twenty = save_steps(directory, [10, 20])
  state = os.path.join(directory, "checkpoint")
  with open(state, "wb") as f:
    f.write(b"\x00" * 64)  # what a crash can leave of a file being written
  caplog.set_level(logging.INFO)
  assert checkpoints.prepare_to_resume(directory) == twenty
  assert warnings_of(caplog)[-1] == (
      "the state file %s is damaged: not a checkpoint state file TensorFlow can read (64 "
      "bytes); expected lines such as model_checkpoint_path: \"model.ckpt-40\"; found 2 "
      "checkpoint(s) of steps in the folder; moved it to %s/damaged/; resuming from "
      "model.ckpt-20 (step 20)" % (state, directory))
  assert list(tf.train.get_checkpoint_state(directory).all_model_checkpoint_paths) == [
      ten, twenty]
  with open(os.path.join(directory, "damaged", "checkpoint"), "rb") as f:
    assert f.read() == b"\x00" * 64


def test_a_damaged_init_checkpoint_is_one_line_before_any_work(zh_model, tmp_path):
  model_dir = str(tmp_path / "model")
  shutil.copytree(zh_model, model_dir)
  size = cut_short(os.path.join(model_dir, "bert_model.ckpt" + DATA), 1000)
  output_dir = str(tmp_path / "out")
  assert run_reg_in_process(*command(output_dir, ENGINES[-1], model_dir)) == (1, (
      "error: %s/bert_model.ckpt%s: cut short (1000 of %d bytes); no other intact "
      "checkpoint is in %s: copy the checkpoint again, or give another --init_checkpoint" %
      (model_dir, DATA, size, model_dir)))
  assert not os.path.exists(output_dir)


# ------------------------------------------------------------------------------------
# Runs: training past damage (the check is code the engines share: the default engine),
# commands that use a model, predict.py.
# ------------------------------------------------------------------------------------


def command(output_dir, engine, model_dir, *extra):
  """run_reg.py: 25 steps (100 pairs, batch 8, 2 epochs), a checkpoint every 5."""
  return ["--task_name=sim", "--do_train=true", "--data_dir=" + ZH_DATA,
          "--output_dir=" + output_dir, "--max_seq_length=32", "--train_batch_size=8",
          "--num_train_epochs=2", "--save_checkpoints_steps=5", "--log_every_n_steps=5",
          "--seed=1", "--conversion_workers=1", "--engine=" + engine,
          *model_flags(model_dir), *extra]


def use_command(output_dir, model_dir, *extra):
  """run_reg.py using the trained model: evaluate and predict, no training."""
  return ["--task_name=sim", "--data_dir=" + ZH_DATA, "--output_dir=" + output_dir,
          "--max_seq_length=32", "--conversion_workers=1",
          "--vocab_file=" + os.path.join(model_dir, "vocab.txt"),
          "--bert_config_file=" + os.path.join(model_dir, "bert_config.json"), *extra]


@pytest.fixture(scope="module")
def trained_runs(zh_model, tmp_path_factory):
  """trained(engine): a run folder trained on that engine to step 25, with checkpoints
  5-25 and an export (trained once per engine for the module)."""
  runs = {}

  def trained(engine):
    if engine not in runs:
      output_dir = str(tmp_path_factory.mktemp("trained-" + engine) / "out")
      assert run_reg_in_process(*command(output_dir, engine, zh_model,
                                         "--export_dir=" + output_dir + "/export")) == (0, None)
      runs[engine] = output_dir
    return runs[engine]

  return trained


@pytest.fixture
def run_copy(trained_runs, tmp_path):
  """copy(engine): a copy of the trained run folder of that engine, to damage."""

  def copy(engine):
    output_dir = str(tmp_path / ("out-" + engine))
    shutil.copytree(trained_runs(engine), output_dir)
    # The state file names paths relative to the folder: the copy stands on its own.
    assert checkpoints.checkpoint_to_use(output_dir) == os.path.join(output_dir,
                                                                     "model.ckpt-25")
    return output_dir

  return copy


def global_step(prefix):
  return int(tf.train.load_checkpoint(prefix).get_tensor("global_step"))


def restored_from(caplog):
  return [re.search(r"Restoring parameters from (\S+)", record.getMessage()).group(1)
          for record in caplog.records if "Restoring parameters from" in record.getMessage()]


@pytest.mark.slow
@pytest.mark.parametrize("engine", ONE_ENGINE)
def test_training_resumes_past_a_cut_short_checkpoint_to_the_planned_step(engine, run_copy,
                                                                          zh_model, caplog):
  output_dir = run_copy(engine)
  latest = os.path.join(output_dir, "model.ckpt-25")
  size = cut_short(latest + DATA, 4000)
  caplog.set_level(logging.INFO)
  caplog.clear()  # from here on: the run under test
  assert run_reg_in_process(*command(output_dir, engine, zh_model)) == (0, None)
  assert (
      "checkpoint model.ckpt-25 is damaged: model.ckpt-25%s is cut short (4000 of %d "
      "bytes); moved it to %s/damaged/; resuming from model.ckpt-20 (step 20)" %
      (DATA, size, output_dir)) in warnings_of(caplog)
  assert restored_from(caplog) == [os.path.join(output_dir, "model.ckpt-20")]
  damaged = os.path.join(output_dir, "damaged")
  assert sorted(os.listdir(damaged)) == [
      "model.ckpt-25" + DATA, "model.ckpt-25.index", "model.ckpt-25.meta"]
  assert os.path.getsize(os.path.join(damaged, "model.ckpt-25" + DATA)) == 4000
  # The planned step, saved again, whole.
  assert tf.train.latest_checkpoint(output_dir) == latest
  checkpoints.check_checkpoint(latest)
  assert global_step(latest) == 25


@pytest.mark.slow
@pytest.mark.parametrize("engine", ONE_ENGINE)
def test_a_checkpoint_whose_restore_fails_is_set_aside_and_training_goes_on(engine, run_copy,
                                                                           zh_model, caplog):
  """Bytes changed inside the data file: the sizes pass, the restore fails on the
  checksum; training sets it aside and resumes from the one before."""
  output_dir = run_copy(engine)
  latest = os.path.join(output_dir, "model.ckpt-25")
  embeddings = read_index(latest).tensors["bert/embeddings/word_embeddings"]
  flip_byte(latest + DATA, embeddings.offset + 1000)
  caplog.set_level(logging.INFO)
  caplog.clear()  # from here on: the run under test
  # 2.4 epochs: 30 steps, past the damaged checkpoint, so that training restores it.
  assert run_reg_in_process(*command(output_dir, engine, zh_model),
                            "--num_train_epochs=2.4") == (0, None)
  assert (
      "checkpoint model.ckpt-25 is damaged: model.ckpt-25%s is corrupt (the bytes of tensor "
      "bert/embeddings/word_embeddings do not match their checksum); moved it to "
      "%s/damaged/; resuming from model.ckpt-20 (step 20)" % (DATA, output_dir)
  ) in warnings_of(caplog)
  assert restored_from(caplog) == [latest, os.path.join(output_dir, "model.ckpt-20")]
  assert os.path.exists(os.path.join(output_dir, "damaged", "model.ckpt-25.index"))
  assert global_step(tf.train.latest_checkpoint(output_dir)) == 30


@pytest.mark.slow
def test_with_no_intact_checkpoint_left_training_starts_from_the_initial_one(run_copy,
                                                                             zh_model, caplog):
  engine = ENGINES[-1]
  output_dir = run_copy(engine)
  for step in (5, 10, 15, 20, 25):
    cut_short(os.path.join(output_dir, "model.ckpt-%d.index" % step), 40)
  caplog.set_level(logging.INFO)
  caplog.clear()  # from here on: the run under test
  assert run_reg_in_process(*command(output_dir, engine, zh_model)) == (0, None)
  [line] = [message for message in warnings_of(caplog) if "is damaged" in message]
  assert line.startswith("checkpoint model.ckpt-25 is damaged: model.ckpt-25.index is not a "
                         "whole checkpoint index (40 bytes; TensorFlow: ")
  assert line.endswith("; moved them to %s/damaged/; no intact checkpoint is left: starting "
                       "from --init_checkpoint %s" % (
                           output_dir, os.path.join(zh_model, "bert_model.ckpt")))
  assert restored_from(caplog) == []  # from the initial checkpoint's initializers
  assert len(os.listdir(os.path.join(output_dir, "damaged"))) == 15
  assert global_step(tf.train.latest_checkpoint(output_dir)) == 25


@pytest.mark.slow
def test_commands_that_use_the_model_name_the_damage_and_the_way_out(run_copy, zh_model):
  output_dir = run_copy(ENGINES[-1])
  latest = os.path.join(output_dir, "model.ckpt-25")
  size = cut_short(latest + DATA, 4000)
  before = sorted(os.listdir(output_dir))
  expected = ("error: %s%s: cut short (4000 of %d bytes); the newest intact checkpoint is "
              "%s/model.ckpt-20 (step 20): to use it, add --checkpoint=%s/model.ckpt-20" %
              (latest, DATA, size, output_dir, output_dir))
  for wanted in (["--do_eval=true", "--do_predict=true"],
                 ["--export_dir=%s/export2" % output_dir]):
    assert run_reg_in_process(*use_command(output_dir, zh_model, *wanted)) == (1, expected)
  assert sorted(os.listdir(output_dir)) == before  # nothing written, nothing moved
  assert os.path.getsize(latest + DATA) == 4000

  status, line = run_reg_in_process(*use_command(
      output_dir, zh_model, "--do_eval=true", "--do_predict=true",
      "--export_dir=%s/export2" % output_dir, "--checkpoint=%s/model.ckpt-20" % output_dir))
  assert (status, line) == (0, None)
  assert read_eval_results(output_dir)["global_step"] == 20
  assert len(read_tsv(os.path.join(output_dir, "test_results.tsv"))) > 1
  [version] = folders.versions(output_dir + "/export2")
  assert model_files.read_json(os.path.join(version, "assets.extra", "model_info.json"))[
      "checkpoint"] == "model.ckpt-20"

  status, line = run_reg_in_process(*command(output_dir, ENGINES[-1], zh_model),
                                    "--checkpoint=%s/model.ckpt-20" % output_dir)
  assert status == 1 and line.startswith(
      "error: --checkpoint=%s/model.ckpt-20 with --do_train: training resumes from the "
      "newest intact checkpoint of --output_dir" % output_dir)


@pytest.mark.slow
def test_predict_py_names_the_damaged_checkpoint_and_takes_the_one_asked_for(run_copy):
  output_dir = run_copy(ENGINES[-1])
  latest = os.path.join(output_dir, "model.ckpt-25")
  size = cut_short(latest + DATA, 4000)
  pair = ("支付宝怎么充值", "微信怎么充值")
  result = run_script("predict.py", "--model=" + output_dir, *pair, check=False)
  assert result.returncode == 1 and "Traceback" not in result.stderr
  assert result.stderr.strip().splitlines()[-1] == (
      "error: %s%s: cut short (4000 of %d bytes); the newest intact checkpoint is "
      "%s/model.ckpt-20 (step 20): to use it, add --checkpoint=%s/model.ckpt-20" %
      (latest, DATA, size, output_dir, output_dir))
  result = run_script("predict.py", "--model=" + output_dir,
                      "--checkpoint=%s/model.ckpt-20" % output_dir, *pair)
  assert 0 <= float(result.stdout) <= 1
  with load_predictor(output_dir, checkpoint=output_dir + "/model.ckpt-20") as predictor:
    assert predictor.predict([pair])["score"][0] == pytest.approx(float(result.stdout),
                                                                  abs=6e-5)


def two_versions(output_dir):
  """The run's export and a copy of it as a newer version: (older, newer)."""
  [older] = folders.versions(output_dir + "/export")
  newer = os.path.join(output_dir, "export", str(int(os.path.basename(older)) + 1))
  shutil.copytree(older, newer)
  return older, newer


@pytest.mark.slow
def test_a_damaged_saved_model_is_one_line_naming_the_newest_intact_version(run_copy):
  output_dir = run_copy(ENGINES[-1])
  older, newer = two_versions(output_dir)
  base = output_dir + "/export"
  variables = os.path.join(newer, "variables", "variables" + DATA)
  with load_predictor(base) as predictor:  # both whole: the newest
    assert predictor.info["checkpoint"] == "model.ckpt-25"
  saved = {name: files.read_bytes(path) for name, path in [
      ("variables", variables), ("graph", os.path.join(newer, "saved_model.pb")),
      ("info", os.path.join(newer, "assets.extra", "model_info.json"))]}
  way_out = "the newest intact SavedModel there is %s: to use it, give --model=%s" % (older,
                                                                                       older)

  def refused(path=base):
    with pytest.raises(DamagedFileError) as raised:
      load_predictor(path)
    return str(raised.value)

  size = cut_short(variables, 1000)
  assert refused() == "%s: cut short (1000 of %d bytes); %s" % (variables, size, way_out)
  assert refused(newer) == ("%s: cut short (1000 of %d bytes); expected a whole SavedModel: "
                            "export it again (--export_dir)" % (variables, size))
  with open(variables, "wb") as f:
    f.write(saved["variables"])
  flip_byte(variables, len(saved["variables"]) // 2)  # found when the load fails
  assert re.fullmatch(r"%s: corrupt \(the bytes of tensor \S+ do not match their checksum\); "
                      r"%s" % (re.escape(variables), re.escape(way_out)), refused())
  with open(variables, "wb") as f:
    f.write(saved["variables"])
  graph = os.path.join(newer, "saved_model.pb")
  cut_short(graph, len(saved["graph"]) // 2)
  assert refused() == ("%s: not a whole SavedModel graph (%d bytes that do not parse; "
                       "expected one with the serving_default signature); %s" %
                       (graph, len(saved["graph"]) // 2, way_out))
  with open(graph, "wb") as f:
    f.write(saved["graph"])
  info = os.path.join(newer, "assets.extra", "model_info.json")
  cut_short(info, 20)
  assert refused().startswith("%s: not valid JSON (" % info)
  assert refused().endswith("; " + way_out)
  with open(info, "wb") as f:
    f.write(saved["info"])
  with load_predictor(base) as predictor:  # mended
    assert predictor.info["checkpoint"] == "model.ckpt-25"

  # predict.py says the same, in one line.
  cut_short(variables, 1000)
  result = run_script("predict.py", "--model=" + base, "a", "b", check=False)
  assert result.returncode == 1 and "Traceback" not in result.stderr
  assert result.stderr.strip().splitlines()[-1] == "error: %s: cut short (1000 of %d bytes); %s" % (
      variables, size, way_out)


@pytest.mark.slow
def test_an_export_is_not_reused_when_its_newest_version_is_damaged(run_copy, zh_model, caplog):
  engine = ENGINES[-1]
  output_dir = run_copy(engine)
  base = output_dir + "/export"
  [version] = folders.versions(base)
  cut_short(os.path.join(version, "variables", "variables" + DATA), 1000)
  caplog.set_level(logging.INFO)
  caplog.clear()  # from here on: the run under test
  # The same command again: trained already, it exports anew.
  assert run_reg_in_process(*command(output_dir, engine, zh_model,
                                     "--export_dir=" + base)) == (0, None)
  assert any(message.startswith("the newest export %s is damaged (" % version)
             for message in warnings_of(caplog))
  newest = folders.newest_version(base)
  assert newest != version and tensorflow_model.damage_of_saved_model(newest) is None
  with load_predictor(base) as predictor:
    assert predictor.info["checkpoint"] == "model.ckpt-25"


# ------------------------------------------------------------------------------------
# best/: the best checkpoint of a run evaluated while training.
# ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def evaluated(zh_model, tmp_path_factory):
  """A run of 12 steps evaluated every 6 (at 6 and 12): best/ holds the better one."""
  output_dir = str(tmp_path_factory.mktemp("evaluated") / "out")
  status, line = run_reg_in_process(*command(output_dir, ENGINES[-1], zh_model,
                                             "--num_train_epochs=1",
                                             "--eval_every_n_steps=6",
                                             "--learning_rate=1e-3"))
  assert (status, line) == (0, None)
  return output_dir


@pytest.fixture
def evaluated_copy(evaluated, tmp_path):
  copy = str(tmp_path / "out")
  shutil.copytree(evaluated, copy)
  return copy


def best_prefix(output_dir):
  [name] = [name[:-len(".index")] for name in os.listdir(os.path.join(output_dir, "best"))
            if name.endswith(".index")]
  return os.path.join(output_dir, "best", name)


@pytest.mark.slow
def test_a_damaged_best_checkpoint_is_named_with_the_way_out(evaluated_copy, zh_model):
  output_dir = evaluated_copy
  best = best_prefix(output_dir)
  size = cut_short(best + DATA, 3000)
  expected = ("%s%s: cut short (3000 of %d bytes); the best checkpoint (best/) is damaged; "
              "the run's newest intact checkpoint (not the best) is %s/model.ckpt-12 (step "
              "12): to use it, add --checkpoint=%s/model.ckpt-12" % (best, DATA, size,
                                                                     output_dir, output_dir))
  assert run_reg_in_process(*use_command(output_dir, zh_model, "--do_eval=true")) == (
      1, "error: " + expected)
  with pytest.raises(DamagedFileError) as raised:
    load_predictor(output_dir)
  assert str(raised.value) == expected
  with load_predictor(output_dir, checkpoint=output_dir + "/model.ckpt-12") as predictor:
    assert predictor.predict([("a", "b")])["score"].shape == (1,)

  # An unreadable state.json is located the same way.
  with open(best + DATA, "r+b") as f:
    f.truncate(size)  # length back (zeros): the check of sizes passes
  with open(os.path.join(output_dir, "best", "state.json"), "w", encoding="utf-8") as f:
    f.write('{"metric": "eval_spear')
  status, line = run_reg_in_process(*use_command(output_dir, zh_model, "--do_eval=true"))
  assert status == 1 and line.startswith("error: %s/best/state.json: not the state of the "
                                         "best checkpoint (" % output_dir)
  assert line.endswith("; the best checkpoint (best/) is damaged; the run's newest intact "
                       "checkpoint (not the best) is %s/model.ckpt-12 (step 12): to use it, "
                       "add --checkpoint=%s/model.ckpt-12" % (output_dir, output_dir))


@pytest.mark.slow
def test_training_sets_a_damaged_best_aside_and_chooses_again(evaluated_copy, zh_model, caplog):
  output_dir = evaluated_copy
  best = best_prefix(output_dir)
  size = cut_short(best + DATA, 3000)
  caplog.set_level(logging.INFO)
  caplog.clear()  # from here on: the run under test
  # 1.5 epochs: 18 steps, one more evaluation (at 18) than the first run made.
  arguments = command(output_dir, ENGINES[-1], zh_model, "--num_train_epochs=1.5",
                      "--eval_every_n_steps=6", "--learning_rate=1e-3")
  assert run_reg_in_process(*arguments) == (0, None)
  assert ("best/ is damaged: %s%s is cut short (3000 of %d bytes); moved it to "
          "%s/damaged/best; the best checkpoint is chosen again from the evaluations still "
          "to come" % (best, DATA, size, output_dir)) in warnings_of(caplog)
  assert sorted(os.listdir(os.path.join(output_dir, "damaged", "best"))) == sorted(
      [os.path.basename(best) + suffix for suffix in (DATA, ".index")] +
      ["checkpoint", "eval_results.txt", "model_info.json", "state.json"])
  # Evaluated on at step 18, the first evaluation since: the best now.
  history = read_tsv(os.path.join(output_dir, "eval_history.tsv"))
  assert [int(row[0]) for row in history[1:]] == [6, 12, 18]
  with open(os.path.join(output_dir, "best", "state.json"), encoding="utf-8") as f:
    state = json.load(f)
  assert (state["step"], state["last_step"], state["evaluations_without_improvement"]) == (
      18, 18, 0)
  assert read_eval_results(output_dir)["global_step"] == 18
  assert best_prefix(output_dir) == os.path.join(output_dir, "best", "model.ckpt-18")
  checkpoints.check_checkpoint(best_prefix(output_dir))
