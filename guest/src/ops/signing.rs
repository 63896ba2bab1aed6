//! Decrypting keys, the pinned chain, and the prepare -> approve -> sign ->
//! send flow shared by every transaction.

use starknet_crypto::Felt;
use zeroize::Zeroize;

use super::pending::{self, Intent, Outgoing};
use super::ports::Ports;
use super::{remote, stored, Env};
use crate::crypto::envelope;
use crate::crypto::felt::{felt_to_hex, parse_felt};
use crate::crypto::keys::SigningKey;
use crate::crypto::owner_key::decrypt_owner_key;
use crate::protocol::calls::Call;
use crate::protocol::chipi_api;
use crate::protocol::error::{Result, SessionError};
use crate::protocol::record::{PendingOperation, Session};
use crate::protocol::typed_data_check::{approve_outside_execution, chain_id_value, Request};

/// Decrypt the wallet's owner key with the encrypt key.
pub(crate) fn owner_key(env: &Env<'_>) -> Result<SigningKey> {
    let encrypt_key = env
        .ctx
        .encrypt_key()
        .map_err(|e| SessionError::input(e.to_string()))?;
    decrypt_owner_key(
        &env.ctx.wallet.encrypted_private_key,
        &encrypt_key,
        &env.wallet,
    )
    .map_err(|e| SessionError::DecryptionFailed(format!("owner key: {e}")))
}

/// The unlocked session key of a wallet session: decrypted once, reused by
/// every later signature of the same stored session, zeroized by [`lock`]
/// (and on drop, through [`SigningKey`]'s `ZeroizeOnDrop`).
///
/// [`lock`]: SessionKeys::lock
#[derive(Default)]
pub struct SessionKeys {
    unlocked: Option<Unlocked>,
}

/// A decrypted session key and the stored session it was decrypted from.
pub(crate) struct Unlocked {
    /// The session public key (the record's, parsed).
    public_key: Felt,
    /// The envelope it was decrypted from: a replaced or re-sealed session
    /// is decrypted again, never served from the cache.
    envelope: String,
    /// The private key.
    pub(crate) key: SigningKey,
}

impl SessionKeys {
    /// The session key of `session`: the unlocked one when it belongs to
    /// this very stored session, otherwise decrypted now (the only place a
    /// session envelope is opened) and kept.
    pub(crate) fn key_for(&mut self, env: &Env<'_>, session: &Session) -> Result<&SigningKey> {
        let fresh = self.unlocked.as_ref().is_some_and(|u| {
            u.public_key == session.public_key && u.envelope == session.record.encrypted_private_key
        });
        if !fresh {
            self.lock();
            let encrypt_key = env
                .ctx
                .encrypt_key()
                .map_err(|e| SessionError::input(e.to_string()))?;
            let key = envelope::open(
                &session.record.encrypted_private_key,
                &encrypt_key,
                &env.wallet,
                &session.public_key,
            )
            .map_err(|e| SessionError::DecryptionFailed(format!("session key: {e}")))?;
            self.keep(
                key,
                session.public_key,
                &session.record.encrypted_private_key,
            );
        }
        match &self.unlocked {
            Some(unlocked) => Ok(&unlocked.key),
            None => Err(SessionError::DecryptionFailed(
                "session key: not unlocked".into(),
            )),
        }
    }

    /// Keep `key`, just made or decrypted, for the session `public_key`
    /// sealed as `envelope`.
    pub(crate) fn keep(&mut self, key: SigningKey, public_key: Felt, envelope: &str) {
        self.lock();
        self.unlocked = Some(Unlocked {
            public_key,
            envelope: envelope.to_owned(),
            key,
        });
    }

    /// Zeroize and forget the unlocked key, if any.
    pub fn lock(&mut self) {
        drop(self.take_zeroized());
    }

    /// Take the unlocked key out, already zeroized (what [`Self::lock`]
    /// drops; tests look at it).
    pub(crate) fn take_zeroized(&mut self) -> Option<Unlocked> {
        // Zeroize in place first: `take` moves the value out and leaves its
        // bytes behind in the `Option`'s storage.
        if let Some(unlocked) = self.unlocked.as_mut() {
            unlocked.key.zeroize();
        }
        self.unlocked.take()
    }

    /// True while a session key is unlocked.
    pub fn is_unlocked(&self) -> bool {
        self.unlocked.is_some()
    }
}

impl Drop for SessionKeys {
    fn drop(&mut self) {
        self.lock();
    }
}

