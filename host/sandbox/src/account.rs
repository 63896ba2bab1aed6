//! The session account contract, simulated: session storage, spending policies,
//! owner-signed admin calls and the validation of session-signed transactions
//! (`docs/protocol.md`, "Session account contract"; `docs/contract.md` lists where
//! this model and Chipi's real v32 account differ).
//!
//! A CHIPI account imitates one of two contract versions ([`ChipiContract`]): Chipi's
//! public v32 account (`../shared/cairo/`, no spending policies, 7 admin selectors) or
//! the later account with spending policies (9 admin selectors), which is what sandbox
//! CHIPI wallets model unless told otherwise.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use starknet_core::types::{Felt, U256};

use super::error::ApiError;
use super::felt;
use super::typed_data::OeCall;
use super::wallets::{SandboxWalletType, CHIPI_CLASS_HASH, CHIPI_V32_CLASS_HASH, READY_CLASS_HASH};

/// Entrypoints a session may never call on the account WITH spending policies (the
/// later contract that sandbox CHIPI wallets model by default): the seven of Chipi's
/// v32 account plus `set_spending_policy` and `remove_spending_policy`. The v32 list
/// is `ChipiContract::V32.admin_entrypoints()` (`docs/contract.md`). This is also the
/// list the component refuses locally, whatever the contract version (stricter than
/// v32, never looser).
pub const ADMIN_ENTRYPOINTS: [&str; 9] = [
    "upgrade",
    "add_or_update_session_key",
    "revoke_session_key",
    "__execute__",
    "set_public_key",
    "setPublicKey",
    "execute_from_outside_v2",
    "set_spending_policy",
    "remove_spending_policy",
];

/// Entrypoints a session may never call on Chipi's public v32 account
/// (`_is_session_allowed_for_calls` in `src/account.cairo` at `9be9629b`): v32 has no
/// spending-policy entrypoints to protect.
pub(crate) const ADMIN_ENTRYPOINTS_V32: [&str; 7] = [
    "upgrade",
    "add_or_update_session_key",
    "revoke_session_key",
    "__execute__",
    "set_public_key",
    "setPublicKey",
    "execute_from_outside_v2",
];

/// The version of Chipi's session account a sandbox CHIPI wallet imitates
/// (`docs/contract.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ChipiContract {
    /// Chipi's public v32 account (`get_contract_info` = `'v32'`, class hash
    /// `0x035a2251aca25daba18a5d8950deffa8372a7d84774554e75283cb85552eebc9`): 7 admin selectors, no spending policies
    /// (`set_spending_policy`, `remove_spending_policy` and `get_spending_policy` do
    /// not exist).
    V32,
    /// The later account with spending policies: 9 admin selectors, tracked token calls
    /// held to per-token policies. What sandbox CHIPI wallets model by default; they
    /// report [`CHIPI_CLASS_HASH`], the class hash Chipi's backend names in use.
    #[default]
    SpendingPolicies,
}

impl ChipiContract {
    /// Entrypoints a session key may never call on this version.
    pub fn admin_entrypoints(self) -> &'static [&'static str] {
        match self {
            Self::V32 => &ADMIN_ENTRYPOINTS_V32,
            Self::SpendingPolicies => &ADMIN_ENTRYPOINTS,
        }
    }

    /// True when this version has spending policies.
    pub fn has_spending_policies(self) -> bool {
        match self {
            Self::V32 => false,
            Self::SpendingPolicies => true,
        }
    }

    /// The class hash `starknet_getClassHashAt` reports for an account of this version.
    pub fn class_hash(self) -> &'static str {
        match self {
            Self::V32 => CHIPI_V32_CLASS_HASH,
            Self::SpendingPolicies => CHIPI_CLASS_HASH,
        }
    }
}

/// Revert reason of `execute_from_outside_v2` for a nonce already consumed
/// (OpenZeppelin `SRC9Component::Errors::DUPLICATED_NONCE`, also asserted by Chipi's
/// account itself).
pub(crate) const DUPLICATED_NONCE: &str = "SRC9: duplicated nonce";

