"""Settings declared once, as fields of option dataclasses.

Each field carries its default, its one-line help, its --help group and the check its
value must pass (common/checks.py). From that one declaration come the command-line
flags (common/cli.py), the defaults of programmatic use, and the validation that runs
before any work:

  @dataclasses.dataclass(frozen=True)
  class TrainingOptions:
    train_batch_size: int = setting(32, "Training batch size.", group="Training",
                                    check=AtLeast(1))

A field without a check must say why (`check=None, unchecked="..."`), so that a new
setting cannot slip in unchecked.
"""

import dataclasses
import typing

from common.errors import UserError

_KINDS = {str: "string", bool: "bool", int: "integer", float: "float"}


def setting(default=None, help_text="", group="", check=None, unchecked=None,
            required=False):
  """A dataclass field for one setting (see the module docstring).

  Args:
    default: the value when neither flag nor argument gives one.
    help_text: one line for --help.
    group: the --help group (common.cli.GROUPS).
    check: a common.checks.Check, or None with `unchecked` saying why none is needed.
    required: the flag must be given (Google's required flags).
  """
  if check is None and not unchecked and not isinstance(default, bool):
    raise ValueError("a setting needs a check, or `unchecked` saying why it needs none")
  return dataclasses.field(default=default, metadata={
      "help": help_text, "group": group, "check": check, "unchecked": unchecked,
      "required": required})


def kind_of(field):
  """"string", "bool", "integer" or "float" from the field's type (Optional[X] -> X)."""
  annotation = field.type
  arguments = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
  if typing.get_origin(annotation) is typing.Union and len(arguments) == 1:
    annotation = arguments[0]
  if annotation not in _KINDS:
    raise TypeError("setting %s: unsupported type %r" % (field.name, annotation))
  return _KINDS[annotation]


def settings_of(options_class):
  """The setting fields of an options dataclass, nested option groups included, in order."""
  found = []
  for field in dataclasses.fields(options_class):
    if dataclasses.is_dataclass(field.type):
      found.extend(settings_of(field.type))
    elif "help" in field.metadata:
      found.append(field)
  return found


def build(options_class, values):
  """An options instance from {setting name: value}; nested groups are built alike.

  Names the class does not know are ignored; missing ones take their defaults. An empty
  string for a setting whose default is None means "not given".
  """
  arguments = {}
  for field in dataclasses.fields(options_class):
    if dataclasses.is_dataclass(field.type):
      arguments[field.name] = build(field.type, values)
    elif field.name in values:
      value = values[field.name]
      if value == "" and field.default is None:
        value = None
      arguments[field.name] = value
  return options_class(**arguments)


def flat_values(options):
  """{setting name: value} of an options instance, nested groups flattened."""
  values = {}
  for field in dataclasses.fields(options):
    value = getattr(options, field.name)
    if dataclasses.is_dataclass(value):
      values.update(flat_values(value))
    else:
      values[field.name] = value
  return values


def check_value(field, value):
  """None when `value` suits the setting, else the one-line message naming the flag."""
  if value is None:
    return "--%s is required" % field.name if field.metadata.get("required") else None
  check = field.metadata.get("check")
  problem = check(value) if check is not None else None
  if problem is None:
    return None
  shown = str(value).lower() if isinstance(value, bool) else value
  return "--%s=%s: expected %s" % (field.name, shown, problem)


def validate(options):
  """Raises UserError for the first setting whose value fails its check."""
  values = flat_values(options)
  for field in settings_of(type(options)):
    problem = check_value(field, values[field.name])
    if problem:
      raise UserError(problem)
