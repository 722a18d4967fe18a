"""serve.py as a client meets it: a real server process on a free loopback port.

Every route, every limit and error, the API key, batching of concurrent requests (the
answers equal predict.py's), a full queue, a client that goes away, and SIGTERM or
Ctrl-C with requests in flight. Traffic goes to 127.0.0.1 only; every wait is bounded.
The model is a tiny one exported to ONNX (float32), which starts in about a second.
"""

import concurrent.futures
import json
import os
import re
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest

from helpers import REPO_ROOT
# pylint: disable=unused-import  (models and start are fixtures)
from served import PAIRS, TIMEOUT, assert_ranked, models, predicted, refuses_connections
from served import start, wait_until
# pylint: enable=unused-import

pytestmark = pytest.mark.slow

def test_predict_rerank_health_and_metrics(models, start):
  server = start(models["regression"])
  server.wait_ready()
  status, _, body = server.request("POST", "/predict", {"pairs": PAIRS})
  assert status == 200
  expected = predicted(models["regression"], PAIRS)["score"]
  np.testing.assert_allclose([item["score"] for item in body["predictions"]], expected,
                             atol=1e-5)
  assert np.ptp(expected) > 0.01

  documents = [pair[1] for pair in PAIRS]
  status, _, body = server.request("POST", "/rerank", {
      "query": PAIRS[0][0], "documents": documents[:3] + [{"text": documents[3]}],
      "top_n": 3, "return_documents": True})
  assert status == 200 and len(body["results"]) == 3
  scores = predicted(models["regression"], [[PAIRS[0][0], d] for d in documents[:4]])["score"]
  assert_ranked(body["results"], scores / 5.0, 3)  # 0..1: the range mapped back
  assert [item["document"]["text"] for item in body["results"]] == [
      documents[item["index"]] for item in body["results"]]
  status, _, body = server.request("POST", "/rerank", {"query": "q", "documents": ["a", "b"]})
  assert status == 200 and [sorted(item) for item in body["results"]] == [
      ["index", "relevance_score"]] * 2  # no documents unless asked, every one by default

  status, headers, text = server.request("GET", "/metrics")
  assert status == 200 and headers["Content-Type"].startswith("text/plain")
  for name in ("bert_requests_total", "bert_request_seconds_bucket", "bert_batch_pairs_bucket",
               "bert_queue_pairs", "bert_pairs_scored_total"):
    assert "\n# TYPE %s" % name.rsplit("_total", 1)[0].rsplit("_bucket", 1)[0] in text
  assert 'bert_requests_total{route="/predict",status="200"} 1.0' in text
  assert 'bert_requests_total{route="/rerank",status="200"} 2.0' in text
  assert server.metric("bert_pairs_scored_total") == len(PAIRS) + 4 + 2
  assert server.stop() == 0


def test_classifier_answers_label_and_probabilities(models, start):
  server = start(models["classification"])
  server.wait_ready()
  status, _, body = server.request("POST", "/predict", {"pairs": PAIRS})
  assert status == 200
  expected = predicted(models["classification"], PAIRS)
  assert [item["label"] for item in body["predictions"]] == list(expected["label"])
  np.testing.assert_allclose([[item["probabilities"]["0"], item["probabilities"]["1"]]
                              for item in body["predictions"]], expected["probabilities"],
                             atol=1e-5)
  status, _, body = server.request("POST", "/rerank", {"query": PAIRS[0][0],
                                                       "documents": ["a", "b", "c"]})
  positive = predicted(models["classification"],
                       [[PAIRS[0][0], d] for d in "abc"])["probabilities"][:, 1]
  assert_ranked(body["results"], positive, 3)  # by P(positive)


@pytest.mark.parametrize("path,body,status,message", [
    ("/predict", {"pairs": "x"}, 400, "pairs: expected a list, found a string"),
    ("/predict", {}, 400, "pairs: expected a list, found nothing"),
    ("/predict", {"pairs": []}, 400, "pairs: expected at least one item, found an empty list"),
    ("/predict", {"pairs": [["a", "b", "c"]]}, 400,
     "pairs[0]: expected [text_a, text_b], found a list of 3"),
    ("/predict", {"pairs": [["a", "b"], ["a", None]]}, 400,
     "pairs[1][1]: expected a string, found null"),
    ("/predict", {"pairs": [["a", "b"]] * 9}, 400,
     "pairs: 9 items, over --max_pairs_per_request=8"),
    ("/predict", {"pairs": [["a" * 101, "b"]]}, 400,
     "pairs[0][0]: 101 characters, over --max_text_chars=100"),
    ("/predict", [1, 2], 400, "the body is a list; expected a JSON object"),
    ("/rerank", {"documents": ["a"]}, 400, "query: expected a string, found nothing"),
    ("/rerank", {"query": "q", "documents": [{"txt": "a"}]}, 400,
     "documents[0].text: expected a string, found null"),
    ("/rerank", {"query": "q", "documents": ["a"], "top_n": 0}, 400,
     "top_n: expected an integer >= 1, found 0"),
    ("/rerank", {"query": "q", "documents": ["a"], "return_documents": "yes"}, 400,
     "return_documents: expected true or false, found \"yes\""),
])
def test_bad_requests_get_one_line_and_hurt_nothing_else(models, start, path, body, status,
                                                        message):
  server = start(models["regression"], "--max_pairs_per_request=8", "--max_text_chars=100")
  server.wait_ready()
  got, _, answer = server.request("POST", path, body)
  assert (got, answer) == (status, {"error": message})
  got, _, answer = server.request("POST", "/predict", {"pairs": PAIRS[:2]})  # still fine
  assert got == 200 and len(answer["predictions"]) == 2


