//! Parsed Starknet calls and selectors. The calls the component builds on
//! the session account itself are in [`super::calldata`].

use starknet_core::utils::get_selector_from_name;
use starknet_crypto::Felt;

use super::error::{Result, SessionError};
use super::model::CallInput;
use crate::crypto::felt::{felt_to_hex, parse_felt};

/// Most calls in one execute.
pub const MAX_CALLS: usize = 64;
/// Longest calldata of one call, in felts.
pub const MAX_CALLDATA_LEN: usize = 4096;
/// Most calldata felts of all the calls of one execute together (Starknet's
/// own calldata limit per transaction is below it). It bounds the signed body
/// a pending transaction keeps in the session record
/// ([`MAX_RECORD_BYTES`](super::record::MAX_RECORD_BYTES)).
pub const MAX_TOTAL_CALLDATA_LEN: usize = 4096;

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
    let total: usize = inputs.iter().map(|c| c.calldata.len()).sum();
    if total > MAX_TOTAL_CALLDATA_LEN {
        return Err(SessionError::input(format!(
            "calldata of {total} felts in all, at most {MAX_TOTAL_CALLDATA_LEN} fit in one \
             transaction"
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

/// A felt as u128, if it fits.
pub fn felt_to_u128(f: &Felt) -> Option<u128> {
    u128::try_from(*f).ok()
}

/// A felt as u64, if it fits.
pub fn felt_to_u64(f: &Felt) -> Option<u64> {
    u64::try_from(*f).ok()
}

/// A felt as u32, if it fits.
pub fn felt_to_u32(f: &Felt) -> Option<u32> {
    u32::try_from(*f).ok()
}

/// Shorten user input quoted in error messages.
pub fn truncate(s: &str) -> String {
    truncate_to(s, 80)
}

/// `s` cut to at most `max` characters, with an ellipsis when cut.
pub fn truncate_to(s: &str, max: usize) -> String {
    let mut out: String = s.chars().take(max).collect();
    if s.chars().count() > max {
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
    fn felt_narrowing() {
        assert_eq!(felt_to_u64(&Felt::from(u64::MAX)), Some(u64::MAX));
        assert_eq!(felt_to_u64(&Felt::from(u64::MAX as u128 + 1)), None);
        assert_eq!(felt_to_u32(&Felt::from(5u8)), Some(5));
    }
}
