//! Helpers shared by the CLI's integration tests: the `chipi-session`
//! binary isolated from the caller's environment, and its `--json` output.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

/// The `chipi-session` binary built for this test run, with every
/// `CHIPI_*` variable of the caller's environment removed and the compiled
/// component cached inside the build directory.
pub(crate) fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chipi-session"));
    // Isolate from the caller's environment.
    for var in [
        "CHIPI_API_URL",
        "CHIPI_RPC_URL",
        "CHIPI_API_KEY",
        "CHIPI_BEARER_TOKEN",
        "CHIPI_WALLET",
        "CHIPI_ENCRYPT_KEY",
        "CHIPI_STORE",
        "CHIPI_CHAIN_ID",
        "CHIPI_SESSION_COMPONENT",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("XDG_CACHE_HOME", cache_home());
    cmd
}

/// Where the tests keep the compiled component (`target/component-cache`).
pub(crate) fn cache_home() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/component-cache")
}

/// The one JSON object a `--json` run printed on stdout.
pub(crate) fn json_of(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON object ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}
