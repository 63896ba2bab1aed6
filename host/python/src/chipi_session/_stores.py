"""Session stores: where the component keeps one record per wallet.

A store is any object with

- ``get(key: str) -> bytes | None`` and
- ``compare_and_swap(key: str, expected: bytes | None, new: bytes | None) -> bool``
  (atomic: replace the value when it equals ``expected``, ``None`` meaning
  absent; ``new`` of ``None`` deletes; ``False`` when the current value
  differs).

Values are opaque bytes; the component only stores ciphertext and public data.
A method that raises is reported to the component as a store failure
(``STORE_ERROR``).
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import tempfile
import threading
from typing import Dict, Optional, Protocol, Union



class SessionStore(Protocol):
    """What the engine needs from a store (see the module documentation)."""

    def get(self, key: str) -> Optional[bytes]:
        """The value under ``key``, or ``None`` when there is none."""
        ...  # pragma: no cover

    def compare_and_swap(self, key: str, expected: Optional[bytes], new: Optional[bytes]) -> bool:
        """Atomically replace the value of ``key`` with ``new`` when it equals
        ``expected``; ``False`` when it differs."""
        ...  # pragma: no cover


class MemoryStore:
    """A store in this process's memory (a dict behind a lock); lost on exit."""

    def __init__(self) -> None:
        self._values: Dict[str, bytes] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> Optional[bytes]:
        """The value under ``key``, or ``None``."""
        with self._lock:
            return self._values.get(key)

    def compare_and_swap(self, key: str, expected: Optional[bytes], new: Optional[bytes]) -> bool:
        """Replace the value of ``key`` when it equals ``expected``."""
        with self._lock:
            if self._values.get(key) != expected:
                return False
            if new is None:
                self._values.pop(key, None)
            else:
                self._values[key] = bytes(new)
            return True


class FileStore:
    """A store in one JSON file (``{key: base64 value}``), safe for several
    processes on one machine.

    Every compare-and-swap takes an exclusive ``fcntl.flock`` on
    ``PATH.lock``, reads the file, compares, and writes a new file (temporary
    file in the same directory, fsync, ``os.replace``, fsync of the
    directory), so readers always see a whole file and no update is lost.
    The files are created with mode 0600. POSIX only.
    """

    def __init__(self, path: Union[str, "os.PathLike[str]"]) -> None:
        if importlib.util.find_spec("fcntl") is None:  # pragma: no cover - POSIX only
            raise RuntimeError("FileStore needs fcntl (a POSIX system)")
        self.path = os.path.abspath(os.fspath(path))
        self._dir = os.path.dirname(self.path)
        self._lock_path = self.path + ".lock"
        self._thread_lock = threading.Lock()

    def _read(self) -> Dict[str, str]:
        try:
            with open(self.path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return {}
        if not raw.strip():
            return {}
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError(f"{self.path} does not hold a JSON object")
        return data

    def get(self, key: str) -> Optional[bytes]:
        """The value under ``key``, or ``None``."""
        value = self._read().get(key)
        if value is None:
            return None
        return base64.b64decode(value)

    def compare_and_swap(self, key: str, expected: Optional[bytes], new: Optional[bytes]) -> bool:
        """Replace the value of ``key`` when it equals ``expected``, under an
        exclusive lock shared with other processes."""
        import fcntl

        with self._thread_lock:
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                data = self._read()
                current = data.get(key)
                current_bytes = None if current is None else base64.b64decode(current)
                if current_bytes != expected:
                    return False
                if new is None:
                    if key not in data:
                        return True
                    del data[key]
                else:
                    data[key] = base64.b64encode(bytes(new)).decode("ascii")
                self._write(data)
                return True
            finally:
                os.close(fd)  # also releases the flock

    def _write(self, data: Dict[str, str]) -> None:
        fd, tmp = tempfile.mkstemp(dir=self._dir, prefix=".chipi-store-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(json.dumps(data, sort_keys=True).encode("utf-8"))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        dir_fd = os.open(self._dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
