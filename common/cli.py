"""Command-line plumbing of every script: flags from settings, grouped --help, one-line errors.

Flags are defined from the settings of option dataclasses (common/settings.py), so a
flag's name, default, help and check are declared once. `run_app` runs a script's main:
a UserError it raises ends the script with one line, `error: <message>`, and exit
status 1, never a traceback.
"""

import os
import sys

from absl import app
from absl import flags
from absl import logging

from common import interruption
from common import settings
from common.errors import UserError

# --help shows the flags in these groups, in this order.
REQUIRED = "Required"
RUN = "What to run"
MODEL = "Model and task"
TRAINING = "Training"
ENGINE = "Engine"
SPEED = "Speed (CPU/GPU)"
DISTRIBUTION = "Several devices or machines"
TPU = "TPU"
OUTPUT = "Output"
GROUPS = (REQUIRED, RUN, MODEL, TRAINING, ENGINE, SPEED, DISTRIBUTION, TPU, OUTPUT)

_DEFINE = {"string": flags.DEFINE_string, "bool": flags.DEFINE_bool,
           "integer": flags.DEFINE_integer, "float": flags.DEFINE_float}
_group_of_flag = {}


def define_flags(options_class, defaults=None, flag_values=flags.FLAGS):
  """Defines a flag for every setting of `options_class` (nested groups included).

  Args:
    defaults: {setting name: value} replacing the declared default for this script
      (run_classifier.py's --adam_bias_correction, say).
  """
  defaults = defaults or {}
  unknown = set(defaults) - {field.name for field in settings.settings_of(options_class)}
  if unknown:
    raise ValueError("defaults for unknown settings: %s" % ", ".join(sorted(unknown)))
  required = []
  for field in settings.settings_of(options_class):
    group = field.metadata["group"]
    if group not in GROUPS:
      raise ValueError("setting %s: unknown flag group %r" % (field.name, group))
    _DEFINE[settings.kind_of(field)](field.name, defaults.get(field.name, field.default),
                                     field.metadata["help"], flag_values=flag_values)
    _group_of_flag[field.name] = group
    if field.metadata["required"]:
      required.append(field.name)
  if required:
    flags.mark_flags_as_required(required, flag_values=flag_values)


def options_from_flags(options_class, flag_values=flags.FLAGS):
  """An instance of `options_class` holding the parsed flags' values."""
  return settings.build(options_class, {field.name: flag_values[field.name].value
                                        for field in settings.settings_of(options_class)})


def grouped_help(flag_values, description):
  """The --help text: the description, then each group's flags, one line each."""
  lines = [description.strip(), ""]
  for group in GROUPS:
    names = [name for name, flag_group in _group_of_flag.items()
             if flag_group == group and name in flag_values]
    if not names:
      continue
    lines.append(group + ":")
    for name in names:
      flag = flag_values[name]
      default = "" if flag.default is None else "=%s" % str(flag.default).lower() \
          if isinstance(flag.default, bool) else "=%s" % flag.default
      lines.append("  --%-28s %s" % (name + default, flag.help))
    lines.append("")
  return "\n".join(lines)


def exit_with_error(message):
  """Ends the process with `error: <message>` as the last line of stderr, status 1."""
  sys.stderr.flush()
  sys.exit("error: %s" % message)


def run_app(main_function, description, flag_values=flags.FLAGS):
  """absl's app.run with grouped --help, and one line for every user mistake.

  A flag that does not parse, or a UserError from main, ends the script with
  `error: <message>` and exit status 1; Ctrl-C or SIGTERM with one line and 130 or 143
  (common/interruption.py). Never a traceback.
  """

  def parse(argv):
    if any(arg in ("-h", "--help", "-help", "--helpshort", "--helpfull") for arg in argv[1:]):
      print(grouped_help(flag_values, description))
      sys.exit(0)
    try:
      return flag_values(argv)
    except flags.Error as e:
      exit_with_error(e)

  def guarded_main(argv):
    interruption.install()
    status = run_main(main_function, argv)
    if status is None or isinstance(status, int):
      _end_now(status)
    return status

  app.run(guarded_main, flags_parser=parse)


def run_main(main_function, argv):
  """Runs main_function(argv) as run_app does, once the flags are parsed; returns its status.

  A UserError, or a write that failed for want of room (common/files.py), ends it with
  SystemExit("error: <message>"): status 1, the one line printed; Interrupted with its
  line on stderr and SystemExit(128 + the signal's number).
  """
  try:
    return main_function(argv)
  except interruption.Interrupted as e:
    sys.stderr.flush()
    print(str(e), file=sys.stderr)
    sys.exit(e.exit_status)
  except UserError as e:
    exit_with_error(e)
  except Exception as e:
    from common import files
    failure = files.write_failure(e, "a file")
    if failure is None:
      raise
    exit_with_error(failure)


def _end_now(status):
  """Ends the process once main has returned, without the interpreter's tear-down.

  Every output is written and closed by then; what remains is TensorFlow freeing its
  sessions, graphs and thread pools one object at a time, measured at 0.6-1.1 s of each
  command (bench/startup.py), which the operating system does at once.
  """
  logging.flush()
  for stream in (sys.stdout, sys.stderr):
    try:
      stream.flush()
    except OSError:  # a reader that has gone (`| head`) wants no more
      pass
  os._exit(status or 0)

