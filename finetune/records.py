"""InputFeatures <-> TFRecord files, with the feature names of Google's scripts.

Each record holds `input_ids`, `input_mask`, `segment_ids` (int64 [max_seq_length]),
`is_real_example` (int64) and the label: `label_ids` (int64) for classification or
`vals` (float32) for regression.
"""

import collections
import hashlib
import json
import struct

import tensorflow as tf

from finetune.files import atomic_output
from finetune.files import write_text_atomically

CLASSIFICATION_LABEL = "label_ids"
REGRESSION_LABEL = "vals"


def feature_spec(max_seq_length, label_feature):
  """The parsing spec for tf.io.parse_single_example."""
  label_dtype = tf.float32 if label_feature == REGRESSION_LABEL else tf.int64
  return {
      "input_ids": tf.io.FixedLenFeature([max_seq_length], tf.int64),
      "input_mask": tf.io.FixedLenFeature([max_seq_length], tf.int64),
      "segment_ids": tf.io.FixedLenFeature([max_seq_length], tf.int64),
      label_feature: tf.io.FixedLenFeature([], label_dtype),
      "is_real_example": tf.io.FixedLenFeature([], tf.int64),
  }


def serialize_features_proto(feature, label_feature):
  """InputFeatures -> tf.train.Example bytes, through the protobuf API.

  The reference for serialize_features; map entries in key order (deterministic).
  """

  def ints(values):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))

  record = collections.OrderedDict()
  record["input_ids"] = ints(feature.input_ids)
  record["input_mask"] = ints(feature.input_mask)
  record["segment_ids"] = ints(feature.segment_ids)
  if label_feature == REGRESSION_LABEL:
    record[label_feature] = tf.train.Feature(float_list=tf.train.FloatList(value=[feature.label]))
  else:
    record[label_feature] = ints([feature.label])
  record["is_real_example"] = ints([int(feature.is_real_example)])
  example = tf.train.Example(features=tf.train.Features(feature=record))
  return example.SerializeToString(deterministic=True)


# The protobuf wire format of tf.train.Example, written directly: three times faster
# than building the message, and the same bytes as serialize_features_proto.
#   Example  { Features features = 1; }
#   Features { map<string, Feature> feature = 1; }   entries: key = 1, value = 2
#   Feature  { FloatList float_list = 2; Int64List int64_list = 3; }   (packed values = 1)


def _encode_varint(value):
  out = bytearray()
  while value > 0x7F:
    out.append((value & 0x7F) | 0x80)
    value >>= 7
  out.append(value)
  return bytes(out)


_SMALL_VARINTS = [_encode_varint(value) for value in range(1 << 17)]


def _varint(value):
  return _SMALL_VARINTS[value] if value < len(_SMALL_VARINTS) else _encode_varint(value)


def _int64s(values, length):
  """Packed varints of non-negative ints, of which those from `length` on are 0."""
  real = values[:length]
  if not real or max(real) < 128:
    head = bytes(real)  # one byte each
  elif max(real) < len(_SMALL_VARINTS):
    head = b"".join([_SMALL_VARINTS[v] for v in real])
  else:
    head = b"".join([_varint(v) for v in real])
  return head + bytes(len(values) - length)  # a 0 is the byte 0


def _length_delimited(tag, payload):
  return tag + _varint(len(payload)) + payload


def _int64_feature(values, length=None):
  packed = _int64s(values, len(values) if length is None else length)
  return _length_delimited(b"\x1a", _length_delimited(b"\x0a", packed))


def _map_entry(key, feature_bytes):
  return _length_delimited(b"\x0a", _length_delimited(b"\x0a", key) +
                           _length_delimited(b"\x12", feature_bytes))


# input_mask and segment_ids take few distinct values (a few thousand (length, first
# segment) pairs at most), so their encoded map entries are kept and reused.
_FLAG_ENTRIES = {}
_FLAG_ENTRIES_LIMIT = 1 << 16