/// Entrypoints whose amount (`calldata[1] + calldata[2] << 128`) counts against a
/// spending policy of the called token.
pub const TRACKED_ENTRYPOINTS: [&str; 4] = [
    "transfer",
    "approve",
    "increase_allowance",
    "increaseAllowance",
];

/// On-chain data of one session key, as the sandbox holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SessionInfo {
    /// Unix time the session expires (0 when revoked).
    pub valid_until: u64,
    /// Maximum number of transactions.
    pub max_calls: u32,
    /// Transactions counted so far (once per transaction, not per call).
    pub calls_used: u32,
    /// Whitelisted selectors, `0x`-hex (empty = unrestricted).
    pub allowed_entrypoints: Vec<String>,
    /// True when the session was revoked by the owner.
    pub revoked: bool,
}

/// A spending policy as the sandbox holds it (amounts as decimal strings).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SpendingPolicyInfo {
    /// Maximum amount per call (u256, decimal).
    pub max_per_call: String,
    /// Maximum amount per window (u256, decimal).
    pub max_per_window: String,
    /// Window length in seconds.
    pub window_seconds: u64,
    /// Amount spent in the current window (u256, decimal).
    pub spent: String,
    /// Unix time the current window started (0 before the first tracked call).
    pub window_start: u64,
}

#[derive(Clone, Debug)]
struct StoredSession {
    valid_until: u64,
    max_calls: u32,
    calls_used: u32,
    allowed: Vec<Felt>,
}

#[derive(Clone, Debug)]
struct Policy {
    max_per_call: U256,
    max_per_window: U256,
    window_seconds: u64,
    spent: U256,
    window_start: u64,
}

/// A decoded owner-signed call on the account itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum OwnerOp {
    AddOrUpdate {
        key: Felt,
        valid_until: u64,
        max_calls: u32,
        allowed: Vec<Felt>,
    },
    Revoke {
        key: Felt,
    },
    SetPolicy {
        key: Felt,
        token: Felt,
        max_per_call: U256,
        max_per_window: U256,
        window_seconds: u64,
    },
    RemovePolicy {
        key: Felt,
        token: Felt,
    },
}

/// A session signature `[session_pubkey, r, s, valid_until]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SessionSignature {
    pub key: Felt,
    pub r: Felt,
    pub s: Felt,
    pub valid_until: Felt,
}

/// One simulated account contract.
#[derive(Clone, Debug)]
pub(crate) struct Account {
    pub address: Felt,
    pub owner_public_key: Felt,
    pub wallet_type: SandboxWalletType,
    /// The contract version a CHIPI account imitates (`None` for READY accounts).
    pub contract: Option<ChipiContract>,
    /// Session storage (`session_keys` + `session_entrypoints`). A revoked key is
    /// removed here and remembered in `revoked`; either way the views read zeros,
    /// like the contract, which overwrites a revoked session with zeros.
    sessions: HashMap<Felt, StoredSession>,
    revoked: HashSet<Felt>,
    policies: HashMap<(Felt, Felt), Policy>,
    /// SNIP-9 outside-execution nonces consumed by `execute_from_outside_v2`
    /// (OpenZeppelin's `SRC9_nonces`).
    outside_nonces: HashSet<Felt>,
}

fn not_allowed(detail: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(
        "SESSION_ENTRYPOINT_NOT_ALLOWED",
        format!("Entrypoint not allowed: {detail}"),
    )
}

fn bad_calldata(entrypoint: &str, detail: &str) -> ApiError {
    ApiError::bad_request(
        "INVALID_CALLDATA",
        format!("Invalid calldata for {entrypoint}: {detail}"),
    )
}

impl Account {
    /// A fresh account with no sessions.
    pub(crate) fn new(
        address: Felt,
        owner_public_key: Felt,
        wallet_type: SandboxWalletType,
    ) -> Self {
        Self {
            address,
            owner_public_key,
            wallet_type,
            contract: wallet_type.contract(),
            sessions: HashMap::new(),
            revoked: HashSet::new(),
            policies: HashMap::new(),
            outside_nonces: HashSet::new(),
        }
    }

