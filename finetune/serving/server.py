"""The HTTP scorer and reranker behind serve.py, on aiohttp.

Routes (JSON in and out; errors are {"error": "<what is wrong, and what was expected>"}):
  POST /predict  {"pairs": [[a, b], ...]} -> {"predictions": [...]} in request order:
                 {"score": s} (regression, the user's units), or {"label": "1",
                 "probabilities": {"0": p0, "1": p1}} (classification), as predict.py prints.
  POST /rerank   Cohere's and Jina's shape: {"query": q, "documents": [text or {"text":
                 text}], "top_n": k, "return_documents": bool} -> {"results": [{"index":
                 i, "relevance_score": r, "document": {"text": ...}}, ...]}, best first.
                 relevance_score: a sigmoid regression head's score in 0..1 (its label
                 range mapped back), a linear head's score, a classifier's probability of
                 its positive label (of its last label with more than two).
  GET /health    200 {"status": "ready"} once the model is loaded and has run one batch;
                 503 {"status": "loading"} before.
  GET /metrics   Prometheus text: requests by route and status, request seconds, pairs
                 per model batch, model batch seconds, pairs waiting, pairs scored.
Limits, each a 4xx naming its flag: body bytes (413), pairs per request and characters
per text (400). A full queue answers 503 with Retry-After at once. With an API key,
every route but /health needs `Authorization: Bearer <key>` (or `X-API-Key: <key>`),
else 401. The model loads in a thread after the port is bound, so the port answers
(/health: loading) from the first second.
"""

import asyncio
import hmac
import json
import threading
import time

from absl import logging
from aiohttp import web
import numpy as np
import prometheus_client

from finetune.model.model_files import to_unit_range
from finetune.serving import request_body
from finetune.serving.batching import Batcher
from finetune.serving.batching import QueueFull

READY = web.AppKey("ready", dict)
prometheus_client.disable_created_metrics()  # the *_created series: noise for a scraper
ROUTES = ("/predict", "/rerank", "/health", "/metrics")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class BadRequest(Exception):
  """A request the server cannot take; the message says what was expected."""

  def __init__(self, message, status=400):
    super().__init__(message)
    self.status = status


def error_response(status, message, headers=None):
  return web.json_response({"error": message}, status=status, headers=headers)


class Metrics:
  """The server's Prometheus metrics, in a registry of their own."""

  def __init__(self):
    self.registry = prometheus_client.CollectorRegistry()
    self.requests = prometheus_client.Counter(
        "bert_requests", "HTTP requests by route and status.", ["route", "status"],
        registry=self.registry)
    self.latency = prometheus_client.Histogram(
        "bert_request_seconds", "Seconds from a request's arrival to its answer.", ["route"],
        buckets=LATENCY_BUCKETS, registry=self.registry)
    self.batch_pairs = prometheus_client.Histogram(
        "bert_batch_pairs", "Pairs per model batch.", buckets=BATCH_BUCKETS,
        registry=self.registry)
    self.batch_seconds = prometheus_client.Histogram(
        "bert_batch_seconds", "Seconds the model spends on one batch.",
        buckets=LATENCY_BUCKETS, registry=self.registry)
    self.queue = prometheus_client.Gauge(
        "bert_queue_pairs", "Pairs waiting for a model batch.", registry=self.registry)
    self.pairs = prometheus_client.Counter(
        "bert_pairs_scored", "Pairs the model has scored.", registry=self.registry)

  def batch_done(self, pairs, seconds):
    self.batch_pairs.observe(pairs)
    self.batch_seconds.observe(seconds)
    self.pairs.inc(pairs)


def _text(value, where, limits):
  """A text field: a string of at most max_text_chars characters."""
  if not isinstance(value, str):
    raise BadRequest("%s: expected a string, found %s" % (where, _kind(value)))
  if len(value) > limits.max_text_chars:
    raise BadRequest("%s: %d characters, over --max_text_chars=%d" % (
        where, len(value), limits.max_text_chars))
  return value


def _kind(value):
  return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
          type(None): "null"}.get(type(value), "a number")


def _list(body, field, limits):
  values = body.get(field)
  if not isinstance(values, list):
    raise BadRequest("%s: expected a list, found %s" % (
        field, "nothing" if field not in body else _kind(values)))
  if not values:
    raise BadRequest("%s: expected at least one item, found an empty list" % field)
  if len(values) > limits.max_pairs_per_request:
    raise BadRequest("%s: %d items, over --max_pairs_per_request=%d" % (
        field, len(values), limits.max_pairs_per_request))
  return values


