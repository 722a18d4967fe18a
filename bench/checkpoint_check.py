r"""What checking a checkpoint whole costs, against reading it all.

  .venv/bin/python bench/checkpoint_check.py [--checkpoint=PREFIX ...] [--bert_base=DIR]
                                             [--repeats=20]

For each checkpoint: its size, then the seconds of
  check     finetune.model.checkpoints.check_checkpoint: reading the index, the shards' sizes
            (what runs before every command);
  tf index  tf.train.load_checkpoint: TensorFlow's reader opening the index (for scale);
  read all  check_checkpoint(read_tensors=True): every tensor read back, checksums
            checked (what runs only after a restore has failed; about what a restore
            reads), from the page cache once the first read has filled it.
Each is the median of --repeats runs (read all: of 3). --bert_base=DIR writes there,
once, a random checkpoint of BERT-base's shapes with Adam's two slots per variable (1.3
GB, as a fine-tuning run saves it) and measures it too. Without --checkpoint:
models/minilm/bert_model.ckpt (the demo's converted MiniLM) when it is there.
"""

import argparse
import functools
import os
import statistics
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import tensorflow as tf

from finetune.model import checkpoint_index
from finetune.model import checkpoints
import modeling

tf1 = tf.compat.v1
BERT_BASE = {"vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": 12,
             "num_attention_heads": 12, "intermediate_size": 3072,
             "max_position_embeddings": 512, "type_vocab_size": 2}


def make_bert_base(directory):
  """A checkpoint of BERT-base's variables and their Adam slots (random values)."""
  prefix = os.path.join(directory, "model.ckpt-1000")
  if os.path.exists(prefix + ".index"):
    return prefix
  os.makedirs(directory, exist_ok=True)
  shapes = modeling.variable_shapes(modeling.BertConfig(**BERT_BASE))
  shapes.update({"output_weights": [1, 768], "output_bias": [1]})
  with tf.Graph().as_default():
    step = tf1.train.get_or_create_global_step()
    for name, shape in shapes.items():
      for suffix in ("", "/adam_m", "/adam_v"):
        tf1.get_variable(name + suffix, shape, initializer=tf1.random_normal_initializer())
    with tf1.Session() as session:
      session.run(tf1.global_variables_initializer())
      tf1.train.Saver(sharded=True).save(session, os.path.join(directory, "model.ckpt"),
                                          global_step=step.assign(1000),
                                          write_meta_graph=False)
  return prefix


def median_seconds(function, repeats):
  seconds = []
  for _ in range(repeats):
    started = time.perf_counter()
    function()
    seconds.append(time.perf_counter() - started)
  return statistics.median(seconds)


def data_bytes(prefix):
  with open(prefix + ".index", "rb") as f:
    index = checkpoint_index.parse_index(f.read())
  return sum(os.path.getsize(checkpoint_index.data_file(prefix, shard, index.num_shards))
             for shard in range(index.num_shards)), len(index.tensors)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--checkpoint", action="append", default=[])
  parser.add_argument("--bert_base", default=None)
  parser.add_argument("--repeats", type=int, default=20)
  args = parser.parse_args()
  prefixes = list(args.checkpoint)
  minilm = os.path.join(REPO, "models", "minilm", "bert_model.ckpt")
  if not prefixes and os.path.exists(minilm + ".index"):
    prefixes.append(minilm)
  if args.bert_base:
    prefixes.append(make_bert_base(args.bert_base))
  print("| checkpoint | tensors | data | check | tf index | read all |")
  print("| --- | ---: | ---: | ---: | ---: | ---: |")
  for prefix in prefixes:
    size, tensors = data_bytes(prefix)
    check = median_seconds(functools.partial(checkpoints.check_checkpoint, prefix),
                           args.repeats)
    tf_index = median_seconds(functools.partial(tf.train.load_checkpoint, prefix), args.repeats)
    checkpoints.check_checkpoint(prefix, read_tensors=True)  # fills the page cache
    read_all = median_seconds(
        functools.partial(checkpoints.check_checkpoint, prefix, read_tensors=True), 3)
    print("| %s | %d | %.0f MB | %.2f ms | %.2f ms | %.2f s |" % (
        prefix, tensors, size / 1e6, check * 1e3, tf_index * 1e3, read_all))


if __name__ == "__main__":
  main()
