"""run_script's forked runs end as a fresh interpreter's would (tests/script_forker.py)."""

import pytest

from helpers import REPO_ROOT
from helpers import run_script

# Each case: a script's body, its stdin, and what both runs must agree on.
SCRIPT = """\
import os, sys
print("argv", sys.argv[1:], "cwd", os.getcwd() == sys.argv[1], "stdin", sys.stdin.read())
print("on stderr", os.environ.get("SCRIPT_FORKER_PROBE"), file=sys.stderr)
print("path", sys.path[0] == os.path.dirname(os.path.abspath(__file__)),
      "main", __name__)
ending = sys.argv[2]
if ending == "status":
  sys.exit(3)
if ending == "message":
  sys.exit("error: a message")
if ending == "exception":
  raise ValueError("escaped")
"""


@pytest.mark.slow
@pytest.mark.parametrize("ending", ["normal", "status", "message", "exception"])
def test_a_forked_run_ends_as_a_fresh_interpreter(ending, tmp_path, monkeypatch):
  script = tmp_path / "probe.py"
  script.write_text(SCRIPT, encoding="utf-8")
  monkeypatch.setenv("SCRIPT_FORKER_PROBE", "seen")
  forked = run_script(str(script), REPO_ROOT, ending, check=False, stdin="piped 文本")
  fresh = run_script(str(script), REPO_ROOT, ending, check=False, stdin="piped 文本",
                     fresh=True)
  assert forked.returncode == fresh.returncode == {
      "normal": 0, "status": 3, "message": 1, "exception": 1}[ending]
  assert forked.stdout == fresh.stdout
  assert forked.stdout.startswith("argv ['%s', '%s'] cwd True stdin piped 文本\n"
                                  % (REPO_ROOT, ending))
  assert "path True main __main__" in forked.stdout
  assert forked.stderr.splitlines()[0] == "on stderr seen"
  if ending == "exception":
    for result in (forked, fresh):
      assert "Traceback (most recent call last)" in result.stderr
      assert result.stderr.strip().splitlines()[-1] == "ValueError: escaped"
  else:
    assert forked.stderr == fresh.stderr


@pytest.mark.slow
def test_forked_runs_start_from_the_same_state(tmp_path):
  script = tmp_path / "leaves_state.py"
  # json is imported before the first run: a change to it must not reach the next run.
  script.write_text("import sys, json\nprint(json.dumps('tensorflow' in sys.modules))\n"
                    "print(getattr(json, 'LEFT', None))\n"
                    "json.LEFT = 'by an earlier run'\n", encoding="utf-8")
  first = run_script(str(script))
  second = run_script(str(script))
  # TensorFlow is there before the first line (the difference a forked run has) ...
  assert first.stdout == second.stdout == "true\nNone\n"
  # ... and a fresh interpreter has not imported it.
  assert run_script(str(script), fresh=True).stdout == "false\nNone\n"
