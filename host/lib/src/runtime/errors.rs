//! Chipi error codes for the component's [`SessionError`].
//!
//! `bindgen!` already implements `Display` (the `Debug` form) and
//! `std::error::Error` for `SessionError`, because the WIT uses it as the error
//! of `result`s. This module adds Chipi's stable error code and a readable
//! message.

use super::bindings::chipi::session::types::{BackendError, SessionError};

// The table of error kinds, shared with the guest (`session_error_table!`):
// one row per WIT `session-error` case with its Chipi code.
include!("../../../../guest/src/protocol/error_table.rs");

/// `SessionError::code` from the rows of `session_error_table!` (the guest
/// variant and origin columns are the guest's business).
macro_rules! codes_from_table {
    ($($variant:ident => $wit:ident, $code:literal, $origin:ident;)*) => {
        impl SessionError {
            /// Chipi's error code for this error, e.g. `SESSION_EXPIRED`.
            pub fn code(&self) -> &'static str {
                match self {
                    $(SessionError::$wit(_) => $code,)*
                }
            }
        }
    };
}
session_error_table!(codes_from_table);

impl SessionError {
    /// The human-readable message carried by the error (for `backend`, the
    /// backend's message with its status and code).
    pub fn message(&self) -> String {
        match self {
            SessionError::InvalidWalletTypeForSession(m)
            | SessionError::SessionExpired(m)
            | SessionError::SessionNotRegistered(m)
            | SessionError::SessionRevoked(m)
            | SessionError::SessionMaxCallsExceeded(m)
            | SessionError::SessionEntrypointNotAllowed(m)
            | SessionError::SessionDecryptionFailed(m)
            | SessionError::SessionCreationFailed(m)
            | SessionError::SessionInvalidResponse(m)
            | SessionError::InvalidSpendingPolicy(m)
            | SessionError::Transport(m)
            | SessionError::InvalidInput(m)
            | SessionError::Store(m)
            | SessionError::Unauthorized(m)
            | SessionError::TransactionPending(m)
            | SessionError::AlreadyExecuted(m) => m.clone(),
            SessionError::Backend(b) => b.describe(),
        }
    }

    /// `CODE: message`, the form the CLI prints.
    pub fn describe(&self) -> String {
        format!("{}: {}", self.code(), self.message())
    }
}

impl BackendError {
    /// `HTTP <status> [<code>]: <message>` (status 0 reads `JSON-RPC`).
    pub fn describe(&self) -> String {
        let status = if self.status == 0 {
            "JSON-RPC".to_owned()
        } else {
            format!("HTTP {}", self.status)
        };
        match &self.code {
            Some(code) => format!("{status} [{code}]: {}", self.message),
            None => format!("{status}: {}", self.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_errors() -> Vec<SessionError> {
        let m = || "m".to_owned();
        vec![
            SessionError::InvalidWalletTypeForSession(m()),
            SessionError::SessionExpired(m()),
            SessionError::SessionNotRegistered(m()),
            SessionError::SessionRevoked(m()),
            SessionError::SessionMaxCallsExceeded(m()),
            SessionError::SessionEntrypointNotAllowed(m()),
            SessionError::SessionDecryptionFailed(m()),
            SessionError::SessionCreationFailed(m()),
            SessionError::SessionInvalidResponse(m()),
            SessionError::InvalidSpendingPolicy(m()),
            SessionError::Backend(BackendError {
                status: 500,
                code: None,
                message: m(),
            }),
            SessionError::Transport(m()),
            SessionError::InvalidInput(m()),
            SessionError::Store(m()),
            SessionError::Unauthorized(m()),
            SessionError::TransactionPending(m()),
            SessionError::AlreadyExecuted(m()),
        ]
    }

    #[test]
    fn codes_are_chipi_codes_and_distinct() {
        let codes: Vec<&str> = all_errors().iter().map(SessionError::code).collect();
        assert_eq!(
            codes,
            [
                "INVALID_WALLET_TYPE_FOR_SESSION",
                "SESSION_EXPIRED",
                "SESSION_NOT_REGISTERED",
                "SESSION_REVOKED",
                "SESSION_MAX_CALLS_EXCEEDED",
                "SESSION_ENTRYPOINT_NOT_ALLOWED",
                "SESSION_DECRYPTION_FAILED",
                "SESSION_CREATION_FAILED",
                "SESSION_INVALID_RESPONSE",
                "INVALID_SPENDING_POLICY",
                "BACKEND_ERROR",
                "TRANSPORT_ERROR",
                "INVALID_INPUT",
                "STORE_ERROR",
                "UNAUTHORIZED",
                "TRANSACTION_PENDING",
                "ALREADY_EXECUTED",
            ]
        );
        let mut unique = codes.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), codes.len());
    }

    #[test]
    fn messages_and_display() {
        let err = SessionError::SessionExpired("expired at 100".into());
        assert_eq!(err.message(), "expired at 100");
        assert_eq!(err.describe(), "SESSION_EXPIRED: expired at 100");
        assert!(err.to_string().contains("expired at 100"));
        let err = SessionError::Backend(BackendError {
            status: 401,
            code: Some("UNAUTHORIZED".into()),
            message: "bad token".into(),
        });
        assert_eq!(
            err.describe(),
            "BACKEND_ERROR: HTTP 401 [UNAUTHORIZED]: bad token"
        );
        let rpc = BackendError {
            status: 0,
            code: None,
            message: "Contract not found".into(),
        };
        assert_eq!(rpc.describe(), "JSON-RPC: Contract not found");
        // std::error::Error comes from bindgen; make sure it is there.
        let boxed: Box<dyn std::error::Error> = Box::new(err.clone());
        assert!(!boxed.to_string().is_empty());
        assert_eq!(err.clone(), err);
    }

    #[test]
    fn errors_serialize() {
        let err = SessionError::Transport("refused".into());
        let json = serde_json::to_string(&err).unwrap();
        let back: SessionError = serde_json::from_str(&json).unwrap();
        assert_eq!(back, err);
    }
}
