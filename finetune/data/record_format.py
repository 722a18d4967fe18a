# Copyright 2018 The Google AI Language Team Authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
#
# Changed from Google's BERT (github.com/google-research/bert) by this project: what
# differs and why is in docs/differences.md.
"""The TFRecord features of Google's scripts, and the reference way to write one record.

Each record holds `input_ids`, `input_mask`, `segment_ids` (int64 [max_seq_length]),
`is_real_example` (int64) and the label: `label_ids` (int64) for classification or
`vals` (float32) for regression. fast_serialization.py writes the same bytes faster.

A ranking example with a teacher's score (distillation, run_rerank.py's --loss=mse and
margin_mse) adds `teacher_score` (float32). It is written only when the example has
one: the records of every other run keep their bytes (and their cache keys), and a
reader that asks for it gets 0.0 where it is missing (the padding rows of a group, which
the loss masks out), so that one parsing spec serves both.
"""

import collections

import tensorflow as tf

CLASSIFICATION_LABEL = "label_ids"
REGRESSION_LABEL = "vals"
TEACHER_SCORE = "teacher_score"


def feature_spec(max_seq_length, label_feature, teacher_scores=False):
  """The parsing spec for tf.io.parse_single_example (with teacher_scores: TEACHER_SCORE
  too, 0.0 where a record has none)."""
  label_dtype = tf.float32 if label_feature == REGRESSION_LABEL else tf.int64
  spec = {
      "input_ids": tf.io.FixedLenFeature([max_seq_length], tf.int64),
      "input_mask": tf.io.FixedLenFeature([max_seq_length], tf.int64),
      "segment_ids": tf.io.FixedLenFeature([max_seq_length], tf.int64),
      label_feature: tf.io.FixedLenFeature([], label_dtype),
      "is_real_example": tf.io.FixedLenFeature([], tf.int64),
  }
  if teacher_scores:
    spec[TEACHER_SCORE] = tf.io.FixedLenFeature([], tf.float32, default_value=0.0)
  return spec


def serialize_features(feature, label_feature):
  """InputFeatures -> tf.train.Example bytes, through the protobuf API.

  Map entries are written in key order (deterministic), as fast_serialization does.
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
  teacher_score = getattr(feature, "teacher_score", None)
  if teacher_score is not None:
    record[TEACHER_SCORE] = tf.train.Feature(float_list=tf.train.FloatList(
        value=[teacher_score]))
  example = tf.train.Example(features=tf.train.Features(feature=record))
  return example.SerializeToString(deterministic=True)
