//! `chipi-session bench`: create, register and warm executes, timed; and the
//! session store's own speed.
//!
//! Against the backend the global options name when `--api-url` /
//! `CHIPI_API_URL` is given (wallet, encrypt key, store and the rest as for
//! the other commands), otherwise against an embedded sandbox with fresh
//! wallets. The sessions go to the `--store` / `CHIPI_STORE` store; without
//! one, the embedded sandbox uses a throwaway SQLite file (removed at the
//! end) and an external backend the default store. Three parts:
//!
//! 1. Latency, one warm session on its own instance: create, register,
//!    lock (as after a restart), the first execute (which unlocks the key),
//!    then `--executes` warm executes one after the other: median, p99, and
//!    the process's CPU time per warm execute.
//! 2. Throughput and memory, a [`SessionPool`] over `--concurrency`
//!    instances: `--wallets` wallets each get a warm session (created,
//!    registered, unlocked); the resident memory this added, per session,
//!    is `rssPerIdleSessionKiB`; then `--executes` executes spread over the
//!    wallets with `--concurrency` in flight give `executesPerSecond`. The
//!    wall-clock window of these executes is reported too (`throughput`),
//!    so that the executes of several processes running at once can be
//!    added up over a common window.
//! 3. With `--store-ops N`, the store: one value of [`STORE_VALUE_BYTES`]
//!    under a key of its own, then `N` reads and `N` successful
//!    compare-and-swaps (each one writing a different value), one after the
//!    other on one thread; the key is deleted at the end.
//!
//! `--only store` runs part 3 alone (no backend, no component), `--only
//! throughput` part 2 alone.
//!
//! Every session the benchmark registers is revoked before it ends (on an
//! external backend), or cleared from the store (on the embedded sandbox,
//! whose wallets are gone when it stops), so a shared store keeps nothing
//! of an embedded-sandbox run.
//!
//! Against the embedded sandbox the process's CPU includes the sandbox's
//! signature checks; `clientCpuPerExecuteMs` is the component's alone only
//! against an external backend (`scripts/bench.sh` runs the sandbox in its
//! own process for that reason).

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context as _};
use serde_json::{json, Map, Value};

use super::args::{BenchArgs, BenchPart, GlobalArgs};
use super::context;
use super::embedded::EmbeddedSandbox;
use super::output::{self, CliError};
use chipi_session_host::runtime::{
    Call, CreateOptions, Imports, PoolOptions, RegisterOptions, SessionContext, SessionRuntime,
    WalletSession,
};
use chipi_session_host::store::{SessionStore, StoreUrl};

/// STRK token (the README's transfer target).
const TOKEN: &str = "0x04718f5a0fc34cc1af16a1cdee98ffb20c31f5cd61d6ab07201858f4287c938d";
/// Recipient of the benchmark transfers.
const RECIPIENT: &str = "0xc0ffee";
/// Encrypt key of the embedded sandbox's wallets when none is given.
const SANDBOX_PIN: &str = "123456";
/// Size of the value the store measure reads and swaps: about a session
/// record's.
pub(crate) const STORE_VALUE_BYTES: usize = 2048;
/// Key namespace of the store measure (the component's records live under
/// `chipi-session/v1/`).
const STORE_OPS_KEY_PREFIX: &str = "chipi-session/bench/store-ops/";

static PROCESS_START: OnceLock<Instant> = OnceLock::new();

/// Record the process start (called first thing in `main`).
pub(crate) fn mark_process_start() {
    PROCESS_START.get_or_init(Instant::now);
}

fn since_process_start() -> Duration {
    PROCESS_START.get_or_init(Instant::now).elapsed()
}

/// The session store of the run.
struct ChosenStore {
    /// Its URL (shown without credentials).
    url: StoreUrl,
    store: Arc<dyn SessionStore>,
    /// A throwaway store directory to remove at the end.
    scratch: Option<PathBuf>,
}

