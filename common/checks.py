"""Checks on a setting's value, each saying in words what it expects.

A check is called with a value and returns None when the value is fine, else the text
of what was expected ("an integer >= 1"); settings.validate turns that into one line
naming the flag: `--train_batch_size=0: expected an integer >= 1`. `bad_values` are
values the check must refuse, which tests feed to every flag.
"""

import math
import os
import re

# common.files (and with it TensorFlow) is imported by the path checks when they run, so
# that tools that only parse flags start quickly.


class Check:
  """Base class: `expected` describes valid values; __call__ returns it for a bad one."""

  expected = ""
  bad_values = ()

  def __call__(self, value):
    return None if self.accepts(value) else self.expected

  def accepts(self, value):
    raise NotImplementedError()


def _number_text(number):
  return ("%d" % number) if float(number).is_integer() else ("%g" % number)


class AtLeast(Check):
  """A number >= minimum (an integer if the minimum is one)."""

  def __init__(self, minimum):
    self.minimum = minimum
    kind = "an integer" if isinstance(minimum, int) else "a number"
    self.expected = "%s >= %s" % (kind, _number_text(minimum))
    self.bad_values = (minimum - 1,)

  def accepts(self, value):
    return math.isfinite(value) and value >= self.minimum


class Above(Check):
  """A finite number > bound."""

  def __init__(self, bound):
    self.bound = bound
    self.expected = "a number > %s" % _number_text(bound)
    self.bad_values = (bound, float("inf"))

  def accepts(self, value):
    return math.isfinite(value) and value > self.bound


class Between(Check):
  """A number in [low, high]."""

  def __init__(self, low, high):
    self.low, self.high = low, high
    self.expected = "a number from %s to %s" % (_number_text(low), _number_text(high))
    self.bad_values = (high + 1,)

  def accepts(self, value):
    return math.isfinite(value) and self.low <= value <= self.high


class Finite(Check):
  expected = "a finite number"
  bad_values = (float("nan"),)

  def accepts(self, value):
    return math.isfinite(value)


class OneOf(Check):
  """One of a fixed list of words."""

  def __init__(self, choices):
    self.choices = tuple(choices)
    self.expected = "one of %s" % ", ".join(self.choices)
    self.bad_values = ("no-such-" + self.choices[0],)

  def accepts(self, value):
    return value in self.choices


class NumberOrWord(Check):
  """A number in [low, high], or one given word (e.g. a threshold or "auto")."""

  def __init__(self, low, high, word):
    self.low, self.high, self.word = low, high, word
    self.expected = "a number in %s..%s or '%s'" % (_number_text(low), _number_text(high),
                                                   word)
    self.bad_values = ("high", str(high + 0.5))

  def accepts(self, value):
    if str(value).strip().lower() == self.word:
      return True
    try:
      number = float(value)
    except ValueError:
      return False
    return self.low <= number <= self.high


class NonEmpty(Check):
  expected = "a non-empty value"
  bad_values = (" ",)

  def accepts(self, value):
    return bool(str(value).strip())


class ExistingFile(Check):
  """A file that exists (local or gs://), not a folder."""

  def __init__(self, what="a file"):
    self.expected = "%s; no file at that path" % what
    self.bad_values = ("/nonexistent/file",)

  def __call__(self, value):
    from common import files
    if files.isdir(value):
      return "a file, found a folder"
    if not files.exists(value):
      return self.expected
    return None


class ExistingFolder(Check):
  """A folder that exists (local or gs://)."""

  def __init__(self, what="a folder"):
    self.expected = "%s; no folder at that path" % what
    self.bad_values = ("/nonexistent/folder",)

  def __call__(self, value):
    from common import files
    if files.exists(value) and not files.isdir(value):
      return "a folder, found a file"
    if not files.isdir(value):
      return self.expected
    return None


class OutputFolder(Check):
  """A folder that exists and can be written, or a path where one can be made."""

  bad_values = (__file__, "/proc/no-folder-can-be-made-here")

  def __call__(self, value):
    from common import files
    if files.isfile(value):
      return "a folder to write into, found a file"
    if not files.is_local(value):
      return None  # a bucket's permissions show at the first write
    existing = os.path.abspath(value)
    while not os.path.exists(existing):
      existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
      return "a folder to write into; %s is a file" % existing
    if not os.access(existing, os.W_OK | os.X_OK):
      return "a folder this process can write into; %s is not writable" % existing
    if existing == "/proc" or existing.startswith("/proc/"):
      return "a folder on a disk; %s is not one" % existing
    return None


class CheckpointPath(Check):
  """A checkpoint prefix (its .index file exists) or a folder holding checkpoints."""

  expected = ("a checkpoint prefix such as .../bert_model.ckpt (with its .index file) or a "
              "folder holding checkpoints; no checkpoint found there")
  bad_values = ("/nonexistent/bert_model.ckpt",)

  def __call__(self, value):
    from common import files
    if files.exists(value + ".index"):
      return None
    if files.isdir(value) and files.exists(os.path.join(value, "checkpoint")):
      return None
    return self.expected


class DeviceNames(Check):
  """Device names separated by commas, each /cpu:N or /gpu:N (device:GPU:N too)."""

  expected = "device names like /gpu:0 or /cpu:1, separated by commas"
  bad_values = ("gpu0", "/gpu:0,,/tpu:1")
  _NAME = re.compile(r"^(/job:[\w-]+(/replica:\d+)?(/task:\d+)?)?/(device:)?(cpu|gpu|CPU|GPU):\d+$")

  def accepts(self, value):
    names = value.split(",")
    return all(self._NAME.match(name.strip()) for name in names)
