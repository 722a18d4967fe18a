"""serve.py against hostile and careless clients, over raw sockets on 127.0.0.1.

Bytes no HTTP library would send: a body nested 100,000 deep, an API key that is not
UTF-8, a body still arriving when SIGTERM comes, what aiohttp's parser refuses (a 10 KB
URL or header, `Content-Length: abc`, TLS on the plain port), broken encodings, HTTP/1.0,
pipelining. Each gets an answer in the routes' JSON error format, and the log one line.
The servers are test_server.py's (a tiny ONNX model); every wait is bounded.
"""

import gzip
import json
import signal
import socket

import pytest

from finetune.serving.http_errors import LogLimiter
from served import PAIRS, TIMEOUT, Server, models, refuses_connections, start  # pylint: disable=unused-import
from served import wait_until

pytestmark = pytest.mark.slow

GOOD = json.dumps({"pairs": PAIRS[:2]}).encode()


def head(method, path, *headers, length=None, version=b"HTTP/1.1"):
  """A request's head: the request line, Host, `headers` (bytes), Content-Length."""
  lines = [b"%s %s %s" % (method, path, version), b"Host: 127.0.0.1", *headers]
  if length is not None:
    lines.append(b"Content-Length: %d" % length)
  return b"\r\n".join(lines) + b"\r\n\r\n"


def post(body, *headers, path=b"/predict"):
  return head(b"POST", path, *headers, length=len(body)) + body


def read_response(stream):
  """(status, {header: value}, body) of the next answer on `stream`; None if it closed."""
  line = stream.readline()
  if not line:
    return None
  status = int(line.split()[1])
  headers = {}
  for line in iter(stream.readline, b"\r\n"):
    name, value = line.decode("latin-1").split(":", 1)
    headers[name.strip().lower()] = value.strip()
  body = stream.read(int(headers.get("content-length", 0)))
  return status, headers, body


def exchange(port, data, answers=1):
  """Sends `data` on a new connection: [(status, headers, parsed JSON or text)]."""
  with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as connection:
    connection.sendall(data)
    stream = connection.makefile("rb")
    got = []
    for _ in range(answers):
      answer = read_response(stream)
      assert answer is not None, "the server closed the connection after %d answer(s)" % len(got)
      status, headers, body = answer
      kind = headers.get("content-type", "")
      got.append((status, headers, json.loads(body) if kind.startswith("application/json")
                  else body.decode("utf-8", "replace")))
    return got


def bad_request_lines(server):
  return [line for line in server.lines if "bad HTTP request" in line]


@pytest.fixture(scope="module")
def shared(models):  # pylint: disable=redefined-outer-name
  """One server for the checks that leave no state behind (each also checks the log)."""
  server = Server(models["regression"], "--max_text_chars=100")
  server.wait_ready()
  yield server
  assert server.stop() == 0
  assert "Traceback" not in "".join(server.lines)


def test_a_body_nested_100000_deep_is_a_400(shared):
  status, _, body = exchange(shared.port, post(b"[" * 100000 + b"]" * 100000))[0]
  assert status == 400
  assert body["error"].startswith("the body is not JSON this server reads: lists or objects "
                                  "nested too deeply")
  nested = b'{"pairs": [["a", ' + b"[" * 5000 + b"]" * 5000 + b"]]}"  # deep inside a field
  assert exchange(shared.port, post(nested))[0][0] == 400
  assert exchange(shared.port, post(GOOD))[0][0] == 200
  assert "Traceback" not in "".join(shared.lines)