/// Where the sessions go and how to reach the backend.
struct Backend {
    /// The embedded sandbox, when no API URL was given.
    sandbox: Option<EmbeddedSandbox>,
    imports: Imports,
    /// The wallet of the latency phase.
    first: SessionContext,
}

/// Run the benchmark and report one JSON object.
pub(crate) async fn run(
    global: &GlobalArgs,
    args: &BenchArgs,
) -> Result<(Value, String), CliError> {
    if args.only == Some(BenchPart::Store) && args.store_ops == 0 {
        return Err(CliError::Usage(anyhow!(
            "--only store measures the store alone: give --store-ops N (N > 0)"
        )));
    }
    let warnings = context::Warnings::default();
    let chosen = choose_store(global)?;
    let result = measure_all(global, args, &chosen, &warnings).await;
    if let Some(dir) = &chosen.scratch {
        let _ = std::fs::remove_dir_all(dir);
    }
    let mut value = result?;
    warnings.add_to(&mut value);
    let text = text_report(&value);
    Ok((value, text))
}

/// `--store` / `CHIPI_STORE` when given; otherwise the default store for an
/// external backend and a throwaway SQLite file for the embedded sandbox.
fn choose_store(global: &GlobalArgs) -> Result<ChosenStore, CliError> {
    let (url, scratch) = if global.store.is_some() || global.api_url.is_some() {
        (context::store_url(global).map_err(CliError::Usage)?, None)
    } else {
        let scratch = std::env::temp_dir().join(format!(
            "chipi-session-bench-{}-{}",
            std::process::id(),
            since_process_start().as_nanos()
        ));
        std::fs::create_dir_all(&scratch)
            .with_context(|| format!("cannot create {}", scratch.display()))
            .map_err(CliError::Host)?;
        (
            StoreUrl::Sqlite(scratch.join("sessions.sqlite")),
            Some(scratch),
        )
    };
    match context::open_store(&url) {
        Ok(store) => Ok(ChosenStore {
            url,
            store,
            scratch,
        }),
        Err(err) => {
            if let Some(dir) = scratch {
                let _ = std::fs::remove_dir_all(dir);
            }
            Err(CliError::Usage(err))
        }
    }
}

/// The parts `args` asks for, in one JSON object.
async fn measure_all(
    global: &GlobalArgs,
    args: &BenchArgs,
    chosen: &ChosenStore,
    warnings: &context::Warnings,
) -> Result<Value, CliError> {
    let mut report = Map::new();
    report.insert(
        "backend".into(),
        json!(match (args.only, global.api_url.is_some()) {
            (Some(BenchPart::Store), _) => "none",
            (_, true) => "external",
            (_, false) => "embedded-sandbox",
        }),
    );
    report.insert("sessionStore".into(), json!(chosen.url.to_string()));
    if args.only != Some(BenchPart::Store) {
        let runtime =
            SessionRuntime::new(context::runtime_options(global)).map_err(CliError::Host)?;
        let backend = backend(global, Arc::clone(&chosen.store), warnings).await?;
        let result = measure(&runtime, &backend, args).await;
        if let Some(embedded) = backend.sandbox {
            embedded.sandbox.shutdown().await;
        }
        report.extend(result?);
    }
    if args.store_ops > 0 {
        let store = Arc::clone(&chosen.store);
        let ops = u64::from(args.store_ops);
        // The store is synchronous: keep its round trips off the runtime's
        // worker threads.
        let measured = tokio::task::spawn_blocking(move || store_ops(store.as_ref(), ops))
            .await
            .map_err(|e| CliError::Host(anyhow!("store benchmark task failed: {e}")))?
            .map_err(CliError::Host)?;
        let mut store = measured.to_json();
        store["url"] = json!(chosen.url.to_string());
        report.insert("store".into(), store);
    }
    Ok(Value::Object(report))
}

