r"""serve.py for a long run under a mix of clients, on loopback: does anything leak or fail?

  .venv/bin/python bench/serve_soak.py --model=DIR [--minutes=10] [--rate=R]
                                       [--report_seconds=60] [--pairs=FILE]

DIR is any folder serve.py takes. First the saturation rate is measured (--concurrency
clients sending their next request as soon as the last is answered, for
--saturation_seconds), unless --rate (requests/s) is given; then requests arrive at
random (Poisson) at half of it, for --minutes:
  good        (the rest)  /predict or /rerank, --pairs_per_request pairs drawn from FILE
              (default: STS-B train then dev, as bench/serve_load.py), on keep-alive
              connections, with the API key: 200 expected;
  malformed   (--malformed_share) one of MALFORMED below, each on a connection of its
              own: 4xx expected (JSON errors, 401, 404, 405, 413);
  gone        (--disconnect_share) a client that connects and goes away: before sending
              anything, half-way through its body, or once its request is sent, before
              the answer: nothing expected, nothing may break.
Every --report_seconds it prints the requests answered, 4xx, 5xx, lost (sent, no
answer), the good requests' p50/p99, the server's resident memory (RSS) and open file
descriptors. After the load it waits for the descriptors to come back to their count
before the load, then stops the server with SIGTERM. Goals: 0 lost, 0 5xx, RSS after
the first report grows by less than 5 % to the end, descriptors back to idle, exit 0,
no traceback in the server's log (--work_dir). The last line is the summary as JSON.
"""

import argparse
import asyncio
import gzip
import json
import os
import random
import signal
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import aiohttp

from bench.serve_load import Counts
from bench.serve_load import default_pairs
from bench.serve_load import draw
from bench.serve_load import send
from bench.serve_load import start_server

API_KEY = "soak"
CLIENT_SECONDS = 120  # a client's wait for its answer; past it, the request is lost
IDLE_WAIT_SECONDS = 30  # how long the descriptors may take to come back after the load


def _request(method, path, body=b"", *headers, key=True):
  lines = [b"%s %s HTTP/1.1" % (method, path), b"Host: 127.0.0.1", b"Connection: close"]
  if key:
    lines.append(b"Authorization: Bearer " + API_KEY.encode())
  lines += list(headers)
  if not any(h.lower().startswith(b"content-length") for h in headers):
    lines.append(b"Content-Length: %d" % len(body))
  return b"\r\n".join(lines) + b"\r\n\r\n" + body


# Each is answered 4xx by a server in good health (docs/serving.md, "Bad requests").
MALFORMED = [
    _request(b"POST", b"/predict", b'{"pairs": [['),
    _request(b"POST", b"/predict", b"[" * 100000 + b"]" * 100000),
    _request(b"POST", b"/predict", b'{"pairs": [["a", 3]]}'),
    _request(b"POST", b"/predict", b'{"pairs": []}'),
    _request(b"POST", b"/rerank", b'{"query": "q", "documents": ["a"], "top_n": 0}'),
    _request(b"POST", b"/predict", b'{"pairs": [["caf\xe9", "b"]]}'),
    _request(b"POST", b"/predict", b'{"pairs": [[' + b"9" * 5000 + b', "b"]]}'),
    _request(b"POST", b"/predict", b"not gzip", b"Content-Encoding: gzip"),
    _request(b"POST", b"/predict", gzip.compress(b" " * (4 << 20)), b"Content-Encoding: gzip"),
    _request(b"POST", b"/predict", b'{"pairs": [["a", "b"]]}', key=False),
    _request(b"POST", b"/predict", b'{"pairs": [["a", "b"]]}', b"X-API-Key: \xff\xfe",
             key=False),
    _request(b"POST", b"/predict", b"", b"Content-Length: abc"),
    _request(b"GET", b"/health?" + b"a" * 10000),
    _request(b"GET", b"/health", b"", b"X-Long: " + b"a" * 10000),
    _request(b"GET", b"/nowhere"),
    _request(b"DELETE", b"/predict"),
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(64)),
]


class Window:
  """What became of the requests of one report period (or of the whole run)."""

  def __init__(self):
    self.sent = self.answered = self.client_errors = self.server_errors = self.lost = 0
    self.gone = 0
    self.latencies = []

  def answer(self, status, good, seconds=None):
    self.answered += 1
    if status >= 500:
      self.server_errors += 1
    elif status >= 400:
      self.client_errors += 1
    if good and status == 200:
      self.latencies.append(seconds)

  def percentiles(self):
    if not self.latencies:
      return float("nan"), float("nan")
    values = np.array(self.latencies) * 1000
    return float(np.percentile(values, 50)), float(np.percentile(values, 99))


