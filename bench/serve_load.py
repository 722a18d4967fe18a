r"""serve.py under load, on loopback: throughput, latency, overload and SIGTERM.

  .venv/bin/python bench/serve_load.py --model=DIR [--pairs=FILE] [--pairs_per_request=16]
                                       [--concurrency=16] [--seconds=20] [--max_requests=3000]

DIR is any folder serve.py takes (the int8 ONNX export is the fastest). FILE holds
sentence_a<TAB>sentence_b lines (default: STS-B train then dev, the 6,000 pairs of
bench/throughput.py). Every run sends requests of --pairs_per_request pairs drawn from
FILE to 127.0.0.1 only, and stops by itself after --seconds or --max_requests. It prints:
  offline     Predictor.predict over FILE in a process of its own (predict.py's
              in-process rate on the same runtime, the whole file sorted by length),
              pairs/s;
  single      one request at a time: latency p50 and p99;
  saturation  --concurrency clients, each sending its next request as soon as the last
              is answered: pairs/s, p50/p99;
  half load   requests arriving at random (Poisson) at half the saturation rate:
              p50/p99 (against single: goal p99 <= 3x);
  fair        the fair offline rate: Predictor.predict over the pairs sent at
              saturation, in the order they were sent, in runs of --max_batch_pairs
              (one batch each, as a server without a queue would batch them); the
              saturation rate against it: goal >= 90 %;
  overload    arrivals at twice the saturation rate, queue of 8 requests' pairs: how many
              are answered 200 and how many 503 at once;
  sigterm     saturation, and SIGTERM to the server half-way: answered, refused (the
              port closed), lost (sent, never answered: goal 0), and the exit status.
For each run: requests sent, answered 200, answered 503, refused, lost. A request is
"refused" when its connection is refused (never accepted), "lost" when it was sent and
no answer came back. The server's own log goes to --work_dir.
"""

import argparse
import asyncio
import json
import os
import random
import re
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import aiohttp

from bench.shared_data import shared_data_dir

OFFLINE = """
import sys, time
sys.path.insert(0, %r)
from finetune.runtime.predictor import load_predictor
pairs = [tuple(line.rstrip("\\n").split("\\t")[:2]) for line in open(sys.argv[1], encoding="utf-8")]
with load_predictor(sys.argv[2]) as predictor:
  predictor.predict(pairs[:64])
  best = 0.0
  for _ in range(2):
    started = time.perf_counter()
    predictor.predict(pairs, batch_size=int(sys.argv[3]))
    best = max(best, len(pairs) / (time.perf_counter() - started))
print(best)
""" % REPO

# The fair offline rate: the pairs the saturated server was sent, in the order they were
# sent, each run of --max_batch_pairs of them one Predictor.predict call (one batch padded
# to its own longest pair): what a server without a queue, batching as requests come,
# would do on the same cores.
FAIR = """
import sys, time
sys.path.insert(0, %r)
from finetune.runtime.predictor import load_predictor
pairs = [tuple(line.rstrip("\\n").split("\\t")[:2]) for line in open(sys.argv[1], encoding="utf-8")]
size = int(sys.argv[3])
with load_predictor(sys.argv[2]) as predictor:
  predictor.predict(pairs[:64])
  best = 0.0
  for _ in range(2):
    started = time.perf_counter()
    for start in range(0, len(pairs), size):
      predictor.predict(pairs[start:start + size], batch_size=size)
    best = max(best, len(pairs) / (time.perf_counter() - started))
print(best)
""" % REPO


def default_pairs(work_dir):
  """STS-B train then dev, the first 6,000 pairs, as sentence<TAB>sentence lines."""
  source = os.path.join(shared_data_dir(), "stsbenchmark")
  lines = []
  for name in ("sts-train.csv", "sts-dev.csv"):
    with open(os.path.join(source, name), encoding="utf-8") as f:
      lines.extend("%s\t%s\n" % tuple(line.rstrip("\n").split("\t")[5:7]) for line in f)
  path = os.path.join(work_dir, "pairs.tsv")
  with open(path, "w", encoding="utf-8") as f:
    f.writelines(lines[:6000])
  return path


class Counts:
  """What became of the requests of one run."""

  def __init__(self):
    self.sent = self.ok = self.busy = self.refused = self.lost = self.other = 0
    self.pairs = 0
    self.latencies = []
    self.arrivals = []  # the pairs sent, in the order they were sent

  def line(self):
    return ("sent %d, answered 200 %d, answered 503 %d, refused %d, lost %d%s" % (
        self.sent, self.ok, self.busy, self.refused, self.lost,
        ", other %d" % self.other if self.other else ""))

  def percentiles(self):
    values = np.array(self.latencies) * 1000
    return (np.percentile(values, 50), np.percentile(values, 99)) if len(values) else (0, 0)


