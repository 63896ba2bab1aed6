//! Field elements as they appear on the wire: strict parsing of `0x`-hex and
//! decimal strings, canonical hex formatting, and Cairo short strings.
//!
//! The parsers here are deliberately strict (no sign, no whitespace, no
//! reduction modulo the prime): a value that does not denote a field element
//! exactly is an error. The lenient JavaScript-`BigInt` reading that SNIP-12
//! typed data needs lives in [`crate::crypto::snip12`].

pub use starknet_crypto::Felt;

use super::error::FeltError;

/// The Starknet field prime `P = 2^251 + 17 * 2^192 + 1`, big-endian.
pub(crate) const PRIME_BE: [u8; 32] = [
    0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
];

/// Longest Cairo short string, in characters (bytes).
pub const SHORT_STRING_MAX_LEN: usize = 31;

/// Accumulates `digits` (ASCII, in `radix` 2..=16) into the 256-bit
/// big-endian integer `acc`, which must start at zero.
///
/// Leading zeros are skipped, so arbitrarily zero-padded input is fine; a value
/// of 2^256 or more is [`FeltError::Overflow`]. The caller owns `acc`, so a
/// secret can be accumulated into a zeroizing buffer.
pub(crate) fn accumulate_digits(
    digits: &[u8],
    radix: u32,
    acc: &mut [u8; 32],
) -> Result<(), FeltError> {
    if digits.is_empty() {
        return Err(FeltError::Empty);
    }
    let start = digits
        .iter()
        .position(|&c| c != b'0')
        .unwrap_or(digits.len());
    let significant = digits.get(start..).unwrap_or_default();
    for &c in significant {
        let mut carry = char::from(c)
            .to_digit(radix)
            .ok_or(FeltError::InvalidDigit)?;
        for byte in acc.iter_mut().rev() {
            let v = u32::from(*byte) * radix + carry;
            *byte = (v & 0xff) as u8;
            carry = v >> 8;
        }
        if carry != 0 {
            return Err(FeltError::Overflow);
        }
    }
    Ok(())
}

/// Turns a 256-bit big-endian integer into a felt, refusing values `>= P`.
pub(crate) fn felt_from_be_checked(bytes: &[u8; 32]) -> Result<Felt, FeltError> {
    if *bytes >= PRIME_BE {
        return Err(FeltError::Overflow);
    }
    Ok(Felt::from_bytes_be(bytes))
}

/// Splits an optional `0x`/`0X` prefix: returns the digits and their radix.
fn split_radix(s: &str) -> (&[u8], u32) {
    let bytes = s.as_bytes();
    match bytes {
        [b'0', b'x' | b'X', rest @ ..] => (rest, 16),
        _ => (bytes, 10),
    }
}

/// Parses a 256-bit unsigned integer written as `0x`-hex (case-insensitive)
/// or decimal.
fn parse_u256(s: &str) -> Result<[u8; 32], FeltError> {
    let (digits, radix) = split_radix(s);
    let mut acc = [0u8; 32];
    accumulate_digits(digits, radix, &mut acc)?;
    Ok(acc)
}

/// Parses a felt from a JSON-ish string: `0x`-prefixed hex (prefix and
/// digits case-insensitive) or plain decimal.
///
/// Refuses empty input, signs, whitespace, any other character, and values
/// that are not below the field prime (no silent reduction).
pub fn parse_felt(s: &str) -> Result<Felt, FeltError> {
    felt_from_be_checked(&parse_u256(s)?)
}

/// Parses a `u64` written as `0x`-hex or decimal (same syntax as [`parse_felt`]).
pub fn parse_u64_str(s: &str) -> Result<u64, FeltError> {
    let acc = parse_u256(s).map_err(|e| match e {
        FeltError::Overflow => FeltError::OutOfRange,
        other => other,
    })?;
    let (high, low) = acc.split_at(24);
    if high.iter().any(|&b| b != 0) {
        return Err(FeltError::OutOfRange);
    }
    let low: [u8; 8] = low.try_into().map_err(|_| FeltError::OutOfRange)?;
    Ok(u64::from_be_bytes(low))
}