class Tally:
  """Each event counted twice: in the whole run and in the report period it happens in.

  A request sent in one period may be answered in the next; its answer is counted where
  it comes, so that nothing is counted into a period already reported.
  """

  def __init__(self):
    self.total, self.current = Window(), Window()

  def next_period(self):
    """The period just ended; a new one begins."""
    ended, self.current = self.current, Window()
    return ended

  def count(self, name):
    for window in (self.total, self.current):
      setattr(window, name, getattr(window, name) + 1)

  def answer(self, status, good, seconds=None):
    for window in (self.total, self.current):
      window.answer(status, good, seconds)


def process_state(pid):
  """(RSS in MiB, open file descriptors) of process `pid`, from /proc."""
  with open("/proc/%d/status" % pid) as f:
    rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024
  return rss, len(os.listdir("/proc/%d/fd" % pid))


async def read_status(reader):
  """The status of the answer on `reader`, or None if the connection closed first."""
  line = await reader.readline()
  return int(line.split()[1]) if line.startswith(b"HTTP/") else None


async def good(session, url, pairs, args, rng, tally):
  size = args.pairs_per_request
  if rng.random() < 0.5:
    path, body = "/predict", {"pairs": draw(pairs, size, rng)}
  else:
    chosen = draw(pairs, size, rng)
    path, body = "/rerank", {"query": chosen[0][0], "documents": [b for _, b in chosen],
                             "top_n": 3}
  tally.count("sent")
  started = time.perf_counter()
  try:
    async with session.post(url + path, json=body) as response:
      await response.read()
      tally.answer(response.status, True, time.perf_counter() - started)
  except (aiohttp.ClientError, asyncio.TimeoutError):
    tally.count("lost")


async def malformed(port, data, tally):
  tally.count("sent")
  try:
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port),
                                            CLIENT_SECONDS)
    try:
      writer.write(data)
      await writer.drain()
      status = await asyncio.wait_for(read_status(reader), CLIENT_SECONDS)
    finally:
      writer.close()
  except (OSError, asyncio.TimeoutError):
    status = None
  if status is None:
    tally.count("lost")
  else:
    tally.answer(status, False)


async def gone(port, pairs, rng, tally):
  """A client that goes away without its answer; 3 ways, in turn at random."""
  body = json.dumps({"pairs": draw(pairs, 4, rng)}).encode()
  data = _request(b"POST", b"/predict", body)
  cut = rng.choice((0, len(data) - len(body) // 2, len(data)))
  tally.count("gone")
  try:
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data[:cut])
    await writer.drain()
    writer.transport.abort()  # gone at once, without waiting for anything
  except OSError:
    pass


def report(label, window, pid, started):
  p50, p99 = window.percentiles()
  rss, fds = process_state(pid)
  print("%-8s %6.0f s  sent %5d  answered %5d  4xx %4d  5xx %d  lost %d  gone %4d  "
        "p50 %6.1f ms  p99 %7.1f ms  RSS %6.1f MiB  fds %3d" % (
            label, time.perf_counter() - started, window.sent, window.answered,
            window.client_errors, window.server_errors, window.lost, window.gone, p50, p99,
            rss, fds), flush=True)
  return rss, fds


async def soak(url, port, pairs, args, rate, pid):
  """Poisson arrivals at `rate` requests/s for --minutes; returns (total, [(rss, fds)])."""
  rng = random.Random(args.seed)
  tally, states = Tally(), []
  tasks = set()
  connector = aiohttp.TCPConnector(limit=0)
  headers = {"Authorization": "Bearer " + API_KEY}
  async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=CLIENT_SECONDS),
                                   connector=connector, headers=headers) as session:
    started = time.perf_counter()
    end = started + args.minutes * 60
    next_time, next_report, period = started, started + args.report_seconds, 1
    while True:
      now = time.perf_counter()
      if now >= next_report or now >= end:
        states.append(report("%d" % period, tally.next_period(), pid, started))
        period += 1
        next_report += args.report_seconds
        if now >= end:
          break
        continue
      if now < next_time:
        await asyncio.sleep(min(next_time, next_report, end) - now)
        continue
      draw_kind = rng.random()
      if draw_kind < args.malformed_share:
        coroutine = malformed(port, MALFORMED[rng.randrange(len(MALFORMED))], tally)
      elif draw_kind < args.malformed_share + args.disconnect_share:
        coroutine = gone(port, pairs, rng, tally)
      else:
        coroutine = good(session, url, pairs, args, rng, tally)
      task = asyncio.ensure_future(coroutine)
      tasks.add(task)
      task.add_done_callback(tasks.discard)
      next_time += rng.expovariate(rate)
    # The last arrivals' answers: counted in a period of their own.
    if tasks:
      await asyncio.gather(*tasks)
    tail = tally.next_period()
    if tail.answered or tail.lost:
      report("tail", tail, pid, started)
  return tally.total, states


