//! Concurrency on one wallet through one Redis store: `chipi-session`
//! processes and library sessions sharing a session's calls, and warm
//! sessions in separate processes seeing each other's executes and
//! revocation.
//!
//! Needs a Redis server: `CHIPI_TEST_REDIS_URL` (set by `scripts/test.sh`,
//! or export the URL `scripts/redis.sh start DIR` prints). Every run uses
//! its own key prefix, so runs never see each other's data.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::str::FromStr;
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chipi_session_host::runtime::{
    authorities_from_urls, Call, Config, EncryptKeyKind, Imports, RuntimeOptions, SessionContext,
    SessionRuntime, SessionState, SessionStatus, StaticToken, Wallet, WalletSession, WalletType,
};
use chipi_session_host::store::{SessionStore, StoreUrl};
use chipi_session_sandbox::{Sandbox, SandboxConfig, SandboxWallet, SandboxWalletType, TxSigner};
use common::{bin, cache_home, json_of};
use serde_json::{json, Value};

const PIN: &str = "2468";
const TOKEN: &str = "0x4718f5a0fc34cc1af16a1cdee98ffb20c31f5cd61d6ab07201858f4287c938d";
const RECIPIENT: &str = "0xc0ffee";
const PREPARE: &str = "/v1/transactions/prepare-typed-data";
const EXECUTE: &str = "/v1/transactions/execute-sponsored-transaction";
/// Set in the environment of a re-executed test binary acting as a worker
/// process of `warm_sessions_in_two_processes_stay_consistent`.
const WORKER_ENV: &str = "CHIPI_TEST_WARM_WORKER";
/// Prefix of the worker's answer lines (libtest prints its own lines too).
const ANSWER: &str = "@@answer ";

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

/// The Redis URL of `CHIPI_TEST_REDIS_URL` with a key prefix of its own.
fn redis_url(test: &str) -> String {
    let base = std::env::var("CHIPI_TEST_REDIS_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
        .unwrap_or_else(|| {
            panic!(
                "CHIPI_TEST_REDIS_URL is not set: run scripts/test.sh or export the URL printed \
                 by scripts/redis.sh start DIR"
            )
        });
    let base = base.trim();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    let prefix = format!("chipi-test-{test}-{}-{nanos}:", std::process::id());
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}prefix={prefix}")
}

/// A store of its own (its own `RedisStore`, connections included) on `url`.
fn open_store(url: &str) -> Arc<dyn SessionStore> {
    let store = StoreUrl::from_str(url)
        .expect("a valid Redis store URL")
        .open()
        .expect("the Redis store opens");
    store.get("probe").unwrap_or_else(|e| {
        panic!("the Redis server of CHIPI_TEST_REDIS_URL does not answer: {e}")
    });
    store
}

/// `0x`-hex without leading zeros, lower case (how the component and the
/// sandbox normalise addresses and hashes).
fn felt_hex(s: &str) -> String {
    let digits = s.trim_start_matches("0x").trim_start_matches("0X");
    let digits = digits.trim_start_matches('0').to_ascii_lowercase();
    if digits.is_empty() {
        "0x0".into()
    } else {
        format!("0x{digits}")
    }
}

/// A child process killed (and reaped) when the guard goes, so a failed
/// assertion never leaves one behind.
struct ChildGuard(Option<Child>);

impl ChildGuard {
    fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("child still owned")
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Run `cmd` to completion, its stdout and stderr captured (the process is
/// killed if this thread panics meanwhile).
fn output_of(mut cmd: Command) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut guard = ChildGuard(Some(cmd.spawn().expect("the process starts")));
    let mut stderr = guard.child().stderr.take().expect("stderr piped");
    let stderr_reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stderr.read_to_end(&mut bytes);
        bytes
    });
    let mut stdout = Vec::new();
    guard
        .child()
        .stdout
        .take()
        .expect("stdout piped")
        .read_to_end(&mut stdout)
        .expect("read stdout");
    let status = guard.child().wait().expect("wait for the process");
    guard.0 = None;
    let stderr = stderr_reader.join().expect("stderr reader");
    Output {
        status,
        stdout,
        stderr,
    }
}

