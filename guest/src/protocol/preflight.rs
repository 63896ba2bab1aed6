//! Checks made before any network call, mirroring what the session account
//! enforces (docs/protocol.md, "Session account contract"), so a doomed
//! transaction is never signed or sent.

use starknet_crypto::Felt;

use super::calldata::entrypoints;
use super::calls::{selector_for, Call};
use super::error::{Result, SessionError};
use crate::crypto::felt::felt_to_hex;

/// Entrypoints a session key may never call, whatever its whitelist.
pub const ADMIN_ENTRYPOINTS: [&str; 9] = [
    "upgrade",
    entrypoints::ADD_OR_UPDATE_SESSION_KEY,
    entrypoints::REVOKE_SESSION_KEY,
    "__execute__",
    "set_public_key",
    "setPublicKey",
    "execute_from_outside_v2",
    entrypoints::SET_SPENDING_POLICY,
    entrypoints::REMOVE_SPENDING_POLICY,
];

/// True when `selector` is one of [`ADMIN_ENTRYPOINTS`].
pub fn is_admin_selector(selector: &Felt) -> bool {
    ADMIN_ENTRYPOINTS
        .iter()
        .any(|name| selector_for(name).is_ok_and(|s| s == *selector))
}

/// Longest whitelist accepted (what `get-session-status` reads back).
pub const MAX_WHITELIST_LEN: usize = crate::protocol::rpc::MAX_WHITELIST_READ as usize;

/// Parse a whitelist given as names or selectors; admin entrypoints are refused
/// because the account would never let a session call them.
pub fn parse_whitelist(entries: &[String]) -> Result<Vec<Felt>> {
    if entries.len() > MAX_WHITELIST_LEN {
        return Err(SessionError::input(format!(
            "{} whitelist entries, at most {MAX_WHITELIST_LEN} are accepted",
            entries.len()
        )));
    }
    let mut out: Vec<Felt> = Vec::with_capacity(entries.len());
    for entry in entries {
        let selector = selector_for(entry)?;
        if is_admin_selector(&selector) {
            return Err(SessionError::EntrypointNotAllowed(format!(
                "{} is an admin entrypoint and cannot be whitelisted",
                entry.trim()
            )));
        }
        if !out.contains(&selector) {
            out.push(selector);
        }
    }
    Ok(out)
}

/// Check calls against the admin blocklist, the self-call rule of unrestricted
/// sessions and the whitelist, in the account's order.
pub fn check_calls(wallet: &Felt, whitelist: &[Felt], calls: &[Call]) -> Result<()> {
    if calls.is_empty() {
        return Err(SessionError::input("no calls to execute"));
    }
    for call in calls {
        if is_admin_selector(&call.selector) {
            return Err(SessionError::EntrypointNotAllowed(format!(
                "{} is an admin entrypoint a session key may not call",
                call.entrypoint
            )));
        }
    }
    if whitelist.is_empty() {
        if let Some(call) = calls.iter().find(|c| c.to == *wallet) {
            return Err(SessionError::EntrypointNotAllowed(format!(
                "an unrestricted session may not call the wallet itself ({})",
                call.entrypoint
            )));
        }
    } else if let Some(call) = calls.iter().find(|c| !whitelist.contains(&c.selector)) {
        return Err(SessionError::EntrypointNotAllowed(format!(
            "{} ({}) is not in the session whitelist",
            call.entrypoint,
            felt_to_hex(&call.selector)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(to: u64, entrypoint: &str) -> Call {
        Call::named(Felt::from(to), entrypoint, vec![]).unwrap()
    }

    #[test]
    fn admin_selectors_are_blocked_even_when_whitelisted() {
        let wallet = Felt::from(1u8);
        let err = check_calls(&wallet, &[], &[call(9, "upgrade")]).unwrap_err();
        assert_eq!(err.code(), "SESSION_ENTRYPOINT_NOT_ALLOWED");
        let wl = vec![selector_for("set_public_key").unwrap()];
        assert!(check_calls(&wallet, &wl, &[call(9, "set_public_key")]).is_err());
        assert!(parse_whitelist(&["revoke_session_key".into()]).is_err());
    }

    #[test]
    fn unrestricted_session_cannot_call_wallet() {
        let wallet = Felt::from(1u8);
        assert!(check_calls(&wallet, &[], &[call(2, "transfer")]).is_ok());
        let err =
            check_calls(&wallet, &[], &[call(2, "transfer"), call(1, "transfer")]).unwrap_err();
        assert!(err.to_string().contains("wallet itself"), "{err}");
    }

    #[test]
    fn whitelist_is_enforced_per_call() {
        let wallet = Felt::from(1u8);
        let wl = parse_whitelist(&["transfer".into(), "transfer".into()]).unwrap();
        assert_eq!(wl.len(), 1);
        assert!(check_calls(&wallet, &wl, &[call(2, "transfer")]).is_ok());
        // A whitelisted selector may target the wallet itself.
        assert!(check_calls(&wallet, &wl, &[call(1, "transfer")]).is_ok());
        let err =
            check_calls(&wallet, &wl, &[call(2, "transfer"), call(2, "approve")]).unwrap_err();
        assert!(err.to_string().contains("approve"), "{err}");
        assert_eq!(
            check_calls(&wallet, &wl, &[]).unwrap_err().code(),
            "INVALID_INPUT"
        );
    }
}
