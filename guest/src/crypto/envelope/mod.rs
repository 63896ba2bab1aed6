//! Our session-key ciphertext: a versioned, self-describing envelope
//! (docs/protocol.md, "Ciphertext formats")
//!
//! ```text
//! v1.argon2id.m=<KiB>,t=<iterations>,p=<lanes>.<salt>.<nonce>.<ciphertext+tag>
//! ```
//!
//! The last three parts are base64url without padding. Argon2id (version
//! 0x13) derives a 32-byte key from the UTF-8 bytes of the encrypt key and a
//! 16-byte salt; AES-256-GCM with a 12-byte nonce encrypts the 32-byte
//! big-endian private key. The associated data
//!
//! ```text
//! b"chipi-session/v1|" || wallet address (32 bytes BE) || session public key (32 bytes BE)
//! ```
//!
//! binds the ciphertext to its wallet and session, so it cannot be swapped
//! into another session. Both felts are fixed-width, so `0x00ab` and `0xAB`
//! bind identically. The Argon2 parameters are recorded in the envelope so
//! they can be raised later; [`open`] refuses parameters outside
//! [`KdfParams::validate`]'s bounds so a hostile envelope cannot make us
//! allocate gigabytes or spin for minutes.

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use zeroize::Zeroizing;

use super::error::EnvelopeError;
use super::felt::Felt;
use super::keys::SigningKey;

/// Version tag of the format this module writes.
pub const VERSION: &str = "v1";
/// KDF tag of the format this module writes.
pub const ALGORITHM: &str = "argon2id";
/// Salt length in bytes.
pub const SALT_LEN: usize = 16;
/// AES-GCM nonce length in bytes.
pub const NONCE_LEN: usize = 12;

/// Prefix of the associated data.
const AD_PREFIX: &[u8] = b"chipi-session/v1|";
/// Plaintext (private key) length.
const PLAINTEXT_LEN: usize = 32;
/// AES-GCM tag length.
const TAG_LEN: usize = 16;
/// Longest envelope we look at; a real one is about 170 characters.
const MAX_ENVELOPE_LEN: usize = 512;

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Iterations (passes).
    pub t: u32,
    /// Lanes (parallelism).
    pub p: u32,
}

impl KdfParams {
    /// OWASP's recommended Argon2id setting: 19 MiB, 2 passes, 1 lane.
    pub const DEFAULT: Self = Self {
        m_kib: 19_456,
        t: 2,
        p: 1,
    };
    /// Largest memory cost accepted (64 MiB): parameters come from stored
    /// envelopes, which are input like any other.
    pub const MAX_M_KIB: u32 = 65_536;
    /// Largest iteration count accepted.
    pub const MAX_T: u32 = 10;
    /// Largest lane count accepted.
    pub const MAX_P: u32 = 4;

    /// Checks `1 <= t <= 10`, `1 <= p <= 4` and `8 * p <= m <= 65536`.
    pub fn validate(&self) -> Result<(), EnvelopeError> {
        let ok = (1..=Self::MAX_T).contains(&self.t)
            && (1..=Self::MAX_P).contains(&self.p)
            && self.m_kib <= Self::MAX_M_KIB
            && self.m_kib >= 8 * self.p;
        if ok {
            Ok(())
        } else {
            Err(EnvelopeError::ParamsOutOfBounds)
        }
    }
}

