"""Build check: the component must have been copied into the package."""

import os
import sys

from setuptools import setup

HERE = os.path.dirname(os.path.abspath(__file__))
WASM = os.path.join(HERE, "src", "chipi_session", "chipi_session_guest.wasm")

if not os.path.isfile(WASM):
    sys.exit(
        f"error: {WASM} is missing. Copy the component first: "
        "host/python/build_component.sh (it takes $CHIPI_SESSION_GUEST_WASM, by default "
        "target/wasm32-wasip2/release/chipi_session_guest.wasm of the repository)."
    )

setup()
