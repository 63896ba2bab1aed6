//! Spending policies: owner-signed `set_spending_policy` / `remove_spending_policy`,
//! read with `get_spending_policy`.

use starknet_crypto::Felt;

use super::ports::Ports;
use super::signing::{self, Signer};
use super::{pending, remote, stored, Env};
use crate::crypto::felt::parse_felt;
use crate::protocol::calls::{calls_digest, entrypoints, set_spending_policy_calldata, Call, U256};
use crate::protocol::error::{Result, SessionError};
use crate::protocol::model::{SessionContext, SpendingPolicy, SpendingPolicyInput};
use crate::protocol::record::{PendingOperation, SessionRecord};
use crate::protocol::rpc::decode_spending_policy;

/// Stored registered session and its public key, or the matching error.
fn registered_session<P: Ports>(env: &Env<'_>, ports: &mut P) -> Result<(SessionRecord, Felt)> {
    let record = stored::load(env, ports)?
        .record
        .ok_or_else(|| SessionError::NotRegistered("no session stored for this wallet".into()))?;
    if record.revoked_tx.is_some() {
        return Err(SessionError::Revoked("the session was revoked".into()));
    }
    if record.registration.is_none() {
        return Err(SessionError::NotRegistered(
            "the session was created but never registered".into(),
        ));
    }
    let pubkey = parse_felt(&record.public_key)
        .map_err(|_| SessionError::Store("stored session public key is not a felt".into()))?;
    Ok((record, pubkey))
}

/// Reconcile, re-check the session, then sign `call` with the owner key.
fn owner_policy_transaction<P: Ports>(env: &Env<'_>, ports: &mut P, call: Call) -> Result<String> {
    let calls = [call];
    if let Some(hash) = pending::settle_before_signing(env, ports, &calls_digest(&calls))? {
        return Ok(hash);
    }
    let (record, _) = registered_session(env, ports)?;
    let owner = signing::owner_key(env)?;
    signing::sign_and_send(
        env,
        ports,
        &record,
        &calls,
        Signer::Owner(&owner),
        PendingOperation::Policy,
    )
}

fn parse_token(token: &str) -> Result<Felt> {
    match parse_felt(token) {
        Ok(t) if t != Felt::ZERO => Ok(t),
        _ => Err(SessionError::InvalidSpendingPolicy(
            "token must be a non-zero contract address".into(),
        )),
    }
}

/// Validate a policy: amounts are u256, per-call limit positive and not above
/// the window limit, window at least one second.
fn validate(policy: &SpendingPolicyInput) -> Result<(Felt, U256, U256)> {
    let token = parse_token(&policy.token)?;
    let bad = |what: &str| SessionError::InvalidSpendingPolicy(what.to_string());
    let per_call =
        U256::parse(&policy.max_per_call).ok_or_else(|| bad("max-per-call is not a u256"))?;
    let per_window =
        U256::parse(&policy.max_per_window).ok_or_else(|| bad("max-per-window is not a u256"))?;
    if per_call.is_zero() {
        return Err(bad("max-per-call must be positive"));
    }
    if per_call > per_window {
        return Err(bad("max-per-call exceeds max-per-window"));
    }
    if policy.window_seconds == 0 {
        return Err(bad("window-seconds must be positive"));
    }
    Ok((token, per_call, per_window))
}

/// Set the spending policy of the stored session for a token; returns the tx hash.
pub fn set_spending_policy<P: Ports>(
    ctx: &SessionContext,
    policy: &SpendingPolicyInput,
    ports: &mut P,
) -> Result<String> {
    let env = Env::new(ctx)?;
    env.require_signing()?;
    let (token, per_call, per_window) = validate(policy)?;
    let (_, pubkey) = registered_session(&env, ports)?;
    let call = Call::named(
        env.wallet,
        entrypoints::SET_SPENDING_POLICY,
        set_spending_policy_calldata(pubkey, token, per_call, per_window, policy.window_seconds),
    )?;
    owner_policy_transaction(&env, ports, call)
}

/// Remove the spending policy of the stored session for a token; returns the tx hash.
pub fn remove_spending_policy<P: Ports>(
    ctx: &SessionContext,
    token: &str,
    ports: &mut P,
) -> Result<String> {
    let env = Env::new(ctx)?;
    env.require_signing()?;
    let token = parse_token(token)?;
    let (_, pubkey) = registered_session(&env, ports)?;
    let call = Call::named(
        env.wallet,
        entrypoints::REMOVE_SPENDING_POLICY,
        vec![pubkey, token],
    )?;
    owner_policy_transaction(&env, ports, call)
}

/// Read the spending policy of the stored session for a token.
pub fn get_spending_policy<P: Ports>(
    ctx: &SessionContext,
    token: &str,
    ports: &mut P,
) -> Result<Option<SpendingPolicy>> {
    let env = Env::new(ctx)?;
    env.require_urls()?;
    let token = parse_token(token)?;
    let (_, pubkey) = registered_session(&env, ports)?;
    let felts = remote::call_wallet(
        &env,
        ports,
        entrypoints::GET_SPENDING_POLICY,
        &[pubkey, token],
    )?;
    decode_spending_policy(&token, &felts)
}
