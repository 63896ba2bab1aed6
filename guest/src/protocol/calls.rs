//! Parsed Starknet calls, selectors, and the calldata of the session account's
//! management entrypoints.

use starknet_core::utils::get_selector_from_name;
use starknet_crypto::Felt;

use super::error::{Result, SessionError};
use super::model::CallInput;
use crate::crypto::felt::{felt_to_hex, parse_felt};

/// Most calls in one execute.
pub const MAX_CALLS: usize = 64;
/// Longest calldata of one call, in felts.
pub const MAX_CALLDATA_LEN: usize = 4096;

/// Validate the caller's calls: between 1 and [`MAX_CALLS`] of them.
pub fn parse_calls(inputs: &[CallInput]) -> Result<Vec<Call>> {
    if inputs.is_empty() {
        return Err(SessionError::input("no calls to execute"));
    }
    if inputs.len() > MAX_CALLS {
        return Err(SessionError::input(format!(
            "{} calls requested, at most {MAX_CALLS} fit in one transaction",
            inputs.len()
        )));
    }
    inputs.iter().map(Call::parse).collect()
}

/// Digest identifying a list of requested calls (Poseidon over
/// `to, selector, calldata_len, calldata...` of each call), 0x-hex.
pub fn calls_digest(calls: &[Call]) -> String {
    let mut items = Vec::new();
    for c in calls {
        items.extend([c.to, c.selector, Felt::from(c.calldata.len())]);
        items.extend(c.calldata.iter().copied());
    }
    felt_to_hex(&starknet_crypto::poseidon_hash_many(&items))
}

/// Entrypoints of the session account used by this crate.
pub mod entrypoints {
    /// Registers or updates a session key.
    pub const ADD_OR_UPDATE_SESSION_KEY: &str = "add_or_update_session_key";
    /// Revokes a session key.
    pub const REVOKE_SESSION_KEY: &str = "revoke_session_key";
    /// Reads a session's data.
    pub const GET_SESSION_DATA: &str = "get_session_data";
    /// Reads one whitelist entry.
    pub const GET_SESSION_ALLOWED_ENTRYPOINT_AT: &str = "get_session_allowed_entrypoint_at";
    /// Sets a spending policy.
    pub const SET_SPENDING_POLICY: &str = "set_spending_policy";
    /// Removes a spending policy.
    pub const REMOVE_SPENDING_POLICY: &str = "remove_spending_policy";
    /// Reads a spending policy.
    pub const GET_SPENDING_POLICY: &str = "get_spending_policy";
    /// SNIP-9: true while an outside-execution nonce is unused.
    pub const IS_VALID_OUTSIDE_EXECUTION_NONCE: &str = "is_valid_outside_execution_nonce";
}

/// A validated call: target, entrypoint as given, its selector and calldata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// Target contract.
    pub to: Felt,
    /// Entrypoint as the caller gave it (name or 0x selector).
    pub entrypoint: String,
    /// Selector of the entrypoint.
    pub selector: Felt,
    /// Calldata.
    pub calldata: Vec<Felt>,
}

impl Call {
    /// Build a call to a named entrypoint.
    pub fn named(to: Felt, entrypoint: &str, calldata: Vec<Felt>) -> Result<Self> {
        Ok(Self {
            to,
            entrypoint: entrypoint.to_string(),
            selector: selector_for(entrypoint)?,
            calldata,
        })
    }

