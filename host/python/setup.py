"""Build step: put the component inside the package.

The component comes from $CHIPI_SESSION_GUEST_WASM or, in a clone of the
repository, from target/wasm32-wasip2/release/chipi_session_guest.wasm (after
`cargo build --release --target wasm32-wasip2 -p chipi-session-guest`), so
`pip install ./host/python` works on its own. A copy already in the package
(host/python/build_component.sh) is used when neither exists.
"""

import os
import shutil
import sys

from setuptools import setup

HERE = os.path.dirname(os.path.abspath(__file__))
WASM = os.path.join(HERE, "src", "chipi_session", "chipi_session_guest.wasm")


def component_source():
    """The .wasm to package, or None."""
    explicit = os.environ.get("CHIPI_SESSION_GUEST_WASM")
    if explicit:
        if not os.path.isfile(explicit):
            sys.exit(f"error: CHIPI_SESSION_GUEST_WASM={explicit} is not a file")
        return explicit
    root = os.path.normpath(os.path.join(HERE, "..", ".."))
    target = os.environ.get("CARGO_TARGET_DIR") or "target"
    built = os.path.join(root, target, "wasm32-wasip2", "release", "chipi_session_guest.wasm")
    return built if os.path.isfile(built) else None


source = component_source()
if source is not None and os.path.abspath(source) != WASM:
    shutil.copyfile(source, WASM + ".tmp")
    os.replace(WASM + ".tmp", WASM)
if not os.path.isfile(WASM):
    sys.exit(
        f"error: the component is missing ({WASM}). Build it with "
        "`cargo build --release --target wasm32-wasip2 -p chipi-session-guest` in the "
        "repository, or point CHIPI_SESSION_GUEST_WASM at a build of it."
    )

setup()
