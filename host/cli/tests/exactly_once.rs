//! At most one transaction per intent through `chipi-session` processes:
//! retries from several processes, a storm of processes killed at random
//! points, and `--wait` failing or interrupted after the send (the hash is
//! always reported). Each test runs its own sandbox and SQLite store (and,
//! for the shared-store test, a Redis prefix of its own on
//! `CHIPI_TEST_REDIS_URL`).

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chipi_session_sandbox::{Faults, Sandbox, SandboxConfig, SandboxWalletType, TxSigner};
use common::{bin, json_of};
use serde_json::Value;

const PIN: &str = "1357";
const TOKEN: &str = "0x4718f5a0fc34cc1af16a1cdee98ffb20c31f5cd61d6ab07201858f4287c938d";
const RECIPIENT: &str = "0xc0ffee";
const EXECUTE: &str = "/v1/transactions/execute-sponsored-transaction";

/// Exit code of "sent, not confirmed" (`--wait` failed after the send).
const EXIT_SENT_UNCONFIRMED: i32 = 4;
/// Exit code of an interrupted wait.
const EXIT_INTERRUPTED: i32 = 130;

/// A sandbox, a wallet file and a session store for `chipi-session` runs.
struct Bench {
    sandbox: Sandbox,
    api_key: String,
    bearer: String,
    wallet_path: PathBuf,
    store: String,
    _dir: tempfile::TempDir,
}