def parse_predict(body, limits):
  """{"pairs": [[a, b], ...]} -> [(a, b)]."""
  pairs = []
  for index, pair in enumerate(_list(body, "pairs", limits)):
    if not isinstance(pair, list) or len(pair) != 2:
      raise BadRequest("pairs[%d]: expected [text_a, text_b], found %s" % (
          index, "a list of %d" % len(pair) if isinstance(pair, list) else _kind(pair)))
    pairs.append((_text(pair[0], "pairs[%d][0]" % index, limits),
                  _text(pair[1], "pairs[%d][1]" % index, limits)))
  return pairs


def parse_rerank(body, limits):
  """Cohere's / Jina's rerank request -> (query, [document text], top_n, return_documents)."""
  query = _text(body.get("query"), "query", limits) if "query" in body else None
  if query is None:
    raise BadRequest("query: expected a string, found nothing")
  documents = []
  for index, document in enumerate(_list(body, "documents", limits)):
    if isinstance(document, dict):
      document = document.get("text")
      where = "documents[%d].text" % index
    else:
      where = "documents[%d]" % index
    documents.append(_text(document, where, limits))
  top_n = body.get("top_n", len(documents))
  if top_n is None:
    top_n = len(documents)
  if not isinstance(top_n, int) or isinstance(top_n, bool) or top_n < 1:
    raise BadRequest("top_n: expected an integer >= 1, found %s" % json.dumps(top_n))
  return_documents = body.get("return_documents", False)
  if not isinstance(return_documents, bool):
    raise BadRequest("return_documents: expected true or false, found %s" %
                     json.dumps(return_documents))
  return query, documents, min(top_n, len(documents)), return_documents


def predictions(info, outputs):
  """The /predict answers, as predict.py prints them."""
  if "score" in outputs:
    return [{"score": float(score)} for score in outputs["score"]]
  labels = info["labels"]
  return [{"label": labels[int(label_id)],
           "probabilities": {label: float(p) for label, p in zip(labels, row)}}
          for label_id, row in zip(outputs["label_id"], outputs["probabilities"])]


def relevance(info, outputs):
  """One relevance score per pair, higher meaning more relevant (module docstring)."""
  if "score" in outputs:
    scores = np.asarray(outputs["score"], np.float64)
    if info.get("use_sigmoid_act"):
      scores = to_unit_range(scores, info.get("label_min"), info.get("label_max"))
    return scores
  labels = info["labels"]
  positive = info.get("positive_label") or labels[-1]
  return np.asarray(outputs["probabilities"], np.float64)[:, labels.index(positive)]


def _api_key_of(request):
  header = request.headers.get("Authorization", "")
  if header.lower().startswith("bearer "):
    return header[len("bearer "):].strip()
  return request.headers.get("X-API-Key")


def key_matches(given, api_key):
  """Whether the key sent is the server's, in constant time.

  aiohttp hands over header bytes that are not UTF-8 as lone surrogates
  (surrogateescape); they are turned back into those bytes, which match no key.
  """
  if given is None:
    return False
  return hmac.compare_digest(given.encode("utf-8", "surrogateescape"),
                             api_key.encode("utf-8", "surrogateescape"))


