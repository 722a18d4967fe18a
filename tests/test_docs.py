"""README.md and docs/*.md point only at what exists: links, and the repo paths they name."""

import glob
import os
import re

import pytest

from helpers import REPO_ROOT

PAGES = ["README.md"] + sorted(os.path.relpath(path, REPO_ROOT) for path in
                               glob.glob(os.path.join(REPO_ROOT, "docs", "*.md")))
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
# A path of this repository in backticks: a top-level folder of ours, then a file name.
REPO_PATH = re.compile(r"`((?:bench|common|data|docs|examples|finetune|processors|tests)/"
                       r"[A-Za-z0-9_./-]*[A-Za-z0-9_])`")


def _exists(path):
  """A file or folder, or a module's attribute written module.name (finetune/x.load)."""
  module = path.split(".", 1)[0] + ".py"
  return any(glob.glob(os.path.join(REPO_ROOT, candidate)) for candidate in (path, module))


# One page per concern, each linked from README.md.
CONCERNS = ("fine-tuning", "chinese-benchmarks", "data-report", "training-workflow",
            "devices", "predicting", "export", "serving", "speed", "quality", "errors",
            "layout", "differences", "testing")


def test_each_concern_has_a_page_linked_from_the_front_page():
  with open(os.path.join(REPO_ROOT, "README.md"), encoding="utf-8") as f:
    front = set(LINK.findall(f.read()))
  for concern in CONCERNS:
    assert "docs/%s.md" % concern in PAGES, concern
    assert "docs/%s.md" % concern in front, concern


def test_the_front_page_stays_short():
  with open(os.path.join(REPO_ROOT, "README.md"), encoding="utf-8") as f:
    assert len(f.read().splitlines()) <= 200


@pytest.mark.parametrize("page", PAGES)
def test_every_link_and_named_path_exists(page):
  with open(os.path.join(REPO_ROOT, page), encoding="utf-8") as f:
    text = f.read()
  base = os.path.dirname(os.path.join(REPO_ROOT, page))
  missing = [target for target in LINK.findall(text)
             if "://" not in target and not os.path.exists(os.path.join(base, target))]
  missing += [path for path in REPO_PATH.findall(text) if not _exists(path)]
  assert not missing, "%s names what does not exist: %s" % (page, ", ".join(missing))


def python_examples(page):
  """The ```python blocks of a page, in order."""
  with open(os.path.join(REPO_ROOT, page), encoding="utf-8") as f:
    return re.findall(r"^```python\n(.*?)^```", f.read(), re.M | re.S)


@pytest.mark.slow
def test_the_python_examples_run_on_a_run_and_its_int8_onnx_folder(zh_model, tmp_path, capsys):
  """README's and predicting.md's examples, on a tiny run standing in for runs/demo."""
  from finetune.export import exporting
  from finetune.tasks import RegressionTask
  from helpers import make_tiny_run
  run_dir = make_tiny_run(str(tmp_path / "demo"), zh_model, RegressionTask())
  exporting.export(run_dir, "onnx", os.path.join(run_dir, "onnx-int8"), "int8")
  examples = python_examples("README.md") + python_examples("docs/predicting.md")
  assert len(examples) == 2
  for example in examples:
    assert "runs/demo" in example
    exec(compile(example.replace("runs/demo", run_dir), "example", "exec"), {})
  printed = capsys.readouterr().out.splitlines()
  # README prints one pair's outputs; predicting.md two scores, then one pair's outputs.
  # numpy's layout of the numbers (digits, padding, exponents) is not what is checked.
  outputs = [re.fullmatch(r"\{'score': array\(\[(\S+)\], dtype=float32\)\}", line)
             for line in printed]
  two_scores = [re.fullmatch(r"\[\s*(\S+)\s+(\S+)\s*\]", line) for line in printed]
  assert [bool(m) for m in outputs] == [True, False, True], printed
  assert [bool(m) for m in two_scores] == [False, True, False], printed
  for value in (outputs[0].group(1), outputs[2].group(1), *two_scores[1].groups()):
    assert 0 <= float(value) <= 1, printed  # a sigmoid's scores
