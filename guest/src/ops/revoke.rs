//! `revoke-session`: owner-signed `revoke_session_key`.

use super::ports::Ports;
use super::{signing, stored, Env};
use crate::core::felt::parse_felt;
use crate::protocol::calls::{entrypoints, Call};
use crate::protocol::error::{Result, SessionError};
use crate::protocol::model::SessionContext;

/// Revoke the stored session on chain; returns the transaction hash.
pub fn revoke_session<P: Ports>(ctx: &SessionContext, ports: &mut P) -> Result<String> {
    let env = Env::new(ctx)?;
    env.require_signing()?;
    let record = stored::load(&env, ports)?
        .record
        .ok_or_else(|| SessionError::NotRegistered("no session stored for this wallet".into()))?;
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
    let session_pubkey = parse_felt(&record.public_key)
        .map_err(|_| SessionError::Store("stored session public key is not a felt".into()))?;
    let call = Call::named(
        env.wallet,
        entrypoints::REVOKE_SESSION_KEY,
        vec![session_pubkey],
    )?;
    let tx = signing::owner_transaction(&env, ports, &owner, &[call])?;
    stored::update(&env, ports, &record.public_key, |r| {
        r.revoked_tx = Some(tx.clone());
    })?;
    Ok(tx)
}
