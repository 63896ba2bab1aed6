//! `chipi-session bench`: create, register and warm executes, timed.
//!
//! Against the backend the global options name when `--api-url` /
//! `CHIPI_API_URL` is given (wallet, encrypt key, store and the rest as for
//! the other commands), otherwise against an embedded sandbox with fresh
//! wallets and a throwaway SQLite store. Two phases:
//!
//! 1. Latency, one warm session on its own instance: create, register,
//!    lock (as after a restart), the first execute (which unlocks the key),
//!    then `--executes` warm executes one after the other: median, p99, and
//!    the process's CPU time per warm execute.
//! 2. Throughput and memory, a [`SessionPool`] over `--concurrency`
//!    instances: `--wallets` wallets each get a warm session (created,
//!    registered, unlocked); the resident memory this added, per session,
//!    is `rssPerIdleSessionKiB`; then `--executes` executes spread over the
//!    wallets with `--concurrency` in flight give `executesPerSecond`.
//!
//! Every session the benchmark registers is revoked before it ends.
//!
//! Against the embedded sandbox the process's CPU includes the sandbox's
//! signature checks; `clientCpuPerExecuteMs` is the component's alone only
//! against an external backend (`scripts/bench.sh` runs the sandbox in its
//! own process for that reason).

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _};
use serde_json::{json, Value};

use super::args::{BenchArgs, GlobalArgs};
use super::context;
use super::embedded::EmbeddedSandbox;
use super::output::{self, CliError};
use chipi_session_host::runtime::{
    Call, CreateOptions, Imports, PoolOptions, RegisterOptions, SessionContext, SessionRuntime,
    WalletSession,
};
use chipi_session_host::store::{SessionStore, SqliteStore};

/// STRK token (the README's transfer target).
const TOKEN: &str = "0x04718f5a0fc34cc1af16a1cdee98ffb20c31f5cd61d6ab07201858f4287c938d";
/// Recipient of the benchmark transfers.
const RECIPIENT: &str = "0xc0ffee";
/// Encrypt key of the embedded sandbox's wallets when none is given.
const SANDBOX_PIN: &str = "123456";

static PROCESS_START: OnceLock<Instant> = OnceLock::new();

/// Record the process start (called first thing in `main`).
pub(crate) fn mark_process_start() {
    PROCESS_START.get_or_init(Instant::now);
}

fn since_process_start() -> Duration {
    PROCESS_START.get_or_init(Instant::now).elapsed()
}

/// Where the sessions go and how to reach the backend.
struct Backend {
    /// The embedded sandbox, when no API URL was given.
    sandbox: Option<EmbeddedSandbox>,
    /// A throwaway store directory to remove at the end.
    scratch: Option<PathBuf>,
    imports: Imports,
    /// The wallet of the latency phase.
    first: SessionContext,
}

/// Run the benchmark and report one JSON object.
pub(crate) async fn run(
    global: &GlobalArgs,
    args: &BenchArgs,
) -> Result<(Value, String), CliError> {
    let warnings = context::Warnings::default();
    let runtime = SessionRuntime::new(context::runtime_options(global)).map_err(CliError::Host)?;
    let backend = backend(global, &warnings).await?;
    let result = measure(&runtime, &backend, args).await;
    if let Some(embedded) = backend.sandbox {
        embedded.sandbox.shutdown().await;
    }
    if let Some(dir) = backend.scratch {
        let _ = std::fs::remove_dir_all(dir);
    }
    let mut value = result?;
    warnings.add_to(&mut value);
    let text = text_report(&value);
    Ok((value, text))
}

async fn backend(global: &GlobalArgs, warnings: &context::Warnings) -> Result<Backend, CliError> {
    if global.api_url.is_some() {
        let first = context::session_context(global).map_err(CliError::Usage)?;
        let imports = context::imports(global, &first.config, warnings).map_err(CliError::Usage)?;
        return Ok(Backend {
            sandbox: None,
            scratch: None,
            imports,
            first,
        });
    }
    let embedded = EmbeddedSandbox::start().await?;
    let scratch = std::env::temp_dir().join(format!(
        "chipi-session-bench-{}-{}",
        std::process::id(),
        since_process_start().as_nanos()
    ));
    std::fs::create_dir_all(&scratch)
        .with_context(|| format!("cannot create {}", scratch.display()))
        .map_err(CliError::Host)?;
    let store: Arc<dyn SessionStore> = Arc::new(
        SqliteStore::open(scratch.join("sessions.sqlite"))
            .context("cannot open the benchmark store")
            .map_err(CliError::Host)?,
    );
    let imports = embedded.imports(store, warnings)?;
    let first = embedded.wallet(SANDBOX_PIN).1;
    Ok(Backend {
        sandbox: Some(embedded),
        scratch: Some(scratch),
        imports,
        first,
    })
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
            })
            .await,
    )?;
    Ok((create, started.elapsed()))
}

async fn measure(
    runtime: &SessionRuntime,
    backend: &Backend,
    args: &BenchArgs,
) -> Result<Value, CliError> {
    // Phase 1: latency on one warm session with its own instance.
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
    session.close().await.map_err(CliError::Host)?;
    times.sort();

    // Phase 2: a pool of warm sessions, memory and throughput.
    let (rss_per_session, throughput, wallets) = pool_phase(runtime, backend, args).await?;

    let per = |d: Duration| ms(d) / executes as f64;
    Ok(json!({
        "backend": if backend.sandbox.is_some() { "embedded-sandbox" } else { "external" },
        "executes": executes,
        "wallets": wallets,
        "concurrency": args.concurrency,
        "startupMs": ms(startup),
        "instantiateUs": instantiate.as_secs_f64() * 1e6,
        "createMs": ms(create),
        "registerMs": ms(register),
        "firstExecuteMs": ms(first_execute),
        "executeMedianMs": ms(percentile(&times, 50)),
        "executeP99Ms": ms(percentile(&times, 99)),
        "executeMeanMs": per(sequential),
        "clientCpuPerExecuteMs": cpu.map(per),
        "executesPerSecond": throughput,
        "rssPerIdleSessionKiB": rss_per_session,
    }))
}

/// Nearest-rank percentile of sorted `times`.
fn percentile(times: &[Duration], p: usize) -> Duration {
    if times.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p * times.len()).div_ceil(100).clamp(1, times.len());
    times[rank - 1]
}

/// Warm sessions for `--wallets` wallets in a pool; returns the resident
/// memory they added per session (KiB), the executes per second with
/// `--concurrency` in flight, and the number of wallets used.
async fn pool_phase(
    runtime: &SessionRuntime,
    backend: &Backend,
    args: &BenchArgs,
) -> Result<(Option<f64>, f64, u32), CliError> {
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
    let throughput = total as f64 / started.elapsed().as_secs_f64();
    if backend.sandbox.is_none() {
        for ctx in contexts.iter() {
            let session = pool.session(ctx).await.map_err(CliError::Host)?;
            output::session_result(session.revoke_session().await)?;
        }
    }
    pool.clear().await;
    Ok((rss_per_session, throughput, wallets))
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
    let mut out = format!(
        "backend: {}, {} executes, {} wallets, concurrency {}\n",
        value["backend"].as_str().unwrap_or("?"),
        value["executes"],
        value["wallets"],
        value["concurrency"]
    );
    for (key, label, unit) in rows {
        let shown = value[key]
            .as_f64()
            .map_or_else(|| "n/a".to_owned(), |v| format!("{v:.3}"));
        out.push_str(&format!("{label:<36} {shown:>12} {unit}\n"));
    }
    out.trim_end().to_owned()
}
