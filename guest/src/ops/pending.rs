//! Exactly once: every transaction is an *intent* (named by the caller's
//! idempotency key, or else by its operation and calls), recorded as pending
//! before it is sent; an operation on the wallet first reconciles pending
//! transactions with the account instead of signing anything new while one
//! may still land; and a settled intent whose caller was never told its
//! outcome leaves a tombstone that answers its retry. The rule is stated in
//! `docs/signing-pipeline.md`; this module is the one place that enforces it.
//!
//! | the account says | window | what happens |
//! |---|---|---|
//! | nonce consumed, and the session's call count (or the registered terms) shows it | any | landed: effect recorded once, pending settled |
//! | nonce consumed, count does not show it | open | cannot tell: kept pending (`TRANSACTION_PENDING`) |
//! | nonce consumed, count does not show it | closed | refused by the backend or not counted: dropped; otherwise settled as unknown |
//! | nonce unused | open | the same signed body is sent again (never a new signature) |
//! | nonce unused | closed (+ skew allowance) | it can never land: dropped |
//!
//! A retry of the same intent reports its outcome: its hash when known,
//! `ALREADY_EXECUTED` naming it when it landed with its answer lost,
//! `TRANSACTION_PENDING` while it may still land; it is never signed a
//! second time. A nonce the account reports consumed is never proof by
//! itself that *this* signature landed.

use sha2::{Digest, Sha256};

use super::ports::Ports;
use super::remote::{self, Sent};
use super::{stored, Env};
use crate::crypto::felt::{felt_to_hex, parse_felt, Felt};
use crate::protocol::error::{Result, SessionError};
use crate::protocol::model::{IntentOptions, SessionData};
use crate::protocol::record::{
    PendingOperation, PendingTransaction, Registration, SessionRecord, SettledIntent,
    SettledOutcome,
};
use crate::protocol::typed_data_check::{Approved, MAX_CLOCK_SKEW_SECS};

/// The store error when compare-and-swap keeps losing to other writers.
const KEEPS_CHANGING: &str = "the stored session keeps changing concurrently";

/// Most transactions of one wallet pending at once.
pub(crate) const MAX_PENDING: usize = 16;

/// Most settled intents (tombstones) one wallet remembers; past it the
/// oldest is forgotten first.
pub(crate) const MAX_SETTLED: usize = 1024;

/// How long an idempotency key keeps naming its intent after it settled.
pub(crate) const KEY_RETENTION_SECS: u64 = 86_400;

/// Longest idempotency key accepted, in bytes.
pub(crate) const MAX_IDEMPOTENCY_KEY_BYTES: usize = 256;

/// What names an intent: the caller's idempotency key when given, otherwise
/// its calls (the digest of the operation's calls).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Intent {
    /// Digest of the requested calls.
    pub calls_digest: String,
    /// Digest of the idempotency key, if the caller named the intent.
    pub key: Option<String>,
}

impl Intent {
    /// The intent of `calls_digest` under the caller's `options` (the key is
    /// checked and kept as its SHA-256 digest).
    pub(crate) fn new(calls_digest: String, options: &IntentOptions) -> Result<Self> {
        let key = options
            .idempotency_key
            .as_deref()
            .map(|key| {
                if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_BYTES {
                    return Err(SessionError::input(format!(
                        "idempotency key must be 1 to {MAX_IDEMPOTENCY_KEY_BYTES} bytes"
                    )));
                }
                if key.chars().any(char::is_control) {
                    return Err(SessionError::input(
                        "idempotency key must not contain control characters",
                    ));
                }
                let digest = Sha256::digest(key.as_bytes());
                Ok(format!("0x{}", hex_of(&digest)))
            })
            .transpose()?;
        Ok(Self { calls_digest, key })
    }

    /// True when `(calls_digest, key)` is this intent.
    fn names(&self, calls_digest: &str, key: Option<&String>) -> bool {
        match (&self.key, key) {
            (Some(mine), Some(theirs)) => mine == theirs,
            (None, None) => self.calls_digest == calls_digest,
            _ => false,
        }
    }

    /// True when `pending` is this intent.
    fn names_pending(&self, pending: &PendingTransaction) -> bool {
        self.names(&pending.calls_digest, pending.idempotency_key.as_ref())
    }

    /// Refuse a key already used for other calls.
    fn check_same_calls(&self, calls_digest: &str) -> Result<()> {
        if self.key.is_some() && self.calls_digest != calls_digest {
            return Err(SessionError::input(
                "this idempotency key already names an intent with other calls; use a new key \
                 for a new intent (nothing was signed)",
            ));
        }
        Ok(())
    }
}

fn hex_of(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A transaction about to be signed and sent.
pub(crate) struct Outgoing<'a> {
    /// Its effect once landed.
    pub operation: PendingOperation,
    /// What names it.
    pub intent: Intent,
    /// The approved outside execution.
    pub approved: &'a Approved,
    /// The exact request body (signature included).
    pub body: Vec<u8>,
}

