//! [`SessionRuntime`]: the engine, the compiled and pre-instantiated component,
//! and the epoch ticker that enforces call time limits.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context as _;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::bindings::SessionEnginePre;
use super::cache::{self, CacheStatus};
use super::context::SessionContext;
use super::core_dumps::exclude_from_core_dumps;
use super::host_state::HostState;
use super::imports::{self, Imports};
#[cfg(feature = "embedded")]
use super::options::embedded_component;
use super::options::{ComponentSource, RuntimeOptions};
use super::pool::{PoolOptions, SessionPool};
use super::session::WalletSession;
use super::worker::Worker;

/// Interval between engine epoch increments.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Name of the exported interface, as the component names it.
pub(crate) const SESSION_EXPORT: &str = "chipi:session/session@0.5.0";

/// Epoch ticks to allow for a call limited to `timeout`: rounded up, plus one
/// because the first tick may come right after the deadline is set.
pub(crate) fn deadline_ticks(timeout: Duration) -> u64 {
    let tick = EPOCH_TICK.as_nanos();
    let ticks = timeout.as_nanos().div_ceil(tick).max(1) + 1;
    u64::try_from(ticks).unwrap_or(u64::MAX)
}

/// The engine configuration every runtime (and every cache entry) uses.
#[cfg(test)]
pub(crate) fn new_engine() -> anyhow::Result<Engine> {
    Ok(Engine::new(&engine_config())?)
}

/// Epoch interruption on; GC-typed proposals off. The component needs no GC,
/// and wasmtime is built without its `gc` cargo feature (the workspace's
/// `Cargo.toml`), so GC support must be off for `Engine::new` to accept the
/// configuration.
pub(crate) fn engine_config() -> Config {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.gc_support(false);
    config.wasm_gc(false);
    config
}

/// The engine of a runtime: [`engine_config`] plus wasmtime's pooling
/// instance allocator, sized for `options.max_instances` live instances
/// whose memories may each grow to `options.memory_limit_bytes`.
/// Instantiating from the pool reuses pre-reserved slots (tens of
/// microseconds); a slot's memory is reset (zeroed) when its instance goes.
fn runtime_engine(options: &RuntimeOptions) -> anyhow::Result<Engine> {
    let mut pooling = PoolingAllocationConfig::default();
    let instances = options.max_instances;
    pooling.total_component_instances(instances);
    pooling.total_core_instances(instances.saturating_mul(CORE_INSTANCES_PER_COMPONENT));
    pooling.total_memories(instances.saturating_mul(MEMORIES_PER_COMPONENT));
    pooling.total_tables(instances.saturating_mul(TABLES_PER_COMPONENT));
    pooling.max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT);
    pooling.max_memories_per_component(MEMORIES_PER_COMPONENT);
    pooling.max_tables_per_component(TABLES_PER_COMPONENT);
    pooling.max_memory_size(options.memory_limit_bytes);
    let mut config = engine_config();
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    Engine::new(&config)
        .map_err(anyhow::Error::from)
        .context("cannot create the pooling engine")
}

/// Core instances one component instance may need (the guest, WASI adapter
/// shims and the canonical-ABI glue).
const CORE_INSTANCES_PER_COMPONENT: u32 = 32;
/// Linear memories of one component instance.
const MEMORIES_PER_COMPONENT: u32 = 4;
/// Tables of one component instance.
const TABLES_PER_COMPONENT: u32 = 16;

/// True when `component` exports the `chipi:session/session` interface.
pub(crate) fn exports_session(engine: &Engine, component: &Component) -> bool {
    component
        .component_type()
        .exports(engine)
        .any(|(name, _)| name == SESSION_EXPORT)
}

/// Loads, compiles (or loads from cache) and pre-instantiates the component
/// once; [`open_session`](SessionRuntime::open_session) and
/// [`pool`](SessionRuntime::pool) then give warm wallet sessions in
/// sandboxed instances.
///
/// Cloning is cheap (shared state); the runtime is `Send + Sync`. Calls must
/// run inside a Tokio runtime with the time driver enabled (`enable_all`).
#[derive(Clone)]
pub struct SessionRuntime {
    inner: Arc<RuntimeInner>,
}

