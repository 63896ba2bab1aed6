//! Spending policies: owner-signed `set_spending_policy` / `remove_spending_policy`,
//! read with `get_spending_policy`.

use starknet_core::types::U256;
use starknet_crypto::Felt;

use super::pending::{self, Intent};
use super::ports::Ports;
use super::signing::{self, Signer};
use super::{remote, stored, Env};
use crate::crypto::felt::parse_felt;
use crate::protocol::calldata::{self, parse_u256};
use crate::protocol::calls::{calls_digest, Call};
use crate::protocol::error::{BackendError, Result, SessionError};
use crate::protocol::model::{IntentOptions, SessionContext, SpendingPolicy, SpendingPolicyInput};
use crate::protocol::record::PendingOperation;
use crate::protocol::rpc::{decode_spending_policy, ENTRYPOINT_NOT_FOUND};

/// True when a node's error says the contract has no such function: RPC
/// `ENTRYPOINT_NOT_FOUND`, or a contract error naming it, as Cairo's
/// `'ENTRYPOINT_NOT_FOUND'` or as the blockifier's "Entry point ... not found in
/// contract" (nodes differ).
fn is_missing_entrypoint(err: &BackendError) -> bool {
    err.status == 0
        && (err.code.as_deref() == Some(&ENTRYPOINT_NOT_FOUND.to_string())
            || err.message.contains("ENTRYPOINT_NOT_FOUND")
            || (err.message.contains("Entry point")
                && err.message.contains("not found in contract")))
}

/// `get_spending_policy` of the session for `token`, as the account answers it.
/// An account whose class has no spending policies (Chipi's v32 account) is
/// refused with [`SessionError::InvalidSpendingPolicy`]: there an owner-signed
/// `set_spending_policy` would be a failed inner call that the account ignores,
/// a successful transaction that enforces nothing.
fn read_policy<P: Ports>(
    env: &Env<'_>,
    ports: &mut P,
    public_key: Felt,
    token: Felt,
) -> Result<Vec<Felt>> {
    env.require_urls()?;
    let call = calldata::get_spending_policy(env.wallet, public_key, token);
    match remote::call_view(env, ports, &call) {
        Err(SessionError::Backend(b)) if is_missing_entrypoint(&b) => {
            Err(SessionError::InvalidSpendingPolicy(format!(
                "this wallet's account has no spending policies \
                 (get_spending_policy: {}); nothing was signed",
                b.message
            )))
        }
        other => other,
    }
}

/// Public key of the stored session, which must be registered.
fn registered_key<P: Ports>(env: &Env<'_>, ports: &mut P) -> Result<Felt> {
    let (session, _) = stored::require(env, ports)?.registered()?;
    Ok(session.public_key)
}

/// Reconcile, re-check the session, then sign `call` (built for the session
/// `public_key`) with the owner key.
fn owner_policy_transaction<P: Ports>(
    env: &Env<'_>,
    ports: &mut P,
    public_key: &Felt,
    call: Call,
    options: &IntentOptions,
) -> Result<String> {
    let calls = [call];
    let intent = Intent::new(calls_digest(&calls), options)?;
    if let Some(hash) = pending::settle_before_signing(env, ports, &intent)? {
        return Ok(hash);
    }
    let (session, _) = stored::reload(env, ports, public_key)?.registered()?;
    let owner = signing::owner_key(env)?;
    signing::sign_and_send(
        env,
        ports,
        &session,
        &calls,
        intent,
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
        parse_u256(&policy.max_per_call).ok_or_else(|| bad("max-per-call is not a u256"))?;
    let per_window =
        parse_u256(&policy.max_per_window).ok_or_else(|| bad("max-per-window is not a u256"))?;
    if per_call == U256::from(0u8) {
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
pub(crate) fn set_spending_policy<P: Ports>(
    ctx: &SessionContext,
    policy: &SpendingPolicyInput,
    options: &IntentOptions,
    ports: &mut P,
) -> Result<String> {
    let env = Env::new(ctx)?;
    env.require_signing()?;
    let (token, per_call, per_window) = validate(policy)?;
    let public_key = registered_key(&env, ports)?;
    read_policy(&env, ports, public_key, token)?;
    let call = calldata::set_spending_policy(
        env.wallet,
        public_key,
        token,
        per_call,
        per_window,
        policy.window_seconds,
    );
    owner_policy_transaction(&env, ports, &public_key, call, options)
}

/// Remove the spending policy of the stored session for a token; returns the tx hash.
pub(crate) fn remove_spending_policy<P: Ports>(
    ctx: &SessionContext,
    token: &str,
    options: &IntentOptions,
    ports: &mut P,
) -> Result<String> {
    let env = Env::new(ctx)?;
    env.require_signing()?;
    let token = parse_token(token)?;
    let public_key = registered_key(&env, ports)?;
    read_policy(&env, ports, public_key, token)?;
    let call = calldata::remove_spending_policy(env.wallet, public_key, token);
    owner_policy_transaction(&env, ports, &public_key, call, options)
}

/// Read the spending policy of the stored session for a token.
pub(crate) fn get_spending_policy<P: Ports>(
    ctx: &SessionContext,
    token: &str,
    ports: &mut P,
) -> Result<Option<SpendingPolicy>> {
    let env = Env::new(ctx)?;
    env.require_urls()?;
    let token = parse_token(token)?;
    let public_key = registered_key(&env, ports)?;
    let felts = read_policy(&env, ports, public_key, token)?;
    decode_spending_policy(&token, &felts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rpc_error(code: &str, message: &str) -> BackendError {
        BackendError {
            status: 0,
            code: Some(code.into()),
            message: message.into(),
        }
    }

    #[test]
    fn a_missing_entrypoint_is_recognised_as_nodes_report_it() {
        // starknet-devnet 0.10 (RPC 0.10): code 21.
        assert!(is_missing_entrypoint(&rpc_error(
            "21",
            "Requested entrypoint does not exist in the contract"
        )));
        // A node reporting it as a contract error.
        assert!(is_missing_entrypoint(&rpc_error(
            "40",
            "Contract error: ENTRYPOINT_NOT_FOUND"
        )));
        assert!(is_missing_entrypoint(&rpc_error(
            "40",
            "Contract error: {\"revert_error\":\"Entry point EntryPointSelector(0x1) not found in contract.\"}"
        )));
        for other in [
            rpc_error("20", "Contract not found"),
            rpc_error("40", "Contract error: Session: unauthorized selector"),
            BackendError {
                status: 404,
                code: Some("21".into()),
                message: "not found".into(),
            },
        ] {
            assert!(!is_missing_entrypoint(&other), "{other:?}");
        }
    }
}
