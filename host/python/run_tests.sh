#!/usr/bin/env bash
# Install the package (with the component copied in) into target/python-venv
# of the repository and run its tests against the installed copy.
# Needs CHIPI_SESSION_BIN (the chipi-session binary serving the sandbox).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$root/target/python-venv"
if [[ -z "${CHIPI_SESSION_BIN:-}" ]]; then
    echo "error: CHIPI_SESSION_BIN is not set (path of the chipi-session binary)" >&2
    exit 1
fi
if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
fi
"$here/build_component.sh"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements-test.txt"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps "$here"
cd "$here"
exec "$venv/bin/python" -m pytest -p no:cacheprovider "$@"
