//! Fault injection knobs.
//!
//! A [`Faults`] set applies to requests whose path ends with [`Faults::endpoint`]
//! (every non-admin request when absent), to the next [`Faults::remaining`] of them
//! when set (then the set clears itself). A request only counts when at least one
//! knob of the set concerns it: `substitute` concerns `prepare-typed-data` only,
//! `missing_tx_hash` concerns `execute-sponsored-transaction` only, the others
//! concern every request. Admin endpoints (`/sandbox/...`) are never faulted.
//!
//! Effects: `delay_ms` first; then `status` answers with that status and a Chipi
//! error body (429 adds `Retry-After: 1`) without processing the request;
//! `malformed_json` answers 200 with a truncated body without processing it;
//! `missing_tx_hash` processes the execution (state changes happen) but answers `{}`;
//! `substitute` tampers with the typed data returned (the honest version stays the
//! one the sandbox accepts at execution, so tampered data is always refused there).

use serde::{Deserialize, Serialize};

use super::typed_data::Substitution;

/// Test knobs; every field is optional. Serialized with snake_case field names
/// (camelCase aliases are accepted).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Answer with this HTTP status and a JSON error body (e.g. 401, 429, 500).
    pub status: Option<u16>,
    /// Wait this long before answering.
    #[serde(alias = "delayMs")]
    pub delay_ms: Option<u64>,
    /// Answer 200 with a truncated, non-JSON body.
    #[serde(alias = "malformedJson")]
    pub malformed_json: bool,
    /// `execute-sponsored-transaction` answers 200 `{}` (no `transactionHash`).
    #[serde(alias = "missingTxHash")]
    pub missing_tx_hash: bool,
    /// `prepare-typed-data` returns tampered typed data.
    pub substitute: Option<Substitution>,
    /// Only requests whose path ends with this (`"prepare-typed-data"`,
    /// `"execute-sponsored-transaction"`, `"rpc"`).
    pub endpoint: Option<String>,
    /// Only the next N matching requests; the faults clear afterwards.
    pub remaining: Option<u32>,
}

/// What kind of endpoint a request hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EndpointKind {
    Prepare,
    Execute,
    Other,
}

impl EndpointKind {
    pub fn of(path: &str) -> Self {
        let p = path.trim_end_matches('/');
        if p.ends_with("/transactions/prepare-typed-data") {
            Self::Prepare
        } else if p.ends_with("/transactions/execute-sponsored-transaction") {
            Self::Execute
        } else {
            Self::Other
        }
    }
}

/// The faults that apply to one request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct AppliedFaults {
    pub status: Option<u16>,
    pub delay_ms: Option<u64>,
    pub malformed_json: bool,
    pub missing_tx_hash: bool,
    pub substitute: Option<Substitution>,
}

/// Decide which faults apply to a request on `path`, consuming one use of
/// `remaining`. Clears `slot` when the last use is consumed.
pub(crate) fn take(slot: &mut Option<Faults>, path: &str) -> AppliedFaults {
    let Some(f) = slot.as_mut() else {
        return AppliedFaults::default();
    };
    if let Some(ep) = &f.endpoint {
        let ep = ep.trim_matches('/');
        if !path.trim_end_matches('/').ends_with(ep) {
            return AppliedFaults::default();
        }
    }
    let kind = EndpointKind::of(path);
    let applied = AppliedFaults {
        status: f.status,
        delay_ms: f.delay_ms,
        malformed_json: f.malformed_json,
        missing_tx_hash: f.missing_tx_hash && kind == EndpointKind::Execute,
        substitute: f.substitute.filter(|_| kind == EndpointKind::Prepare),
    };
    if applied == AppliedFaults::default() {
        return applied;
    }
    match f.remaining {
        Some(0) => {
            *slot = None;
            return AppliedFaults::default();
        }
        Some(1) => *slot = None,
        Some(n) => f.remaining = Some(n - 1),
        None => {}
    }
    applied
}

/// Chipi-style code and message for a faulted status.
pub(crate) fn status_error(status: u16) -> (&'static str, &'static str) {
    match status {
        400 => ("BAD_REQUEST", "Bad request (injected fault)"),
        401 => ("UNAUTHORIZED", "Unauthorized (injected fault)"),
        403 => ("FORBIDDEN", "Forbidden (injected fault)"),
        404 => ("NOT_FOUND", "Not found (injected fault)"),
        429 => ("RATE_LIMITED", "Too many requests (injected fault)"),
        502 => ("BAD_GATEWAY", "Bad gateway (injected fault)"),
        503 => (
            "SERVICE_UNAVAILABLE",
            "Service unavailable (injected fault)",
        ),
        _ => (
            "INTERNAL_SERVER_ERROR",
            "Internal server error (injected fault)",
        ),
    }
}

/// Body of a `malformed_json` fault: the start of a plausible JSON answer, cut off.
pub(crate) const MALFORMED_BODY: &str =
    "{\"typedData\":{\"types\":{\"StarknetDomain\":[{\"name\":\"na";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_counts_only_relevant_requests() {
        let mut slot = Some(Faults {
            missing_tx_hash: true,
            remaining: Some(1),
            ..Faults::default()
        });
        // A prepare request is not concerned by missing_tx_hash: not consumed.
        assert_eq!(
            take(&mut slot, "/v1/transactions/prepare-typed-data"),
            AppliedFaults::default()
        );
        assert!(slot.is_some());
        let a = take(&mut slot, "/v1/transactions/execute-sponsored-transaction");
        assert!(a.missing_tx_hash);
        assert!(slot.is_none());
    }

    #[test]
    fn endpoint_filter_and_countdown() {
        let mut slot = Some(Faults {
            status: Some(500),
            endpoint: Some("rpc".into()),
            remaining: Some(2),
            ..Faults::default()
        });
        assert_eq!(
            take(&mut slot, "/v1/transactions/prepare-typed-data").status,
            None
        );
        assert_eq!(take(&mut slot, "/rpc").status, Some(500));
        assert_eq!(take(&mut slot, "/rpc").status, Some(500));
        assert_eq!(take(&mut slot, "/rpc").status, None);
        assert!(slot.is_none());
    }

    #[test]
    fn json_shape() {
        let f: Faults = serde_json::from_str(
            r#"{"status":429,"delayMs":5,"substitute":"extra_call","endpoint":"prepare-typed-data"}"#,
        )
        .unwrap_or_default();
        assert_eq!(f.status, Some(429));
        assert_eq!(f.delay_ms, Some(5));
        assert_eq!(f.substitute, Some(Substitution::ExtraCall));
    }
}
