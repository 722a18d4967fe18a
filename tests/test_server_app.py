"""The server's application in this process (aiohttp's test client, on loopback): request
parsing, response shapes, limits, the API key, batching of concurrent requests and a
model that fails to load. The model is the real Predictor (tokenizer, layout, batches)
around a numpy function of the token ids, so that no runtime starts; serve.py's process,
its sockets and signals are tests/test_server.py's.
"""

import asyncio
import dataclasses
import json

from aiohttp.test_utils import TestClient
from aiohttp.test_utils import TestServer
import numpy as np

from finetune.runtime.predictor import Predictor
from finetune.serving import server
from finetune.serving.options import ServeOptions
from helpers import CHINESE_VOCAB

PAIRS = [["A man is playing a guitar.", "A man plays the guitar."],
         ["支付宝怎么充值", "微信怎么充值"], ["short", "a somewhat longer sentence here"]]
REGRESSION = {"task": "regression", "do_lower_case": True, "max_seq_length": 32,
              "use_sigmoid_act": True, "label_min": 0.0, "label_max": 5.0}


def score_of(batch):
  """A model's stand-in: a score in 0..5 from the pair's token ids, the same in any batch."""
  mask = batch["input_mask"].astype(np.float64)
  ids = batch["input_ids"] * mask
  return {"score": (5.0 * (ids.sum(axis=1) % 97) / 96).astype(np.float32)}


def predictor():
  return Predictor(REGRESSION, CHINESE_VOCAB, score_of)


def serve(check, *, api_key=None, load=predictor, failures=None, **limits):
  """Runs `await check(client)` against make_app, once the model is ready (or failed)."""
  options = dataclasses.replace(ServeOptions(model="unused"), **limits)

  async def run():
    app = server.make_app(load, options, api_key=api_key,
                          on_failure=(failures.append if failures is not None else None))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
      await app[server.READY]["waiting"]
      await check(client)

  asyncio.run(run())


def test_predict_and_rerank_answer_as_the_predictor_does():
  expected = predictor().predict([tuple(pair) for pair in PAIRS])["score"]

  async def check(client):
    response = await client.post("/predict", json={"pairs": PAIRS})
    assert response.status == 200
    scores = [row["score"] for row in (await response.json())["predictions"]]
    np.testing.assert_allclose(scores, expected, rtol=1e-6)
    query, documents = PAIRS[0][0], [pair[1] for pair in PAIRS]
    response = await client.post("/rerank", json={"query": query, "documents": documents,
                                                  "top_n": 2, "return_documents": True})
    results = (await response.json())["results"]
    alone = predictor().predict([(query, document) for document in documents])["score"] / 5
    best = np.argsort(-alone, kind="stable")[:2]
    assert [result["index"] for result in results] == best.tolist()
    assert [result["document"]["text"] for result in results] == [documents[i] for i in best]
    np.testing.assert_allclose([r["relevance_score"] for r in results], alone[best], rtol=1e-6)
    assert (await (await client.get("/health")).json()) == {"status": "ready"}
    text = await (await client.get("/metrics")).text()
    assert 'route="/predict",status="200"' in text and 'route="/rerank",status="200"' in text

  serve(check)


def test_concurrent_requests_get_their_own_answers():
  requests = [PAIRS[i:] + PAIRS[:i] for i in range(len(PAIRS))] * 3

  async def check(client):
    async def one(pairs):
      response = await client.post("/predict", json={"pairs": pairs})
      return [row["score"] for row in (await response.json())["predictions"]]
    answers = await asyncio.gather(*(one(pairs) for pairs in requests))
    for pairs, answer in zip(requests, answers):
      np.testing.assert_allclose(
          answer, predictor().predict([tuple(pair) for pair in pairs])["score"], rtol=1e-6)

  serve(check, max_batch_pairs=4, max_queue_delay_ms=50.0)


def test_bad_requests_get_one_line_naming_what_was_expected():
  async def check(client):
    cases = [
        (b"{not json", 400, "the body is not JSON"),
        (json.dumps([1, 2]).encode(), 400, "the body is a list; expected a JSON object"),
        (json.dumps({"pairs": [["a" * 41, "b"]]}).encode(), 400, "--max_text_chars=40"),
        (json.dumps({"pairs": [["a", "b"]] * 3}).encode(), 400, "--max_pairs_per_request=2"),
        (b"{" + b" " * 300 + b"}", 413, "--max_body_bytes=256"),
    ]
    for body, status, words in cases:
      response = await client.post("/predict", data=body,
                                   headers={"Content-Type": "application/json"})
      message = (await response.json())["error"]
      assert response.status == status and words in message, (body[:20], message)
      assert "\n" not in message
    response = await client.get("/nowhere")
    assert response.status == 404 and "expected POST /predict" in (await response.json())["error"]
    # What went wrong before hurts nothing after.
    assert (await client.post("/predict", json={"pairs": PAIRS[:1]})).status == 200

  serve(check, max_text_chars=40, max_pairs_per_request=2, max_body_bytes=256)


def test_a_full_queue_answers_503_with_retry_after():
  async def check(client):
    response = await client.post("/predict", json={"pairs": PAIRS})
    assert response.status == 503 and response.headers["Retry-After"] == "1"
    assert "--max_queue_pairs=2" in (await response.json())["error"]

  serve(check, max_queue_pairs=2)


def test_the_api_key_guards_every_route_but_health():
  async def check(client):
    assert (await client.post("/predict", json={"pairs": PAIRS})).status == 401
    assert (await client.get("/metrics", headers={"X-API-Key": "wrong"})).status == 401
    assert (await client.get("/health")).status == 200
    response = await client.post("/predict", json={"pairs": PAIRS},
                                 headers={"Authorization": "Bearer s3cret"})
    assert response.status == 200

  serve(check, api_key="s3cret")


def test_a_model_that_fails_to_load_is_said_on_health_and_to_the_caller():
  failures = []

  def load():
    raise ValueError("model.onnx: cut short")

  async def check(client):
    response = await client.get("/health")
    assert response.status == 500
    assert (await response.json()) == {"status": "failed", "error": "model.onnx: cut short"}
    response = await client.post("/predict", json={"pairs": PAIRS})
    assert response.status == 503
    assert "the model failed to load: model.onnx: cut short" in (await response.json())["error"]

  serve(check, load=load, failures=failures)
  assert failures == ["model.onnx: cut short"]
