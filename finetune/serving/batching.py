"""Dynamic batching: the pairs of concurrent requests share model batches.

A request's pairs, laid out as token ids, join one queue. The batcher (a coroutine of the
server's event loop) waits until a full batch is waiting (max_batch_pairs pairs or
max_batch_tokens tokens), or until the oldest waiting pair has waited max_delay_ms, then
takes up to `window` batches' worth of pairs in arrival order, sorts them by length and
cuts them, shortest first, into batches each padded to its longest pair (as predict.py
sorts a whole file): a batch takes pairs while it holds fewer than max_batch_pairs and
its padded cost, pairs x its longest pair's length, stays within max_batch_tokens (a
pair longer than that runs alone). The model's time goes with the padded tokens, not
the pairs: short pairs share large batches, long ones small batches, and under load the
window is full and the padding small. The model runs in one worker thread, so the event loop
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

import numpy as np

from finetune.model.model_files import SERVING_INPUTS


class QueueFull(Exception):
  """The queue has no room for the request's pairs."""


@dataclasses.dataclass(eq=False)
class _Request:
  """A request's pairs, where their outputs go, and when they arrived.

  Equal only to itself (eq=False): the queue finds and removes a request by identity; the
  generated __eq__ would compare the id arrays (and fail on two of other lengths).
  """
  ids: list[np.ndarray]
  segments: list[np.ndarray]
  future: asyncio.Future
  arrived: float
  outputs: dict = dataclasses.field(default_factory=dict)
  next_pair: int = 0  # the first pair not yet taken into a batch
  done_pairs: int = 0
  started: float = None  # when its first model batch started
  timing: dict = None  # filled with its queue and inference seconds


class Batcher:
  """Collects pairs into model batches and runs them one after the other.

  Args:
    run_batch: {input_ids, input_mask, segment_ids: int32 [B, L]} -> {output: [B, ...]};
      it runs in the worker thread.
    max_batch_pairs: pairs per model batch.
    max_batch_tokens: padded tokens per model batch (pairs x the longest pair's length).
    max_delay_ms: the longest a pair waits for others before a partial batch runs.
    max_queue_pairs: pairs waiting at most (beyond: QueueFull).
    window: batches' worth of waiting pairs sorted by length together.
    on_batch: called with (pairs, seconds, tokens, padded tokens) after each model batch
      (metrics).
  """

  def __init__(self, run_batch, *, max_batch_pairs=32, max_batch_tokens=1 << 30,
               max_delay_ms=5.0, max_queue_pairs=4096, window=8, on_batch=None):
    self._run_batch = run_batch
    self.max_batch_pairs = max_batch_pairs
    self.max_batch_tokens = max_batch_tokens
    self.max_delay = max_delay_ms / 1000.0
    self.max_queue_pairs = max_queue_pairs
    self.window = window
    self._on_batch = on_batch
    self._waiting = collections.deque()  # requests with pairs not yet taken
    self.waiting_pairs = 0
    self.waiting_tokens = 0
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

  async def score(self, ids, segments, timing=None):
    """The outputs for a request's pairs, {output: array [n, ...]}, in its order.

    timing: a dict, given "queue" (seconds until its first batch started) and
    "inference" (from then until its last batch ended). Raises QueueFull when its pairs
    do not fit in the queue.
    """
    count = len(ids)
    if self.waiting_pairs + count > self.max_queue_pairs:
      raise QueueFull()
    request = _Request(ids, segments, asyncio.get_running_loop().create_future(),
                       time.monotonic(), timing={} if timing is None else timing)
    self._waiting.append(request)
    self.waiting_pairs += count
    self.waiting_tokens += sum(len(pair) for pair in ids)
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
      self.waiting_tokens -= sum(len(pair) for pair in request.ids[request.next_pair:])

  async def _loop(self):
    loop = asyncio.get_running_loop()
    while True:
      if not self._waiting:
        self._arrival.clear()
        await self._arrival.wait()
        continue
      deadline = self._waiting[0].arrived + self.max_delay
      while (self.waiting_pairs < self.max_batch_pairs and
             self.waiting_tokens < self.max_batch_tokens):
        left = deadline - time.monotonic()
        if left <= 0:
          break
        self._arrival.clear()
        try:
          await asyncio.wait_for(self._arrival.wait(), left)
        except asyncio.TimeoutError:
          break
      taken = self._take(self.window * self.max_batch_pairs)
      for part in self.cut(taken):
        started = time.monotonic()
        for request, _ in part:
          if request.started is None:
            request.started = started
            request.timing["queue"] = started - request.arrived
        batch = self._assemble(part)
        outputs = await loop.run_in_executor(self._executor, self._run_batch, batch)
        if self._on_batch is not None:
          self._on_batch(len(part), time.monotonic() - started, int(batch["input_mask"].sum()),
                         batch["input_mask"].size)
        self._deliver(part, outputs)

  def cut(self, taken):
    """[(request, index)] sorted by length -> batches within both limits, in that order."""
    part, width = [], 0
    for item in taken:
      length = len(item[0].ids[item[1]])
      if part and (len(part) == self.max_batch_pairs or
                   (len(part) + 1) * max(width, length) > self.max_batch_tokens):
        yield part
        part, width = [], 0
      part.append(item)
      width = max(width, length)
    if part:
      yield part

  def _take(self, limit):
    """Up to `limit` waiting pairs in arrival order, sorted by length: [(request, index)]."""
    taken = []
    while self._waiting and len(taken) < limit:
      request = self._waiting[0]
      count = min(len(request.ids) - request.next_pair, limit - len(taken))
      taken.extend((request, request.next_pair + i) for i in range(count))
      self.waiting_tokens -= sum(len(pair) for pair in
                                 request.ids[request.next_pair:request.next_pair + count])
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
        request.timing["inference"] = time.monotonic() - request.started
        request.future.set_result(request.outputs)
