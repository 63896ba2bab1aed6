//! `execute-with-session`: calls signed by the session key.

use super::pending::{self, Accepted, Intent};
use super::ports::Ports;
use super::signing::{self, SessionKeys, Signer};
use super::stored::{self, Seen};
use super::Env;
use crate::protocol::calls::{calls_digest, parse_calls};
use crate::protocol::error::{Result, SessionError};
use crate::protocol::model::{CallInput, IntentOptions, SessionContext};
use crate::protocol::preflight::check_calls;
use crate::protocol::record::PendingOperation;

/// Execute `calls` with the stored session; returns the transaction hash.
/// The session key comes from `keys` (decrypted on first use only). The
/// landing of the previous accepted execute (`unsettled`) is folded into
/// this one's first write, and this one's landing is left in `unsettled`
/// for the next write (one store write per execute).
///
/// A pending transaction of the wallet is reconciled first; when it is these
/// same calls, its outcome is reported and nothing new is signed. Every check
/// the account would make is made before signing (expiry, calls left, admin
/// blocklist, self-call, whitelist), so a doomed transaction is never signed
/// or sent. Calls left and revocation are checked once more on the record
/// the transaction is marked pending in: when other instances used the last
/// calls or revoked the session in between, the signature is dropped and
/// nothing is sent.
///
/// The first execute after the session was loaded (and the first after the
/// store was seen going back in time, `seen`) checks the store's count of
/// session calls against the account's, and signs nothing when the store is
/// behind ([`pending::check_store_not_behind`]).
pub(crate) fn execute_with_session<P: Ports>(
    ctx: &SessionContext,
    calls: &[CallInput],
    options: &IntentOptions,
    ports: &mut P,
    keys: &mut SessionKeys,
    state: (&mut Option<Accepted>, &mut Seen),
) -> Result<String> {
    let (unsettled, seen) = state;
    let env = Env::new(ctx)?;
    *env.unsettled.borrow_mut() = unsettled.take();
    *env.seen.borrow_mut() = std::mem::take(seen);
    let result = execute_in(&env, calls, options, ports, keys);
    *seen = env.seen.take();
    *unsettled = env.into_unsettled();
    result
}

/// [`execute_with_session`] in `env`.
fn execute_in<P: Ports>(
    env: &Env<'_>,
    calls: &[CallInput],
    options: &IntentOptions,
    ports: &mut P,
    keys: &mut SessionKeys,
) -> Result<String> {
    env.require_signing()?;
    let calls = parse_calls(calls)?;
    let intent = Intent::new(calls_digest(&calls), options)?;
    if let Some(hash) = pending::settle_before_signing(env, ports, &intent)? {
        return Ok(hash);
    }
    let (session, terms) = stored::require(env, ports)?.registered()?;
    let now = ports.now_unix();
    if now > terms.valid_until {
        return Err(SessionError::Expired(format!(
            "the session expired at {}",
            terms.valid_until
        )));
    }
    // Transactions still in flight may each use a call too.
    let record = &session.record;
    if record.calls_exhausted(terms.max_calls) {
        return Err(SessionError::MaxCallsExceeded(format!(
            "all {} calls of the session are used or in flight",
            terms.max_calls
        )));
    }
    check_calls(&env.wallet, &terms.whitelist, &calls)?;
    if !env.seen.borrow().checked {
        // A configuration naming another chain is refused before the network.
        signing::pinned_chain(env, ports, &session)?;
        pending::check_store_not_behind(env, ports, record, &session.public_key)?;
        env.seen.borrow_mut().checked = true;
    }

    let key = keys.key_for(env, &session)?;
    signing::sign_and_send(
        env,
        ports,
        &session,
        &calls,
        intent,
        Signer::Session {
            key,
            valid_until: terms.valid_until,
        },
        PendingOperation::Execute,
    )
}
