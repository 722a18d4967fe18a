"""Reuse of record files: a key over everything that goes into one, stored beside it.

A record file is reused only when a key over everything that goes into it matches the
key stored beside it (`<file>.key`): the examples themselves (texts and encoded labels,
so any edit of the input file or change of processor shows), the vocabulary's bytes,
do_lower_case, max_seq_length and the label feature. The key is deleted before a file is
rewritten, so a run killed half-way never leaves a file that looks current. The key file
also keeps the summary of the pairs' token lengths the data report needs (data_report.py),
so a reused file is reported without tokenizing again.
"""

import hashlib
import json

from common import files

# Bump when the bytes written for the same inputs change.
RECORDS_FORMAT_VERSION = 1


def cache_key(examples, labels, vocab_file, do_lower_case, max_seq_length, label_feature):
  """A hex digest over every input of a record file (see above)."""
  digest = hashlib.sha256()
  vocab_digest = hashlib.sha256(files.read_bytes(vocab_file)).hexdigest()
  digest.update(json.dumps([RECORDS_FORMAT_VERSION, vocab_digest, bool(do_lower_case),
                            int(max_seq_length), label_feature]).encode("utf-8"))
  for example, label in zip(examples, labels):
    fields = [getattr(example, "guid", None), getattr(example, "text_a", None),
              getattr(example, "text_b", None), label]
    teacher_score = getattr(example, "teacher_score", None)
    if teacher_score is not None:  # only then: the keys of other records stay as they were
      fields.append(teacher_score)
    digest.update(json.dumps(fields, ensure_ascii=False).encode("utf-8"))
    digest.update(b"\n")
  digest.update(str(len(examples)).encode("ascii"))
  return digest.hexdigest()


def _key_file(record_file):
  return record_file + ".key"


def has_entry(record_file):
  """True when `record_file` and its key file both exist (current or not)."""
  return files.exists(record_file) and files.exists(_key_file(record_file))


def lookup(record_file, key):
  """What was stored with `record_file` if it was written, whole, from inputs with this
  key: {"key", "records", "bytes", "lengths" (a summary or None)}; else None."""
  if not has_entry(record_file):
    return None
  try:
    stored = json.loads(files.read_text(_key_file(record_file)))
  except ValueError:
    return None
  if not isinstance(stored, dict):
    return None
  if stored.get("key") != key or stored.get("bytes") != files.size(record_file):
    return None
  return stored


def is_cached(record_file, key):
  """True when `record_file` was written, whole, from inputs with this key."""
  return lookup(record_file, key) is not None


def forget(record_file):
  """Drops the stored key before `record_file` is rewritten.

  Without this, a run killed after replacing the records but before storing their new
  key would leave new records under the old key, which a later run could trust.
  """
  if files.exists(_key_file(record_file)):
    files.remove(_key_file(record_file))


def remember(record_file, key, count, lengths=None):
  """Stores the key of a record file just written, with its pairs' length summary."""
  files.write_text_atomically(_key_file(record_file), json.dumps(
      {"key": key, "records": count, "bytes": files.size(record_file),
       "lengths": lengths}) + "\n")
