//! The session record kept in the host's store (public data and ciphertext
//! only), and [`StoredSession`], its typed reading: the local lifecycle state
//! with the felts every operation needs already parsed.

use serde::{Deserialize, Serialize};
use starknet_crypto::Felt;

use super::error::{Result, SessionError};
use super::model::SessionKeyData;
use crate::crypto::felt::parse_felt;

/// Current record format version.
pub const RECORD_VERSION: u32 = 1;

/// Largest encoded record this component writes (8 MiB), and so the
/// largest value a host's store import needs to return: hosts answer
/// `failed` for anything longer instead of lowering it into the component.
/// A record's real size is far below: at most 16 pending transactions whose
/// signed bodies carry at most 4,096 calldata felts each, and at most 1,024
/// settled intents of a few hundred bytes. [`SessionRecord::encode`] refuses
/// a record above it (`STORE_ERROR`, before anything is sent).
pub const MAX_RECORD_BYTES: usize = 8 * 1024 * 1024;

/// What was registered on chain for the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Registration {
    /// Registered expiry (Unix seconds).
    pub valid_until: u64,
    /// Registered max calls.
    pub max_calls: u32,
    /// Registered whitelist (0x-hex selectors).
    pub allowed_entrypoints: Vec<String>,
    /// Registration transaction hash; `None` when the registration was
    /// learned from the chain after its answer was lost.
    pub transaction_hash: Option<String>,
}

/// What a pending transaction does to the record once it lands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum PendingOperation {
    /// Session-signed calls: one more call used.
    Execute,
    /// `add_or_update_session_key` with these values.
    Register {
        /// Registered expiry.
        valid_until: u64,
        /// Registered max calls.
        max_calls: u32,
        /// Registered whitelist (0x-hex selectors).
        allowed_entrypoints: Vec<String>,
    },
    /// `revoke_session_key`.
    Revoke,
    /// `set_spending_policy` or `remove_spending_policy` (no local effect).
    Policy,
}

/// A signed transaction handed to the backend whose outcome is not known yet.
/// Written before the send; cleared once the outcome is known. Holds only
/// public data (the signed request body goes to the backend as is).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingTransaction {
    /// What it does.
    pub operation: PendingOperation,
    /// Digest of the requested calls (0x-hex), so a retry of the same request
    /// is recognised ([`calls_digest`](crate::protocol::calls::calls_digest)).
    pub calls_digest: String,
    /// SNIP-9 nonce of the outside execution (0x-hex).
    pub nonce: String,
    /// Signed message hash (0x-hex).
    pub message_hash: String,
    /// `Execute Before` of the outside execution: after it (and a clock-skew
    /// allowance) the transaction can never land.
    pub execute_before: u64,
    /// The exact `execute-sponsored-transaction` body that was signed and sent.
    pub body: String,
    /// When it was first sent (Unix seconds).
    pub sent_at: u64,
    /// Until when (Unix seconds) its sender may still be waiting for the
    /// answer to its first send (the end of the sender's time budget).
    /// Another instance resends it only after this, or once the sender marked
    /// the answer lost, so that a resend never races the first send (the
    /// loser would be told "nonce already used" for a transaction that
    /// landed). 0 in records written before this field: resend at once.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sending_until: u64,
    /// The sender's first send ended without an answer (it reported
    /// `TRANSACTION_PENDING`): anyone may resend it now.
    #[serde(default, skip_serializing_if = "is_false")]
    pub answer_lost: bool,
    /// Digest of the caller's idempotency key (0x-hex SHA-256), when the
    /// intent was named by one; otherwise the intent is its calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

impl PendingTransaction {
    /// True when resending it cannot race its sender's first send.
    pub fn may_resend(&self, now: u64) -> bool {
        self.answer_lost || now > self.sending_until
    }
}

/// What became of a settled intent, as far as the account can tell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "outcome")]
pub enum SettledOutcome {
    /// It landed (its effect is recorded); its hash when an answer gave it.
    Landed {
        /// Transaction hash, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transaction_hash: Option<String>,
    },
    /// Its window closed and the account cannot tell whether it landed
    /// (its nonce reads consumed, but the session's call count does not
    /// show it for certain). It can no longer land.
    Unknown,
}