/// Until when a retry of `pending`, settled at `now`, is answered from its
/// tombstone: until its signed window closes, and for a keyed intent at
/// least [`KEY_RETENTION_SECS`].
fn keep_until(pending: &PendingTransaction, now: u64) -> u64 {
    let window = pending.execute_before.saturating_add(MAX_CLOCK_SKEW_SECS);
    if pending.idempotency_key.is_some() {
        window.max(now.saturating_add(KEY_RETENTION_SECS))
    } else {
        window
    }
}

/// The tombstone of `pending`, settled at `now` with `outcome`. An unknown
/// outcome is kept for [`KEY_RETENTION_SECS`] (its window already closed).
fn tombstone(pending: &PendingTransaction, outcome: SettledOutcome, now: u64) -> SettledIntent {
    let keep_until = match outcome {
        SettledOutcome::Unknown => {
            keep_until(pending, now).max(now.saturating_add(KEY_RETENTION_SECS))
        }
        SettledOutcome::Landed { .. } => keep_until(pending, now),
    };
    SettledIntent {
        calls_digest: pending.calls_digest.clone(),
        idempotency_key: pending.idempotency_key.clone(),
        nonce: pending.nonce.clone(),
        outcome,
        settled_at: now,
        keep_until,
    }
}

/// Forget expired tombstones, and the oldest past [`MAX_SETTLED`].
fn prune_settled(record: &mut SessionRecord, now: u64) {
    record.settled.retain(|s| s.keep_until >= now);
    let excess = record.settled.len().saturating_sub(MAX_SETTLED);
    record.settled.drain(..excess);
}

/// Add the tombstone of `pending` to `record`.
fn remember_settled(
    record: &mut SessionRecord,
    pending: &PendingTransaction,
    outcome: SettledOutcome,
    now: u64,
) {
    record.settled.retain(|s| s.nonce != pending.nonce);
    record.settled.push(tombstone(pending, outcome, now));
    prune_settled(record, now);
}

/// An execute this session saw accepted, whose landing (one more call used,
/// pending entry removed) is folded into the next write of the record
/// instead of being written on its own ([`stored::load`]). That write comes
/// after the caller got the hash (a later operation, `lock`, or the
/// resource's drop; a host must hand the hash out before it drops the
/// resource), so an unkeyed execute settles without a tombstone: its
/// caller was told, and the same calls again are a new intent. Until that
/// write, the store shows it pending, and a retry after a crash is answered
/// with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Accepted {
    /// The session it belongs to.
    public_key: String,
    /// The pending entry as written before sending.
    pending: PendingTransaction,
    /// Its transaction hash.
    hash: String,
    /// When it was accepted.
    accepted_at: u64,
}

impl Accepted {
    /// Its transaction hash.
    pub(crate) fn hash(&self) -> &str {
        &self.hash
    }

    /// True when folding it into `record` would change the record.
    pub(crate) fn needs_fold(&self, record: &SessionRecord) -> bool {
        if record.public_key != self.public_key {
            return false;
        }
        record.pending.contains(&self.pending) || record.settled.iter().any(|s| self.rewrites(s))
    }

    /// True when the tombstone `s` is this execute's, settled by another
    /// instance before this one could write its answer: an unkeyed one is
    /// removed (its caller is told now), a keyed one learns the hash.
    fn rewrites(&self, s: &SettledIntent) -> bool {
        s.nonce == self.pending.nonce
            && (s.idempotency_key.is_none()
                || s.outcome
                    != (SettledOutcome::Landed {
                        transaction_hash: Some(self.hash.clone()),
                    }))
    }

    /// Apply its landing to `record` if `record` still holds it as pending
    /// (or as another instance's tombstone); returns whether it did.
    pub(crate) fn fold_into(&self, record: &mut SessionRecord) -> bool {
        if record.public_key != self.public_key {
            return false;
        }
        if let Some(index) = record.pending.iter().position(|p| p == &self.pending) {
            apply(record, &self.pending.operation, Some(&self.hash));
            record.pending.remove(index);
            if self.pending.idempotency_key.is_some() {
                remember_settled(
                    record,
                    &self.pending,
                    SettledOutcome::Landed {
                        transaction_hash: Some(self.hash.clone()),
                    },
                    self.accepted_at,
                );
            }
            return true;
        }
        let Some(index) = record.settled.iter().position(|s| self.rewrites(s)) else {
            return false;
        };
        if record.settled[index].idempotency_key.is_none() {
            record.settled.remove(index);
        } else {
            record.settled[index].outcome = SettledOutcome::Landed {
                transaction_hash: Some(self.hash.clone()),
            };
        }
        true
    }
}

