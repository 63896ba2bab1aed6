//! Per-call store state: a WASI context that grants nothing, the HTTP policy,
//! resource limits and the project imports.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{HostWallClock, WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::http_policy::HttpPolicy;
use super::imports::WallClock;
use super::redact::redact_urls_in;
use super::token::TokenSource;
use crate::store::SessionStore;

/// Bytes of guest stderr kept for error reports; the rest is dropped.
pub(crate) const STDERR_CAPTURE_BYTES: usize = 16 * 1024;

/// Core instances, tables and memories one instance of the component may
/// create (a wasip2 component is a handful of core modules plus adapters).
const MAX_INSTANCES: usize = 64;
const MAX_TABLES: usize = 64;
const MAX_MEMORIES: usize = 8;
/// Elements per table (function tables of Rust guests are a few thousand).
const MAX_TABLE_ELEMENTS: usize = 100_000;

/// Resource limits of one store, from the runtime options.
pub(crate) fn store_limits(memory_limit_bytes: usize) -> StoreLimits {
    StoreLimitsBuilder::new()
        .memory_size(memory_limit_bytes)
        .table_elements(MAX_TABLE_ELEMENTS)
        .instances(MAX_INSTANCES)
        .tables(MAX_TABLES)
        .memories(MAX_MEMORIES)
        .build()
}

/// The `T` of every `Store<T>` the runtime creates.
pub(crate) struct HostState {
    pub(crate) table: ResourceTable,
    pub(crate) wasi: WasiCtx,
    pub(crate) http: WasiHttpCtx,
    pub(crate) http_policy: HttpPolicy,
    pub(crate) limits: StoreLimits,
    pub(crate) store: Arc<dyn SessionStore>,
    pub(crate) token: Arc<dyn TokenSource>,
}

/// Everything needed to build a [`HostState`].
pub(crate) struct HostStateParts {
    pub(crate) http_policy: HttpPolicy,
    pub(crate) memory_limit_bytes: usize,
    pub(crate) store: Arc<dyn SessionStore>,
    pub(crate) token: Arc<dyn TokenSource>,
    pub(crate) clock: Option<WallClock>,
    pub(crate) stderr: StderrCapture,
}

impl HostState {
    /// A fresh state: no preopens, env, args or stdio (stderr captured into a
    /// bounded buffer), no sockets or name lookups; HTTP only through the policy.
    pub(crate) fn new(parts: HostStateParts) -> Self {
        let mut builder = WasiCtx::builder();
        builder
            .stderr(parts.stderr)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        if let Some(clock) = parts.clock {
            builder.wall_clock(SharedWallClock(clock));
        }
        Self {
            table: ResourceTable::new(),
            wasi: builder.build(),
            http: WasiHttpCtx::new(),
            http_policy: parts.http_policy,
            limits: store_limits(parts.memory_limit_bytes),
            store: parts.store,
            token: parts.token,
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.http_policy,
        }
    }
}

/// `wasi:clocks/wall-clock` backed by the host's [`WallClock`], so tests and
/// the sandbox can move the component's notion of time.
pub(crate) struct SharedWallClock(pub(crate) WallClock);

impl HostWallClock for SharedWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_micros(1)
    }

    fn now(&self) -> Duration {
        (self.0)()
    }
}

/// Guest stderr kept in memory up to [`STDERR_CAPTURE_BYTES`]; writes past the
/// limit are accepted and dropped so a chatty guest never traps on logging.
#[derive(Clone, Default)]
pub(crate) struct StderrCapture {
    inner: Arc<Mutex<CaptureBuf>>,
}

#[derive(Default)]
struct CaptureBuf {
    bytes: Vec<u8>,
    truncated: bool,
}

impl StderrCapture {
    fn append(&self, data: &[u8]) {
        let mut buf = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let room = STDERR_CAPTURE_BYTES.saturating_sub(buf.bytes.len());
        let take = room.min(data.len());
        buf.bytes.extend_from_slice(&data[..take]);
        if take < data.len() {
            buf.truncated = true;
        }
    }

    /// Captured text (lossy UTF-8), with a marker when output was dropped;
    /// `None` when the guest wrote nothing.
    pub(crate) fn text(&self) -> Option<String> {
        let buf = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if buf.bytes.is_empty() {
            return None;
        }
        let mut text = String::from_utf8_lossy(&buf.bytes).trim_end().to_owned();
        if buf.truncated {
            text.push_str(" [stderr truncated]");
        }
        Some(text)
    }

    /// The warnings in the captured output (see [`parse_warnings`]).
    pub(crate) fn warnings(&self) -> Vec<String> {
        let buf = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        parse_warnings(&buf.bytes)
    }

    /// Forget what was captured (a long-lived instance starts each call
    /// with an empty capture).
    pub(crate) fn clear(&self) {
        let mut buf = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        buf.bytes.clear();
        buf.truncated = false;
    }
}