def make_app(load_predictor, limits, api_key=None, metrics=None, on_failure=None):
  """The aiohttp application; `load_predictor()` -> a finetune.runtime.predictor.Predictor.

  limits: a ServeOptions (finetune/serving/options.py): its limits and batching are read.

  The predictor is loaded in a thread when the application starts; until it has run
  one batch, /health says "loading" and the scoring routes answer 503. If it cannot be
  loaded, on_failure(message) is called (serve.py then stops with that line).
  """
  metrics = metrics or Metrics()
  state = {"predictor": None, "batcher": None, "error": None}

  @web.middleware
  async def measured(request, handler):
    route = request.path if request.path in ROUTES else "other"
    started = time.monotonic()
    try:
      if api_key is not None and request.path != "/health":
        given = _api_key_of(request)
        if not key_matches(given, api_key):
          response = error_response(401, "missing or wrong API key: send Authorization: "
                                    "Bearer <key> or X-API-Key: <key>",
                                    headers={"WWW-Authenticate": "Bearer"})
          metrics.requests.labels(route, "401").inc()
          return response
      response = await handler(request)
    except web.HTTPRequestEntityTooLarge:
      response = error_response(413, "request body over --max_body_bytes=%d bytes" %
                                limits.max_body_bytes)
    except web.HTTPException as e:  # 404, 405: aiohttp's own answers, in JSON
      response = error_response(e.status, "%s %s: %s; expected POST /predict, POST /rerank, "
                                "GET /health or GET /metrics" % (request.method,
                                                                 request.path, e.reason))
    except Exception:  # pylint: disable=broad-except
      logging.exception("%s %s failed", request.method, request.path)
      response = error_response(500, "the server failed on this request; see its log")
    metrics.requests.labels(route, str(response.status)).inc()
    metrics.latency.labels(route).observe(time.monotonic() - started)
    return response

  async def read_json(request):
    try:
      body = request_body.parse_json(await request_body.read(request))
    except request_body.BodyError as e:
      raise BadRequest(str(e), e.status) from None
    if not isinstance(body, dict):
      raise BadRequest("the body is %s; expected a JSON object" % _kind(body))
    return body

  async def scored(pairs):
    predictor, batcher = state["predictor"], state["batcher"]
    columns = predictor.lay_out(pairs)
    lengths = columns["input_mask"].sum(axis=1)
    ids = [columns["input_ids"][i, :n] for i, n in enumerate(lengths)]
    segments = [columns["segment_ids"][i, :n] for i, n in enumerate(lengths)]
    metrics.queue.set(batcher.waiting_pairs + len(pairs))
    try:
      return await batcher.score(ids, segments)
    finally:
      metrics.queue.set(batcher.waiting_pairs)

  def scoring_route(parse, answer):
    async def handle(request):
      if state["batcher"] is None:
        return error_response(503, "the model is still loading; retry shortly" if
                              state["error"] is None else "the model failed to load: %s" %
                              state["error"], headers={"Retry-After": "1"})
      try:
        parsed = parse(await read_json(request), limits)
        return web.json_response(await answer(parsed))
      except BadRequest as e:
        return error_response(e.status, str(e))
      except QueueFull:
        return error_response(503, "the queue is full (--max_queue_pairs=%d pairs waiting); "
                              "retry in a second" % limits.max_queue_pairs,
                              headers={"Retry-After": "1"})
    return handle

  async def answer_predict(pairs):
    outputs = await scored(pairs)
    return {"predictions": predictions(state["predictor"].info, outputs)}

  async def answer_rerank(parsed):
    query, documents, top_n, return_documents = parsed
    outputs = await scored([(query, document) for document in documents])
    scores = relevance(state["predictor"].info, outputs)
    order = np.argsort(-scores, kind="stable")[:top_n]
    results = []
    for index in order:
      result = {"index": int(index), "relevance_score": float(scores[index])}
      if return_documents:
        result["document"] = {"text": documents[index]}
      results.append(result)
    return {"results": results}

  async def health(request):
    del request
    if state["batcher"] is not None:
      return web.json_response({"status": "ready"})
    if state["error"] is not None:
      return web.json_response({"status": "failed", "error": state["error"]}, status=500)
    return web.json_response({"status": "loading"}, status=503)

  async def metrics_route(request):
    del request
    return web.Response(body=prometheus_client.generate_latest(metrics.registry),
                        headers={"Content-Type": prometheus_client.CONTENT_TYPE_LATEST})

  async def start(app):
    loop = asyncio.get_running_loop()
    ready = loop.create_future()

    def load():
      try:
        predictor = load_predictor()
        batcher = Batcher(predictor.run_batch, max_batch_pairs=limits.max_batch_pairs,
                          max_delay_ms=limits.max_queue_delay_ms,
                          max_queue_pairs=limits.max_queue_pairs,
                          window=max(1, limits.sort_window_pairs // limits.max_batch_pairs),
                          on_batch=metrics.batch_done)
        batcher.run_now(predictor.lay_out([("warm up", "warm up")]))  # one batch first
        loop.call_soon_threadsafe(ready.set_result, (predictor, batcher))
      except Exception as e:  # pylint: disable=broad-except
        loop.call_soon_threadsafe(ready.set_exception, e)

    threading.Thread(target=load, name="load-model", daemon=True).start()

    async def wait_until_ready():
      try:
        predictor, batcher = await ready
      except Exception as e:  # pylint: disable=broad-except
        state["error"] = str(e)
        if on_failure is not None:
          on_failure(str(e))
        return
      batcher.start()
      state["predictor"], state["batcher"] = predictor, batcher
      logging.info("ready: %s model, batches of up to %d pairs", predictor.info["task"],
                   limits.max_batch_pairs)

    app[READY]["waiting"] = loop.create_task(wait_until_ready())

  async def stop(app):
    app[READY]["waiting"].cancel()
    if state["batcher"] is not None:
      await state["batcher"].stop()
    if state["predictor"] is not None:
      state["predictor"].close()

  app = web.Application(middlewares=[measured], client_max_size=limits.max_body_bytes)
  app[READY] = {}
  app.router.add_post("/predict", scoring_route(parse_predict, answer_predict))
  app.router.add_post("/rerank", scoring_route(parse_rerank, answer_rerank))
  app.router.add_get("/health", health)
  app.router.add_get("/metrics", metrics_route)
  app.on_startup.append(start)
  app.on_cleanup.append(stop)
  return app
