//! Routes and the request-recording / fault-injection middleware.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
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
    let bytes = match axum::body::to_bytes(body, chipi_api::MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                "Request body could not be read or is too large",
            )
            .into_response()
        }
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
    let applied = {
        let mut st = shared.lock();
        st.requests.push(record);
        faults::take(&mut st.faults, &path)
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

fn fault_response(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (code, message) = faults::status_error(status.as_u16());
    let mut resp = ApiError::new(status, code, message).into_response();
    if status == StatusCode::TOO_MANY_REQUESTS {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    resp
}
