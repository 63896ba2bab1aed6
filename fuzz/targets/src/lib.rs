//! The fuzz targets as plain functions, one module each, and what they share:
//! the fixed outside-execution fixtures, the check under test (one function,
//! [`oe::accept`], to re-point when the check's API changes), the "accepted
//! implies same hash" property, and a structure-aware JSON mutator driven by
//! `arbitrary`.
//!
//! Each target module has `run(data: &[u8])`, which takes the bytes libFuzzer
//! hands over. The libFuzzer binaries (`fuzz/fuzz_targets/*.rs`, built by
//! `scripts/fuzz.sh`) call these functions; so does this crate's test
//! `tests/replay.rs`, which runs every committed corpus and regression input
//! through every target as an ordinary test of the root workspace.

use arbitrary::{Arbitrary, Unstructured};

pub mod call_parse;
#[cfg(feature = "component")]
pub mod component;
pub mod cryptojs_decrypt;
pub mod envelope_open;
pub mod json_mutate;
pub mod oe;
pub mod responses;
pub mod typed_data;
pub mod typed_data_mutate;

/// Decodes fuzz bytes into a structured input the way `libfuzzer-sys`'s
/// `fuzz_target!(|input: T| ...)` does: `None` for inputs shorter than `T`'s
/// minimum size or that `arbitrary` cannot decode (libFuzzer skips those), so
/// a replay runs exactly the inputs a campaign ran.
pub fn decode<T: for<'a> Arbitrary<'a>>(data: &[u8]) -> Option<T> {
    if data.len() < T::size_hint(0).0 {
        return None;
    }
    T::arbitrary_take_rest(Unstructured::new(data)).ok()
}

/// Lossy UTF-8 view of fuzz bytes (keeps every input useful for `&str` APIs).
pub fn lossy(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// Cost guard for Argon2id parameters written in an envelope string.
///
/// `envelope::open` accepts up to 256 MiB x 10 passes x 8 lanes by design
/// (seconds per call); at that cost the fuzzer would spend all its time in
/// Argon2 and none in the parsers. Inputs whose `m=..,t=..,p=..` part parses
/// to more than `budget_kib_passes` (m_kib * t) are skipped. The parser
/// here is deliberately lenient (any digits after `m=`/`t=`), so it never
/// skips something the real parser would read as cheap.
pub fn kdf_too_expensive(envelope: &str, budget_kib_passes: u64) -> bool {
    let Some(params) = envelope.split('.').nth(2) else {
        return false;
    };
    let mut m: u64 = 0;
    let mut t: u64 = 1;
    for item in params.split(',') {
        let digits: String = item
            .chars()
            .skip_while(|c| !c.is_ascii_digit())
            .take_while(char::is_ascii_digit)
            .take(12)
            .collect();
        let value: u64 = digits.parse().unwrap_or(0);
        if item.starts_with('m') {
            m = value;
        } else if item.starts_with('t') {
            t = value.max(1);
        }
    }
    m.saturating_mul(t) > budget_kib_passes
}
