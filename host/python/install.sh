#!/usr/bin/env bash
# Install the package (with the component copied in) and its pinned test
# environment into target/python-venv of the repository; prints the venv's
# python. Used by run_tests.sh and scripts/bench.sh.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$root/target/python-venv"
if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv" >&2
fi
"$here/build_component.sh"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements-test.txt" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps "$here" >&2
echo "$venv/bin/python"
