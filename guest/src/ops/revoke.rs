//! `revoke-session`: owner-signed `revoke_session_key`.

use super::ports::Ports;
use super::signing::{self, Signer};
use super::{pending, stored, Env};
use crate::crypto::felt::parse_felt;
use crate::protocol::calls::{calls_digest, entrypoints, Call};
use crate::protocol::error::{Result, SessionError};
use crate::protocol::model::SessionContext;
use crate::protocol::record::PendingOperation;

/// Revoke the stored session on chain; returns the transaction hash.
pub fn revoke_session<P: Ports>(ctx: &SessionContext, ports: &mut P) -> Result<String> {
    let env = Env::new(ctx)?;
    env.require_signing()?;
    let record = stored::require(&env, ports, "no session stored for this wallet")?;
    let session_pubkey = parse_felt(&record.public_key)
        .map_err(|_| SessionError::Store("stored session public key is not a felt".into()))?;
    let calls = [Call::named(
        env.wallet,
        entrypoints::REVOKE_SESSION_KEY,
        vec![session_pubkey],
    )?];
    if let Some(hash) = pending::settle_before_signing(&env, ports, &calls_digest(&calls))? {
        return Ok(hash);
    }
    let record = stored::require(&env, ports, "no session stored for this wallet")?;
    if record.revoked_tx.is_some() {
        return Err(SessionError::Revoked(
            "the session is already revoked".into(),
        ));
    }
    if record.registration.is_none() {
        return Err(SessionError::NotRegistered(
            "the session was never registered; clear it instead".into(),
        ));
    }
    let owner = signing::owner_key(&env)?;
    signing::sign_and_send(
        &env,
        ports,
        &record,
        &calls,
        Signer::Owner(&owner),
        PendingOperation::Revoke,
    )
}
