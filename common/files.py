"""The one file API of the project: local paths and gs:// alike, whole-or-nothing writes.

Local paths go through the operating system; any other (`gs://...`) through
tf.io.gfile, so a `gs://` data or output folder behaves as a local one everywhere.
TensorFlow is imported only for such a path: predict.py on an ONNX folder needs none.
Writes go to a temporary name and are renamed when complete: a run killed mid-write
leaves at most a `*.tmp-<pid>` file, never a half file under the real name that a later
run would trust; the next run in the folder deletes such files
(remove_stale_temporaries). On gs:// a rename is a copy, still only done once the data
is complete.
"""

import contextlib
import errno
import os
import re
import shutil

from absl import logging

from common.errors import UserError

_TEMPORARY_NAME = re.compile(r"\.tmp-(\d+)$")


def is_local(path):
  return "://" not in path


def _gfile():
  """tf.io.gfile, for paths the operating system does not reach."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return tf.io.gfile


def exists(path):
  return os.path.exists(path) if is_local(path) else _gfile().exists(path)


def isdir(path):
  return os.path.isdir(path) if is_local(path) else _gfile().isdir(path)


def isfile(path):
  if is_local(path):
    return os.path.isfile(path)
  return _gfile().exists(path) and not _gfile().isdir(path)


def listdir(path):
  """Names in a folder (without a trailing "/" for sub-folders)."""
  names = os.listdir(path) if is_local(path) else _gfile().listdir(path)
  return [name.rstrip("/") for name in names]


def makedirs(path):
  if is_local(path):
    os.makedirs(path, exist_ok=True)
  else:
    _gfile().makedirs(path)


def remove(path):
  if is_local(path):
    os.remove(path)
  else:
    _gfile().remove(path)


def size(path):
  """Bytes in a file."""
  return os.path.getsize(path) if is_local(path) else _gfile().stat(path).length


def open_file(path, mode):
  """A file object: "rb", "wb", or "r" / "w" for UTF-8 text (line ends kept as they are)."""
  if not is_local(path):
    return _gfile().GFile(path, mode)
  if "b" in mode:
    return open(path, mode)  # pylint: disable=consider-using-with,unspecified-encoding
  return open(path, mode, encoding="utf-8", newline="")  # pylint: disable=consider-using-with


def read_bytes(path):
  with open_file(path, "rb") as f:
    return f.read()


def read_text(path):
  """A UTF-8 file's text."""
  with open_file(path, "r") as f:
    return f.read()


def same_file(first, second):
  """True when two paths name one file (for local paths; else compares the strings)."""
  if is_local(first) and is_local(second):
    return os.path.abspath(first) == os.path.abspath(second)
  return first == second


# What a failed write says, in an OSError's errno or in a TensorFlow error's message.
_WRITE_FAILURES = (
    (errno.ENOSPC, "No space left on device", "no space left on the device"),
    (errno.EDQUOT, "Disk quota exceeded", "the disk quota is exceeded"),
    (errno.EFBIG, "File too large", "the file is larger than this process may write (a "
     "file size limit: ulimit -f)"),
    (errno.EROFS, "Read-only file system", "the file system is read-only"),
)
_PATH_IN_MESSAGE = re.compile(r"((?:gs:/)?/[^\s;:,'\"]+)")


class WriteError(UserError):
  """A file could not be written (disk full, quota, size limit, read-only file system)."""


def write_failure(error, default_path):
  """A WriteError for `error` if it is a failed write, else None.

  Args:
    error: an OSError, or a TensorFlow error whose message tells a failed write.
    default_path: what to name when the error names no file.
  """
  number = getattr(error, "errno", None)
  message = str(getattr(error, "message", error))
  for code, text, reason in _WRITE_FAILURES:
    if number == code or text in message:
      path = getattr(error, "filename", None)
      if not path:
        found = _PATH_IN_MESSAGE.search(message)
        path = found.group(1) if found else default_path
      return WriteError("%s: could not be written: %s. Nothing was left half-written under "
                        "a real name; once the file can be written, the same command "
                        "resumes" % (path, reason))
  return None


def temporary_name(path, pid):
  """Where process `pid` writes `path` before renaming it."""
  return "%s.tmp-%d" % (path, pid)


@contextlib.contextmanager
def atomic_output(path):
  """Yields a temporary path to write; renames it to `path` if the block succeeds."""
  temporary = temporary_name(path, os.getpid())
  try:
    yield temporary
    if is_local(path):
      os.replace(temporary, path)
    else:
      _gfile().rename(temporary, path, overwrite=True)
  finally:
    if exists(temporary):
      remove(temporary)


def write_text_atomically(path, text):
  """Writes `text` (str, UTF-8) to `path` whole or not at all."""
  with atomic_output(path) as temporary:
    with open_file(temporary, "w") as f:
      f.write(text)


def write_bytes_atomically(path, data):
  """Writes `data` (bytes) to `path` whole or not at all."""
  with atomic_output(path) as temporary:
    with open_file(temporary, "wb") as f:
      f.write(data)


def copy_atomically(source, target):
  """Copies a file whole or not at all."""
  with atomic_output(target) as temporary:
    if is_local(source) and is_local(target):
      shutil.copyfile(source, temporary)
    else:
      _gfile().copy(source, temporary, overwrite=True)


def process_is_alive(pid):
  """True when a process with this pid runs on this machine."""
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
  if not is_local(directory) or not isdir(directory):
    return []
  removed = []
  for name in sorted(listdir(directory)):
    match = _TEMPORARY_NAME.search(name)
    if match is None or process_is_alive(int(match.group(1))):
      continue
    path = os.path.join(directory, name)
    if isdir(path):
      continue
    remove(path)
    removed.append(name)
  if removed:
    logging.info("removed %d unfinished file(s) of an interrupted run from %s: %s",
                 len(removed), directory, ", ".join(removed))
  return removed
