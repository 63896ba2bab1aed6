/// The one table of error kinds. Each row: the guest's `SessionError` variant, the
/// case of the WIT `session-error` variant it becomes (`wit/session.wit`),
/// its Chipi-style code, and `chipi` when Chipi's backend reports it under
/// that code (so a backend error carrying it maps back to the variant) or
/// `local` when only this crate does.
///
/// The guest's `SessionError::code`, `SessionError::from_chipi_code` and the
/// component's conversion to the WIT variant, and the host library's
/// `SessionError::code` (`host/lib/src/runtime/errors.rs`), are all generated
/// from it: the argument names a macro that receives the rows. This file holds
/// only the table, so both crates `include!` it.
macro_rules! session_error_table {
    ($apply:ident) => {
        $apply! {
            InvalidWalletType => InvalidWalletTypeForSession, "INVALID_WALLET_TYPE_FOR_SESSION", chipi;
            Expired => SessionExpired, "SESSION_EXPIRED", chipi;
            NotRegistered => SessionNotRegistered, "SESSION_NOT_REGISTERED", chipi;
            Revoked => SessionRevoked, "SESSION_REVOKED", chipi;
            MaxCallsExceeded => SessionMaxCallsExceeded, "SESSION_MAX_CALLS_EXCEEDED", chipi;
            EntrypointNotAllowed => SessionEntrypointNotAllowed, "SESSION_ENTRYPOINT_NOT_ALLOWED", chipi;
            DecryptionFailed => SessionDecryptionFailed, "SESSION_DECRYPTION_FAILED", chipi;
            CreationFailed => SessionCreationFailed, "SESSION_CREATION_FAILED", chipi;
            InvalidResponse => SessionInvalidResponse, "SESSION_INVALID_RESPONSE", local;
            InvalidSpendingPolicy => InvalidSpendingPolicy, "INVALID_SPENDING_POLICY", chipi;
            Backend => Backend, "BACKEND_ERROR", local;
            Transport => Transport, "TRANSPORT_ERROR", local;
            InvalidInput => InvalidInput, "INVALID_INPUT", local;
            Store => Store, "STORE_ERROR", local;
            Unauthorized => Unauthorized, "UNAUTHORIZED", local;
            TransactionPending => TransactionPending, "TRANSACTION_PENDING", local;
            AlreadyExecuted => AlreadyExecuted, "ALREADY_EXECUTED", local;
        }
    };
}
