"""The pairs an int8 export calibrates on, as prediction will see them.

`calibration_columns(fine_tuned, label_feature, calibration_data, limit)` returns token
ids of at most `limit` pairs and where they came from, first found of:
  --calibration_data=TSV  sentence_a<TAB>sentence_b[<TAB>anything], the pairs the model
                          will score in use (a line with one column is refused, located);
  the run's dev records   what the model is judged on, in the task's own distribution;
  the run's train records;
  examples/sim_sample/train.tsv (a SavedModel or a run without records).
Quantization ranges taken on these (and not on single sentences padded to a fixed
length, as general-purpose tools default to) span the lengths and the token mix the
model computes on. `calibration_batches(columns, batch_size)` gives them in the
length-sorted batches, each cut to its longest pair, of finetune/runtime/predictor.py:
the same shapes and the same padding share as at prediction time.
"""

import os

import numpy as np

from common import tsv
from common.errors import InputFileError
from finetune.data import features as features_lib
from finetune.export import fine_tuned as fine_tuned_lib
from finetune.model.model_files import SERVING_INPUTS
from finetune.runtime.predictor import length_sorted_batches
import tokenization_fast

CALIBRATION_PAIRS = 256
BATCH_SIZE = 32
FALLBACK = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "examples", "sim_sample", "train.tsv")


def calibration_columns(fine_tuned, label_feature, calibration_data=None,
                        limit=CALIBRATION_PAIRS):
  """({name: int32 [N, max_seq_length]}, a description of the source), N <= limit."""
  if calibration_data:
    return _tsv_columns(fine_tuned, calibration_data, limit), calibration_data
  for record_file, source in ((fine_tuned.dev_records, "the run's dev records"),
                              (fine_tuned.train_records, "the run's training records")):
    records = fine_tuned_lib.read_records(fine_tuned, record_file, label_feature,
                                          limit=limit)
    if records is not None and len(records["input_ids"]):
      return {name: records[name] for name in SERVING_INPUTS}, source
  return _tsv_columns(fine_tuned, FALLBACK, limit), "examples/sim_sample/train.tsv"


def _tsv_columns(fine_tuned, path, limit):
  rows = [row for row in tsv.read_tsv(path) if any(field.strip() for field in row)]
  if not rows:
    raise InputFileError(path, 1, "no sentence pairs to calibrate on")
  for row in rows[:limit]:
    if len(row) < 2:
      raise row.error("expected sentence_a<TAB>sentence_b to calibrate on, found 1 column "
                      "(no tab on the line)")
  tokenizer = tokenization_fast.FastFullTokenizer(fine_tuned.vocab_file,
                                                  fine_tuned.info["do_lower_case"])
  length = fine_tuned.info["max_seq_length"]
  laid_out = [features_lib.pair_token_ids(row[0], row[1], tokenizer, length)
              for row in rows[:limit]]
  return {name: np.array([pair[column] for pair in laid_out], np.int32)
          for column, name in enumerate(SERVING_INPUTS)}


def calibration_batches(columns, batch_size=BATCH_SIZE):
  """The pairs as prediction batches them: [{name: int32 [b, L]}], sorted by length."""
  return [batch for _, batch in length_sorted_batches(columns, batch_size)]
