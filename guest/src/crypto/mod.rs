//! Pure cryptography and encodings: keys, ciphertext formats, felts, SNIP-12.
//!
//! Nothing in here calls a WASI import, reads a clock or draws randomness:
//! every input (including random bytes) is passed in by the caller, so the
//! whole module tree unit-tests natively and behaves identically in the
//! component.

/// Cairo/OpenSSL-compatible decryption of Chipi's legacy owner-key format
/// (CryptoJS passphrase mode: `Salted__`, EVP_BytesToKey-MD5, AES-256-CBC).
pub mod cryptojs;
/// Our versioned session-key ciphertext envelope (Argon2id + AES-256-GCM).
pub mod envelope;
/// Typed errors of every crypto module; messages never carry secret material.
pub mod error;
/// Field elements: strict parsing, hex formatting, Cairo short strings.
pub mod felt;
/// Stark-curve private keys (zeroized on drop), public keys, ECDSA signing.
pub mod keys;
/// Decryption of a wallet's owner key from either supported format.
pub mod owner_key;
/// SNIP-12 typed-data message hashing, bit-compatible with starknet.js.
pub mod snip12;