    /// Validate a caller-supplied call.
    pub fn parse(input: &CallInput) -> Result<Self> {
        let to = parse_felt(&input.contract_address).map_err(|e| {
            SessionError::input(format!(
                "invalid contract address {:?}: {e}",
                truncate(&input.contract_address)
            ))
        })?;
        let selector = selector_for(&input.entrypoint)?;
        if input.calldata.len() > MAX_CALLDATA_LEN {
            return Err(SessionError::input(format!(
                "calldata of {} felts, at most {MAX_CALLDATA_LEN} are accepted",
                input.calldata.len()
            )));
        }
        let calldata = input
            .calldata
            .iter()
            .enumerate()
            .map(|(i, v)| {
                parse_felt(v).map_err(|e| {
                    SessionError::input(format!("invalid calldata[{i}] {:?}: {e}", truncate(v)))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            to,
            entrypoint: input.entrypoint.trim().to_string(),
            selector,
            calldata,
        })
    }

    /// The call as the Chipi API expects it (`{contractAddress, entrypoint, calldata}`).
    pub fn to_api_json(&self) -> serde_json::Value {
        serde_json::json!({
            "contractAddress": felt_to_hex(&self.to),
            "entrypoint": self.entrypoint,
            "calldata": self.calldata.iter().map(felt_to_hex).collect::<Vec<_>>(),
        })
    }
}

/// Selector of an entrypoint: a `0x` value is the selector itself, anything else
/// must be a Cairo identifier and is hashed with `starknet_keccak`.
pub fn selector_for(entrypoint: &str) -> Result<Felt> {
    let entrypoint = entrypoint.trim();
    if entrypoint.starts_with("0x") || entrypoint.starts_with("0X") {
        return parse_felt(entrypoint).map_err(|e| {
            SessionError::input(format!("invalid selector {:?}: {e}", truncate(entrypoint)))
        });
    }
    let valid = !entrypoint.is_empty()
        && entrypoint.len() <= 128
        && entrypoint
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !entrypoint.starts_with(|c: char| c.is_ascii_digit());
    if !valid {
        return Err(SessionError::input(format!(
            "invalid entrypoint name {:?}",
            truncate(entrypoint)
        )));
    }
    get_selector_from_name(entrypoint)
        .map_err(|_| SessionError::input(format!("invalid entrypoint name {entrypoint:?}")))
}

/// Calldata of `add_or_update_session_key`: `[pubkey, valid_until, max_calls, len, ...selectors]`.
pub fn add_or_update_session_key_calldata(
    session_key: Felt,
    valid_until: u64,
    max_calls: u32,
    allowed: &[Felt],
) -> Vec<Felt> {
    let mut out = vec![
        session_key,
        Felt::from(valid_until),
        Felt::from(max_calls),
        Felt::from(allowed.len() as u64),
    ];
    out.extend_from_slice(allowed);
    out
}

/// A u256 split in its Cairo `{low, high}` felts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct U256 {
    /// Low 128 bits.
    pub low: u128,
    /// High 128 bits.
    pub high: u128,
}

impl U256 {
    /// Zero.
    pub const ZERO: U256 = U256 { low: 0, high: 0 };

    /// Parse a decimal or 0x-hex string of at most 256 bits.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let (digits, radix) = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
            Some(hex) => (hex, 16u32),
            None => (s, 10u32),
        };
        if digits.is_empty() || digits.len() > 80 {
            return None;
        }
        let (mut low, mut high) = (0u128, 0u128);
        for c in digits.chars() {
            let d = c.to_digit(radix)? as u128;
            // (high, low) = (high, low) * radix + d, failing on overflow of 256 bits.
            let r = radix as u128;
            let low_lo = (low & u64::MAX as u128) * r;
            let low_hi = (low >> 64) * r + (low_lo >> 64);
            let new_low = ((low_hi & u64::MAX as u128) << 64) | (low_lo & u64::MAX as u128);
            let carry = low_hi >> 64;
            let new_high = high.checked_mul(r)?.checked_add(carry)?;
            let (new_low, c2) = new_low.overflowing_add(d);
            low = new_low;
            high = new_high.checked_add(c2 as u128)?;
        }
        Some(Self { low, high })
    }

    /// Decimal representation.
    pub fn to_decimal(self) -> String {
        // Repeated division of the 256-bit value by 10^19 in 64-bit limbs.
        let mut limbs = [
            (self.high >> 64) as u64,
            self.high as u64,
            (self.low >> 64) as u64,
            self.low as u64,
        ];
        if limbs.iter().all(|l| *l == 0) {
            return "0".into();
        }
        const CHUNK: u64 = 10_000_000_000_000_000_000;
        let mut parts = Vec::new();
        while limbs.iter().any(|l| *l != 0) {
            let mut rem: u128 = 0;
            for limb in limbs.iter_mut() {
                let cur = (rem << 64) | *limb as u128;
                *limb = (cur / CHUNK as u128) as u64;
                rem = cur % CHUNK as u128;
            }
            parts.push(rem as u64);
        }
        let mut out = String::new();
        for (i, part) in parts.iter().rev().enumerate() {
            if i == 0 {
                out.push_str(&part.to_string());
            } else {
                out.push_str(&format!("{part:019}"));
            }
        }
        out
    }

    /// True when zero.
    pub fn is_zero(self) -> bool {
        self.low == 0 && self.high == 0
    }

    /// Combine two felts read from chain (each must fit 128 bits).
    pub fn from_felts(low: &Felt, high: &Felt) -> Option<Self> {
        Some(Self {
            low: felt_to_u128(low)?,
            high: felt_to_u128(high)?,
        })
    }
}

impl PartialOrd for U256 {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for U256 {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.high, self.low).cmp(&(other.high, other.low))
    }
}

/// A felt as u128, if it fits.
pub fn felt_to_u128(f: &Felt) -> Option<u128> {
    let bytes = f.to_bytes_be();
    let (hi, lo) = bytes.split_at(16);
    if hi.iter().any(|b| *b != 0) {
        return None;
    }
    let mut buf = [0u8; 16];
    buf.copy_from_slice(lo);
    Some(u128::from_be_bytes(buf))
}