def test_an_api_key_of_bytes_that_are_not_utf8_is_a_401(models, start):  # pylint: disable=redefined-outer-name
  server = start(models["regression"], "--api_key=s3cret")
  server.wait_ready()
  for header in (b"Authorization: Bearer \xff\xfe", b"X-API-Key: \xff\xfe",
                 b"Authorization: Bearer s3cret\xff", b"X-API-Key: caf\xe9"):
    status, headers, body = exchange(server.port, post(GOOD, header))[0]
    assert status == 401 and headers["www-authenticate"] == "Bearer"
    assert body["error"].startswith("missing or wrong API key")
  status, _, _ = exchange(server.port, post(GOOD, b"Authorization: Bearer s3cret"))[0]
  assert status == 200
  assert server.stop() == 0
  assert "Traceback" not in "".join(server.lines)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_body_still_arriving_at_the_signal_is_answered(models, start, signum):  # pylint: disable=redefined-outer-name
  server = start(models["regression"], "--shutdown_seconds=%d" % TIMEOUT)
  server.wait_ready()
  idle = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
  idle_stream = idle.makefile("rb")
  idle.sendall(post(GOOD))  # answered, and kept alive
  assert read_response(idle_stream)[0] == 200
  slow = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
  slow_stream = slow.makefile("rb")
  # Expect: 100-continue: the server says when it has taken the request (its handler
  # runs), so that the signal surely comes after that and before the body.
  slow.sendall(head(b"POST", b"/predict", b"Expect: 100-continue", length=len(GOOD)))
  assert read_response(slow_stream)[0] == 100
  slow.sendall(GOOD[:10])
  server.process.send_signal(signum)
  wait_until(lambda: refuses_connections(server.port), "new connections refused")
  # A connection opened before the signal is still heard while a request is pending.
  idle.sendall(post(GOOD))
  status, headers, _ = read_response(idle_stream)
  assert status == 200 and headers["connection"] == "close"
  assert read_response(idle_stream) is None  # then closed
  slow.sendall(GOOD[10:])  # the rest of the body, after the signal
  status, headers, body = read_response(slow_stream)
  assert status == 200 and len(json.loads(body)["predictions"]) == 2
  assert headers["connection"] == "close"
  assert server.stop(None) == 0  # it ends by itself
  log = "".join(server.lines)
  assert "Traceback" not in log and "answering the 1 request(s) taken" in log
  assert log.strip().splitlines()[-1].endswith("stopped")
  idle.close()
  slow.close()


def test_a_body_that_never_ends_is_dropped_after_shutdown_seconds(models, start):  # pylint: disable=redefined-outer-name
  server = start(models["regression"], "--shutdown_seconds=0.5")
  server.wait_ready()
  stalled = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
  stalled.sendall(head(b"POST", b"/predict", b"Expect: 100-continue", length=len(GOOD)))
  assert read_response(stalled.makefile("rb"))[0] == 100
  stalled.sendall(GOOD[:10])  # and never the rest
  server.process.send_signal(signal.SIGTERM)
  assert server.stop(None) == 0
  assert stalled.recv(100) == b""  # closed without an answer: it never sent its body
  log = "".join(server.lines)
  assert "Traceback" not in log
  assert "1 request(s) not answered within --shutdown_seconds=0.5 were dropped" in log


def test_a_second_signal_stops_without_waiting(models, start):  # pylint: disable=redefined-outer-name
  server = start(models["regression"], "--shutdown_seconds=600")
  server.wait_ready()
  stalled = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
  stalled.sendall(head(b"POST", b"/predict", b"Expect: 100-continue", length=len(GOOD)))
  assert read_response(stalled.makefile("rb"))[0] == 100
  server.process.send_signal(signal.SIGTERM)
  wait_until(lambda: refuses_connections(server.port), "new connections refused")
  server.process.send_signal(signal.SIGINT)
  assert server.stop(None) == 0  # within TIMEOUT, not 600 s
  assert "Traceback" not in "".join(server.lines)
  stalled.close()


