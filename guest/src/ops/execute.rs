//! `execute-with-session`: calls signed by the session key.

use super::ports::Ports;
use super::signing::{self, Signer};
use super::{pending, stored, Env};
use crate::crypto::felt::parse_felt;
use crate::protocol::calls::{calls_digest, parse_calls};
use crate::protocol::error::{Result, SessionError};
use crate::protocol::model::{CallInput, SessionContext};
use crate::protocol::preflight::check_calls;
use crate::protocol::record::PendingOperation;

/// Execute `calls` with the stored session; returns the transaction hash.
///
/// A pending transaction of the wallet is reconciled first; when it is these
/// same calls, its outcome is reported and nothing new is signed. Every check
/// the account would make is made before signing (expiry, calls left, admin
/// blocklist, self-call, whitelist), so a doomed transaction is never signed
/// or sent.
pub fn execute_with_session<P: Ports>(
    ctx: &SessionContext,
    calls: &[CallInput],
    ports: &mut P,
) -> Result<String> {
    let env = Env::new(ctx)?;
    env.require_signing()?;
    let calls = parse_calls(calls)?;
    let digest = calls_digest(&calls);
    if stored::load(&env, ports)?.record.is_none() {
        return Err(SessionError::NotRegistered(
            "no session stored for this wallet".into(),
        ));
    }
    if let Some(hash) = pending::settle_before_signing(&env, ports, &digest)? {
        return Ok(hash);
    }
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
    // Transactions still in flight may each use a call too.
    if record.calls_used.saturating_add(record.pending_executes()) >= registration.max_calls {
        return Err(SessionError::MaxCallsExceeded(format!(
            "all {} calls of the session are used or in flight",
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
    signing::sign_and_send(
        &env,
        ports,
        &record,
        &calls,
        Signer::Session {
            key: &key,
            valid_until: registration.valid_until,
        },
        PendingOperation::Execute,
    )
}