/// Everything a `chipi-session` process (or a worker process) needs to
/// reach the sandbox and the store, passed through its environment.
#[derive(Clone)]
struct Env {
    api_url: String,
    rpc_url: String,
    api_key: String,
    bearer: String,
    wallet_path: PathBuf,
    store_url: String,
}

impl Env {
    fn apply(&self, cmd: &mut Command) {
        cmd.env("CHIPI_API_URL", &self.api_url)
            .env("CHIPI_RPC_URL", &self.rpc_url)
            .env("CHIPI_API_KEY", &self.api_key)
            .env("CHIPI_BEARER_TOKEN", &self.bearer)
            .env("CHIPI_WALLET", &self.wallet_path)
            .env("CHIPI_ENCRYPT_KEY", PIN)
            // The URL carries the server's password: the environment, not argv.
            .env("CHIPI_STORE", &self.store_url);
    }

    /// `chipi-session --json ARGS` against the sandbox and the store.
    fn cli(&self, args: &[&str]) -> Output {
        let mut cmd = bin();
        self.apply(&mut cmd);
        cmd.arg("--json").args(args);
        output_of(cmd)
    }

    /// Like [`Env::cli`], expecting success; its JSON result.
    fn cli_ok(&self, args: &[&str]) -> Value {
        let out = self.cli(args);
        let value = json_of(&out);
        assert!(
            out.status.success(),
            "{args:?}: {value}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        value
    }

    /// The session context the CLI builds from the same settings.
    fn ctx(&self, wallet: &Value) -> SessionContext {
        SessionContext {
            wallet: Wallet {
                address: wallet["publicKey"].as_str().expect("publicKey").into(),
                encrypted_private_key: wallet["encryptedPrivateKey"]
                    .as_str()
                    .expect("encryptedPrivateKey")
                    .into(),
                wallet_type: WalletType::Chipi,
            },
            encrypt_key: PIN.into(),
            encrypt_key_kind: EncryptKeyKind::Pin,
            config: Config {
                api_base_url: self.api_url.clone(),
                api_key: self.api_key.clone(),
                rpc_urls: vec![self.rpc_url.clone()],
                chain_id: None,
                default_duration_seconds: 21_600,
                default_max_calls: 1_000,
                timeout_ms: None,
            },
        }
    }

    /// Imports with a Redis store of their own on the same URL and prefix.
    fn imports(&self) -> Imports {
        let urls = [self.api_url.as_str(), self.rpc_url.as_str()];
        Imports::new(
            open_store(&self.store_url),
            Arc::new(StaticToken::new(self.bearer.as_str())),
        )
        .with_allowed_authorities(authorities_from_urls(&urls).expect("valid URLs"))
    }

    /// The wallet file's JSON.
    fn wallet_json(&self) -> Value {
        let text = std::fs::read_to_string(&self.wallet_path).expect("wallet file");
        serde_json::from_str(&text).expect("wallet JSON")
    }
}

/// A sandbox on 127.0.0.1 (its own thread), a CHIPI wallet on it, its
/// wallet file, and a Redis store URL with a fresh prefix.
struct World {
    sandbox: Sandbox,
    wallet: SandboxWallet,
    env: Env,
    _dir: tempfile::TempDir,
}

impl World {
    fn start(test: &str) -> Self {
        let store_url = redis_url(test);
        drop(open_store(&store_url));
        let config = SandboxConfig::default();
        let (api_key, bearer) = (config.api_key.clone(), config.bearer_token.clone());
        let sandbox =
            Sandbox::start_in_thread(config, ([127, 0, 0, 1], 0).into()).expect("sandbox");
        let wallet = sandbox.create_wallet(PIN, SandboxWalletType::Chipi);
        let dir = tempfile::tempdir().expect("tempdir");
        let wallet_path = dir.path().join("wallet.json");
        std::fs::write(&wallet_path, serde_json::to_string(&wallet).expect("json"))
            .expect("write the wallet file");
        let env = Env {
            api_url: sandbox.api_url(),
            rpc_url: sandbox.rpc_url(),
            api_key,
            bearer,
            wallet_path,
            store_url,
        };
        Self {
            sandbox,
            wallet,
            env,
            _dir: dir,
        }
    }

