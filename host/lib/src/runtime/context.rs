//! [`SessionContext`]: the host-owned form of the WIT `session-context`
//! record, whose encrypt key cannot be printed or serialized.

use std::time::Duration;

use super::bindings::chipi::session::types as wit;
use super::secret::{self, SecretString};
use super::{Config, EncryptKeyKind, Wallet};

/// Everything an operation needs to act for one wallet: the WIT
/// `session-context` record, with the encrypt key held as a [`SecretString`]
/// (zeroized on drop, `Debug` prints `<redacted>`).
///
/// `Debug` shows the wallet and configuration but never the encrypt key; the
/// type implements neither `Serialize` nor `Display`. The handle converts it
/// to the generated WIT record only for the duration of one call (see
/// [`SessionHandle`](super::SessionHandle)).
#[derive(Clone, Debug)]
pub struct SessionContext {
    /// The wallet the session belongs to.
    pub wallet: Wallet,
    /// The user's encrypt key (PIN or passkey-derived secret). Never stored.
    pub encrypt_key: SecretString,
    /// The kind of `encrypt_key`: [`EncryptKeyKind::Pin`] for a PIN or
    /// password (Argon2id), [`EncryptKeyKind::HighEntropy`] for 32 to 64
    /// random bytes in unpadded base64url (HKDF, no Argon2id). Never inferred
    /// from the key's text.
    pub encrypt_key_kind: EncryptKeyKind,
    /// Backend and chain configuration.
    pub config: Config,
}

/// The generated WIT record for one call, with the time budget fitted.
///
/// It holds a plain `String` copy of the encrypt key (the generated bindings
/// need one to lower the argument), which is zeroized when this value is
/// dropped — after the call returns, traps, times out or is cancelled.
/// Wasmtime lowers that string into the guest's linear memory; that memory
/// belongs to the per-call store, which is dropped (and its memory released)
/// at the end of the same call, and the guest zeroizes its own copies.
pub(crate) struct LoweredContext(wit::SessionContext);

impl LoweredContext {
    /// Copy `ctx` into the generated record, with `config.timeout_ms` fitted
    /// inside the hard per-call limit `hard` (see [`fit_timeout_ms`]).
    pub(crate) fn new(ctx: &SessionContext, hard: Duration) -> Self {
        let mut config = ctx.config.clone();
        config.timeout_ms = Some(fit_timeout_ms(hard, config.timeout_ms));
        Self(wit::SessionContext {
            wallet: ctx.wallet.clone(),
            encrypt_key: ctx.encrypt_key.expose().to_owned(),
            encrypt_key_kind: ctx.encrypt_key_kind,
            config,
        })
    }

    /// The record to pass to the generated call.
    pub(crate) fn record(&self) -> &wit::SessionContext {
        &self.0
    }

    /// The time budget given to the component, in milliseconds.
    #[cfg(test)]
    pub(crate) fn timeout_ms(&self) -> Option<u64> {
        self.0.config.timeout_ms
    }

    /// Zeroize the temporary copy of the encrypt key (also done on drop).
    fn wipe(&mut self) {
        secret::wipe(&mut self.0.encrypt_key);
    }
}

impl Drop for LoweredContext {
    fn drop(&mut self) {
        self.wipe();
    }
}

/// The component's time budget for a call limited to `hard` by the host: the
/// asked budget (60 s when absent, the component's default) capped at `hard`
/// minus a margin of a tenth of `hard` (at most 5 s), kept for the component
/// to persist what it learned and return before the host has to stop it.
pub(crate) fn fit_timeout_ms(hard: Duration, asked: Option<u64>) -> u64 {
    let margin = (hard / 10).min(Duration::from_secs(5));
    let fitted = u64::try_from(hard.saturating_sub(margin).as_millis()).unwrap_or(u64::MAX);
    match asked {
        Some(asked) => asked.min(fitted),
        None => fitted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::WalletType;

    fn ctx(timeout_ms: Option<u64>) -> SessionContext {
        SessionContext {
            wallet: Wallet {
                address: "0x1".into(),
                encrypted_private_key: "ct".into(),
                wallet_type: WalletType::Chipi,
            },
            encrypt_key: "pin-4711-secret".into(),
            encrypt_key_kind: EncryptKeyKind::Pin,
            config: Config {
                api_base_url: "https://api.chipipay.com/v1".into(),
                api_key: "pk_x".into(),
                rpc_urls: vec!["https://rpc.example/".into()],
                chain_id: None,
                default_duration_seconds: 1,
                default_max_calls: 1,
                timeout_ms,
            },
        }
    }

    #[test]
    fn debug_never_shows_the_encrypt_key() {
        let ctx = ctx(None);
        for debug in [format!("{ctx:?}"), format!("{ctx:#?}")] {
            assert!(!debug.contains("pin-4711-secret"), "{debug}");
            assert!(debug.contains("<redacted>"), "{debug}");
            assert!(debug.contains("api.chipipay.com"), "{debug}");
        }
    }

    #[test]
    fn timeout_is_fitted_inside_the_hard_limit() {
        let minute = Duration::from_secs(60);
        // No budget asked: the hard limit minus 5 s.
        assert_eq!(fit_timeout_ms(minute, None), 55_000);
        // A smaller budget is kept, a larger one capped.
        assert_eq!(fit_timeout_ms(minute, Some(10_000)), 10_000);
        assert_eq!(fit_timeout_ms(minute, Some(120_000)), 55_000);
        // Short limits keep a tenth as margin.
        assert_eq!(fit_timeout_ms(Duration::from_secs(2), None), 1_800);
        assert_eq!(fit_timeout_ms(Duration::from_secs(2), Some(5_000)), 1_800);
        assert_eq!(fit_timeout_ms(Duration::from_secs(2), Some(0)), 0);
        assert_eq!(fit_timeout_ms(Duration::from_millis(1), None), 0);
        // Huge limits saturate instead of overflowing.
        assert_eq!(fit_timeout_ms(Duration::MAX, None), u64::MAX);
        assert_eq!(fit_timeout_ms(Duration::MAX, Some(7)), 7);
    }

    #[test]
    fn lowered_context_carries_the_budget_and_wipes_the_key() {
        let ctx = ctx(Some(120_000));
        let mut lowered = LoweredContext::new(&ctx, Duration::from_secs(60));
        assert_eq!(lowered.timeout_ms(), Some(55_000));
        assert_eq!(lowered.record().encrypt_key, "pin-4711-secret");
        assert_eq!(lowered.record().wallet, ctx.wallet);
        // The caller's context is untouched.
        assert_eq!(ctx.config.timeout_ms, Some(120_000));
        lowered.wipe();
        assert!(lowered.record().encrypt_key.is_empty());
        assert_eq!(ctx.encrypt_key.expose(), "pin-4711-secret");
    }
}
