"""Checkpoints whole or damaged, the one a command uses, and resuming past a damaged one.

A checkpoint `<prefix>` is whole when its index `<prefix>.index` parses and every data
shard it names, `<prefix>.data-NNNNN-of-NNNNN`, exists with at least the bytes the index
places in it (checkpoint_index.py): what a full disk or an interrupted copy breaks.
`check_checkpoint` checks that by reading the index and the shards' sizes, about a
millisecond whatever the model's size, and raises DamagedFileError naming the file and
what was found. Bytes changed inside a file only show when they are read: `restoring`
guards a restore, and when one fails reads every tensor to find the damaged one.

Commands that use a trained model (evaluating or predicting without training,
predict.py, an export, a server) take `checkpoint_to_use(folder)`: the latest, checked
whole, never another one silently; a damaged one raises an error naming the file, the
newest intact checkpoint and the flag that uses it (`way_out`). Training takes
`prepare_to_resume(output_dir)`: damaged checkpoints are moved into
`<output_dir>/damaged/`, the state file (`checkpoint`) is rewritten to name the intact
ones, and one line says what was damaged and where training resumes. `saving` guards
training against a save that fails for want of room: what TensorFlow left of that save
is removed and one line names the checkpoint.
"""

import contextlib
import os
import re

from absl import logging
import tensorflow as tf

from common import files
from common.errors import DamagedFileError
from finetune.model import checkpoint_index

STATE_FILE = "checkpoint"
DAMAGED_DIR = "damaged"
# What TensorFlow's sharded save writes into before it renames the files into place.
_UNFINISHED_SAVE = re.compile(r"^(.+)_temp(_[0-9a-f]+)?$")
_STEP_SUFFIX = re.compile(r"-(\d+)$")


def checkpoint_step(prefix):
  """The global step of a checkpoint: from its name (model.ckpt-40), else its tensor;
  None for a checkpoint without one (a pre-trained model's)."""
  match = _STEP_SUFFIX.search(os.path.basename(prefix))
  if match:
    return int(match.group(1))
  reader = tf.train.load_checkpoint(prefix)
  if not reader.has_tensor("global_step"):
    return None
  return int(reader.get_tensor("global_step"))


def _name_with_step(prefix, name=None):
  """`name` (default: the prefix) with its step: "model.ckpt-30 (step 30)"."""
  step = checkpoint_step(prefix)
  return "%s (step %d)" % (name or prefix, step) if step is not None else (name or prefix)


_CONTEXT_LINE = re.compile(r"^(\s|Graph execution error|Detected at node|Node:|File |\[\[|"
                           r"Hint:|Original error|Errors may have originated)")


def reason_of(error):
  """The line of a (TensorFlow) error's message that says what went wrong."""
  lines = [line for line in str(getattr(error, "message", error)).splitlines() if line.strip()]
  telling = [line for line in lines if not _CONTEXT_LINE.match(line)]
  return (telling or lines or [type(error).__name__])[0].strip()


def check_checkpoint(prefix, read_tensors=False):
  """Raises DamagedFileError unless the checkpoint at `prefix` is whole.

  Args:
    prefix: the checkpoint's path without its suffixes (.../model.ckpt-40).
    read_tensors: also read every tensor back (TensorFlow checks each one's checksum):
      as many bytes as a restore reads, for when a restore has failed.
  """
  index_path = prefix + ".index"
  if not files.exists(index_path):
    raise DamagedFileError(index_path, "missing; expected the index of checkpoint %s" %
                           os.path.basename(prefix))
  table = files.read_bytes(index_path)
  try:
    index = checkpoint_index.parse_index(table)
  except checkpoint_index.IndexFormatError:
    index = None
    try:  # TensorFlow's own reader decides whether the index is damaged
      tf.train.load_checkpoint(prefix)
    except Exception as e:
      raise DamagedFileError(index_path, "not a whole checkpoint index (%d bytes; "
                             "TensorFlow: %s)" % (len(table), reason_of(e))) from None
  if index is not None:
    for shard, needed in sorted(index.bytes_needed().items()):
      path = checkpoint_index.data_file(prefix, shard, index.num_shards)
      if not files.exists(path):
        raise DamagedFileError(path, "missing; expected data shard %d of %d of checkpoint "
                               "%s (%d bytes)" % (shard + 1, index.num_shards,
                                                  os.path.basename(prefix), needed))
      held = files.size(path)
      if held < needed:
        raise DamagedFileError(path, "cut short (%d of %d bytes)" % (held, needed))
  if read_tensors:
    _read_every_tensor(prefix, index)


