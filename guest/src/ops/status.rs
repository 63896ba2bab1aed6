//! `get-session-status`: stored session + on-chain `SessionData` -> lifecycle state.
//!
//! Status reconciles without sending anything: a pending transaction whose
//! nonce the account consumed is recorded as landed (once), and a `created`
//! session the account knows (its registration landed while the answer was
//! lost) becomes `active`. What the node reports is shown as reported, but
//! only values consistent with what was registered are remembered, so a
//! hostile or broken node cannot lock the session locally.

use starknet_crypto::Felt;

use super::create::MAX_DURATION_SECS;
use super::ports::Ports;
use super::{pending, remote, stored, Env};
use crate::crypto::felt::felt_to_hex;
use crate::protocol::calldata;
use crate::protocol::error::{Result, SessionError};
use crate::protocol::model::{SessionContext, SessionData, SessionState, SessionStatus};
use crate::protocol::record::{Registration, StoredSession};
use crate::protocol::rpc::MAX_WHITELIST_READ;
use crate::protocol::state::{derive_state, remaining_calls};
use crate::protocol::typed_data_check::MAX_CLOCK_SKEW_SECS;

/// Read the lifecycle state. A stored, unrevoked session is looked up on chain.
pub(crate) fn get_session_status<P: Ports>(
    ctx: &SessionContext,
    ports: &mut P,
) -> Result<SessionStatus> {
    let env = Env::new(ctx)?;
    let mut stored = stored::session(&env, ports)?;
    if stored
        .as_ref()
        .is_some_and(|s| !s.record().pending.is_empty())
    {
        env.require_urls()?;
        pending::reconcile(&env, ports, false)?;
        stored = stored::session(&env, ports)?;
    }
    let now = ports.now_unix();
    let on_chain = match &stored {
        Some(StoredSession::Registered(session, _)) => {
            env.require_urls()?;
            Some(read_session_data(&env, ports, &session.public_key)?)
        }
        // Never registered here: ask the chain whether a registration landed
        // with its answer lost; if the chain cannot be read, it stays `created`.
        Some(StoredSession::Created(session)) if env.require_urls().is_ok() => {
            read_session_data(&env, ports, &session.public_key).ok()
        }
        _ => None,
    };
    if let (Some(s), Some(data)) = (&stored, &on_chain) {
        if let Some(updated) = remember(&env, ports, s, data, now)? {
            stored = Some(updated);
        }
    }
    // A created session is reported from the chain only once remembered as registered.
    let shown = match &stored {
        Some(StoredSession::Registered(..)) => on_chain.clone(),
        _ => None,
    };
    let state = derive_state(stored.as_ref(), shown.as_ref(), now);
    Ok(SessionStatus {
        state,
        is_active: state == SessionState::Active,
        session: stored.as_ref().map(|s| s.record().key_data()),
        remaining_calls: match state {
            SessionState::Active | SessionState::Expired => remaining_calls(shown.as_ref()),
            _ => None,
        },
        on_chain: shown,
    })
}

/// `get_session_data` and the whitelist entries of the session `public_key`.
fn read_session_data<P: Ports>(
    env: &Env<'_>,
    ports: &mut P,
    public_key: &Felt,
) -> Result<SessionData> {
    let mut data = remote::session_data(env, ports, public_key)?;
    let len = data.allowed_entrypoints_len.min(MAX_WHITELIST_READ);
    for index in 0..len {
        let entry = remote::call_view(
            env,
            ports,
            &calldata::get_session_allowed_entrypoint_at(env.wallet, *public_key, index),
        )?;
        let selector = entry.first().ok_or_else(|| {
            SessionError::response("get_session_allowed_entrypoint_at returned nothing")
        })?;
        data.allowed_entrypoints.push(felt_to_hex(selector));
    }
    Ok(data)
}

/// True when `data` is something the account could really hold for a
/// session registered now or earlier: a bounded expiry and calls used within
/// the maximum.
fn plausible(data: &SessionData, now: u64) -> bool {
    data.valid_until != 0
        && data.max_calls > 0
        && data.calls_used <= data.max_calls
        && data.valid_until <= now.saturating_add(MAX_DURATION_SECS + MAX_CLOCK_SKEW_SECS)
        && data.allowed_entrypoints_len <= MAX_WHITELIST_READ
}

/// Remember what the chain says when it is consistent with the stored
/// session: a registration learned from the chain, or more calls used.
/// Returns the updated session, if it changed.
fn remember<P: Ports>(
    env: &Env<'_>,
    ports: &mut P,
    stored: &StoredSession,
    data: &SessionData,
    now: u64,
) -> Result<Option<StoredSession>> {
    if !plausible(data, now) {
        return Ok(None);
    }
    let record = stored.record();
    let updated = match stored {
        StoredSession::Created(_) => {
            let registration = Registration {
                valid_until: data.valid_until,
                max_calls: data.max_calls,
                allowed_entrypoints: data.allowed_entrypoints.clone(),
                transaction_hash: None,
            };
            let used = data.calls_used;
            stored::update(env, ports, &record.public_key, |r| {
                if r.registration.is_none() {
                    r.valid_until = registration.valid_until;
                    r.calls_used = used;
                    r.registration = Some(registration.clone());
                }
            })?
        }
        StoredSession::Registered(_, terms)
            if terms.valid_until == data.valid_until
                && terms.max_calls == data.max_calls
                && data.calls_used > record.calls_used =>
        {
            let used = data.calls_used;
            // Executes still pending may be among the account's count: they
            // are counted when they settle, not twice.
            stored::update(env, ports, &record.public_key, |r| {
                r.calls_used = r.calls_used.max(used.saturating_sub(r.pending_executes()));
            })?
        }
        StoredSession::Registered(..) | StoredSession::Revoked(_) => return Ok(None),
    };
    StoredSession::from_record(updated).map(Some)
}
