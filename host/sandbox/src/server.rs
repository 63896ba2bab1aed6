//! Routes, the request-recording / fault-injection middleware, and the listener that
//! lets a handler close its connection without answering (the `drop_answer` fault).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::connect_info::Connected;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use super::error::ApiError;
use super::faults::{self, AppliedFaults};
use super::state::{RecordedRequest, Shared};
use super::{admin, chipi_api, rpc};

/// Build the router of a sandbox.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/v1/transactions/prepare-typed-data",
            post(chipi_api::prepare_typed_data),
        )
        .route(
            "/v1/transactions/execute-sponsored-transaction",
            post(chipi_api::execute_sponsored),
        )
        .route("/rpc", post(rpc::rpc))
        .route("/sandbox/wallets", post(admin::create_wallet))
        .route(
            "/sandbox/faults",
            get(admin::get_faults)
                .post(admin::set_faults)
                .delete(admin::clear_faults),
        )
        .route("/sandbox/time/advance", post(admin::advance_time))
        .route(
            "/sandbox/requests",
            get(admin::get_requests).delete(admin::clear_requests),
        )
        .route("/sandbox/transactions", get(admin::get_transactions))
        .route("/sandbox/info", get(admin::info))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            shared.clone(),
            record_and_fault,
        ))
        .with_state(shared)
}

async fn not_found(req: Request) -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        format!("Cannot {} {}", req.method(), req.uri().path()),
    )
    .into_response()
}

async fn method_not_allowed(req: Request) -> Response {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        format!("Cannot {} {}", req.method(), req.uri().path()),
    )
    .into_response()
}

/// Record every non-admin request, then apply the active faults.
async fn record_and_fault(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, chipi_api::MAX_BODY).await else {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            "Request body could not be read or is too large",
        )
        .into_response();
    };
    let path = parts.uri.path().to_string();
    if path.starts_with("/sandbox/") {
        return next
            .run(Request::from_parts(parts, Body::from(bytes)))
            .await;
    }

    let raw_body = String::from_utf8_lossy(&bytes).into_owned();
    let body_json = if bytes.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| serde_json::Value::String(raw_body.clone()))
    };
    let record = RecordedRequest {
        method: parts.method.to_string(),
        path: path.clone(),
        query: parts.uri.query().map(str::to_string),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body_json,
        raw_body,
        received_at: shared.now(),
    };
    let rpc_method = record
        .body
        .get("method")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned);
    let applied = {
        let mut st = shared.lock();
        st.requests.push(record);
        faults::take_for(&mut st.faults, &path, rpc_method.as_deref())
    };

    if let Some(ms) = applied.delay_ms {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if let Some(status) = applied.status {
        return fault_response(status);
    }
    if applied.malformed_json {
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            faults::MALFORMED_BODY,
        )
            .into_response();
    }
    parts.extensions.insert::<AppliedFaults>(applied);
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Answer of a status fault: that status (500 when not a valid status code) with a
/// Chipi error body; 429 adds `Retry-After: 1`.
pub(crate) fn fault_response(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (code, message) = faults::status_error(status.as_u16());
    let mut resp = ApiError::new(status, code, message).into_response();
    if status == StatusCode::TOO_MANY_REQUESTS {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    resp
}

/// Per-connection switch, handed to handlers as `ConnectInfo<ConnectionKill>`: once
/// killed, the connection refuses every further read and write, so the server drops
/// it without writing another byte (the client sees the connection closed with no
/// status line).
#[derive(Clone, Debug, Default)]
pub(crate) struct ConnectionKill(Arc<AtomicBool>);

impl ConnectionKill {
    /// Refuse all further I/O on this connection.
    pub(crate) fn kill(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn killed(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// A TCP listener whose connections carry a [`ConnectionKill`].
pub(crate) struct KillableListener(tokio::net::TcpListener);

impl KillableListener {
    pub(crate) fn new(listener: tokio::net::TcpListener) -> Self {
        Self(listener)
    }
}

impl axum::serve::Listener for KillableListener {
    type Io = KillableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (inner, addr) = axum::serve::Listener::accept(&mut self.0).await;
        let stream = KillableStream {
            inner,
            kill: ConnectionKill::default(),
        };
        (stream, addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

impl Connected<axum::serve::IncomingStream<'_, KillableListener>> for ConnectionKill {
    fn connect_info(stream: axum::serve::IncomingStream<'_, KillableListener>) -> Self {
        stream.io().kill.clone()
    }
}

/// A TCP stream that fails every operation once its [`ConnectionKill`] is set.
pub(crate) struct KillableStream {
    inner: tokio::net::TcpStream,
    kill: ConnectionKill,
}

fn killed_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "connection dropped by a sandbox fault",
    )
}

impl tokio::io::AsyncRead for KillableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.kill.killed() {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for KillableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.kill.killed() {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.kill.killed() {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.kill.killed() {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.kill.killed() {
            // Closing happens when the stream is dropped; write nothing more.
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A response body that fails on its first poll, so hyper aborts the connection
/// instead of completing the response.
struct AbortBody;

impl HttpBody for AbortBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, io::Error>>> {
        Poll::Ready(Some(Err(killed_error())))
    }
}

/// The `drop_answer` fault: kill the connection so the client receives no HTTP
/// response at all. The returned response is never written when `kill` is set; its
/// body aborts anyway, as a fallback for a router served without
/// [`KillableListener`].
pub(crate) fn drop_answer(kill: Option<&ConnectionKill>) -> Response {
    if let Some(kill) = kill {
        kill.kill();
    }
    Response::new(Body::new(AbortBody))
}
