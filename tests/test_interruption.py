"""run_reg.py stopped by signals, sharing a folder, and failing to write; then run again.

Killed mid-training, the rerun resumes from the last checkpoint and finishes at the
planned step. Killed while writing records or a result file, no file under a real name
is half-written, the cache key of the records is gone, and the rerun deletes the
leftover temporary file and writes the records whole. Stopped by Ctrl-C or SIGTERM,
training saves the step reached and says so in one line. A second run into a busy
folder stops with one line naming the holder; a dead holder's lock is taken over. A
write over a file size limit ends with one line and nothing half-written.
"""

import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from common import files
from finetune.data import records
from finetune.data.record_format import REGRESSION_LABEL
from helpers import ENGINES
from helpers import model_flags
from helpers import read_eval_results
from helpers import REPO_ROOT
from helpers import run_script
from helpers import ZH_DATA
from processors import get_processor
import tokenization_fast

# Each test runs the scripts or trains a model: seconds, not milliseconds.
pytestmark = pytest.mark.slow


def start_script(script, args, log_path, file_size_limit=None, masked=False):
  """Starts a script in a session of its own (so that its workers can be found).

  file_size_limit: bytes any file it writes may reach (RLIMIT_FSIZE), as a full disk
  would stop it. masked: it starts with SIGINT and SIGTERM masked, as a process started
  from a thread that masks them does (the mask goes through fork and exec).
  """
  def limit():
    if file_size_limit is not None:
      resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))
    if masked:
      signal.pthread_sigmask(signal.SIG_BLOCK, (signal.SIGINT, signal.SIGTERM))

  log = open(log_path, "w", encoding="utf-8")
  try:
    return subprocess.Popen([sys.executable, os.path.join(REPO_ROOT, script)] + list(args),
                            stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT,
                            start_new_session=True, preexec_fn=limit)
  finally:
    log.close()


def wait_for(condition, process, timeout, what):
  """Polls `condition` until true; fails if the process ends first or time runs out."""
  deadline = time.time() + timeout
  while time.time() < deadline:
    value = condition()
    if value:
      return value
    if process.poll() is not None:
      raise AssertionError("the run ended (code %s) before %s" % (process.returncode, what))
    time.sleep(0.02)
  raise AssertionError("no %s within %d s" % (what, timeout))


def session_is_gone(process):
  """True when no live process (zombies aside) is left in the script's process group."""
  for entry in os.listdir("/proc"):
    if not entry.isdigit():
      continue
    try:
      with open("/proc/%s/stat" % entry, encoding="utf-8", errors="replace") as f:
        # pid (comm) state ppid pgrp ...; comm may hold spaces, so split after ")".
        state, _, group = f.read().rsplit(")", 1)[1].split()[:3]
    except OSError:
      continue  # ended meanwhile
    if int(group) == process.pid and state != "Z":
      return False
  return True


def kill_main_process(process):
  """SIGKILL to the script's own process, as `kill -9 <pid>` would send it."""
  os.kill(process.pid, signal.SIGKILL)
  assert process.wait(timeout=30) == -signal.SIGKILL
  # Its conversion workers, if any, must not outlive it.
  deadline = time.time() + 15
  while not session_is_gone(process) and time.time() < deadline:
    time.sleep(0.1)
  assert session_is_gone(process), "processes of the killed run are still alive"


def clean_up(process):
  if process.poll() is None:
    process.kill()
    process.wait()
  if not session_is_gone(process):
    os.killpg(process.pid, signal.SIGKILL)


def latest_step(output_dir):
  """The step of the checkpoint named in output_dir/checkpoint, or None."""
  try:
    with open(os.path.join(output_dir, "checkpoint"), encoding="utf-8") as f:
      match = re.search(r'^model_checkpoint_path: "model\.ckpt-(\d+)"', f.read(), re.M)
  except FileNotFoundError:
    return None
  return int(match.group(1)) if match else None