def rerank_body(pairs):
  """A rerank request made of drawn pairs: the first pair's text_a is the query, every
  pair's text_b a document; -> (the body, the pairs it scores)."""
  query = pairs[0][0]
  return ({"model": "bench", "query": query, "documents": [b for _, b in pairs]},
          [[query, b] for _, b in pairs])


async def send(session, url, pairs, counts):
  """One request (/predict, or /rerank if `url` ends so); records its outcome and (for
  200) its latency."""
  if url.endswith("/rerank"):
    body, pairs = rerank_body(pairs)
  else:
    body = {"pairs": pairs}
  counts.sent += 1
  counts.arrivals.extend(pairs)
  started = time.perf_counter()
  try:
    async with session.post(url, json=body) as response:
      await response.read()
      if response.status == 200:
        counts.ok += 1
        counts.pairs += len(pairs)
        counts.latencies.append(time.perf_counter() - started)
      elif response.status == 503:
        counts.busy += 1
      else:
        counts.other += 1
  except aiohttp.ClientConnectorError:
    counts.refused += 1
  except (aiohttp.ClientError, asyncio.TimeoutError):
    counts.lost += 1


def draw(pairs, size, rng):
  return [list(pairs[rng.randrange(len(pairs))]) for _ in range(size)]


async def closed_loop(url, pairs, args, seconds, counts, connector_args=None):
  """--concurrency clients, each sending its next request when the last is answered."""
  rng = random.Random(1)
  deadline = time.perf_counter() + seconds
  budget = [args.max_requests]
  timeout = aiohttp.ClientTimeout(total=60)

  async def client(session):
    while time.perf_counter() < deadline and budget[0] > 0:
      budget[0] -= 1
      await send(session, url, draw(pairs, args.pairs_per_request, rng), counts)

  async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(
      limit=args.concurrency, **(connector_args or {}))) as session:
    started = time.perf_counter()
    await asyncio.gather(*(client(session) for _ in range(args.concurrency)))
    return time.perf_counter() - started


async def open_loop(url, pairs, args, rate, seconds, counts):
  """Requests arriving at random at `rate` per second (Poisson), each on its own task."""
  rng = random.Random(2)
  timeout = aiohttp.ClientTimeout(total=60)
  tasks = []
  async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(
      limit=0)) as session:
    started = time.perf_counter()
    next_time = started
    while next_time - started < seconds and len(tasks) < args.max_requests:
      await asyncio.sleep(max(0.0, next_time - time.perf_counter()))
      tasks.append(asyncio.ensure_future(send(session, url, draw(
          pairs, args.pairs_per_request, rng), counts)))
      next_time += rng.expovariate(rate)
    await asyncio.gather(*tasks)


async def sequential(url, pairs, args, count, counts):
  rng = random.Random(3)
  async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
    for _ in range(count):
      await send(session, url, draw(pairs, args.pairs_per_request, rng), counts)


def start_server(args, log_path, *flags):
  log = open(log_path, "w")
  process = subprocess.Popen(
      [sys.executable, os.path.join(REPO, "serve.py"), "--model=" + args.model, "--port=0",
       "--max_batch_pairs=%d" % args.max_batch_pairs, *args.server_flags.split(), *flags],
      stderr=log, cwd=REPO)
  deadline = time.time() + 120
  while time.time() < deadline:
    with open(log_path) as f:
      text = f.read()
    match = re.search(r"on http://127\.0\.0\.1:(\d+) ", text)
    if match and "ready:" in text:
      return process, "http://127.0.0.1:%s" % match.group(1)
    if process.poll() is not None:
      sys.exit("error: serve.py ended; see %s" % log_path)
    time.sleep(0.1)
  process.kill()
  sys.exit("error: serve.py not ready within 120 s; see %s" % log_path)


def stop(process):
  process.terminate()
  return process.wait(timeout=120)


def free_port():
  with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    return probe.getsockname()[1]


def start_infinity(args, log_path):
  """Infinity (`infinity_emb v2`, torch engine) on --hf_model; -> (process, base URL)."""
  port = free_port()
  process = subprocess.Popen(
      [args.infinity, "v2", "--model-id", args.hf_model, "--engine", "torch", "--device",
       "cpu", "--host", "127.0.0.1", "--port", str(port), "--batch-size",
       str(args.max_batch_pairs)], stdout=open(log_path, "w"), stderr=subprocess.STDOUT)
  url = "http://127.0.0.1:%d" % port
  deadline = time.time() + 300
  while time.time() < deadline:
    try:
      with urllib.request.urlopen(url + "/health", timeout=2):
        return process, url
    except OSError:
      if process.poll() is not None:
        sys.exit("error: infinity_emb ended; see %s" % log_path)
      time.sleep(0.5)
  process.kill()
  sys.exit("error: infinity_emb not ready within 300 s; see %s" % log_path)