/// A felt as u64, if it fits.
pub fn felt_to_u64(f: &Felt) -> Option<u64> {
    felt_to_u128(f).and_then(|v| u64::try_from(v).ok())
}

/// A felt as u32, if it fits.
pub fn felt_to_u32(f: &Felt) -> Option<u32> {
    felt_to_u128(f).and_then(|v| u32::try_from(v).ok())
}

/// Calldata of `set_spending_policy(session_key, token, max_per_call: u256,
/// max_per_window: u256, window_seconds: u64)`.
pub fn set_spending_policy_calldata(
    session_key: Felt,
    token: Felt,
    max_per_call: U256,
    max_per_window: U256,
    window_seconds: u64,
) -> Vec<Felt> {
    vec![
        session_key,
        token,
        Felt::from(max_per_call.low),
        Felt::from(max_per_call.high),
        Felt::from(max_per_window.low),
        Felt::from(max_per_window.high),
        Felt::from(window_seconds),
    ]
}

/// Shorten user input quoted in error messages.
pub fn truncate(s: &str) -> String {
    let mut out: String = s.chars().take(80).collect();
    if s.chars().count() > 80 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_of_name_matches_starknet_keccak() {
        // Well-known selector of `transfer`.
        assert_eq!(
            felt_to_hex(&selector_for("transfer").unwrap()),
            "0x83afd3f4caedc6eebf44246fe54e38c95e3179a5ec9ea81740eca5b482d12e"
        );
        assert_eq!(
            selector_for("0x83afd3f4caedc6eebf44246fe54e38c95e3179a5ec9ea81740eca5b482d12e")
                .unwrap(),
            selector_for("transfer").unwrap()
        );
    }

    #[test]
    fn selector_rejects_garbage() {
        for bad in ["", "tran sfer", "1abc", "a-b", "0xzz", "é"] {
            assert!(selector_for(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn call_parse_validates_every_field() {
        let ok = CallInput {
            contract_address: "0x1234".into(),
            entrypoint: "transfer".into(),
            calldata: vec!["0x1".into(), "100".into(), "0x0".into()],
        };
        let call = Call::parse(&ok).unwrap();
        assert_eq!(
            call.calldata,
            vec![Felt::ONE, Felt::from(100u8), Felt::ZERO]
        );
        assert_eq!(
            call.to_api_json()["calldata"],
            serde_json::json!(["0x1", "0x64", "0x0"])
        );
        let mut bad = ok.clone();
        bad.calldata.push("nope".into());
        let err = Call::parse(&bad).unwrap_err();
        assert!(err.to_string().contains("calldata[3]"), "{err}");
        let mut bad = ok;
        bad.contract_address = "0x".into();
        assert_eq!(Call::parse(&bad).unwrap_err().code(), "INVALID_INPUT");
    }

    #[test]
    fn add_or_update_layout() {
        let sel = selector_for("transfer").unwrap();
        let cd = add_or_update_session_key_calldata(Felt::from(7u8), 1_700_000_000, 1000, &[sel]);
        assert_eq!(
            cd,
            vec![
                Felt::from(7u8),
                Felt::from(1_700_000_000u64),
                Felt::from(1000u32),
                Felt::ONE,
                sel
            ]
        );
    }

    #[test]
    fn u256_parse_and_print() {
        let max = "115792089237316195423570985008687907853269984665640564039457584007913129639935";
        let v = U256::parse(max).unwrap();
        assert_eq!((v.low, v.high), (u128::MAX, u128::MAX));
        assert_eq!(v.to_decimal(), max);
        assert!(U256::parse(
            "115792089237316195423570985008687907853269984665640564039457584007913129639936"
        )
        .is_none());
        let v = U256::parse("0x100000000000000000000000000000001").unwrap();
        assert_eq!((v.low, v.high), (1, 1));
        assert_eq!(
            U256::parse("340282366920938463463374607431768211457").unwrap(),
            v
        );
        assert_eq!(U256::parse("0").unwrap().to_decimal(), "0");
        assert_eq!(
            U256::parse("12345678901234567890123").unwrap().to_decimal(),
            "12345678901234567890123"
        );
        for bad in ["", "0x", "-1", "1.5", "abc"] {
            assert!(U256::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn felt_narrowing() {
        assert_eq!(felt_to_u64(&Felt::from(u64::MAX)), Some(u64::MAX));
        assert_eq!(felt_to_u64(&Felt::from(u64::MAX as u128 + 1)), None);
        assert_eq!(felt_to_u32(&Felt::from(5u8)), Some(5));
    }
}
