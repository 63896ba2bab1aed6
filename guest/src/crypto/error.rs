//! Error types of the crypto modules.
//!
//! Rule for every variant: the message may name a *type* or a *field* of a
//! public schema, never a value that was parsed, decrypted or derived, so an
//! error can be logged without leaking a key, a PIN or a plaintext.

use thiserror::Error;

/// Longest type or field name echoed back in an error message.
const MAX_NAME_IN_ERROR: usize = 64;

/// Copies a (public, schema-level) name for an error message, cut to a
/// bounded length so hostile input cannot blow up logs.
pub(crate) fn error_name(name: &str) -> String {
    name.chars().take(MAX_NAME_IN_ERROR).collect()
}

/// Failure to parse or encode a field element or an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum FeltError {
    /// The input (or the digits after a `0x` prefix) was empty.
    #[error("empty number")]
    Empty,
    /// The input contained a character that is not a digit of its radix.
    #[error("invalid digit in number")]
    InvalidDigit,
    /// The value is not below the Starknet field prime.
    #[error("value does not fit in a field element")]
    Overflow,
    /// The value does not fit the requested integer type (`u64`, `u32`).
    #[error("value does not fit the target integer type")]
    OutOfRange,
    /// A Cairo short string is limited to 31 characters.
    #[error("short string longer than 31 characters")]
    ShortStringTooLong,
    /// A Cairo short string only holds ASCII characters.
    #[error("short string contains a non-ASCII character")]
    ShortStringNotAscii,
}

/// Failure to build or use a Stark private key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum KeyError {
    /// The private key is zero or not below the curve order.
    #[error("private key out of range")]
    OutOfRange,
    /// The random bytes reduced to zero; call again with fresh bytes.
    #[error("random bytes produced an unusable key, retry with fresh bytes")]
    RetryWithFreshBytes,
    /// The private key is not a `0x`-prefixed hex string of at most 64 digits.
    #[error("private key is not a 0x-prefixed hex string")]
    InvalidFormat,
    /// ECDSA only signs hashes below 2^251.
    #[error("message hash out of range for signing")]
    MessageHashOutOfRange,
    /// No valid nonce was found (never happens in practice).
    #[error("signing failed")]
    SigningFailed,
}

/// Failure to seal or open a session-key envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum EnvelopeError {
    /// The string does not have the envelope's shape; the detail says which part.
    #[error("malformed envelope: {0}")]
    Malformed(&'static str),
    /// The version tag is not one this build reads.
    #[error("unsupported envelope version")]
    UnsupportedVersion,
    /// The KDF/cipher tag is not one this build reads.
    #[error("unsupported envelope algorithm")]
    UnsupportedAlgorithm,
    /// The Argon2id parameters are outside the accepted bounds.
    #[error("key-derivation parameters out of bounds")]
    ParamsOutOfBounds,
    /// An encrypt key of kind `high-entropy` is not 32 to 64 bytes in
    /// base64url without padding.
    #[error(
        "malformed high-entropy encrypt key: expected 32 to 64 random bytes (at least 256 bits \
         of entropy) in base64url without padding"
    )]
    MalformedHighEntropyKey,
    /// The envelope was sealed with the other kind of encrypt key.
    #[error(
        "the key was sealed with an encrypt key of kind `{sealed}`: pass that encrypt key and \
         kind"
    )]
    KeyKindMismatch {
        /// The kind the envelope was sealed with (`pin` or `high-entropy`).
        sealed: &'static str,
    },
    /// Sealing needs a non-empty encrypt key.
    #[error("encrypt key must not be empty")]
    EmptyEncryptKey,
    /// Wrong encrypt key, tampered data, or data bound to another wallet/session.
    #[error("decryption failed")]
    DecryptionFailed,
    /// The key derivation or cipher refused its inputs (never expected).
    #[error("encryption failed")]
    EncryptionFailed,
    /// The memory the key derivation needs could not be allocated.
    #[error("not enough memory for the key derivation")]
    OutOfMemory,
}

