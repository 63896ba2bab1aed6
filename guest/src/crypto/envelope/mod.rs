//! Our session-key ciphertext: a versioned, self-describing envelope
//! (docs/protocol.md, "Ciphertext formats") in one of two algorithms, chosen
//! by the kind of the encrypt key ([`EncryptKey::new`]), which the caller
//! states out of band ([`KeyKind`]) and which is never inferred from the key's
//! text:
//!
//! ```text
//! v1.argon2id.m=<KiB>,t=<iterations>,p=<lanes>.<salt>.<nonce>.<ciphertext+tag>
//! v1.hkdf-sha256.<salt>.<nonce>.<ciphertext+tag>
//! ```
//!
//! The salt, nonce and ciphertext parts are base64url without padding. A 32-byte
//! key is derived from the encrypt key and a 16-byte salt; AES-256-GCM with a
//! 12-byte nonce encrypts the 32-byte big-endian private key. The associated
//! data
//!
//! ```text
//! b"chipi-session/v1|" || wallet address (32 bytes BE) || session public key (32 bytes BE)
//! ```
//!
//! binds the ciphertext to its wallet and session, so it cannot be swapped
//! into another session. Both felts are fixed-width, so `0x00ab` and `0xAB`
//! bind identically.
//!
//! The key derivation depends on the encrypt key:
//!
//! - a **PIN** (kind [`KeyKind::Pin`]: PIN, password, any text whatever its
//!   length) is stretched with Argon2id (version 0x13) over its
//!   UTF-8 bytes: `v1.argon2id`. The Argon2 parameters are recorded in the
//!   envelope so they can be raised later; [`open`] refuses parameters
//!   outside [`KdfParams::validate`]'s bounds so a hostile envelope cannot
//!   make us allocate gigabytes or spin for minutes;
//! - a **high-entropy key** (kind [`KeyKind::HighEntropy`]): 32 to 64 bytes
//!   in unpadded base64url that carry at least 256 bits of real entropy (a
//!   passkey PRF output, a KMS data key), needs no stretching: `v1.hkdf-sha256` derives the AES key with HKDF-SHA256
//!   (RFC 5869), `ikm` = the decoded key bytes, `salt` = the envelope's salt,
//!   `info` = `b"chipi-session/v1/hkdf|"` followed by the associated data
//!   above, so the AES key itself is bound to the wallet and the session.
//!
//! A high-entropy key is never used as an Argon2 password, and a PIN never
//! goes through HKDF: an envelope opened with the other kind of key fails
//! with [`EnvelopeError::KeyKindMismatch`], which names the kind it was
//! sealed with.

use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::error::EnvelopeError;
use super::felt::Felt;
use super::keys::SigningKey;

/// Version tag of the format this module writes.
pub const VERSION: &str = "v1";
/// KDF tag of the passphrase (Argon2id) envelope.
pub const ALGORITHM: &str = "argon2id";
/// KDF tag of the high-entropy-key (HKDF-SHA256) envelope.
pub const HKDF_ALGORITHM: &str = "hkdf-sha256";
/// Fewest bytes a high-entropy key may have (256 bits).
pub const MIN_HIGH_ENTROPY_KEY_LEN: usize = 32;
/// Most bytes a high-entropy key may have.
pub const MAX_HIGH_ENTROPY_KEY_LEN: usize = 64;
/// Salt length in bytes.
pub const SALT_LEN: usize = 16;
/// AES-GCM nonce length in bytes.
pub const NONCE_LEN: usize = 12;

/// Prefix of the associated data.
const AD_PREFIX: &[u8] = b"chipi-session/v1|";
/// Prefix of the HKDF `info`, before the associated data: separates the
/// HKDF-derived AES key from any other use of the same key material.
const HKDF_INFO_PREFIX: &[u8] = b"chipi-session/v1/hkdf|";
/// Derived AES-256 key length.
const KEY_LEN: usize = 32;
/// Plaintext (private key) length.
const PLAINTEXT_LEN: usize = 32;
/// AES-GCM tag length.
const TAG_LEN: usize = 16;
/// Longest envelope we look at; a real one is about 170 characters.
const MAX_ENVELOPE_LEN: usize = 512;