def _read_every_tensor(prefix, index):
  reader = tf.train.load_checkpoint(prefix)
  for name in sorted(reader.get_variable_to_shape_map()):
    try:
      reader.get_tensor(name)
    except Exception as e:
      extent = index.tensors.get(name) if index else None
      path = checkpoint_index.data_file(prefix, extent.shard if extent else 0,
                                        index.num_shards if index else 1)
      if "Checksum does not match" in str(e):
        problem = "corrupt (the bytes of tensor %s do not match their checksum)" % name
      else:
        problem = "corrupt (tensor %s does not read back: %s)" % (name, reason_of(e))
      raise DamagedFileError(path, problem) from None


def damage_of(prefix):
  """The DamagedFileError check_checkpoint raises for `prefix`, or None when whole."""
  try:
    check_checkpoint(prefix)
  except DamagedFileError as e:
    return e
  return None


def named_checkpoints(directory):
  """The checkpoints `directory`'s state file names, oldest first, the latest last.

  A path written on another machine is taken from `directory` when its checkpoint is
  there (a run folder copied elsewhere). Returns [] without a state file; raises
  DamagedFileError when it cannot be read.
  """
  path = os.path.join(directory, STATE_FILE)
  if not files.exists(path):
    return []
  logger = tf.get_logger()
  level = logger.level
  logger.setLevel("ERROR")  # its two lines on a state it cannot read: ours is below
  try:
    state = tf.train.get_checkpoint_state(directory)
  except ValueError:  # a state that parses but names no checkpoint
    state = None
  finally:
    logger.setLevel(level)
  if state is None or not state.model_checkpoint_path:
    raise DamagedFileError(path, "not a checkpoint state file TensorFlow can read (%d "
                           "bytes); expected lines such as model_checkpoint_path: "
                           "\"model.ckpt-40\"" % files.size(path))
  named = [name for name in state.all_model_checkpoint_paths
           if name != state.model_checkpoint_path] + [state.model_checkpoint_path]
  local = []
  for prefix in named:
    here = os.path.join(directory, os.path.basename(prefix))
    local.append(here if not files.exists(prefix + ".index") and
                 files.exists(here + ".index") else prefix)
  return local


def checkpoints_on_disk(directory):
  """The prefixes of the checkpoints of training steps (`<name>-<step>.index`) in
  `directory`, by step (oldest first)."""
  if not files.isdir(directory):
    return []
  prefixes = [os.path.join(directory, name[:-len(".index")])
              for name in files.listdir(directory)
              if name.endswith(".index") and _STEP_SUFFIX.search(name[:-len(".index")])]
  return sorted(prefixes, key=lambda prefix: (checkpoint_step(prefix), prefix))


def _candidates(directory):
  """(checkpoints to consider, oldest first; the state file's damage or None)."""
  try:
    named = named_checkpoints(directory)
  except DamagedFileError as e:
    return checkpoints_on_disk(directory), e
  return (named or checkpoints_on_disk(directory)), None


def newest_intact_checkpoint(directory, skip=()):
  """The newest whole checkpoint of `directory` (but those in `skip`), or None.

  The state file's checkpoints, newest first; where it is missing or unreadable, every
  checkpoint found in the folder.
  """
  candidates, _ = _candidates(directory)
  for prefix in reversed(candidates):
    if prefix not in skip and damage_of(prefix) is None:
      return prefix
  return None


def way_out(directory, skip=(), flag="--checkpoint", none_left="train again",
            newest="the newest intact checkpoint"):
  """The advice after a damaged checkpoint: the newest intact one of `directory` (called
  `newest`) and how to use it (`flag`), or `none_left` when there is none."""
  prefix = newest_intact_checkpoint(directory, skip)
  if prefix is None:
    return "no %sintact checkpoint is in %s: %s" % ("other " if skip else "", directory,
                                                   none_left)
  return "%s is %s: to use it, add %s=%s" % (newest, _name_with_step(prefix), flag, prefix)


