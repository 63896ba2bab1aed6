//! The error type of every operation, mirroring the WIT `session-error` variant
//! and Chipi's error codes.

use thiserror::Error;

/// Error reported by the Chipi backend or a Starknet RPC node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendError {
    /// HTTP status (0 for a JSON-RPC error delivered with HTTP 200).
    pub status: u16,
    /// Error code from the body, if any.
    pub code: Option<String>,
    /// Message from the body, truncated; never contains request secrets.
    pub message: String,
}

/// Failure of a session operation. Messages never contain secrets.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SessionError {
    /// INVALID_WALLET_TYPE_FOR_SESSION.
    #[error("wallet does not support sessions: {0}")]
    InvalidWalletType(String),
    /// SESSION_EXPIRED.
    #[error("session expired: {0}")]
    Expired(String),
    /// SESSION_NOT_REGISTERED.
    #[error("session not registered: {0}")]
    NotRegistered(String),
    /// SESSION_REVOKED.
    #[error("session revoked: {0}")]
    Revoked(String),
    /// SESSION_MAX_CALLS_EXCEEDED.
    #[error("session max calls exceeded: {0}")]
    MaxCallsExceeded(String),
    /// SESSION_ENTRYPOINT_NOT_ALLOWED.
    #[error("entrypoint not allowed: {0}")]
    EntrypointNotAllowed(String),
    /// SESSION_DECRYPTION_FAILED.
    #[error("decryption failed: {0}")]
    DecryptionFailed(String),
    /// SESSION_CREATION_FAILED.
    #[error("session creation failed: {0}")]
    CreationFailed(String),
    /// SESSION_INVALID_RESPONSE.
    #[error("invalid response: {0}")]
    InvalidResponse(String),
    /// INVALID_SPENDING_POLICY.
    #[error("invalid spending policy: {0}")]
    InvalidSpendingPolicy(String),
    /// The backend or RPC node answered with an error.
    #[error("backend error (HTTP {}): {}", .0.status, .0.message)]
    Backend(BackendError),
    /// The request could not be sent or its answer not read.
    #[error("transport error: {0}")]
    Transport(String),
    /// An argument is malformed.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The session store failed or changed concurrently.
    #[error("store error: {0}")]
    Store(String),
    /// The bearer token could not be obtained.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// TRANSACTION_PENDING: a signed transaction was sent and its answer lost;
    /// it is kept as pending and reconciled by the next operation.
    #[error("transaction pending: {0}")]
    TransactionPending(String),
    /// ALREADY_EXECUTED: the retried request already landed (answer lost).
    #[error("already executed: {0}")]
    AlreadyExecuted(String),
}

// The table of error kinds (`session_error_table!`), shared with the host
// library.
include!("error_table.rs");
#[cfg(all(target_family = "wasm", not(test)))]
pub(crate) use session_error_table;

/// One row of the error table (`session_error_table!` in this module), as
/// [`SessionError::KINDS`] lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorKind {
    /// Chipi-style code.
    pub code: &'static str,
    /// Case of the WIT `session-error` variant, as the bindings name it
    /// (`InvalidWalletTypeForSession` for `invalid-wallet-type-for-session`).
    pub wit_case: &'static str,
    /// True when Chipi's backend reports this kind under [`Self::code`].
    pub from_chipi: bool,
}

/// A row's origin as a boolean.
macro_rules! is_chipi {
    (chipi) => {
        true
    };
    (local) => {
        false
    };
}

/// `SessionError::$variant(message)` for rows reported by Chipi's backend;
/// nothing for the others (whose payload may not be a message).
macro_rules! chipi_arm {
    (chipi, $code:literal, $variant:ident, $found:ident, $message:ident) => {
        if $found == $code {
            return Some(Self::$variant($message.to_owned()));
        }
    };
    (local, $code:literal, $variant:ident, $found:ident, $message:ident) => {};
}