/// Parses a `u32` written as `0x`-hex or decimal (same syntax as [`parse_felt`]).
pub fn parse_u32_str(s: &str) -> Result<u32, FeltError> {
    u32::try_from(parse_u64_str(s)?).map_err(|_| FeltError::OutOfRange)
}

/// Formats a felt as `0x` + lowercase hex without leading zeros (`"0x0"` for zero),
/// the form starknet.js and the Starknet JSON-RPC use.
pub fn felt_to_hex(felt: &Felt) -> String {
    format!("{felt:#x}")
}

/// Encodes an ASCII string of at most 31 characters as a Cairo short string
/// (its bytes read as a big-endian integer; `""` is zero).
pub fn encode_short_string(s: &str) -> Result<Felt, FeltError> {
    if !s.is_ascii() {
        return Err(FeltError::ShortStringNotAscii);
    }
    let bytes = s.as_bytes();
    let start = 32usize
        .checked_sub(bytes.len())
        .filter(|&start| start > 0)
        .ok_or(FeltError::ShortStringTooLong)?;
    let mut buf = [0u8; 32];
    buf.get_mut(start..)
        .ok_or(FeltError::ShortStringTooLong)?
        .copy_from_slice(bytes);
    Ok(Felt::from_bytes_be(&buf))
}

