//! Printing results and errors: human text by default, one JSON object on
//! stdout with `--json`; exit codes that scripts can rely on.

use serde_json::{json, Value};

use chipi_session_host::runtime::{redact_urls_in, SessionError, SessionState, SessionStatus};

/// Exit code of a successful command.
pub(crate) const EXIT_OK: i32 = 0;
/// Exit code when the operation failed with a session error (see the code).
pub(crate) const EXIT_SESSION_ERROR: i32 = 1;
/// Exit code for bad usage or configuration (missing wallet, bad file, ...).
pub(crate) const EXIT_USAGE: i32 = 2;
/// Exit code when the host failed (component load, trap, time limit).
pub(crate) const EXIT_HOST: i32 = 3;
/// Exit code when a transaction was sent but is not confirmed (`--wait`
/// could not read its receipt in time): its hash is reported; do not send
/// it again, wait for it (`chipi-session wait HASH`) or read `status`.
pub(crate) const EXIT_SENT_UNCONFIRMED: i32 = 4;
/// Exit code when interrupted (Ctrl-C) while waiting for a transaction
/// that was sent (its hash is reported), as a shell reports SIGINT.
pub(crate) const EXIT_INTERRUPTED: i32 = 130;

/// Why a command failed.
#[derive(Debug)]
pub(crate) enum CliError {
    /// The component reported a session error.
    Session(SessionError),
    /// Bad arguments or configuration.
    Usage(anyhow::Error),
    /// The host or the component failed.
    Host(anyhow::Error),
    /// The transaction waited for (`--wait`) was accepted but reverted.
    Reverted {
        /// The transaction hash.
        transaction_hash: String,
        /// The node's revert reason.
        reason: String,
    },
    /// The transaction was sent, but waiting for its receipt failed or ran
    /// out of time: it may land (or have landed).
    SentUnconfirmed {
        /// The transaction hash.
        transaction_hash: String,
        /// Why it is not confirmed.
        cause: Box<CliError>,
    },
    /// Interrupted (Ctrl-C) while waiting for a sent transaction.
    Interrupted {
        /// The transaction hash.
        transaction_hash: String,
    },
}

/// Flatten a component call's two layers of failure (host, then session)
/// into a [`CliError`].
pub(crate) fn session_result<T>(r: anyhow::Result<Result<T, SessionError>>) -> Result<T, CliError> {
    r.map_err(CliError::Host)?.map_err(CliError::Session)
}

impl CliError {
    /// Exit code of this failure.
    pub(crate) fn exit_code(&self) -> i32 {
        match self {
            Self::Session(_) | Self::Reverted { .. } => EXIT_SESSION_ERROR,
            Self::Usage(_) => EXIT_USAGE,
            Self::Host(_) => EXIT_HOST,
            Self::SentUnconfirmed { .. } => EXIT_SENT_UNCONFIRMED,
            Self::Interrupted { .. } => EXIT_INTERRUPTED,
        }
    }

    /// Stable error code.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            Self::Session(e) => e.code(),
            Self::Usage(_) => "USAGE_ERROR",
            Self::Host(_) => "HOST_ERROR",
            Self::Reverted { .. } => "TRANSACTION_REVERTED",
            Self::SentUnconfirmed { .. } => "TRANSACTION_PENDING",
            Self::Interrupted { .. } => "INTERRUPTED",
        }
    }

    /// Human-readable message (never contains secrets: the userinfo of any
    /// URL in it is redacted).
    pub(crate) fn message(&self) -> String {
        let message = match self {
            Self::Session(e) => e.message(),
            Self::Usage(e) | Self::Host(e) => format!("{e:#}"),
            Self::Reverted {
                transaction_hash,
                reason,
            } => format!("transaction {transaction_hash} reverted: {reason}"),
            Self::SentUnconfirmed {
                transaction_hash,
                cause,
            } => format!(
                "transaction {transaction_hash} was sent but is not confirmed ({}: {}); it may \
                 land or have landed: do not send it again. Check it with `chipi-session wait \
                 {transaction_hash}` or `chipi-session status`",
                cause.code(),
                cause.message()
            ),
            Self::Interrupted { transaction_hash } => format!(
                "interrupted while waiting; transaction {transaction_hash} was sent and may \
                 land: check it with `chipi-session wait {transaction_hash}` or \
                 `chipi-session status`"
            ),
        };
        redact_urls_in(&message).into_owned()
    }

    /// `{error: {code, message}}` (plus backend details when present).
    pub(crate) fn to_json(&self) -> Value {
        let mut error = json!({ "code": self.code(), "message": self.message() });
        if let Self::Session(SessionError::Backend(b)) = self {
            error["status"] = json!(b.status);
            error["backendCode"] = json!(b.code.as_deref().map(|c| redact_urls_in(c).into_owned()));
        }
        match self {
            Self::Reverted {
                transaction_hash, ..
            }
            | Self::Interrupted { transaction_hash } => {
                error["transactionHash"] = json!(transaction_hash);
            }
            Self::SentUnconfirmed {
                transaction_hash,
                cause,
            } => {
                error["transactionHash"] = json!(transaction_hash);
                error["cause"] = cause.to_json()["error"].clone();
            }
            _ => {}
        }
        json!({ "error": error })
    }
}