/// `SessionError::KINDS`, `code` and `from_chipi_code` from the table's rows.
macro_rules! generate_from_table {
    ($($variant:ident => $wit:ident, $code:literal, $origin:ident;)*) => {
        impl SessionError {
            /// Every error kind, in the order of the WIT `session-error` variant.
            pub const KINDS: &'static [ErrorKind] = &[$(ErrorKind {
                code: $code,
                wit_case: stringify!($wit),
                from_chipi: is_chipi!($origin),
            }),*];

            /// Chipi-style error code of this error.
            pub fn code(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => $code,)*
                }
            }

            /// The error a Chipi backend answer with `code` and `message`
            /// stands for, when `code` is one of Chipi's own session codes.
            pub fn from_chipi_code(code: &str, message: &str) -> Option<Self> {
                $(chipi_arm!($origin, $code, $variant, code, message);)*
                None
            }
        }
    };
}
session_error_table!(generate_from_table);

impl SessionError {
    /// Shorthand for [`SessionError::InvalidInput`].
    pub fn input(msg: impl Into<String>) -> Self {
        Self::InvalidInput(msg.into())
    }

    /// Shorthand for [`SessionError::InvalidResponse`].
    pub fn response(msg: impl Into<String>) -> Self {
        Self::InvalidResponse(msg.into())
    }
}

/// Result alias used across the guest.
pub type Result<T, E = SessionError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_chipi() {
        assert_eq!(
            SessionError::InvalidWalletType(String::new()).code(),
            "INVALID_WALLET_TYPE_FOR_SESSION"
        );
        assert_eq!(
            SessionError::Expired(String::new()).code(),
            "SESSION_EXPIRED"
        );
        assert_eq!(
            SessionError::DecryptionFailed(String::new()).code(),
            "SESSION_DECRYPTION_FAILED"
        );
        let backend = SessionError::Backend(BackendError {
            status: 500,
            code: None,
            message: "boom".into(),
        });
        assert_eq!(backend.code(), "BACKEND_ERROR");
        assert_eq!(backend.to_string(), "backend error (HTTP 500): boom");
    }

    /// `InvalidWalletTypeForSession` -> `invalid-wallet-type-for-session`.
    fn kebab(name: &str) -> String {
        let mut out = String::new();
        for (i, c) in name.chars().enumerate() {
            if c.is_ascii_uppercase() && i > 0 {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        }
        out
    }

    #[test]
    fn the_table_is_the_wit_variant_in_order() {
        let wit = include_str!("../../../wit/session.wit");
        let start = wit.find("variant session-error {").unwrap();
        let body = &wit[start..];
        let body = &body[..body.find("\n    }").unwrap()];
        let cases: Vec<&str> = body
            .lines()
            .skip(1)
            .map(str::trim)
            .filter(|l| !l.starts_with("//") && !l.is_empty())
            .map(|l| l.split('(').next().unwrap().trim_end_matches(','))
            .collect();
        let ours: Vec<String> = SessionError::KINDS
            .iter()
            .map(|k| kebab(k.wit_case))
            .collect();
        assert_eq!(ours, cases);
        let mut codes: Vec<&str> = SessionError::KINDS.iter().map(|k| k.code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), SessionError::KINDS.len(), "codes are distinct");
    }

    #[test]
    fn chipi_codes_map_back_to_their_variant() {
        for kind in SessionError::KINDS {
            let back = SessionError::from_chipi_code(kind.code, "m");
            assert_eq!(back.is_some(), kind.from_chipi, "{}", kind.code);
            if let Some(e) = back {
                assert_eq!(e.code(), kind.code);
                assert!(e.to_string().ends_with(": m"), "{e}");
            }
        }
        assert_eq!(SessionError::from_chipi_code("INVALID_API_KEY", "m"), None);
        assert_eq!(SessionError::from_chipi_code("session_expired", "m"), None);
    }
}