async fn backend(
    global: &GlobalArgs,
    store: Arc<dyn SessionStore>,
    warnings: &context::Warnings,
) -> Result<Backend, CliError> {
    if global.api_url.is_some() {
        let first = context::session_context(global).map_err(CliError::Usage)?;
        let imports = context::imports_with_store(global, &first.config, store, warnings)
            .map_err(CliError::Usage)?;
        return Ok(Backend {
            sandbox: None,
            imports,
            first,
        });
    }
    let embedded = EmbeddedSandbox::start().await?;
    let imports = embedded.imports(store, warnings)?;
    let first = embedded.wallet(SANDBOX_PIN).1;
    Ok(Backend {
        sandbox: Some(embedded),
        imports,
        first,
    })
}

/// Seconds since the Unix epoch, in milliseconds (comparable between
/// processes on one machine).
fn unix_ms(at: SystemTime) -> f64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// Result of the store measure.
#[derive(Debug)]
struct StoreOps {
    ops: u64,
    gets: Duration,
    cas: Duration,
    get_median: Duration,
    cas_median: Duration,
}

impl StoreOps {
    fn to_json(&self) -> Value {
        let per_second = |d: Duration| self.ops as f64 / d.as_secs_f64().max(f64::MIN_POSITIVE);
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        json!({
            "ops": self.ops,
            "valueBytes": STORE_VALUE_BYTES,
            "getsPerSecond": per_second(self.gets),
            "casPerSecond": per_second(self.cas),
            "getMedianUs": us(self.get_median),
            "casMedianUs": us(self.cas_median),
        })
    }
}

/// A value of [`STORE_VALUE_BYTES`] bytes, JSON text like a session record,
/// whose first digits are a counter [`set_counter`] rewrites.
fn store_value() -> Vec<u8> {
    let mut value = b"{\"n\":\"00000000000000000000\",\"data\":\"".to_vec();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    while value.len() < STORE_VALUE_BYTES - 2 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        value.push(b"0123456789abcdef"[(x & 15) as usize]);
    }
    value.extend_from_slice(b"\"}");
    value
}

/// Write `n` as the 20-digit counter of a [`store_value`].
fn set_counter(value: &mut [u8], n: u64) {
    let digits = format!("{n:020}");
    value[6..26].copy_from_slice(digits.as_bytes());
}

/// The store measure (see the module documentation): `ops` reads, then
/// `ops` successful compare-and-swaps, under a key of its own that is
/// deleted at the end, whatever happened.
fn store_ops(store: &dyn SessionStore, ops: u64) -> anyhow::Result<StoreOps> {
    let key = format!(
        "{STORE_OPS_KEY_PREFIX}{}-{}",
        std::process::id(),
        unix_ms(SystemTime::now()) as u64
    );
    let mut current = store_value();
    set_counter(&mut current, 0);
    if !store
        .compare_and_swap(&key, None, Some(&current))
        .with_context(|| format!("cannot create the benchmark key {key}"))?
    {
        // Someone else's key: leave it alone.
        bail!("the benchmark key {key} already exists in the store");
    }
    let measured = store_ops_on(store, &key, &mut current, ops);
    let removed = remove_key(store, &key);
    let measured = measured?;
    removed.with_context(|| format!("cannot delete the benchmark key {key}"))?;
    Ok(measured)
}

fn store_ops_on(
    store: &dyn SessionStore,
    key: &str,
    current: &mut Vec<u8>,
    ops: u64,
) -> anyhow::Result<StoreOps> {
    let capacity = usize::try_from(ops).unwrap_or(0);
    let mut times = Vec::with_capacity(capacity);
    let wall = Instant::now();
    for _ in 0..ops {
        let started = Instant::now();
        let value = store.get(key).context("store read failed")?;
        times.push(started.elapsed());
        if value.as_deref() != Some(current.as_slice()) {
            bail!("the store read back something else than the value written under {key}");
        }
    }
    let gets = wall.elapsed();
    times.sort();
    let get_median = percentile(&times, 50);

    times.clear();
    let mut next = current.clone();
    let wall = Instant::now();
    for i in 1..=ops {
        set_counter(&mut next, i);
        let started = Instant::now();
        let swapped = store
            .compare_and_swap(key, Some(current), Some(&next))
            .context("store compare-and-swap failed")?;
        times.push(started.elapsed());
        if !swapped {
            bail!("the store refused a compare-and-swap of {key}: something else changed it");
        }
        std::mem::swap(current, &mut next);
    }
    let cas = wall.elapsed();
    times.sort();
    Ok(StoreOps {
        ops,
        gets,
        cas,
        get_median,
        cas_median: percentile(&times, 50),
    })
}