def _flags_entry(key, values, length):
  """The map entry of a 0/1 feature whose values from `length` on are 0."""
  cache_key = (key, bytes(values[:length]), len(values))
  entry = _FLAG_ENTRIES.get(cache_key)
  if entry is None:
    if len(_FLAG_ENTRIES) >= _FLAG_ENTRIES_LIMIT:
      _FLAG_ENTRIES.clear()
    entry = _FLAG_ENTRIES[cache_key] = _map_entry(key, _int64_feature(values, length))
  return entry


_IS_REAL_ENTRIES = {flag: _map_entry(b"is_real_example", _int64_feature([flag]))
                    for flag in (0, 1)}


def serialize_features(feature, label_feature):
  """InputFeatures -> serialized tf.train.Example bytes (map entries in key order)."""
  if label_feature == REGRESSION_LABEL:
    label = _length_delimited(b"\x12", _length_delimited(b"\x0a",
                                                          struct.pack("<f", feature.label)))
  else:
    label = _int64_feature([feature.label])
  length = feature.length  # everything after it is zero padding
  entries = sorted([
      (b"input_ids", _map_entry(b"input_ids", _int64_feature(feature.input_ids, length))),
      (b"input_mask", _flags_entry(b"input_mask", feature.input_mask, length)),
      (b"segment_ids", _flags_entry(b"segment_ids", feature.segment_ids, length)),
      (label_feature.encode("ascii"), _map_entry(label_feature.encode("ascii"), label)),
      (b"is_real_example", _IS_REAL_ENTRIES[int(feature.is_real_example)]),
  ])
  return _length_delimited(b"\x0a", b"".join(entry for _, entry in entries))


def write_records(serialized_records, output_file):
  """Writes serialized records to `output_file` whole or not at all; returns the count."""
  count = 0
  with atomic_output(output_file) as temporary:
    with tf.io.TFRecordWriter(temporary) as writer:
      for record in serialized_records:
        writer.write(record)
        count += 1
  return count


# ------------------------------------------------------------------------------------
# Reuse of record files. A record file is reused only when a key over everything that
# goes into it matches the key stored beside it: the examples themselves (texts and
# encoded labels, so any edit of the input file or change of processor shows), the
# vocabulary's bytes, do_lower_case, max_seq_length and the label feature.
# ------------------------------------------------------------------------------------

# Bump when the bytes written for the same inputs change.
RECORDS_FORMAT_VERSION = 1


def cache_key(examples, labels, vocab_file, do_lower_case, max_seq_length, label_feature):
  """A hex digest over every input of a record file (see above)."""
  digest = hashlib.sha256()
  with tf.io.gfile.GFile(vocab_file, "rb") as f:
    vocab_digest = hashlib.sha256(f.read()).hexdigest()
  digest.update(json.dumps([RECORDS_FORMAT_VERSION, vocab_digest, bool(do_lower_case),
                            int(max_seq_length), label_feature]).encode("utf-8"))
  for example, label in zip(examples, labels):
    fields = [getattr(example, "guid", None), getattr(example, "text_a", None),
              getattr(example, "text_b", None), label]
    digest.update(json.dumps(fields, ensure_ascii=False).encode("utf-8"))
    digest.update(b"\n")
  digest.update(str(len(examples)).encode("ascii"))
  return digest.hexdigest()


def _key_file(record_file):
  return record_file + ".key"


def is_cached(record_file, key):
  """True when `record_file` was written, whole, from inputs with this key."""
  key_file = _key_file(record_file)
  if not (tf.io.gfile.exists(record_file) and tf.io.gfile.exists(key_file)):
    return False
  try:
    with tf.io.gfile.GFile(key_file, "r") as f:
      stored = json.load(f)
  except ValueError:
    return False
  return stored.get("key") == key and stored.get("bytes") == tf.io.gfile.stat(record_file).length


def forget(record_file):
  """Drops the stored key before `record_file` is rewritten.

  Without this, a run killed after replacing the records but before storing their new
  key would leave new records under the old key, which a later run could trust.
  """
  if tf.io.gfile.exists(_key_file(record_file)):
    tf.io.gfile.remove(_key_file(record_file))


def remember(record_file, key, count):
  """Stores the key of a record file just written."""
  write_text_atomically(_key_file(record_file), json.dumps(
      {"key": key, "records": count, "bytes": tf.io.gfile.stat(record_file).length}) + "\n")
