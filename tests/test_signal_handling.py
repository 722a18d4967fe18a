"""common/interruption.py in this process: what the handler does with a signal, where.

The scripts' behaviour under signals is tested end to end in test_interruption.py; these
tests pin down the cases a real run meets only by chance: a signal that reaches another
thread while the main thread forks workers, and a signal whose exception Python drops.
"""

import signal
import threading
import time

import pytest

from common import interruption
from finetune.data import fast_serialization
from finetune.data import feature_workers
from finetune.data import record_format
from processors import InputExample
import tokenization_fast

TIMEOUT = 30


@pytest.fixture(name="handlers")
def fixture_handlers():
  """interruption.install() for the test; this process's own handlers back afterwards."""
  previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
  interruption.install()
  # What the tests rely on, checked before any of them raises a real signal: a SIGTERM
  # that reached this process without our handler would end it (its default action),
  # and pytest-xdist would only say "node down: Not properly terminated".
  assert threading.current_thread() is threading.main_thread(), "not the main thread"
  for signum in (signal.SIGINT, signal.SIGTERM):
    assert signal.getsignal(signum) is interruption._handle, (  # pylint: disable=protected-access
        "%s: %r" % (interruption.signal_name(signum), signal.getsignal(signum)))
  blocked = signal.pthread_sigmask(signal.SIG_BLOCK, [])
  assert not blocked & {signal.SIGINT, signal.SIGTERM}, "blocked in this thread: %s" % blocked
  assert interruption.requested() is None
  yield
  for signum, handler in previous.items():
    signal.signal(signum, handler)
  interruption.forget()  # later tests in this process start with no signal received


def _wait_until_recorded():
  deadline = time.time() + TIMEOUT
  while interruption.requested() is None and time.time() < deadline:
    time.sleep(0.001)
  assert interruption.requested() is not None, "the handler did not run"


def test_a_signal_through_another_thread_while_blocked_is_raised_as_the_block_ends(handlers):
  # The main thread masks the signals, so the kernel gives the signal to another thread;
  # Python still runs the handler in the main thread, inside the block. Raised there, it
  # would land in whatever runs then (a fork hook drops it); it must wait for the end.
  # The sender starts before the block: a thread started inside it would inherit the mask.
  go = threading.Event()
  sender = threading.Thread(target=lambda: go.wait(TIMEOUT) and signal.raise_signal(
      signal.SIGINT))
  sender.start()
  reached = []
  try:
    with pytest.raises(interruption.Interrupted) as raised:
      with interruption.blocked():
        go.set()
        _wait_until_recorded()
        reached.append("the end of the block")
  finally:
    go.set()
    sender.join()
  assert reached == ["the end of the block"]
  assert raised.value.exit_status == 130


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_signal_whose_exception_python_dropped_is_raised_at_the_next_check(handlers,
                                                                            tiny_vocab_file):
  class RaisesInAFinalizer:

    def __del__(self):
      signal.getsignal(signal.SIGINT)(signal.SIGINT, None)  # Interrupted, printed and dropped

  dropped = RaisesInAFinalizer()
  del dropped
  assert interruption.requested() == signal.SIGINT
  with pytest.raises(interruption.Interrupted):
    with interruption.finishing_the_step():  # training does not start
      pytest.fail("the block ran")
  examples = [InputExample("train-%d" % i, "the man", "a dog", 0.5) for i in range(300)]
  converted = feature_workers.convert_examples(
      examples, [0.5] * len(examples),
      tokenizer=tokenization_fast.FastFullTokenizer(tiny_vocab_file), max_seq_length=16,
      label_feature=record_format.REGRESSION_LABEL,
      serialize=fast_serialization.serialize_features, num_workers=1)
  with pytest.raises(interruption.Interrupted):  # the conversion stops after a chunk
    for _ in converted:
      pass


def test_a_second_signal_while_the_step_finishes_stops_at_once(handlers):
  """Within finishing_the_step the first signal only asks; the second raises."""
  with interruption.finishing_the_step():
    signal.raise_signal(signal.SIGINT)  # this thread's handler, run at the next bytecode
    assert interruption.requested() == signal.SIGINT
    with pytest.raises(interruption.Interrupted) as raised:
      signal.raise_signal(signal.SIGTERM)
      pytest.fail("not raised")
  assert raised.value.exit_status == 128 + signal.SIGTERM


def test_a_signal_handled_as_the_mask_is_set_leaves_the_signals_unmasked(handlers,
                                                                        monkeypatch):
  # A signal that came just before blocked() masks the signals has its handler run right
  # after the mask is set (the next bytecode); raised there, it would leave them masked.
  real = signal.pthread_sigmask

  def masking_then_a_signal(how, mask):
    previous = real(how, mask)
    if how == signal.SIG_BLOCK:
      signal.getsignal(signal.SIGINT)(signal.SIGINT, None)  # the handler, as Python runs it
    return previous

  monkeypatch.setattr(signal, "pthread_sigmask", masking_then_a_signal)
  reached = []
  with pytest.raises(interruption.Interrupted) as raised:
    with interruption.blocked():
      reached.append("the block")
  monkeypatch.undo()
  assert reached == ["the block"]
  assert raised.value.signum == signal.SIGINT
  assert not signal.pthread_sigmask(signal.SIG_BLOCK, []) & {signal.SIGINT, signal.SIGTERM}