LONG = b"a" * 10000
# What aiohttp's parser (or its body decoder) refuses, and the answer's error.
PARSER_ERRORS = [
    (head(b"GET", b"/health?" + LONG), "the request line (its URL) or a header is over 8190 "
     "bytes; expected each at most that long"),
    (head(b"GET", b"/health", b"X-Long: " + LONG), "the request line (its URL) or a header is "
     "over 8190 bytes; expected each at most that long"),
    (head(b"POST", b"/predict", b"Content-Length: abc"),
     "the request is not valid HTTP/1.1 (Invalid character in Content-Length)"),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(64)),
     "TLS on a plain HTTP port; expected http://, not https://"),
    (b"hello\r\n\r\n", "the first line is not an HTTP request line with a known method; "
     "expected e.g. POST /predict HTTP/1.1"),
    (head(b"BREW", b"/predict"), "the first line is not an HTTP request line with a known "
     "method; expected e.g. POST /predict HTTP/1.1"),
    (head(b"POST", b"/predict", b"Transfer-Encoding: chunked") + b"zz\r\n{}\r\n0\r\n\r\n",
     "the request is not valid HTTP/1.1 (Invalid character in chunk size)"),
    (post(b"not gzip", b"Content-Encoding: gzip"), "the body's Content-Encoding cannot be "
     "decoded; expected a body in gzip or deflate as its Content-Encoding says, or no "
     "Content-Encoding"),
    (head(b"GET", b"/health", *[b"X-%d: 1" % i for i in range(200)]),
     "the request is not valid HTTP/1.1 (Too many headers received)"),
    (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "HTTP/2 is not served here; expected HTTP/1.1"),
]


def test_what_the_parser_refuses_is_json_and_one_line_each(models, start):  # pylint: disable=redefined-outer-name
  server = start(models["regression"])
  server.wait_ready()
  assert len(PARSER_ERRORS) <= 10  # the log's burst: every one is logged
  for count, (data, message) in enumerate(PARSER_ERRORS, start=1):
    status, headers, body = exchange(server.port, data)[0]
    assert (status, body) == (400, {"error": message}), data[:40]
    assert headers["content-type"].startswith("application/json")
    wait_until(lambda: len(bad_request_lines(server)) >= count, "the log line")  # pylint: disable=cell-var-from-loop
  assert exchange(server.port, post(GOOD))[0][0] == 200  # after every bad one's line
  assert server.stop() == 0
  lines = bad_request_lines(server)
  assert len(lines) == len(PARSER_ERRORS)
  for line, (_, message) in zip(lines, PARSER_ERRORS):
    assert line.startswith("W") and line.rstrip().endswith(message)
  log = "".join(server.lines)
  assert "Traceback" not in log and "aaaa" not in log  # no client bytes echoed
  assert not [line for line in server.lines if line.startswith("E")]


def test_the_log_of_bad_requests_is_rate_limited():
  now = [0.0]
  limiter = LogLimiter(burst=3, seconds=60.0, clock=lambda: now[0])
  logged = [limiter.lines("bad %d" % i) for i in range(5)]
  assert logged == [["bad 0"], ["bad 1"], ["bad 2"], [], []]
  now[0] = 59.0
  assert limiter.lines("bad 5") == []
  now[0] = 61.0  # a new window: what was left out is counted, then lines again
  assert limiter.lines("bad 6") == [
      "3 more bad request(s) in the last 61 s were not logged", "bad 6"]
  now[0] = 200.0
  assert limiter.lines("bad 7") == ["bad 7"]  # nothing left out: no count


def chunked(body, size=7):
  pieces = [body[i:i + size] for i in range(0, len(body), size)]
  return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"