/// Print a failure and return its exit code.
pub(crate) fn report_error(json_mode: bool, err: &CliError) -> i32 {
    if json_mode {
        println!("{}", err.to_json());
    } else {
        eprintln!("error: {}: {}", err.code(), err.message());
    }
    err.exit_code()
}

/// Print a success: the JSON value with `--json`, else the human text.
pub(crate) fn report_ok(json_mode: bool, value: &Value, human: &str) -> i32 {
    if json_mode {
        println!("{value}");
    } else {
        println!("{human}");
    }
    EXIT_OK
}

/// Lower-case name of a state.
pub(crate) fn state_name(state: SessionState) -> &'static str {
    match state {
        SessionState::None => "none",
        SessionState::Created => "created",
        SessionState::Active => "active",
        SessionState::Expired => "expired",
        SessionState::Revoked => "revoked",
    }
}

/// JSON of a status: `{state, isActive, validUntil, remainingCalls, allowedEntrypoints, ...}`.
pub(crate) fn status_json(status: &SessionStatus) -> Value {
    let valid_until = status
        .on_chain
        .as_ref()
        .filter(|d| d.valid_until != 0)
        .map(|d| d.valid_until)
        .or(status.session.as_ref().map(|s| s.valid_until));
    json!({
        "state": state_name(status.state),
        "isActive": status.is_active,
        "validUntil": valid_until,
        "remainingCalls": status.remaining_calls,
        "allowedEntrypoints": status
            .on_chain
            .as_ref()
            .map(|d| d.allowed_entrypoints.clone())
            .unwrap_or_default(),
        "publicKey": status.session.as_ref().map(|s| s.public_key.clone()),
        "maxCalls": status.on_chain.as_ref().map(|d| d.max_calls),
        "callsUsed": status.on_chain.as_ref().map(|d| d.calls_used),
    })
}

/// Human text of a status.
pub(crate) fn status_text(status: &SessionStatus) -> String {
    let v = status_json(status);
    let mut out = format!("state: {}", v["state"].as_str().unwrap_or("?"));
    if let Some(pk) = v["publicKey"].as_str() {
        out.push_str(&format!("\nsession public key: {pk}"));
    }
    if let Some(until) = v["validUntil"].as_u64() {
        out.push_str(&format!("\nvalid until: {until}"));
    }
    if let Some(remaining) = v["remainingCalls"].as_u64() {
        out.push_str(&format!("\nremaining calls: {remaining}"));
    }
    if let Some(list) = v["allowedEntrypoints"].as_array() {
        if !list.is_empty() {
            let names: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
            out.push_str(&format!("\nallowed entrypoints: {}", names.join(", ")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chipi_session_host::runtime::BackendError;

    #[test]
    fn error_output_never_shows_url_passwords() {
        let secret = "s3cr3t-pass";
        let errors = [
            CliError::Session(SessionError::Transport(format!(
                "cannot reach https://bob:{secret}@rpc.example/v1: refused"
            ))),
            CliError::Session(SessionError::Backend(BackendError {
                status: 502,
                code: Some(format!("http://bob:{secret}@h")),
                message: format!("upstream http://bob:{secret}@10.0.0.1:8080/x failed"),
            })),
            CliError::Usage(anyhow::anyhow!("bad url `https://bob:{secret}@h:99999/`")),
            CliError::Host(
                anyhow::anyhow!("guest stderr: ftp://bob:{secret}@h").context("call failed"),
            ),
        ];
        for err in &errors {
            for text in [err.message(), err.to_json().to_string()] {
                assert!(!text.contains(secret), "{text}");
                assert!(!text.contains("bob"), "{text}");
                assert!(text.contains("<redacted>@"), "{text}");
            }
        }
    }
}
