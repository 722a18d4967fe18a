"""The HTTP scorer and reranker behind serve.py, on aiohttp.

Routes (JSON in and out; errors are {"error": "<what is wrong, and what was expected>"}):
  POST /predict  {"pairs": [[a, b], ...]} -> {"predictions": [...]} in request order:
                 {"score": s} (regression, the user's units), or {"label": "1",
                 "probabilities": {"0": p0, "1": p1}} (classification), as predict.py prints;
                 or text-embeddings-inference's {"inputs": ...} (api.py).
  POST /rerank, /v1/rerank, /v2/rerank
                 Cohere's and Jina's shape: {"query": q, "documents": [text or {"text":
                 text}], "top_n": k, "return_documents": bool, "max_tokens_per_doc": n} ->
                 {"id", "model", "results": [{"index": i, "relevance_score": r,
                 "document": {"text": ...}}, ...] best first, "meta", "usage"}; on /rerank,
                 text-embeddings-inference's {"query", "texts"} too (api.py).
  GET /info      the served model and the batch limits, as text-embeddings-inference's.
  GET /health    200 {"status": "ready"} once the model is loaded and has run one batch;
                 503 {"status": "loading"} before.
  GET /metrics   Prometheus text: requests by route and status, request seconds and their
                 queue, tokenization and inference parts, pairs and tokens per model batch,
                 its padding share, model batch seconds, pairs waiting, pairs scored and cut.
Limits, each a 4xx naming its flag: body bytes (413), pairs per request and characters
per text (400). A full queue answers --overload_status (503 or 429) with Retry-After at
once. A pair too long for the model is cut (the answer's X-Truncated-Pairs header says
how many were), or, with "truncate": false in the request, refused (413). With an API
key, every route but /health needs `Authorization: Bearer <key>` (or `X-API-Key:
<key>`), else 401. The model loads in a thread after the port is bound, so the port
answers (/health: loading) from the first second.
"""

import asyncio
import hmac
import itertools
import os
import threading
import time

from absl import logging
from aiohttp import web
import prometheus_client

from finetune.serving import api
from finetune.serving import request_body
from finetune.serving import request_tokens
from finetune.serving.api import BadRequest
from finetune.serving.batching import Batcher
from finetune.serving.batching import QueueFull

READY = web.AppKey("ready", dict)
prometheus_client.disable_created_metrics()  # the *_created series: noise for a scraper
RERANK_ROUTES = {"/rerank": "2", "/v1/rerank": "1", "/v2/rerank": "2"}  # -> Cohere's version
ROUTES = ("/predict", "/rerank", "/v1/rerank", "/v2/rerank", "/info", "/health", "/metrics")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
TOKEN_BUCKETS = (64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768)
SHARE_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


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
    self.truncated = prometheus_client.Counter(
        "bert_pairs_truncated", "Pairs cut to fit the model's max_seq_length (or a request's "
        "max_tokens_per_doc).", registry=self.registry)
    # Where a scoring request's seconds go: tokenizing its texts, waiting for its first
    # model batch, and from that batch's start to its last batch's end.
    self.stages = {stage: prometheus_client.Histogram(
        "bert_%s_seconds" % stage, what, buckets=LATENCY_BUCKETS, registry=self.registry)
                   for stage, what in (
                       ("tokenization", "Seconds a request's texts take to tokenize."),
                       ("queue", "Seconds a request waits for its first model batch."),
                       ("inference", "Seconds from a request's first model batch's start "
                        "to its last's end."))}
    self.batch_tokens = prometheus_client.Histogram(
        "bert_batch_tokens", "Tokens per model batch, padding included (pairs x the longest).",
        buckets=TOKEN_BUCKETS, registry=self.registry)
    self.padding = prometheus_client.Histogram(
        "bert_batch_padding_share", "Share of a model batch's tokens that are padding.",
        buckets=SHARE_BUCKETS, registry=self.registry)

  def batch_done(self, pairs, seconds, tokens, padded_tokens):
    self.batch_pairs.observe(pairs)
    self.batch_seconds.observe(seconds)
    self.pairs.inc(pairs)
    self.batch_tokens.observe(padded_tokens)
    self.padding.observe(1.0 - tokens / padded_tokens)


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


