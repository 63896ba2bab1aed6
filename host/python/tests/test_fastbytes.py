"""The fast list<u8> conversions give what wasmtime-py's own code gives."""

from __future__ import annotations

import ctypes
import os

import wasmtime
from wasmtime import _ffi as ffi
from wasmtime import component as wc

import chipi_session
from chipi_session import _fastbytes


def byte_list_type() -> wc.ListType:
    engine = wasmtime.Engine()
    comp = wc.Component.from_file(engine, chipi_session.component_path())
    store_iface = comp.type.imports(engine)["chipi:session/store@0.5.0"].ty
    get = store_iface.exports(engine)["get"].ty
    found = dict(get.result.cases)["found"]
    assert isinstance(found, wc.ListType) and found._is_bytes()
    return found


def test_fast_byte_lists_match_the_original_conversions() -> None:
    assert _fastbytes.PATCHED
    ty = byte_list_type()
    for value in (b"", b"\x00", bytes(range(256)), os.urandom(5000)):
        fast = ffi.wasmtime_component_val_t()
        ty.convert_to_c(None, value, ctypes.pointer(fast))
        slow = ffi.wasmtime_component_val_t()
        _fastbytes._original_to_c(ty, None, value, ctypes.pointer(slow))
        n = len(value)
        assert fast.of.list.size == slow.of.list.size == n
        for i in range(min(n, 300)):
            assert (fast.of.list.data[i].kind, fast.of.list.data[i].of.u8) == (
                slow.of.list.data[i].kind,
                slow.of.list.data[i].of.u8,
            )
        # Each lifts back to the value with either implementation.
        assert ty.convert_from_c(fast) == value
        assert _fastbytes._original_from_c(ty, slow) == value


def test_other_lists_keep_the_original_code() -> None:
    engine = wasmtime.Engine()
    comp = wc.Component.from_file(engine, chipi_session.component_path())
    session = comp.type.exports(engine)["chipi:session/session@0.5.0"].ty
    register = session.exports(engine)["[method]wallet-session.register-session"].ty
    options = dict(register.params)["options"]
    strings = dict(options.fields)["allowed-entrypoints"]
    assert isinstance(strings, wc.ListType) and not strings._is_bytes()
    val = ffi.wasmtime_component_val_t()
    strings.convert_to_c(None, ["transfer", "0x1"], ctypes.pointer(val))
    assert strings.convert_from_c(val) == ["transfer", "0x1"]