async def scores_of(url, requests):
  """The relevance scores a server gives `requests` (pair lists), by document index."""
  scores = []
  async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
    for pairs in requests:
      async with session.post(url, json=rerank_body(pairs)[0]) as response:
        results = (await response.json())["results"]
      by_index = dict((r["index"], r["relevance_score"]) for r in results)
      scores.extend(by_index[i] for i in range(len(pairs)))
  return scores


def compare_rerank(args, pairs):
  """Ours against Infinity, the same seeded /rerank requests, in alternating rounds."""
  contenders = {
      "ours": lambda log: start_server(args, log),
      "infinity": lambda log: start_infinity(args, log)}
  rng = random.Random(4)
  probe = [draw(pairs, args.pairs_per_request, rng) for _ in range(20)]
  figures, scores = {}, {}
  for round_number in range(args.rounds):
    order = ["ours", "infinity"] if round_number % 2 == 0 else ["infinity", "ours"]
    for name in order:
      log = os.path.join(args.work_dir, "%s-%d.log" % (name, round_number))
      process, url = contenders[name](log)
      try:
        scores[name] = asyncio.run(scores_of(url + "/rerank", probe))
        single = Counts()
        asyncio.run(sequential(url + "/rerank", pairs, args, args.single_requests, single))
        p50, p99 = single.percentiles()
        saturated = Counts()
        seconds = asyncio.run(closed_loop(url + "/rerank", pairs, args, args.seconds,
                                          saturated))
        rate = saturated.pairs / seconds
        s50, s99 = saturated.percentiles()
        half = Counts()
        asyncio.run(open_loop(url + "/rerank", pairs, args, rate / args.pairs_per_request / 2,
                              args.seconds, half))
        h50, h99 = half.percentiles()
      finally:
        stop(process)
      print("round %d %-8s single p50 %.1f ms, p99 %.1f ms; saturated %d clients: %.1f "
            "documents/s, p50 %.1f ms, p99 %.1f ms; half load: p50 %.1f ms, p99 %.1f ms; "
            "lost %d" % (round_number, name, p50, p99, args.concurrency, rate, s50, s99, h50,
                         h99, single.lost + saturated.lost + half.lost), flush=True)
      figures.setdefault(name, []).append(dict(
          single_p50=p50, single_p99=p99, saturated=rate, saturated_p50=s50,
          saturated_p99=s99, half_p50=h50, half_p99=h99,
          lost=single.lost + saturated.lost + half.lost))
  correlation = float(np.corrcoef(scores["ours"], scores["infinity"])[0, 1])
  ratios = [o["saturated"] / i["saturated"] for o, i in zip(figures["ours"],
                                                              figures["infinity"])]
  print("scores    correlation %.4f over %d documents; ours / infinity saturation: %s" % (
      correlation, len(scores["ours"]), ", ".join("%.2fx" % r for r in ratios)), flush=True)
  figures.update(correlation=correlation, ratios=ratios)
  print(json.dumps(figures))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--model", required=True)
  parser.add_argument("--pairs", default="")
  parser.add_argument("--work_dir", default=os.path.join(REPO, "runs", "serve_load"))
  parser.add_argument("--pairs_per_request", type=int, default=16)
  parser.add_argument("--concurrency", type=int, default=16)
  parser.add_argument("--seconds", type=float, default=20.0)
  parser.add_argument("--max_requests", type=int, default=3000)
  parser.add_argument("--single_requests", type=int, default=100)
  parser.add_argument("--max_batch_pairs", type=int, default=32)
  parser.add_argument("--server_flags", default="",
                      help="more serve.py flags, e.g. \"--sort_window_pairs=1024\"")
  parser.add_argument("--infinity", default="",
                      help="Infinity's infinity_emb command (a bench venv of its own): "
                           "ours against it on /rerank instead of the runs above")
  parser.add_argument("--hf_model", default="",
                      help="with --infinity: the Hugging Face export of --model it serves")
  parser.add_argument("--rounds", type=int, default=2,
                      help="with --infinity: rounds, the contenders' order alternating")
  args = parser.parse_args()
  os.makedirs(args.work_dir, exist_ok=True)
  pairs_file = args.pairs or default_pairs(args.work_dir)
  with open(pairs_file, encoding="utf-8") as f:
    pairs = [tuple(line.rstrip("\n").split("\t")[:2]) for line in f if line.strip()]
  if args.infinity:
    if not args.hf_model:
      sys.exit("error: --infinity needs --hf_model (export_model.py --format=hf)")
    compare_rerank(args, pairs)
    return
  figures = {}

  offline = float(subprocess.run(
      [sys.executable, "-c", OFFLINE, pairs_file, args.model, str(args.max_batch_pairs)],
      capture_output=True, text=True, check=True, cwd=REPO).stdout.strip().splitlines()[-1])
  print("offline   Predictor.predict, %d pairs, batches of %d: %.1f pairs/s" % (
      len(pairs), args.max_batch_pairs, offline), flush=True)

  process, url = start_server(args, os.path.join(args.work_dir, "server.log"))
  try:
    single = Counts()
    asyncio.run(sequential(url + "/predict", pairs, args, args.single_requests, single))
    p50, p99 = single.percentiles()
    print("single    %d requests of %d pairs one at a time: p50 %.1f ms, p99 %.1f ms; %s" % (
        args.single_requests, args.pairs_per_request, p50, p99, single.line()), flush=True)

    saturated = Counts()
    seconds = asyncio.run(closed_loop(url + "/predict", pairs, args, args.seconds, saturated))
    rate = saturated.pairs / seconds
    s50, s99 = saturated.percentiles()
    print("saturated %d clients: %.1f pairs/s = %.0f %% of offline; p50 %.1f ms, p99 %.1f ms; "
          "%s" % (args.concurrency, rate, 100 * rate / offline, s50, s99, saturated.line()),
          flush=True)

    half = Counts()
    request_rate = rate / args.pairs_per_request / 2
    asyncio.run(open_loop(url + "/predict", pairs, args, request_rate, args.seconds, half))
    h50, h99 = half.percentiles()
    print("half load %.1f requests/s at random: p50 %.1f ms, p99 %.1f ms = %.1fx the single "
          "request's p50 (goal <= 3x); %s" % (request_rate, h50, h99, h99 / p50, half.line()),
          flush=True)
  finally:
    code = stop(process)
  print("          server exit status %d" % code, flush=True)
  arrivals_file = os.path.join(args.work_dir, "arrivals.tsv")
  with open(arrivals_file, "w", encoding="utf-8") as f:
    f.writelines("%s\t%s\n" % tuple(pair) for pair in saturated.arrivals)
  fair = float(subprocess.run(
      [sys.executable, "-c", FAIR, arrivals_file, args.model, str(args.max_batch_pairs)],
      capture_output=True, text=True, check=True, cwd=REPO).stdout.strip().splitlines()[-1])
  print("fair      Predictor.predict over the %d pairs sent at saturation, in their order, "
        "%d at a time: %.1f pairs/s; saturation = %.0f %% of it (goal >= 90 %%)" % (
            len(saturated.arrivals), args.max_batch_pairs, fair, 100 * rate / fair),
        flush=True)
  figures.update(offline=offline, fair=fair, saturated=rate, saturated_share=rate / fair,
                 single_p50=p50, single_p99=p99, saturated_p50=s50, saturated_p99=s99,
                 half_p50=h50, half_p99=h99)

  process, url = start_server(args, os.path.join(args.work_dir, "server-overload.log"),
                              "--max_queue_pairs=%d" % (8 * args.pairs_per_request),
                              "--max_pairs_per_request=%d" % args.pairs_per_request)
  try:
    overload = Counts()
    asyncio.run(open_loop(url + "/predict", pairs, args, 2 * rate / args.pairs_per_request,
                          args.seconds / 2, overload))
    print("overload  %.1f requests/s, a queue of %d pairs: %s; answered pairs/s %.1f" % (
        2 * rate / args.pairs_per_request, 8 * args.pairs_per_request, overload.line(),
        overload.pairs / (args.seconds / 2)), flush=True)
  finally:
    code = stop(process)
  print("          server exit status %d" % code, flush=True)

  log_path = os.path.join(args.work_dir, "server-sigterm.log")
  process, url = start_server(args, log_path)
  terminated = Counts()

  async def sigterm_run():
    async def terminate_later():
      await asyncio.sleep(args.seconds / 4)
      process.terminate()
    killer = asyncio.ensure_future(terminate_later())
    # A connection per request: "refused" then means the port was closed.
    await closed_loop(url + "/predict", pairs, args, args.seconds / 2, terminated,
                      connector_args={"force_close": True})
    await killer

  asyncio.run(sigterm_run())
  code = process.wait(timeout=120)
  with open(log_path) as f:
    tracebacks = f.read().count("Traceback")
  print("sigterm   SIGTERM after %.0f s under saturation: %s; exit status %d, %d traceback(s) "
        "in its log" % (args.seconds / 4, terminated.line(), code, tracebacks), flush=True)
  figures.update(lost=single.lost + saturated.lost + half.lost + overload.lost + terminated.lost)
  print(json.dumps(figures))


if __name__ == "__main__":
  main()