/// Argon2id derivations run by this process, on every thread.
static ARGON2_DERIVATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Argon2id derivations run on the current thread.
    static ARGON2_DERIVATIONS_ON_THREAD: Cell<u64> = const { Cell::new(0) };
}

/// How many Argon2id key derivations this process has run so far, sealing and
/// opening alike (one per [`seal`] or [`open`] of a `v1.argon2id` envelope,
/// owner-key envelopes included; none for `v1.hkdf-sha256`).
///
/// For tests: read it before and after an operation to assert how many
/// Argon2 derivations it ran, e.g. none on a warm path. The count covers
/// every thread, so in a test binary that runs tests in parallel prefer
/// [`argon2_derivations_on_this_thread`].
pub fn argon2_derivations() -> u64 {
    ARGON2_DERIVATIONS.load(Ordering::Relaxed)
}

/// [`argon2_derivations`] restricted to the calling thread: exact even while
/// other threads derive keys (parallel tests). The component is
/// single-threaded, so there both counts are the same.
pub fn argon2_derivations_on_this_thread() -> u64 {
    ARGON2_DERIVATIONS_ON_THREAD.with(Cell::get)
}

/// The kind of an encrypt key, stated by the caller next to the key (the
/// WIT `encrypt-key-kind`): it decides the key derivation and is never
/// inferred from the key's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// A user-chosen secret (PIN, password): stretched with Argon2id.
    Pin,
    /// 32 to 64 random bytes in unpadded base64url carrying at least 256 bits
    /// of real entropy: expanded with HKDF-SHA256, no Argon2id.
    HighEntropy,
}

impl KeyKind {
    /// The kind's name as the WIT and the hosts spell it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pin => "pin",
            Self::HighEntropy => "high-entropy",
        }
    }
}

/// An encrypt key read according to its [`KeyKind`].
///
/// `Debug` prints the kind only, never the key.
pub enum EncryptKey<'a> {
    /// A PIN or password, whatever its text: always stretched with Argon2id.
    Passphrase(&'a str),
    /// A high-entropy key: its text (the passphrase of a CryptoJS owner-key
    /// ciphertext) and its decoded bytes (the HKDF input keying material).
    HighEntropy {
        /// The key as given (unpadded base64url).
        text: &'a str,
        /// The decoded key bytes.
        bytes: Zeroizing<Vec<u8>>,
    },
}

impl<'a> EncryptKey<'a> {
    /// A PIN or password (kind [`KeyKind::Pin`]).
    pub fn pin(text: &'a str) -> Self {
        Self::Passphrase(text)
    }

    /// Reads `text` as a key of `kind`. A PIN is taken as it is; a
    /// high-entropy key must be 32 to 64 bytes in base64url without padding,
    /// else [`EnvelopeError::MalformedHighEntropyKey`] (a short key is
    /// refused, never stretched instead).
    pub fn new(kind: KeyKind, text: &'a str) -> Result<Self, EnvelopeError> {
        match kind {
            KeyKind::Pin => Ok(Self::Passphrase(text)),
            KeyKind::HighEntropy => Ok(Self::HighEntropy {
                text,
                bytes: decode_high_entropy(text)?,
            }),
        }
    }

    /// The key's kind.
    pub fn kind(&self) -> KeyKind {
        match self {
            Self::Passphrase(_) => KeyKind::Pin,
            Self::HighEntropy { .. } => KeyKind::HighEntropy,
        }
    }

    /// The key's text as the caller gave it (CryptoJS uses it as its
    /// passphrase whatever the kind).
    pub fn text(&self) -> &'a str {
        match self {
            Self::Passphrase(text) | Self::HighEntropy { text, .. } => text,
        }
    }
}

