"""Every flag of run_reg.py, run_classifier.py, predict.py, export_model.py and serve.py is
checked before any work.

The flags are the settings of the option dataclasses (common/settings.py); each setting
carries its check, and each check the bad values it must refuse. These tests go through
that table: a flag of a script that is not in it, a setting without a check (or a
reason), or a check that lets one of its bad values through, fails here.
"""

import dataclasses
import json
import os
import subprocess
import sys

import pytest

from common import settings
from common.errors import UserError
from finetune import options as options_lib
from finetune.export.exporting import ExportOptions
from finetune.serving.options import ServeOptions
from finetune.tasks import ClassificationOptions
from finetune.tasks import RegressionOptions
from helpers import model_flags
from helpers import REPO_ROOT
from helpers import run_script
from helpers import ZH_DATA
from predict import PredictOptions

SCRIPTS = {
    "run_reg.py": (options_lib.RunOptions, RegressionOptions),
    "run_classifier.py": (options_lib.RunOptions, ClassificationOptions),
    "predict.py": (PredictOptions,),
    "export_model.py": (ExportOptions,),
    "serve.py": (ServeOptions,),
}


def table(script):
  """The settings behind a script's flags."""
  return [field for options_class in SCRIPTS[script]
          for field in settings.settings_of(options_class)]


def all_settings():
  seen = {}
  for script in SCRIPTS:
    for field in table(script):
      seen[field.name] = field
  return sorted(seen.values(), key=lambda field: field.name)


# Lists, as JSON, the flags a script's import defines, by the module that defined them.
LIST_FLAGS = """
import importlib, json, sys
from absl import flags
importlib.import_module(sys.argv[1])
print(json.dumps({module: sorted(flag.name for flag in module_flags)
                  for module, module_flags in flags.FLAGS.flags_by_module_dict().items()}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_every_flag_of_a_script_is_a_setting_of_the_table(script):
  """Every flag the script's code defines (absl's and TensorFlow's own aside)."""
  result = subprocess.run([sys.executable, "-c", LIST_FLAGS, script[:-len(".py")]],
                          capture_output=True, text=True, check=True, cwd=REPO_ROOT)
  by_module = json.loads(result.stdout.strip().splitlines()[-1])
  ours = {name for module, names in by_module.items()
          if not module.startswith(("absl.", "tensorflow")) for name in names}
  assert ours == {field.name for field in table(script)}


@pytest.mark.parametrize("field", all_settings(), ids=lambda field: field.name)
def test_every_setting_has_a_check_or_says_why_it_needs_none(field):
  check = field.metadata["check"]
  kind = settings.kind_of(field)
  if kind == "bool":
    assert check is None  # true or false, parsed by absl
  elif check is None:
    assert field.metadata.get("unchecked"), field.name
  else:
    assert check.bad_values, field.name


def valid_values(options_class, tmp_path, zh_model):
  """Settings of `options_class` that pass every check (required ones filled in)."""
  if options_class is options_lib.RunOptions:
    return dict(data_dir=ZH_DATA, task_name="sim", output_dir=str(tmp_path / "out"),
                do_train=True, bert_config_file=os.path.join(zh_model, "bert_config.json"),
                vocab_file=os.path.join(zh_model, "vocab.txt"))
  if options_class in (PredictOptions, ServeOptions):
    return dict(model=str(tmp_path))
  if options_class is ExportOptions:
    return dict(model=str(tmp_path), format="onnx", output_dir=str(tmp_path / "onnx"))
  return {}


CHECKED = [(options_class, field, bad)
           for options_class in (options_lib.RunOptions, RegressionOptions,
                                 ClassificationOptions, PredictOptions, ExportOptions,
                                 ServeOptions)
           for field in settings.settings_of(options_class)
           if field.metadata["check"] is not None
           for bad in field.metadata["check"].bad_values]


@pytest.mark.parametrize("options_class,field,bad", CHECKED,
                         ids=["%s=%s" % (field.name, bad) for _, field, bad in CHECKED])
def test_each_bad_value_is_one_line_naming_the_flag(options_class, field, bad, tmp_path,
                                                   zh_model):
  values = valid_values(options_class, tmp_path, zh_model)
  settings.validate(settings.build(options_class, values))  # the others pass
  values[field.name] = bad
  with pytest.raises(UserError) as raised:
    settings.validate(settings.build(options_class, values))
  message = str(raised.value)
  assert message.startswith("--%s=%s: expected " % (field.name, bad)), message
  assert "\n" not in message


@pytest.mark.slow
@pytest.mark.parametrize("script,flag,message", [
    ("run_reg.py", "--train_batch_size=0", "--train_batch_size=0: expected an integer >= 1"),
    ("run_reg.py", "--train_batch_size=abc", "flag --train_batch_size=abc: invalid literal "
     "for int() with base 10: 'abc'"),
    ("run_reg.py", "--learning_rate=-1", "--learning_rate=-1.0: expected a number > 0"),
    ("run_reg.py", "--vocab_file=" + REPO_ROOT, "--vocab_file=%s: expected a file, found a "
     "folder" % REPO_ROOT),
    ("run_reg.py", "--output_dir=" + os.path.join(REPO_ROOT, "README.md"),
     "--output_dir=%s: expected a folder to write into, found a file" %
     os.path.join(REPO_ROOT, "README.md")),
    ("run_classifier.py", "--threshold=1.5", "--threshold=1.5: expected a number in 0..1 or "
     "'auto'"),
    ("run_classifier.py", "--class_weights=1,0", "--class_weights=1,0: expected 'balanced' or "
     "one positive weight per label"),
    ("predict.py", "--batch_size=0", "--batch_size=0: expected an integer >= 1"),
    ("export_model.py", "--precision=int4", "--precision=int4: expected one of float32, int8"),
    ("serve.py", "--port=70000", "--port=70000: expected a number from 0 to 65535"),
])
def test_a_bad_flag_stops_the_script_with_one_line(script, flag, message, zh_model, tmp_path):
  if script == "predict.py":
    arguments = ["--model=" + str(tmp_path), flag, "a", "b"]
  elif script in ("export_model.py", "serve.py"):
    arguments = ["--model=" + str(tmp_path), "--format=onnx", "--output_dir=%s" % (
        tmp_path / "out"), flag] if script == "export_model.py" else [
            "--model=" + str(tmp_path), flag]
  else:
    arguments = ["--task_name=" + ("sim" if script == "run_reg.py" else "lcqmc"),
                 "--do_train=true", "--data_dir=" + ZH_DATA,
                 "--output_dir=" + str(tmp_path / "out"), *model_flags(zh_model), flag]
  result = run_script(script, *arguments, check=False)
  assert result.returncode == 1 and "Traceback" not in result.stderr
  last_line = result.stderr.strip().splitlines()[-1]
  assert last_line.startswith("error: " + message), last_line
  assert not os.path.exists(tmp_path / "out")


def test_a_setting_without_a_check_or_a_reason_cannot_be_declared():
  with pytest.raises(ValueError, match="needs a check"):
    dataclasses.make_dataclass("Unchecked", [("count", int, settings.setting(3, "A count.",
                                                                              "Training"))])