/// Decodes a Cairo short string: the felt's big-endian bytes without the
/// leading zero bytes, which must all be ASCII.
pub fn decode_short_string(felt: &Felt) -> Result<String, FeltError> {
    let bytes = felt.to_bytes_be();
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    if start == 0 {
        return Err(FeltError::ShortStringTooLong);
    }
    let text = bytes.get(start..).unwrap_or_default();
    if !text.is_ascii() {
        return Err(FeltError::ShortStringNotAscii);
    }
    Ok(text.iter().map(|&b| char::from(b)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const P_HEX: &str = "0x800000000000011000000000000000000000000000000000000000000000001";
    const P_DEC: &str =
        "3618502788666131213697322783095070105623107215331596699973092056135872020481";

    #[test]
    fn prime_constant_matches_the_field() {
        assert_eq!(Felt::from_bytes_be(&PRIME_BE), Felt::ZERO);
        assert_eq!(parse_felt(&format!("{:#x}", Felt::MAX)).unwrap(), Felt::MAX);
        assert_eq!(
            felt_to_hex(&Felt::MAX),
            "0x800000000000011000000000000000000000000000000000000000000000000"
        );
    }

    #[test]
    fn parses_hex_any_case() {
        assert_eq!(parse_felt("0x1f").unwrap(), Felt::from(31u8));
        assert_eq!(parse_felt("0X1F").unwrap(), Felt::from(31u8));
        assert_eq!(parse_felt("0xAbC").unwrap(), Felt::from(0xabcu32));
        assert_eq!(parse_felt("0x0").unwrap(), Felt::ZERO);
        assert_eq!(
            parse_felt("0x0000000000000000000000000000000000000000000000000000000000000000000001")
                .unwrap(),
            Felt::ONE
        );
    }

    #[test]
    fn parses_decimal() {
        assert_eq!(parse_felt("0").unwrap(), Felt::ZERO);
        assert_eq!(parse_felt("1234").unwrap(), Felt::from(1234u32));
        assert_eq!(parse_felt("007").unwrap(), Felt::from(7u8));
        let p_minus_1 =
            "3618502788666131213697322783095070105623107215331596699973092056135872020480";
        assert_eq!(parse_felt(p_minus_1).unwrap(), Felt::MAX);
    }

    #[test]
    fn rejects_overflow() {
        assert_eq!(parse_felt(P_HEX), Err(FeltError::Overflow));
        assert_eq!(parse_felt(P_DEC), Err(FeltError::Overflow));
        assert_eq!(
            parse_felt(&format!("0x{}", "f".repeat(64))),
            Err(FeltError::Overflow)
        );
        assert_eq!(
            parse_felt(&format!("0x1{}", "0".repeat(64))),
            Err(FeltError::Overflow)
        );
        assert_eq!(parse_felt(&"9".repeat(100)), Err(FeltError::Overflow));
    }

    #[test]
    fn rejects_empty_and_garbage() {
        for bad in ["", "0x", "0X"] {
            assert_eq!(parse_felt(bad), Err(FeltError::Empty), "{bad:?}");
        }
        for bad in [
            "0xg", "12a", " 1", "1 ", "-1", "+1", "0x-1", "1.0", "1e3", "0b1", "SN_MAIN", "0x1_0",
            "١٢",
        ] {
            assert_eq!(parse_felt(bad), Err(FeltError::InvalidDigit), "{bad:?}");
        }
    }

    #[test]
    fn hex_formatting_is_canonical() {
        assert_eq!(felt_to_hex(&Felt::ZERO), "0x0");
        assert_eq!(felt_to_hex(&Felt::ONE), "0x1");
        assert_eq!(felt_to_hex(&parse_felt("0x00AB").unwrap()), "0xab");
        let addr = "0x53f4f8791ed5bed0fddaa553d180c664e32cfaf8316bb232ae77bb08f459f2a";
        assert_eq!(felt_to_hex(&parse_felt(addr).unwrap()), addr);
    }

    #[test]
    fn short_string_round_trip() {
        let f = encode_short_string("SN_SEPOLIA").unwrap();
        assert_eq!(felt_to_hex(&f), "0x534e5f5345504f4c4941");
        assert_eq!(decode_short_string(&f).unwrap(), "SN_SEPOLIA");
        let any = encode_short_string("ANY_CALLER").unwrap();
        assert_eq!(felt_to_hex(&any), "0x414e595f43414c4c4552");
        assert_eq!(encode_short_string("").unwrap(), Felt::ZERO);
        let max = "a".repeat(31);
        assert_eq!(
            decode_short_string(&encode_short_string(&max).unwrap()).unwrap(),
            max
        );
        assert_eq!(decode_short_string(&Felt::ZERO).unwrap(), "");
    }

    #[test]
    fn short_string_limits() {
        assert_eq!(
            encode_short_string(&"a".repeat(32)),
            Err(FeltError::ShortStringTooLong)
        );
        assert_eq!(
            encode_short_string("héllo"),
            Err(FeltError::ShortStringNotAscii)
        );
        assert_eq!(
            decode_short_string(&Felt::MAX),
            Err(FeltError::ShortStringTooLong)
        );
        assert_eq!(
            decode_short_string(&Felt::from(0x80u8)),
            Err(FeltError::ShortStringNotAscii)
        );
    }

    #[test]
    fn parses_small_integers() {
        assert_eq!(parse_u64_str("0x15180").unwrap(), 86_400);
        assert_eq!(parse_u64_str("21600").unwrap(), 21_600);
        assert_eq!(parse_u64_str("18446744073709551615").unwrap(), u64::MAX);
        assert_eq!(parse_u64_str("0xffffffffffffffff").unwrap(), u64::MAX);
        assert_eq!(
            parse_u64_str("18446744073709551616"),
            Err(FeltError::OutOfRange)
        );
        assert_eq!(parse_u64_str(&"9".repeat(90)), Err(FeltError::OutOfRange));
        assert_eq!(parse_u64_str(""), Err(FeltError::Empty));
        assert_eq!(parse_u64_str("x"), Err(FeltError::InvalidDigit));
        assert_eq!(parse_u32_str("1000").unwrap(), 1000);
        assert_eq!(parse_u32_str("0xffffffff").unwrap(), u32::MAX);
        assert_eq!(parse_u32_str("4294967296"), Err(FeltError::OutOfRange));
    }

    #[test]
    fn accumulator_handles_radixes() {
        let mut acc = [0u8; 32];
        accumulate_digits(b"777", 8, &mut acc).unwrap();
        assert_eq!(Felt::from_bytes_be(&acc), Felt::from(0o777u32));
        let mut acc = [0u8; 32];
        accumulate_digits(b"1011", 2, &mut acc).unwrap();
        assert_eq!(Felt::from_bytes_be(&acc), Felt::from(11u8));
        let mut acc = [0u8; 32];
        accumulate_digits(b"000", 10, &mut acc).unwrap();
        assert_eq!(acc, [0u8; 32]);
        let mut acc = [0u8; 32];
        assert_eq!(
            accumulate_digits(b"8", 8, &mut acc),
            Err(FeltError::InvalidDigit)
        );
    }
}