/// Delete `key` whatever it holds.
fn remove_key(store: &dyn SessionStore, key: &str) -> anyhow::Result<()> {
    for _ in 0..16 {
        let Some(current) = store.get(key)? else {
            return Ok(());
        };
        if store.compare_and_swap(key, Some(&current), None)? {
            return Ok(());
        }
    }
    bail!("the key keeps changing")
}

/// Transfer number `i` (distinct amounts: distinct intents).
fn transfer(i: u64) -> Call {
    Call {
        contract_address: TOKEN.into(),
        entrypoint: "transfer".into(),
        calldata: vec![RECIPIENT.into(), format!("{:#x}", i + 1), "0x0".into()],
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Create (replacing a created-only session) and register with room for
/// `calls` executes, whitelisting `transfer`.
async fn create_and_register(
    session: &WalletSession,
    calls: u32,
) -> Result<(Duration, Duration), CliError> {
    let started = Instant::now();
    output::session_result(
        session
            .create_session(&CreateOptions {
                duration_seconds: Some(3600),
                replace_existing: true,
            })
            .await,
    )?;
    let create = started.elapsed();
    let started = Instant::now();
    output::session_result(
        session
            .register_session(&RegisterOptions {
                valid_until: None,
                max_calls: Some(calls.saturating_add(16)),
                allowed_entrypoints: vec!["transfer".into()],
                idempotency_key: None,
            })
            .await,
    )?;
    Ok((create, started.elapsed()))
}

/// Parts 1 and 2 (part 2 alone with `--only throughput`).
async fn measure(
    runtime: &SessionRuntime,
    backend: &Backend,
    args: &BenchArgs,
) -> Result<Map<String, Value>, CliError> {
    let mut report = Map::new();
    if args.only != Some(BenchPart::Throughput) {
        report.extend(latency_phase(runtime, backend, args).await?);
    }
    if args.only == Some(BenchPart::Latency) {
        report.insert("executes".into(), json!(args.executes));
        return Ok(report);
    }
    let pool = pool_phase(runtime, backend, args).await?;
    report.extend(fields(json!({
        "executes": args.executes,
        "wallets": pool.wallets,
        "concurrency": args.concurrency,
        "executesPerSecond": pool.executes_per_second,
        "rssPerIdleSessionKiB": pool.rss_per_session,
        "throughput": {
            "executes": args.executes,
            "startUnixMs": unix_ms(pool.started),
            "endUnixMs": unix_ms(pool.ended),
        },
    })));
    Ok(report)
}

/// Part 1: latency on one warm session with its own instance.
async fn latency_phase(
    runtime: &SessionRuntime,
    backend: &Backend,
    args: &BenchArgs,
) -> Result<Map<String, Value>, CliError> {
    let session = runtime
        .open_session(backend.imports.clone(), backend.first.clone())
        .await
        .map_err(CliError::Host)?;
    let startup = since_process_start();
    let instantiate = session.last_instantiate_time().unwrap_or_default();
    let executes = u64::from(args.executes);
    let (create, register) = create_and_register(&session, args.executes.saturating_add(1)).await?;
    session.lock().await.map_err(CliError::Host)?;

    let started = Instant::now();
    output::session_result(session.execute_with_session(&[transfer(0)]).await)?;
    let first_execute = started.elapsed();

    let mut times = Vec::with_capacity(args.executes as usize);
    let cpu_before = process_cpu();
    let wall = Instant::now();
    for i in 1..=executes {
        let started = Instant::now();
        output::session_result(session.execute_with_session(&[transfer(i)]).await)?;
        times.push(started.elapsed());
    }
    let sequential = wall.elapsed();
    let cpu = process_cpu()
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    // Leave no usable session key behind (this also lets phase 2 create a
    // new session on an external backend's single wallet).
    output::session_result(session.revoke_session().await)?;
    if backend.sandbox.is_some() {
        // The sandbox's wallets end with it: nothing of theirs stays in the store.
        output::session_result(session.clear_session().await)?;
    }
    session.close().await.map_err(CliError::Host)?;
    times.sort();

    let per = |d: Duration| ms(d) / executes as f64;
    Ok(fields(json!({
        "startupMs": ms(startup),
        "instantiateUs": instantiate.as_secs_f64() * 1e6,
        "createMs": ms(create),
        "registerMs": ms(register),
        "firstExecuteMs": ms(first_execute),
        "executeMedianMs": ms(percentile(&times, 50)),
        "executeP99Ms": ms(percentile(&times, 99)),
        "executeMeanMs": per(sequential),
        "clientCpuPerExecuteMs": cpu.map(per),
    })))
}

/// The fields of a JSON object (none for another value).
fn fields(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(fields) => fields,
        _ => Map::new(),
    }
}

/// Nearest-rank percentile of sorted `times`.
fn percentile(times: &[Duration], p: usize) -> Duration {
    if times.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p * times.len()).div_ceil(100).clamp(1, times.len());
    times[rank - 1]
}

