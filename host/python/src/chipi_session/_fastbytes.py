"""Fast lowering and lifting of ``list<u8>`` for wasmtime-py 50.

wasmtime-py converts a ``list<u8>`` one element at a time through ctypes
(a Python call and a ctypes pointer per byte), which made the session
records the store moves (a few KiB, several times per execute) cost most of
an execute's CPU time. The C representation of such a list is an array of
``wasmtime_component_val_t`` whose elements all have kind ``U8``; this module
builds and reads that array with extended-slice copies instead, which give
the same values.

It replaces ``ListType.convert_to_c`` / ``convert_from_c`` for byte lists
only (other lists keep the original code), and only when the layout checks
below hold for the installed wasmtime; otherwise nothing is patched.
``PATCHED`` says which.
"""

from __future__ import annotations

import ctypes
from typing import Any

from wasmtime import _ffi as ffi
from wasmtime.component import _types

_VAL = ffi.wasmtime_component_val_t
_SIZE = ctypes.sizeof(_VAL)
_KIND_OFF = getattr(_VAL, "kind").offset
_U8_OFF = getattr(_VAL, "of").offset + getattr(ffi.wasmtime_component_valunion_t, "u8").offset
_KIND_U8 = ffi.WASMTIME_COMPONENT_U8.value
_KIND_LIST = ffi.WASMTIME_COMPONENT_LIST.value

_original_to_c = _types.ListType.convert_to_c
_original_from_c = _types.ListType.convert_from_c


def _layout_ok() -> bool:
    return (
        ctypes.sizeof(ffi.wasmtime_component_valkind_t) == 1
        and ctypes.sizeof(ctypes.c_uint8) == 1
        and _U8_OFF < _SIZE
        and _KIND_OFF < _SIZE
        and _KIND_OFF != _U8_OFF
    )


def _to_c(self: Any, store: Any, val: Any, ptr: Any) -> None:
    if not self._is_bytes():
        return _original_to_c(self, store, val, ptr)
    if not isinstance(val, bytes):
        raise TypeError("expected bytes value")
    n = len(val)
    raw = ffi.wasmtime_component_vallist_t()
    ffi.wasmtime_component_vallist_new_uninit(raw, n)
    if n:
        image = bytearray(n * _SIZE)
        image[_KIND_OFF::_SIZE] = bytes((_KIND_U8,)) * n
        image[_U8_OFF::_SIZE] = val
        ctypes.memmove(raw.data, (ctypes.c_char * len(image)).from_buffer(image), len(image))
    ptr.contents.kind = ffi.WASMTIME_COMPONENT_LIST
    ptr.contents.of.list = raw
    return None


def _from_c(self: Any, c: Any) -> Any:
    if not self._is_bytes():
        return _original_from_c(self, c)
    assert c.kind == _KIND_LIST
    try:
        n = c.of.list.size
        if n == 0:
            return b""
        address = ctypes.cast(c.of.list.data, ctypes.c_void_p).value
        if address is None:
            raise TypeError("list<u8> without data")
        image = ctypes.string_at(address, n * _SIZE)
        if image[_KIND_OFF::_SIZE] != bytes((_KIND_U8,)) * n:
            raise TypeError("list<u8> element of another kind")
        return image[_U8_OFF::_SIZE]
    finally:
        # The same release as the original: u8 elements own nothing.
        ffi.wasmtime_component_valtuple_delete(ctypes.byref(c.of.tuple))


PATCHED = False
if _layout_ok():
    _types.ListType.convert_to_c = _to_c  # type: ignore[method-assign]
    _types.ListType.convert_from_c = _from_c  # type: ignore[method-assign]
    PATCHED = True
