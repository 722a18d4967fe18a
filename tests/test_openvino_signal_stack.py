"""OpenVINO predictors opened and dropped in one process leave its signals deliverable.

OpenVINO's CPU plugin maps an alternate signal stack for the thread that loads it and
unmaps it when it is unloaded; two plugins unloaded in the order they were loaded left the
thread on unmapped memory, and the next signal Python handled (a Ctrl-C, a SIGTERM) was a
SIGSEGV, or a frame written over live objects (finetune/runtime/openvino_runtime.core).
The check runs in a child process: the failure it looks for kills the process it is in.
"""

import subprocess
import sys

import pytest

from finetune.export import exporting
from finetune.tasks import RegressionTask
from helpers import make_tiny_run
from helpers import REPO_ROOT

CHILD = r"""
import gc, os, signal, sys
sys.path[:0] = [sys.argv[1], os.path.join(sys.argv[1], "tests")]
from finetune.runtime.predictor import load_predictor
from helpers import dangling_signal_stack


pairs = [("a b", "c d"), ("e f", "g")]
first = load_predictor(sys.argv[2], runtime="openvino")
second = load_predictor(sys.argv[2], runtime="openvino")
scores = [first.predict(pairs)["score"], second.predict(pairs)["score"]]
assert (scores[0] == scores[1]).all(), scores
del first  # the plugin loaded first ends first: the order that left a dangling stack
gc.collect()
del second
gc.collect()
dangling = dangling_signal_stack()
assert dangling is None, "the signal stack %s is on unmapped memory" % dangling
received = []
for signum in (signal.SIGINT, signal.SIGTERM):
  signal.signal(signum, lambda number, frame: received.append(number))
  signal.raise_signal(signum)  # Python's handlers run on the alternate stack
assert received == [signal.SIGINT, signal.SIGTERM], received
print("handled", " ".join(signal.Signals(number).name for number in received))
"""


def test_signals_are_handled_after_two_openvino_predictors_end(zh_model, tmp_path):
  pytest.importorskip("openvino", reason='pip install -e ".[openvino]"')
  if not sys.platform.startswith("linux"):
    pytest.skip("reads /proc/self/maps")
  run_dir = make_tiny_run(str(tmp_path / "run"), zh_model, RegressionTask())
  onnx_dir = str(tmp_path / "onnx")
  exporting.export(run_dir, "onnx", onnx_dir, "float32")
  done = subprocess.run([sys.executable, "-c", CHILD, REPO_ROOT, onnx_dir],
                        capture_output=True, text=True, timeout=300)
  assert done.returncode == 0, (done.returncode, done.stdout, done.stderr[-3000:])
  assert "handled SIGINT SIGTERM" in done.stdout.splitlines()