/// Result of part 2.
struct PoolPhase {
    /// Resident memory the warm sessions added, per session (KiB).
    rss_per_session: Option<f64>,
    /// Executes per second with `--concurrency` in flight.
    executes_per_second: f64,
    /// Wallets used.
    wallets: u32,
    /// Wall-clock time the first execute started.
    started: SystemTime,
    /// Wall-clock time the last execute ended.
    ended: SystemTime,
}

/// Part 2: warm sessions for `--wallets` wallets in a pool, then
/// `--executes` executes over them with `--concurrency` in flight.
async fn pool_phase(
    runtime: &SessionRuntime,
    backend: &Backend,
    args: &BenchArgs,
) -> Result<PoolPhase, CliError> {
    let contexts: Vec<SessionContext> = match &backend.sandbox {
        Some(embedded) => (0..args.wallets)
            .map(|_| embedded.wallet(SANDBOX_PIN).1)
            .collect(),
        None => vec![backend.first.clone()],
    };
    let wallets = u32::try_from(contexts.len()).unwrap_or(u32::MAX);
    let pool = runtime
        .pool(
            backend.imports.clone(),
            PoolOptions {
                max_sessions: contexts.len(),
                instances: args.concurrency as usize,
                ..PoolOptions::default()
            },
        )
        .map_err(CliError::Host)?;
    let per_wallet = args.executes.div_ceil(wallets).saturating_add(1);
    let rss_before = resident_kib();
    for ctx in &contexts {
        let session = pool.session(ctx).await.map_err(CliError::Host)?;
        create_and_register(&session, per_wallet).await?;
        session.lock().await.map_err(CliError::Host)?;
        // Unlock: the warm state a server keeps.
        output::session_result(
            session
                .execute_with_session(&[transfer(u64::MAX - 1)])
                .await,
        )?;
    }
    let rss_per_session = resident_kib()
        .zip(rss_before)
        .map(|(after, before)| after.saturating_sub(before) as f64 / f64::from(wallets));

    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let contexts = Arc::new(contexts);
    let total = u64::from(args.executes);
    let started_at = SystemTime::now();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency {
        let (pool, next, contexts) = (pool.clone(), Arc::clone(&next), Arc::clone(&contexts));
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    return Ok::<(), CliError>(());
                }
                let ctx = &contexts[(i % contexts.len() as u64) as usize];
                let session = pool.session(ctx).await.map_err(CliError::Host)?;
                output::session_result(
                    session
                        .execute_with_session(&[transfer(1_000_000 + i)])
                        .await,
                )?;
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.map_err(|e| CliError::Host(anyhow!("benchmark task failed: {e}")))??;
    }
    let elapsed = started.elapsed();
    let ended_at = started_at + elapsed;
    for ctx in contexts.iter() {
        let session = pool.session(ctx).await.map_err(CliError::Host)?;
        if backend.sandbox.is_none() {
            output::session_result(session.revoke_session().await)?;
        } else {
            // The sandbox's wallets end with it: nothing of theirs stays in the store.
            output::session_result(session.clear_session().await)?;
        }
    }
    pool.clear().await;
    Ok(PoolPhase {
        rss_per_session,
        executes_per_second: total as f64 / elapsed.as_secs_f64(),
        wallets,
        started: started_at,
        ended: ended_at,
    })
}