impl Bench {
    /// A sandbox with a CHIPI wallet and a SQLite store in a new directory.
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = format!("sqlite:{}", dir.path().join("sessions.sqlite").display());
        Self::start_with_store(dir, store)
    }

    fn start_with_store(dir: tempfile::TempDir, store: String) -> Self {
        let config = SandboxConfig::default();
        let (api_key, bearer) = (config.api_key.clone(), config.bearer_token.clone());
        let sandbox =
            Sandbox::start_in_thread(config, ([127, 0, 0, 1], 0).into()).expect("sandbox");
        let wallet = sandbox.create_wallet(PIN, SandboxWalletType::Chipi);
        let wallet_path = dir.path().join("wallet.json");
        std::fs::write(&wallet_path, serde_json::to_string(&wallet).expect("json"))
            .expect("write the wallet file");
        Self {
            sandbox,
            api_key,
            bearer,
            wallet_path,
            store,
            _dir: dir,
        }
    }

    /// `chipi-session --json --timeout 5 ARGS`, configured for the sandbox.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = self.human_command(&[]);
        cmd.arg("--json").args(args);
        cmd
    }

    /// `chipi-session --timeout 5 ARGS` (human output).
    fn human_command(&self, args: &[&str]) -> Command {
        let mut cmd = bin();
        cmd.env("CHIPI_API_URL", self.sandbox.api_url())
            .env("CHIPI_RPC_URL", self.sandbox.rpc_url())
            .env("CHIPI_API_KEY", &self.api_key)
            .env("CHIPI_BEARER_TOKEN", &self.bearer)
            .env("CHIPI_WALLET", &self.wallet_path)
            .env("CHIPI_ENCRYPT_KEY", PIN)
            .env("CHIPI_STORE", &self.store)
            .args(["--timeout", "5"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Run to completion: exit code and the JSON printed.
    fn run(&self, args: &[&str]) -> (i32, Value) {
        let out = self.command(args).output().expect("run chipi-session");
        (out.status.code().unwrap_or(-1), json_of(&out))
    }

    fn run_ok(&self, args: &[&str]) -> Value {
        let (code, value) = self.run(args);
        assert_eq!(code, 0, "{args:?}: {value}");
        value
    }

    /// `create`, then `register --max-calls N`.
    fn register(&self, max_calls: u32) {
        self.run_ok(&["create"]);
        self.run_ok(&["register", "--max-calls", &max_calls.to_string()]);
    }

    /// Session-signed transactions by transferred amount.
    fn transfers(&self) -> BTreeMap<u64, Vec<String>> {
        let mut by_amount: BTreeMap<u64, Vec<String>> = BTreeMap::new();
        for t in self.sandbox.transactions() {
            if !matches!(t.signer, TxSigner::Session(_)) {
                continue;
            }
            for c in &t.calls {
                if let Some(a) = c.calldata.get(1) {
                    if let Ok(amount) = u64::from_str_radix(a.trim_start_matches("0x"), 16) {
                        by_amount.entry(amount).or_default().push(t.hash.clone());
                    }
                }
            }
        }
        by_amount
    }

    /// Every transaction hash the sandbox executed.
    fn hashes(&self) -> Vec<String> {
        self.sandbox
            .transactions()
            .into_iter()
            .map(|t| t.hash)
            .collect()
    }

    fn executes_received(&self) -> usize {
        self.sandbox
            .requests()
            .iter()
            .filter(|r| r.path == EXECUTE)
            .count()
    }
}

fn call_of(amount: u64) -> String {
    format!("{TOKEN}:transfer:{RECIPIENT},{amount},0")
}

/// Receipts fail (503) until the faults are cleared.
fn receipts_failing() -> Faults {
    Faults {
        status: Some(503),
        rpc_method: Some("starknet_getTransactionReceipt".into()),
        ..Faults::default()
    }
}

/// The error object of a `--json` failure that names a sent transaction.
fn sent_error(value: &Value) -> (&str, &str) {
    let error = &value["error"];
    let code = error["code"].as_str().expect("error.code");
    let hash = error["transactionHash"]
        .as_str()
        .unwrap_or_else(|| panic!("the error names the sent transaction: {value}"));
    (code, hash)
}

#[test]
fn a_wait_failing_after_the_send_reports_the_hash_and_a_retry_sends_nothing() {
    let b = Bench::start();
    b.run_ok(&["create"]);
    b.sandbox.set_faults(receipts_failing());
    let register = [
        "register",
        "--max-calls",
        "10",
        "--wait",
        "--wait-timeout",
        "2",
        "--idempotency-key",
        "register-1",
    ];
    let (code, value) = b.run(&register);
    assert_eq!(code, EXIT_SENT_UNCONFIRMED, "{value}");
    let (error, registered) = sent_error(&value);
    assert_eq!(error, "TRANSACTION_PENDING");
    assert!(b.hashes().iter().any(|h| h == registered), "{value}");
    assert_eq!(
        value["error"]["cause"]["code"], "TRANSACTION_PENDING",
        "{value}"
    );

    let execute = [
        "execute",
        "--call",
        &call_of(5),
        "--wait",
        "--wait-timeout",
        "2",
        "--idempotency-key",
        "pay-5",
    ];
    let (code, value) = b.run(&execute);
    assert_eq!(code, EXIT_SENT_UNCONFIRMED, "{value}");
    let (_, paid) = sent_error(&value);
    let paid = paid.to_owned();
    assert_eq!(b.transfers()[&5], vec![paid.clone()], "it landed");
    // The receipts come back: the same command waits for the same transaction.
    b.sandbox.set_faults(Faults::default());
    let again = b.run_ok(&execute);
    assert_eq!(again["transactionHash"], paid.as_str(), "{again}");
    assert_eq!(again["receipt"]["executionStatus"], "SUCCEEDED", "{again}");
    assert_eq!(b.transfers()[&5].len(), 1, "nothing new sent");
    let again = b.run_ok(&register);
    assert_eq!(again["transactionHash"], registered, "{again}");
    let waited = b.run_ok(&["wait", &paid]);
    assert_eq!(
        waited["receipt"]["transactionHash"],
        paid.as_str(),
        "{waited}"
    );

    b.sandbox.set_faults(receipts_failing());
    let revoke = [
        "revoke",
        "--wait",
        "--wait-timeout",
        "2",
        "--idempotency-key",
        "rv",
    ];
    let (code, value) = b.run(&revoke);
    assert_eq!(code, EXIT_SENT_UNCONFIRMED, "{value}");
    let (_, revoked) = sent_error(&value);
    let revoked = revoked.to_owned();
    b.sandbox.set_faults(Faults::default());
    let again = b.run_ok(&revoke);
    assert_eq!(again["transactionHash"], revoked.as_str(), "{again}");
    assert_eq!(b.hashes().len(), 3, "register, one transfer, revoke");

    // Human output names the hash and says how to check it.
    b.run_ok(&["create", "--replace"]);
    b.run_ok(&["register", "--max-calls", "10"]);
    b.sandbox.set_faults(receipts_failing());
    let out = b
        .human_command(&[
            "execute",
            "--call",
            &call_of(6),
            "--wait",
            "--wait-timeout",
            "2",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(EXIT_SENT_UNCONFIRMED));
    let hash = b.transfers()[&6][0].clone();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&hash), "{stderr}");
    assert!(stderr.contains("chipi-session wait"), "{stderr}");
}

#[test]
fn ctrl_c_while_waiting_reports_the_hash_and_exits_130() {
    let b = Bench::start();
    b.register(10);
    b.sandbox.set_faults(receipts_failing());
    let mut child = b
        .command(&[
            "execute",
            "--call",
            &call_of(5),
            "--wait",
            "--wait-timeout",
            "60",
        ])
        .spawn()
        .expect("start");
    let started = Instant::now();
    while !b.transfers().contains_key(&5) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the transfer was sent"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Now it waits for the receipt.
    std::thread::sleep(Duration::from_millis(500));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(status.success());
    let out = wait_output(&mut child, Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(EXIT_INTERRUPTED));
    let value = json_of(&out);
    let (code, hash) = sent_error(&value);
    assert_eq!(code, "INTERRUPTED");
    assert_eq!(b.transfers()[&5], vec![hash.to_owned()]);
}

/// Wait for `child` (at most `limit`, then kill it) and collect its output.
fn wait_output(child: &mut Child, limit: Duration) -> Output {
    let started = Instant::now();
    while child.try_wait().expect("try_wait").is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    use std::io::Read as _;
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_end(&mut stdout);
    }
    if let Some(mut s) = child.stderr.take() {
        let _ = s.read_to_end(&mut stderr);
    }
    Output {
        status: child.wait().expect("wait"),
        stdout,
        stderr,
    }
}

