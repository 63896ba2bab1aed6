//! `register-session`: owner-signed `add_or_update_session_key`.

use super::create::MAX_DURATION_SECS;
use super::ports::Ports;
use super::signing::{self, Signer};
use super::{pending, stored, Env};
use crate::crypto::felt::{felt_to_hex, parse_felt};
use crate::protocol::calls::{add_or_update_session_key_calldata, calls_digest, entrypoints, Call};
use crate::protocol::error::{Result, SessionError};
use crate::protocol::model::{RegisterOptions, SessionContext};
use crate::protocol::preflight::parse_whitelist;
use crate::protocol::record::PendingOperation;

const NO_SESSION: &str = "no session stored for this wallet; create one first";

/// Register the stored session on chain; returns the transaction hash.
pub fn register_session<P: Ports>(
    ctx: &SessionContext,
    options: &RegisterOptions,
    ports: &mut P,
) -> Result<String> {
    let env = Env::new(ctx)?;
    env.require_signing()?;
    let record = stored::require(&env, ports, NO_SESSION)?;
    let now = ports.now_unix();
    let valid_until = options.valid_until.unwrap_or(record.valid_until);
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
    let session_pubkey = parse_felt(&record.public_key)
        .map_err(|_| SessionError::Store("stored session public key is not a felt".into()))?;
    let calls = [Call::named(
        env.wallet,
        entrypoints::ADD_OR_UPDATE_SESSION_KEY,
        add_or_update_session_key_calldata(session_pubkey, valid_until, max_calls, &whitelist),
    )?];
    if let Some(hash) = pending::settle_before_signing(&env, ports, &calls_digest(&calls))? {
        return Ok(hash);
    }
    let record = stored::require(&env, ports, NO_SESSION)?;
    if record.revoked_tx.is_some() {
        return Err(SessionError::Revoked(
            "the stored session was revoked; create a new one".into(),
        ));
    }
    if felt_to_hex(&session_pubkey) != record.public_key {
        return Err(SessionError::Store(
            "the session was replaced concurrently; nothing was signed".into(),
        ));
    }

    // Both keys must open with this encrypt key before anything is sent: a wrong
    // PIN fails here, and a session key the user cannot use is never registered.
    let owner = signing::owner_key(&env)?;
    drop(signing::session_key(&env, &record)?);

    signing::sign_and_send(
        &env,
        ports,
        &record,
        &calls,
        Signer::Owner(&owner),
        PendingOperation::Register {
            valid_until,
            max_calls,
            allowed_entrypoints: whitelist.iter().map(felt_to_hex).collect(),
        },
    )
}