# Requests a careless client sends: each gets its answer, none a 500.
FAMILY = [
    ("a chunked body", head(b"POST", b"/predict", b"Transfer-Encoding: chunked") +
     chunked(GOOD), 200, None),
    ("a gzip body", post(gzip.compress(GOOD), b"Content-Encoding: gzip"), 200, None),
    ("an unknown Content-Encoding (passed through)", post(GOOD, b"Content-Encoding: zzz"),
     200, None),
    ("a form's Content-Type on JSON", post(GOOD, b"Content-Type: application/x-www-form-"
                                           b"urlencoded"), 200, None),
    ("HTTP/1.0", head(b"POST", b"/predict", version=b"HTTP/1.0", length=len(GOOD)) + GOOD,
     200, None),
    ("no body", head(b"POST", b"/predict", length=0), 400,
     "the body is not JSON (Expecting value: line 1 column 1 (char 0)); expected a JSON "
     "object"),
    ("Latin-1 text", post(b'{"pairs": [["caf\xe9", "b"]]}'), 400,
     "the body is not JSON (not UTF-8 text: byte 0xe9 at offset 16); expected a JSON object "
     "in UTF-8"),
    ("an integer of 5,000 digits", post(b'{"pairs": [[' + b"9" * 5000 + b', "b"]]}'), 400,
     "the body is not JSON this server reads: an integer of more than 4300 digits; expected "
     "a JSON object"),
    ("NaN as a text", post(b'{"pairs": [[NaN, "b"]]}'), 400,
     "pairs[0][0]: expected a string, found a number"),
    ("a string as the body", post(b'"pairs"'), 400,
     "the body is a string; expected a JSON object"),
    ("null pairs", post(b'{"pairs": null}'), 400, "pairs: expected a list, found null"),
    ("a pair as an object", post(b'{"pairs": [{"a": "x", "b": "y"}]}'), 400,
     "pairs[0]: expected [text_a, text_b], found an object"),
    ("an empty pair", post(b'{"pairs": [[]]}'), 400,
     "pairs[0]: expected [text_a, text_b], found a list of 0"),
    ("duplicate keys (the last counts)", post(b'{"pairs": 3, "pairs": [["a", "b"]]}'), 200,
     None),
    ("a lone surrogate in a text", post(b'{"pairs": [["\\ud800", "b"]]}'), 200, None),
    ("top_n huge", post(b'{"query": "q", "documents": ["a", "b"], "top_n": 1' + b"0" * 400 +
                        b'}', path=b"/rerank"), 200, None),
    ("top_n NaN", post(b'{"query": "q", "documents": ["a"], "top_n": NaN}', path=b"/rerank"),
     400, "top_n: expected an integer >= 1, found NaN"),
    ("top_n a float", post(b'{"query": "q", "documents": ["a"], "top_n": 1.5}',
                           path=b"/rerank"), 400, "top_n: expected an integer >= 1, found 1.5"),
    ("documents empty", post(b'{"query": "q", "documents": []}', path=b"/rerank"), 400,
     "documents: expected at least one item, found an empty list"),
    ("a query as a list", post(b'{"query": ["q"], "documents": ["a"]}', path=b"/rerank"), 400,
     "query: expected a string, found a list"),
    ("a document of 101 characters", post(json.dumps({"query": "q", "documents": [
        "d" * 101]}).encode(), path=b"/rerank"), 400,
     "documents[0]: 101 characters, over --max_text_chars=100"),
    ("a path with %ff", head(b"GET", b"/%ff"), 404, None),
    ("OPTIONS *", head(b"OPTIONS", b"*"), 404, None),
    ("a method the route lacks", head(b"PATCH", b"/predict"), 405, None),
]


@pytest.mark.parametrize("what,data,status,message", FAMILY, ids=[f[0] for f in FAMILY])
def test_careless_requests_get_their_answer_never_a_500(shared, what, data, status, message):
  del what
  got, headers, body = exchange(shared.port, data)[0]
  assert got == status and headers["content-type"].startswith("application/json")
  if message is not None:
    assert body == {"error": message}
  elif status == 200:
    assert len(body.get("predictions") or body.get("results")) >= 1
  else:
    assert "error" in body


def test_pipelined_requests_are_answered_in_order(shared):
  rerank = json.dumps({"query": "q", "documents": ["a", "b", "c"]}).encode()
  answers = exchange(shared.port, post(GOOD) + post(rerank, path=b"/rerank") +
                     head(b"GET", b"/health"), answers=3)
  assert [status for status, _, _ in answers] == [200, 200, 200]
  assert len(answers[0][2]["predictions"]) == 2 and len(answers[1][2]["results"]) == 3
  assert answers[2][2] == {"status": "ready"}