@pytest.mark.parametrize("engine", ENGINES)
def test_killed_mid_training_resumes_from_the_last_checkpoint(engine, zh_model, tmp_path):
  output_dir = str(tmp_path / "out")
  command = ["--engine=" + engine, "--task_name=sim", "--do_train=true", "--do_eval=true",
             "--data_dir=" + ZH_DATA,
             "--output_dir=" + output_dir, "--max_seq_length=32", "--train_batch_size=2",
             "--num_train_epochs=3", "--save_checkpoints_steps=10", "--seed=1",
             *model_flags(zh_model)]
  planned = int(100 / 2 * 3)
  process = start_script("run_reg.py", command, str(tmp_path / "first.log"))
  try:
    wait_for(lambda: (latest_step(output_dir) or 0) >= 60, process, 120,
             "checkpoint at step 60")
    kill_main_process(process)
  finally:
    clean_up(process)
  killed_at = latest_step(output_dir)
  assert 0 < killed_at < planned
  assert not os.path.exists(os.path.join(output_dir, "eval_results.txt"))

  rerun = run_script("run_reg.py", *command)
  assert re.search(r"reusing .*train\.tf_record", rerun.stderr)
  assert re.search(r"Restoring parameters from .*model\.ckpt-%d\b" % killed_at, rerun.stderr)
  assert re.search(r"step %d/%d" % (planned, planned), rerun.stderr)
  results = read_eval_results(output_dir)
  assert results["global_step"] == planned and results["eval_num_examples"] == 28
  for key in ("eval_loss", "eval_pearson", "eval_spearman", "eval_mae", "eval_rmse"):
    assert np.isfinite(results[key]), key


def count_records(path):
  return sum(1 for _ in tf.compat.v1.io.tf_record_iterator(path))


def test_killed_while_writing_records_leaves_no_half_file(zh_model, tmp_path):
  """An edited train.tsv (30,000 rows) is being converted when the run is killed."""
  output_dir = str(tmp_path / "out")
  os.makedirs(output_dir)
  record_file = os.path.join(output_dir, "train.tf_record")
  vocab_file = os.path.join(zh_model, "vocab.txt")
  # What an earlier run on the original 100 rows left: their records and cache key.
  old = get_processor("sim").get_train_examples(ZH_DATA)
  settings = records.RecordSettings(
      tokenizer=tokenization_fast.FastFullTokenizer(vocab_file), vocab_file=vocab_file,
      do_lower_case=True, max_seq_length=32, label_feature=REGRESSION_LABEL)
  records.write_record_file(old, [e.label for e in old], record_file, settings)
  with open(record_file, "rb") as f:
    old_records = f.read()
  assert os.path.exists(record_file + ".key")

  data_dir = tmp_path / "data"
  data_dir.mkdir()
  with open(os.path.join(ZH_DATA, "train.tsv"), encoding="utf-8") as f:
    (data_dir / "train.tsv").write_text(f.read() * 300, encoding="utf-8")
  shutil.copyfile(os.path.join(ZH_DATA, "dev.tsv"), data_dir / "dev.tsv")
  command = ["--task_name=sim", "--do_train=true", "--do_eval=true",
             "--data_dir=%s" % data_dir, "--output_dir=" + output_dir, "--max_seq_length=32",
             "--train_batch_size=32", "--num_train_epochs=0.002", *model_flags(zh_model)]

  process = start_script("run_reg.py", command, str(tmp_path / "first.log"))
  temporary = files.temporary_name(record_file, process.pid)
  try:
    wait_for(lambda: os.path.exists(temporary) and os.path.getsize(temporary) > 0, process,
             120, "records being written")
    kill_main_process(process)
  finally:
    clean_up(process)
  with open(record_file, "rb") as f:
    assert f.read() == old_records  # the old file, whole: the new one never replaced it
  assert not os.path.exists(record_file + ".key")  # ... and it is no longer trusted
  partial_size = os.path.getsize(temporary)

  rerun = run_script("run_reg.py", *command)
  assert "removed 1 unfinished file(s) of an interrupted run" in rerun.stderr
  assert os.path.basename(temporary) in rerun.stderr
  assert not re.search(r"reusing .*train\.tf_record", rerun.stderr)
  assert [name for name in os.listdir(output_dir) if ".tmp-" in name] == []
  assert count_records(record_file) == 30000
  assert os.path.getsize(record_file) > partial_size
  with open(record_file + ".key", encoding="utf-8") as f:
    key = json.load(f)
  assert (key["records"], key["bytes"]) == (30000, os.path.getsize(record_file))
  results = read_eval_results(output_dir)
  assert results["global_step"] == 1 and results["eval_num_examples"] == 28


def test_a_result_file_killed_mid_write_keeps_its_old_content(tmp_path):
  """A process killed inside atomic_output, as if its disk were slow."""
  path = str(tmp_path / "eval_results.txt")
  with open(path, "w", encoding="utf-8") as f:
    f.write("eval_loss = 0.1\n")
  writer = ("import sys, time\nsys.path.insert(0, %r)\nfrom common import files\n"
            "with files.atomic_output(%r) as temporary:\n"
            "  with open(temporary, 'w') as f:\n"
            "    f.write('eval_lo')\n"
            "  print('half written', flush=True)\n"
            "  time.sleep(120)\n" % (REPO_ROOT, path))
  process = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE,
                             text=True, start_new_session=True)
  try:
    assert process.stdout.readline() == "half written\n"
    kill_main_process(process)
  finally:
    clean_up(process)
  temporary = files.temporary_name(path, process.pid)
  with open(temporary, encoding="utf-8") as f:
    assert f.read() == "eval_lo"
  with open(path, encoding="utf-8") as f:
    assert f.read() == "eval_loss = 0.1\n"
  assert files.remove_stale_temporaries(str(tmp_path)) == [os.path.basename(temporary)]
  assert os.listdir(tmp_path) == ["eval_results.txt"]


