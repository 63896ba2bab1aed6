"""Allow-list syntax (same as the Rust host's http_policy.rs)."""

from __future__ import annotations

import pytest

from chipi_session._allow import origin_of_url, parse_allow_list


def test_entries_are_canonical_origins() -> None:
    got = [
        str(o)
        for o in parse_allow_list(
            [
                "api.chipipay.com",
                "API.chipipay.com:443",
                "https://api.chipipay.com/v1",
                "http://127.0.0.1:8080",
                "http://[0:0::1]:5050",
                "node.example:8443",
                "http://example.com",
            ]
        )
    ]
    assert got == [
        "https://api.chipipay.com:443",
        "http://127.0.0.1:8080",
        "http://[::1]:5050",
        "https://node.example:8443",
        "http://example.com:80",
    ]


def test_url_origins() -> None:
    assert str(origin_of_url("https://user:secret@Api.Example.com/v1?x=1")) == "https://api.example.com:443"
    assert str(origin_of_url("http://127.0.0.1:9/rpc")) == "http://127.0.0.1:9"


@pytest.mark.parametrize(
    "entry", ["user:pw@host", "https://user:pw@host", "ftp://host", "host:70000", "host/path", ""]
)
def test_bad_entries(entry: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_allow_list([entry])
    assert "pw" not in str(info.value)


def test_http_and_https_differ() -> None:
    allow = parse_allow_list(["127.0.0.1:8080"])
    assert origin_of_url("http://127.0.0.1:8080/rpc") not in allow
    assert origin_of_url("https://127.0.0.1:8080/rpc") in allow