/// Prefix of the guest's stderr lines that report a warning on success.
pub(crate) const WARNING_PREFIX: &str = "warning: ";

/// The `warning: ` lines of captured guest stderr, in order, prefix removed,
/// with URL userinfo redacted and control characters (terminal escapes)
/// replaced by `?`. Other lines and empty warnings are ignored. The capture is
/// bounded ([`STDERR_CAPTURE_BYTES`]), so this is too.
pub(crate) fn parse_warnings(captured: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(captured)
        .lines()
        .filter_map(|line| line.strip_prefix(WARNING_PREFIX))
        .map(|text| {
            let clean: String = text
                .trim()
                .chars()
                .map(|c| if c.is_control() { '?' } else { c })
                .collect();
            redact_urls_in(&clean).into_owned()
        })
        .filter(|text| !text.is_empty())
        .collect()
}

impl IsTerminal for StderrCapture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for StderrCapture {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(CaptureWriter(self.clone()))
    }
}

struct CaptureWriter(StderrCapture);

impl tokio::io::AsyncWrite for CaptureWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.0.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt as _;

    #[tokio::test]
    async fn stderr_capture_is_bounded() {
        let capture = StderrCapture::default();
        assert_eq!(capture.text(), None);
        let mut writer = Pin::from(capture.async_stream());
        writer.write_all(b"panicked at x\n").await.unwrap();
        assert_eq!(capture.text().as_deref(), Some("panicked at x"));
        let big = vec![b'a'; STDERR_CAPTURE_BYTES * 2];
        writer.write_all(&big).await.unwrap();
        let text = capture.text().unwrap();
        assert!(text.ends_with("[stderr truncated]"));
        assert!(text.len() <= STDERR_CAPTURE_BYTES + 32);
        assert!(!capture.is_terminal());
    }

    #[test]
    fn warnings_are_parsed_from_captured_stderr() {
        let captured = [
            "panicked somewhere",
            "warning: store update failed after sending 0x1: disk full\r",
            "  warning: indented lines are not warnings",
            "WARNING: neither are shouting ones",
            "warning:   ",
            "warning: beep\x07 \x1b[31mred",
            "warning: rpc https://alice:hunter2@rpc.example/x unreachable",
            "warning: last, without newline",
        ]
        .join("\n");
        let captured = captured.as_bytes();
        assert_eq!(
            parse_warnings(captured),
            [
                "store update failed after sending 0x1: disk full",
                "beep? ?[31mred",
                "rpc https://<redacted>@rpc.example/x unreachable",
                "last, without newline",
            ]
        );
        assert!(parse_warnings(b"").is_empty());
        assert!(parse_warnings(b"nothing to see\n").is_empty());
        assert_eq!(
            parse_warnings(b"warning: \xff bad utf8"),
            ["\u{fffd} bad utf8"]
        );
    }

    #[tokio::test]
    async fn warnings_come_from_the_bounded_capture() {
        let capture = StderrCapture::default();
        let mut writer = Pin::from(capture.async_stream());
        writer.write_all(b"warning: first\n").await.unwrap();
        // Far more than the capture keeps: later warnings are dropped, the
        // buffer stays bounded.
        let flood = "warning: flood\n".repeat(STDERR_CAPTURE_BYTES);
        writer.write_all(flood.as_bytes()).await.unwrap();
        writer.write_all(b"warning: never seen\n").await.unwrap();
        let warnings = capture.warnings();
        assert_eq!(warnings[0], "first");
        assert!(warnings.len() <= STDERR_CAPTURE_BYTES / "warning: flood\n".len() + 1);
        assert!(!warnings.iter().any(|w| w == "never seen"));
        assert!(capture.inner.lock().unwrap().bytes.len() <= STDERR_CAPTURE_BYTES);
    }

    #[test]
    fn shared_clock_drives_wall_clock() {
        use std::sync::atomic::{AtomicU64, Ordering};
        let secs = Arc::new(AtomicU64::new(1_700_000_000));
        let source = Arc::clone(&secs);
        let wall = SharedWallClock(Arc::new(move || {
            Duration::from_secs(source.load(Ordering::SeqCst))
        }));
        assert_eq!(wall.now().as_secs(), 1_700_000_000);
        secs.fetch_add(7200, Ordering::SeqCst);
        assert_eq!(wall.now().as_secs(), 1_700_007_200);
        assert!(wall.resolution() > Duration::ZERO);
    }

    #[test]
    fn limits_follow_options() {
        use wasmtime::ResourceLimiter as _;
        let mut limits = store_limits(1 << 20);
        assert!(limits.memory_growing(0, 1 << 20, None).unwrap());
        assert!(!limits.memory_growing(0, (1 << 20) + 65536, None).unwrap());
        assert_eq!(limits.instances(), MAX_INSTANCES);
        assert_eq!(limits.memories(), MAX_MEMORIES);
        assert_eq!(limits.tables(), MAX_TABLES);
    }
}
