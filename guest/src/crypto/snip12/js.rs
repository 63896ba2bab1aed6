//! How starknet.js reads JSON values as integers, reproduced exactly where it
//! matters and refused where JavaScript's coercions would be surprising.
//!
//! starknet.js turns values into numbers with `BigInt(value)`:
//! - booleans are 0/1; numbers must be integers;
//! - strings follow `StringToBigInt`: surrounding JavaScript whitespace is
//!   ignored, an empty string is 0, `0x`/`0o`/`0b` prefixes (either case)
//!   select the radix, decimals may carry a sign;
//!
//! and its `getHex` falls back to a Cairo short string when a *string* is not
//! a number. Deliberate, documented refusals (starknet.js would produce
//! something, we return an error instead of signing it):
//! - JSON numbers that are not safe integers (|x| > 2^53 - 1): JavaScript
//!   rounds them before `BigInt` sees them, so their meaning is ambiguous;
//! - arrays and objects (JavaScript would stringify them);
//! - short strings with characters below 0x10: starknet.js's
//!   `encodeShortString` writes those with one hex digit instead of two (and
//!   leaves line breaks unencoded), which yields a different felt than Cairo's.

use serde_json::Value;

use crate::crypto::felt::{accumulate_digits, Felt, PRIME_BE, SHORT_STRING_MAX_LEN};

/// Largest integer a JavaScript number holds exactly.
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// An integer as JavaScript's `BigInt` would hold it, bounded to 256 bits of
/// magnitude (anything larger is out of range for every SNIP-12 type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct JsInt {
    negative: bool,
    magnitude: [u8; 32],
}

/// Why a value is not a `BigInt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NotBigInt {
    /// A string with `BigInt` syntax error: starknet.js may read it as a short string.
    Syntax,
    /// Any other refusal; the reason is for the error message.
    Refused(&'static str),
}

impl JsInt {
    fn from_u64(value: u64, negative: bool) -> Self {
        let mut magnitude = [0u8; 32];
        if let Some(tail) = magnitude.get_mut(24..) {
            tail.copy_from_slice(&value.to_be_bytes());
        }
        Self {
            negative: negative && value != 0,
            magnitude,
        }
    }

    /// The value as a felt, if it lies in `[0, P)`.
    pub(super) fn to_felt(self) -> Result<Felt, &'static str> {
        if self.negative {
            return Err("negative value");
        }
        if self.magnitude >= PRIME_BE {
            return Err("value does not fit in a field element");
        }
        Ok(Felt::from_bytes_be(&self.magnitude))
    }

    /// The value as a felt, if it lies in `[0, 2^128)`.
    pub(super) fn to_u128_felt(self) -> Result<Felt, &'static str> {
        if self.negative || self.magnitude.iter().take(16).any(|&b| b != 0) {
            return Err("value out of u128 range");
        }
        Ok(Felt::from_bytes_be(&self.magnitude))
    }

    /// The value as a felt if it lies in `[-2^127, 2^127)`; negatives map to `P + value`.
    pub(super) fn to_i128_felt(self) -> Result<Felt, &'static str> {
        let high_clear = self.magnitude.iter().take(16).all(|&b| b == 0);
        let low_top = self.magnitude.get(16).copied().unwrap_or(0);
        let low_rest_zero = self.magnitude.iter().skip(17).all(|&b| b == 0);
        let in_range =
            high_clear && (low_top < 0x80 || (self.negative && low_top == 0x80 && low_rest_zero));
        if !in_range {
            return Err("value out of i128 range");
        }
        let magnitude = Felt::from_bytes_be(&self.magnitude);
        Ok(if self.negative {
            Felt::ZERO - magnitude
        } else {
            magnitude
        })
    }
}

/// JavaScript `BigInt(value)` for a JSON value.
pub(super) fn to_bigint(value: &Value) -> Result<JsInt, NotBigInt> {
    match value {
        Value::Bool(b) => Ok(JsInt::from_u64(u64::from(*b), false)),
        Value::Number(n) => number_to_bigint(n),
        Value::String(s) => string_to_bigint(s),
        Value::Null => Err(NotBigInt::Refused("null is not a number")),
        Value::Array(_) | Value::Object(_) => {
            Err(NotBigInt::Refused("expected a number or a string"))
        }
    }
}

