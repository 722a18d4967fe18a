"""serve.py's settings: the model, the address, the key, and the limits and batching the
server reads (finetune/serving/server.make_app takes a ServeOptions as its limits)."""

import dataclasses
from typing import Optional

from common import checks
from common import cli
from common.settings import setting
from finetune.runtime.openvino_runtime import RUNTIMES
from finetune.runtime.predictor import PREDICT_PRECISIONS

API_KEY_VARIABLE = "BERT_SERVE_API_KEY"
OVERLOAD_STATUSES = (503, 429)


@dataclasses.dataclass(frozen=True)
class ServeOptions:
  """serve.py's settings."""
  model: str = setting(None, "An ONNX folder (export_model.py), an --export_dir, a SavedModel "
                       "version folder, or a run's --output_dir.", cli.REQUIRED,
                       checks.ExistingFolder("a model folder"), required=True)
  host: str = setting("127.0.0.1", "Address to bind. Anything but loopback needs an API key.",
                      cli.RUN, checks.NonEmpty())
  port: int = setting(8000, "Port to bind (0: any free port; the log says which).", cli.RUN,
                      checks.Between(0, 65535))
  api_key: Optional[str] = setting(
      None, "Key every route but /health asks for (Authorization: Bearer <key>); default "
      "$%s." % API_KEY_VARIABLE, cli.RUN, checks.NonEmpty())
  precision: str = setting("float32", "As predict.py --precision (a run's folder as --model, "
                           "or --runtime=openvino; int8 for an int8 export).", cli.SPEED,
                           checks.OneOf(PREDICT_PRECISIONS))
  runtime: str = setting("onnxruntime", "As predict.py --runtime: for an ONNX folder, "
                         "onnxruntime or openvino.", cli.SPEED, checks.OneOf(RUNTIMES))
  max_batch_pairs: int = setting(32, "Pairs per model batch.", cli.SPEED,
                                 checks.AtLeast(1))
  max_batch_tokens: int = setting(
      4096, "Tokens per model batch, counted padded (its longest pair's "
      "length x its pairs), as text-embeddings-inference's flag; a pair longer than this "
      "runs alone.", cli.SPEED, checks.AtLeast(1))
  max_queue_delay_ms: float = setting(
      5.0, "The longest a pair waits for others to fill a batch, in "
      "milliseconds.", cli.SPEED, checks.AtLeast(0.0))
  max_queue_pairs: int = setting(4096, "Pairs waiting at most; past it, "
                                 "503 with Retry-After.", cli.SPEED, checks.AtLeast(1))
  sort_window_pairs: int = setting(
      256, "Waiting pairs sorted by length together before they are "
      "cut into batches: more pads less under load (throughput), and makes each request of "
      "the window wait for all of it (latency).", cli.SPEED, checks.AtLeast(1))
  overload_status: str = setting(
      "503", "The status a request gets when the queue is full: 503, or "
      "429 as text-embeddings-inference and Infinity answer; Retry-After either way.",
      cli.RUN, checks.OneOf([str(code) for code in OVERLOAD_STATUSES]))
  served_model_name: Optional[str] = setting(
      None, "The name answers carry as `model` and /info as model_id (default: --model's "
      "folder name).", cli.RUN, checks.NonEmpty())
  strict_model_name: bool = setting(
      False, "Answer 404 to a request whose `model` is not --served_model_name (default: any "
      "name is taken, as one model is served).", cli.RUN)
  max_body_bytes: int = setting(1 << 20, "Largest request body, in bytes "
                                "(413 beyond).", cli.RUN, checks.AtLeast(64))
  max_pairs_per_request: int = setting(1024, "Most pairs (or "
                                       "documents) in one request (400 beyond).", cli.RUN,
                                       checks.AtLeast(1))
  max_text_chars: int = setting(20000, "Most characters in one text (400 "
                                "beyond).", cli.RUN, checks.AtLeast(1))
  shutdown_seconds: float = setting(60.0, "On SIGTERM, how long requests in flight may take "
                                    "to be answered.", cli.RUN, checks.AtLeast(0.0))
