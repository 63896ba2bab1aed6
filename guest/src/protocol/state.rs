//! The lifecycle state machine: none -> created -> active -> expired | revoked.

use super::model::{SessionData, SessionState};
use super::record::StoredSession;

/// Derive the lifecycle state from the stored session and, for a registered
/// session, what the account reports.
///
/// A session created but never registered is `created` whatever the chain says;
/// a registered session the account no longer knows (`valid_until == 0`) was
/// revoked; past its expiry or out of calls it is `expired`.
pub fn derive_state(
    stored: Option<&StoredSession>,
    on_chain: Option<&SessionData>,
    now: u64,
) -> SessionState {
    let session = match stored {
        None => return SessionState::None,
        Some(StoredSession::Revoked(_)) => return SessionState::Revoked,
        Some(StoredSession::Created(_)) => return SessionState::Created,
        Some(StoredSession::Registered(session, _)) => session,
    };
    let record = &session.record;
    match on_chain {
        Some(data) if data.valid_until == 0 => SessionState::Revoked,
        Some(data) if now > data.valid_until || data.calls_used >= data.max_calls => {
            SessionState::Expired
        }
        Some(_) => SessionState::Active,
        None if now > record.valid_until => SessionState::Expired,
        None => SessionState::Active,
    }
}

/// Calls left, when the on-chain data is known.
pub fn remaining_calls(on_chain: Option<&SessionData>) -> Option<u32> {
    on_chain
        .filter(|d| d.valid_until != 0)
        .map(|d| d.max_calls.saturating_sub(d.calls_used))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::record::{Registration, SessionRecord, RECORD_VERSION};

    fn record(registered: bool, revoked: bool) -> StoredSession {
        StoredSession::from_record(SessionRecord {
            version: RECORD_VERSION,
            wallet: "0x1".into(),
            public_key: "0x2".into(),
            encrypted_private_key: String::new(),
            valid_until: 1000,
            created_at: 0,
            registration: registered.then(|| Registration {
                valid_until: 1000,
                max_calls: 3,
                allowed_entrypoints: vec![],
                transaction_hash: Some("0x1".into()),
            }),
            calls_used: 0,
            revoked_tx: revoked.then(|| "0x3".into()),
            chain_id: None,
            pending: Vec::new(),
            settled: Vec::new(),
            revision: 0,
        })
        .unwrap()
    }

    fn chain(valid_until: u64, max: u32, used: u32) -> SessionData {
        SessionData {
            valid_until,
            max_calls: max,
            calls_used: used,
            ..Default::default()
        }
    }

    #[test]
    fn every_transition() {
        assert_eq!(derive_state(None, None, 0), SessionState::None);
        // Never registered: created, even though the chain reports zeros.
        let created = record(false, false);
        assert_eq!(
            derive_state(Some(&created), Some(&chain(0, 0, 0)), 10),
            SessionState::Created
        );
        let reg = record(true, false);
        assert_eq!(
            derive_state(Some(&reg), Some(&chain(1000, 3, 1)), 10),
            SessionState::Active
        );
        assert_eq!(
            derive_state(Some(&reg), Some(&chain(1000, 3, 3)), 10),
            SessionState::Expired
        );
        assert_eq!(
            derive_state(Some(&reg), Some(&chain(1000, 3, 0)), 1001),
            SessionState::Expired
        );
        assert_eq!(
            derive_state(Some(&reg), Some(&chain(0, 0, 0)), 10),
            SessionState::Revoked
        );
        assert_eq!(
            derive_state(Some(&record(true, true)), None, 10),
            SessionState::Revoked
        );
        assert_eq!(derive_state(Some(&reg), None, 1001), SessionState::Expired);
    }

    #[test]
    fn remaining() {
        assert_eq!(remaining_calls(Some(&chain(5, 10, 4))), Some(6));
        assert_eq!(remaining_calls(Some(&chain(5, 10, 12))), Some(0));
        assert_eq!(remaining_calls(Some(&chain(0, 0, 0))), None);
        assert_eq!(remaining_calls(None), None);
    }
}