#[test]
fn one_key_from_two_processes_at_once_is_one_transaction() {
    let b = Bench::start();
    b.register(20);
    for round in 0..3u64 {
        let amount = 100 + round;
        let key = format!("order-{round}");
        let call = call_of(amount);
        let args = [
            "execute",
            "--call",
            call.as_str(),
            "--idempotency-key",
            key.as_str(),
        ];
        let mut children: Vec<Child> = (0..2)
            .map(|_| b.command(&args).spawn().expect("start"))
            .collect();
        for child in &mut children {
            let out = wait_output(child, Duration::from_secs(60));
            let value = json_of(&out);
            let code = out.status.code();
            assert!(
                code == Some(0) || value["error"]["code"] == "TRANSACTION_PENDING",
                "{value}"
            );
        }
        assert_eq!(
            b.transfers()[&amount].len(),
            1,
            "round {round}: one transaction"
        );
        let again = b.run_ok(&args);
        assert_eq!(again["transactionHash"], b.transfers()[&amount][0].as_str());
    }
    // The same calls under two keys: two payments, on purpose.
    let call = call_of(7);
    b.run_ok(&["execute", "--call", &call, "--idempotency-key", "a"]);
    b.run_ok(&["execute", "--call", &call, "--idempotency-key", "b"]);
    assert_eq!(b.transfers()[&7].len(), 2);
}

