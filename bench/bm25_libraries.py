"""Which BM25 library mine_negatives.py's first stage uses: bm25s, tantivy, rank_bm25 measured.

Each library indexes the same passages, tokenized by our WordPiece tokenizer (its token
ids, as mine_negatives.py gives them), and answers the same queries (top 100), each in
a process of its own so that its peak memory (ru_maxrss) is its own. The contenders run
one after another, in the order given, within one run of this script: on a shared
machine compare them within a run. rank_bm25 scores every passage in Python per query,
so it answers only --slow_queries queries.

  python bench/mining_data.py --out_dir=runs/m100k --passages=100000 --queries=2000
  python bench/bm25_libraries.py --inputs=runs/m100k --vocab_file=models/minilm/vocab.txt

Needs `pip install bm25s tantivy rank-bm25` (bench only; bm25s alone is in
pyproject.toml's [mining] extra).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CONTENDERS = ("bm25s", "tantivy", "rank_bm25")


def peak_rss_mb():
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _read_texts(path, limit=None):
  texts = []
  with open(path, encoding="utf-8") as f:
    for line in f:
      texts.append(line.rstrip("\n").split("\t", 1)[1])
      if limit and len(texts) >= limit:
        break
  return texts


def _token_words(tokenizer, texts):
  """Each text as its WordPiece ids, written as words ("t123") that no library splits."""
  return [["t%d" % i for i in tokenizer.convert_tokens_to_ids(tokenizer.tokenize(text))]
          for text in texts]


def run_bm25s(corpus, queries, index_dir, k):
  import bm25s
  started = time.perf_counter()
  retriever = bm25s.BM25()
  retriever.index(corpus, show_progress=False)
  retriever.save(index_dir, show_progress=False)
  index_seconds = time.perf_counter() - started
  rss_index = peak_rss_mb()
  del retriever
  retriever = bm25s.BM25.load(index_dir, mmap=True, show_progress=False)
  started = time.perf_counter()
  retriever.retrieve(queries, k=k, show_progress=False, n_threads=1)
  return index_seconds, time.perf_counter() - started, rss_index


def run_tantivy(corpus, queries, index_dir, k):
  import tantivy
  started = time.perf_counter()
  builder = tantivy.SchemaBuilder()
  builder.add_text_field("text", tokenizer_name="whitespace", index_option="freq")
  builder.add_integer_field("doc", fast=True)
  schema = builder.build()
  index = tantivy.Index(schema, path=index_dir)
  writer = index.writer(heap_size=200_000_000, num_threads=1)
  for number, words in enumerate(corpus):
    writer.add_document(tantivy.Document(text=" ".join(words), doc=number))
  writer.commit()
  writer.wait_merging_threads()
  index.reload()
  index_seconds = time.perf_counter() - started
  rss_index = peak_rss_mb()
  searcher = index.searcher()
  started = time.perf_counter()
  for words in queries:
    query = tantivy.Query.boolean_query(
        [(tantivy.Occur.Should, tantivy.Query.term_query(schema, "text", word))
         for word in set(words)])
    searcher.search(query, limit=k)
  return index_seconds, time.perf_counter() - started, rss_index


def run_rank_bm25(corpus, queries, index_dir, k):
  del index_dir  # it keeps everything in memory
  import rank_bm25
  started = time.perf_counter()
  model = rank_bm25.BM25Okapi(corpus)
  index_seconds = time.perf_counter() - started
  rss_index = peak_rss_mb()
  started = time.perf_counter()
  for words in queries:
    scores = model.get_scores(words)
    scores.argsort()[-k:]
  return index_seconds, time.perf_counter() - started, rss_index


def contender(args):
  """Runs one library in this process; prints its figures as one JSON line."""
  import tokenization_fast
  tokenizer = tokenization_fast.FastFullTokenizer(args.vocab_file, True)
  num_queries = args.slow_queries if args.contender == "rank_bm25" else args.num_queries
  corpus = _token_words(tokenizer, _read_texts(os.path.join(args.inputs, "corpus.tsv"),
                                               args.passages))
  queries = _token_words(tokenizer, _read_texts(os.path.join(args.inputs, "queries.tsv"),
                                                num_queries))
  rss_before = peak_rss_mb()
  run = {"bm25s": run_bm25s, "tantivy": run_tantivy, "rank_bm25": run_rank_bm25}
  with tempfile.TemporaryDirectory() as index_dir:
    index_seconds, query_seconds, rss_index = run[args.contender](
        corpus, queries, index_dir, args.k)
    disk = sum(os.path.getsize(os.path.join(folder, name))
               for folder, _, names in os.walk(index_dir) for name in names)
  print(json.dumps({
      "library": args.contender, "passages": len(corpus), "queries": len(queries),
      "index_s": round(index_seconds, 2), "queries_per_s": round(len(queries) / query_seconds, 1),
      "rss_tokens_mb": round(rss_before), "rss_after_index_mb": round(rss_index),
      "rss_peak_mb": round(peak_rss_mb()), "index_on_disk_mb": round(disk / 2**20, 1)}))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--inputs", required=True, help="a folder of bench/mining_data.py")
  parser.add_argument("--vocab_file", default="models/minilm/vocab.txt")
  parser.add_argument("--passages", type=int, default=None, help="the first N (all)")
  parser.add_argument("--num_queries", type=int, default=1000)
  parser.add_argument("--slow_queries", type=int, default=50)
  parser.add_argument("--k", type=int, default=100)
  parser.add_argument("--contenders", default=",".join(CONTENDERS))
  parser.add_argument("--contender", help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.contender:
    contender(args)
    return
  for name in args.contenders.split(","):
    command = [sys.executable, os.path.abspath(__file__), "--contender=" + name] + [
        arg for arg in sys.argv[1:] if not arg.startswith("--contenders")]
    subprocess.run(command, check=True)


if __name__ == "__main__":
  main()
