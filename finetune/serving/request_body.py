"""A request's body read whole and parsed as JSON, every way it can fail a 4xx.

A body is read up to the application's client_max_size (aiohttp raises
HTTPRequestEntityTooLarge past it, which the routes answer 413). What a client can get
wrong after that is a BodyError whose message says what was expected:
  - a body whose Content-Encoding does not decode, or a chunked body that breaks off;
  - bytes that are not UTF-8 (or UTF-16/32 JSON) text, text that is not JSON;
  - JSON nested deeper than Python's parser goes (`[[[[...` 100,000 deep: a
    RecursionError), or an integer of more digits than Python converts (4,300).
"""

import json

from aiohttp import web

from finetune.serving import http_errors


class BodyError(Exception):
  """A body the server cannot read; the message says what was expected."""

  def __init__(self, message, status=400):
    super().__init__(message)
    self.status = status


async def read(request):
  """The body's bytes, decoded from its Content-Encoding."""
  try:
    return await request.read()
  except web.RequestPayloadError as e:
    raise BodyError(http_errors.describe(e)) from None


def parse_json(data):
  """The JSON value of `data`; BodyError if it is none."""
  try:
    return json.loads(data)
  except RecursionError:
    raise BodyError("the body is not JSON this server reads: lists or objects nested "
                    "too deeply (past about 900 levels); expected a JSON object") from None
  except UnicodeDecodeError as e:
    raise BodyError("the body is not JSON (not UTF-8 text: byte 0x%02x at offset %d); "
                    "expected a JSON object in UTF-8" % (e.object[e.start], e.start)) from None
  except ValueError as e:
    if "integer string conversion" in str(e):  # Python's limit on int digits
      raise BodyError("the body is not JSON this server reads: an integer of more than "
                      "4300 digits; expected a JSON object") from None
    raise BodyError("the body is not JSON (%s); expected a JSON object" % e) from None