/// User + system CPU time of the whole process.
#[cfg(unix)]
fn process_cpu() -> Option<Duration> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: getrusage writes a full `rusage` into the pointer on success.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: rc == 0, so the struct was initialised.
    let usage = unsafe { usage.assume_init() };
    let time = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    Some(time(usage.ru_utime) + time(usage.ru_stime))
}

#[cfg(not(unix))]
fn process_cpu() -> Option<Duration> {
    None
}

/// Resident memory of the process, KiB (Linux `/proc/self/status`).
fn resident_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The human form of the report.
fn text_report(value: &Value) -> String {
    let rows = [
        ("startupMs", "process start to first call ready", "ms"),
        ("instantiateUs", "instantiate", "us"),
        ("createMs", "create", "ms"),
        ("registerMs", "register", "ms"),
        ("firstExecuteMs", "first execute (unlocks)", "ms"),
        ("executeMedianMs", "warm execute, median", "ms"),
        ("executeP99Ms", "warm execute, p99", "ms"),
        (
            "clientCpuPerExecuteMs",
            "process CPU per warm execute",
            "ms",
        ),
        ("executesPerSecond", "executes per second", "/s"),
        (
            "rssPerIdleSessionKiB",
            "resident memory per idle session",
            "KiB",
        ),
    ];
    let shown = |v: &Value| {
        v.as_f64()
            .map_or_else(|| "n/a".to_owned(), |v| format!("{v:.3}"))
    };
    let mut out = format!(
        "backend: {}, session store: {}\n",
        value["backend"].as_str().unwrap_or("?"),
        value["sessionStore"].as_str().unwrap_or("?"),
    );
    if value.get("executesPerSecond").is_some() {
        out.push_str(&format!(
            "{} executes, {} wallets, concurrency {}\n",
            value["executes"], value["wallets"], value["concurrency"]
        ));
    }
    for (key, label, unit) in rows {
        // Parts not run (`--only`) have no fields; a field that could not be
        // measured is null.
        if let Some(v) = value.get(key) {
            out.push_str(&format!("{label:<36} {:>12} {unit}\n", shown(v)));
        }
    }
    if let Some(store) = value.get("store") {
        out.push_str(&format!(
            "store {}: {} reads and {} compare-and-swaps of {} bytes\n",
            store["url"].as_str().unwrap_or("?"),
            store["ops"],
            store["ops"],
            store["valueBytes"]
        ));
        for (key, label, unit) in [
            ("getsPerSecond", "store reads per second", "/s"),
            ("getMedianUs", "store read, median", "us"),
            ("casPerSecond", "store compare-and-swaps per second", "/s"),
            ("casMedianUs", "store compare-and-swap, median", "us"),
        ] {
            out.push_str(&format!("{label:<36} {:>12} {unit}\n", shown(&store[key])));
        }
    }
    out.trim_end().to_owned()
}