/// Failure to decrypt a CryptoJS passphrase-mode ciphertext.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum CryptoJsError {
    /// The input is not base64 of `Salted__ || salt || AES blocks`.
    #[error("not a CryptoJS passphrase ciphertext: {0}")]
    Malformed(&'static str),
    /// Wrong passphrase or corrupted ciphertext (bad padding or non-UTF-8 plaintext).
    #[error("decryption failed")]
    DecryptionFailed,
}

/// Failure to decrypt a wallet's owner key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum OwnerKeyError {
    /// The ciphertext is neither a `v1.` envelope nor a CryptoJS ciphertext.
    #[error("owner key ciphertext is in no known format: {0}")]
    InvalidInput(&'static str),
    /// The envelope is well formed but uses a version, algorithm or parameters we refuse.
    #[error("unsupported owner key envelope: {0}")]
    Unsupported(EnvelopeError),
    /// Wrong encrypt key (PIN), or the plaintext is not a valid private key.
    #[error("decryption failed")]
    DecryptionFailed,
    /// The owner key was sealed with the other kind of encrypt key (an
    /// [`EnvelopeError::KeyKindMismatch`]).
    #[error("{0}")]
    KeyKindMismatch(EnvelopeError),
}

/// Failure to hash SNIP-12 typed data.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TypedDataError {
    /// A top-level member (`types`, `primaryType`, `domain`, `message`) is missing or mistyped.
    #[error("typed data is malformed: {0}")]
    Malformed(&'static str),
    /// `domain.revision` is not 0/1, or the matching domain type is not declared.
    #[error("unknown SNIP-12 revision or missing domain type")]
    UnknownRevision,
    /// A referenced type is neither declared, a preset nor a basic type of the revision.
    #[error("unknown type `{0}`")]
    UnknownType(String),
    /// A declared type is not a list of `{name, type}` members, or has an unusable name.
    #[error("invalid definition of type `{0}`")]
    InvalidTypeDefinition(String),
    /// A struct value lacks a member (or holds `null`).
    #[error("missing value for field `{0}`")]
    MissingField(String),
    /// A value cannot be encoded as its declared type.
    #[error("bad value for type `{ty}`: {reason}")]
    BadValue {
        /// The declared type of the value.
        ty: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The type graph has a cycle (starknet.js overflows its stack on these).
    #[error("type `{0}` is recursive")]
    RecursiveType(String),
    /// Types or values are nested deeper than the supported bound.
    #[error("nesting deeper than {0} levels")]
    TooDeep(usize),
    /// A merkle tree needs at least one leaf.
    #[error("merkle tree has no leaves")]
    EmptyMerkleTree,
    /// The field is not declared as a merkle tree of a non-array type.
    #[error("field `{0}` is not a valid merkle tree")]
    InvalidMerkleTree(String),
    /// The enum value, its declaration or its variant is unusable.
    #[error("invalid enum value for field `{0}`")]
    InvalidEnum(String),
}

/// Any error of the crypto modules, for callers that do not care which one.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CryptoError {
    /// See [`FeltError`].
    #[error(transparent)]
    Felt(#[from] FeltError),
    /// See [`KeyError`].
    #[error(transparent)]
    Key(#[from] KeyError),
    /// See [`EnvelopeError`].
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// See [`CryptoJsError`].
    #[error(transparent)]
    CryptoJs(#[from] CryptoJsError),
    /// See [`OwnerKeyError`].
    #[error(transparent)]
    OwnerKey(#[from] OwnerKeyError),
    /// See [`TypedDataError`].
    #[error(transparent)]
    TypedData(#[from] TypedDataError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_name_is_bounded() {
        let long = "x".repeat(1000);
        assert_eq!(error_name(&long).len(), MAX_NAME_IN_ERROR);
        assert_eq!(error_name("Call"), "Call");
    }

    #[test]
    fn messages_are_stable_and_value_free() {
        assert_eq!(
            EnvelopeError::DecryptionFailed.to_string(),
            "decryption failed"
        );
        assert_eq!(
            TypedDataError::BadValue {
                ty: "u128".into(),
                reason: "out of range"
            }
            .to_string(),
            "bad value for type `u128`: out of range"
        );
        let any: CryptoError = KeyError::OutOfRange.into();
        assert_eq!(any.to_string(), "private key out of range");
    }
}
