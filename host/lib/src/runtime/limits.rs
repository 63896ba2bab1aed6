//! Size limits the host enforces before anything reaches the component's
//! linear memory: what a store may hand back ([`MAX_STORE_VALUE_BYTES`]) and
//! what one call may pass in ([`MAX_ARGUMENT_BYTES`]). Past either, the
//! component would have to allocate the value in `cabi_realloc`, and a value
//! it cannot hold traps the instance (dropping every warm session on it);
//! the host answers a typed failure instead.

use super::{
    Call, CreateOptions, IntentOptions, RegisterOptions, SessionContext, SessionError,
    SpendingPolicyInput,
};

/// Largest value a store import hands to the component (8 MiB): the most
/// the component ever writes (a session record's limit, `MAX_RECORD_BYTES`
/// in the guest's `protocol::record`; its real maximum is about 5 MiB). A
/// longer value is answered as `failed` (`STORE_ERROR`), never lowered.
pub const MAX_STORE_VALUE_BYTES: usize = 8 * 1024 * 1024;

/// Most bytes of text one call may pass to the component (1 MiB): the
/// session context (wallet, encrypt key, configuration) and the call's
/// arguments together. The largest valid call (64 calls, 4,096 calldata
/// felts in all) takes about 350 KiB. A call above it is refused with
/// `INVALID_INPUT` before anything is lowered.
pub const MAX_ARGUMENT_BYTES: usize = 1024 * 1024;

/// The store import's answer for a value of `len` bytes above
/// [`MAX_STORE_VALUE_BYTES`].
pub(crate) fn oversized_store_value(len: usize) -> String {
    format!(
        "store value of {len} bytes exceeds the {} MiB limit of a session record",
        MAX_STORE_VALUE_BYTES >> 20
    )
}

/// `INVALID_INPUT` when `bytes` of arguments exceed [`MAX_ARGUMENT_BYTES`].
pub(crate) fn check_argument_bytes(op: &str, bytes: usize) -> Result<(), SessionError> {
    if bytes > MAX_ARGUMENT_BYTES {
        return Err(SessionError::InvalidInput(format!(
            "{op}: {bytes} bytes of arguments exceed the {} MiB limit of one call",
            MAX_ARGUMENT_BYTES >> 20
        )));
    }
    Ok(())
}

/// The bytes of text a value puts into the component's memory when lowered.
pub(crate) trait ArgumentBytes {
    /// Bytes of the strings in the value (fixed-size fields count nothing).
    fn argument_bytes(&self) -> usize;
}

impl<T: ArgumentBytes + ?Sized> ArgumentBytes for &T {
    fn argument_bytes(&self) -> usize {
        (**self).argument_bytes()
    }
}

impl ArgumentBytes for str {
    fn argument_bytes(&self) -> usize {
        self.len()
    }
}

impl ArgumentBytes for String {
    fn argument_bytes(&self) -> usize {
        self.len()
    }
}

impl<T: ArgumentBytes> ArgumentBytes for [T] {
    fn argument_bytes(&self) -> usize {
        self.iter().map(ArgumentBytes::argument_bytes).sum()
    }
}

impl<T: ArgumentBytes> ArgumentBytes for Vec<T> {
    fn argument_bytes(&self) -> usize {
        self.as_slice().argument_bytes()
    }
}

impl<T: ArgumentBytes> ArgumentBytes for Option<T> {
    fn argument_bytes(&self) -> usize {
        self.as_ref().map_or(0, ArgumentBytes::argument_bytes)
    }
}

impl ArgumentBytes for u64 {
    fn argument_bytes(&self) -> usize {
        0
    }
}

impl ArgumentBytes for CreateOptions {
    fn argument_bytes(&self) -> usize {
        0
    }
}

impl ArgumentBytes for Call {
    fn argument_bytes(&self) -> usize {
        self.contract_address.len() + self.entrypoint.len() + self.calldata.argument_bytes()
    }
}

impl ArgumentBytes for IntentOptions {
    fn argument_bytes(&self) -> usize {
        self.idempotency_key.argument_bytes()
    }
}

impl ArgumentBytes for RegisterOptions {
    fn argument_bytes(&self) -> usize {
        self.allowed_entrypoints.argument_bytes() + self.idempotency_key.argument_bytes()
    }
}

impl ArgumentBytes for SpendingPolicyInput {
    fn argument_bytes(&self) -> usize {
        self.token.len() + self.max_per_call.len() + self.max_per_window.len()
    }
}

impl ArgumentBytes for SessionContext {
    fn argument_bytes(&self) -> usize {
        let (wallet, config) = (&self.wallet, &self.config);
        wallet.address.len()
            + wallet.encrypted_private_key.len()
            + self.encrypt_key.expose().len()
            + config.api_base_url.len()
            + config.api_key.len()
            + config.rpc_urls.argument_bytes()
            + config.chain_id.argument_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_every_string_of_a_call() {
        let call = Call {
            contract_address: "0x12".into(),
            entrypoint: "transfer".into(),
            calldata: vec!["1".into(), "0x20".into()],
        };
        assert_eq!(call.argument_bytes(), 4 + 8 + 1 + 4);
        assert_eq!([call.clone(), call].as_slice().argument_bytes(), 34);
        let options = RegisterOptions {
            valid_until: Some(1),
            max_calls: Some(2),
            allowed_entrypoints: vec!["transfer".into()],
            idempotency_key: Some("k".into()),
        };
        assert_eq!(options.argument_bytes(), 9);
    }

    #[test]
    fn refuses_past_the_limit_only() {
        assert!(check_argument_bytes("x", MAX_ARGUMENT_BYTES).is_ok());
        let Err(SessionError::InvalidInput(message)) =
            check_argument_bytes("execute-with-session", MAX_ARGUMENT_BYTES + 1)
        else {
            panic!("expected INVALID_INPUT")
        };
        assert!(message.contains("1048577 bytes"), "{message}");
        assert!(message.contains("1 MiB"), "{message}");
    }
}
