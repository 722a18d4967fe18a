"""serve.py as a real process on a free loopback port, shared by the tests that talk to it
(test_server.py, test_clients.py): the tiny ONNX folders it serves, and the process.
"""

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from finetune.export import exporting
from finetune.runtime.predictor import load_predictor
from finetune.tasks import ClassificationTask, RegressionTask
from helpers import REPO_ROOT, make_tiny_run

TIMEOUT = 30


def served_models(root, zh_model):
  """{"regression": ONNX folder (0..5 scores), "classification": ONNX folder (two labels)}
  under the folder `root` (a pathlib.Path)."""
  folders = {}
  for kind, task in (("regression", RegressionTask(label_min=0.0, label_max=5.0)),
                     ("classification", ClassificationTask(["0", "1"], threshold="0.4"))):
    run_dir = make_tiny_run(str(root / kind), zh_model, task)
    folders[kind] = str(root / (kind + "-onnx"))
    exporting.export(run_dir, "onnx", folders[kind], "float32")
  return folders


PAIRS = [["A man is playing a guitar.", "A man plays the guitar."],
         ["支付宝怎么充值", "微信怎么充值"], ["A woman is slicing an onion.", "A man sings."],
         ["我今天用iPhone拍了张照片", "a photo"], ["short", "a somewhat longer sentence here"]]


@pytest.fixture(scope="module")
def models(zh_model, tmp_path_factory):  # a fixture: imported by the tests that use it
  """{"regression": ONNX folder (0..5 scores), "classification": ONNX folder (two labels)}."""
  return served_models(tmp_path_factory.mktemp("served"), zh_model)


def wait_until(condition, what):
  """Polls `condition` until it is true; fails after TIMEOUT seconds."""
  deadline = time.time() + TIMEOUT
  while not condition():
    if time.time() > deadline:
      raise AssertionError("not within %d s: %s" % (TIMEOUT, what))
    time.sleep(0.01)


def refuses_connections(port):
  try:
    socket.create_connection(("127.0.0.1", port), timeout=2).close()
  except OSError:
    return True
  return False


def assert_ranked(results, scores, top_n):
  """`results` (a rerank answer's) are the top_n of `scores` [n], best first.

  Scores that differ by less than the runtimes' rounding (the server's batches are cut
  to other lengths than a lone call's) may come in either order.
  """
  indices = [item["index"] for item in results]
  assert len(indices) == top_n and len(set(indices)) == top_n
  np.testing.assert_allclose([item["relevance_score"] for item in results], scores[indices],
                             atol=1e-5)
  returned = np.array([item["relevance_score"] for item in results])
  assert np.all(np.diff(returned) <= 0)  # best first, as answered
  left_out = np.delete(scores, indices)
  if len(left_out):
    assert scores[indices].min() >= left_out.max() - 1e-5

@pytest.fixture
def start(request):
  started = []

  def start_server(*args, **kwargs):
    server = Server(*args, **kwargs)
    started.append(server)
    return server

  yield start_server
  for server in started:
    server.close()


def predicted(model, pairs):
  with load_predictor(model) as predictor:
    return predictor.predict([tuple(pair) for pair in pairs])


class Server:
  """A serve.py process; `port` once it listens, `lines` its stderr so far.

  A thread reads stderr as it comes, so that a chatty server never blocks on a full pipe
  and a silent one cannot hang the test.
  """

  def __init__(self, model, *flags, env=None):
    self.process = subprocess.Popen(
        [sys.executable, os.path.join(REPO_ROOT, "serve.py"), "--model=" + model, "--port=0",
         *flags], stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT, env=env)
    self.lines = []
    self._listening = threading.Event()
    self.port = None
    self._reader = threading.Thread(target=self._read_stderr, daemon=True)
    self._reader.start()
    if not self._listening.wait(TIMEOUT) or self.port is None:
      self.close()
      raise AssertionError("serve.py did not listen within %d s:\n%s" % (
          TIMEOUT, "".join(self.lines)))

  def _read_stderr(self):
    for line in self.process.stderr:
      self.lines.append(line)
      match = re.search(r"on http://127\.0\.0\.1:(\d+) ", line)
      if match and self.port is None:
        self.port = int(match.group(1))
        self._listening.set()
    self._listening.set()  # ended: no port will come

  def request(self, method, path, body=None, headers=None, raw=None):
    """(status, headers, parsed JSON or text) of one request on a new connection."""
    connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
    try:
      data = raw if raw is not None else (None if body is None else json.dumps(body))
      connection.request(method, path, body=data, headers=headers or {})
      response = connection.getresponse()
      text = response.read().decode("utf-8")
      kind = response.getheader("Content-Type", "")
      return (response.status, dict(response.getheaders()),
              json.loads(text) if kind.startswith("application/json") else text)
    finally:
      connection.close()

  def wait_ready(self):
    deadline = time.time() + TIMEOUT
    while time.time() < deadline:
      status, _, body = self.request("GET", "/health")
      if status == 200:
        assert body == {"status": "ready"}
        return
      assert status == 503 and body == {"status": "loading"}
      time.sleep(0.05)
    raise AssertionError("not ready within %d s" % TIMEOUT)

  def metric(self, name):
    """The value of one Prometheus series, e.g. 'bert_pairs_scored_total'."""
    _, _, text = self.request("GET", "/metrics")
    for line in text.splitlines():
      if line.startswith(name + " ") or line.startswith(name + "{"):
        if line.split(" ")[0] == name or line.startswith(name + "{"):
          return float(line.rsplit(" ", 1)[1])
    raise AssertionError("no %s in /metrics" % name)

  def stop(self, signum=signal.SIGTERM):
    """Sends `signum` (None: sends nothing) and waits; returns the exit status."""
    if signum is not None and self.process.poll() is None:
      self.process.send_signal(signum)
    code = self.process.wait(timeout=TIMEOUT)
    self._reader.join(TIMEOUT)  # the whole log is in `lines`
    return code

  def close(self):
    if self.process.poll() is None:
      self.process.kill()
      self.process.wait()
