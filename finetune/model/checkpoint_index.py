"""A checkpoint's .index file read as bytes: where each tensor lies in which data shard.

TensorFlow writes the index of a checkpoint (`<prefix>.index`) as a sorted string
table in LevelDB's documented table format: data blocks of prefix-compressed
(key, value) entries, an index block pointing at them, and a 48-byte footer ending in
a magic number. Each key is a tensor's name and each value a BundleEntryProto
(tensorflow/core/protobuf/tensor_bundle.proto: dtype, shape, shard_id, offset, size,
crc32c); the empty key holds the BundleHeaderProto (num_shards). The tensor's bytes are
`[offset, offset + size)` of the data file `<prefix>.data-<shard>-of-<num_shards>`.

`read_index(path)` returns those figures, so that a checkpoint's data files can be
checked against what they must hold without reading them (finetune/model/checkpoints.py).
The bundle writer stores its table uncompressed; a compressed block or anything else
this reader does not know raises IndexFormatError, and the caller falls back on
TensorFlow's own reader.
"""

import dataclasses
import struct

from tensorflow.core.protobuf import tensor_bundle_pb2

_MAGIC = 0xdb4775248b80fb57
_FOOTER_BYTES = 48
_TRAILER_BYTES = 5  # a block's compression type (1 byte) and checksum (4 bytes)


class IndexFormatError(ValueError):
  """The bytes are not an index this reader understands (truncated, compressed, other)."""


@dataclasses.dataclass(frozen=True)
class TensorExtent:
  """Where a tensor's bytes lie: data shard `shard`, bytes [offset, offset + size)."""
  shard: int
  offset: int
  size: int


@dataclasses.dataclass(frozen=True)
class Index:
  """What a checkpoint's index says: its shard count and each tensor's extent."""
  num_shards: int
  tensors: dict  # {tensor name: TensorExtent}

  def bytes_needed(self):
    """{shard: the smallest size its data file can have}: its largest offset + size."""
    needed = {shard: 0 for shard in range(self.num_shards)}
    for extent in self.tensors.values():
      needed[extent.shard] = max(needed.get(extent.shard, 0), extent.offset + extent.size)
    return needed


def _varint(data, position):
  """(value, next position) of the base-128 varint at data[position]."""
  value = shift = 0
  while True:
    if position >= len(data):
      raise IndexFormatError("a number runs past the end of its block")
    byte = data[position]
    position += 1
    value |= (byte & 0x7f) << shift
    if not byte & 0x80:
      return value, position
    shift += 7
    if shift > 63:
      raise IndexFormatError("a number longer than 64 bits")


def _block_handle(data, position=0):
  """(offset, size, next position) of a block handle: two varints."""
  offset, position = _varint(data, position)
  size, position = _varint(data, position)
  return offset, size, position


def _block_entries(table, offset, size):
  """Yields the (key, value) entries of the uncompressed block at table[offset:offset+size]."""
  if offset + size + _TRAILER_BYTES > len(table):
    raise IndexFormatError("a block runs past the end of the file")
  if table[offset + size] != 0:
    raise IndexFormatError("a compressed block (type %d)" % table[offset + size])
  block = table[offset:offset + size]
  if len(block) < 4:
    raise IndexFormatError("a block too short for its restart count")
  (restarts,) = struct.unpack("<I", block[-4:])
  end = len(block) - 4 * (restarts + 1)
  if end < 0:
    raise IndexFormatError("a block's restart points run past its start")
  key, position = b"", 0
  while position < end:
    shared, position = _varint(block, position)
    unshared, position = _varint(block, position)
    value_size, position = _varint(block, position)
    if shared > len(key) or position + unshared + value_size > end:
      raise IndexFormatError("an entry runs past the end of its block")
    key = key[:shared] + block[position:position + unshared]
    position += unshared
    yield key, block[position:position + value_size]
    position += value_size


def parse_index(table):
  """The Index in the bytes of a .index file; raises IndexFormatError."""
  if len(table) < _FOOTER_BYTES:
    raise IndexFormatError("%d bytes, fewer than a table's footer" % len(table))
  footer = table[-_FOOTER_BYTES:]
  if struct.unpack("<Q", footer[-8:])[0] != _MAGIC:
    raise IndexFormatError("no table footer at the end (cut short?)")
  _, _, position = _block_handle(footer)  # the meta-index block, unused
  index_offset, index_size, _ = _block_handle(footer, position)
  num_shards, tensors = None, {}
  for _, handle in _block_entries(table, index_offset, index_size):
    block_offset, block_size, _ = _block_handle(handle)
    for key, value in _block_entries(table, block_offset, block_size):
      try:
        if not key:
          header = tensor_bundle_pb2.BundleHeaderProto.FromString(value)
          num_shards = header.num_shards
          continue
        entry = tensor_bundle_pb2.BundleEntryProto.FromString(value)
      except Exception as e:
        raise IndexFormatError("an entry that does not parse: %s" % e) from None
      tensors[key.decode("utf-8", "replace")] = TensorExtent(entry.shard_id, entry.offset,
                                                             entry.size)
  if num_shards is None:
    raise IndexFormatError("no header entry")
  if any(extent.shard >= num_shards for extent in tensors.values()):
    raise IndexFormatError("a tensor in a shard beyond the header's %d" % num_shards)
  return Index(num_shards, tensors)


def data_file(prefix, shard, num_shards):
  """The name TensorFlow gives data shard `shard` of a checkpoint."""
  return "%s.data-%05d-of-%05d" % (prefix, shard, num_shards)