pub(crate) struct RuntimeInner {
    pub(crate) engine: Engine,
    pub(crate) pre: SessionEnginePre<HostState>,
    pub(crate) memory_limit_bytes: usize,
    pub(crate) call_timeout: Duration,
    cache_status: CacheStatus,
    cache_path: Option<PathBuf>,
    // Dropped with the runtime, which stops the ticker thread.
    _ticker: EpochTicker,
}

impl SessionRuntime {
    /// Build a runtime: compile the component (or load it from the cache),
    /// link WASI p2, `wasi:http` and the project imports, pre-instantiate,
    /// and start the epoch ticker.
    pub fn new(options: RuntimeOptions) -> anyhow::Result<Self> {
        options.validate()?;
        if !options.allow_core_dumps {
            exclude_from_core_dumps().context("cannot exclude the process from core dumps")?;
        }
        let wasm: Cow<'_, [u8]> = match &options.component {
            #[cfg(feature = "embedded")]
            ComponentSource::Embedded => Cow::Borrowed(embedded_component()),
            ComponentSource::Path(path) => Cow::Owned(
                std::fs::read(path)
                    .with_context(|| format!("cannot read component {}", path.display()))?,
            ),
            ComponentSource::Bytes(bytes) => Cow::Borrowed(bytes.as_ref()),
        };
        let engine = runtime_engine(&options)?;
        let loaded = cache::load_or_compile(&engine, &wasm, options.cache_dir.as_deref())
            .context("cannot compile the session component")?;
        if !exports_session(&engine, &loaded.component) {
            anyhow::bail!("the component does not export `{SESSION_EXPORT}`");
        }

        let mut linker: Linker<HostState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        imports::add_to_linker(&mut linker)?;
        let instance_pre = linker
            .instantiate_pre(&loaded.component)
            .map_err(anyhow::Error::from)
            .context("the component's imports cannot be satisfied")?;
        let pre = SessionEnginePre::new(instance_pre)
            .map_err(anyhow::Error::from)
            .context("the component does not match the `session-engine` world")?;

        let ticker = EpochTicker::start(&engine)?;
        Ok(Self {
            inner: Arc::new(RuntimeInner {
                engine,
                pre,
                memory_limit_bytes: options.memory_limit_bytes,
                call_timeout: options.call_timeout,
                cache_status: loaded.status,
                cache_path: loaded.path,
                _ticker: ticker,
            }),
        })
    }

    /// A warm session for one wallet in its own instance, instantiated and
    /// with its `wallet-session` resource constructed. Dropping the session
    /// releases the instance and its memory (keys included).
    ///
    /// Stateless hosts open one per request; servers keep it, or use a
    /// [`pool`](Self::pool).
    pub async fn open_session(
        &self,
        imports: Imports,
        ctx: SessionContext,
    ) -> anyhow::Result<WalletSession> {
        let worker = Arc::new(Worker::new(Arc::clone(&self.inner), imports));
        let session = WalletSession::new(worker, ctx);
        session.warm_up().await?;
        Ok(session)
    }

    /// A pool of warm sessions for servers, keyed by wallet, over
    /// `options.instances` shared instances calling out through `imports`.
    pub fn pool(&self, imports: Imports, options: PoolOptions) -> anyhow::Result<SessionPool> {
        SessionPool::new(Arc::clone(&self.inner), imports, options)
    }

    /// What happened with the compiled-component cache at start-up.
    pub fn cache_status(&self) -> &CacheStatus {
        &self.inner.cache_status
    }

    /// True when the compiled component came from the on-disk cache.
    pub fn loaded_from_cache(&self) -> bool {
        self.inner.cache_status == CacheStatus::Hit
    }

    /// The cache entry used or written, when caching is enabled.
    pub fn cache_path(&self) -> Option<&Path> {
        self.inner.cache_path.as_deref()
    }

    /// Limit on each linear memory of a call's instance, in bytes.
    pub fn memory_limit_bytes(&self) -> usize {
        self.inner.memory_limit_bytes
    }

    /// Time limit of one call.
    pub fn call_timeout(&self) -> Duration {
        self.inner.call_timeout
    }
}