/// Record `outgoing` as pending, send it once, and settle the record.
/// Returns the transaction hash.
///
/// - accepted: effect recorded, pending cleared; for an execute, in the next
///   write of the record ([`Accepted`], one store write per execute), for
///   other operations at once, where a store failure still returns the hash
///   (with a warning): the pending record left behind is reconciled, and
///   counted once, by the next operation;
/// - refused (4xx): pending cleared and the error returned, unless the
///   account shows it landed all the same (`ALREADY_EXECUTED`) or cannot
///   tell (`TRANSACTION_PENDING`, kept pending);
/// - answer lost: pending kept, `TRANSACTION_PENDING` returned.
pub(crate) fn send<P: Ports>(
    env: &Env<'_>,
    ports: &mut P,
    public_key: &str,
    outgoing: Outgoing<'_>,
) -> Result<String> {
    let body_text = String::from_utf8(outgoing.body)
        .map_err(|_| SessionError::input("request body is not UTF-8"))?;
    let now = ports.now_unix();
    let pending = PendingTransaction {
        operation: outgoing.operation,
        calls_digest: outgoing.intent.calls_digest,
        nonce: felt_to_hex(&outgoing.approved.nonce),
        message_hash: felt_to_hex(&outgoing.approved.hash),
        execute_before: u64::try_from(outgoing.approved.execute_before).unwrap_or(u64::MAX),
        body: body_text,
        sent_at: now,
        // Whole seconds, rounded up, plus one for the clocks' granularity.
        sending_until: now
            .saturating_add(ports.remaining_ms().div_ceil(1000))
            .saturating_add(1),
        answer_lost: false,
        idempotency_key: outgoing.intent.key,
    };
    mark_pending(env, ports, public_key, &pending)?;
    let sent = remote::execute_sponsored(env, ports, pending.body.as_bytes())?;
    settle_sent(env, ports, public_key, &pending, sent)
}

/// Refuse a nonce `record` knows: held by a pending transaction, or consumed
/// by a settled one. A backend handing it out again would have this
/// signature refused, or taken for the earlier transaction.
pub(crate) fn check_nonce_is_fresh(record: &SessionRecord, nonce: &Felt) -> Result<()> {
    let hex = felt_to_hex(nonce);
    let known = record.pending.iter().any(|p| p.nonce == hex)
        || record.settled.iter().any(|s| s.nonce == hex);
    if known {
        return Err(SessionError::response(format!(
            "the backend offered nonce {hex}, which an earlier transaction of this wallet \
             already holds; nothing was signed or sent"
        )));
    }
    Ok(())
}

/// Add `pending` to the record (compare-and-swap), refusing when the same
/// intent is already pending (sent meanwhile by another instance), when its
/// nonce is already known, or when the session cannot take it any more.
fn mark_pending<P: Ports>(
    env: &Env<'_>,
    ports: &mut P,
    public_key: &str,
    pending: &PendingTransaction,
) -> Result<()> {
    let intent = Intent {
        calls_digest: pending.calls_digest.clone(),
        key: pending.idempotency_key.clone(),
    };
    let nonce = approved_nonce(pending)?;
    let now = pending.sent_at;
    update(
        env,
        ports,
        public_key,
        "the stored session keeps changing concurrently; nothing was sent",
        |record| {
            if record.pending.iter().any(|p| intent.names_pending(p)) {
                return Err(SessionError::TransactionPending(
                    "the same request was sent meanwhile (by another instance) and is pending; \
                     nothing was sent"
                        .into(),
                ));
            }
            prune_settled(record, now);
            if record
                .settled
                .iter()
                .any(|s| intent.names(&s.calls_digest, s.idempotency_key.as_ref()))
            {
                return Err(SessionError::TransactionPending(
                    "the same request was settled meanwhile (by another instance); nothing was \
                     sent: retry it to read its outcome"
                        .into(),
                ));
            }
            check_nonce_is_fresh(record, &nonce)?;
            if record.pending.len() >= MAX_PENDING {
                return Err(SessionError::TransactionPending(format!(
                    "{MAX_PENDING} transactions of this wallet are pending; nothing was sent"
                )));
            }
            if pending.operation == PendingOperation::Execute {
                check_execute_still_allowed(record)?;
            }
            record.pending.push(pending.clone());
            Ok(true)
        },
    )
}

/// Apply `change` to the stored record of session `public_key` and write it
/// with compare-and-swap, again on the new record whenever another writer got
/// there first (at most 16 times, then a store error saying `exhausted`).
/// `change` returns `Ok(false)` when there is nothing to write.
fn update<P: Ports>(
    env: &Env<'_>,
    ports: &mut P,
    public_key: &str,
    exhausted: &str,
    mut change: impl FnMut(&mut SessionRecord) -> Result<bool>,
) -> Result<()> {
    for _ in 0..16 {
        let loaded = stored::load(env, ports)?;
        let mut record = current(loaded.record, public_key)?;
        if !change(&mut record)? {
            return Ok(());
        }
        if stored::swap(env, ports, loaded.raw.as_deref(), Some(&mut record))? {
            return Ok(());
        }
    }
    Err(SessionError::Store(exhausted.to_owned()))
}