    /// Entrypoints a session key may never call on this account.
    pub(crate) fn admin_entrypoints(&self) -> &'static [&'static str] {
        self.contract
            .map_or(&ADMIN_ENTRYPOINTS[..], ChipiContract::admin_entrypoints)
    }

    /// True when this account has spending policies.
    pub(crate) fn has_spending_policies(&self) -> bool {
        self.contract
            .is_some_and(ChipiContract::has_spending_policies)
    }

    /// The class hash `starknet_getClassHashAt` reports.
    pub(crate) fn class_hash(&self) -> &'static str {
        match (self.wallet_type, self.contract) {
            (SandboxWalletType::Ready, _) => READY_CLASS_HASH,
            (SandboxWalletType::Chipi, contract) => contract.unwrap_or_default().class_hash(),
        }
    }

    /// True once an outside execution with `nonce` ran on this account.
    pub(crate) fn nonce_used(&self, nonce: &Felt) -> bool {
        self.outside_nonces.contains(nonce)
    }

    /// `is_valid_outside_execution_nonce(nonce)`: `[1]` while unused, `[0]` once
    /// consumed.
    pub(crate) fn is_valid_outside_execution_nonce(&self, nonce: &Felt) -> Vec<Felt> {
        vec![if self.nonce_used(nonce) {
            Felt::ZERO
        } else {
            Felt::ONE
        }]
    }

    /// Step 2 of `execute_from_outside_v2`: refuse a nonce already consumed, with
    /// the contract's revert reason.
    pub(crate) fn check_outside_nonce(&self, nonce: &Felt) -> Result<(), ApiError> {
        if self.nonce_used(nonce) {
            return Err(ApiError::bad_request(
                "NONCE_ALREADY_USED",
                format!("Nonce already used: {DUPLICATED_NONCE}"),
            ));
        }
        Ok(())
    }

    /// Step 3 of `execute_from_outside_v2`: mark the nonce used. Call only once the
    /// whole transaction is known to succeed (a reverted transaction changes nothing).
    pub(crate) fn consume_outside_nonce(&mut self, nonce: Felt) {
        self.outside_nonces.insert(nonce);
    }

    /// Snapshot of a session (revoked sessions report `valid_until == 0`).
    pub(crate) fn session_info(&self, key: &Felt) -> Option<SessionInfo> {
        if let Some(s) = self.sessions.get(key) {
            return Some(SessionInfo {
                valid_until: s.valid_until,
                max_calls: s.max_calls,
                calls_used: s.calls_used,
                allowed_entrypoints: s.allowed.iter().map(felt::hex).collect(),
                revoked: false,
            });
        }
        self.revoked.contains(key).then(|| SessionInfo {
            valid_until: 0,
            max_calls: 0,
            calls_used: 0,
            allowed_entrypoints: Vec::new(),
            revoked: true,
        })
    }

    /// Snapshot of a spending policy.
    pub(crate) fn policy_info(&self, key: &Felt, token: &Felt) -> Option<SpendingPolicyInfo> {
        self.policies
            .get(&(*key, *token))
            .map(|p| SpendingPolicyInfo {
                max_per_call: p.max_per_call.to_string(),
                max_per_window: p.max_per_window.to_string(),
                window_seconds: p.window_seconds,
                spent: p.spent.to_string(),
                window_start: p.window_start,
            })
    }

    /// `get_session_data(key)`: `[valid_until, max_calls, calls_used, allowed_len]`.
    pub(crate) fn get_session_data(&self, key: &Felt) -> Vec<Felt> {
        match self.sessions.get(key) {
            Some(s) => vec![
                Felt::from(s.valid_until),
                Felt::from(s.max_calls),
                Felt::from(s.calls_used),
                Felt::from(s.allowed.len() as u64),
            ],
            None => vec![Felt::ZERO; 4],
        }
    }

    /// `get_session_allowed_entrypoints_len(key)`.
    pub(crate) fn allowed_entrypoints_len(&self, key: &Felt) -> Felt {
        Felt::from(self.sessions.get(key).map_or(0, |s| s.allowed.len() as u64))
    }

    /// `get_session_allowed_entrypoint_at(key, index)`: the contract reads its storage
    /// map without a bounds check, so an index past the whitelist, an unknown key or a
    /// revoked one read 0. `None` only when `index` does not fit its `u32` parameter.
    pub(crate) fn allowed_entrypoint_at(&self, key: &Felt, index: &Felt) -> Option<Felt> {
        let idx = u32::try_from(*index).ok()?;
        Some(
            self.sessions
                .get(key)
                .and_then(|s| s.allowed.get(usize::try_from(idx).ok()?).copied())
                .unwrap_or(Felt::ZERO),
        )
    }

    /// `get_spending_policy(key, token)`: eight felts, zeros when unset.
    pub(crate) fn get_spending_policy(&self, key: &Felt, token: &Felt) -> Vec<Felt> {
        match self.policies.get(&(*key, *token)) {
            Some(p) => vec![
                Felt::from(p.max_per_call.low()),
                Felt::from(p.max_per_call.high()),
                Felt::from(p.max_per_window.low()),
                Felt::from(p.max_per_window.high()),
                Felt::from(p.window_seconds),
                Felt::from(p.spent.low()),
                Felt::from(p.spent.high()),
                Felt::from(p.window_start),
            ],
            None => vec![Felt::ZERO; 8],
        }
    }

    /// Decode the owner-signed calls that target this account's admin entrypoints.
    /// Calls to other contracts or other entrypoints are not state-changing here.
    pub(crate) fn parse_owner_ops(&self, calls: &[OeCall]) -> Result<Vec<OwnerOp>, ApiError> {
        let mut ops = Vec::new();
        for call in calls.iter().filter(|c| c.to == self.address) {
            let d = &call.calldata;
            let sel = call.selector;
            if sel == felt::selector("add_or_update_session_key") {
                let name = "add_or_update_session_key";
                if d.len() < 4 {
                    return Err(bad_calldata(name, "expected at least 4 felts"));
                }
                let valid_until = u64::try_from(d[1])
                    .map_err(|_| bad_calldata(name, "valid_until does not fit u64"))?;
                let max_calls = u32::try_from(d[2])
                    .map_err(|_| bad_calldata(name, "max_calls does not fit u32"))?;
                let len = usize::try_from(d[3])
                    .ok()
                    .filter(|len| *len == d.len() - 4)
                    .ok_or_else(|| {
                        bad_calldata(name, "allowed_entrypoints length does not match")
                    })?;
                ops.push(OwnerOp::AddOrUpdate {
                    key: d[0],
                    valid_until,
                    max_calls,
                    allowed: d[4..4 + len].to_vec(),
                });
            } else if sel == felt::selector("revoke_session_key") {
                if d.len() != 1 {
                    return Err(bad_calldata("revoke_session_key", "expected 1 felt"));
                }
                ops.push(OwnerOp::Revoke { key: d[0] });
            } else if !self.has_spending_policies()
                && (sel == felt::selector("set_spending_policy")
                    || sel == felt::selector("remove_spending_policy"))
            {
                // v32 has no such entrypoint: the inner call fails, `_execute_calls`
                // ignores the failure, and the transaction succeeds having done nothing
                // (seen on starknet-devnet, tests/devnet).
                continue;
            } else if sel == felt::selector("set_spending_policy") {
                let name = "set_spending_policy";
                if d.len() != 7 {
                    return Err(bad_calldata(name, "expected 7 felts"));
                }
                let max_per_call = felt::u256_from_felts(&d[2], &d[3])
                    .ok_or_else(|| bad_calldata(name, "max_per_call is not a u256"))?;
                let max_per_window = felt::u256_from_felts(&d[4], &d[5])
                    .ok_or_else(|| bad_calldata(name, "max_per_window is not a u256"))?;
                let window_seconds = u64::try_from(d[6])
                    .map_err(|_| bad_calldata(name, "window_seconds does not fit u64"))?;
                ops.push(OwnerOp::SetPolicy {
                    key: d[0],
                    token: d[1],
                    max_per_call,
                    max_per_window,
                    window_seconds,
                });
            } else if sel == felt::selector("remove_spending_policy") {
                if d.len() != 2 {
                    return Err(bad_calldata("remove_spending_policy", "expected 2 felts"));
                }
                ops.push(OwnerOp::RemovePolicy {
                    key: d[0],
                    token: d[1],
                });
            }
        }
        Ok(ops)
    }

    /// Apply decoded owner operations.
    pub(crate) fn apply_owner_ops(&mut self, ops: Vec<OwnerOp>) {
        for op in ops {
            match op {
                OwnerOp::AddOrUpdate {
                    key,
                    valid_until,
                    max_calls,
                    allowed,
                } => {
                    self.revoked.remove(&key);
                    self.sessions.insert(
                        key,
                        StoredSession {
                            valid_until,
                            max_calls,
                            calls_used: 0,
                            allowed,
                        },
                    );
                }
                OwnerOp::Revoke { key } => {
                    self.sessions.remove(&key);
                    self.revoked.insert(key);
                }
                OwnerOp::SetPolicy {
                    key,
                    token,
                    max_per_call,
                    max_per_window,
                    window_seconds,
                } => {
                    self.policies.insert(
                        (key, token),
                        Policy {
                            max_per_call,
                            max_per_window,
                            window_seconds,
                            spent: U256::from(0u8),
                            window_start: 0,
                        },
                    );
                }
                OwnerOp::RemovePolicy { key, token } => {
                    self.policies.remove(&(key, token));
                }
            }
        }
    }

    /// The session checks of `execute_from_outside_v2` for a 4-felt signature, in the
    /// contract's order, up to (not including) the ECDSA check. Each refusal carries a
    /// sandbox code more specific than the contract's revert reason (noted per step):
    ///
    /// 1. the signature's `valid_until` fits u64 ('Session: invalid timestamp');
    /// 2. it is <= the stored session's `valid_until`, 0 when never registered or
    ///    revoked ('Session: valid_until exceeded');
    /// 3. `_is_session_allowed_for_calls` ('Session: unauthorized selector' for each):
    ///    the session is registered (stored `valid_until != 0`), block time <= the
    ///    stored `valid_until`, `calls_used < max_calls`, no admin selector of this
    ///    contract version, with an empty whitelist no call to the account itself,
    ///    else every selector whitelisted (whatever the target contract);
    /// 4. `is_valid_signature`: block time <= the signature's `valid_until` ('SRC9:
    ///    invalid signature'); the ECDSA check follows in the caller.
    pub(crate) fn check_session(
        &self,
        sig: &SessionSignature,
        calls: &[OeCall],
        now: u64,
    ) -> Result<(), ApiError> {
        // 1. valid_until fits u64.
        let valid_until = u64::try_from(sig.valid_until).map_err(|_| {
            ApiError::bad_request(
                "INVALID_SESSION_SIGNATURE",
                "Invalid session signature: valid_until does not fit u64",
            )
        })?;
        // 2. the signature's valid_until <= the stored one (reads 0 when absent).
        let stored = self.sessions.get(&sig.key);
        let stored_valid_until = stored.map_or(0, |s| s.valid_until);
        if valid_until > stored_valid_until {
            return Err(match stored {
                Some(s) if s.valid_until != 0 => ApiError::bad_request(
                    "SESSION_NOT_REGISTERED",
                    "Session not registered: the signature's valid_until is after the registered session's",
                ),
                _ => self.unregistered(&sig.key),
            });
        }
        // 3a. registered.
        let stored = match stored {
            Some(s) if s.valid_until != 0 => s,
            _ => return Err(self.unregistered(&sig.key)),
        };
        // 3b. block time <= the stored valid_until.
        if now > stored.valid_until {
            return Err(ApiError::bad_request("SESSION_EXPIRED", "Session expired"));
        }
        // 3c. calls_used < max_calls.
        if stored.calls_used >= stored.max_calls {
            return Err(ApiError::bad_request(
                "SESSION_MAX_CALLS_EXCEEDED",
                "Max calls exceeded",
            ));
        }
        // 3d. no admin selector of this contract version.
        for call in calls {
            if let Some(name) = self
                .admin_entrypoints()
                .iter()
                .find(|n| felt::selector(n) == call.selector)
            {
                return Err(not_allowed(format!("admin entrypoint {name}")));
            }
        }
        if stored.allowed.is_empty() {
            // 3e. unrestricted sessions may not call the account itself.
            if calls.iter().any(|c| c.to == self.address) {
                return Err(not_allowed(
                    "an unrestricted session cannot call the account itself",
                ));
            }
        } else {
            // 3f. every selector whitelisted (any target, the account included).
            if let Some(call) = calls.iter().find(|c| !stored.allowed.contains(&c.selector)) {
                return Err(not_allowed(format!(
                    "selector {} is not in the session whitelist",
                    felt::hex(&call.selector)
                )));
            }
        }
        // 4. block time <= the signature's valid_until (checked by the contract inside
        // `is_valid_signature`, so after the session rules).
        if now > valid_until {
            return Err(ApiError::bad_request(
                "SESSION_EXPIRED",
                "Session expired: block time is after the signature's valid_until",
            ));
        }
        Ok(())
    }

    /// Refusal for a key whose stored session reads zeros: revoked or never registered
    /// (the contract cannot tell them apart; the sandbox remembers revocations).
    fn unregistered(&self, key: &Felt) -> ApiError {
        if self.revoked.contains(key) {
            ApiError::bad_request("SESSION_REVOKED", "Session revoked")
        } else {
            ApiError::bad_request("SESSION_NOT_REGISTERED", "Session not registered")
        }
    }

    /// After a valid ECDSA check: count the transaction (once) and enforce spending
    /// policies. Atomic: on a spending refusal the transaction reverts and nothing
    /// changes (not even `calls_used`).
    pub(crate) fn commit_session(
        &mut self,
        key: &Felt,
        calls: &[OeCall],
        now: u64,
    ) -> Result<(), ApiError> {
        let mut policies = self.policies.clone();
        // A version without spending policies tracks nothing.
        let tracked: Vec<Felt> = if self.has_spending_policies() {
            TRACKED_ENTRYPOINTS
                .iter()
                .map(|n| felt::selector(n))
                .collect()
        } else {
            Vec::new()
        };
        for call in calls.iter().filter(|c| tracked.contains(&c.selector)) {
            let Some(policy) = policies.get_mut(&(*key, call.to)) else {
                continue;
            };
            let amount = match (call.calldata.get(1), call.calldata.get(2)) {
                (Some(low), Some(high)) => felt::u256_from_felts(low, high),
                _ => None,
            }
            .ok_or_else(|| {
                ApiError::bad_request(
                    "INVALID_CALLDATA",
                    "Invalid calldata: tracked call without a u256 amount at calldata[1..3]",
                )
            })?;
            if policy.window_start == 0
                || now >= policy.window_start.saturating_add(policy.window_seconds)
            {
                policy.spent = U256::from(0u8);
                policy.window_start = now;
            }
            if amount > policy.max_per_call {
                return Err(ApiError::bad_request(
                    "SPENDING_LIMIT_EXCEEDED",
                    "Spending limit exceeded: amount above max per call",
                ));
            }
            let new_spent = felt::u256_checked_add(policy.spent, amount)
                .filter(|s| *s <= policy.max_per_window)
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "SPENDING_LIMIT_EXCEEDED",
                        "Spending limit exceeded: window allowance exhausted",
                    )
                })?;
            policy.spent = new_spent;
        }
        let session = self.sessions.get_mut(key).ok_or_else(|| {
            ApiError::bad_request("SESSION_NOT_REGISTERED", "Session not registered")
        })?;
        session.calls_used = session.calls_used.saturating_add(1);
        self.policies = policies;
        Ok(())
    }
}