/// starknet.js `getHex(value)`: `BigInt(value)`, or for a string that is not
/// a number, its Cairo short-string encoding.
pub(super) fn get_hex(value: &Value) -> Result<JsInt, &'static str> {
    match (to_bigint(value), value) {
        (Ok(int), _) => Ok(int),
        (Err(NotBigInt::Syntax), Value::String(s)) => short_string(s).map(|magnitude| JsInt {
            negative: false,
            magnitude,
        }),
        (Err(NotBigInt::Syntax), _) => Err("not a number"),
        (Err(NotBigInt::Refused(reason)), _) => Err(reason),
    }
}

/// A JSON number as JavaScript sees it, if it is a safe integer.
fn number_to_bigint(n: &serde_json::Number) -> Result<JsInt, NotBigInt> {
    const UNSAFE: NotBigInt =
        NotBigInt::Refused("number is not a safe integer; send it as a string");
    if let Some(u) = n.as_u64() {
        return if u <= MAX_SAFE_INTEGER {
            Ok(JsInt::from_u64(u, false))
        } else {
            Err(UNSAFE)
        };
    }
    if let Some(i) = n.as_i64() {
        let magnitude = i.unsigned_abs();
        return if magnitude <= MAX_SAFE_INTEGER {
            Ok(JsInt::from_u64(magnitude, i < 0))
        } else {
            Err(UNSAFE)
        };
    }
    match n.as_f64() {
        Some(f) if f.is_finite() && f.trunc() == f && f.abs() <= MAX_SAFE_INTEGER as f64 => {
            // Exact: |f| is an integer below 2^53.
            let magnitude = f.abs() as u64;
            Ok(JsInt::from_u64(magnitude, f < 0.0))
        }
        Some(f) if f.is_finite() && f.trunc() != f => {
            Err(NotBigInt::Refused("number is not an integer"))
        }
        _ => Err(UNSAFE),
    }
}

/// JavaScript `StringToBigInt`.
fn string_to_bigint(s: &str) -> Result<JsInt, NotBigInt> {
    let text = s.trim_matches(is_js_whitespace);
    let bytes = text.as_bytes();
    let (negative, digits, radix) = match bytes {
        [] => return Ok(JsInt::from_u64(0, false)),
        [b'0', b'x' | b'X', rest @ ..] => (false, rest, 16),
        [b'0', b'o' | b'O', rest @ ..] => (false, rest, 8),
        [b'0', b'b' | b'B', rest @ ..] => (false, rest, 2),
        [b'-', rest @ ..] => (true, rest, 10),
        [b'+', rest @ ..] => (false, rest, 10),
        _ => (false, bytes, 10),
    };
    let mut magnitude = [0u8; 32];
    match accumulate_digits(digits, radix, &mut magnitude) {
        Ok(()) => Ok(JsInt {
            negative: negative && magnitude != [0u8; 32],
            magnitude,
        }),
        Err(crate::crypto::error::FeltError::Overflow) => {
            Err(NotBigInt::Refused("number too large"))
        }
        Err(_) => Err(NotBigInt::Syntax),
    }
}

/// JavaScript `StrWhiteSpaceChar`: WhiteSpace (including every `Zs` character
/// and U+FEFF) and LineTerminator.
fn is_js_whitespace(c: char) -> bool {
    matches!(
        c,
        '\u{0009}'
            | '\u{000A}'
            | '\u{000B}'
            | '\u{000C}'
            | '\u{000D}'
            | '\u{0020}'
            | '\u{00A0}'
            | '\u{1680}'
            | '\u{2000}'
            ..='\u{200A}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202F}'
                | '\u{205F}'
                | '\u{3000}'
                | '\u{FEFF}'
    )
}

/// starknet.js `isHex`: `/^0x[0-9a-f]*$/i`.
pub(super) fn is_hex_literal(s: &str) -> bool {
    match s.as_bytes() {
        [b'0', b'x' | b'X', rest @ ..] => rest.iter().all(u8::is_ascii_hexdigit),
        _ => false,
    }
}

/// Cairo short string as starknet.js's `encodeShortString` produces it:
/// ASCII, at most 31 characters, big-endian bytes. Characters below 0x10
/// are refused (see the module documentation).
pub(super) fn short_string(s: &str) -> Result<[u8; 32], &'static str> {
    let bytes = s.as_bytes();
    check_short_string_bytes(bytes)?;
    if bytes.len() > SHORT_STRING_MAX_LEN {
        return Err("not a number, and too long for a short string");
    }
    let mut out = [0u8; 32];
    let start = 32 - bytes.len();
    out.get_mut(start..)
        .ok_or("not a number, and too long for a short string")?
        .copy_from_slice(bytes);
    Ok(out)
}

