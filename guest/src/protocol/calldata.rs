//! Every call the component builds on the session account (the wallet
//! itself), in one place: the owner-signed transactions (register, revoke,
//! set and remove a spending policy) and the views it reads with
//! `starknet_call` (docs/protocol.md, "Session account contract").
//!
//! Each function returns a complete [`Call`]: target, entrypoint, selector and
//! calldata. Amounts are `u256` ([`U256`]), split into their Cairo
//! `{low, high}` felts in the calldata.

use starknet_core::types::U256;
use starknet_core::utils::starknet_keccak;
use starknet_crypto::Felt;

use super::calls::{felt_to_u128, Call};
use crate::crypto::felt::accumulate_digits;

/// Entrypoints of the session account called by this crate.
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

/// A call on `wallet` to one of the fixed [`entrypoints`]. Their names are
/// plain Cairo identifiers, so the selector is `starknet_keccak(name)` (the
/// tests check each against [`selector_for`](super::calls::selector_for)).
fn on_wallet(wallet: Felt, entrypoint: &'static str, calldata: Vec<Felt>) -> Call {
    Call {
        to: wallet,
        entrypoint: entrypoint.to_owned(),
        selector: starknet_keccak(entrypoint.as_bytes()),
        calldata,
    }
}

/// `add_or_update_session_key(session_key, valid_until: u64, max_calls: u32,
/// allowed_entrypoints: Array<felt252>)`: calldata `[pubkey, valid_until,
/// max_calls, len, ...selectors]`.
pub fn add_or_update_session_key(
    wallet: Felt,
    session_key: Felt,
    valid_until: u64,
    max_calls: u32,
    allowed: &[Felt],
) -> Call {
    let mut calldata = Vec::with_capacity(4 + allowed.len());
    calldata.extend([
        session_key,
        Felt::from(valid_until),
        Felt::from(max_calls),
        Felt::from(allowed.len()),
    ]);
    calldata.extend_from_slice(allowed);
    on_wallet(wallet, entrypoints::ADD_OR_UPDATE_SESSION_KEY, calldata)
}

/// `revoke_session_key(session_key)`.
pub fn revoke_session_key(wallet: Felt, session_key: Felt) -> Call {
    on_wallet(wallet, entrypoints::REVOKE_SESSION_KEY, vec![session_key])
}

/// `set_spending_policy(session_key, token, max_per_call: u256,
/// max_per_window: u256, window_seconds: u64)`.
pub fn set_spending_policy(
    wallet: Felt,
    session_key: Felt,
    token: Felt,
    max_per_call: U256,
    max_per_window: U256,
    window_seconds: u64,
) -> Call {
    let [call_low, call_high] = u256_felts(max_per_call);
    let [window_low, window_high] = u256_felts(max_per_window);
    on_wallet(
        wallet,
        entrypoints::SET_SPENDING_POLICY,
        vec![
            session_key,
            token,
            call_low,
            call_high,
            window_low,
            window_high,
            Felt::from(window_seconds),
        ],
    )
}

/// `remove_spending_policy(session_key, token)`.
pub fn remove_spending_policy(wallet: Felt, session_key: Felt, token: Felt) -> Call {
    on_wallet(
        wallet,
        entrypoints::REMOVE_SPENDING_POLICY,
        vec![session_key, token],
    )
}

/// View `get_session_data(session_key) -> SessionData`.
pub fn get_session_data(wallet: Felt, session_key: Felt) -> Call {
    on_wallet(wallet, entrypoints::GET_SESSION_DATA, vec![session_key])
}

/// View `get_session_allowed_entrypoint_at(session_key, index: u32) -> felt252`.
pub fn get_session_allowed_entrypoint_at(wallet: Felt, session_key: Felt, index: u32) -> Call {
    on_wallet(
        wallet,
        entrypoints::GET_SESSION_ALLOWED_ENTRYPOINT_AT,
        vec![session_key, Felt::from(index)],
    )
}

/// View `get_spending_policy(session_key, token) -> SpendingPolicy`.
pub fn get_spending_policy(wallet: Felt, session_key: Felt, token: Felt) -> Call {
    on_wallet(
        wallet,
        entrypoints::GET_SPENDING_POLICY,
        vec![session_key, token],
    )
}

/// View (SNIP-9) `is_valid_outside_execution_nonce(nonce) -> bool`.
pub fn is_valid_outside_execution_nonce(wallet: Felt, nonce: Felt) -> Call {
    on_wallet(
        wallet,
        entrypoints::IS_VALID_OUTSIDE_EXECUTION_NONCE,
        vec![nonce],
    )
}

/// A `u256` as its Cairo `[low, high]` felts.
pub fn u256_felts(value: U256) -> [Felt; 2] {
    [Felt::from(value.low()), Felt::from(value.high())]
}

/// A `u256` from the `low` and `high` felts read from chain (each must fit
/// 128 bits).
pub fn u256_from_felts(low: &Felt, high: &Felt) -> Option<U256> {
    Some(U256::from_words(felt_to_u128(low)?, felt_to_u128(high)?))
}

/// Longest amount accepted, in digits (a `u256` has at most 78 decimal digits).
const MAX_U256_DIGITS: usize = 80;

