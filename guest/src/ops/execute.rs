//! `execute-with-session`: calls signed by the session key.

use super::ports::Ports;
use super::{remote, signing, stored, Env};
use crate::core::felt::parse_felt;
use crate::protocol::calls::Call;
use crate::protocol::chipi_api;
use crate::protocol::error::{Result, SessionError};
use crate::protocol::model::{CallInput, SessionContext};
use crate::protocol::preflight::check_calls;

/// Execute `calls` with the stored session; returns the transaction hash.
///
/// Every check the account would make is made first (expiry, calls left,
/// admin blocklist, self-call, whitelist), so a doomed transaction is never
/// signed or sent.
pub fn execute_with_session<P: Ports>(
    ctx: &SessionContext,
    calls: &[CallInput],
    ports: &mut P,
) -> Result<String> {
    let env = Env::new(ctx)?;
    env.require_signing()?;
    let calls = calls.iter().map(Call::parse).collect::<Result<Vec<_>>>()?;
    let record = stored::load(&env, ports)?
        .record
        .ok_or_else(|| SessionError::NotRegistered("no session stored for this wallet".into()))?;
    if record.revoked_tx.is_some() {
        return Err(SessionError::Revoked("the session was revoked".into()));
    }
    let registration = record.registration.clone().ok_or_else(|| {
        SessionError::NotRegistered("the session was created but never registered".into())
    })?;
    let now = ports.now_unix();
    if now > registration.valid_until {
        return Err(SessionError::Expired(format!(
            "the session expired at {}",
            registration.valid_until
        )));
    }
    if record.calls_used >= registration.max_calls {
        return Err(SessionError::MaxCallsExceeded(format!(
            "all {} calls of the session are used",
            registration.max_calls
        )));
    }
    let whitelist = registration
        .allowed_entrypoints
        .iter()
        .map(|s| parse_felt(s))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|_| SessionError::Store("stored whitelist holds a non-felt".into()))?;
    check_calls(&env.wallet, &whitelist, &calls)?;

    let key = signing::session_key(&env, &record)?;
    let session_pubkey = key.public_key();
    let (typed_data, hash) =
        signing::prepare_and_hash(&env, ports, &calls, chipi_api::Signer::Session)?;
    let signature = key
        .sign(&hash)
        .map_err(|e| SessionError::CreationFailed(format!("session signature failed: {e}")))?;
    drop(key);
    let body = chipi_api::execute_session_body(
        &env.wallet,
        &typed_data,
        &session_pubkey,
        &signature.r,
        &signature.s,
        registration.valid_until,
    );
    let tx = remote::execute_sponsored(&env, ports, &body)?;
    stored::update(&env, ports, &record.public_key, |r| {
        r.calls_used = r.calls_used.saturating_add(1);
    })?;
    Ok(tx)
}