/// The characters starknet.js encodes faithfully: ASCII from 0x10 up.
fn check_short_string_bytes(bytes: &[u8]) -> Result<(), &'static str> {
    if !bytes.is_ascii() {
        return Err("string is not ASCII");
    }
    if bytes.iter().any(|&b| b < 0x10) {
        return Err("string has a control character below 0x10");
    }
    Ok(())
}

/// The felts starknet.js hashes for a revision-1 `string`: its Cairo
/// `ByteArray` serialisation `[data.len, ...data, pending_word, pending_word_len]`
/// where `data` holds the full 31-byte words.
pub(super) fn byte_array_words(s: &str) -> Result<Vec<Felt>, &'static str> {
    let bytes = s.as_bytes();
    check_short_string_bytes(bytes)?;
    let chunks: Vec<&[u8]> = bytes.chunks(SHORT_STRING_MAX_LEN).collect();
    let (full, pending): (&[&[u8]], &[u8]) = match chunks.split_last() {
        Some((last, rest)) if last.len() < SHORT_STRING_MAX_LEN => (rest, last),
        _ => (&chunks, &[]),
    };
    let mut words = Vec::with_capacity(full.len() + 3);
    words.push(Felt::from(full.len()));
    words.extend(full.iter().map(|chunk| Felt::from_bytes_be_slice(chunk)));
    words.push(Felt::from_bytes_be_slice(pending));
    words.push(Felt::from(pending.len()));
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn felt(v: &Value) -> Felt {
        get_hex(v).unwrap().to_felt().unwrap()
    }

    #[test]
    fn bigint_string_syntax() {
        assert_eq!(felt(&json!("0x1F")), Felt::from(31u8));
        assert_eq!(felt(&json!("0X1f")), Felt::from(31u8));
        assert_eq!(felt(&json!("0o17")), Felt::from(15u8));
        assert_eq!(felt(&json!("0B101")), Felt::from(5u8));
        assert_eq!(felt(&json!("42")), Felt::from(42u8));
        assert_eq!(felt(&json!("+42")), Felt::from(42u8));
        assert_eq!(felt(&json!("")), Felt::ZERO);
        assert_eq!(felt(&json!("   ")), Felt::ZERO);
        assert_eq!(felt(&json!(" \t\n12\u{3000}\u{FEFF}")), Felt::from(12u8));
        assert_eq!(felt(&json!("-0")), Felt::ZERO);
        assert_eq!(
            to_bigint(&json!("-5")).unwrap().to_felt(),
            Err("negative value")
        );
        for syntax in [
            "0x",
            "-0x5",
            "1e3",
            "1.0",
            "0x1g",
            "1_000",
            "- 5",
            "\u{0085}1",
            "٣",
        ] {
            assert_eq!(
                to_bigint(&json!(syntax)),
                Err(NotBigInt::Syntax),
                "{syntax:?}"
            );
        }
    }

    #[test]
    fn non_numbers_become_short_strings() {
        assert_eq!(
            felt(&json!("SN_MAIN")),
            Felt::from_hex_unchecked("0x534e5f4d41494e")
        );
        assert_eq!(
            felt(&json!("StarkNet Mail")),
            Felt::from_hex_unchecked("0x537461726b4e6574204d61696c")
        );
        // Looks numeric but is not BigInt syntax: encoded as text.
        assert_eq!(felt(&json!("0x-5")), Felt::from_hex_unchecked("0x30782d35"));
        assert_eq!(felt(&json!("1.5")), Felt::from_hex_unchecked("0x312e35"));
        assert!(get_hex(&json!("a".repeat(32))).is_err());
        assert!(get_hex(&json!("héllo")).is_err());
        assert!(get_hex(&json!("tab\there")).is_err());
        assert!(get_hex(&json!("\u{1}")).is_err());
        assert!(get_hex(&json!("\u{10}ok")).is_ok());
    }

    #[test]
    fn numbers_and_booleans() {
        assert_eq!(felt(&json!(1000)), Felt::from(1000u32));
        assert_eq!(felt(&json!(true)), Felt::ONE);
        assert_eq!(felt(&json!(false)), Felt::ZERO);
        assert_eq!(felt(&json!(1e3)), Felt::from(1000u32));
        assert_eq!(
            felt(&json!(9_007_199_254_740_991u64)),
            Felt::from(9_007_199_254_740_991u64)
        );
        assert!(get_hex(&json!(9_007_199_254_740_992u64)).is_err());
        assert!(get_hex(&json!(-9_007_199_254_740_992i64)).is_err());
        assert!(get_hex(&json!(1.5)).is_err());
        assert!(get_hex(&json!(1e300)).is_err());
        assert!(get_hex(&json!(null)).is_err());
        assert!(get_hex(&json!([1])).is_err());
        assert!(get_hex(&json!({})).is_err());
        assert_eq!(
            to_bigint(&json!(-10)).unwrap().to_i128_felt().unwrap(),
            Felt::ZERO - Felt::from(10u8)
        );
    }

    #[test]
    fn ranges() {
        let p = "3618502788666131213697322783095070105623107215331596699973092056135872020481";
        assert!(to_bigint(&json!(p)).unwrap().to_felt().is_err());
        let p_minus_1 = "0x800000000000011000000000000000000000000000000000000000000000000";
        assert_eq!(
            to_bigint(&json!(p_minus_1)).unwrap().to_felt().unwrap(),
            Felt::MAX
        );
        assert_eq!(
            to_bigint(&json!("9".repeat(80))),
            Err(NotBigInt::Refused("number too large"))
        );
        // get_hex does not fall back to a short string for a too-large number.
        assert!(get_hex(&json!("9".repeat(80))).is_err());

        let u128_max = "0xffffffffffffffffffffffffffffffff";
        assert!(to_bigint(&json!(u128_max)).unwrap().to_u128_felt().is_ok());
        assert!(to_bigint(&json!("0x100000000000000000000000000000000"))
            .unwrap()
            .to_u128_felt()
            .is_err());
        assert!(to_bigint(&json!(-1)).unwrap().to_u128_felt().is_err());

        let i128_max = "170141183460469231731687303715884105727";
        let i128_min = "-170141183460469231731687303715884105728";
        assert_eq!(
            to_bigint(&json!(i128_max)).unwrap().to_i128_felt().unwrap(),
            Felt::from(i128::MAX)
        );
        assert_eq!(
            to_bigint(&json!(i128_min)).unwrap().to_i128_felt().unwrap(),
            Felt::ZERO - Felt::from_hex_unchecked("0x80000000000000000000000000000000")
        );
        assert!(to_bigint(&json!("170141183460469231731687303715884105728"))
            .unwrap()
            .to_i128_felt()
            .is_err());
        assert!(
            to_bigint(&json!("-170141183460469231731687303715884105729"))
                .unwrap()
                .to_i128_felt()
                .is_err()
        );
    }

    #[test]
    fn hex_literal_detection() {
        assert!(is_hex_literal(
            "0x83afd3f4caedc6eebf44246fe54e38c95e3179a5ec9ea81740eca5b482d12e"
        ));
        assert!(is_hex_literal("0XABC"));
        assert!(is_hex_literal("0x"));
        assert!(!is_hex_literal("transfer"));
        assert!(!is_hex_literal("123"));
        assert!(!is_hex_literal(" 0x1"));
        assert!(!is_hex_literal("0x1 "));
        assert!(!is_hex_literal("0x1g"));
    }

    #[test]
    fn byte_array_serialisation() {
        assert_eq!(
            byte_array_words("").unwrap(),
            vec![Felt::ZERO, Felt::ZERO, Felt::ZERO]
        );
        assert_eq!(
            byte_array_words("hello").unwrap(),
            vec![
                Felt::ZERO,
                Felt::from_hex_unchecked("0x68656c6c6f"),
                Felt::from(5u8)
            ]
        );
        let exactly_31 = "a".repeat(31);
        let words = byte_array_words(&exactly_31).unwrap();
        assert_eq!(words.len(), 4);
        assert_eq!(words[0], Felt::ONE);
        assert_eq!(words[2], Felt::ZERO);
        assert_eq!(words[3], Felt::ZERO);
        let words = byte_array_words(&"b".repeat(40)).unwrap();
        assert_eq!(words.len(), 4);
        assert_eq!(words[0], Felt::ONE);
        assert_eq!(words[3], Felt::from(9u8));
        assert!(byte_array_words("ünïcode").is_err());
        assert!(byte_array_words("line\nbreak").is_err());
    }
}