/// A settled intent that a retry must still be answered for (a tombstone):
/// one whose caller was never told its outcome (its answer was lost, its
/// process died, another operation settled it), or one named by an
/// idempotency key. Pruned once [`SettledIntent::keep_until`] passes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettledIntent {
    /// Digest of the requested calls (0x-hex).
    pub calls_digest: String,
    /// Digest of the idempotency key that named it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// SNIP-9 nonce its signature consumed (0x-hex).
    pub nonce: String,
    /// What became of it.
    #[serde(flatten)]
    pub outcome: SettledOutcome,
    /// When it was settled (Unix seconds).
    pub settled_at: u64,
    /// Until when (Unix seconds) a retry is answered from it.
    pub keep_until: u64,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if signature
fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if signature
fn is_false(b: &bool) -> bool {
    !*b
}

/// One stored session for a wallet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionRecord {
    /// Record format version.
    pub version: u32,
    /// Wallet address (0x-hex, normalised).
    pub wallet: String,
    /// Session public key (0x-hex).
    pub public_key: String,
    /// Session private key envelope (`v1.argon2id...` or `v1.hkdf-sha256...`).
    pub encrypted_private_key: String,
    /// Expiry chosen at creation, updated at registration.
    pub valid_until: u64,
    /// Creation time (Unix seconds).
    pub created_at: u64,
    /// Set once the registration transaction was accepted.
    #[serde(default)]
    pub registration: Option<Registration>,
    /// Transactions this store has seen succeed (a lower bound of `calls_used`).
    #[serde(default)]
    pub calls_used: u32,
    /// Revocation transaction hash, once revoked (empty when the revocation
    /// was learned from the chain after its answer was lost).
    #[serde(default)]
    pub revoked_tx: Option<String>,
    /// Chain the session is pinned to (0x-hex), set at creation; signing on
    /// any other chain is refused.
    #[serde(default)]
    pub chain_id: Option<String>,
    /// Sent transactions whose outcome is not known yet (at most one per
    /// request, see [`PendingTransaction::calls_digest`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<PendingTransaction>,
    /// Settled intents a retry must still be answered for (bounded, pruned
    /// when they expire).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub settled: Vec<SettledIntent>,
    /// Incremented by every write: a record read with a lower revision than
    /// one seen before means the store went back in time (a restored
    /// snapshot, a failover to a lagging replica).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub revision: u64,
}

impl SessionRecord {
    /// Store key of a wallet's session (wallet address normalised to 0x-hex).
    pub fn key(wallet_hex: &str) -> String {
        format!("chipi-session/v1/session/{wallet_hex}")
    }

    /// Decode a stored record.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let record: Self = serde_json::from_slice(bytes)
            .map_err(|e| SessionError::Store(format!("stored session is unreadable: {e}")))?;
        if record.version != RECORD_VERSION {
            return Err(SessionError::Store(format!(
                "stored session has unsupported version {}",
                record.version
            )));
        }
        Ok(record)
    }

    /// Encode for storage; a record above [`MAX_RECORD_BYTES`] is refused.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let bytes = serde_json::to_vec(self)
            .map_err(|e| SessionError::Store(format!("cannot encode session: {e}")))?;
        if bytes.len() > MAX_RECORD_BYTES {
            return Err(SessionError::Store(format!(
                "the session record would take {} bytes, above the {} MiB limit of a record",
                bytes.len(),
                MAX_RECORD_BYTES >> 20
            )));
        }
        Ok(bytes)
    }

    /// The hook's `SessionKeyData` view of this record.
    pub fn key_data(&self) -> SessionKeyData {
        SessionKeyData {
            public_key: self.public_key.clone(),
            encrypted_private_key: self.encrypted_private_key.clone(),
            valid_until: self.valid_until,
        }
    }

    /// Execute transactions sent but not settled: they may still use a call.
    pub fn pending_executes(&self) -> u32 {
        let n = self
            .pending
            .iter()
            .filter(|p| p.operation == PendingOperation::Execute)
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// True when no call of a session allowing `max_calls` is left: every
    /// one is used or taken by an execute in flight.
    pub fn calls_exhausted(&self, max_calls: u32) -> bool {
        self.calls_used.saturating_add(self.pending_executes()) >= max_calls
    }
}

/// A stored session: its record and its public key, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The record as stored.
    pub record: SessionRecord,
    /// The session public key.
    pub public_key: Felt,
}

/// What was registered for a session, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terms {
    /// Registered expiry (Unix seconds).
    pub valid_until: u64,
    /// Registered max calls.
    pub max_calls: u32,
    /// Registered whitelist (empty: any entrypoint but the wallet's own).
    pub whitelist: Vec<Felt>,
}

