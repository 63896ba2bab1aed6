//! The CLI against the devnet with the usual flags: `chipi-session sandbox
//! --devnet-rpc URL --pin PIN --wallet-out FILE --json` in one process, then
//! create, register, execute, status and revoke in others, as a user would.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

use crate::support::{fresh_recipient, node_url, receipt_status, session_data, strk_balance, STRK};

/// The CLI binary (`CHIPI_SESSION_BIN`, set by scripts/test-devnet.sh).
fn bin() -> Command {
    let path = std::env::var("CHIPI_SESSION_BIN").unwrap_or_else(|_| {
        panic!("CHIPI_SESSION_BIN is not set: build the CLI and point it at target/debug/chipi-session")
    });
    Command::new(path)
}

/// Kills the relay sandbox process when the test ends, failed or not.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn json_of(out: &Output) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON object ({e}): {text}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_runs_the_lifecycle_against_the_devnet() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wallet_path = dir.path().join("w.json");
    let mut child = bin()
        .args([
            "--json",
            "sandbox",
            "--listen",
            "127.0.0.1:0",
            "--devnet-rpc",
        ])
        .arg(node_url())
        .args(["--pin", "1234", "--wallet-out"])
        .arg(&wallet_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the sandbox starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let running = Running(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("the sandbox prints its settings");
    let info: Value = serde_json::from_str(&line).expect("one JSON line");
    assert_eq!(
        info["rpcUrl"],
        Value::from(node_url()),
        "the node's own RPC"
    );
    assert_eq!(
        info["wallet"].as_str(),
        Some(wallet_path.to_str().expect("utf-8 path"))
    );
    let wallet: Value =
        serde_json::from_slice(&std::fs::read(&wallet_path).expect("wallet written"))
            .expect("wallet JSON");
    assert_eq!(wallet["walletType"], "CHIPI");
    let address = wallet["publicKey"].as_str().expect("address").to_owned();
    assert!(wallet["encryptedPrivateKey"]
        .as_str()
        .expect("ciphertext")
        .starts_with("U2FsdGVkX1"));

    let store = dir.path().join("sessions.sqlite");
    let run = |args: &[&str]| -> (bool, Value) {
        let out = bin()
            .env("CHIPI_API_URL", info["apiUrl"].as_str().expect("apiUrl"))
            .env("CHIPI_RPC_URL", info["rpcUrl"].as_str().expect("rpcUrl"))
            .env("CHIPI_API_KEY", info["apiKey"].as_str().expect("apiKey"))
            .env(
                "CHIPI_BEARER_TOKEN",
                info["bearerToken"].as_str().expect("bearerToken"),
            )
            .env("CHIPI_WALLET", &wallet_path)
            .env("CHIPI_ENCRYPT_KEY", "1234")
            .env("CHIPI_STORE", &store)
            .arg("--json")
            .args(args)
            .output()
            .expect("the CLI runs");
        (out.status.success(), json_of(&out))
    };
    let run_ok = |args: &[&str]| -> Value {
        let (success, value) = run(args);
        assert!(success, "{args:?}: {value}");
        value
    };

    let created = run_ok(&["create", "--duration", "3600"]);
    let public_key = created["publicKey"].as_str().expect("key").to_owned();
    let registered = run_ok(&[
        "register",
        "--max-calls",
        "2",
        "--allow",
        "transfer",
        "--wait",
    ]);
    assert_eq!(registered["receipt"]["executionStatus"], "SUCCEEDED");
    let status = run_ok(&["status"]);
    assert_eq!(status["state"], "active");
    assert_eq!(status["maxCalls"], 2);
    assert_eq!(status["callsUsed"], 0);

    let recipient = fresh_recipient();
    for amount in ["7", "8"] {
        let call = format!("{STRK}:transfer:{recipient},{amount},0");
        let done = run_ok(&["execute", "--call", &call, "--wait"]);
        let hash = done["transactionHash"].as_str().expect("hash");
        assert_eq!(receipt_status(hash).await, "SUCCEEDED");
    }
    assert_eq!(strk_balance(&recipient).await, 15);
    assert_eq!(session_data(&address, &public_key).await[2], 2);

    let call = format!("{STRK}:transfer:{recipient},9,0");
    let (success, refused) = run(&["execute", "--call", &call]);
    assert!(!success);
    assert_eq!(refused["error"]["code"], "SESSION_MAX_CALLS_EXCEEDED");
    assert_eq!(strk_balance(&recipient).await, 15);

    let revoked = run_ok(&["revoke", "--wait"]);
    assert_eq!(revoked["receipt"]["executionStatus"], "SUCCEEDED");
    let status = run_ok(&["status"]);
    assert_eq!(status["state"], "revoked");
    assert_eq!(session_data(&address, &public_key).await, [0, 0, 0, 0]);
    drop(running);
}
