//! Felt helpers for the sandbox: lenient parsing the way starknet.js accepts values,
//! canonical formatting, short strings, u256 halves and selectors.
//!
//! Nothing here is shared with the guest component; the sandbox is meant to be an
//! independent implementation of the same wire rules.

use starknet_core::types::Felt;
use starknet_core::utils::{cairo_short_string_to_felt, get_selector_from_name};

/// Parse a felt from a `0x`-hex or decimal string. Rejects empty strings,
/// signs, whitespace and values outside the field.
pub(crate) fn parse_felt_str(s: &str) -> Option<Felt> {
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        if hex.is_empty() || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        Felt::from_hex(&format!("0x{hex}")).ok()
    } else {
        if s.is_empty() || !s.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        Felt::from_dec_str(s).ok()
    }
}

/// Parse a felt from a JSON string (hex or decimal) or a non-negative JSON integer.
pub(crate) fn parse_felt_json(v: &serde_json::Value) -> Option<Felt> {
    match v {
        serde_json::Value::String(s) => parse_felt_str(s),
        serde_json::Value::Number(n) => n.as_u64().map(Felt::from),
        _ => None,
    }
}

/// Parse a value the way starknet.js encodes `shortstring`/`felt` typed-data fields:
/// a string that parses as a hex or decimal integer is that integer, any other string
/// is a Cairo short string; JSON integers are themselves.
pub(crate) fn parse_shortstring_json(v: &serde_json::Value) -> Option<Felt> {
    match v {
        serde_json::Value::String(s) => {
            parse_felt_str(s).or_else(|| cairo_short_string_to_felt(s).ok())
        }
        serde_json::Value::Number(n) => n.as_u64().map(Felt::from),
        _ => None,
    }
}

/// Parse a `u128` typed-data value (hex string, decimal string or JSON integer).
pub(crate) fn parse_u128_json(v: &serde_json::Value) -> Option<u128> {
    parse_felt_json(v).and_then(|f| u128::try_from(f).ok())
}

/// Canonical `0x`-hex representation (lowercase, no leading zeros).
pub(crate) fn hex(f: &Felt) -> String {
    format!("{f:#x}")
}

/// Zero-padded `0x` + 64 hex digits representation.
pub(crate) fn padded_hex(f: &Felt) -> String {
    format!("{f:#066x}")
}

/// Decimal representation.
pub(crate) fn dec(f: &Felt) -> String {
    f.to_string()
}

/// Cairo short string encoding of an ASCII string of at most 31 characters.
pub(crate) fn shortstring(s: &str) -> Option<Felt> {
    cairo_short_string_to_felt(s).ok()
}

/// Selector of an entrypoint given as a name (`transfer`) or as a `0x`-hex selector.
/// Returns the selector and, when the input was a name, the name.
pub(crate) fn selector_of(entrypoint: &str) -> Option<(Felt, Option<String>)> {
    if entrypoint.starts_with("0x") || entrypoint.starts_with("0X") {
        return parse_felt_str(entrypoint).map(|f| (f, None));
    }
    if entrypoint.is_empty() || entrypoint.len() > 200 || !entrypoint.is_ascii() {
        return None;
    }
    get_selector_from_name(entrypoint)
        .ok()
        .map(|f| (f, Some(entrypoint.to_string())))
}

/// Selector of a known ASCII entrypoint name (used for the contract's own constants).
pub(crate) fn selector(name: &str) -> Felt {
    // Names passed here are compile-time ASCII literals, for which the keccak cannot fail.
    get_selector_from_name(name).unwrap_or(Felt::ZERO)
}

/// Build a u256 `(low, high)` from two felts, each of which must fit u128.
pub(crate) fn u256_from_felts(low: &Felt, high: &Felt) -> Option<(u128, u128)> {
    Some((u128::try_from(*low).ok()?, u128::try_from(*high).ok()?))
}

/// Add two u256 values given as `(low, high)`; `None` on overflow.
pub(crate) fn u256_add(a: (u128, u128), b: (u128, u128)) -> Option<(u128, u128)> {
    let (low, carry) = a.0.overflowing_add(b.0);
    let high = a.1.checked_add(b.1)?.checked_add(u128::from(carry))?;
    Some((low, high))
}

/// Compare two u256 values given as `(low, high)`.
pub(crate) fn u256_cmp(a: (u128, u128), b: (u128, u128)) -> std::cmp::Ordering {
    (a.1, a.0).cmp(&(b.1, b.0))
}

/// Decimal string of a u256 given as `(low, high)`.
pub(crate) fn u256_dec(v: (u128, u128)) -> String {
    if v.1 == 0 {
        return v.0.to_string();
    }
    // Long division by 10 over four 64-bit limbs (most significant first).
    let mut limbs = [
        (v.1 >> 64) as u64,
        v.1 as u64,
        (v.0 >> 64) as u64,
        v.0 as u64,
    ];
    let mut digits = Vec::new();
    while limbs.iter().any(|&l| l != 0) {
        let mut rem: u128 = 0;
        for limb in &mut limbs {
            let cur = (rem << 64) | u128::from(*limb);
            *limb = (cur / 10) as u64;
            rem = cur % 10;
        }
        digits.push(b'0' + rem as u8);
    }
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
}

/// A random felt below 2^251 (valid as an address or nonce).
pub(crate) fn random_felt() -> Felt {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes[0] &= 0x07;
    Felt::from_bytes_be(&bytes)
}

/// A random non-zero Stark private key below 2^250 (hence below the curve order).
pub(crate) fn random_private_key() -> Felt {
    use rand::RngCore;
    loop {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        bytes[0] &= 0x03;
        let f = Felt::from_bytes_be(&bytes);
        if f != Felt::ZERO {
            return f;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hex_decimal_and_numbers() {
        assert_eq!(parse_felt_str("0x10"), Some(Felt::from(16u8)));
        assert_eq!(parse_felt_str("16"), Some(Felt::from(16u8)));
        assert_eq!(parse_felt_str("0x"), None);
        assert_eq!(parse_felt_str(""), None);
        assert_eq!(parse_felt_str("-1"), None);
        assert_eq!(parse_felt_str("0xzz"), None);
        assert_eq!(
            parse_felt_json(&serde_json::json!(7)),
            Some(Felt::from(7u8))
        );
        assert_eq!(parse_felt_json(&serde_json::json!(-7)), None);
        assert_eq!(
            parse_shortstring_json(&serde_json::json!("SN_SEPOLIA")),
            shortstring("SN_SEPOLIA")
        );
        assert_eq!(
            parse_shortstring_json(&serde_json::json!("2")),
            Some(Felt::TWO)
        );
    }

    #[test]
    fn u256_helpers() {
        assert_eq!(u256_add((u128::MAX, 0), (1, 0)), Some((0, 1)));
        assert_eq!(u256_add((0, u128::MAX), (0, 1)), None);
        assert_eq!(u256_dec((0, 1)), "340282366920938463463374607431768211456");
        assert_eq!(
            u256_cmp((5, 1), (u128::MAX, 0)),
            std::cmp::Ordering::Greater
        );
    }

    #[test]
    fn selectors() {
        let (sel, name) = selector_of("transfer").unwrap_or_default();
        assert_eq!(
            hex(&sel),
            "0x83afd3f4caedc6eebf44246fe54e38c95e3179a5ec9ea81740eca5b482d12e"
        );
        assert_eq!(name.as_deref(), Some("transfer"));
        let (sel2, name2) = selector_of(&hex(&sel)).unwrap_or_default();
        assert_eq!(sel2, sel);
        assert_eq!(name2, None);
    }
}
