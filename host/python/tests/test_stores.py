"""MemoryStore and FileStore semantics, and FileStore across processes."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from typing import List

import pytest

from chipi_session import FileStore, MemoryStore


@pytest.mark.parametrize("kind", ["memory", "file"])
def test_compare_and_swap_semantics(kind: str, tmp_path) -> None:
    store = MemoryStore() if kind == "memory" else FileStore(tmp_path / "s.json")
    assert store.get("k") is None
    assert store.compare_and_swap("k", b"x", b"y") is False  # absent != b"x"
    assert store.compare_and_swap("k", None, b"\x00v1") is True
    assert store.get("k") == b"\x00v1"
    assert store.compare_and_swap("k", None, b"v2") is False  # present != absent
    assert store.compare_and_swap("k", b"other", b"v2") is False
    assert store.get("k") == b"\x00v1"
    assert store.compare_and_swap("k", b"\x00v1", b"v2") is True
    assert store.compare_and_swap("k2", None, b"z") is True
    assert store.compare_and_swap("k", b"v2", None) is True  # delete
    assert store.get("k") is None
    assert store.get("k2") == b"z"
    assert store.compare_and_swap("k", None, None) is True  # absent stays absent


def test_file_store_persists_as_private_json(tmp_path) -> None:
    path = tmp_path / "s.json"
    FileStore(path).compare_and_swap("a", None, b"\xff\x00")
    assert FileStore(str(path)).get("a") == b"\xff\x00"
    assert json.loads(path.read_text()) == {"a": "/wA="}
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    # No temporary file is left behind.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.json", "s.json.lock"]


INCREMENT = r"""
import sys
from chipi_session import FileStore
store = FileStore(sys.argv[1])
for _ in range(int(sys.argv[2])):
    while True:
        cur = store.get("counter")
        n = int(cur or b"0")
        if store.compare_and_swap("counter", cur, str(n + 1).encode()):
            break
"""


def test_two_processes_increment_exactly(tmp_path) -> None:
    path = str(tmp_path / "counter.json")
    per_process = 150
    procs: List[subprocess.Popen] = []
    try:
        for _ in range(2):
            procs.append(
                subprocess.Popen([sys.executable, "-c", INCREMENT, path, str(per_process)])
            )
        codes = [p.wait(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert codes == [0, 0]
    assert FileStore(path).get("counter") == str(2 * per_process).encode()
