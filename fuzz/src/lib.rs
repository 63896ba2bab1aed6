//! Shared pieces of the fuzz targets: the fixed outside-execution fixtures,
//! the check under test (one function, [`oe::accept`], to re-point when the
//! check's API changes), the "accepted implies same hash" property, and a
//! structure-aware JSON mutator driven by `arbitrary`.

pub mod json_mutate;
pub mod oe;

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
            .take_while(|c| c.is_ascii_digit())
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