def test_body_limit_malformed_json_and_unknown_routes(models, start):
  server = start(models["regression"], "--max_body_bytes=200")
  server.wait_ready()
  status, _, body = server.request("POST", "/predict", {"pairs": [["a" * 300, "b"]]})
  assert (status, body) == (413, {"error": "request body over --max_body_bytes=200 bytes"})
  status, _, body = server.request("POST", "/predict", raw=b"{\"pairs\": [[")
  assert status == 400 and body["error"].startswith("the body is not JSON (")
  status, _, body = server.request("POST", "/predict", raw=b"\xff\xfe")
  assert status == 400 and body["error"].startswith("the body is not JSON (")
  status, _, body = server.request("GET", "/nowhere")
  assert status == 404 and body["error"].startswith("GET /nowhere: Not Found; expected POST")
  status, _, body = server.request("GET", "/predict")
  assert status == 405 and body["error"].startswith("GET /predict: Method Not Allowed;")
  assert server.metric('bert_requests_total{route="other",status="404"}') == 1
  assert server.stop() == 0


def test_an_api_key_guards_every_route_but_health(models, start):
  server = start(models["regression"], "--api_key=s3cret")
  server.wait_ready()  # /health needs no key
  for headers in ({}, {"Authorization": "Bearer wrong"}, {"X-API-Key": "s3cre"}):
    status, answer_headers, body = server.request("POST", "/predict", {"pairs": PAIRS[:1]},
                                                  headers=headers)
    assert status == 401 and answer_headers["WWW-Authenticate"] == "Bearer"
    assert body == {"error": "missing or wrong API key: send Authorization: Bearer <key> or "
                             "X-API-Key: <key>"}
  assert server.request("GET", "/metrics")[0] == 401
  for headers in ({"Authorization": "Bearer s3cret"}, {"X-API-Key": "s3cret"}):
    assert server.request("POST", "/predict", {"pairs": PAIRS[:1]}, headers=headers)[0] == 200


def test_binding_beyond_loopback_needs_an_api_key(models):
  done = subprocess.run([sys.executable, os.path.join(REPO_ROOT, "serve.py"),
                         "--model=" + models["regression"], "--host=0.0.0.0", "--port=0"],
                        capture_output=True, text=True, cwd=REPO_ROOT, timeout=TIMEOUT,
                        env=dict(os.environ, BERT_SERVE_API_KEY=""))
  assert done.returncode == 1 and "Traceback" not in done.stderr
  assert done.stderr.strip().splitlines()[-1] == (
      "error: --host=0.0.0.0 answers beyond this machine: give an API key (--api_key or "
      "$BERT_SERVE_API_KEY) that clients must send, or bind to 127.0.0.1")


def test_concurrent_requests_share_batches_and_get_their_own_answers(models, start):
  rng = np.random.RandomState(0)
  requests = [[PAIRS[i] for i in rng.randint(0, len(PAIRS), size=rng.randint(1, 6))]
              for _ in range(12)]
  total = sum(len(pairs) for pairs in requests)
  # A batch runs when it is full (all the requests' pairs) or after a minute: the
  # requests share one batch however slowly their threads start.
  server = start(models["regression"], "--max_queue_delay_ms=60000",
                 "--max_batch_pairs=%d" % total)
  server.wait_ready()
  with concurrent.futures.ThreadPoolExecutor(len(requests)) as pool:
    answers = list(pool.map(lambda pairs: server.request("POST", "/predict", {"pairs": pairs}),
                            requests))
  for pairs, (status, _, body) in zip(requests, answers):
    assert status == 200
    np.testing.assert_allclose([item["score"] for item in body["predictions"]],
                               predicted(models["regression"], pairs)["score"], atol=1e-5)
  assert server.metric("bert_batch_pairs_sum") == total
  assert server.metric("bert_batch_pairs_count") == 1  # the 12 requests shared one batch


