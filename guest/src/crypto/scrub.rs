//! Stack scrubbing: overwriting the stack below the caller with zeros, where
//! code we cannot change left secret temporaries.
//!
//! `starknet_crypto` takes the private key and the nonce `k` as `Felt`
//! (`Copy`, no zeroization) and copies them through its frames; the RFC 6979
//! DRBG (`rfc6979::HmacDrbg`) keeps HMAC state derived from the key without
//! wiping it; Rust moves leave the moved-from bytes behind. All of that lives
//! on the stack (in the component, the shadow stack in linear memory) in
//! frames that have returned. Calling [`scrub_after_signing`] or [`scrub_after_lock`] from the frame that
//! called them writes zeros over the region those frames used, with
//! volatile writes the compiler cannot drop.
//!
//! This is a best-effort technique (as libsodium's `sodium_stackzero`): it
//! covers [`SIGNATURE_SCRUB_BYTES`] or [`LOCK_SCRUB_BYTES`] below the
//! caller. The wasm32 test `lock_leaves_no_key_material_in_linear_memory`
//! checks the outcome by scanning the whole linear memory.

use zeroize::Zeroize;

/// Bytes scrubbed after each signature and key-pair computation: the depth
/// the curve arithmetic and the DRBG use, with room to spare.
pub const SIGNATURE_SCRUB_BYTES: usize = 16 * 1024;

/// Bytes scrubbed by `lock` and when a session is dropped: the depth of a
/// whole operation (JSON, typed data, envelope opening, signing).
pub const LOCK_SCRUB_BYTES: usize = 128 * 1024;

/// Scrub [`SIGNATURE_SCRUB_BYTES`] below the caller (after a signature or a
/// public-key computation).
pub fn scrub_after_signing() {
    scrub_words::<{ SIGNATURE_SCRUB_BYTES / 8 }>();
}

/// Scrub [`LOCK_SCRUB_BYTES`] below the caller (when a session locks or goes).
pub fn scrub_after_lock() {
    scrub_words::<{ LOCK_SCRUB_BYTES / 8 }>();
}

/// Overwrite `WORDS` 8-byte words of stack below the caller's frame with
/// zeros.
#[inline(never)]
fn scrub_words<const WORDS: usize>() {
    let mut area = [0u64; WORDS];
    area.zeroize();
    core::hint::black_box(&area);
}
