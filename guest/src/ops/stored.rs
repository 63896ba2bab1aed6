//! Loading and updating the stored session with compare-and-swap, so two
//! instances sharing a store never overwrite each other's changes.

use super::ports::Ports;
use super::Env;
use crate::protocol::error::{Result, SessionError};
use crate::protocol::record::SessionRecord;

/// A record together with the exact bytes it was read from (the CAS witness).
pub struct Loaded {
    /// Decoded record, if any.
    pub record: Option<SessionRecord>,
    /// Raw stored bytes.
    pub raw: Option<Vec<u8>>,
}

/// Read the wallet's session record.
pub fn load<P: Ports>(env: &Env<'_>, ports: &mut P) -> Result<Loaded> {
    let raw = ports
        .store_get(&SessionRecord::key(&env.wallet_hex))
        .map_err(SessionError::Store)?;
    let record = raw.as_deref().map(SessionRecord::decode).transpose()?;
    Ok(Loaded { record, raw })
}

/// The wallet's session record; `SESSION_NOT_REGISTERED` with `missing` when
/// there is none.
pub fn require<P: Ports>(env: &Env<'_>, ports: &mut P, missing: &str) -> Result<SessionRecord> {
    load(env, ports)?
        .record
        .ok_or_else(|| SessionError::NotRegistered(missing.to_owned()))
}

/// Replace the record only if the store still holds `expected`.
pub fn swap<P: Ports>(
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
pub fn update<P: Ports>(
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
