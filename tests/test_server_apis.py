"""serve.py's routes in the shapes of Cohere's, Jina's and text-embeddings-inference's APIs,
per-request truncation, the model's name, the overload status and where a request's time
goes, over a real server process on loopback (the fixtures of tests/test_server.py).
"""

import concurrent.futures

import numpy as np
import pytest

from served import PAIRS, models, predicted, start, wait_until  # pylint: disable=unused-import

pytestmark = pytest.mark.slow

QUERY = PAIRS[0][0]
DOCUMENTS = [pair[1] for pair in PAIRS]
LONG = " ".join(["the man is playing the guitar"] * 12)  # over the tiny model's 32 tokens


def test_every_rerank_route_answers_alike_in_each_api_s_shape(models, start):
  server = start(models["regression"], "--served_model_name=stsb-tiny")
  server.wait_ready()
  scores = predicted(models["regression"], [[QUERY, d] for d in DOCUMENTS])["score"] / 5.0
  order = list(np.argsort(-scores, kind="stable"))
  answers = {}
  for path in ("/rerank", "/v1/rerank", "/v2/rerank"):
    status, headers, body = server.request("POST", path, {
        "model": "rerank-v3.5", "query": QUERY, "documents": DOCUMENTS, "top_n": 3})
    assert status == 200
    assert body["model"] == "stsb-tiny" and body["id"].startswith("rerank-")
    assert body["meta"]["api_version"]["version"] == ("1" if path == "/v1/rerank" else "2")
    assert body["meta"]["truncated_pairs"] == 0 and headers["X-Truncated-Pairs"] == "0"
    assert body["usage"]["total_tokens"] == int(headers["X-Compute-Tokens"]) > 0
    for stage in ("Tokenization", "Queue", "Inference"):
      assert float(headers["X-%s-Time" % stage]) >= 0
    answers[path] = body["results"]
    assert [item["index"] for item in body["results"]] == order[:3]
  np.testing.assert_allclose([r["relevance_score"] for r in answers["/v2/rerank"]],
                             scores[order[:3]], atol=1e-5)

  status, _, ranks = server.request("POST", "/rerank", {"query": QUERY, "texts": DOCUMENTS,
                                                        "return_text": True})
  assert status == 200 and [rank["index"] for rank in ranks] == order  # TEI: all, best first
  assert [rank["text"] for rank in ranks] == [DOCUMENTS[i] for i in order]
  np.testing.assert_allclose([rank["score"] for rank in ranks], scores[order], atol=1e-5)
  status, _, raw = server.request("POST", "/rerank", {"query": QUERY, "texts": DOCUMENTS,
                                                      "raw_scores": True})
  np.testing.assert_allclose([rank["score"] for rank in raw], 5.0 * scores[order], atol=1e-4)

  status, _, body = server.request("POST", "/predict", {"inputs": [list(p) for p in PAIRS]})
  assert status == 200 and [item[0]["label"] for item in body] == ["score"] * len(PAIRS)
  expected = predicted(models["regression"], PAIRS)["score"] / 5.0
  np.testing.assert_allclose([item[0]["score"] for item in body], expected, atol=1e-5)
  status, _, body = server.request("POST", "/predict", {"inputs": list(PAIRS[1])})
  assert status == 200 and body[0]["score"] == pytest.approx(expected[1], abs=1e-5)

  status, _, info = server.request("GET", "/info")
  assert status == 200 and info["model_id"] == "stsb-tiny"
  assert (info["max_input_length"], info["max_client_batch_size"], info["max_batch_tokens"]) == (
      32, 1024, 4096)
  status, _, body = server.request("POST", "/v1/rerank", {"query": "q", "texts": ["a"]})
  assert status == 400 and body["error"].startswith("texts: /v1/rerank takes Cohere's")


def test_pairs_too_long_are_cut_counted_or_refused(models, start):
  server = start(models["regression"])
  server.wait_ready()
  documents = ["A man plays the guitar.", LONG, LONG]
  status, headers, body = server.request("POST", "/v2/rerank", {"query": QUERY,
                                                                "documents": documents})
  assert status == 200 and body["meta"]["truncated_pairs"] == 2
  assert headers["X-Truncated-Pairs"] == "2"
  assert server.metric("bert_pairs_truncated_total") == 2
  status, _, body = server.request("POST", "/rerank", {"query": QUERY, "documents": documents,
                                                       "truncate": False})
  assert status == 413 and body["error"].startswith("documents[1]: at least ")
  assert body["error"].endswith("tokens, over the model's max_seq_length=32, and truncate is "
                                "false; send it shorter, or truncate: true to cut it")
  status, _, body = server.request("POST", "/rerank", {"query": "q", "texts": [LONG],
                                                       "truncate": False})
  assert status == 413 and body["error"].startswith("texts[0]: ")
  status, _, body = server.request("POST", "/predict", {"pairs": [[LONG, "a"]],
                                                        "truncate": False})
  assert status == 413 and body["error"].startswith("pairs[0]: ")
  status, headers, body = server.request("POST", "/rerank", {
      "query": QUERY, "documents": documents[:1], "max_tokens_per_doc": 2})
  assert status == 200 and body["meta"]["truncated_pairs"] == 1
  assert server.metric("bert_pairs_truncated_total") == 3  # refused requests cut nothing
  for name in ("bert_tokenization_seconds", "bert_queue_seconds", "bert_inference_seconds",
               "bert_batch_tokens", "bert_batch_padding_share"):
    assert server.metric(name + "_count") >= 1
  assert 0 <= server.metric("bert_batch_padding_share_sum") <= server.metric(
      "bert_batch_padding_share_count")


def test_a_strict_server_answers_404_to_another_model_s_name(models, start):
  server = start(models["regression"], "--served_model_name=stsb-tiny", "--strict_model_name")
  server.wait_ready()
  body = {"query": "q", "documents": ["a"]}
  assert server.request("POST", "/v2/rerank", dict(body, model="stsb-tiny"))[0] == 200
  assert server.request("POST", "/v2/rerank", body)[0] == 200  # no name: the one served
  status, _, answer = server.request("POST", "/v2/rerank", dict(body, model="rerank-v3.5"))
  assert (status, answer) == (404, {"error": "model: \"rerank-v3.5\" is not served here; "
                                             "this server serves \"stsb-tiny\""})


def test_a_full_queue_can_answer_429(models, start):
  server = start(models["regression"], "--max_queue_pairs=6", "--max_pairs_per_request=6",
                 "--max_batch_pairs=6", "--max_queue_delay_ms=60000", "--overload_status=429")
  server.wait_ready()
  with concurrent.futures.ThreadPoolExecutor(2) as pool:
    first = pool.submit(server.request, "POST", "/v1/rerank", {"query": "q",
                                                               "documents": DOCUMENTS[:4]})
    wait_until(lambda: server.metric("bert_queue_pairs") == 4, "the first request queued")
    status, headers, body = server.request("POST", "/predict", {"pairs": PAIRS[:3]})
    assert status == 429 and headers["Retry-After"] == "1"
    assert body["error"].startswith("the queue is full (--max_queue_pairs=6")
    third = pool.submit(server.request, "POST", "/predict", {"pairs": PAIRS[:2]})
    assert first.result()[0] == 200 and third.result()[0] == 200