#[test]
fn the_same_calls_from_four_processes_while_one_is_in_flight_are_one_transaction() {
    let b = Bench::start();
    b.register(20);
    // The first answer takes 3 s: the others start while it is in flight.
    b.sandbox.set_faults(Faults {
        delay_after_apply_ms: Some(3_000),
        endpoint: Some("execute-sponsored-transaction".into()),
        remaining: Some(1),
        ..Faults::default()
    });
    let call = call_of(9);
    let args = ["execute", "--call", call.as_str()];
    let before = b.executes_received();
    let mut first = b.command(&args).spawn().expect("start");
    let started = Instant::now();
    while b.executes_received() == before {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the first was sent"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut others: Vec<Child> = (0..3)
        .map(|_| b.command(&args).spawn().expect("start"))
        .collect();
    for child in &mut others {
        let out = wait_output(child, Duration::from_secs(60));
        let value = json_of(&out);
        // In flight, or already seen landed on the account (its answer is
        // still on its way): either way the first transaction's outcome.
        assert!(
            ["TRANSACTION_PENDING", "ALREADY_EXECUTED"]
                .contains(&value["error"]["code"].as_str().unwrap_or_default()),
            "{value}"
        );
    }
    let out = wait_output(&mut first, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "{}", json_of(&out));
    assert_eq!(b.transfers()[&9].len(), 1);
}

#[test]
fn a_status_by_another_process_on_a_shared_redis_store_does_not_release_the_intent() {
    let base = std::env::var("CHIPI_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .expect(
            "CHIPI_TEST_REDIS_URL is not set: run scripts/test.sh or export the URL printed by \
             scripts/redis.sh start DIR",
        );
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    let separator = if base.contains('?') { '&' } else { '?' };
    let store = format!(
        "{}{separator}prefix=exactly-once-{}-{nanos}:",
        base.trim(),
        std::process::id()
    );
    let b = Bench::start_with_store(tempfile::tempdir().expect("tempdir"), store);
    b.register(10);
    b.sandbox.set_faults(Faults {
        drop_answer: true,
        endpoint: Some("execute-sponsored-transaction".into()),
        remaining: Some(1),
        ..Faults::default()
    });
    let call = call_of(5);
    let (code, value) = b.run(&["execute", "--call", &call]);
    assert_eq!(code, 1, "{value}");
    assert_eq!(value["error"]["code"], "TRANSACTION_PENDING", "{value}");
    let status = b.run_ok(&["status"]);
    assert_eq!(status["remainingCalls"], 9, "{status}");
    let (code, value) = b.run(&["execute", "--call", &call]);
    assert_eq!(code, 1, "{value}");
    assert_eq!(value["error"]["code"], "ALREADY_EXECUTED", "{value}");
    assert_eq!(b.transfers()[&5].len(), 1);
}

/// A small deterministic generator (xorshift64*), seeded per run and printed
/// so a failing storm can be replayed with `CHIPI_TEST_STORM_SEED`.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[test]
fn a_storm_of_killed_executes_lands_no_intent_twice() {
    const INTENTS: u64 = 50;
    let seed = std::env::var("CHIPI_TEST_STORM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .expect("clock")
                .as_nanos() as u64
                | 1
        });
    eprintln!("kill storm seed: {seed} (replay with CHIPI_TEST_STORM_SEED={seed})");
    let mut rng = Rng(seed);
    let b = Bench::start();
    b.register(500);
    // How long one execute takes here: the kills are spread over it (and a
    // little past it), so they hit every phase: before signing, after the
    // pending mark, mid-send, after the send.
    let started = Instant::now();
    b.run_ok(&["execute", "--call", &call_of(1)]);
    let span = started.elapsed().as_millis() as u64 * 12 / 10 + 1;
    let mut reported: Vec<String> = Vec::new();
    // What happened to each intent, shown when one lands twice.
    let mut log: Vec<String> = Vec::new();
    for intent in 0..INTENTS {
        let amount = 1_000 + intent;
        let call = call_of(amount);
        let args = ["execute", "--call", call.as_str()];
        let mut child = b.command(&args).spawn().expect("start");
        let delay = rng.below(span);
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill();
        let out = wait_output(&mut child, Duration::from_secs(30));
        log.push(format!(
            "intent {intent}: killed after {delay} ms: {:?} {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).trim()
        ));
        let told = serde_json::from_slice::<Value>(&out.stdout)
            .ok()
            .and_then(|v| v["transactionHash"].as_str().map(str::to_owned));
        if let Some(hash) = told {
            // It printed its hash before the kill: its caller was told, and
            // the same calls again would be a new payment. Nothing to retry.
            reported.push(hash);
            continue;
        }
        if rng.below(2) == 0 {
            let (code, value) = b.run(&["status"]);
            assert!(code == 0 || code == 1, "status: {value}");
            log.push(format!("  status: {value}"));
        }
        let (code, value) = b.run(&args);
        log.push(format!("  retry: {value}"));
        match value["error"]["code"].as_str() {
            None => {
                assert_eq!(code, 0, "{value}");
                reported.extend(value["transactionHash"].as_str().map(str::to_owned));
            }
            Some("ALREADY_EXECUTED" | "TRANSACTION_PENDING") => {}
            Some(other) => panic!("intent {intent}: unexpected {other}: {value}"),
        }
        let transfers = b.transfers();
        assert!(
            transfers.get(&amount).map_or(0, Vec::len) <= 1,
            "intent {intent} landed twice (seed {seed}):\n{}\n{:#?}",
            log.join("\n"),
            b.sandbox
                .transactions()
                .iter()
                .map(|t| (t.hash.clone(), t.nonce.clone(), t.calls.clone()))
                .collect::<Vec<_>>()
        );
    }
    // Past every sender's window, three fresh executes land (settling what
    // was left pending on the way: resent with its own signature, once).
    std::thread::sleep(Duration::from_secs(7));
    for amount in [7_001, 7_002, 7_003] {
        let value = b.run_ok(&["execute", "--call", &call_of(amount)]);
        reported.extend(value["transactionHash"].as_str().map(str::to_owned));
        assert_eq!(b.transfers()[&amount].len(), 1);
    }
    let transfers = b.transfers();
    for intent in 0..INTENTS {
        let n = transfers.get(&(1_000 + intent)).map_or(0, Vec::len);
        assert!(n <= 1, "intent {intent} landed {n} times (seed {seed})");
    }
    let hashes = b.hashes();
    for hash in &reported {
        assert!(
            hashes.contains(hash),
            "reported {hash} never landed (seed {seed})"
        );
    }
    let status = b.run_ok(&["status"]);
    let session_txs = transfers.values().map(Vec::len).sum::<usize>();
    assert_eq!(
        status["callsUsed"].as_u64(),
        Some(session_txs as u64),
        "the count is the chain's: {status}"
    );
}