/// The configured chain id, if any.
pub(crate) fn configured_chain(env: &Env<'_>) -> Result<Option<Felt>> {
    env.ctx
        .config
        .chain_id
        .as_deref()
        .map(|text| {
            chain_id_value(text).ok_or_else(|| {
                SessionError::input("configured chain id is not a felt or short string")
            })
        })
        .transpose()
}

/// The chain a new session is pinned to: configured, or read once from the node.
pub(crate) fn chain_for_new_session<P: Ports>(env: &Env<'_>, ports: &mut P) -> Result<Felt> {
    match configured_chain(env)? {
        Some(chain) => Ok(chain),
        None => remote::node_chain_id(env, ports),
    }
}

/// The chain the stored session is pinned to. A configuration naming another
/// chain is refused; a record from before pinning is pinned now (configured
/// chain, or the node's).
pub(crate) fn pinned_chain<P: Ports>(
    env: &Env<'_>,
    ports: &mut P,
    session: &Session,
) -> Result<Felt> {
    let record = &session.record;
    let configured = configured_chain(env)?;
    let Some(pinned) = &record.chain_id else {
        let chain = match configured {
            Some(chain) => chain,
            None => remote::node_chain_id(env, ports)?,
        };
        let hex = felt_to_hex(&chain);
        stored::update(env, ports, &record.public_key, |r| {
            r.chain_id.get_or_insert_with(|| hex.clone());
        })?;
        return Ok(chain);
    };
    let pinned = parse_felt(pinned)
        .map_err(|_| SessionError::Store("stored chain id is not a felt".into()))?;
    if let Some(configured) = configured {
        if configured != pinned {
            return Err(SessionError::input(format!(
                "the session is pinned to chain {}, the configuration names {}; nothing was signed",
                felt_to_hex(&pinned),
                felt_to_hex(&configured)
            )));
        }
    }
    Ok(pinned)
}

/// Which key signs a transaction.
#[derive(Clone, Copy)]
pub(crate) enum Signer<'a> {
    /// The owner key: signature `{r, s}`.
    Owner(&'a SigningKey),
    /// The session key: signature `[pubkey, r, s, valid_until]`.
    Session {
        /// The decrypted session key.
        key: &'a SigningKey,
        /// The registered expiry carried in the signature.
        valid_until: u64,
    },
}

/// Prepare, approve, sign and send `calls` for the stored `session`,
/// recording the transaction as pending before it is sent. Returns the
/// transaction hash. The caller has already reconciled any earlier pending
/// transaction ([`pending::settle_before_signing`]) for `intent`, named by
/// the caller's idempotency key or the
/// [`calls_digest`](crate::protocol::calls::calls_digest) of `calls`. A
/// nonce the stored session already knows is refused before signing. A
/// session signature carries the stored session's public key, which the
/// unlocked key was checked against when its envelope was opened.
pub(crate) fn sign_and_send<P: Ports>(
    env: &Env<'_>,
    ports: &mut P,
    session: &Session,
    calls: &[Call],
    intent: Intent,
    signer: Signer<'_>,
    operation: PendingOperation,
) -> Result<String> {
    let chain_id = pinned_chain(env, ports, session)?;
    let api_signer = match signer {
        Signer::Owner(_) => chipi_api::Signer::Owner,
        Signer::Session { .. } => chipi_api::Signer::Session,
    };
    let typed_data = remote::prepare_typed_data(env, ports, calls, api_signer)?;
    let now = ports.now_unix();
    let approved = approve_outside_execution(
        &typed_data,
        &Request {
            wallet: env.wallet,
            chain_id,
            calls,
            now,
        },
    )?;
    pending::check_nonce_is_fresh(&session.record, &approved.nonce)?;
    let body = match signer {
        Signer::Owner(key) => {
            let signature = key.sign(&approved.hash).map_err(|e| {
                SessionError::CreationFailed(format!("owner signature failed: {e}"))
            })?;
            chipi_api::execute_owner_body(
                &env.wallet,
                &typed_data,
                &chipi_api::owner_signature_json(&signature.r, &signature.s),
            )
        }
        Signer::Session { key, valid_until } => {
            let signature = key.sign(&approved.hash).map_err(|e| {
                SessionError::CreationFailed(format!("session signature failed: {e}"))
            })?;
            chipi_api::execute_session_body(
                &env.wallet,
                &typed_data,
                &session.public_key,
                &signature.r,
                &signature.s,
                valid_until,
            )
        }
    };
    let body = serde_json::to_vec(&body)
        .map_err(|e| SessionError::input(format!("cannot encode request: {e}")))?;
    pending::send(
        env,
        ports,
        &session.record.public_key,
        Outgoing {
            operation,
            intent,
            approved: &approved,
            body,
        },
    )
}
