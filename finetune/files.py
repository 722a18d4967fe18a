"""Whole-or-nothing file writing: write to a temporary name, rename when complete.

A run killed mid-write leaves at most a `*.tmp-<pid>` file, never a half file under the
real name that a later run would trust. Works on local disks and, through tf.io.gfile,
on gs:// paths (where rename is a copy, still only done once the data is complete).
"""

import contextlib
import os

import tensorflow as tf


@contextlib.contextmanager
def atomic_output(path):
  """Yields a temporary path to write; renames it to `path` if the block succeeds."""
  temporary = "%s.tmp-%d" % (path, os.getpid())
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