def make_app(load_predictor, limits, api_key=None, metrics=None, on_failure=None,
             served_name="model", strict_model_name=False):
  """The aiohttp application; `load_predictor()` -> a finetune.runtime.predictor.Predictor.

  limits: a ServeOptions (finetune/serving/options.py): its limits and batching are read.

  served_name: the model's name in answers and /info; with strict_model_name, a request
  naming another model gets 404.

  The predictor is loaded in a thread when the application starts; until it has run
  one batch, /health says "loading" and the scoring routes answer 503. If it cannot be
  loaded, on_failure(message) is called (serve.py then stops with that line).
  """
  metrics = metrics or Metrics()
  state = {"predictor": None, "batcher": None, "error": None}
  request_ids = itertools.count(1)

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
      response = error_response(e.status, "%s %s: %s; expected POST /predict, POST /rerank "
                                "(or /v1/rerank, /v2/rerank), GET /info, GET /health or "
                                "GET /metrics" % (request.method, request.path, e.reason))
    except Exception:
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
      raise BadRequest("the body is %s; expected a JSON object" % api.kind(body))
    return body

  async def scored(request, timing):
    """The model's outputs for a parsed request's pairs, and how many were cut."""
    predictor, batcher = state["predictor"], state["batcher"]
    started = time.monotonic()
    try:
      laid_out = request_tokens.lay_out(request.pairs, predictor.tokenizer,
                                        predictor.info["max_seq_length"], request.truncation)
    except request_tokens.TooLong as e:
      raise api.too_long(request, e) from None
    timing["tokenization"] = time.monotonic() - started
    metrics.queue.set(batcher.waiting_pairs + len(laid_out.ids))
    try:
      outputs = await batcher.score(laid_out.ids, laid_out.segments, timing)
    finally:
      metrics.queue.set(batcher.waiting_pairs)
    metrics.truncated.inc(len(laid_out.cut))
    for stage, histogram in metrics.stages.items():
      histogram.observe(timing[stage])
    return outputs, laid_out

  def scoring_route(parse, answer):
    async def handle(request):
      if state["batcher"] is None:
        return error_response(503, "the model is still loading; retry shortly" if
                              state["error"] is None else "the model failed to load: %s" %
                              state["error"], headers={"Retry-After": "1"})
      try:
        parsed = parse(await read_json(request), limits)
        timing = {}
        body, laid_out = await answer(parsed, request.path, timing)
      except BadRequest as e:
        return error_response(e.status, str(e))
      except QueueFull:
        return error_response(int(limits.overload_status), "the queue is full "
                              "(--max_queue_pairs=%d pairs waiting); retry in a second" %
                              limits.max_queue_pairs, headers={"Retry-After": "1"})
      # As text-embeddings-inference's x-*-time headers, in milliseconds; and the cut pairs.
      headers = {"X-%s-Time" % stage.capitalize(): "%.3f" % (seconds * 1000.0)
                 for stage, seconds in timing.items()}
      headers["X-Truncated-Pairs"] = str(len(laid_out.cut))
      headers["X-Compute-Tokens"] = str(laid_out.tokens)
      return web.json_response(body, headers=headers)
    return handle

  async def answer_predict(parsed, path, timing):
    del path
    outputs, laid_out = await scored(parsed, timing)
    return api.predict_answer(parsed, state["predictor"].info, outputs), laid_out

  async def answer_rerank(parsed, path, timing):
    if parsed.api == api.TEI and path != "/rerank":
      raise BadRequest("texts: %s takes Cohere's and Jina's documents; text-embeddings-"
                       "inference's texts go to POST /rerank" % path)
    api.check_model(parsed.model, served_name, strict_model_name)
    outputs, laid_out = await scored(parsed, timing)
    body = api.rerank_answer(parsed, state["predictor"].info, outputs, served_name=served_name,
                             request_id="rerank-%d-%d" % (os.getpid(), next(request_ids)),
                             tokens=laid_out.tokens, cut=len(laid_out.cut),
                             api_version=RERANK_ROUTES[path])
    return body, laid_out

  async def model_info(request):
    del request
    if state["predictor"] is None:
      return error_response(503, "the model is still loading; retry shortly",
                            headers={"Retry-After": "1"})
    return web.json_response(api.info_answer(state["predictor"].info, limits, served_name))

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
                          max_batch_tokens=limits.max_batch_tokens,
                          max_delay_ms=limits.max_queue_delay_ms,
                          max_queue_pairs=limits.max_queue_pairs,
                          window=max(1, limits.sort_window_pairs // limits.max_batch_pairs),
                          on_batch=metrics.batch_done)
        batcher.run_now(predictor.lay_out([("warm up", "warm up")]))  # one batch first
        loop.call_soon_threadsafe(ready.set_result, (predictor, batcher))
      except Exception as e:
        loop.call_soon_threadsafe(ready.set_exception, e)

    threading.Thread(target=load, name="load-model", daemon=True).start()

    async def wait_until_ready():
      try:
        predictor, batcher = await ready
      except Exception as e:
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
  app.router.add_post("/predict", scoring_route(api.parse_predict, answer_predict))
  for path in RERANK_ROUTES:
    app.router.add_post(path, scoring_route(api.parse_rerank, answer_rerank))
  app.router.add_get("/info", model_info)
  app.router.add_get("/health", health)
  app.router.add_get("/metrics", metrics_route)
  app.on_startup.append(start)
  app.on_cleanup.append(stop)
  return app