def test_only_temporary_files_of_dead_processes_are_removed(tmp_path):
  finished = subprocess.Popen([sys.executable, "-c", "pass"])
  finished.wait()
  dead = files.temporary_name(str(tmp_path / "train.tf_record"), finished.pid)
  alive = files.temporary_name(str(tmp_path / "eval_results.txt"), os.getpid())
  for path in (dead, alive, str(tmp_path / "notes.tmp-x"), str(tmp_path / "train.tf_record")):
    with open(path, "w", encoding="utf-8") as f:
      f.write("x")
  assert files.remove_stale_temporaries(str(tmp_path)) == [os.path.basename(dead)]
  assert sorted(os.listdir(tmp_path)) == sorted(
      [os.path.basename(alive), "notes.tmp-x", "train.tf_record"])
  assert files.remove_stale_temporaries("gs://bucket/run") == []


def read_log(path):
  with open(path, encoding="utf-8") as f:
    return f.read()


def long_training(output_dir, engine, epochs=2000):
  """A run_reg.py command that trains for minutes (2 examples a step), saving no
  checkpoint on its own before step 100000, with a progress line every 20 steps."""
  return ["--engine=" + engine, "--task_name=sim", "--do_train=true", "--do_eval=true",
          "--data_dir=" + ZH_DATA, "--output_dir=" + output_dir, "--max_seq_length=32",
          "--train_batch_size=2", "--num_train_epochs=%d" % epochs,
          "--save_checkpoints_steps=100000", "--log_every_n_steps=20", "--seed=1"]


def wait_for_training(process, log_path):
  """Waits until the run has trained 20 steps (its first progress line)."""
  wait_for(lambda: re.search(r"\bstep 20/\d+ ", read_log(log_path)), process, 120,
           "20 training steps")
  assert process.poll() is None, "the run ended before it was interrupted"


@pytest.mark.parametrize("signum,engine", [(signal.SIGINT, engine) for engine in ENGINES] +
                         [(signal.SIGTERM, ENGINES[-1])])
def test_ctrl_c_or_sigterm_saves_the_step_reached_and_the_rerun_finishes(signum, engine,
                                                                        zh_model, tmp_path):
  output_dir = str(tmp_path / "out")
  command = long_training(output_dir, engine) + model_flags(zh_model)
  log_path = str(tmp_path / "first.log")
  process = start_script("run_reg.py", command, log_path)
  try:
    wait_for_training(process, log_path)
    process.send_signal(signum)
    assert process.wait(timeout=60) == 128 + signum
  finally:
    clean_up(process)
  log = read_log(log_path)
  assert "Traceback" not in log
  last_line = log.strip().splitlines()[-1]
  match = re.match(r"interrupted by %s at step (\d+) of 100000; the checkpoint of that step "
                   r"is (\S+); the same command resumes from it$" %
                   signal.Signals(signum).name, last_line)
  assert match, last_line
  step, checkpoint = int(match.group(1)), match.group(2)
  assert checkpoint == os.path.join(output_dir, "model.ckpt-%d" % step)
  assert os.path.exists(checkpoint + ".index") and latest_step(output_dir) == step
  assert step >= 20  # no checkpoint was due before step 100000: the step reached was saved
  assert not os.path.exists(os.path.join(output_dir, "eval_results.txt"))
  assert not os.path.exists(os.path.join(output_dir, ".lock"))  # released

  # The same command, with fewer epochs so that it ends soon: it resumes at `step`. The
  # epochs ask for step + 20.5 steps of 2 examples out of 100, so that no rounding of
  # the product can reach another whole number of steps than step + 20.
  rerun = run_script("run_reg.py", *[arg.replace("epochs=2000", "epochs=%r" % (
      (step + 20.5) * 2 / 100)) for arg in command])
  assert re.search(r"Restoring parameters from .*model\.ckpt-%d\b" % step, rerun.stderr)
  assert re.search(r"training: 100 examples, .*, %d steps " % (step + 20), rerun.stderr)
  results = read_eval_results(output_dir)
  assert results["global_step"] == step + 20
  assert {"eval_loss", "eval_pearson", "eval_spearman", "eval_mae", "eval_rmse"} <= set(results)