/// The checks an execute passed before signing, again on the record it is
/// about to be marked pending in: other instances may have used the last
/// calls or revoked the session meanwhile. A refused execute was signed but
/// is never sent.
fn check_execute_still_allowed(record: &SessionRecord) -> Result<()> {
    if record.revoked_tx.is_some() {
        return Err(SessionError::Revoked(
            "the session was revoked meanwhile (by another instance); nothing was sent".into(),
        ));
    }
    if let Some(registration) = &record.registration {
        if record.calls_exhausted(registration.max_calls) {
            return Err(SessionError::MaxCallsExceeded(format!(
                "all {} calls of the session were used or put in flight meanwhile (by other \
                 instances); nothing was sent",
                registration.max_calls
            )));
        }
    }
    Ok(())
}

/// The record, if it is still the session `public_key`.
fn current(record: Option<SessionRecord>, public_key: &str) -> Result<SessionRecord> {
    match record {
        Some(r) if r.public_key == public_key => Ok(r),
        Some(_) => Err(SessionError::Store(
            "the session was replaced concurrently".into(),
        )),
        None => Err(SessionError::Store(
            "the session was cleared concurrently".into(),
        )),
    }
}

fn settle_sent<P: Ports>(
    env: &Env<'_>,
    ports: &mut P,
    public_key: &str,
    pending: &PendingTransaction,
    sent: Sent,
) -> Result<String> {
    match sent {
        Sent::Accepted(hash) if pending.operation == PendingOperation::Execute => {
            let accepted_at = ports.now_unix();
            *env.unsettled.borrow_mut() = Some(Accepted {
                public_key: public_key.to_owned(),
                pending: pending.clone(),
                hash: hash.clone(),
                accepted_at,
            });
            Ok(hash)
        }
        Sent::Accepted(hash) => {
            if let Err(err) = land(env, ports, public_key, pending, Some(&hash), true) {
                ports.warn(&format!(
                    "transaction {hash} was accepted but the local session record could not be updated ({err}); \
                     the next operation reconciles it with the account"
                ));
            }
            Ok(hash)
        }
        Sent::Refused(err) => settle_refused(env, ports, public_key, pending, err),
        Sent::Unknown(err) => {
            // Best effort: let any instance resend it at once (otherwise
            // they wait for the end of this send's window).
            let _ = mark_answer_lost(env, ports, public_key, pending);
            Err(lost_answer(&err, pending))
        }
    }
}

/// The backend refused `pending`. Refused, yet the account may have consumed
/// its nonce: another instance resent this very body after its sender's
/// window (a slow first send), the backend failed after executing it, or the
/// backend handed out a nonce an earlier transaction consumed. Only the
/// account's own record of *this* transaction (the session's call count, the
/// registered terms) says it landed.
fn settle_refused<P: Ports>(
    env: &Env<'_>,
    ports: &mut P,
    public_key: &str,
    pending: &PendingTransaction,
    err: SessionError,
) -> Result<String> {
    let consumed = remote::outside_nonce_is_unused(env, ports, &approved_nonce(pending)?)
        .map(|unused| !unused);
    if matches!(consumed, Ok(false)) {
        // Best effort: a pending record left behind is reconciled later.
        let _ = clear(env, ports, public_key, pending);
        return Err(err);
    }
    let verdict = match consumed {
        Ok(_) => stored::load(env, ports).and_then(|loaded| {
            let record = current(loaded.record, public_key)?;
            let mut view = ChainView::default();
            judge(env, ports, &record, pending, &[pending], true, &mut view)
        }),
        Err(e) => Err(e),
    };
    match verdict {
        Ok(Verdict::Landed) => {
            let _ = land(env, ports, public_key, pending, None, true);
            Err(SessionError::AlreadyExecuted(format!(
                "the backend refused transaction with nonce {} ({err}) but the account shows it \
                 executed (sent again by another instance, or executed before the error). It \
                 was counted once; its hash is unknown; do not send it again",
                pending.nonce
            )))
        }
        Ok(Verdict::NotLanded) => {
            let _ = clear(env, ports, public_key, pending);
            Err(err)
        }
        Ok(Verdict::CannotTell) | Err(_) => {
            let _ = mark_answer_lost(env, ports, public_key, pending);
            Err(SessionError::TransactionPending(format!(
                "the backend refused transaction with nonce {} ({err}), but the account reports \
                 its nonce consumed and cannot yet tell whether this transaction is the one that \
                 consumed it; it is kept as pending until its window closes at {} and a retry \
                 of the same request never signs a second transaction",
                pending.nonce, pending.execute_before
            )))
        }
    }
}

