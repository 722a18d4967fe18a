"""The first stage of mining: BM25 over WordPiece token ids, an index kept on disk.

Why WordPiece ids: the tokenizer the model reads splits Chinese into characters and
English into word pieces, so BM25 works where whitespace says nothing, with no second
tokenizer to install or to disagree with the model's. `[UNK]` and the special tokens are
left out: one `[UNK]` matching another says nothing.

Why bm25s (bench/bm25_libraries.py measured it against tantivy and rank_bm25; see
docs/mining.md): its index is a sparse matrix of precomputed term scores saved as numpy
files, loaded memory-mapped, so memory stays bounded by what a query touches; and a query
yields every passage's score, so the positives' own scores, which the false-negative
guard compares with, come with the search at no extra cost.

Memory while building: the token ids go to a file as they are made (one int32 each) and
are handed to bm25s one passage at a time (TokenFile), never as Python lists of the
whole corpus. The index folder (built whole, then renamed) holds bm25s' files, the
passages' ids, the byte offsets of their lines in the corpus and manifest.json: the
corpus' size and modification time, the vocabulary's and the BM25 settings. A rerun
whose manifest matches reuses it; any difference builds it anew.
"""

import json
import os
import time

from absl import logging
import numpy as np

from common import files
from common.errors import UserError
from finetune.mining import inputs

_SPECIAL = ("[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]")
_MANIFEST = "manifest.json"
_FORMAT = 1


def _bm25s():
  try:
    import bm25s
  except ImportError:
    raise UserError("mining needs the bm25s package: pip install -e .[mining]"
                    ) from None
  return bm25s


class TokenIds:
  """A text's WordPiece ids for BM25: the tokenizer's, without [UNK] and special tokens."""

  def __init__(self, tokenizer):
    self.tokenizer = tokenizer
    self.vocab_size = max(tokenizer.vocab.values()) + 1
    self._special = np.array(sorted(tokenizer.vocab[token] for token in _SPECIAL
                                    if token in tokenizer.vocab), np.int32)

  def __call__(self, text):
    ids = np.asarray(self.tokenizer.convert_tokens_to_ids(self.tokenizer.tokenize(text)),
                     np.int32)
    return ids[~np.isin(ids, self._special)]


class TokenFile:
  """The corpus' token ids as bm25s reads them: one list per passage, from a flat file."""

  def __init__(self, flat, ends):
    self.flat = flat
    self.ends = ends

  def __len__(self):
    return len(self.ends)

  def __getitem__(self, index):
    start = self.ends[index - 1] if index else 0
    return self.flat[start:self.ends[index]].tolist()

  def __iter__(self):
    for index in range(len(self.ends)):
      yield self[index]


class _Tokenized:
  """What bm25s.BM25.index takes for pre-tokenized passages (its `ids` and `vocab`)."""

  def __init__(self, ids, vocab):
    self.ids = ids
    self.vocab = vocab


def fingerprint(path):
  """What says a file is unchanged: its size and modification time."""
  stat = os.stat(path)
  return {"path": os.path.abspath(path), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def manifest_for(corpus, vocab_file, do_lower_case, k1, b):
  return {"format": _FORMAT, "corpus": fingerprint(corpus), "vocab": fingerprint(vocab_file),
          "do_lower_case": do_lower_case, "k1": k1, "b": b}


def build_index(index_dir, corpus, token_ids, manifest, k1, b, log_every=100000):
  """Tokenizes the corpus and writes the BM25 index to index_dir, whole or not at all."""
  bm25s = _bm25s()
  if files.exists(index_dir):
    files.remove_tree(index_dir)
  started = time.perf_counter()
  with files.atomic_directory(index_dir) as folder:
    files.makedirs(folder)
    tokens_path = os.path.join(folder, "tokens.int32")
    ends, offsets, ids, seen = [], [], [], {}
    total = 0
    with open(tokens_path, "wb") as out:
      for number, offset, identifier, text in inputs.id_text_rows(corpus, "the corpus"):
        if identifier in seen:
          raise inputs.InputFileError(corpus, number, "passage id %r already on line %d" %
                                      (identifier, seen[identifier]))
        seen[identifier] = number
        passage = token_ids(text)
        out.write(passage.tobytes())
        total += len(passage)
        ends.append(total)
        offsets.append(offset)
        ids.append(identifier)
        if len(ids) % log_every == 0:
          logging.info("tokenized %d passages (%.0f/s)", len(ids),
                       len(ids) / (time.perf_counter() - started))
    del seen
    flat = np.memmap(tokens_path, np.int32, "r") if total else np.zeros(0, np.int32)
    vocab = {str(i): i for i in range(token_ids.vocab_size)}
    retriever = bm25s.BM25(k1=k1, b=b)
    retriever.index(_Tokenized(TokenFile(flat, np.asarray(ends, np.int64)), vocab),
                    show_progress=False)
    retriever.save(os.path.join(folder, "bm25"), show_progress=False)
    del retriever, flat
    os.remove(tokens_path)
    np.save(os.path.join(folder, "offsets.npy"), np.asarray(offsets, np.int64))
    with open(os.path.join(folder, "ids.txt"), "w", encoding="utf-8") as f:
      f.write("".join(identifier + "\n" for identifier in ids))
    manifest = dict(manifest, passages=len(ids), tokens=total)
    with open(os.path.join(folder, _MANIFEST), "w", encoding="utf-8") as f:
      json.dump(manifest, f, indent=1)
  logging.info("indexed %d passages (%d tokens) in %.0f s: %s", len(ids), total,
               time.perf_counter() - started, index_dir)


def read_manifest(index_dir):
  path = os.path.join(index_dir, _MANIFEST)
  if not files.exists(path):
    return None
  try:
    return json.loads(files.read_text(path))
  except ValueError:
    return None


def matches(index_dir, manifest):
  """True when index_dir holds a whole index made with this manifest's inputs."""
  found = read_manifest(index_dir)
  return found is not None and all(found.get(key) == value for key, value in manifest.items())


class Bm25Index:
  """A built index, memory-mapped: search, the passages' ids and their corpus offsets."""

  def __init__(self, index_dir):
    bm25s = _bm25s()
    self.retriever = bm25s.BM25.load(os.path.join(index_dir, "bm25"), mmap=True,
                                     show_progress=False)
    self.offsets = np.load(os.path.join(index_dir, "offsets.npy"), mmap_mode="r")
    with open(os.path.join(index_dir, "ids.txt"), encoding="utf-8") as f:
      self.ids = f.read().split("\n")[:-1]
    self.manifest = read_manifest(index_dir)

  def __len__(self):
    return len(self.ids)

  def scores(self, query_ids):
    """Every passage's BM25 score for a query's token ids (float32 [passages])."""
    if len(query_ids) == 0:
      return np.zeros(len(self.ids), np.float32)
    return self.retriever.get_scores_from_ids(np.asarray(query_ids, np.int32))

  @staticmethod
  def ranked(scores, k):
    """The indices of the k best-scoring passages with a score > 0, best first.

    Ties go to the passage earlier in the corpus, so that a ranking never depends on
    how the scores happened to be partitioned.
    """
    k = min(k, len(scores))
    if k <= 0:
      return np.zeros(0, np.int64)
    best = np.argpartition(-scores, k - 1)[:k]
    # Passages tied with the k-th best may lie outside `best`: take them all, then cut.
    threshold = scores[best].min()
    best = np.flatnonzero(scores >= threshold) if threshold > 0 else best
    best = best[scores[best] > 0]
    order = np.lexsort((best, -scores[best]))
    return best[order][:k]
