"""Ctrl-C (SIGINT) and SIGTERM: stop cleanly, say where things stand, exit 130 or 143.

`install()` (called by cli.run_app) handles both signals:
  - while training (inside `finishing_the_step()`), the first signal only asks the
    training session to stop after the step it runs: the engine's final checkpoint
    save then keeps that step, and the pipeline reports it (Interrupted);
  - anywhere else, or at a second signal, it raises Interrupted at once. Every file is
    written under a temporary name (common/files.py), so nothing is left half-written
    under a real name.
cli.run_app turns Interrupted into one line and the signal's exit status (128 + its
number: 130 for SIGINT, 143 for SIGTERM), with no traceback. A scheduler's SIGTERM
(Slurm, Kubernetes, preemptible machines) is handled like Ctrl-C.
"""

import contextlib
import signal
import threading

from common.errors import UserError

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_requested = []  # the signals received, in order (read by the training hooks' thread too)
_finishing_step = [False]


class Interrupted(UserError):
  """The run was stopped by a signal; exit_status is 128 + the signal's number."""

  def __init__(self, signum, message=None):
    self.signum = signum
    self.exit_status = 128 + signum
    super().__init__(message or "interrupted by %s; nothing half-written was left behind; "
                     "the same command starts over from what is done" % signal_name(signum))


def signal_name(signum):
  return signal.Signals(signum).name


def _handle(signum, frame):
  del frame
  _requested.append(signum)
  if _finishing_step[0] and len(_requested) == 1:
    return  # the training hook stops the session after this step
  raise Interrupted(signum)


def install():
  """Handles SIGINT and SIGTERM as the module docstring says (main thread only)."""
  if threading.current_thread() is not threading.main_thread():
    return
  del _requested[:]
  for signum in _SIGNALS:
    signal.signal(signum, _handle)


def requested():
  """The first signal received, or None."""
  return _requested[0] if _requested else None


@contextlib.contextmanager
def finishing_the_step():
  """Within the block, a first signal lets the current training step finish.

  A signal before the block has already raised (or was handled by whoever installed
  other handlers): the block starts with none requested.
  """
  del _requested[:]
  _finishing_step[0] = True
  try:
    yield
  finally:
    _finishing_step[0] = False


@contextlib.contextmanager
def blocked():
  """Within the block, SIGINT and SIGTERM wait (delivered at its end): for forking workers.

  A worker forked while they are blocked starts with them blocked, so none can reach it
  before worker_setup has given it its own handling.
  """
  signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
  try:
    yield
  finally:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)


def worker_setup():
  """A worker process's handling: Ctrl-C, which reaches the whole process group, is the
  parent's to act on; SIGTERM (the parent ending its workers) ends it quietly."""
  signal.signal(signal.SIGINT, signal.SIG_IGN)
  signal.signal(signal.SIGTERM, signal.SIG_DFL)
  signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