async def saturate(url, pairs, args, counts):
  """--concurrency clients, each sending its next request when the last is answered."""
  rng = random.Random(args.seed + 1)
  deadline = time.perf_counter() + args.saturation_seconds

  async def client(session):
    while time.perf_counter() < deadline:
      await send(session, url + "/predict", draw(pairs, args.pairs_per_request, rng), counts)

  async with aiohttp.ClientSession(
      timeout=aiohttp.ClientTimeout(total=CLIENT_SECONDS), headers={
          "Authorization": "Bearer " + API_KEY},
      connector=aiohttp.TCPConnector(limit=args.concurrency)) as session:
    started = time.perf_counter()
    await asyncio.gather(*(client(session) for _ in range(args.concurrency)))
    return time.perf_counter() - started


def wait_for_idle(pid, idle_fds):
  """Seconds until the server's descriptors are back to `idle_fds`; None if they are not."""
  started = time.perf_counter()
  while time.perf_counter() - started < IDLE_WAIT_SECONDS:
    if process_state(pid)[1] <= idle_fds:
      return time.perf_counter() - started
    time.sleep(0.1)
  return None


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--model", required=True)
  parser.add_argument("--pairs", default="")
  parser.add_argument("--work_dir", default=os.path.join(REPO, "runs", "serve_soak"))
  parser.add_argument("--minutes", type=float, default=10.0)
  parser.add_argument("--rate", type=float, default=0.0,
                      help="requests/s; default: half the saturation rate, measured first")
  parser.add_argument("--report_seconds", type=float, default=60.0)
  parser.add_argument("--saturation_seconds", type=float, default=20.0)
  parser.add_argument("--concurrency", type=int, default=16)
  parser.add_argument("--pairs_per_request", type=int, default=16)
  parser.add_argument("--malformed_share", type=float, default=0.1)
  parser.add_argument("--disconnect_share", type=float, default=0.1)
  parser.add_argument("--max_batch_pairs", type=int, default=32)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--server_flags", default="", help="more serve.py flags")
  args = parser.parse_args()
  os.makedirs(args.work_dir, exist_ok=True)
  pairs_file = args.pairs or default_pairs(args.work_dir)
  with open(pairs_file, encoding="utf-8") as f:
    pairs = [tuple(line.rstrip("\n").split("\t")[:2]) for line in f if line.strip()]

  log_path = os.path.join(args.work_dir, "server.log")
  process, url = start_server(args, log_path, "--api_key=" + API_KEY)
  port = int(url.rsplit(":", 1)[1])
  idle_rss, idle_fds = process_state(process.pid)
  print("idle     RSS %.1f MiB, fds %d" % (idle_rss, idle_fds), flush=True)
  try:
    rate = args.rate
    if not rate:
      saturated = Counts()
      seconds = asyncio.run(saturate(url, pairs, args, saturated))
      rate = saturated.ok / seconds / 2
      print("saturate %d clients, %.0f s: %.1f requests/s of %d pairs (%s); the soak runs at "
            "half: %.2f requests/s" % (args.concurrency, seconds, saturated.ok / seconds,
                                       args.pairs_per_request, saturated.line(), rate),
            flush=True)
      wait_for_idle(process.pid, idle_fds)
    total, states = asyncio.run(soak(url, port, pairs, args, rate, process.pid))
    back = wait_for_idle(process.pid, idle_fds)
    end_rss, end_fds = process_state(process.pid)
  finally:
    process.send_signal(signal.SIGTERM)
    code = process.wait(timeout=120)
  with open(log_path, encoding="utf-8", errors="replace") as f:
    log = f.read()
  first_rss = states[0][0]
  growth = 100.0 * (end_rss - first_rss) / first_rss
  p50, p99 = total.percentiles()
  print("total    sent %d, answered %d, 4xx %d, 5xx %d, lost %d, gone %d; p50 %.1f ms, p99 "
        "%.1f ms" % (total.sent, total.answered, total.client_errors, total.server_errors,
                     total.lost, total.gone, p50, p99), flush=True)
  print("memory   RSS %.1f MiB idle, %.1f after the first report, %.1f at the end: %+.1f %% "
        "(goal < 5 %%)" % (idle_rss, first_rss, end_rss, growth), flush=True)
  print("fds      %d idle, %d at the end: %s" % (
      idle_fds, end_fds, "back to idle %.1f s after the load" % back if back is not None
      else "NOT back to idle within %d s" % IDLE_WAIT_SECONDS), flush=True)
  print("server   exit status %d, %d traceback(s), %d log line(s)" % (
      code, log.count("Traceback"), len(log.splitlines())), flush=True)
  print(json.dumps({
      "rate": rate, "sent": total.sent, "answered": total.answered,
      "client_errors": total.client_errors, "server_errors": total.server_errors,
      "lost": total.lost, "gone": total.gone, "p50_ms": p50, "p99_ms": p99,
      "idle_rss_mib": idle_rss, "first_rss_mib": first_rss, "end_rss_mib": end_rss,
      "rss_growth_percent": growth, "idle_fds": idle_fds, "end_fds": end_fds,
      "fds_back_to_idle": back is not None, "exit_status": code,
      "tracebacks": log.count("Traceback"), "log_lines": len(log.splitlines())}))


if __name__ == "__main__":
  main()