    /// `create`, then `register --max-calls MAX_CALLS`; the session's public key.
    fn register(&self, max_calls: u32) -> String {
        let created = self.env.cli_ok(&["create"]);
        let public_key = created["publicKey"].as_str().expect("publicKey").to_owned();
        let registered = self
            .env
            .cli_ok(&["register", "--max-calls", &max_calls.to_string()]);
        assert!(
            registered["transactionHash"]
                .as_str()
                .is_some_and(|h| h.starts_with("0x")),
            "{registered}"
        );
        public_key
    }

    /// Requests the sandbox received on `path` (prepare or execute).
    fn requests_to(&self, path: &str) -> usize {
        self.sandbox
            .requests()
            .iter()
            .filter(|r| r.path == path)
            .count()
    }

    /// Both counts that change whenever something is prepared or sent.
    fn sent_counts(&self) -> (usize, usize) {
        (self.requests_to(PREPARE), self.requests_to(EXECUTE))
    }

    /// Hashes (normalised) of the session-signed transactions of the wallet.
    fn session_transactions(&self) -> Vec<String> {
        let wallet = felt_hex(&self.wallet.address);
        self.sandbox
            .transactions()
            .iter()
            .filter(|t| felt_hex(&t.wallet) == wallet && matches!(t.signer, TxSigner::Session(_)))
            .map(|t| felt_hex(&t.hash))
            .collect()
    }

    /// Amounts of the session-signed transfers of the wallet on chain.
    fn session_transfer_amounts(&self) -> BTreeSet<u64> {
        let wallet = felt_hex(&self.wallet.address);
        self.sandbox
            .transactions()
            .iter()
            .filter(|t| felt_hex(&t.wallet) == wallet && matches!(t.signer, TxSigner::Session(_)))
            .flat_map(|t| &t.calls)
            .filter_map(|c| c.calldata.get(1))
            .filter_map(|a| u64::from_str_radix(a.trim_start_matches("0x"), 16).ok())
            .collect()
    }

