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

impl SessionError {
    /// Chipi-style error code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidWalletType(_) => "INVALID_WALLET_TYPE_FOR_SESSION",
            Self::Expired(_) => "SESSION_EXPIRED",
            Self::NotRegistered(_) => "SESSION_NOT_REGISTERED",
            Self::Revoked(_) => "SESSION_REVOKED",
            Self::MaxCallsExceeded(_) => "SESSION_MAX_CALLS_EXCEEDED",
            Self::EntrypointNotAllowed(_) => "SESSION_ENTRYPOINT_NOT_ALLOWED",
            Self::DecryptionFailed(_) => "SESSION_DECRYPTION_FAILED",
            Self::CreationFailed(_) => "SESSION_CREATION_FAILED",
            Self::InvalidResponse(_) => "SESSION_INVALID_RESPONSE",
            Self::InvalidSpendingPolicy(_) => "INVALID_SPENDING_POLICY",
            Self::Backend(_) => "BACKEND_ERROR",
            Self::Transport(_) => "TRANSPORT_ERROR",
            Self::InvalidInput(_) => "INVALID_INPUT",
            Self::Store(_) => "STORE_ERROR",
            Self::Unauthorized(_) => "UNAUTHORIZED",
            Self::TransactionPending(_) => "TRANSACTION_PENDING",
            Self::AlreadyExecuted(_) => "ALREADY_EXECUTED",
        }
    }

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
}
