//! Pure cryptography and encodings: keys, ciphertext formats, felts, SNIP-12.
//!
//! Nothing in here calls a WASI import, reads a clock or draws randomness:
//! every input (including random bytes) is passed in by the caller, so the
//! whole module tree unit-tests natively and behaves identically in the
//! component. Each module documents itself.

pub mod cryptojs;
pub mod envelope;
pub mod error;
pub mod felt;
pub mod keys;
pub mod owner_key;
pub mod scrub;
pub mod snip12;
