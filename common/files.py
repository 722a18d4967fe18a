"""The one file API of the project: local paths and gs:// alike, whole-or-nothing writes.

Local paths go through the operating system; any other (`gs://...`) through
tf.io.gfile, so a `gs://` data or output folder behaves as a local one everywhere.
TensorFlow is imported only for such a path: predict.py on an ONNX folder needs none.
Writes go to a temporary name and are renamed when complete: a run killed mid-write
leaves at most a `*.tmp-<pid>` file, never a half file under the real name that a later
run would trust; the next run in the folder deletes such files
(remove_stale_temporaries). On gs:// a rename is a copy, still only done once the data
is complete.

A write that fails for want of room (a full disk, a quota, a file size limit, a
read-only file system) raises WriteError, one line naming the file meant (never its
temporary name) and the reason: `writing(path)` makes that of any error inside its block,
and atomic_output, atomic_directory and every write function here write within it. A
new writer gets the same by writing through them.
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
  import tensorflow as tf
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


def remove_tree(path):
  """Deletes a folder and everything in it."""
  if is_local(path):
    shutil.rmtree(path)
  else:
    _gfile().rmtree(path)


def move(source, target):
  """Renames a file or folder (on gs://: copies, then deletes); refuses to replace `target`."""
  if not (is_local(source) and is_local(target)):
    _gfile().rename(source, target, overwrite=False)
    return
  if os.path.exists(target):
    raise FileExistsError(errno.EEXIST, "refusing to replace it", target)
  os.rename(source, target)


def rename(source, target):
  """Renames a file, replacing `target` (on gs://: a copy, then a delete)."""
  if is_local(source) and is_local(target):
    os.replace(source, target)
  else:
    _gfile().rename(source, target, overwrite=True)


def size(path):
  """Bytes in a file."""
  return os.path.getsize(path) if is_local(path) else _gfile().stat(path).length


def open_file(path, mode):
  """A file object: "rb", "wb", or "r" / "w" for UTF-8 text (line ends kept as they are)."""
  if not is_local(path):
    return _gfile().GFile(path, mode)
  if "b" in mode:
    return open(path, mode)
  return open(path, mode, encoding="utf-8", newline="")


def copy(source, target):
  """Copies a file (replacing `target`)."""
  if is_local(source) and is_local(target):
    shutil.copyfile(source, target)
  else:
    _gfile().copy(source, target, overwrite=True)


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
# TensorFlow names a file that failed as "<path>; <strerror>"; else any absolute path.
_PATH_BEFORE_REASON = r"((?:gs:/)?/[^\s;'\"]+); %s"
_PATH_IN_MESSAGE = re.compile(r"(?:^|\s)((?:gs:/)?/[^\s;:,'\"]+)")
# Where a file is written before it gets its name: ours (.tmp-<pid>), TensorFlow's
# (.tempstate<digits> for a file, .tmp<uuid> for an atomic string write).
_WRITING_SUFFIX = re.compile(r"(\.tmp-\d+|\.tempstate\d+|\.tmp[0-9a-f]{32})$")


class WriteError(UserError):
  """A file could not be written (disk full, quota, size limit, read-only file system).

  path: the file (or folder) named; reason: why, in words.
  """

  def __init__(self, path, reason):
    self.path = path
    self.reason = reason
    super().__init__("%s: could not be written: %s. Nothing was left half-written under a "
                     "real name; once the file can be written, the same command resumes" %
                     (path, reason))


def real_name(path):
  """The name a file being written will have: `path` without a temporary suffix."""
  return _WRITING_SUFFIX.sub("", path)


def write_failure(error, default_path, path=None):
  """A WriteError for `error` if it is a failed write, else None.

  Args:
    error: an OSError, or a TensorFlow error whose message tells a failed write.
    default_path: what to name when the error names no file.
    path: the file (or folder) being written, named whatever the error says.
  """
  number = getattr(error, "errno", None)
  message = str(getattr(error, "message", error))
  for code, text, reason in _WRITE_FAILURES:
    if number == code or text in message:
      if path is None:
        path = getattr(error, "filename", None)
        if not path:
          found = (re.search(_PATH_BEFORE_REASON % re.escape(text), message) or
                   _PATH_IN_MESSAGE.search(message))
          path = found.group(1) if found else default_path
        path = real_name(path)
      return WriteError(path, reason)
  return None


@contextlib.contextmanager
def writing(path):
  """Within the block, a failed write (write_failure) raises WriteError naming `path`."""
  try:
    yield
  except WriteError:
    raise
  except Exception as e:
    failure = write_failure(e, path, path=path)
    if failure is None:
      raise
    raise failure from None


def temporary_name(path, pid):
  """Where process `pid` writes `path` before renaming it."""
  return "%s.tmp-%d" % (path, pid)


@contextlib.contextmanager
def atomic_output(path):
  """Yields a temporary path to write; renames it to `path` if the block succeeds."""
  temporary = temporary_name(path, os.getpid())
  try:
    with writing(path):
      yield temporary
      rename(temporary, path)
  finally:
    if exists(temporary):
      remove(temporary)


@contextlib.contextmanager
def atomic_outputs(paths):
  """Yields a temporary path for each of `paths`; renames them all, in order, if the
  block succeeds.

  No file is renamed before every one is written: a failure leaves each path as it was.
  """
  temporaries = [temporary_name(path, os.getpid()) for path in paths]
  try:
    try:
      yield temporaries
    except WriteError:
      raise
    except Exception as e:
      failure = write_failure(e, paths[0])  # names the file whose write failed
      if failure is None:
        raise
      raise failure from None
    for temporary, path in zip(temporaries, paths):
      with writing(path):
        rename(temporary, path)
  finally:
    for temporary in temporaries:
      if exists(temporary):
        remove(temporary)


@contextlib.contextmanager
def atomic_directory(path, temporary=None, replace=False):
  """Yields a temporary folder to fill; renames it to `path` if the block succeeds.

  `path` must not exist yet, unless `replace`: then a folder there is moved aside once
  the new one is done, and deleted after the new one has its name. On a failure the
  temporary folder and all in it go (and `path` stays as it was).
  temporary: the folder to fill (default: temporary_name(path, this process)).
  """
  temporary = temporary or temporary_name(path, os.getpid())
  try:
    with writing(path):
      yield temporary
      if replace and exists(path):
        previous = temporary + ".previous"
        move(path, previous)
        move(temporary, path)
        remove_tree(previous)
      else:
        move(temporary, path)
  finally:
    if exists(temporary):
      remove_tree(temporary)


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
    copy(source, temporary)


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