impl Default for KdfParams {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Encrypts a session private key for storage.
///
/// `salt` and `nonce` must be fresh CSPRNG output for every call (the caller
/// supplies them because the crypto module never draws randomness itself).
pub fn seal(
    secret: &SigningKey,
    encrypt_key: &str,
    wallet: &Felt,
    session_pubkey: &Felt,
    params: KdfParams,
    salt: [u8; SALT_LEN],
    nonce: [u8; NONCE_LEN],
) -> Result<String, EnvelopeError> {
    seal_bound(
        secret,
        encrypt_key,
        wallet,
        session_pubkey,
        params,
        salt,
        nonce,
    )
}

/// Decrypts a session private key sealed by [`seal`] for the same wallet and
/// session public key, and checks that it really is that session's key.
///
/// Wrong encrypt key, any tampering, another wallet or another session all
/// give [`EnvelopeError::DecryptionFailed`]; an unknown version or algorithm
/// and out-of-bounds parameters have their own errors.
pub fn open(
    envelope: &str,
    encrypt_key: &str,
    wallet: &Felt,
    session_pubkey: &Felt,
) -> Result<SigningKey, EnvelopeError> {
    let key = open_bound(envelope, encrypt_key, wallet, session_pubkey)?;
    if key.public_key() != *session_pubkey {
        return Err(EnvelopeError::DecryptionFailed);
    }
    Ok(key)
}

/// [`seal`] with an arbitrary felt in the session-public-key slot of the
/// associated data (the owner-key envelope puts zero there).
pub(crate) fn seal_bound(
    secret: &SigningKey,
    encrypt_key: &str,
    wallet: &Felt,
    slot: &Felt,
    params: KdfParams,
    salt: [u8; SALT_LEN],
    nonce: [u8; NONCE_LEN],
) -> Result<String, EnvelopeError> {
    params.validate()?;
    if encrypt_key.is_empty() {
        return Err(EnvelopeError::EmptyEncryptKey);
    }
    let key = derive_key(encrypt_key, &salt, params)?;
    let cipher =
        Aes256Gcm::new_from_slice(key.as_slice()).map_err(|_| EnvelopeError::EncryptionFailed)?;
    let mut buf = Zeroizing::new(Vec::with_capacity(PLAINTEXT_LEN + TAG_LEN));
    buf.extend_from_slice(secret.to_be_bytes().as_slice());
    cipher
        .encrypt_in_place(
            Nonce::from_slice(&nonce),
            &associated_data(wallet, slot),
            &mut *buf,
        )
        .map_err(|_| EnvelopeError::EncryptionFailed)?;
    Ok(format!(
        "{VERSION}.{ALGORITHM}.m={},t={},p={}.{}.{}.{}",
        params.m_kib,
        params.t,
        params.p,
        URL_SAFE_NO_PAD.encode(salt),
        URL_SAFE_NO_PAD.encode(nonce),
        URL_SAFE_NO_PAD.encode(buf.as_slice()),
    ))
}

/// Decrypts an envelope bound to `wallet` and `slot` into a private key,
/// without checking the key against the slot.
pub(crate) fn open_bound(
    envelope: &str,
    encrypt_key: &str,
    wallet: &Felt,
    slot: &Felt,
) -> Result<SigningKey, EnvelopeError> {
    let parts = Parts::parse(envelope)?;
    let key = derive_key(encrypt_key, &parts.salt, parts.params)?;
    let cipher =
        Aes256Gcm::new_from_slice(key.as_slice()).map_err(|_| EnvelopeError::DecryptionFailed)?;
    let mut buf = Zeroizing::new(parts.ciphertext);
    cipher
        .decrypt_in_place(
            Nonce::from_slice(&parts.nonce),
            &associated_data(wallet, slot),
            &mut *buf,
        )
        .map_err(|_| EnvelopeError::DecryptionFailed)?;
    let bytes: Zeroizing<[u8; PLAINTEXT_LEN]> = Zeroizing::new(
        buf.as_slice()
            .try_into()
            .map_err(|_| EnvelopeError::DecryptionFailed)?,
    );
    SigningKey::from_be_bytes(&bytes).map_err(|_| EnvelopeError::DecryptionFailed)
}

/// `AD_PREFIX || wallet (32 B BE) || slot (32 B BE)`.
fn associated_data(wallet: &Felt, slot: &Felt) -> Vec<u8> {
    let mut ad = Vec::with_capacity(AD_PREFIX.len() + 64);
    ad.extend_from_slice(AD_PREFIX);
    ad.extend_from_slice(&wallet.to_bytes_be());
    ad.extend_from_slice(&slot.to_bytes_be());
    ad
}

/// Argon2id v0x13 over the encrypt key's UTF-8 bytes.
fn derive_key(
    encrypt_key: &str,
    salt: &[u8; SALT_LEN],
    params: KdfParams,
) -> Result<Zeroizing<[u8; 32]>, EnvelopeError> {
    params.validate()?;
    let argon_params = Params::new(params.m_kib, params.t, params.p, Some(32))
        .map_err(|_| EnvelopeError::ParamsOutOfBounds)?;
    // Allocate the working memory fallibly: a failed allocation is a typed
    // error, not an abort (a trap, in the component).
    let mut blocks: Vec<Block> = Vec::new();
    blocks
        .try_reserve_exact(argon_params.block_count())
        .map_err(|_| EnvelopeError::OutOfMemory)?;
    blocks.resize(argon_params.block_count(), Block::default());
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params);
    let mut out = Zeroizing::new([0u8; 32]);
    let result = argon.hash_password_into_with_memory(
        encrypt_key.as_bytes(),
        salt,
        out.as_mut_slice(),
        &mut blocks,
    );
    // The blocks hold values derived from the encrypt key.
    for block in &mut blocks {
        *block = Block::default();
    }
    result.map_err(|_| EnvelopeError::EncryptionFailed)?;
    Ok(out)
}

