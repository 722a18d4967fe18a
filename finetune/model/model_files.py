"""What a fine-tuned model carries besides its weights: model_info.json and its neighbours.

Every run writes into output_dir what predicting needs besides the checkpoint:
`bert_config.json`, `vocab.txt` and `model_info.json` (the task, its labels, threshold
or label range, do_lower_case, max_seq_length). The exported formats
(finetune/export/) carry the same three files. No TensorFlow here: predict.py on an
ONNX folder reads these facts too.
"""

import json
import os

from common import files
from common.errors import DamagedFileError

MODEL_INFO = "model_info.json"
SERVING_INPUTS = ("input_ids", "input_mask", "segment_ids")


def model_info(task, do_lower_case, max_seq_length, use_best_checkpoint=False):
  """What predicting needs to know besides the weights (JSON-able dict).

  use_best_checkpoint: predict.py on the run's folder takes best/'s checkpoint, not the
    latest.
  """
  return dict(task.describe(), do_lower_case=bool(do_lower_case),
              max_seq_length=int(max_seq_length),
              use_best_checkpoint=bool(use_best_checkpoint))


def save_model_files(output_dir, info, bert_config_file, vocab_file, bert_config=None):
  """Writes model_info.json and copies bert_config.json and vocab.txt into output_dir.

  bert_config: a modeling.BertConfig written instead of copying bert_config_file (the
  config changed by --num_hidden_layers).
  """
  files.write_text_atomically(os.path.join(output_dir, MODEL_INFO),
                              json.dumps(info, indent=2, sort_keys=True) + "\n")
  copies = [(vocab_file, "vocab.txt")]
  if bert_config is None:
    copies.append((bert_config_file, "bert_config.json"))
  else:
    files.write_text_atomically(os.path.join(output_dir, "bert_config.json"),
                                bert_config.to_json_string())
  for source, name in copies:
    target = os.path.join(output_dir, name)
    if not files.same_file(source, target):
      files.copy_atomically(source, target)


def read_json(path):
  """The JSON in `path`, or None when there is no such file; DamagedFileError when it
  does not parse."""
  if not files.exists(path):
    return None
  try:
    return json.loads(files.read_text(path))
  except (ValueError, UnicodeDecodeError) as e:
    raise DamagedFileError(path, "not valid JSON (%s); expected the file as it was "
                           "written, whole" % e) from None


def to_unit_range(scores, label_min, label_max):
  """Scores in the user's units, [label_min, label_max], as the head's 0..1 (what a
  regression trains on and is evaluated in); unchanged without a range (label_min None).

  Works on numbers, numpy arrays and tensors alike; the inverse is
  RegressionTask.to_label_units (finetune/tasks.py).
  """
  if label_min is None:
    return scores
  return (scores - label_min) / (label_max - label_min)