/// Decodes a high-entropy key: 32 to 64 bytes in unpadded base64url.
fn decode_high_entropy(encoded: &str) -> Result<Zeroizing<Vec<u8>>, EnvelopeError> {
    // Refuse oversized input before decoding anything.
    if encoded.len() > (4 * MAX_HIGH_ENTROPY_KEY_LEN).div_ceil(3) {
        return Err(EnvelopeError::MalformedHighEntropyKey);
    }
    // Decode into a buffer that is large enough up front, so no reallocation
    // leaves a copy of the key behind.
    let mut bytes = Zeroizing::new(Vec::with_capacity(base64::decoded_len_estimate(
        encoded.len(),
    )));
    URL_SAFE_NO_PAD
        .decode_vec(encoded, &mut bytes)
        .map_err(|_| EnvelopeError::MalformedHighEntropyKey)?;
    if !(MIN_HIGH_ENTROPY_KEY_LEN..=MAX_HIGH_ENTROPY_KEY_LEN).contains(&bytes.len()) {
        return Err(EnvelopeError::MalformedHighEntropyKey);
    }
    Ok(bytes)
}

impl fmt::Debug for EncryptKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Passphrase(_) => f.write_str("Passphrase(<redacted>)"),
            Self::HighEntropy { bytes, .. } => {
                write!(f, "HighEntropy(<{} bytes redacted>)", bytes.len())
            }
        }
    }
}

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
/// The encrypt key's kind chooses the envelope: a high-entropy key gives
/// `v1.hkdf-sha256` and `params` is ignored; a PIN gives `v1.argon2id` with
/// `params`. `salt` and `nonce` must be fresh CSPRNG output for every call
/// (the caller supplies them because the crypto module never draws
/// randomness itself).
pub fn seal(
    secret: &SigningKey,
    encrypt_key: &EncryptKey<'_>,
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
/// give [`EnvelopeError::DecryptionFailed`]. The wrong kind of key (a
/// `v1.hkdf-sha256` envelope opened with a PIN, or a `v1.argon2id` envelope
/// opened with a high-entropy key) gives [`EnvelopeError::KeyKindMismatch`]. An unknown version
/// or algorithm, out-of-bounds parameters and a malformed high-entropy key
/// have their own errors.
pub fn open(
    envelope: &str,
    encrypt_key: &EncryptKey<'_>,
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
    encrypt_key: &EncryptKey<'_>,
    wallet: &Felt,
    slot: &Felt,
    params: KdfParams,
    salt: [u8; SALT_LEN],
    nonce: [u8; NONCE_LEN],
) -> Result<String, EnvelopeError> {
    let (key, header) = match encrypt_key {
        EncryptKey::Passphrase(passphrase) => {
            params.validate()?;
            if passphrase.is_empty() {
                return Err(EnvelopeError::EmptyEncryptKey);
            }
            let header = format!(
                "{VERSION}.{ALGORITHM}.m={},t={},p={}",
                params.m_kib, params.t, params.p
            );
            (argon2_key(passphrase, &salt, params)?, header)
        }
        EncryptKey::HighEntropy { bytes, .. } => (
            hkdf_key(bytes, &salt, wallet, slot)?,
            format!("{VERSION}.{HKDF_ALGORITHM}"),
        ),
    };
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
        "{header}.{}.{}.{}",
        URL_SAFE_NO_PAD.encode(salt),
        URL_SAFE_NO_PAD.encode(nonce),
        URL_SAFE_NO_PAD.encode(buf.as_slice()),
    ))
}

