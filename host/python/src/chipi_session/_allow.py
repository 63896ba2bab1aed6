"""Allow-list of the origins a session's configuration may name.

Same syntax as the Rust host (``host/lib/src/runtime/http_policy.rs``): an
entry is ``http(s)://HOST[:PORT]`` (or a full URL, path ignored), or a bare
``HOST[:PORT]`` meaning ``https`` only; default ports 443 and 80; entries with
userinfo are refused. Origins compare as ``(scheme, host, port)`` with hosts
lowercased and IPv6 literals canonical, so an ``https`` entry never allows
plain ``http`` to the same host and port.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Iterable, List, NamedTuple
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


class Origin(NamedTuple):
    """One ``(scheme, host, port)`` origin."""

    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


def _redact(raw: str) -> str:
    """``raw`` with any ``user:password@`` part replaced by ``***@``."""
    return re.sub(r"(^|//)[^/@]*@", r"\1***@", raw)


def _canonical_host(host: str) -> str:
    host = host.lower()
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if address.version == 6:
        return f"[{address.compressed}]"
    return str(address)


def origin_of_url(raw: str) -> Origin:
    """The origin of an ``http``/``https`` URL (userinfo, path and query are
    ignored). Raises ``ValueError`` with a message that never echoes
    userinfo."""
    if not isinstance(raw, str):
        raise ValueError(f"URL must be a string, not {type(raw).__name__}")
    try:
        parts = urlsplit(raw.strip())
        port = parts.port
    except ValueError as err:
        raise ValueError(f"invalid URL `{_redact(raw)}`: {err}") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError(f"URL `{_redact(raw)}` must use http or https")
    host = parts.hostname
    if not host:
        raise ValueError(f"URL `{_redact(raw)}` has no host")
    return Origin(scheme, _canonical_host(host), port if port is not None else _DEFAULT_PORTS[scheme])


def parse_entry(raw: str) -> Origin:
    """One allow-list entry, canonicalised. Raises ``ValueError``."""
    if not isinstance(raw, str):
        raise ValueError(f"allowed host must be a string, not {type(raw).__name__}")
    entry = raw.strip()
    if "@" in entry:
        raise ValueError(f"allowed host `{_redact(entry)}` must not contain userinfo")
    if "://" in entry:
        return origin_of_url(entry)
    try:
        parts = urlsplit("https://" + entry)
        port = parts.port
    except ValueError as err:
        raise ValueError(f"invalid allowed host `{entry}`: {err}") from None
    if not parts.hostname or parts.path or parts.query or parts.fragment:
        raise ValueError(f"invalid allowed host `{entry}`")
    return Origin("https", _canonical_host(parts.hostname), port if port is not None else 443)


def parse_allow_list(entries: Iterable[str]) -> List[Origin]:
    """Distinct canonical origins of ``entries``. Raises ``ValueError``."""
    if isinstance(entries, str):
        raise ValueError("allow_hosts must be a list of strings, not one string")
    out: List[Origin] = []
    for raw in entries:
        origin = parse_entry(raw)
        if origin not in out:
            out.append(origin)
    return out
