//! `create-session` and `clear-session`.

use super::ports::Ports;
use super::signing::SessionKeys;
use super::{pending, signing, stored, Env};
use crate::crypto::envelope::{self, KdfParams};
use crate::crypto::felt::felt_to_hex;
use crate::crypto::keys::SigningKey;
use crate::protocol::error::{Result, SessionError};
use crate::protocol::model::{CreateOptions, SessionContext, SessionKeyData, SessionState};
use crate::protocol::record::{SessionRecord, StoredSession, RECORD_VERSION};
use crate::protocol::state::derive_state;

/// Longest session lifetime accepted (one year).
pub(crate) const MAX_DURATION_SECS: u64 = 366 * 24 * 3600;

/// Create a key pair, encrypt it and store it before anything is sent. The
/// new key stays unlocked in `keys`.
pub(crate) fn create_session<P: Ports>(
    ctx: &SessionContext,
    options: &CreateOptions,
    ports: &mut P,
    keys: &mut SessionKeys,
) -> Result<SessionKeyData> {
    let env = Env::new(ctx)?;
    env.require_signing()?;
    let duration = options
        .duration_seconds
        .unwrap_or(ctx.config.default_duration_seconds);
    if duration == 0 || duration > MAX_DURATION_SECS {
        return Err(SessionError::input(format!(
            "session duration must be between 1 and {MAX_DURATION_SECS} seconds"
        )));
    }

    let mut loaded = stored::load(&env, ports)?;
    if loaded
        .record
        .as_ref()
        .is_some_and(|r| !r.pending.is_empty())
    {
        pending::reconcile(&env, ports, false)?;
        loaded = stored::load(&env, ports)?;
    }
    let now = ports.now_unix();
    if let Some(existing) = &loaded.record {
        if !existing.pending.is_empty() {
            return Err(SessionError::TransactionPending(
                "a transaction of the stored session may still land; it must settle (retry it, \
                 or wait for its window to close) before the session is replaced"
                    .into(),
            ));
        }
        let existing = StoredSession::from_record(existing.clone())?;
        let state = derive_state(Some(&existing), None, now);
        if state == SessionState::Active {
            return Err(SessionError::input(
                "a registered session is active on chain for this wallet; replacing it would \
                 leave its key usable there: revoke it first",
            ));
        }
        if state == SessionState::Created && !options.replace_existing {
            return Err(SessionError::input(
                "a created session already exists for this wallet; clear it first, or ask to replace it",
            ));
        }
    }
    let chain_id = signing::chain_for_new_session(&env, ports)?;

    let key = generate_key(ports)?;
    let public_key = key.public_key();
    let mut salt = [0u8; 16];
    let mut nonce = [0u8; 12];
    ports.fill_random(&mut salt);
    ports.fill_random(&mut nonce);
    let encrypt_key = ctx
        .encrypt_key()
        .map_err(|e| SessionError::input(e.to_string()))?;
    let encrypted = envelope::seal(
        &key,
        &encrypt_key,
        &env.wallet,
        &public_key,
        KdfParams::default(),
        salt,
        nonce,
    )
    .map_err(|e| SessionError::CreationFailed(format!("cannot encrypt session key: {e}")))?;

    let mut record = SessionRecord {
        version: RECORD_VERSION,
        wallet: env.wallet_hex.clone(),
        public_key: felt_to_hex(&public_key),
        encrypted_private_key: encrypted,
        valid_until: now
            .checked_add(duration)
            .ok_or_else(|| SessionError::input("duration overflows"))?,
        created_at: now,
        registration: None,
        calls_used: 0,
        revoked_tx: None,
        chain_id: Some(felt_to_hex(&chain_id)),
        pending: Vec::new(),
        settled: Vec::new(),
        revision: 0,
    };
    if !stored::swap(&env, ports, loaded.raw.as_deref(), Some(&mut record))? {
        return Err(SessionError::Store(
            "the stored session changed concurrently; nothing was created".into(),
        ));
    }
    keys.keep(key, public_key, &record.encrypted_private_key);
    Ok(record.key_data())
}

/// A fresh private key from the random import (rejection sampling).
fn generate_key<P: Ports>(ports: &mut P) -> Result<SigningKey> {
    for _ in 0..16 {
        let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
        ports.fill_random(bytes.as_mut());
        if let Ok(key) = SigningKey::from_random_bytes(&bytes) {
            return Ok(key);
        }
    }
    Err(SessionError::CreationFailed(
        "the random source never produced a valid key".into(),
    ))
}

/// Forget the stored session (nothing is sent on chain).
pub(crate) fn clear_session<P: Ports>(ctx: &SessionContext, ports: &mut P) -> Result<()> {
    let env = Env::new(ctx)?;
    // Read the raw bytes, not the decoded record, so even an unreadable record
    // can be cleared.
    let key = SessionRecord::key(&env.wallet_hex);
    for _ in 0..16 {
        let Some(raw) = ports.store_get(&key).map_err(SessionError::Store)? else {
            return Ok(());
        };
        if ports
            .store_cas(&key, Some(&raw), None)
            .map_err(SessionError::Store)?
        {
            return Ok(());
        }
    }
    Err(SessionError::Store(
        "the stored session keeps changing concurrently".into(),
    ))
}
