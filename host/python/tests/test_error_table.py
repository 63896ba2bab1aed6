"""The package's error code table equals the component's
(guest/src/protocol/error_table.rs), so they cannot drift."""

from __future__ import annotations

import re

from chipi_session import ERROR_CODES

from conftest import REPO_ROOT


def kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def test_error_codes_equal_the_guest_table() -> None:
    source = (REPO_ROOT / "guest" / "src" / "protocol" / "error_table.rs").read_text()
    rows = re.findall(r"^\s*(\w+)\s*=>\s*(\w+)\s*,\s*\"([A-Z_]+)\"\s*,\s*(chipi|local)\s*;", source, re.M)
    assert len(rows) >= 17, "error_table.rs rows not found"
    table = {kebab(wit): code for _variant, wit, code, _origin in rows}
    assert ERROR_CODES == table
    assert list(ERROR_CODES) == [kebab(wit) for _v, wit, _c, _o in rows]


def test_error_codes_are_the_wit_cases() -> None:
    wit = (REPO_ROOT / "wit" / "session.wit").read_text()
    body = wit[wit.index("variant session-error {") :]
    body = body[: body.index("\n    }")]
    cases = re.findall(r"^\s+([a-z][a-z-]*)\(", body, re.M)
    assert cases == list(ERROR_CODES)
