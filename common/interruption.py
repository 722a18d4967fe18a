"""Ctrl-C (SIGINT) and SIGTERM: stop cleanly, say where things stand, exit 130 or 143.

`install()` (called by cli.run_app) handles both signals:
  - while training (inside `finishing_the_step()`), the first signal only asks the
    training session to stop after the step it runs: the engine's final checkpoint
    save then keeps that step, and the pipeline reports it (Interrupted);
  - anywhere else, or at a second signal, it raises Interrupted at once. Every file is
    written under a temporary name (common/files.py), so nothing is left half-written
    under a real name;
  - inside `blocked()` (while forking workers) it only records the signal, raised as the
    block ends: Python runs the handler in the main thread whichever thread the signal
    reached, so masking the main thread alone does not hold it back, and an exception
    raised inside a fork hook (logging's, multiprocessing's) is printed and dropped.
A signal is never forgotten: one whose exception Python dropped anyway (raised in a fork
hook or a finalizer) is raised by the next `raise_if_requested()`, which the conversion
loop calls after each chunk and training calls before it starts.
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
_deferring = [0]  # the depth of blocked() blocks: the handler records, not raises


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
  if _deferring[0]:
    return  # raised as blocked() ends
  if _finishing_step[0] and len(_requested) == 1:
    return  # the training hook stops the session after this step
  raise Interrupted(signum)


def install():
  """Handles SIGINT and SIGTERM as the module docstring says (main thread only).

  Also unmasks them in the main thread: a process inherits its parent's signal mask
  through fork and exec, and a run started with them masked (by a launcher that masks
  them in the thread that starts it) would hold every Ctrl-C until its end and exit 0.
  """
  if threading.current_thread() is not threading.main_thread():
    return
  forget()
  for signum in _SIGNALS:
    signal.signal(signum, _handle)
  signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)


def forget():
  """Forgets the signals received (a new run in the same process starts with none)."""
  del _requested[:]


def requested():
  """The first signal received, or None."""
  return _requested[0] if _requested else None


def raise_if_requested():
  """Raises Interrupted if a signal was received: its own raise was dropped by Python
  (in a fork hook or a finalizer), or it came while the handler only recorded."""
  if _requested:
    raise Interrupted(_requested[0])


@contextlib.contextmanager
def finishing_the_step():
  """Within the block, a first signal lets the current training step finish.

  A signal received before the block whose exception Python dropped is raised now,
  before any step runs.
  """
  raise_if_requested()
  _finishing_step[0] = True
  try:
    yield
  finally:
    _finishing_step[0] = False


@contextlib.contextmanager
def blocked():
  """Within the block, SIGINT and SIGTERM wait (raised at its end): for forking workers.

  A worker forked while they are blocked starts with them blocked, so none can reach it
  before worker_setup has given it its own handling. In this process the handler only
  records a signal that comes meanwhile (through another thread, which the mask does not
  cover); Interrupted is raised once the block has ended.
  """
  received = len(_requested)
  # Deferring before masking: a signal Python takes as the mask is set (one that came
  # just before it) is recorded, not raised where the mask could be left set.
  _deferring[0] += 1
  try:
    signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
    try:
      yield
    finally:
      signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)  # a held signal is recorded now
  finally:
    _deferring[0] -= 1
  if len(_requested) > received:
    raise Interrupted(_requested[received])


def worker_setup():
  """A worker process's handling: Ctrl-C, which reaches the whole process group, is the
  parent's to act on; SIGTERM (the parent ending its workers) ends it quietly."""
  signal.signal(signal.SIGINT, signal.SIG_IGN)
  signal.signal(signal.SIGTERM, signal.SIG_DFL)
  signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
