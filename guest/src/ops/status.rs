//! `get-session-status`: stored session + on-chain `SessionData` -> lifecycle state.

use super::ports::Ports;
use super::{remote, stored, Env};
use crate::core::felt::{felt_to_hex, parse_felt};
use crate::protocol::calls::entrypoints;
use crate::protocol::error::{Result, SessionError};
use crate::protocol::model::{SessionContext, SessionState, SessionStatus};
use crate::protocol::rpc::{decode_session_data, MAX_WHITELIST_READ};
use crate::protocol::state::{derive_state, remaining_calls};

/// Read the lifecycle state. Only a registered session is looked up on chain.
pub fn get_session_status<P: Ports>(ctx: &SessionContext, ports: &mut P) -> Result<SessionStatus> {
    let env = Env::new(ctx)?;
    let record = stored::load(&env, ports)?.record;
    let now = ports.now_unix();
    let on_chain = match &record {
        Some(r) if r.registration.is_some() => {
            env.require_urls()?;
            let pubkey = parse_felt(&r.public_key).map_err(|_| {
                SessionError::Store("stored session public key is not a felt".into())
            })?;
            let felts = remote::call_wallet(&env, ports, entrypoints::GET_SESSION_DATA, &[pubkey])?;
            let mut data = decode_session_data(&felts)?;
            let len = data.allowed_entrypoints_len.min(MAX_WHITELIST_READ);
            for index in 0..len {
                let entry = remote::call_wallet(
                    &env,
                    ports,
                    entrypoints::GET_SESSION_ALLOWED_ENTRYPOINT_AT,
                    &[pubkey, index.into()],
                )?;
                let selector = entry.first().ok_or_else(|| {
                    SessionError::response("get_session_allowed_entrypoint_at returned nothing")
                })?;
                data.allowed_entrypoints.push(felt_to_hex(selector));
            }
            Some(data)
        }
        _ => None,
    };
    let state = derive_state(record.as_ref(), on_chain.as_ref(), now);
    // Remember what the chain reports so pre-flight checks stay accurate.
    if let (Some(r), Some(data)) = (&record, &on_chain) {
        if data.valid_until != 0 && data.calls_used > r.calls_used {
            let used = data.calls_used;
            stored::update(&env, ports, &r.public_key, |rec| {
                rec.calls_used = rec.calls_used.max(used)
            })?;
        }
    }
    Ok(SessionStatus {
        state,
        is_active: state == SessionState::Active,
        session: record.as_ref().map(|r| r.key_data()),
        remaining_calls: match state {
            SessionState::Active | SessionState::Expired => remaining_calls(on_chain.as_ref()),
            _ => None,
        },
        on_chain,
    })
}