/// The SNIP-9 nonce of `pending`.
fn approved_nonce(pending: &PendingTransaction) -> Result<Felt> {
    parse_felt(&pending.nonce)
        .map_err(|_| SessionError::Store("stored pending nonce is not a felt".into()))
}

/// Mark `pending` as sent without an answer (see
/// [`PendingTransaction::may_resend`]).
fn mark_answer_lost<P: Ports>(
    env: &Env<'_>,
    ports: &mut P,
    public_key: &str,
    pending: &PendingTransaction,
) -> Result<()> {
    update(env, ports, public_key, KEEPS_CHANGING, |record| {
        // Not there: settled meanwhile by another instance.
        Ok(match record.pending.iter_mut().find(|p| *p == pending) {
            Some(entry) if !entry.answer_lost => {
                entry.answer_lost = true;
                true
            }
            _ => false,
        })
    })
}

fn lost_answer(err: &SessionError, pending: &PendingTransaction) -> SessionError {
    SessionError::TransactionPending(format!(
        "the answer to transaction with nonce {} was lost ({err}); it may still land until {}. \
         It is kept as pending: the next operation on this wallet checks it with the account \
         first, and retrying the same request never signs a second transaction",
        pending.nonce, pending.execute_before
    ))
}

/// Apply the effect of a landed `pending` to the record and clear it, once
/// (nothing happens if the record no longer holds this pending
/// transaction), leaving a tombstone that answers its retries
/// ([`leaves_tombstone`]). `by_sender`: settled by its own sender, on the
/// backend's answer to its send.
fn land<P: Ports>(
    env: &Env<'_>,
    ports: &mut P,
    public_key: &str,
    pending: &PendingTransaction,
    hash: Option<&str>,
    by_sender: bool,
) -> Result<()> {
    let now = ports.now_unix();
    change_if_pending(env, ports, public_key, pending, |r| {
        apply(r, &pending.operation, hash);
        if leaves_tombstone(pending, by_sender) {
            let outcome = SettledOutcome::Landed {
                transaction_hash: hash.map(str::to_owned),
            };
            remember_settled(r, pending, outcome, now);
        }
    })
}

/// Whether settling `pending` leaves a tombstone. Always, when anyone but its
/// own sender settles it (that one cannot know whether it is the intent's
/// caller or one of several retrying it), and for a keyed intent. Its own
/// sender writes an owner operation's landing before its caller holds the
/// hash, so a registration or policy change leaves one too (a retry after a
/// crash in between is answered with that hash); a revocation needs none (the
/// revoked record answers every retry with `SESSION_REVOKED`). An execute's
/// own answer settles through [`Accepted::fold_into`] instead.
fn leaves_tombstone(pending: &PendingTransaction, by_sender: bool) -> bool {
    !by_sender || pending.idempotency_key.is_some() || pending.operation != PendingOperation::Revoke
}

/// Settle `pending` as "cannot tell whether it landed" (its window closed):
/// no effect recorded, a tombstone answers its retry.
fn settle_unknown<P: Ports>(
    env: &Env<'_>,
    ports: &mut P,
    public_key: &str,
    pending: &PendingTransaction,
) -> Result<()> {
    let now = ports.now_unix();
    change_if_pending(env, ports, public_key, pending, |r| {
        remember_settled(r, pending, SettledOutcome::Unknown, now);
    })
}

/// Clear `pending` without applying its effect.
fn clear<P: Ports>(
    env: &Env<'_>,
    ports: &mut P,
    public_key: &str,
    pending: &PendingTransaction,
) -> Result<()> {
    change_if_pending(env, ports, public_key, pending, |_| {})
}

fn change_if_pending<P: Ports>(
    env: &Env<'_>,
    ports: &mut P,
    public_key: &str,
    pending: &PendingTransaction,
    change: impl Fn(&mut SessionRecord),
) -> Result<()> {
    update(env, ports, public_key, KEEPS_CHANGING, |record| {
        let Some(index) = record.pending.iter().position(|p| p == pending) else {
            // Someone else settled it already: its effect is recorded once.
            return Ok(false);
        };
        record.pending.remove(index);
        change(record);
        Ok(true)
    })
}

/// The local effect of a landed transaction.
fn apply(record: &mut SessionRecord, operation: &PendingOperation, hash: Option<&str>) {
    match operation {
        PendingOperation::Execute => {
            record.calls_used = record.calls_used.saturating_add(1);
        }
        PendingOperation::Register {
            valid_until,
            max_calls,
            allowed_entrypoints,
        } => {
            record.valid_until = *valid_until;
            record.calls_used = 0;
            record.registration = Some(Registration {
                valid_until: *valid_until,
                max_calls: *max_calls,
                allowed_entrypoints: allowed_entrypoints.clone(),
                transaction_hash: hash.map(str::to_owned),
            });
        }
        PendingOperation::Revoke => {
            record.revoked_tx = Some(hash.unwrap_or_default().to_owned());
        }
        PendingOperation::Policy => {}
    }
}

