"""The shape of the code: imports run one way, tests share helpers, libraries take arguments.

  common/ <- processors/ <- finetune/ <- the scripts
and inside finetune/, the stage packages and the modules a reader looks at first:
  data, model <- engines <- evaluation <- tasks <- training <- serving <- options
  <- pipeline <- cli
"""

import ast
import os

import pytest

from helpers import REPO_ROOT


def python_files(folder):
  root = os.path.join(REPO_ROOT, folder)
  return sorted(os.path.join(root, name) for name in os.listdir(root) if name.endswith(".py"))


def imported_modules(path):
  """Every module a file imports, and for `from a import b` also "a.b" (b may be one)."""
  with open(path, encoding="utf-8") as f:
    tree = ast.parse(f.read(), path)
  names = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      names.update(alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom) and node.level == 0:
      names.add(node.module)
      names.update("%s.%s" % (node.module, alias.name) for alias in node.names)
  return names


@pytest.mark.parametrize("folder,forbidden", [
    ("common", ("finetune", "processors")),
    ("processors", ("finetune",)),
])
def test_imports_run_one_way(folder, forbidden):
  files = python_files(folder)
  assert files
  for path in files:
    wrong = [name for name in imported_modules(path)
             if name.split(".")[0] in forbidden]
    assert not wrong, "%s imports %s" % (os.path.relpath(path, REPO_ROOT), wrong)


# finetune/'s units, lowest first: a module may import its own unit and those before it.
FINETUNE_UNITS = ("data", "model", "engines", "evaluation", "tasks", "training", "serving",
                  "mining", "options", "pipeline", "cli")
# What finetune/ holds at its top: the units above, nothing left behind at an old path.
FINETUNE_TOP = {"__init__.py", "cli.py", "options.py", "pipeline.py", "tasks.py", "data",
                "engines", "evaluation", "mining", "model", "serving", "training"}


def finetune_unit(module):
  """"finetune.data.records" -> "data"; None outside finetune's units."""
  parts = module.split(".")
  if parts[0] != "finetune" or len(parts) < 2 or parts[1] not in FINETUNE_UNITS:
    return None
  return parts[1]


def finetune_imports(path):
  """Every module of finetune's units a file imports (from finetune import x: finetune.x)."""
  return {name for name in imported_modules(path) if finetune_unit(name)}


def test_finetune_holds_its_units_only():
  assert set(os.listdir(os.path.join(REPO_ROOT, "finetune"))) - {"__pycache__"} == FINETUNE_TOP


def test_finetune_imports_run_down_its_units():
  checked = 0
  for folder, _, names in os.walk(os.path.join(REPO_ROOT, "finetune")):
    for name in names:
      if not name.endswith(".py"):
        continue
      path = os.path.join(folder, name)
      module = os.path.relpath(path, REPO_ROOT)[:-3].replace(os.sep, ".")
      unit = finetune_unit(module)
      if unit is None:
        continue
      checked += 1
      upward = upward_imports(path, unit)
      assert not upward, "%s (%s) imports %s" % (module, unit, upward)
  assert checked > 40


def upward_imports(path, unit):
  """The finetune modules `path` (a module of `unit`) imports from a later unit."""
  return sorted(name for name in finetune_imports(path)
                if FINETUNE_UNITS.index(finetune_unit(name)) > FINETUNE_UNITS.index(unit))


def test_the_upward_import_check_can_fail(tmp_path):
  path = tmp_path / "loop.py"
  path.write_text("from finetune.serving import saved_model\nfrom finetune import cli\n"
                  "from finetune.evaluation.evaluate import evaluate_checkpoint\n")
  assert upward_imports(str(path), "training") == [
      "finetune.cli", "finetune.serving", "finetune.serving.saved_model"]


def test_no_test_module_imports_another():
  files = python_files("tests")
  assert len(files) > 10
  for path in files:
    wrong = [name for name in imported_modules(path)
             if name.split(".")[0].startswith("test_") or name == "conftest"]
    assert not wrong, "%s imports %s" % (os.path.basename(path), wrong)


@pytest.mark.parametrize("folder", ["common", "processors", "finetune", "finetune/data",
                                    "finetune/model", "finetune/engines",
                                    "finetune/evaluation", "finetune/training",
                                    "finetune/serving", "finetune/mining"])
def test_library_modules_read_no_flags(folder):
  for path in python_files(folder):
    with open(path, encoding="utf-8") as f:
      assert "FLAGS." not in f.read(), path