    /// The wallet's session record, as the store holds it.
    fn stored_record(&self) -> Option<Value> {
        let key = format!(
            "chipi-session/v1/session/{}",
            felt_hex(&self.wallet.address)
        );
        open_store(&self.env.store_url)
            .get(&key)
            .expect("read the record")
            .map(|raw| serde_json::from_slice(&raw).expect("the record is JSON"))
    }
}

fn transfer(amount: u64) -> Call {
    Call {
        contract_address: TOKEN.into(),
        entrypoint: "transfer".into(),
        calldata: vec![RECIPIENT.into(), amount.to_string(), "0x0".into()],
    }
}

fn transfer_arg(amount: u64) -> String {
    format!("{TOKEN}:transfer:{RECIPIENT},{amount},0x0")
}

/// A runtime for library sessions, with the tests' component cache.
fn runtime() -> SessionRuntime {
    SessionRuntime::new(RuntimeOptions {
        cache_dir: Some(cache_home().join("chipi-session")),
        ..RuntimeOptions::default()
    })
    .expect("the embedded component loads")
}

// ---------------------------------------------------------------------------
// Forty executes from four processes and four tasks
// ---------------------------------------------------------------------------

/// What one worker saw.
#[derive(Debug, Default)]
struct Report {
    name: String,
    /// Hashes of its accepted executes.
    accepted: Vec<String>,
    /// Refusals that said nothing was sent, retried: `CODE: message`.
    retried: Vec<String>,
    /// Anything else, with the amount of the attempt's transfer: fails the
    /// test.
    failures: Vec<(u64, String)>,
    /// The refusal that ended its loop.
    stopped_by: Option<String>,
}

/// What to do after a refusal.
enum Next {
    Stop,
    Retry,
    Fail,
}

/// `SESSION_MAX_CALLS_EXCEEDED` ends a worker's loop; a store conflict that
/// says nothing was sent is retried; anything else is a failure.
fn after_refusal(code: &str, message: &str) -> Next {
    match code {
        "SESSION_MAX_CALLS_EXCEEDED" => Next::Stop,
        "STORE_ERROR" if message.contains("keeps changing concurrently") => Next::Retry,
        _ => Next::Fail,
    }
}

/// Attempts after which a worker gives up (a livelock is a failure).
const MAX_ATTEMPTS: usize = 200;

/// The amount of worker `worker`'s `n`-th execute: distinct across workers.
fn amount(worker: usize, n: usize) -> u64 {
    (worker as u64 + 1) * 1_000 + n as u64 + 1
}

/// Count one attempt's outcome; false when the worker's loop ends.
fn record_outcome(
    report: &mut Report,
    worker: usize,
    n: &mut usize,
    outcome: Result<String, (String, String)>,
) -> bool {
    match outcome {
        Ok(hash) => {
            report.accepted.push(felt_hex(&hash));
            *n += 1;
            true
        }
        Err((code, message)) => match after_refusal(&code, &message) {
            Next::Stop => {
                report.stopped_by = Some(code);
                false
            }
            Next::Retry => {
                report.retried.push(format!("{code}: {message}"));
                true
            }
            Next::Fail => {
                report
                    .failures
                    .push((amount(worker, *n), format!("{code}: {message}")));
                false
            }
        },
    }
}

/// Worker `worker`: a `chipi-session execute` process per attempt.
fn cli_worker(env: &Env, worker: usize, start: &Barrier) -> Report {
    let mut report = Report {
        name: format!("cli-{worker}"),
        ..Report::default()
    };
    start.wait();
    let mut n = 0;
    for _ in 0..MAX_ATTEMPTS {
        let out = env.cli(&["execute", "--call", &transfer_arg(amount(worker, n))]);
        let value = json_of(&out);
        let outcome = match value["transactionHash"].as_str() {
            Some(hash) if out.status.success() => Ok(hash.to_owned()),
            _ => Err((
                value["error"]["code"].as_str().unwrap_or("?").to_owned(),
                format!(
                    "{} (exit {:?}; stderr: {})",
                    value["error"]["message"].as_str().unwrap_or(""),
                    out.status.code(),
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            )),
        };
        if !record_outcome(&mut report, worker, &mut n, outcome) {
            return report;
        }
    }
    report
        .failures
        .push((0, format!("no end after {MAX_ATTEMPTS} attempts")));
    report
}

/// Worker `worker`: executes through its own warm library session.
async fn library_worker(session: &WalletSession, worker: usize, start: Arc<Barrier>) -> Report {
    let mut report = Report {
        name: format!("lib-{worker}"),
        ..Report::default()
    };
    tokio::task::spawn_blocking(move || start.wait())
        .await
        .expect("barrier");
    let mut n = 0;
    for _ in 0..MAX_ATTEMPTS {
        let outcome = match session
            .execute_with_session(&[transfer(amount(worker, n))])
            .await
        {
            Ok(Ok(hash)) => Ok(hash),
            Ok(Err(e)) => Err((e.code().to_owned(), e.message())),
            Err(e) => Err(("HOST_ERROR".to_owned(), format!("{e:#}"))),
        };
        if !record_outcome(&mut report, worker, &mut n, outcome) {
            return report;
        }
    }
    report
        .failures
        .push((0, format!("no end after {MAX_ATTEMPTS} attempts")));
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forty_executes_from_four_processes_and_four_tasks_count_exactly() {
    const MAX_CALLS: u32 = 40;
    const PROCESSES: usize = 4;
    const TASKS: usize = 4;
    let world = World::start("conc40");
    let env = world.env.clone();
    let public_key = tokio::task::block_in_place(|| world.register(MAX_CALLS));

    // Warm library sessions, each on its own instance and its own store.
    let runtime = runtime();
    let ctx = env.ctx(&env.wallet_json());
    let mut sessions = Vec::new();
    for _ in 0..TASKS {
        let session = runtime
            .open_session(env.imports(), ctx.clone())
            .await
            .expect("open a session");
        session.warm_up().await.expect("warm up");
        sessions.push(session);
    }

    let (prepares_before, sends_before) = world.sent_counts();
    let requests_before = world.sandbox.requests().len();
    let start = Arc::new(Barrier::new(PROCESSES + TASKS));
    let began = Instant::now();
    let mut threads = Vec::new();
    for worker in 0..PROCESSES {
        let (env, start) = (env.clone(), Arc::clone(&start));
        threads.push(std::thread::spawn(move || cli_worker(&env, worker, &start)));
    }
    let mut tasks = Vec::new();
    for (i, session) in sessions.iter().enumerate() {
        let (session, start) = (session.clone(), Arc::clone(&start));
        tasks.push(tokio::spawn(async move {
            library_worker(&session, PROCESSES + i, start).await
        }));
    }
    let mut task_results = Vec::new();
    for task in tasks {
        task_results.push(task.await);
    }
    // Join every thread before looking at any of them, so a panicking one
    // never leaves the others' processes running.
    let joined = tokio::task::spawn_blocking(move || {
        threads
            .into_iter()
            .map(std::thread::JoinHandle::join)
            .collect::<Vec<_>>()
    })
    .await
    .expect("join the CLI workers");
    let mut reports = Vec::new();
    for report in task_results {
        reports.push(report.expect("library worker"));
    }
    for report in joined {
        reports.push(report.expect("CLI worker"));
    }
    let wall = began.elapsed();
    let (prepares, sends) = world.sent_counts();
    let (prepares, sends) = (prepares - prepares_before, sends - sends_before);
    // A resubmission (of another worker's pending transaction) repeats its
    // body byte for byte: distinct bodies are distinct signed transactions.
    let signed: BTreeSet<String> = world
        .sandbox
        .requests()
        .into_iter()
        .skip(requests_before)
        .filter(|r| r.path == EXECUTE)
        .map(|r| r.raw_body)
        .collect();
    reports.sort_by(|a, b| a.name.cmp(&b.name));

    let per_worker: BTreeMap<&str, usize> = reports
        .iter()
        .map(|r| (r.name.as_str(), r.accepted.len()))
        .collect();
    let retries: Vec<&String> = reports.iter().flat_map(|r| &r.retried).collect();
    eprintln!(
        "concurrency: {MAX_CALLS} calls, {PROCESSES} processes + {TASKS} tasks in {:.2?}; \
         accepted per worker {per_worker:?}; {} retries {retries:?}; \
         {prepares} prepare and {sends} execute requests to the backend, \
         {} distinct signed transactions sent",
        wall,
        retries.len(),
        signed.len()
    );

    // Nothing but accepted executes, store retries and the final refusal.
    // A failed attempt whose transfer is on chain anyway is the worst case:
    // its caller was told it failed although it landed.
    let landed_amounts = world.session_transfer_amounts();
    for report in &reports {
        let failures: Vec<String> = report
            .failures
            .iter()
            .map(|(amount, failure)| {
                let landed = landed_amounts.contains(amount);
                format!("transfer of {amount}: {failure} (landed on chain anyway: {landed})")
            })
            .collect();
        assert!(failures.is_empty(), "{}: {failures:?}", report.name);
        assert_eq!(
            report.stopped_by.as_deref(),
            Some("SESSION_MAX_CALLS_EXCEEDED"),
            "{report:?}"
        );
    }
    let accepted: Vec<&String> = reports.iter().flat_map(|r| &r.accepted).collect();
    assert_eq!(accepted.len(), MAX_CALLS as usize, "{reports:?}");
    // No transaction beyond the limit was sent (the calls left are checked
    // again when a transaction is marked pending), and none was sent twice
    // (a pending one is resent only after its sender's window).
    assert_eq!(signed.len(), MAX_CALLS as usize, "signed transactions sent");
    assert_eq!(sends, MAX_CALLS as usize, "execute requests");
    let distinct: BTreeSet<String> = accepted.iter().map(|h| (*h).clone()).collect();
    assert_eq!(
        distinct.len(),
        accepted.len(),
        "duplicate hashes: {accepted:?}"
    );

    // The chain has exactly those transactions and counted each once.
    let on_chain = world.session_transactions();
    assert_eq!(on_chain.len(), MAX_CALLS as usize, "{on_chain:?}");
    let on_chain_set: BTreeSet<String> = on_chain.into_iter().collect();
    assert_eq!(on_chain_set, distinct);
    let info = world
        .sandbox
        .session(&world.wallet.address, &public_key)
        .expect("the session is on chain");
    assert_eq!((info.calls_used, info.max_calls), (MAX_CALLS, MAX_CALLS));
    assert!(!info.revoked);

    // A 41st execute is refused before anything is prepared or sent: from a
    // warm library session (its last landing still deferred) and from the CLI.
    let before = world.sent_counts();
    let e = sessions[0]
        .execute_with_session(&[transfer(9_001)])
        .await
        .expect("no host error")
        .expect_err("a 41st execute from a library session is refused");
    assert_eq!(e.code(), "SESSION_MAX_CALLS_EXCEEDED", "{e:?}");
    let out = tokio::task::block_in_place(|| env.cli(&["execute", "--call", &transfer_arg(9_002)]));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        json_of(&out)["error"]["code"],
        "SESSION_MAX_CALLS_EXCEEDED",
        "{}",
        json_of(&out)
    );
    assert_eq!(world.sent_counts(), before, "nothing prepared or sent");

    // Closing writes the deferred landings; nothing is counted twice.
    for session in sessions {
        session.close().await.expect("close");
    }
    let status = tokio::task::block_in_place(|| env.cli_ok(&["status"]));
    // Out of calls reads `expired` (the lifecycle's rule: past its expiry
    // or out of calls), not `active`, while its time is not up.
    assert_eq!(status["state"], "expired", "{status}");
    assert_eq!(status["isActive"], false, "{status}");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    assert!(
        status["validUntil"].as_u64().is_some_and(|t| t > now),
        "{status}"
    );
    assert_eq!(status["remainingCalls"], 0, "{status}");
    assert_eq!(status["callsUsed"], MAX_CALLS, "{status}");
    assert_eq!(status["publicKey"], public_key.as_str(), "{status}");
    let record = world.stored_record().expect("the record is still stored");
    assert_eq!(record["publicKey"], public_key.as_str(), "{record}");
    assert_eq!(record["callsUsed"], MAX_CALLS, "{record}");
    assert!(
        record["pending"].as_array().is_none_or(Vec::is_empty),
        "{record}"
    );
    assert_eq!(world.session_transactions().len(), MAX_CALLS as usize);
    assert_eq!(world.sent_counts(), before);
    world.sandbox.shutdown().await;
}

// ---------------------------------------------------------------------------
// Warm sessions in two processes
// ---------------------------------------------------------------------------

/// A worker process: this test binary re-executed, holding one warm session.
struct WorkerProcess {
    name: &'static str,
    guard: ChildGuard,
    stdin: ChildStdin,
    answers: mpsc::Receiver<String>,
}

impl WorkerProcess {
    fn spawn(name: &'static str, env: &Env) -> Self {
        let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
        cmd.args([
            "--exact",
            "warm_session_worker_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(WORKER_ENV, "1")
        .env("XDG_CACHE_HOME", cache_home())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
        env.apply(&mut cmd);
        let mut guard = ChildGuard(Some(cmd.spawn().expect("the worker process starts")));
        let stdin = guard.child().stdin.take().expect("stdin piped");
        let stdout = guard.child().stdout.take().expect("stdout piped");
        let (send, answers) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // libtest's `test NAME ... ` may precede the first answer
                // on its line.
                if let Some((_, answer)) = line.split_once(ANSWER) {
                    if send.send(answer.to_owned()).is_err() {
                        break;
                    }
                }
            }
        });
        Self {
            name,
            guard,
            stdin,
            answers,
        }
    }

    /// Send one command line; its JSON answer.
    fn ask(&mut self, command: &str) -> Value {
        writeln!(self.stdin, "{command}").expect("write to the worker");
        self.stdin.flush().expect("flush");
        let answer = self
            .answers
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_else(|e| panic!("{}: no answer to {command:?} ({e})", self.name));
        serde_json::from_str(&answer).expect("the answer is JSON")
    }

    fn ask_ok(&mut self, command: &str) -> Value {
        let answer = self.ask(command);
        assert_eq!(answer["ok"], true, "{} {command}: {answer}", self.name);
        answer
    }

    /// `quit`, then the process must exit successfully.
    fn quit(mut self) {
        self.ask_ok("quit");
        let status = self.guard.child().wait().expect("wait for the worker");
        self.guard.0 = None;
        assert!(status.success(), "{}: {status}", self.name);
    }
}

fn state_name(state: SessionState) -> &'static str {
    match state {
        SessionState::None => "none",
        SessionState::Created => "created",
        SessionState::Active => "active",
        SessionState::Expired => "expired",
        SessionState::Revoked => "revoked",
    }
}