/// Parse a `u256` amount: decimal or `0x`-hex, surrounding whitespace
/// ignored, at most 2^256 - 1. No sign, no separators.
pub fn parse_u256(text: &str) -> Option<U256> {
    let text = text.trim();
    let (digits, radix) = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        None => (text, 10),
    };
    if digits.is_empty() || digits.len() > MAX_U256_DIGITS {
        return None;
    }
    let mut be = [0u8; 32];
    accumulate_digits(digits.as_bytes(), radix, &mut be).ok()?;
    let (high, low) = be.split_at(16);
    Some(U256::from_words(
        u128::from_be_bytes(low.try_into().ok()?),
        u128::from_be_bytes(high.try_into().ok()?),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::felt::felt_to_hex;
    use crate::protocol::calls::selector_for;

    const ALL: [&str; 8] = [
        entrypoints::ADD_OR_UPDATE_SESSION_KEY,
        entrypoints::REVOKE_SESSION_KEY,
        entrypoints::GET_SESSION_DATA,
        entrypoints::GET_SESSION_ALLOWED_ENTRYPOINT_AT,
        entrypoints::SET_SPENDING_POLICY,
        entrypoints::REMOVE_SPENDING_POLICY,
        entrypoints::GET_SPENDING_POLICY,
        entrypoints::IS_VALID_OUTSIDE_EXECUTION_NONCE,
    ];

    #[test]
    fn selectors_are_those_of_the_names() {
        let wallet = Felt::from(0xabu8);
        for name in ALL {
            let call = on_wallet(wallet, name, vec![]);
            assert_eq!(call.selector, selector_for(name).unwrap(), "{name}");
            assert_eq!((call.to, call.entrypoint.as_str()), (wallet, name));
        }
        // Pinned from starknet.js `hash.getSelectorFromName`.
        assert_eq!(
            felt_to_hex(&add_or_update_session_key(wallet, Felt::ONE, 1, 1, &[]).selector),
            "0x27d4f8b711f8a318b18cac75c0b7c9941844dbbece6f62ca10111055acb64c1"
        );
    }

    #[test]
    fn add_or_update_layout() {
        let sel = selector_for("transfer").unwrap();
        let call =
            add_or_update_session_key(Felt::TWO, Felt::from(7u8), 1_700_000_000, 1000, &[sel]);
        assert_eq!(call.to, Felt::TWO);
        assert_eq!(
            call.calldata,
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
    fn management_and_view_layouts() {
        let (w, key, token) = (Felt::ONE, Felt::from(7u8), Felt::from(9u8));
        assert_eq!(revoke_session_key(w, key).calldata, vec![key]);
        assert_eq!(
            remove_spending_policy(w, key, token).calldata,
            vec![key, token]
        );
        assert_eq!(
            get_spending_policy(w, key, token).calldata,
            vec![key, token]
        );
        assert_eq!(get_session_data(w, key).calldata, vec![key]);
        assert_eq!(
            get_session_allowed_entrypoint_at(w, key, 3).calldata,
            vec![key, Felt::THREE]
        );
        assert_eq!(is_valid_outside_execution_nonce(w, key).calldata, vec![key]);
        let per_call = U256::from_words(5, 1);
        let per_window = U256::from_words(u128::MAX, 0);
        assert_eq!(
            set_spending_policy(w, key, token, per_call, per_window, 60).calldata,
            vec![
                key,
                token,
                Felt::from(5u8),
                Felt::ONE,
                Felt::from(u128::MAX),
                Felt::ZERO,
                Felt::from(60u8)
            ]
        );
    }

    #[test]
    fn u256_parse_and_print() {
        let max = "115792089237316195423570985008687907853269984665640564039457584007913129639935";
        let v = parse_u256(max).unwrap();
        assert_eq!((v.low(), v.high()), (u128::MAX, u128::MAX));
        assert_eq!(v.to_string(), max);
        assert!(parse_u256(
            "115792089237316195423570985008687907853269984665640564039457584007913129639936"
        )
        .is_none());
        let v = parse_u256("0x100000000000000000000000000000001").unwrap();
        assert_eq!((v.low(), v.high()), (1, 1));
        assert_eq!(
            parse_u256("340282366920938463463374607431768211457").unwrap(),
            v
        );
        assert_eq!(parse_u256(" 0X0a ").unwrap(), U256::from(10u8));
        assert_eq!(parse_u256("0").unwrap().to_string(), "0");
        assert_eq!(
            parse_u256("12345678901234567890123").unwrap().to_string(),
            "12345678901234567890123"
        );
        assert_eq!(parse_u256(&"0".repeat(80)), Some(U256::from(0u8)));
        for bad in [
            "",
            "0x",
            "-1",
            "+1",
            "1.5",
            "abc",
            "1 2",
            "١٢",
            &"0".repeat(81),
        ] {
            assert!(parse_u256(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn u256_felts_round_trip() {
        let v = U256::from_words(3, u128::MAX);
        let [low, high] = u256_felts(v);
        assert_eq!(u256_from_felts(&low, &high), Some(v));
        assert_eq!(
            u256_from_felts(&(Felt::from(u128::MAX) + Felt::ONE), &Felt::ZERO),
            None
        );
        assert!(U256::from_words(0, 1) > U256::from_words(u128::MAX, 0));
    }
}