def checkpoint_to_use(path, flag="--checkpoint", none_left="train again"):
  """The checkpoint a command that uses a trained model takes, checked whole.

  Args:
    path: a checkpoint prefix, or a folder (its latest checkpoint).
    flag, none_left: what the advice of an error names (way_out).
  Returns:
    the prefix, or None when the folder holds no checkpoint at all.
  Raises:
    DamagedFileError: the checkpoint (or the folder's state file) is damaged; the
      message names the file and the newest intact checkpoint. Never another
      checkpoint silently.
  """
  if files.isdir(path):
    try:
      named = named_checkpoints(path)
    except DamagedFileError as damage:
      raise damage.with_advice(way_out(path, flag=flag, none_left=none_left)) from None
    if not named:
      if checkpoints_on_disk(path):
        raise DamagedFileError(
            os.path.join(path, STATE_FILE), "missing; expected the state file that names "
            "the latest checkpoint", way_out(path, flag=flag, none_left=none_left))
      return None
    prefix, directory = named[-1], path
  else:
    prefix, directory = path, os.path.dirname(path)
  damage = damage_of(prefix)
  if damage is not None:
    raise damage.with_advice(way_out(directory, {prefix}, flag, none_left))
  return prefix


@contextlib.contextmanager
def restoring(prefix, directory=None, flag="--checkpoint", none_left="train again"):
  """Within the block, a failed restore of `prefix` raises a located DamagedFileError
  when the checkpoint turns out damaged (every tensor read back); else the error as is.

  Args:
    prefix: the checkpoint the block restores (None: the block is not guarded).
    directory: the folder whose newest intact checkpoint the advice names (default:
      the checkpoint's own).
  """
  try:
    yield
  except (tf.errors.OpError, IndexError) as e:
    if prefix is None or files.write_failure(e, prefix) is not None:
      raise
    try:
      check_checkpoint(prefix, read_tensors=True)
    except DamagedFileError as damage:
      raise damage.with_advice(way_out(directory or os.path.dirname(prefix), {prefix},
                                       flag, none_left)) from None
    raise


# ------------------------------------------------------------------------------------
# Training: past damaged checkpoints, and saves that fail.
# ------------------------------------------------------------------------------------


def set_aside(paths, output_dir, name=None):
  """Moves files into output_dir/damaged/ (or a new folder in it); returns the folder.

  name: a new folder damaged/<name> to move them into (damaged/<name>-2, ... when
    taken). Without it they go into damaged/ itself, or into damaged/2/, 3/, ... when
    a file of the same name is there already.
  """
  parent = os.path.join(output_dir, DAMAGED_DIR)
  if name is not None:
    destination, number = os.path.join(parent, name), 1
    while files.exists(destination):
      number += 1
      destination = os.path.join(parent, "%s-%d" % (name, number))
  else:
    destination, number = parent, 1
    while any(files.exists(os.path.join(destination, os.path.basename(path)))
              for path in paths):
      number += 1
      destination = os.path.join(parent, str(number))
  files.makedirs(destination)
  for path in paths:
    files.move(path, os.path.join(destination, os.path.basename(path)))
  return destination


def checkpoint_files(prefix):
  """The files of a checkpoint: its index, data shards and graph (.meta)."""
  return sorted(tf.io.gfile.glob(prefix + ".*"))


def state_text(names):
  """A state file's text naming checkpoints `names` (oldest first; the last the latest)."""
  return 'model_checkpoint_path: "%s"\n' % names[-1] + "".join(
      'all_model_checkpoint_paths: "%s"\n' % name for name in names)


def write_state(directory, prefixes):
  """Rewrites directory's state file to name `prefixes` (oldest first; the last is the
  latest), or removes it when there are none."""
  path = os.path.join(directory, STATE_FILE)
  if not prefixes:
    if files.exists(path):
      files.remove(path)
    return
  files.write_text_atomically(path, state_text([
      os.path.basename(prefix) if os.path.dirname(prefix) == directory else prefix
      for prefix in prefixes]))


def remove_unfinished_saves(output_dir):
  """Deletes the `<prefix>_temp` folders of saves that did not finish; returns their names."""
  removed = []
  if not files.isdir(output_dir):
    return removed
  for name in sorted(files.listdir(output_dir)):
    path = os.path.join(output_dir, name)
    if _UNFINISHED_SAVE.match(name) and files.isdir(path):
      files.remove_tree(path)
      removed.append(name)
  if removed:
    logging.info("removed what %d unfinished checkpoint save(s) left in %s: %s",
                 len(removed), output_dir, ", ".join(removed))
  return removed


