"""Requests aiohttp rejects before any route sees them, answered as the routes answer.

aiohttp's HTTP parser refuses a request line or header over 8190 bytes, `Content-Length:
abc`, a broken chunked body, a body whose Content-Encoding does not decode, TLS or HTTP/2
on the plain port. Left to itself it answers those in plain text and logs a traceback at
ERROR for each, so that any scanner on the network can fill the log. Here they are
answered `{"error": "<what is wrong; what was expected>"}` with their status (400) and
logged as one line each, at most LOG_BURST lines a minute, then one line counting those
left out. A failure that is the server's own (status 500) keeps its traceback.

aiohttp has no setting for this: `runner(app, ...)` gives a web.AppRunner whose
connections are a subclass of aiohttp's RequestHandler with these two methods replaced.
"""

import time

from absl import logging
from aiohttp import http_exceptions
from aiohttp import web
from aiohttp import web_protocol

LOG_BURST = 10  # lines about bad requests in a minute, then one line counting the rest
LOG_WINDOW_SECONDS = 60.0


class LogLimiter:
  """At most `burst` lines per window of `seconds`; says how many were left out."""

  def __init__(self, burst=LOG_BURST, seconds=LOG_WINDOW_SECONDS, clock=time.monotonic):
    self.burst, self.seconds, self.clock = burst, seconds, clock
    self.window_start = None
    self.logged = 0
    self.left_out = 0

  def lines(self, line):
    """The lines to log now for one more event described by `line` (maybe none)."""
    now = self.clock()
    out = []
    if self.window_start is None or now - self.window_start >= self.seconds:
      if self.left_out:
        out.append("%d more bad request(s) in the last %.0f s were not logged" % (
            self.left_out, now - self.window_start))
      self.window_start, self.logged, self.left_out = now, 0, 0
    if self.logged < self.burst:
      self.logged += 1
      out.append(line)
    else:
      self.left_out += 1
    return out


LIMITER = LogLimiter()


def _printable(text, limit=120):
  """`text` as ASCII without control characters, at most `limit` characters."""
  text = "".join(c if " " <= c <= "~" else "?" for c in text)
  return text if len(text) <= limit else text[:limit] + "..."


def describe(error):
  """What a client's malformed request did wrong, in words that echo none of its bytes."""
  if isinstance(error, http_exceptions.LineTooLong):
    return ("the request line (its URL) or a header is over %s bytes; expected each at "
            "most that long" % _printable(str(error.args[1])))
  if isinstance(error, http_exceptions.BadHttpMethod):
    if "HTTPS" in (error.message or ""):
      return "TLS on a plain HTTP port; expected http://, not https://"
    return ("the first line is not an HTTP request line with a known method; expected e.g. "
            "POST /predict HTTP/1.1")
  if isinstance(error, http_exceptions.BadStatusLine):
    return "the request line is not METHOD /path HTTP/1.1"
  if isinstance(error, http_exceptions.ContentEncodingError):
    return ("the body's Content-Encoding cannot be decoded; expected a body in gzip or "
            "deflate as its Content-Encoding says, or no Content-Encoding")
  if isinstance(error, web.RequestPayloadError):
    # The parser's error on the body, wrapped by aiohttp: its cause says what it was.
    cause = error.__cause__ or (error.args[0] if error.args else None)
    if isinstance(cause, Exception) and not isinstance(cause, web.RequestPayloadError):
      return describe(cause)
  message = getattr(error, "message", None) or str(error)
  if "PRI/Upgrade" in message:
    return "HTTP/2 is not served here; expected HTTP/1.1"
  # llhttp's reason comes first, then ":\n\n" and the offending bytes: keep the reason.
  # aiohttp's own messages put the bytes after ": ".
  reason = message.split(":\n", 1)[0] if ":\n" in message else message.split(": ", 1)[0]
  reason = _printable(reason.strip())
  return "the request is not valid HTTP/1.1 (%s)" % (reason or type(error).__name__)


def _is_clients(error):
  """True for a request the client got wrong (or a client that went away), not our bug."""
  return isinstance(error, (http_exceptions.HttpProcessingError, web.RequestPayloadError,
                            ConnectionError))


class JsonErrorsHandler(web_protocol.RequestHandler):
  """aiohttp's connection protocol, whose own error answers and logs are ours."""
  __slots__ = ()  # the same layout as RequestHandler: JsonErrorsServer swaps the class

  def handle_error(self, request, status=500, exc=None, message=None):
    del message  # aiohttp's text echoes the client's bytes; describe() says it in words
    if request.writer.output_size > 0:  # as aiohttp: an answer is already on its way
      raise ConnectionError("Response is sent already, cannot send another response "
                            "with the error message")
    if status >= 500 or exc is None or not _is_clients(exc):
      self.log_exception("%s %s failed", request.method, request.path, exc_info=exc)
      text = ("the server failed on this request; see its log" if status == 500 else
              "the request took too long to be answered" if status == 504 else
              "the server failed on this request (%d); see its log" % status)
    else:
      text = describe(exc)
      self.log_exception("bad HTTP request from %s, answered %d: %s", request.remote,
                         status, text, exc_info=exc)
    response = web.json_response({"error": text}, status=status)
    response.force_close()  # the parser's state is lost: the connection ends here
    return response

  def log_exception(self, *args, **kwargs):
    error = kwargs.get("exc_info")
    if isinstance(error, BaseException) and _is_clients(error):
      if len(args) == 1:  # aiohttp's "Unhandled exception" reading a bad body's rest
        args = ("bad HTTP request body, connection closed: %s", describe(error))
      for line in LIMITER.lines(args[0] % args[1:]):
        logging.warning("%s", line)
      return
    logging.error(*args, **kwargs)


class JsonErrorsServer(web.Server):
  """aiohttp's web.Server whose connections are JsonErrorsHandler."""

  def __call__(self):
    handler = super().__call__()
    handler.__class__ = JsonErrorsHandler
    return handler


class AppRunner(web.AppRunner):
  """web.AppRunner serving through JsonErrorsServer."""

  async def _make_server(self):
    server = await super()._make_server()
    server.__class__ = JsonErrorsServer  # built by aiohttp as it sees fit; only __call__ differs
    return server
