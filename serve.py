r"""Serves a fine-tuned model over HTTP: scores, reranking, health and metrics.

  python serve.py --model=runs/stsb-int8                      # http://127.0.0.1:8000
  python serve.py --model=runs/stsb --port=8080 --max_batch_pairs=64
  BERT_SERVE_API_KEY=secret python serve.py --model=runs/stsb-int8 --host=0.0.0.0

--model is any folder predict.py takes; an ONNX folder (export_model.py) runs on ONNX
Runtime without TensorFlow, the others on TensorFlow. Routes: POST /predict, POST
/rerank and /v1/rerank, /v2/rerank (Cohere's, Jina's and text-embeddings-inference's
shapes), GET /info, GET /health, GET /metrics; see docs/serving.md.
Concurrent requests share model batches. SIGTERM or Ctrl-C: the port closes, the
requests already taken are answered, and the server exits 0. It binds to loopback
unless given an API key (--api_key or $BERT_SERVE_API_KEY), which every route but
/health then asks for.
"""

import asyncio
import ipaddress
import logging as std_logging
import os
import signal

from absl import logging

from common import cli
from common import settings
from common.errors import UserError
from finetune.runtime.predictor import load_predictor
from finetune.serving import draining
from finetune.serving import http_errors
from finetune.serving import server
from finetune.serving.options import API_KEY_VARIABLE
from finetune.serving.options import ServeOptions

cli.define_flags(ServeOptions)
# aiohttp's own wait for requests, once the drain is done: for one that came as it ended.
CLEANUP_SECONDS = 0.1


def is_loopback(host):
  if host == "localhost":
    return True
  try:
    return ipaddress.ip_address(host.strip("[]")).is_loopback
  except ValueError:
    return False


async def serve(options, api_key):
  """Runs the server until SIGTERM or SIGINT; returns once it has stopped cleanly."""
  served_name = options.served_model_name or os.path.basename(
      os.path.normpath(os.path.abspath(options.model)))
  stopping = asyncio.Event()
  failure = []

  def failed(message):  # the model could not be loaded: stop, and say why
    failure.append(message)
    stopping.set()

  app = server.make_app(lambda: load_predictor(options.model, options.precision,
                                               spinning=False, runtime=options.runtime),
                        options,
                        api_key=api_key, on_failure=failed, served_name=served_name,
                        strict_model_name=options.strict_model_name)
  drain = draining.Drain()
  app.middlewares.insert(0, drain.middleware)  # outermost: it sees every answer
  # A client that goes away cancels its handler, and with it its pairs not yet run. The
  # parser's errors are answered as JSON (http_errors). The drain has answered or
  # cancelled every request taken before aiohttp's cleanup: nothing is left to wait for.
  runner = http_errors.AppRunner(app, handler_cancellation=True, access_log=None,
                                 shutdown_timeout=CLEANUP_SECONDS)
  await runner.setup()
  site = server.web.TCPSite(runner, options.host, options.port)
  try:
    await site.start()
  except OSError as e:
    await runner.cleanup()
    raise UserError("--host=%s --port=%d: cannot bind (%s)" % (
        options.host, options.port, e.strerror or e)) from None
  host, port = runner.addresses[0][:2]
  logging.info("serving %s on http://%s:%d (loading the model)", options.model,
               host if ":" not in host else "[%s]" % host, port)
  loop = asyncio.get_running_loop()

  def signalled():  # the first signal stops; a second one stops without waiting
    if stopping.is_set():
      drain.cut_short()
    stopping.set()

  for signum in (signal.SIGTERM, signal.SIGINT):
    loop.add_signal_handler(signum, signalled)
  await stopping.wait()
  if not failure:
    logging.info("stopping: no new connections; answering the %d request(s) taken (at "
                 "most --shutdown_seconds=%g)", len(drain.handlers), options.shutdown_seconds)
  await drain.stop(runner, options.shutdown_seconds)
  await runner.cleanup()
  if failure:
    raise UserError(failure[0])
  logging.info("stopped")


def main(argv):
  del argv  # flags only
  logging.set_verbosity(logging.INFO)
  std_logging.getLogger("tensorflow").setLevel(std_logging.ERROR)
  options = cli.options_from_flags(ServeOptions)
  settings.validate(options)
  api_key = options.api_key or os.environ.get(API_KEY_VARIABLE) or None
  if not is_loopback(options.host) and api_key is None:
    raise UserError("--host=%s answers beyond this machine: give an API key (--api_key or "
                    "$%s) that clients must send, or bind to 127.0.0.1" %
                    (options.host, API_KEY_VARIABLE))
  if options.max_pairs_per_request > options.max_queue_pairs:
    raise UserError("--max_pairs_per_request=%d is above --max_queue_pairs=%d: such a "
                    "request could never be queued; expected at most %d" % (
                        options.max_pairs_per_request, options.max_queue_pairs,
                        options.max_queue_pairs))
  asyncio.run(serve(options, api_key))


if __name__ == "__main__":
  cli.run_app(main, __doc__)
