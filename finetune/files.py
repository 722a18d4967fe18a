"""Whole-or-nothing file writing: write to a temporary name, rename when complete.

A run killed mid-write leaves at most a `*.tmp-<pid>` file, never a half file under the
real name that a later run would trust; the next run in the folder deletes such files
(remove_stale_temporaries). Works on local disks and, through tf.io.gfile, on gs://
paths (where rename is a copy, still only done once the data is complete).
"""

import contextlib
import os
import re

from absl import logging
import tensorflow as tf

_TEMPORARY_NAME = re.compile(r"\.tmp-(\d+)$")


def temporary_name(path, pid):
  """Where process `pid` writes `path` before renaming it."""
  return "%s.tmp-%d" % (path, pid)


@contextlib.contextmanager
def atomic_output(path):
  """Yields a temporary path to write; renames it to `path` if the block succeeds."""
  temporary = temporary_name(path, os.getpid())
  try:
    yield temporary
    tf.io.gfile.rename(temporary, path, overwrite=True)
  finally:
    if tf.io.gfile.exists(temporary):
      tf.io.gfile.remove(temporary)


def write_text_atomically(path, text):
  """Writes `text` (str, UTF-8) to `path` whole or not at all."""
  with atomic_output(path) as temporary:
    with tf.io.gfile.GFile(temporary, "w") as f:
      f.write(text)


def copy_atomically(source, target):
  """Copies a file whole or not at all."""
  with atomic_output(target) as temporary:
    tf.io.gfile.copy(source, temporary, overwrite=True)


def _process_is_alive(pid):
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # alive, someone else's
    return True
  return True


def remove_stale_temporaries(directory):
  """Deletes the `*.tmp-<pid>` files a killed run left in `directory`; returns their names.

  Only files of processes no longer alive on this machine are removed, so a run
  writing into the same folder keeps its files. Remote folders (gs://...) are left
  alone: their writers' pids mean nothing here.
  """
  if "://" in directory or not tf.io.gfile.isdir(directory):
    return []
  removed = []
  for name in sorted(tf.io.gfile.listdir(directory)):
    match = _TEMPORARY_NAME.search(name)
    if match is None or _process_is_alive(int(match.group(1))):
      continue
    path = os.path.join(directory, name)
    if tf.io.gfile.isdir(path):
      continue
    tf.io.gfile.remove(path)
    removed.append(name)
  if removed:
    logging.info("removed %d unfinished file(s) of an interrupted run from %s: %s",
                 len(removed), directory, ", ".join(removed))
  return removed
