//! `register-session`: owner-signed `add_or_update_session_key`.

use super::create::MAX_DURATION_SECS;
use super::pending::{self, Intent};
use super::ports::Ports;
use super::signing::{self, SessionKeys, Signer};
use super::{stored, Env};
use crate::crypto::felt::felt_to_hex;
use crate::protocol::calldata;
use crate::protocol::calls::calls_digest;
use crate::protocol::error::{Result, SessionError};
use crate::protocol::model::{IntentOptions, RegisterOptions, SessionContext};
use crate::protocol::preflight::parse_whitelist;
use crate::protocol::record::PendingOperation;

/// Register the stored session on chain; returns the transaction hash. The
/// session key is unlocked into `keys` on the way (it must open).
pub(crate) fn register_session<P: Ports>(
    ctx: &SessionContext,
    options: &RegisterOptions,
    ports: &mut P,
    keys: &mut SessionKeys,
) -> Result<String> {
    let env = Env::new(ctx)?;
    env.require_signing()?;
    let stored = stored::require(&env, ports)?;
    let now = ports.now_unix();
    let valid_until = options.valid_until.unwrap_or(stored.record().valid_until);
    if valid_until <= now {
        return Err(SessionError::Expired(format!(
            "valid-until {valid_until} is not in the future"
        )));
    }
    if valid_until - now > MAX_DURATION_SECS {
        return Err(SessionError::input(format!(
            "valid-until {valid_until} is more than {MAX_DURATION_SECS} seconds away"
        )));
    }
    let max_calls = options.max_calls.unwrap_or(ctx.config.default_max_calls);
    if max_calls == 0 {
        return Err(SessionError::input("max calls must be at least 1"));
    }
    let whitelist = parse_whitelist(&options.allowed_entrypoints)?;
    let public_key = stored.session().public_key;
    let calls = [calldata::add_or_update_session_key(
        env.wallet,
        public_key,
        valid_until,
        max_calls,
        &whitelist,
    )];
    let intent = Intent::new(
        calls_digest(&calls),
        &IntentOptions {
            idempotency_key: options.idempotency_key.clone(),
        },
    )?;
    if let Some(hash) = pending::settle_before_signing(&env, ports, &intent)? {
        return Ok(hash);
    }
    let session = stored::reload(&env, ports, &public_key)?.unrevoked()?;

    // Both keys must open with this encrypt key before anything is sent: a wrong
    // PIN fails here, and a session key the user cannot use is never registered.
    let owner = signing::owner_key(&env)?;
    keys.key_for(&env, &session)?;

    signing::sign_and_send(
        &env,
        ports,
        &session,
        &calls,
        intent,
        Signer::Owner(&owner),
        PendingOperation::Register {
            valid_until,
            max_calls,
            allowed_entrypoints: whitelist.iter().map(felt_to_hex).collect(),
        },
    )
}