/// The decoded parts of an envelope string.
#[derive(Debug)]
struct Parts {
    params: KdfParams,
    salt: [u8; SALT_LEN],
    nonce: [u8; NONCE_LEN],
    ciphertext: Vec<u8>,
}

impl Parts {
    fn parse(envelope: &str) -> Result<Self, EnvelopeError> {
        if envelope.len() > MAX_ENVELOPE_LEN {
            return Err(EnvelopeError::Malformed("too long"));
        }
        let mut it = envelope.split('.');
        let version = it.next().unwrap_or_default();
        if version != VERSION {
            return Err(if version.starts_with('v') {
                EnvelopeError::UnsupportedVersion
            } else {
                EnvelopeError::Malformed("missing version")
            });
        }
        let algorithm = it
            .next()
            .filter(|a| !a.is_empty())
            .ok_or(EnvelopeError::Malformed("missing algorithm"))?;
        if algorithm != ALGORITHM {
            return Err(EnvelopeError::UnsupportedAlgorithm);
        }
        let params = parse_params(
            it.next()
                .ok_or(EnvelopeError::Malformed("missing parameters"))?,
        )?;
        params.validate()?;
        let salt = decode_fixed::<SALT_LEN>(it.next(), "salt")?;
        let nonce = decode_fixed::<NONCE_LEN>(it.next(), "nonce")?;
        let ct_text = it
            .next()
            .ok_or(EnvelopeError::Malformed("missing ciphertext"))?;
        if it.next().is_some() {
            return Err(EnvelopeError::Malformed("too many parts"));
        }
        let ciphertext = URL_SAFE_NO_PAD
            .decode(ct_text)
            .map_err(|_| EnvelopeError::Malformed("ciphertext is not base64url"))?;
        if ciphertext.len() != PLAINTEXT_LEN + TAG_LEN {
            return Err(EnvelopeError::Malformed("ciphertext has the wrong length"));
        }
        Ok(Self {
            params,
            salt,
            nonce,
            ciphertext,
        })
    }
}

/// Decodes an unpadded base64url part of exactly `N` bytes.
fn decode_fixed<const N: usize>(
    part: Option<&str>,
    what: &'static str,
) -> Result<[u8; N], EnvelopeError> {
    let text = part.ok_or(EnvelopeError::Malformed(what))?;
    let bytes = URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| EnvelopeError::Malformed(what))?;
    bytes.try_into().map_err(|_| EnvelopeError::Malformed(what))
}

/// Parses `m=<u32>,t=<u32>,p=<u32>` (that order, canonical decimals).
fn parse_params(text: &str) -> Result<KdfParams, EnvelopeError> {
    const BAD: EnvelopeError = EnvelopeError::Malformed("bad parameters");
    let mut it = text.split(',');
    let mut field = |name: &str| -> Result<u32, EnvelopeError> {
        let item = it.next().ok_or(BAD)?;
        let value = item
            .strip_prefix(name)
            .and_then(|rest| rest.strip_prefix('='))
            .ok_or(BAD)?;
        parse_canonical_u32(value).ok_or(BAD)
    };
    let m_kib = field("m")?;
    let t = field("t")?;
    let p = field("p")?;
    if it.next().is_some() {
        return Err(BAD);
    }
    Ok(KdfParams { m_kib, t, p })
}

/// Decimal `u32` without sign or leading zeros (so each value has one spelling).
fn parse_canonical_u32(text: &str) -> Option<u32> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if canonical {
        text.parse().ok()
    } else {
        None
    }
}

#[cfg(test)]
pub(crate) mod tests;