def test_a_full_queue_answers_503_at_once(models, start):
  # 4 pairs wait for a batch of 6 (or a minute); 3 more would overflow the queue of 6.
  server = start(models["regression"], "--max_queue_pairs=6", "--max_pairs_per_request=6",
                 "--max_batch_pairs=6", "--max_queue_delay_ms=60000")
  server.wait_ready()
  with concurrent.futures.ThreadPoolExecutor(2) as pool:
    first = pool.submit(server.request, "POST", "/predict", {"pairs": PAIRS[:4]})
    wait_until(lambda: server.metric("bert_queue_pairs") == 4, "the first request queued")
    status, headers, body = server.request("POST", "/predict", {"pairs": PAIRS[:3]})
    assert not first.done()  # refused at once, not after the first's wait
    assert status == 503 and headers["Retry-After"] == "1"
    assert body == {"error": "the queue is full (--max_queue_pairs=6 pairs waiting); retry "
                             "in a second"}
    third = pool.submit(server.request, "POST", "/predict", {"pairs": PAIRS[:2]})
    assert first.result()[0] == 200 and third.result()[0] == 200  # the batch is full


def test_a_client_that_goes_away_costs_nothing_else(models, start):
  # One pair waits for a batch of two (or a minute): the client goes away meanwhile.
  server = start(models["regression"], "--max_batch_pairs=2", "--max_queue_delay_ms=60000")
  server.wait_ready()
  gone = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
  body = json.dumps({"pairs": PAIRS[:1]}).encode()
  gone.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
  wait_until(lambda: server.metric("bert_queue_pairs") == 1, "the pair queued")
  gone.close()  # before its batch runs
  wait_until(lambda: server.metric("bert_queue_pairs") == 0, "the gone client's pair dropped")
  half = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
  half.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"pai")
  half.close()  # half a body
  status, _, answer = server.request("POST", "/predict", {"pairs": PAIRS[:2]})
  assert status == 200 and len(answer["predictions"]) == 2
  assert server.metric("bert_pairs_scored_total") == 2  # the gone client's pair never ran
  assert server.metric("bert_queue_pairs") == 0
  assert server.request("GET", "/health")[0] == 200
  assert server.stop() == 0
  assert "Traceback" not in "".join(server.lines)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_or_ctrl_c_answers_the_requests_taken_and_exits_0(models, start, signum):
  server = start(models["regression"], "--max_queue_delay_ms=3000")
  server.wait_ready()
  with concurrent.futures.ThreadPoolExecutor(3) as pool:
    inflight = [pool.submit(server.request, "POST", "/predict", {"pairs": PAIRS[:n]})
                for n in (1, 2, 3)]
    wait_until(lambda: server.metric("bert_queue_pairs") == 6, "the requests queued")
    server.process.send_signal(signum)
    wait_until(lambda: refuses_connections(server.port), "the port closed")
    answers = [future.result(timeout=TIMEOUT) for future in inflight]
  assert [status for status, _, _ in answers] == [200, 200, 200]
  assert [len(body["predictions"]) for _, _, body in answers] == [1, 2, 3]
  assert server.stop(None) == 0  # it ends by itself
  log = "".join(server.lines)
  assert "Traceback" not in log and "stopping: no new connections" in log
  assert log.strip().splitlines()[-1].endswith("stopped")


def test_a_model_that_cannot_be_loaded_stops_the_server_with_one_line(models, tmp_path):
  damaged = tmp_path / "damaged"
  damaged.mkdir()
  for name in os.listdir(models["regression"]):
    data = open(os.path.join(models["regression"], name), "rb").read()
    (damaged / name).write_bytes(data[:len(data) // 3] if name == "model.onnx" else data)
  done = subprocess.run([sys.executable, os.path.join(REPO_ROOT, "serve.py"),
                         "--model=%s" % damaged, "--port=0"], capture_output=True, text=True,
                        cwd=REPO_ROOT, timeout=TIMEOUT)
  assert done.returncode == 1 and "Traceback" not in done.stderr
  assert re.match(r"error: %s: ONNX Runtime cannot load it \(.+\); damaged or cut short\? "
                  r"Export the model again with export_model.py$" %
                  re.escape(str(damaged / "model.onnx")), done.stderr.strip().splitlines()[-1])


def test_openvino_runtime_serves_the_same_answers(models, start):
  pytest.importorskip("openvino", reason="pip install -r requirements-openvino.txt")
  server = start(models["classification"], "--runtime=openvino")
  server.wait_ready()
  status, _, body = server.request("POST", "/predict", {"pairs": PAIRS})
  assert status == 200
  expected = predicted(models["classification"], PAIRS)
  np.testing.assert_allclose([[item["probabilities"][label] for label in ("0", "1")]
                              for item in body["predictions"]],
                             expected["probabilities"], atol=1e-5)
  assert [item["label"] for item in body["predictions"]] == list(expected["label"])
  assert server.stop() == 0
