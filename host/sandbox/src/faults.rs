//! Fault injection knobs.
//!
//! A [`Faults`] set applies to requests whose path ends with [`Faults::endpoint`]
//! (every non-admin request when absent), to the next [`Faults::remaining`] of them
//! when set (then the set clears itself). A request only counts when at least one
//! knob of the set concerns it: `substitute` and `reuse_nonce` concern
//! `prepare-typed-data` only; `nonces_consumed` concerns JSON-RPC `starknet_call`
//! only (with `rpc_method` set, only JSON-RPC requests of that method are
//! concerned at all); `missing_tx_hash`, `drop_answer`, `status_after_apply` and `delay_after_apply_ms`
//! concern `execute-sponsored-transaction` only; the others concern every request.
//! A request is counted when it arrives, before it is processed. Admin endpoints
//! (`/sandbox/...`) are never faulted.
//!
//! Effects, before processing: `delay_ms` first; then `status` answers with that
//! status and a Chipi error body (429 adds `Retry-After: 1`) without processing the
//! request; `malformed_json` answers 200 with a truncated body without processing it;
//! `substitute` tampers with the typed data returned (the honest version stays the
//! one the sandbox accepts at execution, so tampered data is always refused there).
//!
//! Effects after an execution was applied (state changed, transaction recorded and
//! receipt available, nonce consumed), in this order: `delay_after_apply_ms` waits
//! that long before answering (a client with a shorter timeout times out although
//! the transaction landed); then `drop_answer` closes the connection without writing
//! any HTTP response; else `status_after_apply` answers with that status (a 5xx such
//! as 502) and a Chipi error body; else `missing_tx_hash` answers 200 `{}`. An
//! execution the sandbox refuses is answered with its refusal, untouched by these
//! (it still used up one `remaining`).

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
    /// `execute-sponsored-transaction`: apply the transaction, then close the
    /// connection without any HTTP response.
    #[serde(alias = "dropAnswer")]
    pub drop_answer: bool,
    /// `execute-sponsored-transaction`: apply the transaction, then answer with this
    /// HTTP status (a 5xx, e.g. 502) and a Chipi error body.
    #[serde(alias = "statusAfterApply")]
    pub status_after_apply: Option<u16>,
    /// `execute-sponsored-transaction`: apply the transaction, then wait this long
    /// before answering.
    #[serde(alias = "delayAfterApplyMs")]
    pub delay_after_apply_ms: Option<u64>,
    /// `prepare-typed-data` returns tampered typed data.
    pub substitute: Option<Substitution>,
    /// `prepare-typed-data` hands out the nonce of the wallet's last executed
    /// transaction again (a careless or hostile backend): its execution is
    /// refused by the account ("nonce already used").
    #[serde(alias = "reuseNonce")]
    pub reuse_nonce: bool,
    /// JSON-RPC: `is_valid_outside_execution_nonce` answers 0 (consumed) for
    /// every nonce (a lying node).
    #[serde(alias = "noncesConsumed")]
    pub nonces_consumed: bool,
    /// Only requests whose path ends with this (`"prepare-typed-data"`,
    /// `"execute-sponsored-transaction"`, `"rpc"`).
    pub endpoint: Option<String>,
    /// Only JSON-RPC requests of this method (e.g.
    /// `"starknet_getTransactionReceipt"`); other requests are not concerned.
    #[serde(alias = "rpcMethod")]
    pub rpc_method: Option<String>,
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
    pub(crate) fn of(path: &str) -> Self {
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
    pub drop_answer: bool,
    pub status_after_apply: Option<u16>,
    pub delay_after_apply_ms: Option<u64>,
    pub substitute: Option<Substitution>,
    pub reuse_nonce: bool,
    pub nonces_consumed: bool,
}