/// The stored session of a wallet in its local lifecycle state, read from
/// its record by [`StoredSession::from_record`] (the only place that tells
/// the states apart). Operations ask for the state they need with
/// [`StoredSession::require`], [`StoredSession::unrevoked`] and
/// [`StoredSession::registered`], which carry the one error of each refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredSession {
    /// Created here, not (yet) known to be registered on chain.
    Created(Session),
    /// Registered on chain (by this store, or learned from the chain).
    Registered(Session, Terms),
    /// Revoked by this store.
    Revoked(Session),
}

impl StoredSession {
    /// Read stored bytes: [`SessionRecord::decode`], then [`Self::from_record`].
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        Self::from_record(SessionRecord::decode(bytes)?)
    }

    /// The state of `record`, with its public key and registered whitelist
    /// parsed (a stored value that is not a felt is a `STORE_ERROR`).
    pub fn from_record(record: SessionRecord) -> Result<Self> {
        let public_key = parse_felt(&record.public_key)
            .map_err(|_| SessionError::Store("stored session public key is not a felt".into()))?;
        if record.revoked_tx.is_some() {
            return Ok(Self::Revoked(Session { record, public_key }));
        }
        let Some(registration) = &record.registration else {
            return Ok(Self::Created(Session { record, public_key }));
        };
        let whitelist = registration
            .allowed_entrypoints
            .iter()
            .map(|s| parse_felt(s))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|_| SessionError::Store("stored whitelist holds a non-felt".into()))?;
        let terms = Terms {
            valid_until: registration.valid_until,
            max_calls: registration.max_calls,
            whitelist,
        };
        Ok(Self::Registered(Session { record, public_key }, terms))
    }

    /// The session found in the store; `SESSION_NOT_REGISTERED` when there is none.
    pub fn require(found: Option<Self>) -> Result<Self> {
        found.ok_or_else(|| {
            SessionError::NotRegistered(
                "no session stored for this wallet; create one first".into(),
            )
        })
    }

    /// The session, in any state.
    pub fn session(&self) -> &Session {
        match self {
            Self::Created(s) | Self::Registered(s, _) | Self::Revoked(s) => s,
        }
    }

    /// The record, in any state.
    pub fn record(&self) -> &SessionRecord {
        &self.session().record
    }

    /// The session unless it was revoked (`SESSION_REVOKED`).
    pub fn unrevoked(self) -> Result<Session> {
        match self {
            Self::Created(s) | Self::Registered(s, _) => Ok(s),
            Self::Revoked(_) => Err(revoked()),
        }
    }

    /// The registered session and its terms: `SESSION_REVOKED` once revoked,
    /// `SESSION_NOT_REGISTERED` while only created.
    pub fn registered(self) -> Result<(Session, Terms)> {
        match self {
            Self::Registered(s, terms) => Ok((s, terms)),
            Self::Revoked(_) => Err(revoked()),
            Self::Created(_) => Err(SessionError::NotRegistered(
                "the session was created but never registered on chain; register it, or clear it"
                    .into(),
            )),
        }
    }
}