def prepare_to_resume(output_dir, init_checkpoint=None, damaged=None):
  """Before training: sets damaged checkpoints aside; returns the one to resume from.

  Every checkpoint the state file names (or, without a readable one, every checkpoint
  of a step in the folder) is checked; the damaged ones are moved into
  output_dir/damaged/ (an unreadable state file too), the state file is rewritten to
  name the intact ones, and one line says which were damaged and where training
  resumes. Leftovers of unfinished saves go. Returns the prefix to resume from, or
  None: a fresh start (from init_checkpoint).

  damaged: {prefix: DamagedFileError} found otherwise (a restore that failed).
  """
  remove_unfinished_saves(output_dir)
  candidates, state_damage = _candidates(output_dir)
  named = [] if state_damage else named_checkpoints(output_dir)
  known, damaged = dict(damaged or {}), {}
  for prefix in candidates:
    damage = known.get(prefix) or damage_of(prefix)
    if damage is not None:
      damaged[prefix] = damage
  intact = [prefix for prefix in candidates if prefix not in damaged]
  latest = intact[-1] if intact else None
  if (not damaged and not state_damage and intact == named and
      tf.train.latest_checkpoint(output_dir) == latest):
    return latest  # all whole, and TensorFlow finds the latest
  what = ["checkpoint %s is damaged: %s is %s" % (
      os.path.basename(prefix), os.path.basename(damage.path), damage.problem)
          for prefix, damage in reversed(list(damaged.items()))]
  if state_damage:
    what.insert(0, "the state file %s is damaged: %s; found %d checkpoint(s) of steps in "
                "the folder" % (state_damage.path, state_damage.problem, len(candidates)))
  elif not named:
    what.insert(0, "%s has no state file %s; found %d checkpoint(s) of steps in it" %
                (output_dir, STATE_FILE, len(candidates)))
  elif not damaged:
    what.insert(0, "the state file %s names checkpoints at other paths (a folder copied "
                 "from elsewhere?); rewrote it to name those in %s" %
                 (os.path.join(output_dir, STATE_FILE), output_dir))
  moved = [path for prefix in damaged for path in checkpoint_files(prefix)]
  if state_damage:
    moved.append(state_damage.path)
  if moved:
    what.append("moved %s to %s/" % ("it" if len(damaged) + bool(state_damage) == 1 else
                                     "them", set_aside(moved, output_dir)))
  write_state(output_dir, intact)
  what.append("resuming from " + _name_with_step(latest, os.path.basename(latest)) if latest
              else "no intact checkpoint is left: " + _fresh_start(init_checkpoint))
  logging.warning("%s", "; ".join(what))
  return latest


def _fresh_start(init_checkpoint):
  if init_checkpoint:
    return "starting from --init_checkpoint %s" % init_checkpoint
  return "starting from freshly initialized weights"


def _failed_checkpoint(path, output_dir):
  """The checkpoint prefix a failed write of `path` was part of, or None."""
  for part in path.split("/"):
    match = _UNFINISHED_SAVE.match(part)
    if match:
      return os.path.join(output_dir, os.path.basename(match.group(1)))
  match = re.match(r"^(.+?)\.(index|meta|data-\d+-of-\d+)$", os.path.basename(path))
  if match and os.path.dirname(path) == output_dir:
    return os.path.join(output_dir, match.group(1))
  return None


@contextlib.contextmanager
def saving(output_dir):
  """Within the block (an engine's training), a checkpoint save that fails for want of
  room raises WriteError naming the checkpoint, once what the save left is removed: its
  `<prefix>_temp` folder, and its files unless the state file names it (then it is
  whole). Other failed writes raise WriteError naming their file."""
  try:
    yield
  except files.WriteError:
    raise
  except Exception as e:
    failure = files.write_failure(e, output_dir)
    if failure is None:
      raise
    prefix = _failed_checkpoint(failure.path, output_dir)
    if prefix is None:
      raise failure from None
    remove_unfinished_saves(output_dir)
    try:
      named = named_checkpoints(output_dir)
    except DamagedFileError:
      named = []
    if prefix in named:  # saved whole and named; what failed came after (its .meta)
      raise failure from None
    for leftover in checkpoint_files(prefix):
      files.remove(leftover)
    raise files.write_failure(e, prefix, path=prefix) from None