fn status_answer(status: &SessionStatus) -> Value {
    json!({
        "ok": true,
        "state": state_name(status.state),
        "remainingCalls": status.remaining_calls,
        "callsUsed": status.on_chain.as_ref().map(|d| d.calls_used),
    })
}

fn answer<T>(
    result: anyhow::Result<Result<T, chipi_session_host::runtime::SessionError>>,
    ok: impl FnOnce(T) -> Value,
) -> Value {
    match result {
        Ok(Ok(value)) => ok(value),
        Ok(Err(e)) => json!({ "ok": false, "code": e.code(), "message": e.message() }),
        Err(e) => json!({ "ok": false, "code": "HOST_ERROR", "message": format!("{e:#}") }),
    }
}

/// The worker side: one warm session, commands from stdin (`execute N`,
/// `status`, `revoke`, `quit`), one answer line each on stdout. In a normal
/// test run (no `CHIPI_TEST_WARM_WORKER`) there is nothing to do.
#[test]
fn warm_session_worker_process() {
    if std::env::var_os(WORKER_ENV).is_none() {
        return;
    }
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"));
    let env = Env {
        api_url: var("CHIPI_API_URL"),
        rpc_url: var("CHIPI_RPC_URL"),
        api_key: var("CHIPI_API_KEY"),
        bearer: var("CHIPI_BEARER_TOKEN"),
        wallet_path: var("CHIPI_WALLET").into(),
        store_url: var("CHIPI_STORE"),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let session = runtime()
            .open_session(env.imports(), env.ctx(&env.wallet_json()))
            .await
            .expect("open the session");
        session.warm_up().await.expect("warm up");
        let reply = |value: Value| {
            println!("{ANSWER}{value}");
            std::io::stdout().flush().expect("flush stdout");
        };
        let mut lines = std::io::stdin().lock().lines();
        while let Some(Ok(line)) = lines.next() {
            let mut words = line.split_whitespace();
            match (words.next(), words.next()) {
                (Some("execute"), Some(n)) => {
                    let n: u64 = n.parse().expect("execute N");
                    let result = session.execute_with_session(&[transfer(n)]).await;
                    reply(answer(result, |hash| json!({ "ok": true, "hash": hash })));
                }
                (Some("status"), None) => {
                    let result = session.get_session_status().await;
                    reply(answer(result, |status| status_answer(&status)));
                }
                (Some("revoke"), None) => {
                    let result = session.revoke_session().await;
                    reply(answer(result, |hash| json!({ "ok": true, "hash": hash })));
                }
                (Some("quit"), None) => {
                    session.close().await.expect("close the session");
                    reply(json!({ "ok": true }));
                    return;
                }
                _ => reply(json!({ "ok": false, "code": "BAD_COMMAND", "message": line })),
            }
        }
    });
}

