"""The engine keeps the process's memory (keys included) out of core dumps
on Linux (the platform these tests run on) unless told otherwise. Each case
runs in a fresh interpreter: the setting is process-wide."""

from __future__ import annotations

import json
import subprocess
import sys


PROBE = """
import json, sys
from chipi_session import SessionEngine, core_dumps_excluded
engine = SessionEngine(allow_core_dumps=(sys.argv[1] == "allow"))
with open("/proc/self/coredump_filter") as f:
    dump_filter = int(f.read(), 16)
print(json.dumps({"excluded": core_dumps_excluded(), "filter": dump_filter}))
engine.close()
"""


def probe(mode: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_an_engine_excludes_the_process_from_core_dumps() -> None:
    assert probe("default") == {"excluded": True, "filter": 0}


def test_allow_core_dumps_leaves_them_alone() -> None:
    allowed = probe("allow")
    assert allowed["excluded"] is False
    assert allowed["filter"] != 0
