"""One run per output folder: a lock file that names its holder.

A run takes `<output_dir>/.lock` (its process id, host, start time and command) before it
writes anything there, and removes it when it ends, however it ends short of a kill -9.
A second run into the same folder stops with one line naming the holder. A lock left by
a process that no longer runs on this host (killed with -9, power cut) is taken over,
with a note in the log.

Local folders, and shared file systems that honour O_EXCL (NFS v3 and later), get an
exclusive create: of two runs started at the same moment, one wins. Whether a holder on
another host still runs cannot be seen from here, so its lock is never taken over: the
message says to remove the file if that run is gone. On gs:// (no exclusive create
there) the lock is advisory: it stops a second run started after the first, but two
started within the same second may both proceed.
"""

import contextlib
import json
import os
import socket
import sys
import time

from absl import logging

from common import files
from common.errors import UserError

LOCK_NAME = ".lock"


def _holder():
  return {"pid": os.getpid(), "host": socket.gethostname(),
          "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
          "command": " ".join(sys.argv)}


def _read(path):
  try:
    return json.loads(files.read_text(path))
  except (ValueError, OSError):
    return None


def _busy_error(directory, path, holder):
  if holder is None:
    who = "another run (its lock file is unreadable)"
  else:
    who = "process %s on %s since %s" % (holder.get("pid"), holder.get("host"),
                                          holder.get("started"))
  return UserError("--output_dir=%s is in use by %s; wait for that run to end or use "
                   "another --output_dir (if that run is gone, remove %s)" %
                   (directory, who, path))


def _create_exclusively(path, text):
  """Creates `path` holding `text` unless it exists; True when this call created it."""
  if not files.is_local(path):
    if files.exists(path):
      return False
    files.write_text_atomically(path, text)
    return True
  try:
    descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
  except FileExistsError:
    return False
  with os.fdopen(descriptor, "w") as f:
    f.write(text)
  return True


def acquire(directory):
  """Takes the lock of `directory` (which must exist); raises UserError if it is busy."""
  path = os.path.join(directory, LOCK_NAME)
  mine = _holder()
  text = json.dumps(mine) + "\n"
  if _create_exclusively(path, text):
    return path
  holder = _read(path)
  stale = (holder is not None and files.is_local(path) and
           holder.get("host") == mine["host"] and
           not files.process_is_alive(int(holder.get("pid", 0))))
  if not stale:
    raise _busy_error(directory, path, holder)
  files.write_text_atomically(path, text)
  if _read(path) != mine:  # another run took the stale lock over at the same moment
    raise _busy_error(directory, path, _read(path))
  logging.warning("took over %s: its process %s (started %s) no longer runs", path,
                  holder.get("pid"), holder.get("started"))
  return path


def release(path):
  """Removes the lock at `path` if this process holds it."""
  holder = _read(path)
  if holder is not None and holder.get("pid") == os.getpid() and (
      holder.get("host") == socket.gethostname()):
    files.remove(path)


@contextlib.contextmanager
def holding(directory, enabled=True):
  """Creates `directory` and holds its lock within the block (nothing if not enabled)."""
  files.makedirs(directory)
  if not enabled:
    yield
    return
  path = acquire(directory)
  try:
    yield
  finally:
    release(path)
