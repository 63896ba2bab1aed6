"""Test harness: a sandbox (the `chipi-session sandbox` CLI) per module.

The sandbox binary comes from `CHIPI_SESSION_BIN`; without it every test that
needs a sandbox fails (never skips). Each sandbox listens on a free
127.0.0.1 port and is killed in teardown, even when a test fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest

import chipi_session

PIN = "1234"
#: Token contract of the transfers (any address works with the sandbox).
TOKEN = "0x049d36570d4e46f48e99674bd3fcc84644ddd6b96f7c741b1562b82f9e004dc7"
#: Recipient of the transfers.
RECIPIENT = "0xc0ffee"
#: Repository root (host/python/tests/conftest.py -> ../../..).
REPO_ROOT = Path(__file__).resolve().parents[3]


def transfer(amount: int) -> Dict[str, Any]:
    """One transfer call; distinct amounts make distinct intents."""
    return {
        "contract_address": TOKEN,
        "entrypoint": "transfer",
        "calldata": [RECIPIENT, str(amount), "0x0"],
    }


def chipi_bin() -> str:
    """The CLI binary, from CHIPI_SESSION_BIN; fails the test when missing."""
    path = os.environ.get("CHIPI_SESSION_BIN")
    if not path:
        pytest.fail(
            "CHIPI_SESSION_BIN is not set: point it at the chipi-session binary "
            "(e.g. target/release/chipi-session)",
            pytrace=False,
        )
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(f"CHIPI_SESSION_BIN={path} is not an executable file", pytrace=False)
    return path


class Sandbox:
    """A running `chipi-session sandbox` process and its admin endpoints."""

    def __init__(self, workdir: str) -> None:
        self.workdir = workdir
        wallet_path = os.path.join(workdir, "wallet.json")
        out_path = os.path.join(workdir, "sandbox.out")
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHIPI_")}
        self._out = open(out_path, "wb")
        self.proc = subprocess.Popen(
            [
                chipi_bin(),
                "--json",
                "sandbox",
                "--listen",
                "127.0.0.1:0",
                "--pin",
                PIN,
                "--wallet-out",
                wallet_path,
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            info = self._wait_for_info(out_path)
            self.api_url: str = info["apiUrl"]
            self.rpc_url: str = info["rpcUrl"]
            self.api_key: str = info["apiKey"]
            self.token: str = info["bearerToken"]
            with open(wallet_path) as f:
                self.wallet: Dict[str, Any] = json.load(f)
            self.base = self.api_url.rsplit("/v1", 1)[0]
        except BaseException:
            self.stop()
            raise

    def _wait_for_info(self, out_path: str) -> Dict[str, Any]:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with open(out_path, "rb") as f:
                data = f.read()
            if b"\n" in data:
                line = data.split(b"\n", 1)[0]
                try:
                    return json.loads(line)
                except ValueError:
                    raise AssertionError(f"sandbox printed {line!r}, not its JSON line") from None
            if self.proc.poll() is not None:
                raise AssertionError(f"sandbox exited with {self.proc.returncode}: {data!r}")
            time.sleep(0.02)
        raise AssertionError("sandbox did not print its URLs within 30 s")

    def stop(self) -> None:
        """Kill the process (idempotent)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._out.close()

    def admin(self, method: str, path: str, body: Optional[Any] = None) -> Any:
        """Call an admin endpoint (`/sandbox/...`) and decode its JSON."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("content-type", "application/json")
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def new_wallet(self, wallet_type: str = "CHIPI", pin: str = PIN) -> Dict[str, Any]:
        """A new wallet in the sandbox, as Chipi returns it."""
        out = self.admin("POST", "/sandbox/wallets", {"pin": pin, "walletType": wallet_type})
        return {k: out[k] for k in ("publicKey", "encryptedPrivateKey", "walletType")}

    def requests(self) -> List[Dict[str, Any]]:
        """Every non-admin request the sandbox received."""
        return self.admin("GET", "/sandbox/requests")

    def transactions(self, wallet: Optional[str] = None) -> List[Dict[str, Any]]:
        """Executed transactions (of one wallet when given)."""
        txs = self.admin("GET", "/sandbox/transactions")
        if wallet is None:
            return txs
        return [t for t in txs if int(t["wallet"], 16) == int(wallet, 16)]

    def config(self, **over: Any) -> Dict[str, Any]:
        """The session config for this sandbox (snake_case)."""
        config: Dict[str, Any] = {
            "api_base_url": self.api_url,
            "api_key": self.api_key,
            "rpc_urls": [self.rpc_url],
        }
        config.update(over)
        return config


def start_sandbox() -> Sandbox:
    """A new sandbox in its own temporary directory."""
    workdir = tempfile.mkdtemp(prefix="chipi-py-sandbox-")
    return Sandbox(workdir)


def running_sandbox() -> Iterator[Sandbox]:
    """A sandbox for the fixture's scope, stopped in teardown."""
    sb = start_sandbox()
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    """One sandbox shared by the tests of a module."""
    yield from running_sandbox()


@pytest.fixture
def fresh_sandbox() -> Iterator[Sandbox]:
    """A sandbox of one test (for assertions on everything it received)."""
    yield from running_sandbox()


@pytest.fixture
def engines() -> Iterator[List[chipi_session.SessionEngine]]:
    """Engines a test makes, closed in teardown."""
    made: List[chipi_session.SessionEngine] = []
    try:
        yield made
    finally:
        for engine in made:
            try:
                engine.close()
            except Exception:
                pass


def pytest_configure(config: Any) -> None:
    """The tests run against the installed package, not the source tree."""
    location = os.path.dirname(chipi_session.__file__)
    if "site-packages" not in location and "dist-packages" not in location:
        raise pytest.UsageError(
            f"chipi_session is imported from {location}, not an installed package: "
            "run host/python/run_tests.sh"
        )
