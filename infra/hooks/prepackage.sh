#!/usr/bin/env bash
# azd's prepackage hook for the api service (azure.yaml): ship the app's own modules compiled, as
# .github/workflows/deploy.yml does, so a cold start does not compile them first. Remote build
# (Oryx, on the runtime's image) installs and compiles the dependencies; this compiles trackly/,
# migrations/ and function_app.py. --invalidation-mode unchecked-hash: the worker trusts the .pyc
# without comparing source timestamps, which packaging changes. .funcignore keeps __pycache__ in.
#
# The bytecode must come from CPython 3.11, the runtime's version (other versions' files would be
# ignored): the repository's .venv if present, else $PYTHON, else python3.
# `--clean` (the postpackage hook) only removes that bytecode again: unchecked-hash .pyc files are
# never compared with their source, so they must not outlive the package.
set -euo pipefail
cd "$(dirname "$0")/../.."

clean() {
  find trackly migrations -name __pycache__ -prune -exec rm -rf {} +
  rm -rf __pycache__
}
if [ "${1:-}" = "--clean" ]; then
  clean
  echo "prepackage: removed the packaged bytecode"
  exit 0
fi

if [ -n "${PYTHON:-}" ]; then
  py="$PYTHON"
elif [ -x .venv/bin/python ]; then
  py=.venv/bin/python
else
  py=python3
fi
version=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ "$version" != "3.11" ]; then
  echo "prepackage: $py is Python $version; the Functions runtime runs 3.11 and would ignore its bytecode (set PYTHON to a 3.11 interpreter)" >&2
  exit 1
fi
# Stale bytecode from tests or local runs (timestamp-checked) is replaced, not shipped.
clean
"$py" -m compileall -q -j 0 --invalidation-mode unchecked-hash trackly migrations function_app.py
echo "prepackage: compiled trackly, migrations and function_app.py for CPython $version"