/// What the account shows of a pending transaction whose nonce it reports
/// consumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// The account's record of this very transaction shows it landed.
    Landed,
    /// It did not land and never will (refused by the backend, or its
    /// window closed) and the account's record agrees.
    NotLanded,
    /// The nonce reads consumed but nothing ties that to this transaction.
    CannotTell,
}

/// The session's on-chain data, read at most once per reconciliation, after
/// the nonces (so a landing between the two reads shows in the count).
#[derive(Default)]
struct ChainView {
    data: Option<SessionData>,
}

impl ChainView {
    fn get<P: Ports>(
        &mut self,
        env: &Env<'_>,
        ports: &mut P,
        record: &SessionRecord,
    ) -> Result<&SessionData> {
        let data = match self.data.take() {
            Some(data) => data,
            None => {
                let public_key = parse_felt(&record.public_key).map_err(|_| {
                    SessionError::Store("stored session public key is not a felt".into())
                })?;
                remote::session_data(env, ports, &public_key)?
            }
        };
        Ok(self.data.insert(data))
    }
}

/// Whether `pending`, one of `consumed` (the record's pending transactions
/// whose nonces the account reports consumed), landed. Evidence tied to it:
/// for an execute, the session's call count on chain having moved past the
/// store's by at least as many as the executes that could have consumed
/// those nonces; for a registration, the registered terms on chain; for a
/// revocation, the session zeroed on chain. `refused`: the backend refused
/// this very transaction.
fn judge<P: Ports>(
    env: &Env<'_>,
    ports: &mut P,
    record: &SessionRecord,
    pending: &PendingTransaction,
    consumed: &[&PendingTransaction],
    refused: bool,
    view: &mut ChainView,
) -> Result<Verdict> {
    let now = ports.now_unix();
    let closed = now > pending.execute_before.saturating_add(MAX_CLOCK_SKEW_SECS);
    let otherwise = if refused || closed {
        Verdict::NotLanded
    } else {
        Verdict::CannotTell
    };
    Ok(match &pending.operation {
        PendingOperation::Execute => {
            let candidates = consumed
                .iter()
                .filter(|p| p.operation == PendingOperation::Execute)
                .count();
            let data = view.get(env, ports, record)?;
            let moved = usize::try_from(data.calls_used.saturating_sub(record.calls_used))
                .unwrap_or(usize::MAX);
            if candidates > 0 && moved >= candidates {
                Verdict::Landed
            } else if moved == 0 {
                otherwise
            } else {
                Verdict::CannotTell
            }
        }
        PendingOperation::Register {
            valid_until,
            max_calls,
            ..
        } => {
            let data = view.get(env, ports, record)?;
            if data.valid_until == *valid_until && data.max_calls == *max_calls {
                Verdict::Landed
            } else {
                otherwise
            }
        }
        PendingOperation::Revoke => {
            let data = view.get(env, ports, record)?;
            if record.registration.is_some() && data.valid_until == 0 {
                Verdict::Landed
            } else {
                otherwise
            }
        }
        // No on-chain record of its own to read: only its window tells.
        PendingOperation::Policy => Verdict::CannotTell,
    })
}

/// What reconciling found for one pending transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reconciled {
    /// It landed (hash known when a resubmission was answered); its effect
    /// is recorded.
    Landed {
        /// What names it.
        intent: Intent,
        /// Its SNIP-9 nonce.
        nonce: String,
        /// Its hash, when known.
        hash: Option<String>,
    },
    /// It never landed and never will; dropped.
    Dropped {
        /// What names it.
        intent: Intent,
    },
    /// Its window closed and the account cannot tell whether it landed.
    Unknown {
        /// What names it.
        intent: Intent,
        /// Its SNIP-9 nonce.
        nonce: String,
    },
    /// It may still land; this says why and until when.
    StillPending {
        /// What names it.
        intent: Intent,
        /// Explanation.
        reason: String,
    },
}

impl Reconciled {
    /// The intent it is about.
    fn intent(&self) -> &Intent {
        match self {
            Self::Landed { intent, .. }
            | Self::Dropped { intent }
            | Self::Unknown { intent, .. }
            | Self::StillPending { intent, .. } => intent,
        }
    }
}

fn intent_of(pending: &PendingTransaction) -> Intent {
    Intent {
        calls_digest: pending.calls_digest.clone(),
        key: pending.idempotency_key.clone(),
    }
}

