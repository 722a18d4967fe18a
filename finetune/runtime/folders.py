"""What a model folder holds, told from its file names (no TensorFlow).

`find_model(path)` is the one place that decides what predict.py, serve.py and
export_model.py were given as --model:
  - an ONNX folder (export_model.py --format=onnx: model_info.json says so);
  - one SavedModel version folder (holding saved_model.pb);
  - an export base folder (`--export_dir`): its newest version;
  - a run's output_dir: model_info.json, or checkpoints, beside each other.
Whether the files found are whole is checked by whoever loads them
(finetune/runtime/tensorflow_model.py for a SavedModel or a checkpoint).
"""

import dataclasses
import os
from typing import Optional

from common import files
from common.errors import UserError
from finetune.model import model_files
from finetune.runtime import onnx_runtime

ONNX = "onnx"
SAVED_MODEL = "saved_model"
RUN = "run"
# Names a run's output_dir holds once it has trained: the checkpoint state file, a
# checkpoint's index, the best checkpoint's folder.
_RUN_FILES = ("checkpoint", "best")


@dataclasses.dataclass(frozen=True)
class ModelFolder:
  """What --model holds.

  kind: ONNX, SAVED_MODEL or RUN.
  path: the ONNX folder, the SavedModel version folder, or the run's output_dir.
  export_base: for a SavedModel chosen as the newest of an --export_dir, that folder.
  """
  kind: str
  path: str
  export_base: Optional[str] = None


def versions(export_base):
  """The <export_base>/<version>/ folders holding a saved_model.pb, newest first."""
  if not files.isdir(export_base):
    return []
  names = [name for name in files.listdir(export_base) if name.isdigit() and
           files.exists(os.path.join(export_base, name, "saved_model.pb"))]
  return [os.path.join(export_base, name) for name in sorted(names, key=int, reverse=True)]


def newest_version(export_base):
  """The newest <export_base>/<version>/ holding a SavedModel, or None."""
  found = versions(export_base)
  return found[0] if found else None


def find_model(path, checkpoint=None):
  """The ModelFolder `path` is; UserError if it is none of them (module docstring).

  checkpoint: the --checkpoint asked for, which only a run's folder can choose.
  """
  if not files.isdir(path):
    raise UserError("--model=%s: no such folder" % path)
  if onnx_runtime.is_onnx_folder(path):
    found = ModelFolder(ONNX, path)
  elif files.exists(os.path.join(path, "saved_model.pb")):
    found = ModelFolder(SAVED_MODEL, path)
  elif newest_version(path):
    found = ModelFolder(SAVED_MODEL, newest_version(path), export_base=path)
  elif checkpoint or _holds_a_run(path):
    return ModelFolder(RUN, path)
  else:
    raise UserError("--model=%s: expected a SavedModel (--export_dir), or a run's output_dir "
                    "with a checkpoint and %s" % (path, model_files.MODEL_INFO))
  if checkpoint:
    raise UserError("--checkpoint=%s: %s is %s, which holds its weights; give a run's "
                    "--output_dir as --model to choose a checkpoint" % (
                        checkpoint, found.path,
                        "an ONNX model" if found.kind == ONNX else "a SavedModel"))
  return found


def _holds_a_run(path):
  return any(name == model_files.MODEL_INFO or name in _RUN_FILES or name.endswith(".index")
             for name in files.listdir(path))


def read_info(path):
  """model_info.json at `path` as a dict; UserError naming it when it is not there."""
  info = model_files.read_json(path)
  if info is None:
    raise UserError("%s: not found; the model was exported or trained without it" % path)
  return info
