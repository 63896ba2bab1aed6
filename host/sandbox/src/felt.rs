//! Felt helpers for the sandbox: lenient parsing the way starknet.js accepts values,
//! canonical formatting, short strings, u256 halves and selectors.
//!
//! Nothing here is shared with the guest component; the sandbox is meant to be an
//! independent implementation of the same wire rules.

use starknet_core::types::{Felt, U256};
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

/// A u256 from its `(low, high)` felts, each of which must fit u128.
pub(crate) fn u256_from_felts(low: &Felt, high: &Felt) -> Option<U256> {
    Some(U256::from_words(
        u128::try_from(*low).ok()?,
        u128::try_from(*high).ok()?,
    ))
}

/// `a + b`, `None` on overflow (`U256`'s `+` panics instead).
pub(crate) fn u256_checked_add(a: U256, b: U256) -> Option<U256> {
    let (low, carry) = a.low().overflowing_add(b.low());
    let high = a
        .high()
        .checked_add(b.high())?
        .checked_add(u128::from(carry))?;
    Some(U256::from_words(low, high))
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
        let w = U256::from_words;
        assert_eq!(u256_checked_add(w(u128::MAX, 0), w(1, 0)), Some(w(0, 1)));
        assert_eq!(u256_checked_add(w(0, u128::MAX), w(0, 1)), None);
        assert_eq!(
            u256_checked_add(w(u128::MAX, u128::MAX - 1), w(1, 0)),
            Some(w(0, u128::MAX))
        );
        assert_eq!(
            w(0, 1).to_string(),
            "340282366920938463463374607431768211456"
        );
        assert!(w(5, 1) > w(u128::MAX, 0));
        assert_eq!(
            u256_from_felts(&Felt::from(7u8), &Felt::from(1u8)),
            Some(w(7, 1))
        );
        assert_eq!(
            u256_from_felts(&(Felt::from(u128::MAX) + Felt::ONE), &Felt::ZERO),
            None
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
