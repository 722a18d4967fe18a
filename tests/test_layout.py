"""The shape of the code: imports run one way, tests share helpers, libraries take arguments.

  common/ <- processors/ <- finetune/ <- the scripts
"""

import ast
import os

import pytest

from helpers import REPO_ROOT


def python_files(folder):
  root = os.path.join(REPO_ROOT, folder)
  return sorted(os.path.join(root, name) for name in os.listdir(root) if name.endswith(".py"))


def imported_modules(path):
  """Top-level names of every module a file imports."""
  with open(path, encoding="utf-8") as f:
    tree = ast.parse(f.read(), path)
  names = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      names.update(alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom) and node.level == 0:
      names.add(node.module)
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


def test_no_test_module_imports_another():
  files = python_files("tests")
  assert len(files) > 10
  for path in files:
    wrong = [name for name in imported_modules(path)
             if name.split(".")[0].startswith("test_") or name == "conftest"]
    assert not wrong, "%s imports %s" % (os.path.basename(path), wrong)


@pytest.mark.parametrize("folder", ["common", "processors", "finetune", "finetune/engines"])
def test_library_modules_read_no_flags(folder):
  for path in python_files(folder):
    with open(path, encoding="utf-8") as f:
      assert "FLAGS." not in f.read(), path
