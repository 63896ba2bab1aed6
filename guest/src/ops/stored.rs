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

/// What an engine has seen of the wallet's stored record across its calls:
/// the session and the highest revision read or written, and whether the
/// store's count of session calls was checked against the account since the
/// session was loaded (or since the store was seen going back in time).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Seen {
    /// The session's public key (0x-hex).
    public_key: String,
    /// Highest revision seen.
    revision: u64,
    /// True once the store's count was checked against the account.
    pub(crate) checked: bool,
}

impl Seen {
    /// Take in a record read from, or written to, the store. A lower
    /// revision than one seen before means the store went back in time: the
    /// count must be checked against the account again.
    fn observe(&mut self, record: &SessionRecord) {
        if self.public_key != record.public_key {
            *self = Self {
                public_key: record.public_key.clone(),
                revision: record.revision,
                checked: false,
            };
        } else if record.revision < self.revision {
            self.revision = record.revision;
            self.checked = false;
        } else {
            self.revision = record.revision;
        }
    }
}

/// A record together with the exact bytes it was read from (the CAS witness).
pub(crate) struct Loaded {
    /// Decoded record, if any, with this session's accepted execute folded
    /// in (see [`load`]).
    pub record: Option<SessionRecord>,
    /// Raw stored bytes.
    pub raw: Option<Vec<u8>>,
    /// True when the record differs from `raw` by the folded execute.
    pub folded: bool,
}

/// Read the wallet's session record.
///
/// When this session saw an execute accepted whose landing is not written
/// yet (`env.unsettled`) and the record still holds it as pending, the
/// landing is applied to the returned record: every reader sees it landed,
/// and the next write of the record persists it (one store write per
/// execute). When the record no longer holds it (another instance settled
/// it, or the session was replaced), there is nothing left to fold.
pub(crate) fn load<P: Ports>(env: &Env<'_>, ports: &mut P) -> Result<Loaded> {
    let raw = ports
        .store_get(&SessionRecord::key(&env.wallet_hex))
        .map_err(SessionError::Store)?;
    let mut record = raw.as_deref().map(SessionRecord::decode).transpose()?;
    if let Some(r) = &record {
        env.seen.borrow_mut().observe(r);
    }
    let mut folded = false;
    let mut unsettled = env.unsettled.borrow_mut();
    if let Some(accepted) = unsettled.as_ref() {
        folded = record.as_mut().is_some_and(|r| accepted.fold_into(r));
        if !folded {
            *unsettled = None;
        }
    }
    Ok(Loaded {
        record,
        raw,
        folded,
    })
}

/// Write the folded landing of this session's accepted execute, if any (a
/// session that is dropped or locked, or before an operation other than
/// execute).
pub(crate) fn flush<P: Ports>(env: &Env<'_>, ports: &mut P) -> Result<()> {
    for _ in 0..16 {
        if env.unsettled.borrow().is_none() {
            return Ok(());
        }
        let mut loaded = load(env, ports)?;
        if !loaded.folded {
            return Ok(());
        }
        if swap(env, ports, loaded.raw.as_deref(), loaded.record.as_mut())? {
            return Ok(());
        }
    }
    Err(SessionError::Store(
        "the stored session keeps changing concurrently".into(),
    ))
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

/// Replace the record only if the store still holds `expected`. Every
/// write moves the record's revision on (see [`Seen`]), in `new` itself.
pub(crate) fn swap<P: Ports>(
    env: &Env<'_>,
    ports: &mut P,
    expected: Option<&[u8]>,
    new: Option<&mut SessionRecord>,
) -> Result<bool> {
    let new = new.map(|r| {
        r.revision = r.revision.wrapping_add(1);
        &*r
    });
    let encoded = new.map(SessionRecord::encode).transpose()?;
    let swapped = ports
        .store_cas(
            &SessionRecord::key(&env.wallet_hex),
            expected,
            encoded.as_deref(),
        )
        .map_err(SessionError::Store)?;
    if swapped {
        if let Some(r) = new {
            env.seen.borrow_mut().observe(r);
        }
        // A written record read through `load` carries the fold: the
        // accepted execute is settled in the store now.
        let mut unsettled = env.unsettled.borrow_mut();
        if unsettled
            .as_ref()
            .is_some_and(|a| new.is_none_or(|r| !a.needs_fold(r)))
        {
            *unsettled = None;
        }
    }
    Ok(swapped)
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
        if swap(env, ports, loaded.raw.as_deref(), Some(&mut record))? {
            return Ok(record);
        }
    }
    Err(SessionError::Store(
        "the stored session keeps changing concurrently".into(),
    ))
}