# Workers: the pool's fork; one: no fork (nothing unmasks the signals on the way there).
# Masked: a run whose parent left SIGINT and SIGTERM masked held Ctrl-C to its end, exit 0.
@pytest.mark.parametrize("workers,masked", [(2, False), (1, True)])
def test_ctrl_c_during_conversion_leaves_no_file_under_a_real_name(workers, masked, zh_model,
                                                                   tmp_path):
  data_dir = tmp_path / "data"
  data_dir.mkdir()
  with open(os.path.join(ZH_DATA, "train.tsv"), encoding="utf-8") as f:
    (data_dir / "train.tsv").write_text(f.read() * 600, encoding="utf-8")
  output_dir = str(tmp_path / "out")
  log_path = str(tmp_path / "run.log")
  process = start_script("run_reg.py", [
      "--task_name=sim", "--do_train=true", "--data_dir=%s" % data_dir,
      "--output_dir=" + output_dir, "--max_seq_length=32",
      "--conversion_workers=%d" % workers, *model_flags(zh_model)], log_path, masked=masked)
  temporary = files.temporary_name(os.path.join(output_dir, "train.tf_record"), process.pid)
  try:
    wait_for(lambda: os.path.exists(temporary), process, 120, "records being written")
    os.killpg(process.pid, signal.SIGINT)  # as Ctrl-C reaches the whole process group
    assert process.wait(timeout=60) == 130
    deadline = time.time() + 15
    while not session_is_gone(process) and time.time() < deadline:
      time.sleep(0.1)
    assert session_is_gone(process)  # the conversion workers ended too
  finally:
    clean_up(process)
  log = read_log(log_path)
  assert "Traceback" not in log and "KeyboardInterrupt" not in log
  assert log.strip().splitlines()[-1].startswith("interrupted by SIGINT; nothing "
                                                 "half-written was left behind")
  assert sorted(os.listdir(output_dir)) == []  # no records, no key, no temporary, no lock


def test_one_run_per_output_folder_and_a_dead_holders_lock_is_taken_over(zh_model, tmp_path):
  output_dir = str(tmp_path / "out")
  command = long_training(output_dir, ENGINES[0]) + model_flags(zh_model)
  first = start_script("run_reg.py", command, str(tmp_path / "first.log"))
  try:
    wait_for_training(first, str(tmp_path / "first.log"))
    second = run_script("run_reg.py", *command, check=False)
    assert second.returncode == 1 and "Traceback" not in second.stderr
    assert re.match(r"error: --output_dir=%s is in use by process %d on \S+ since .+; wait "
                    r"for that run to end or use another --output_dir \(if that run is gone, "
                    r"remove %s\)$" % (re.escape(output_dir), first.pid,
                                        re.escape(os.path.join(output_dir, ".lock"))),
                    second.stderr.strip().splitlines()[-1])
    kill_main_process(first)  # kill -9: the lock stays behind
  finally:
    clean_up(first)
  with open(os.path.join(output_dir, ".lock")) as f:
    assert json.load(f)["pid"] == first.pid
  third = run_script("run_reg.py", *[arg.replace("epochs=2000", "epochs=1")
                                     for arg in command])
  assert re.search(r"took over .*\.lock: its process %d \(started .*\) no longer runs" %
                   first.pid, third.stderr)
  assert not os.path.exists(os.path.join(output_dir, ".lock"))


def test_a_write_over_the_file_size_limit_is_one_line_and_the_rerun_resumes(zh_model,
                                                                           tmp_path):
  """With files limited to 1 MB the records fit, the graph and the checkpoints do not."""
  output_dir = str(tmp_path / "out")
  command = ["--task_name=sim", "--do_train=true", "--do_eval=true", "--data_dir=" + ZH_DATA,
             "--output_dir=" + output_dir, "--max_seq_length=32", "--train_batch_size=8",
             "--num_train_epochs=1", *model_flags(zh_model)]
  log_path = str(tmp_path / "limited.log")
  process = start_script("run_reg.py", command, log_path, file_size_limit=1 << 20)
  try:
    assert process.wait(timeout=120) == 1
  finally:
    clean_up(process)
  log = read_log(log_path)
  assert "Traceback" not in log
  last_line = log.strip().splitlines()[-1]
  assert re.match(r"error: %s/\S+: could not be written: the file is larger "
                  r"than this process may write \(a file size limit: ulimit -f\)\. Nothing "
                  r"was left half-written under a real name" % re.escape(output_dir),
                  last_line), last_line
  left = sorted(os.listdir(output_dir))
  assert not [name for name in left if re.match(r"model\.ckpt-\d+\.(index|data)", name)]
  assert not {"checkpoint", "graph.pbtxt", ".lock", "eval_results.txt"} & set(left), left
  run_script("run_reg.py", *command)  # room enough now
  assert read_eval_results(output_dir)["global_step"] == int(100 / 8)