#[test]
fn warm_sessions_in_two_processes_stay_consistent() {
    const MAX_CALLS: u32 = 10;
    let world = World::start("warm2");
    let public_key = world.register(MAX_CALLS);
    let mut p1 = WorkerProcess::spawn("P1", &world.env);
    let mut p2 = WorkerProcess::spawn("P2", &world.env);
    for p in [&mut p1, &mut p2] {
        let status = p.ask_ok("status");
        assert_eq!(status["state"], "active", "{status}");
        assert_eq!(status["callsUsed"], 0, "{status}");
    }

    // Each sees the other's executes at once.
    let h1 = p1.ask_ok("execute 1")["hash"]
        .as_str()
        .expect("hash")
        .to_owned();
    let status = p2.ask_ok("status");
    assert_eq!(status["callsUsed"], 1, "P2 sees P1's execute: {status}");
    assert_eq!(status["remainingCalls"], MAX_CALLS - 1, "{status}");
    let h2 = p2.ask_ok("execute 2")["hash"]
        .as_str()
        .expect("hash")
        .to_owned();
    let status = p1.ask_ok("status");
    assert_eq!(status["callsUsed"], 2, "P1 sees both: {status}");
    assert_eq!(status["remainingCalls"], MAX_CALLS - 2, "{status}");

    // P1 revokes: P2's very next execute is refused, nothing prepared or sent.
    p1.ask_ok("revoke");
    let before = world.sent_counts();
    let refused = p2.ask("execute 3");
    assert_eq!(refused["ok"], false, "{refused}");
    assert_eq!(refused["code"], "SESSION_REVOKED", "{refused}");
    assert_eq!(world.sent_counts(), before, "nothing prepared or sent");
    let refused = p1.ask("execute 4");
    assert_eq!(refused["code"], "SESSION_REVOKED", "{refused}");
    assert_eq!(world.sent_counts(), before, "nothing prepared or sent");
    assert_eq!(p2.ask_ok("status")["state"], "revoked");
    p1.quit();
    p2.quit();

    // The chain: exactly the two executes, the session revoked.
    let on_chain: BTreeSet<String> = world.session_transactions().into_iter().collect();
    let expected: BTreeSet<String> = [felt_hex(&h1), felt_hex(&h2)].into_iter().collect();
    assert_eq!(on_chain, expected);
    let info = world
        .sandbox
        .session(&world.wallet.address, &public_key)
        .expect("the session is on chain");
    // (The account forgets a revoked session's data: only the flag is left.)
    assert!(info.revoked, "{info:?}");
    let record = world.stored_record().expect("the record is still stored");
    assert_eq!(record["callsUsed"], 2, "{record}");
    assert!(record["revokedTx"].is_string(), "{record}");
    assert!(
        record["pending"].as_array().is_none_or(Vec::is_empty),
        "{record}"
    );
    let status = world.env.cli_ok(&["status"]);
    assert_eq!(status["state"], "revoked", "{status}");
    world.sandbox.shutdown_blocking();
}