/// The refusal of every operation on a revoked session.
fn revoked() -> SessionError {
    SessionError::Revoked("the session was revoked; create a new one".into())
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::Value;

    use super::*;
    use crate::test_data::{self, load};

    /// `records.json`.
    #[derive(Deserialize)]
    struct Records {
        readable: Vec<Readable>,
        unreadable: Vec<Unreadable>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Readable {
        name: String,
        record: Value,
        state: String,
        #[serde(default)]
        max_calls: Option<u32>,
        #[serde(default)]
        whitelist_length: Option<usize>,
        #[serde(default)]
        pending_executes: u32,
    }

    #[derive(Deserialize)]
    struct Unreadable {
        name: String,
        record: Value,
    }

    #[test]
    fn every_record_format_loads_in_its_state() {
        let records: Records = load(test_data::RECORDS);
        for r in &records.readable {
            let bytes = serde_json::to_vec(&r.record).unwrap();
            let stored =
                StoredSession::decode(&bytes).unwrap_or_else(|e| panic!("{}: {e}", r.name));
            let state = match &stored {
                StoredSession::Created(_) => "created",
                StoredSession::Registered(..) => "registered",
                StoredSession::Revoked(_) => "revoked",
            };
            assert_eq!(state, r.state, "{}", r.name);
            assert_eq!(
                stored.session().public_key,
                parse_felt(r.record["publicKey"].as_str().unwrap()).unwrap(),
                "{}",
                r.name
            );
            assert_eq!(
                stored.record().pending_executes(),
                r.pending_executes,
                "{}",
                r.name
            );
            if let StoredSession::Registered(_, terms) = &stored {
                assert_eq!(Some(terms.max_calls), r.max_calls, "{}", r.name);
                assert_eq!(
                    Some(terms.whitelist.len()),
                    r.whitelist_length,
                    "{}",
                    r.name
                );
            }
            // What is read is written back unchanged (unknown fields aside).
            let again = SessionRecord::decode(&stored.record().encode().unwrap()).unwrap();
            assert_eq!(&again, stored.record(), "{}", r.name);
        }
        for r in &records.unreadable {
            let bytes = serde_json::to_vec(&r.record).unwrap();
            let err = StoredSession::decode(&bytes).unwrap_err();
            assert_eq!(err.code(), "STORE_ERROR", "{}: {err}", r.name);
        }
    }

    fn sample() -> SessionRecord {
        SessionRecord {
            version: RECORD_VERSION,
            wallet: "0xabc".into(),
            public_key: "0x123".into(),
            encrypted_private_key: "v1.argon2id.m=64,t=1,p=1.a.b.c".into(),
            valid_until: 100,
            created_at: 1,
            registration: None,
            calls_used: 0,
            revoked_tx: None,
            chain_id: None,
            pending: Vec::new(),
            settled: Vec::new(),
            revision: 0,
        }
    }

    #[test]
    fn round_trip_and_camel_case() {
        let mut r = sample();
        r.registration = Some(Registration {
            valid_until: 100,
            max_calls: 5,
            allowed_entrypoints: vec!["0x1".into()],
            transaction_hash: Some("0x9".into()),
        });
        let bytes = r.encode().unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains("\"encryptedPrivateKey\""), "{text}");
        assert!(text.contains("\"maxCalls\":5"), "{text}");
        assert_eq!(SessionRecord::decode(&bytes).unwrap(), r);
        assert!(matches!(
            StoredSession::decode(&bytes).unwrap(),
            StoredSession::Registered(_, ref t) if t.whitelist == vec![Felt::ONE] && t.max_calls == 5
        ));
        r.revoked_tx = Some("0x8".into());
        assert!(matches!(
            StoredSession::from_record(r).unwrap(),
            StoredSession::Revoked(_)
        ));
    }

    #[test]
    fn states_and_their_refusals() {
        let created = StoredSession::from_record(sample()).unwrap();
        assert_eq!(created.session().public_key, Felt::from(0x123u32));
        assert!(created.clone().unrevoked().is_ok());
        assert_eq!(
            created.registered().unwrap_err().code(),
            "SESSION_NOT_REGISTERED"
        );
        let mut revoked = sample();
        revoked.revoked_tx = Some(String::new());
        let revoked = StoredSession::from_record(revoked).unwrap();
        assert_eq!(
            revoked.clone().unrevoked().unwrap_err().code(),
            "SESSION_REVOKED"
        );
        assert_eq!(revoked.registered().unwrap_err().code(), "SESSION_REVOKED");
        assert_eq!(
            StoredSession::require(None).unwrap_err().code(),
            "SESSION_NOT_REGISTERED"
        );
        let mut bad_key = sample();
        bad_key.public_key = "pk".into();
        assert_eq!(
            StoredSession::from_record(bad_key).unwrap_err().code(),
            "STORE_ERROR"
        );
        let mut bad_whitelist = sample();
        bad_whitelist.registration = Some(Registration {
            valid_until: 1,
            max_calls: 1,
            allowed_entrypoints: vec!["transfer".into()],
            transaction_hash: None,
        });
        assert_eq!(
            StoredSession::from_record(bad_whitelist)
                .unwrap_err()
                .code(),
            "STORE_ERROR"
        );
    }

    #[test]
    fn rejects_garbage_and_future_versions() {
        assert_eq!(
            SessionRecord::decode(b"{").unwrap_err().code(),
            "STORE_ERROR"
        );
        let mut r = sample();
        r.version = 2;
        let bytes = serde_json::to_vec(&r).unwrap();
        assert!(SessionRecord::decode(&bytes).is_err());
    }
}
