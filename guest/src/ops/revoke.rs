//! `revoke-session`: owner-signed `revoke_session_key`.

use super::pending::{self, Intent};
use super::ports::Ports;
use super::signing::{self, Signer};
use super::{stored, Env};
use crate::protocol::calldata;
use crate::protocol::calls::calls_digest;
use crate::protocol::error::Result;
use crate::protocol::model::{IntentOptions, SessionContext};
use crate::protocol::record::PendingOperation;

/// Revoke the stored session on chain; returns the transaction hash.
pub(crate) fn revoke_session<P: Ports>(
    ctx: &SessionContext,
    options: &IntentOptions,
    ports: &mut P,
) -> Result<String> {
    let env = Env::new(ctx)?;
    env.require_signing()?;
    let public_key = stored::require(&env, ports)?.session().public_key;
    let calls = [calldata::revoke_session_key(env.wallet, public_key)];
    let intent = Intent::new(calls_digest(&calls), options)?;
    if let Some(hash) = pending::settle_before_signing(&env, ports, &intent)? {
        return Ok(hash);
    }
    let (session, _) = stored::reload(&env, ports, &public_key)?.registered()?;
    let owner = signing::owner_key(&env)?;
    signing::sign_and_send(
        &env,
        ports,
        &session,
        &calls,
        intent,
        Signer::Owner(&owner),
        PendingOperation::Revoke,
    )
}
