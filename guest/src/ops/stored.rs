//! Loading and updating the stored session with compare-and-swap, so two
//! instances sharing a store never overwrite each other's changes.
//!
//! Operations read the session typed ([`session`], [`require`]); the
//! compare-and-swap helpers work on the raw record.

use starknet_crypto::Felt;

use super::ports::Ports;
use super::Env;
use crate::protocol::error::{Result, SessionError};
use crate::protocol::record::{SessionRecord, StoredSession};

/// A record together with the exact bytes it was read from (the CAS witness).
pub(crate) struct Loaded {
    /// Decoded record, if any.
    pub record: Option<SessionRecord>,
    /// Raw stored bytes.
    pub raw: Option<Vec<u8>>,
}

/// Read the wallet's session record.
pub(crate) fn load<P: Ports>(env: &Env<'_>, ports: &mut P) -> Result<Loaded> {
    let raw = ports
        .store_get(&SessionRecord::key(&env.wallet_hex))
        .map_err(SessionError::Store)?;
    let record = raw.as_deref().map(SessionRecord::decode).transpose()?;
    Ok(Loaded { record, raw })
}

/// The wallet's stored session, typed; `None` when there is none.
pub(crate) fn session<P: Ports>(env: &Env<'_>, ports: &mut P) -> Result<Option<StoredSession>> {
    load(env, ports)?
        .record
        .map(StoredSession::from_record)
        .transpose()
}

/// The wallet's stored session; `SESSION_NOT_REGISTERED` when there is none.
pub(crate) fn require<P: Ports>(env: &Env<'_>, ports: &mut P) -> Result<StoredSession> {
    StoredSession::require(session(env, ports)?)
}

/// The stored session again, after reconciling, for calls built for the
/// session `public_key`: `STORE_ERROR` if the session was replaced meanwhile.
pub(crate) fn reload<P: Ports>(
    env: &Env<'_>,
    ports: &mut P,
    public_key: &Felt,
) -> Result<StoredSession> {
    let stored = require(env, ports)?;
    if stored.session().public_key != *public_key {
        return Err(SessionError::Store(
            "the session was replaced concurrently; nothing was signed".into(),
        ));
    }
    Ok(stored)
}

/// Replace the record only if the store still holds `expected`.
pub(crate) fn swap<P: Ports>(
    env: &Env<'_>,
    ports: &mut P,
    expected: Option<&[u8]>,
    new: Option<&SessionRecord>,
) -> Result<bool> {
    let encoded = new.map(SessionRecord::encode).transpose()?;
    ports
        .store_cas(
            &SessionRecord::key(&env.wallet_hex),
            expected,
            encoded.as_deref(),
        )
        .map_err(SessionError::Store)
}

/// Apply `change` to the stored record of the session `public_key`, retrying on
/// concurrent updates. Fails if the stored session was replaced meanwhile.
pub(crate) fn update<P: Ports>(
    env: &Env<'_>,
    ports: &mut P,
    public_key: &str,
    change: impl Fn(&mut SessionRecord),
) -> Result<SessionRecord> {
    for _ in 0..16 {
        let loaded = load(env, ports)?;
        let Some(mut record) = loaded.record else {
            return Err(SessionError::Store(
                "the session was cleared while the transaction was sent".into(),
            ));
        };
        if record.public_key != public_key {
            return Err(SessionError::Store(
                "the session was replaced while the transaction was sent".into(),
            ));
        }
        change(&mut record);
        if swap(env, ports, loaded.raw.as_deref(), Some(&record))? {
            return Ok(record);
        }
    }
    Err(SessionError::Store(
        "the stored session keeps changing concurrently".into(),
    ))
}