/// Decide which faults apply to a request on `path`, consuming one use of
/// `remaining`. Clears `slot` when the last use is consumed.
#[cfg(test)]
pub(crate) fn take(slot: &mut Option<Faults>, path: &str) -> AppliedFaults {
    take_for(slot, path, None)
}

/// [`take`] for a request whose JSON-RPC method (when it is one) is
/// `rpc_method`.
pub(crate) fn take_for(
    slot: &mut Option<Faults>,
    path: &str,
    rpc_method: Option<&str>,
) -> AppliedFaults {
    let Some(f) = slot.as_mut() else {
        return AppliedFaults::default();
    };
    if let Some(method) = &f.rpc_method {
        if rpc_method != Some(method.as_str()) {
            return AppliedFaults::default();
        }
    }
    if let Some(ep) = &f.endpoint {
        let ep = ep.trim_matches('/');
        if !path.trim_end_matches('/').ends_with(ep) {
            return AppliedFaults::default();
        }
    }
    let kind = EndpointKind::of(path);
    let execute = kind == EndpointKind::Execute;
    let applied = AppliedFaults {
        status: f.status,
        delay_ms: f.delay_ms,
        malformed_json: f.malformed_json,
        missing_tx_hash: f.missing_tx_hash && execute,
        drop_answer: f.drop_answer && execute,
        status_after_apply: f.status_after_apply.filter(|_| execute),
        delay_after_apply_ms: f.delay_after_apply_ms.filter(|_| execute),
        substitute: f.substitute.filter(|_| kind == EndpointKind::Prepare),
        reuse_nonce: f.reuse_nonce && kind == EndpointKind::Prepare,
        nonces_consumed: f.nonces_consumed && rpc_method == Some("starknet_call"),
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
    fn after_apply_knobs_concern_execute_only() {
        for faults in [
            Faults {
                drop_answer: true,
                ..Faults::default()
            },
            Faults {
                status_after_apply: Some(502),
                ..Faults::default()
            },
            Faults {
                delay_after_apply_ms: Some(10),
                ..Faults::default()
            },
        ] {
            let mut slot = Some(Faults {
                remaining: Some(1),
                ..faults.clone()
            });
            for path in ["/v1/transactions/prepare-typed-data", "/rpc"] {
                assert_eq!(take(&mut slot, path), AppliedFaults::default());
            }
            assert!(
                slot.is_some(),
                "{faults:?} was consumed by another endpoint"
            );
            let a = take(&mut slot, "/v1/transactions/execute-sponsored-transaction");
            assert_eq!(a.drop_answer, faults.drop_answer);
            assert_eq!(a.status_after_apply, faults.status_after_apply);
            assert_eq!(a.delay_after_apply_ms, faults.delay_after_apply_ms);
            assert!(slot.is_none());
        }
        // `endpoint` still filters.
        let mut slot = Some(Faults {
            drop_answer: true,
            endpoint: Some("prepare-typed-data".into()),
            ..Faults::default()
        });
        assert_eq!(
            take(&mut slot, "/v1/transactions/execute-sponsored-transaction"),
            AppliedFaults::default()
        );
    }

    #[test]
    fn after_apply_json_names() {
        let camel: Faults = serde_json::from_str(
            r#"{"dropAnswer":true,"statusAfterApply":502,"delayAfterApplyMs":250}"#,
        )
        .unwrap_or_default();
        let snake: Faults = serde_json::from_str(
            r#"{"drop_answer":true,"status_after_apply":502,"delay_after_apply_ms":250}"#,
        )
        .unwrap_or_default();
        assert!(camel.drop_answer);
        assert_eq!(camel.status_after_apply, Some(502));
        assert_eq!(camel.delay_after_apply_ms, Some(250));
        assert_eq!(camel, snake);
        let out = serde_json::to_value(&snake).unwrap_or_default();
        assert_eq!(out["drop_answer"], true);
        assert_eq!(out["status_after_apply"], 502);
        assert_eq!(out["delay_after_apply_ms"], 250);
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
