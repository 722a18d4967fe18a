"""Runs the repository's scripts in forks of one interpreter that has imported TensorFlow.

A script started as `python run_reg.py ...` spends about 3 s of a 2-core machine
importing TensorFlow before it reads its first flag; the suite runs scripts some
hundred times. This process imports TensorFlow and our modules once, then, for each
request, forks: the child points its stdin, stdout and stderr at the request's files,
takes its working folder, environment and argv, and runs the script as `__main__`
(runpy), ending the way the interpreter would: a SystemExit's status, or 1 with the
traceback printed for an exception that escaped. The parent only waits and reports the
child's exit status, so every run starts from the same state, untouched by the runs
before it. helpers.run_script is the client (tests/helpers.py).

What differs from a fresh interpreter: TensorFlow is imported before the script's first
line, and the threads TensorFlow's import started are not in the child. Tests that are
about start-up itself (what a command imports, how it ends) run a real interpreter
(run_script(..., fresh=True), or subprocess).

Protocol: `script_forker.py REQUESTS ANSWERS` (two inherited pipe ends): one JSON
object per line on REQUESTS (script, args, cwd, env, and paths for stdin, stdout,
stderr), each answered by {"returncode": N} on ANSWERS once the script has ended.
"""

import json
import os
import sys

PRELOADED = ("tensorflow", "numpy", "absl.app", "absl.flags", "absl.logging", "modeling",
             "optimization", "tokenization", "tokenization_fast", "processors",
             "finetune.cli", "finetune.pipeline", "finetune.runtime.predictor",
             "finetune.export.exporting", "finetune.export.hf_format")


def _exit_status(code):
  """The status the interpreter gives SystemExit(code), printing a message as it does."""
  if code is None:
    return 0
  if isinstance(code, int):
    return code & 0xff
  print(code, file=sys.stderr)
  return 1


def _run_child(request, own_fds):
  """In the forked child: becomes `python <script> <args>` and never returns."""
  status = 1
  try:
    for fd, name, flags in ((0, "stdin", os.O_RDONLY),
                            (1, "stdout", os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
                            (2, "stderr", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)):
      opened = os.open(request[name] or os.devnull, flags, 0o644)
      os.dup2(opened, fd)
      os.close(opened)
    for fd in own_fds:
      os.close(fd)
    sys.stdin = open(0, encoding="utf-8", closefd=False)  # no byte read ahead by the parent
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    script = request["script"]
    sys.argv = [script] + request["args"]
    sys.path[0] = os.path.dirname(script)
    import runpy
    try:
      runpy.run_path(script, run_name="__main__")
      status = 0
    except SystemExit as e:
      status = _exit_status(e.code)
    except KeyboardInterrupt:
      import traceback
      traceback.print_exc()
      status = 130
    except BaseException:
      import traceback
      traceback.print_exc()
      status = 1
    import atexit
    atexit._run_exitfuncs()
  finally:
    try:
      sys.stdout.flush()
      sys.stderr.flush()
    finally:
      os._exit(status)


def serve(requests_fd, answers_fd):
  """Reads requests until their pipe closes; answers each once its child has ended."""
  import importlib
  for name in PRELOADED:
    importlib.import_module(name)
  requests = os.fdopen(requests_fd, "r", encoding="utf-8")
  answers = os.fdopen(answers_fd, "w", encoding="utf-8")
  for line in requests:
    request = json.loads(line)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
      _run_child(request, (requests_fd, answers_fd))
    _, wait_status = os.waitpid(pid, 0)
    answers.write(json.dumps({"returncode": os.waitstatus_to_exitcode(wait_status)}) + "\n")
    answers.flush()


if __name__ == "__main__":
  # Started as `python tests/script_forker.py`: sys.path[0] is tests/; the repository
  # comes next, as it would for a script at its top.
  repository = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  sys.path[0] = repository
  serve(int(sys.argv[1]), int(sys.argv[2]))
