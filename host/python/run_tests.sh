#!/usr/bin/env bash
# Install the package (with the component copied in) into target/python-venv
# of the repository (install.sh) and run its tests against the installed copy.
# Needs CHIPI_SESSION_BIN (the chipi-session binary serving the sandbox).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -z "${CHIPI_SESSION_BIN:-}" ]]; then
    echo "error: CHIPI_SESSION_BIN is not set (path of the chipi-session binary)" >&2
    exit 1
fi
python="$("$here/install.sh")"
cd "$here"
exec "$python" -m pytest -p no:cacheprovider "$@"
