"""predict.py's standard streams as a shell leaves them: bytes that are not UTF-8 on stdin
(with and without PYTHONIOENCODING=utf-8), stdin or stdout closed, a reader that goes
away (`| head -1`), a full disk behind stdout.

Each run is a real interpreter (the bytes and descriptors are the process's own, which a
forked run would share with the test), on a tiny model exported to ONNX (no TensorFlow
in the child).
"""

import os
import subprocess
import sys

import pytest

from finetune.export import exporting
from finetune.tasks import RegressionTask
from helpers import REPO_ROOT, make_tiny_run

pytestmark = pytest.mark.slow
TIMEOUT = 60


@pytest.fixture(scope="module")
def model(zh_model, tmp_path_factory):
  root = tmp_path_factory.mktemp("streams")
  run_dir = make_tiny_run(str(root / "run"), zh_model, RegressionTask(label_min=0.0,
                                                                      label_max=5.0))
  exporting.export(run_dir, "onnx", str(root / "onnx"), "float32")
  return str(root / "onnx")


def predict(model_dir, data=b"", env=None, **streams):  # pylint: disable=redefined-outer-name
  """(exit status, stdout bytes, stderr text) of predict.py reading `data` on stdin.

  `streams`: Popen's stdin or stdout instead of pipes, and a preexec_fn.
  """
  streams.setdefault("stdin", subprocess.PIPE)
  streams.setdefault("stdout", subprocess.PIPE)
  process = subprocess.Popen([sys.executable, os.path.join(REPO_ROOT, "predict.py"),
                              "--model=" + model_dir], stderr=subprocess.PIPE, cwd=REPO_ROOT,
                             env=dict(os.environ, **(env or {})), **streams)
  out, err = process.communicate(data if streams["stdin"] == subprocess.PIPE else None,
                                 timeout=TIMEOUT)
  return process.returncode, out, err.decode("utf-8", "replace")


def one_error_line(err):
  assert "Traceback" not in err, err
  return err.strip().splitlines()[-1]


@pytest.mark.parametrize("env", [{}, {"PYTHONIOENCODING": "utf-8"}, {"LC_ALL": "C"}],
                         ids=["default", "PYTHONIOENCODING=utf-8", "LC_ALL=C"])
def test_stdin_that_is_not_utf8_names_stdin_and_the_line(model, env):  # pylint: disable=redefined-outer-name
  status, out, err = predict(model, b"A man sings.\tA man is singing.\n\ncaf\xe9\tcoffee\n",
                             env=env)
  assert (status, out) == (1, b"")
  assert one_error_line(err) == ("error: stdin:3: not valid UTF-8 (byte 0xe9); expected a "
                                 "UTF-8 text file. Convert it first, e.g. iconv -f GBK -t "
                                 "UTF-8")


@pytest.mark.parametrize("data,message", [
    ("a\tb\n".encode("utf-16"), "error: stdin: is UTF-16 text (as Excel's \"Unicode Text\" "
     "export writes it); expected UTF-8. Convert it first, e.g. iconv -f UTF-16 -t UTF-8"),
    (b"a\tb\nc\x00\td\n", "error: stdin:2: contains a NUL byte; expected a UTF-8 text file"),
])
def test_stdin_of_other_bytes_gets_the_input_files_error(model, data, message):  # pylint: disable=redefined-outer-name
  status, out, err = predict(model, data)
  assert (status, out, one_error_line(err)) == (1, b"", message)


def test_stdin_with_a_byte_order_mark_and_crlf_is_read_as_meant(model):  # pylint: disable=redefined-outer-name
  status, plain, _ = predict(model, "支付宝怎么充值\t微信怎么充值\na\tb\n".encode())
  assert status == 0 and len(plain.splitlines()) == 2
  status, marked, _ = predict(model, "\ufeff支付宝怎么充值\t微信怎么充值\r\na\tb\r\n".encode())
  assert (status, marked) == (0, plain)


def test_stdin_closed_is_one_line(model):  # pylint: disable=redefined-outer-name
  status, out, err = predict(model, stdin=subprocess.DEVNULL,
                             preexec_fn=lambda: os.close(0))
  assert (status, out) == (1, b"")
  assert one_error_line(err) == (
      "error: no pairs: stdin is closed and none were given as arguments or with --input; "
      "expected sentence_a<TAB>sentence_b lines on one of them")


def test_stdout_closed_is_one_line_before_any_work(model):  # pylint: disable=redefined-outer-name
  status, _, err = predict(model, b"a\tb\n", stdout=subprocess.DEVNULL,
                           preexec_fn=lambda: os.close(1))
  assert status == 1
  assert one_error_line(err) == ("error: stdout is closed; predict.py prints its predictions "
                                 "there: redirect it to a file instead")


def test_a_reader_that_goes_away_ends_it_quietly_with_status_141(model):  # pylint: disable=redefined-outer-name
  read, write = os.pipe()
  os.close(read)  # the reader is gone before the first line: every write fails (EPIPE)
  try:
    status, _, err = predict(model, b"a\tb\n" * 3000, stdout=write)
  finally:
    os.close(write)
  assert status == 141 and err.strip() == ""


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_a_full_disk_behind_stdout_is_one_line(model):  # pylint: disable=redefined-outer-name
  with open("/dev/full", "wb") as full:
    status, _, err = predict(model, b"a\tb\n", stdout=full)
  assert status == 1
  assert one_error_line(err) == "error: stdout: could not be written (No space left on device)"