impl std::fmt::Debug for SessionRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRuntime")
            .field("cache_status", &self.inner.cache_status)
            .field("cache_path", &self.inner.cache_path)
            .field("memory_limit_bytes", &self.inner.memory_limit_bytes)
            .field("call_timeout", &self.inner.call_timeout)
            .finish_non_exhaustive()
    }
}

/// A thread incrementing the engine epoch every [`EPOCH_TICK`] until dropped.
struct EpochTicker {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: &Engine) -> anyhow::Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        let weak = engine.weak();
        let thread = std::thread::Builder::new()
            .name("chipi-session-epoch".into())
            .spawn(move || loop {
                match stopped.recv_timeout(EPOCH_TICK) {
                    Err(RecvTimeoutError::Timeout) => match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => return,
                    },
                    // Sender dropped (runtime dropped) or an explicit stop.
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                }
            })
            .context("cannot start the epoch ticker thread")?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::cache::EMPTY_COMPONENT;

    #[test]
    fn deadline_ticks_cover_the_timeout() {
        assert_eq!(deadline_ticks(Duration::from_millis(10)), 2);
        assert_eq!(deadline_ticks(Duration::from_millis(11)), 3);
        assert_eq!(deadline_ticks(Duration::from_secs(60)), 6001);
        assert_eq!(deadline_ticks(Duration::from_nanos(1)), 2);
        assert_eq!(deadline_ticks(Duration::MAX), u64::MAX);
    }

    #[test]
    fn ticker_stops_when_dropped() {
        let engine = new_engine().unwrap();
        let ticker = EpochTicker::start(&engine).unwrap();
        std::thread::sleep(EPOCH_TICK * 3);
        let started = std::time::Instant::now();
        drop(ticker); // joins the thread
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn ticker_stops_when_the_engine_is_gone() {
        let engine = new_engine().unwrap();
        let mut ticker = EpochTicker::start(&engine).unwrap();
        drop(engine);
        let thread = ticker.thread.take().unwrap();
        // Keep the stop channel open: the thread must exit on its own.
        thread.join().unwrap();
    }

    #[test]
    fn component_without_the_export_is_rejected() {
        let options = RuntimeOptions {
            cache_dir: None,
            ..RuntimeOptions::new(ComponentSource::Bytes(EMPTY_COMPONENT.into()))
        };
        let err = SessionRuntime::new(options).unwrap_err();
        assert!(format!("{err:#}").contains(SESSION_EXPORT), "{err:#}");
    }

    #[test]
    fn unreadable_component_path_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let options = RuntimeOptions {
            cache_dir: None,
            ..RuntimeOptions::new(ComponentSource::Path(dir.path().join("missing.wasm")))
        };
        let err = SessionRuntime::new(options).unwrap_err();
        assert!(format!("{err:#}").contains("missing.wasm"));
    }

    #[test]
    fn invalid_options_are_rejected_before_compiling() {
        let options = RuntimeOptions {
            cache_dir: None,
            call_timeout: Duration::ZERO,
            ..RuntimeOptions::new(ComponentSource::Bytes(b"garbage".as_slice().into()))
        };
        let err = SessionRuntime::new(options).unwrap_err();
        assert!(format!("{err:#}").contains("timeout"));
    }

    #[test]
    fn runtime_is_send_sync_and_clone() {
        fn assert_traits<T: Send + Sync + Clone + 'static>() {}
        assert_traits::<SessionRuntime>();
        assert_traits::<WalletSession>();
        assert_traits::<SessionPool>();
    }
}
