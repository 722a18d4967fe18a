"""Stopping the server without dropping a request it has taken.

aiohttp's own shutdown (AppRunner.cleanup) first marks every connection closing, and a
closing connection discards the bytes that still arrive: a request whose headers came
before the signal and whose body was still on its way was never answered, and its
client was reset after --shutdown_seconds. So serve.py stops in two steps: `Drain`
closes the listening sockets (new connections are refused), lets every request already
taken arrive whole and be answered (each answer says `Connection: close`), for at most
the given seconds, then cancels what is left; only then does aiohttp's cleanup run.

A request is taken once its headers have arrived: its handler has started.
"""

import asyncio

from absl import logging
from aiohttp import web


class Drain:
  """Counts the requests being handled; `stop` waits for them. Add `middleware` first."""

  def __init__(self):
    self.handlers = set()  # the tasks of the requests being handled
    self.draining = False
    self._changed = asyncio.Event()
    self._cut_short = asyncio.Event()

  @web.middleware
  async def middleware(self, request, handler):
    task = asyncio.current_task()
    self.handlers.add(task)
    try:
      response = await handler(request)
      if self.draining:  # answered, then closed: the client sends nothing more here
        response.force_close()
      return response
    finally:
      self.handlers.discard(task)
      self._changed.set()

  def cut_short(self):
    """Ends the wait now (a second SIGTERM or Ctrl-C)."""
    self._cut_short.set()
    self._changed.set()

  async def stop(self, runner, seconds):
    """Closes `runner`'s sites, answers the requests taken within `seconds`.

    Returns the number of requests cancelled unanswered at the deadline.
    """
    self.draining = True
    for site in list(runner.sites):
      await site.stop()  # the listening socket closes; open connections stay
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not self._cut_short.is_set():
      # A request parsed just now starts its handler on the next turns of the loop.
      for _ in range(3):
        await asyncio.sleep(0)
      if not self.handlers or loop.time() >= deadline:
        break
      self._changed.clear()
      try:
        await asyncio.wait_for(self._changed.wait(), deadline - loop.time())
      except asyncio.TimeoutError:
        pass
    left = [task for task in self.handlers if not task.done()]
    for task in left:
      task.cancel()
    if left:
      await asyncio.wait(left)
      logging.warning("%d request(s) not answered within --shutdown_seconds=%g were "
                      "dropped", len(left), seconds)
    return len(left)
