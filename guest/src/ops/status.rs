//! `get-session-status`: stored session + on-chain `SessionData` -> lifecycle state.
//!
//! Status reconciles without sending anything: a pending transaction whose
//! nonce the account consumed is recorded as landed (once), and a `created`
//! session the account knows (its registration landed while the answer was
//! lost) becomes `active`. What the node reports is shown as reported, but
//! only values consistent with what was registered are remembered, so a
//! hostile or broken node cannot lock the session locally.

use super::create::MAX_DURATION_SECS;
use super::ports::Ports;
use super::{pending, remote, stored, Env};
use crate::crypto::felt::{felt_to_hex, parse_felt};
use crate::protocol::calls::entrypoints;
use crate::protocol::error::{Result, SessionError};
use crate::protocol::model::{SessionContext, SessionData, SessionState, SessionStatus};
use crate::protocol::record::{Registration, SessionRecord};
use crate::protocol::rpc::{decode_session_data, MAX_WHITELIST_READ};
use crate::protocol::state::{derive_state, remaining_calls};
use crate::protocol::typed_data_check::MAX_CLOCK_SKEW_SECS;

/// Read the lifecycle state. A stored, unrevoked session is looked up on chain.
pub fn get_session_status<P: Ports>(ctx: &SessionContext, ports: &mut P) -> Result<SessionStatus> {
    let env = Env::new(ctx)?;
    let mut record = stored::load(&env, ports)?.record;
    if record.as_ref().is_some_and(|r| !r.pending.is_empty()) {
        env.require_urls()?;
        pending::reconcile(&env, ports, false)?;
        record = stored::load(&env, ports)?.record;
    }
    let now = ports.now_unix();
    let on_chain = match &record {
        Some(r) if r.registration.is_some() && r.revoked_tx.is_none() => {
            env.require_urls()?;
            Some(read_session_data(&env, ports, r)?)
        }
        // Never registered here: ask the chain whether a registration landed
        // with its answer lost; if the chain cannot be read, it stays `created`.
        Some(r) if r.revoked_tx.is_none() && env.require_urls().is_ok() => {
            read_session_data(&env, ports, r).ok()
        }
        _ => None,
    };
    if let (Some(r), Some(data)) = (&record, &on_chain) {
        if let Some(updated) = remember(&env, ports, r, data, now)? {
            record = Some(updated);
        }
    }
    // A created session is reported from the chain only once remembered as registered.
    let shown = match &record {
        Some(r) if r.registration.is_some() => on_chain.clone(),
        _ => None,
    };
    let state = derive_state(record.as_ref(), shown.as_ref(), now);
    Ok(SessionStatus {
        state,
        is_active: state == SessionState::Active,
        session: record.as_ref().map(|r| r.key_data()),
        remaining_calls: match state {
            SessionState::Active | SessionState::Expired => remaining_calls(shown.as_ref()),
            _ => None,
        },
        on_chain: shown,
    })
}

/// `get_session_data` and the whitelist entries of the stored session.
fn read_session_data<P: Ports>(
    env: &Env<'_>,
    ports: &mut P,
    record: &SessionRecord,
) -> Result<SessionData> {
    let pubkey = parse_felt(&record.public_key)
        .map_err(|_| SessionError::Store("stored session public key is not a felt".into()))?;
    let felts = remote::call_wallet(env, ports, entrypoints::GET_SESSION_DATA, &[pubkey])?;
    let mut data = decode_session_data(&felts)?;
    let len = data.allowed_entrypoints_len.min(MAX_WHITELIST_READ);
    for index in 0..len {
        let entry = remote::call_wallet(
            env,
            ports,
            entrypoints::GET_SESSION_ALLOWED_ENTRYPOINT_AT,
            &[pubkey, index.into()],
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

/// Remember what the chain says when it is consistent with the record:
/// a registration learned from the chain, or more calls used. Returns the
/// updated record, if it changed.
fn remember<P: Ports>(
    env: &Env<'_>,
    ports: &mut P,
    record: &SessionRecord,
    data: &SessionData,
    now: u64,
) -> Result<Option<SessionRecord>> {
    if !plausible(data, now) {
        return Ok(None);
    }
    match &record.registration {
        None => {
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
            })
            .map(Some)
        }
        Some(reg)
            if reg.valid_until == data.valid_until
                && reg.max_calls == data.max_calls
                && data.calls_used > record.calls_used =>
        {
            let used = data.calls_used;
            stored::update(env, ports, &record.public_key, |r| {
                r.calls_used = r.calls_used.max(used)
            })
            .map(Some)
        }
        Some(_) => Ok(None),
    }
}