/// Decrypts an envelope bound to `wallet` and `slot` into a private key,
/// without checking the key against the slot.
pub(crate) fn open_bound(
    envelope: &str,
    encrypt_key: &EncryptKey<'_>,
    wallet: &Felt,
    slot: &Felt,
) -> Result<SigningKey, EnvelopeError> {
    let parts = Parts::parse(envelope)?;
    let key = match (parts.kdf, encrypt_key) {
        (Kdf::Argon2id(params), EncryptKey::Passphrase(passphrase)) => {
            argon2_key(passphrase, &parts.salt, params)?
        }
        (Kdf::HkdfSha256, EncryptKey::HighEntropy { bytes, .. }) => {
            hkdf_key(bytes, &parts.salt, wallet, slot)?
        }
        // The other kind of key: a high-entropy key is never an Argon2
        // password, and a PIN is never HKDF input keying material.
        (Kdf::Argon2id(_), EncryptKey::HighEntropy { .. }) => {
            return Err(EnvelopeError::KeyKindMismatch {
                sealed: KeyKind::Pin.name(),
            })
        }
        (Kdf::HkdfSha256, EncryptKey::Passphrase(_)) => {
            return Err(EnvelopeError::KeyKindMismatch {
                sealed: KeyKind::HighEntropy.name(),
            })
        }
    };
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

/// Argon2id v0x13 over the passphrase's UTF-8 bytes; counted by
/// [`argon2_derivations`].
fn argon2_key(
    passphrase: &str,
    salt: &[u8; SALT_LEN],
    params: KdfParams,
) -> Result<Zeroizing<[u8; KEY_LEN]>, EnvelopeError> {
    params.validate()?;
    let argon_params = Params::new(params.m_kib, params.t, params.p, Some(KEY_LEN))
        .map_err(|_| EnvelopeError::ParamsOutOfBounds)?;
    // Allocate the working memory fallibly: a failed allocation is a typed
    // error, not an abort (a trap, in the component).
    let mut blocks: Vec<Block> = Vec::new();
    blocks
        .try_reserve_exact(argon_params.block_count())
        .map_err(|_| EnvelopeError::OutOfMemory)?;
    blocks.resize(argon_params.block_count(), Block::default());
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params);
    let mut out = Zeroizing::new([0u8; KEY_LEN]);
    ARGON2_DERIVATIONS.fetch_add(1, Ordering::Relaxed);
    ARGON2_DERIVATIONS_ON_THREAD.with(|count| count.set(count.get().wrapping_add(1)));
    let result = argon.hash_password_into_with_memory(
        passphrase.as_bytes(),
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

/// HKDF-SHA256 (RFC 5869) of a high-entropy key: `ikm` = the key bytes,
/// `salt` = the envelope's salt, `info` = [`hkdf_info`].
fn hkdf_key(
    ikm: &[u8],
    salt: &[u8; SALT_LEN],
    wallet: &Felt,
    slot: &Felt,
) -> Result<Zeroizing<[u8; KEY_LEN]>, EnvelopeError> {
    let mut out = Zeroizing::new([0u8; KEY_LEN]);
    Hkdf::<Sha256>::new(Some(salt.as_slice()), ikm)
        .expand(&hkdf_info(wallet, slot), out.as_mut_slice())
        .map_err(|_| EnvelopeError::EncryptionFailed)?;
    Ok(out)
}

/// `HKDF_INFO_PREFIX || AD_PREFIX || wallet (32 B BE) || slot (32 B BE)`.
fn hkdf_info(wallet: &Felt, slot: &Felt) -> Vec<u8> {
    let ad = associated_data(wallet, slot);
    let mut info = Vec::with_capacity(HKDF_INFO_PREFIX.len() + ad.len());
    info.extend_from_slice(HKDF_INFO_PREFIX);
    info.extend_from_slice(&ad);
    info
}

/// The key derivation named by an envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kdf {
    /// `argon2id` with its recorded (and validated) parameters.
    Argon2id(KdfParams),
    /// `hkdf-sha256`.
    HkdfSha256,
}

/// The decoded parts of an envelope string.
#[derive(Debug)]
struct Parts {
    kdf: Kdf,
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
        let kdf = match algorithm {
            ALGORITHM => {
                let params = parse_params(
                    it.next()
                        .ok_or(EnvelopeError::Malformed("missing parameters"))?,
                )?;
                params.validate()?;
                Kdf::Argon2id(params)
            }
            HKDF_ALGORITHM => Kdf::HkdfSha256,
            _ => return Err(EnvelopeError::UnsupportedAlgorithm),
        };
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
            kdf,
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