/// Reconcile every pending transaction of the wallet with the account.
/// With `resubmit`, a transaction whose nonce is unused and whose window is
/// open is sent again with the same signed body. Whatever settles here
/// leaves a tombstone: the operation reconciling cannot know whether it is
/// the intent's own caller or one of several retrying it (other processes,
/// other hosts), so every retry until the window closes gets the same answer.
pub(crate) fn reconcile<P: Ports>(
    env: &Env<'_>,
    ports: &mut P,
    resubmit: bool,
) -> Result<Vec<Reconciled>> {
    let Some(record) = stored::load(env, ports)?.record else {
        return Ok(Vec::new());
    };
    if record.pending.is_empty() {
        return Ok(Vec::new());
    }
    let mut unused = Vec::with_capacity(record.pending.len());
    for pending in &record.pending {
        let nonce = approved_nonce(pending)?;
        unused.push(remote::outside_nonce_is_unused(env, ports, &nonce)?);
    }
    let consumed: Vec<&PendingTransaction> = record
        .pending
        .iter()
        .zip(&unused)
        .filter(|(_, unused)| !**unused)
        .map(|(p, _)| p)
        .collect();
    let mut view = ChainView::default();
    let mut outcomes = Vec::with_capacity(record.pending.len());
    for (pending, unused) in record.pending.iter().zip(unused) {
        outcomes.push(if unused {
            reconcile_unused(env, ports, &record, pending, resubmit)?
        } else {
            reconcile_consumed(env, ports, &record, pending, &consumed, &mut view)?
        });
    }
    Ok(outcomes)
}

/// Reconcile a pending transaction whose nonce the account reports consumed.
fn reconcile_consumed<P: Ports>(
    env: &Env<'_>,
    ports: &mut P,
    record: &SessionRecord,
    pending: &PendingTransaction,
    consumed: &[&PendingTransaction],
    view: &mut ChainView,
) -> Result<Reconciled> {
    let intent = intent_of(pending);
    let public_key = &record.public_key;
    match judge(env, ports, record, pending, consumed, false, view)? {
        Verdict::Landed => {
            land(env, ports, public_key, pending, None, false)?;
            Ok(Reconciled::Landed {
                intent,
                nonce: pending.nonce.clone(),
                hash: None,
            })
        }
        Verdict::NotLanded => {
            clear(env, ports, public_key, pending)?;
            Ok(Reconciled::Dropped { intent })
        }
        Verdict::CannotTell
            if ports.now_unix() > pending.execute_before.saturating_add(MAX_CLOCK_SKEW_SECS) =>
        {
            settle_unknown(env, ports, public_key, pending)?;
            Ok(Reconciled::Unknown {
                intent,
                nonce: pending.nonce.clone(),
            })
        }
        Verdict::CannotTell => Ok(Reconciled::StillPending {
            intent,
            reason: format!(
                "transaction with nonce {} may have landed: the account reports its nonce \
                 consumed, but its record of the session does not show this transaction yet; it \
                 stays pending until its window closes at {}",
                pending.nonce, pending.execute_before
            ),
        }),
    }
}

/// Reconcile a pending transaction whose nonce is still unused.
fn reconcile_unused<P: Ports>(
    env: &Env<'_>,
    ports: &mut P,
    record: &SessionRecord,
    pending: &PendingTransaction,
    resubmit: bool,
) -> Result<Reconciled> {
    let intent = intent_of(pending);
    let now = ports.now_unix();
    if now > pending.execute_before.saturating_add(MAX_CLOCK_SKEW_SECS) {
        clear(env, ports, &record.public_key, pending)?;
        return Ok(Reconciled::Dropped { intent });
    }
    if !resubmit {
        return Ok(Reconciled::StillPending {
            intent,
            reason: format!(
                "transaction with nonce {} may still land until {}",
                pending.nonce, pending.execute_before
            ),
        });
    }
    if !pending.may_resend(now) {
        // Its sender may still be waiting for the answer to its first send:
        // a resend now would race it.
        return Ok(Reconciled::StillPending {
            intent,
            reason: format!(
                "transaction with nonce {} is being sent (until {} at the latest) and may \
                 land until {}",
                pending.nonce, pending.sending_until, pending.execute_before
            ),
        });
    }
    let reason = match remote::execute_sponsored(env, ports, pending.body.as_bytes())? {
        Sent::Accepted(hash) => {
            land(env, ports, &record.public_key, pending, Some(&hash), false)?;
            return Ok(Reconciled::Landed {
                intent,
                nonce: pending.nonce.clone(),
                hash: Some(hash),
            });
        }
        // Refused now, perhaps because the first send is being processed:
        // the next reconciliation reads the account again.
        Sent::Refused(err) => format!("its resubmission was refused ({err})"),
        Sent::Unknown(err) => format!("its resubmission got no answer ({err})"),
    };
    Ok(Reconciled::StillPending {
        intent,
        reason: format!(
            "transaction with nonce {} may still land until {}: {reason}",
            pending.nonce, pending.execute_before
        ),
    })
}

/// `ALREADY_EXECUTED` for the intent whose transaction has `nonce`.
fn already_executed(nonce: &str) -> SessionError {
    SessionError::AlreadyExecuted(format!(
        "this request already landed as the transaction with nonce {nonce}, in an earlier \
         attempt whose answer was lost; it was counted once and nothing was signed or sent \
         again (its hash is unknown)"
    ))
}

