"""Dynamic batching: the pairs of concurrent requests share model batches.

A request's pairs, laid out as token ids, join one queue. The batcher (a coroutine of the
server's event loop) waits until a full batch of pairs is waiting, or until the oldest
waiting pair has waited max_delay_ms, then takes up to `window` batches' worth of pairs
in arrival order, sorts them by length and runs them as batches of max_batch_pairs, each
cut to its longest pair (as predict.py sorts a whole file): under load the window is
full and the padding small. The model runs in one worker thread, so the event loop
keeps taking requests meanwhile; each request gets its outputs back in its own order
once its last pair is done. The queue holds at most max_queue_pairs pairs: a request
that would overflow it is refused at once (QueueFull), never left waiting. A request
whose client has gone (cancelled) loses its pairs that have not yet run.

Shapes: a pair is its token ids and segment ids, int32 [L] each (L its real length).
"""

import asyncio
import collections
import concurrent.futures
import dataclasses
import time
from typing import List

import numpy as np

from finetune.model.model_files import SERVING_INPUTS


class QueueFull(Exception):
  """The queue has no room for the request's pairs."""


@dataclasses.dataclass
class _Request:
  """A request's pairs, where their outputs go, and when they arrived."""
  ids: List[np.ndarray]
  segments: List[np.ndarray]
  future: asyncio.Future
  arrived: float
  outputs: dict = dataclasses.field(default_factory=dict)
  next_pair: int = 0  # the first pair not yet taken into a batch
  done_pairs: int = 0


class Batcher:
  """Collects pairs into model batches and runs them one after the other.

  Args:
    run_batch: {input_ids, input_mask, segment_ids: int32 [B, L]} -> {output: [B, ...]};
      it runs in the worker thread.
    max_batch_pairs: pairs per model batch.
    max_delay_ms: the longest a pair waits for others before a partial batch runs.
    max_queue_pairs: pairs waiting at most (beyond: QueueFull).
    window: batches' worth of waiting pairs sorted by length together.
    on_batch: called with (pairs, seconds) after each model batch (metrics).
  """

  def __init__(self, run_batch, *, max_batch_pairs=32, max_delay_ms=5.0,
               max_queue_pairs=4096, window=8, on_batch=None):
    self._run_batch = run_batch
    self.max_batch_pairs = max_batch_pairs
    self.max_delay = max_delay_ms / 1000.0
    self.max_queue_pairs = max_queue_pairs
    self.window = window
    self._on_batch = on_batch
    self._waiting = collections.deque()  # requests with pairs not yet taken
    self.waiting_pairs = 0
    self._arrival = asyncio.Event()
    self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="model")
    self._task = None

  def start(self):
    self._task = asyncio.get_running_loop().create_task(self._loop())

  async def stop(self):
    """Ends the batcher once nothing waits (requests still queued are run first)."""
    while self.waiting_pairs:
      await asyncio.sleep(0.01)
    if self._task is not None:
      self._task.cancel()
      try:
        await self._task
      except asyncio.CancelledError:
        pass
    self._executor.shutdown(wait=True)

  def run_now(self, batch):
    """Runs one batch in the worker thread, outside the queue (the warm-up batch)."""
    return self._executor.submit(self._run_batch, batch).result()

  async def score(self, ids, segments):
    """The outputs for a request's pairs, {output: array [n, ...]}, in its order.

    Raises QueueFull when its pairs do not fit in the queue.
    """
    count = len(ids)
    if self.waiting_pairs + count > self.max_queue_pairs:
      raise QueueFull()
    request = _Request(ids, segments, asyncio.get_running_loop().create_future(),
                       time.monotonic())
    self._waiting.append(request)
    self.waiting_pairs += count
    self._arrival.set()
    try:
      return await request.future
    except asyncio.CancelledError:
      self._forget(request)
      raise

  def _forget(self, request):
    """Drops a cancelled request's pairs that have not run."""
    if request in self._waiting:
      self._waiting.remove(request)
      self.waiting_pairs -= len(request.ids) - request.next_pair

  async def _loop(self):
    loop = asyncio.get_running_loop()
    while True:
      if not self._waiting:
        self._arrival.clear()
        await self._arrival.wait()
        continue
      deadline = self._waiting[0].arrived + self.max_delay
      while self.waiting_pairs < self.max_batch_pairs:
        left = deadline - time.monotonic()
        if left <= 0:
          break
        self._arrival.clear()
        try:
          await asyncio.wait_for(self._arrival.wait(), left)
        except asyncio.TimeoutError:
          break
      taken = self._take(self.window * self.max_batch_pairs)
      for start in range(0, len(taken), self.max_batch_pairs):
        part = taken[start:start + self.max_batch_pairs]
        started = time.monotonic()
        outputs = await loop.run_in_executor(self._executor, self._run_batch,
                                             self._assemble(part))
        if self._on_batch is not None:
          self._on_batch(len(part), time.monotonic() - started)
        self._deliver(part, outputs)

  def _take(self, limit):
    """Up to `limit` waiting pairs in arrival order, sorted by length: [(request, index)]."""
    taken = []
    while self._waiting and len(taken) < limit:
      request = self._waiting[0]
      count = min(len(request.ids) - request.next_pair, limit - len(taken))
      taken.extend((request, request.next_pair + i) for i in range(count))
      request.next_pair += count
      self.waiting_pairs -= count
      if request.next_pair == len(request.ids):
        self._waiting.popleft()
    taken.sort(key=lambda item: len(item[0].ids[item[1]]))
    return taken

  @staticmethod
  def _assemble(part):
    """[(request, index)] -> one batch cut to its longest pair."""
    width = max(len(request.ids[index]) for request, index in part)
    batch = {name: np.zeros((len(part), width), np.int32) for name in SERVING_INPUTS}
    for row, (request, index) in enumerate(part):
      length = len(request.ids[index])
      batch["input_ids"][row, :length] = request.ids[index]
      batch["input_mask"][row, :length] = 1
      batch["segment_ids"][row, :length] = request.segments[index]
    return batch

  @staticmethod
  def _deliver(part, outputs):
    for row, (request, index) in enumerate(part):
      if request.future.done():  # cancelled: its client has gone
        continue
      for name, values in outputs.items():
        if name not in request.outputs:
          request.outputs[name] = np.empty((len(request.ids),) + values.shape[1:], values.dtype)
        request.outputs[name][index] = values[row]
      request.done_pairs += 1
      if request.done_pairs == len(request.ids):
        request.future.set_result(request.outputs)
