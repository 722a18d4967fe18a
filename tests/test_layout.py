"""The shape of the code: imports run one way, tests share helpers, libraries take arguments.

  common/ <- processors/ <- finetune/ <- the scripts
and inside finetune/, the stage packages and the modules a reader looks at first:
  data, model <- engines <- evaluation <- tasks <- training <- runtime <- export <- serving
  <- options <- pipeline <- cli
and finetune/runtime/ (but its TensorFlow module) and finetune/serving/ import no TensorFlow.
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
FINETUNE_UNITS = ("data", "model", "engines", "evaluation", "tasks", "training", "runtime",
                  "export", "serving", "mining", "options", "pipeline", "cli")
# What finetune/ holds at its top: the units above, nothing left behind at an old path.
FINETUNE_TOP = {"__init__.py", "cli.py", "options.py", "pipeline.py", "tasks.py", "data",
                "engines", "evaluation", "export", "mining", "model", "runtime", "serving",
                "training"}


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
  path.write_text("from finetune.export import saved_model\nfrom finetune import cli\n"
                  "from finetune.evaluation.evaluate import evaluate_checkpoint\n")
  assert upward_imports(str(path), "training") == [
      "finetune.cli", "finetune.export", "finetune.export.saved_model"]


# An ONNX folder is scored, and served, with no TensorFlow imported: runtime/ and serving/
# bring none in, directly or through the repository's modules they import; the one
# module of runtime/ that is TensorFlow's is imported only for a TensorFlow model.
TENSORFLOW_FREE = ("finetune/runtime", "finetune/serving")
TENSORFLOW_MODULE = "finetune.runtime.tensorflow_model"


def imports_of(path, anywhere):
  """The modules a file imports: anywhere in it, or only those importing it runs (module
  scope, not inside a function: a lazy import runs when it is needed)."""
  with open(path, encoding="utf-8") as f:
    tree = ast.parse(f.read(), path)
  nodes = ast.walk(tree) if anywhere else (
      node for statement in tree.body for node in ast.walk(statement)
      if not isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)))
  names = set()
  for node in nodes:
    if isinstance(node, ast.Import):
      names.update(alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom) and node.level == 0:
      names.add(node.module)
      names.update("%s.%s" % (node.module, alias.name) for alias in node.names)
  return names


def repository_file(module):
  """The file of a module of the repository ("finetune.model.model_files"), or None."""
  base = os.path.join(REPO_ROOT, *module.split("."))
  for path in (base + ".py", os.path.join(base, "__init__.py")):
    if os.path.isfile(path):
      return path
  return None


def tensorflow_chain(path):
  """How importing the file at `path`, and calling into it, brings in TensorFlow: the
  chain of modules to the one that imports it, or None. Its own imports count anywhere in
  it, those of the modules it reaches at their module scope (and their packages')."""
  start = os.path.relpath(path, REPO_ROOT)[:-3].replace(os.sep, ".")
  paths = {start: path}
  chains = {start: [start]}
  queue = [start]
  while queue:
    module = queue.pop(0)
    for name in sorted(imports_of(paths[module], anywhere=module == start)):
      if name.split(".")[0] == "tensorflow":
        return chains[module] + [name]
      parts = name.split(".")
      for end in range(1, len(parts) + 1):
        imported = ".".join(parts[:end])
        if imported in chains or imported == TENSORFLOW_MODULE:
          continue
        found = repository_file(imported)
        if found:
          paths[imported] = found
          chains[imported] = chains[module] + [imported]
          queue.append(imported)
  return None


def test_runtime_and_serving_import_no_tensorflow():
  checked = 0
  for folder in TENSORFLOW_FREE:
    for path in python_files(folder):
      if os.path.relpath(path, REPO_ROOT)[:-3].replace(os.sep, ".") == TENSORFLOW_MODULE:
        continue
      checked += 1
      chain = tensorflow_chain(path)
      assert chain is None, " -> ".join(chain)
  assert checked >= 8


def test_the_tensorflow_check_can_fail(tmp_path):
  lazy = tmp_path / "lazy.py"  # a file's own import counts even inside a function
  lazy.write_text("def f():\n  import tensorflow as tf\n  return tf\n")
  assert tensorflow_chain(str(lazy))[1:] == ["tensorflow"]
  through = tmp_path / "through.py"  # and one that a module it imports runs
  through.write_text("from finetune.model import model_files\n"
                     "from finetune.training import best_checkpoint\n")
  assert tensorflow_chain(str(through))[1:] == ["finetune.training.best_checkpoint",
                                                "tensorflow"]
  assert tensorflow_chain(os.path.join(REPO_ROOT, "finetune", "runtime",
                                       "tensorflow_model.py"))[1:] == ["tensorflow"]


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
                                    "finetune/runtime", "finetune/export",
                                    "finetune/serving", "finetune/mining"])
def test_library_modules_read_no_flags(folder):
  for path in python_files(folder):
    with open(path, encoding="utf-8") as f:
      assert "FLAGS." not in f.read(), path