/// `TRANSACTION_PENDING` for an intent whose window closed without the
/// account telling whether it landed.
fn unknown_outcome(nonce: &str) -> SessionError {
    SessionError::TransactionPending(format!(
        "this request's transaction with nonce {nonce} can no longer land, but the account \
         cannot tell whether it did (its nonce reads consumed; the session's call count does \
         not show it); nothing was signed. Check the wallet's transactions; to send it again \
         on purpose, name it with a new idempotency key"
    ))
}

/// Reconcile before signing a transaction for `intent`: the one place the
/// exactly-once rule is enforced.
///
/// `Ok(Some(hash))` when `intent` already landed with a known hash (the
/// caller returns it); `Ok(None)` when the caller may go on and sign;
/// otherwise `TRANSACTION_PENDING` (it may still land, or cannot be told),
/// `ALREADY_EXECUTED` (it landed, hash unknown) or `INVALID_INPUT` (its
/// idempotency key names other calls).
pub(crate) fn settle_before_signing<P: Ports>(
    env: &Env<'_>,
    ports: &mut P,
    intent: &Intent,
) -> Result<Option<String>> {
    for outcome in reconcile(env, ports, true)? {
        let theirs = outcome.intent();
        if !intent.names(&theirs.calls_digest, theirs.key.as_ref()) {
            // Other intents settle on their own; they do not block this one.
            continue;
        }
        intent.check_same_calls(&theirs.calls_digest)?;
        match outcome {
            Reconciled::Landed {
                hash: Some(hash), ..
            } => return Ok(Some(hash)),
            Reconciled::Landed {
                nonce, hash: None, ..
            } => return Err(already_executed(&nonce)),
            Reconciled::StillPending { reason, .. } => {
                return Err(SessionError::TransactionPending(format!(
                    "{reason}; nothing new is signed for this request while it may land"
                )))
            }
            Reconciled::Unknown { nonce, .. } => return Err(unknown_outcome(&nonce)),
            Reconciled::Dropped { .. } => {}
        }
    }
    answer_from_tombstone(env, ports, intent)
}

/// The answer a settled intent left for its retry, if any.
fn answer_from_tombstone<P: Ports>(
    env: &Env<'_>,
    ports: &mut P,
    intent: &Intent,
) -> Result<Option<String>> {
    let Some(record) = stored::load(env, ports)?.record else {
        return Ok(None);
    };
    let now = ports.now_unix();
    let Some(found) = record
        .settled
        .iter()
        .find(|s| s.keep_until >= now && intent.names(&s.calls_digest, s.idempotency_key.as_ref()))
    else {
        return Ok(None);
    };
    intent.check_same_calls(&found.calls_digest)?;
    match &found.outcome {
        SettledOutcome::Landed {
            transaction_hash: Some(hash),
        } => Ok(Some(hash.clone())),
        SettledOutcome::Landed {
            transaction_hash: None,
        } => Err(already_executed(&found.nonce)),
        SettledOutcome::Unknown => Err(unknown_outcome(&found.nonce)),
    }
}

/// Refuse to sign for a session whose store is behind the chain: the account
/// counts more session calls than the store has recorded, used or in flight,
/// so a transaction the store no longer remembers (a restored snapshot, a
/// failover to a lagging replica, a lost write) may have landed, and its
/// retry would be signed again. Only values consistent with the registered
/// terms are compared (as `get-session-status` remembers them), so a node
/// reporting impossible values cannot lock the session.
pub(crate) fn check_store_not_behind<P: Ports>(
    env: &Env<'_>,
    ports: &mut P,
    record: &SessionRecord,
    public_key: &Felt,
) -> Result<()> {
    let Some(registration) = &record.registration else {
        return Ok(());
    };
    let data = remote::session_data(env, ports, public_key)?;
    if data.valid_until != registration.valid_until || data.max_calls != registration.max_calls {
        return Ok(());
    }
    let known = |r: &SessionRecord| r.calls_used.saturating_add(r.pending_executes());
    if data.calls_used <= known(record) {
        return Ok(());
    }
    // Another instance may have recorded a transaction since `record` was read.
    if let Some(fresh) = stored::load(env, ports)?.record {
        if fresh.public_key == record.public_key && data.calls_used <= known(&fresh) {
            return Ok(());
        }
    }
    Err(SessionError::TransactionPending(format!(
        "the session store is behind the chain: the account counts {} calls of this session, \
         the store knows of {} used and {} in flight. A transaction the store no longer \
         remembers (a restored snapshot, a failover to a lagging replica, a lost write) may \
         have landed, so nothing was signed. Check the wallet's recent transactions, then run \
         get-session-status to accept the account's count",
        data.calls_used,
        record.calls_used,
        record.pending_executes()
    )))
}
