"""Keeping keys out of core dumps (Linux).

A Python process running the engine holds unlocked session keys and encrypt
keys in the component's linear memory and, briefly, in its own heap.
``exclude_from_core_dumps()`` writes ``0`` to ``/proc/self/coredump_filter``
(no anonymous memory in a core dump, even where dumps of non-dumpable
processes are enabled) and marks the process non-dumpable
(``prctl(PR_SET_DUMPABLE, 0)``: no core dump with the default
``fs.suid_dumpable = 0``, no ``/proc/<pid>/mem`` or ``ptrace`` access for
other processes of the same user). The setting is process-wide; elsewhere it
does nothing. ``SessionEngine`` calls it unless ``allow_core_dumps=True``.
"""

from __future__ import annotations

import ctypes
import sys

_PR_GET_DUMPABLE = 3
_PR_SET_DUMPABLE = 4


def _prctl(option: int, arg: int) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.restype = ctypes.c_int
    return int(libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0))


def exclude_from_core_dumps() -> None:
    """Exclude this process's memory from core dumps (Linux; idempotent).

    Raises ``OSError`` when the process cannot be marked non-dumpable.
    """
    if not sys.platform.startswith("linux"):
        return
    # The filter first: once non-dumpable, a process of an ordinary user no
    # longer owns its /proc files.
    try:
        with open("/proc/self/coredump_filter", "w", encoding="ascii") as f:
            f.write("0")
    except FileNotFoundError:
        pass  # no /proc (a minimal container): the prctl below still applies
    if _prctl(_PR_SET_DUMPABLE, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, "prctl(PR_SET_DUMPABLE, 0) failed")


def core_dumps_excluded() -> bool:
    """True when this process is non-dumpable (Linux); otherwise False."""
    if not sys.platform.startswith("linux"):
        return False
    return _prctl(_PR_GET_DUMPABLE, 0) == 0
