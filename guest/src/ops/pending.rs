//! Exactly once: a signed transaction is recorded as pending before it is
//! sent, and an operation on the wallet first reconciles a pending one with
//! the account (SNIP-9 `is_valid_outside_execution_nonce`) instead of signing
//! anything new while the first may still land.
//!
//! | the account says | window | what happens |
//! |---|---|---|
//! | nonce consumed | any | it landed: its effect is recorded once, pending cleared |
//! | nonce unused | open | the same signed body is sent again (never a new signature) |
//! | nonce unused | closed (+ skew allowance) | it can never land: pending dropped |
//!
//! A retry of the same request (same calls) reports the pending one's
//! outcome: its hash when known, `ALREADY_EXECUTED` when it landed with its
//! answer lost, `TRANSACTION_PENDING` while it may still land. Different
//! requests do not wait for each other (their nonces are independent), but a
//! request is never pending twice: two instances racing on the same calls
//! get one transaction.

use super::ports::Ports;
use super::remote::{self, Sent};
use super::{stored, Env};
use crate::crypto::felt::{felt_to_hex, parse_felt, Felt};
use crate::protocol::error::{Result, SessionError};
use crate::protocol::record::{PendingOperation, PendingTransaction, Registration, SessionRecord};
use crate::protocol::typed_data_check::{Approved, MAX_CLOCK_SKEW_SECS};

/// The store error when compare-and-swap keeps losing to other writers.
const KEEPS_CHANGING: &str = "the stored session keeps changing concurrently";

/// Most transactions of one wallet pending at once.
pub(crate) const MAX_PENDING: usize = 16;

/// A transaction about to be signed and sent.
pub(crate) struct Outgoing<'a> {
    /// Its effect once landed.
    pub operation: PendingOperation,
    /// Digest of the requested calls.
    pub calls_digest: String,
    /// The approved outside execution.
    pub approved: &'a Approved,
    /// The exact request body (signature included).
    pub body: Vec<u8>,
}

/// An execute this session saw accepted, whose landing (one more call used,
/// pending entry removed) is folded into the next write of the record
/// instead of being written on its own ([`stored::load`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Accepted {
    /// The session it belongs to.
    public_key: String,
    /// The pending entry as written before sending.
    pending: PendingTransaction,
    /// Its transaction hash.
    hash: String,
}

impl Accepted {
    /// Its transaction hash.
    pub(crate) fn hash(&self) -> &str {
        &self.hash
    }

    /// True when `record` still holds it as pending.
    pub(crate) fn is_pending_in(&self, record: &SessionRecord) -> bool {
        record.public_key == self.public_key && record.pending.contains(&self.pending)
    }

    /// Apply its landing to `record` if `record` still holds it as pending;
    /// returns whether it did.
    pub(crate) fn fold_into(&self, record: &mut SessionRecord) -> bool {
        let Some(index) = (record.public_key == self.public_key)
            .then(|| record.pending.iter().position(|p| p == &self.pending))
            .flatten()
        else {
            return false;
        };
        apply(record, &self.pending.operation, Some(&self.hash));
        record.pending.remove(index);
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
/// - refused before processing (4xx): pending cleared, the error returned;
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
        calls_digest: outgoing.calls_digest,
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
    };
    mark_pending(env, ports, public_key, &pending)?;
    let sent = remote::execute_sponsored(env, ports, pending.body.as_bytes())?;
    settle_sent(env, ports, public_key, &pending, sent)
}

/// Add `pending` to the record (compare-and-swap), refusing when the same
/// request is already pending (sent meanwhile by another instance).
fn mark_pending<P: Ports>(
    env: &Env<'_>,
    ports: &mut P,
    public_key: &str,
    pending: &PendingTransaction,
) -> Result<()> {
    update(
        env,
        ports,
        public_key,
        "the stored session keeps changing concurrently; nothing was sent",
        |record| {
            if record
                .pending
                .iter()
                .any(|p| p.calls_digest == pending.calls_digest)
            {
                return Err(SessionError::TransactionPending(
                    "the same request was sent meanwhile (by another instance) and is pending; \
                     nothing was sent"
                        .into(),
                ));
            }
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
        if stored::swap(env, ports, loaded.raw.as_deref(), Some(&record))? {
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
            *env.unsettled.borrow_mut() = Some(Accepted {
                public_key: public_key.to_owned(),
                pending: pending.clone(),
                hash: hash.clone(),
            });
            Ok(hash)
        }
        Sent::Accepted(hash) => {
            if let Err(err) = land(env, ports, public_key, pending, Some(&hash)) {
                ports.warn(&format!(
                    "transaction {hash} was accepted but the local session record could not be updated ({err}); \
                     the next operation reconciles it with the account"
                ));
            }
            Ok(hash)
        }
        Sent::Refused(err) => {
            // Refused, yet the account may have consumed the nonce: another
            // instance resent this very body after its sender's window (a
            // slow first send), or the backend failed after executing it.
            if remote::outside_nonce_is_unused(env, ports, &approved_nonce(pending)?)
                .is_ok_and(|unused| !unused)
            {
                let _ = land(env, ports, public_key, pending, None);
                return Err(SessionError::AlreadyExecuted(format!(
                    "the backend refused this transaction ({err}) but the account consumed its \
                     nonce: it landed (sent again by another instance, or executed before the \
                     error). It was counted once; its hash is unknown; do not send it again"
                )));
            }
            // Best effort: a pending record left behind is reconciled later.
            let _ = clear(env, ports, public_key, pending);
            Err(err)
        }
        Sent::Unknown(err) => {
            // Best effort: let any instance resend it at once (otherwise
            // they wait for the end of this send's window).
            let _ = mark_answer_lost(env, ports, public_key, pending);
            Err(lost_answer(&err, pending))
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
            Some(entry) => {
                entry.answer_lost = true;
                true
            }
            None => false,
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

/// Apply the effect of a landed `pending` to the record and clear it, once:
/// nothing happens if the record no longer holds this pending transaction.
fn land<P: Ports>(
    env: &Env<'_>,
    ports: &mut P,
    public_key: &str,
    pending: &PendingTransaction,
    hash: Option<&str>,
) -> Result<()> {
    change_if_pending(env, ports, public_key, pending, |r| {
        apply(r, &pending.operation, hash);
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
        change(record);
        record.pending.remove(index);
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

/// What reconciling found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reconciled {
    /// The pending transaction landed (hash known when a resubmission was
    /// answered); its effect is recorded.
    Landed {
        /// Digest of its requested calls.
        calls_digest: String,
        /// Its hash, when known.
        hash: Option<String>,
    },
    /// Its window closed before it landed: it never will; dropped.
    Dropped {
        /// Digest of its requested calls.
        calls_digest: String,
    },
    /// It may still land; this says why and until when.
    StillPending {
        /// Digest of its requested calls.
        calls_digest: String,
        /// Explanation.
        reason: String,
    },
}

/// Reconcile every pending transaction of the wallet with the account.
/// With `resubmit`, a transaction whose nonce is unused and whose window is
/// open is sent again with the same signed body.
pub(crate) fn reconcile<P: Ports>(
    env: &Env<'_>,
    ports: &mut P,
    resubmit: bool,
) -> Result<Vec<Reconciled>> {
    let Some(record) = stored::load(env, ports)?.record else {
        return Ok(Vec::new());
    };
    let mut outcomes = Vec::with_capacity(record.pending.len());
    for pending in &record.pending {
        outcomes.push(reconcile_one(env, ports, &record, pending, resubmit)?);
    }
    Ok(outcomes)
}

/// Reconcile one pending transaction of `record`.
fn reconcile_one<P: Ports>(
    env: &Env<'_>,
    ports: &mut P,
    record: &SessionRecord,
    pending: &PendingTransaction,
    resubmit: bool,
) -> Result<Reconciled> {
    let digest = pending.calls_digest.clone();
    let nonce = approved_nonce(pending)?;
    if !remote::outside_nonce_is_unused(env, ports, &nonce)? {
        land(env, ports, &record.public_key, pending, None)?;
        return Ok(Reconciled::Landed {
            calls_digest: digest,
            hash: None,
        });
    }
    let now = ports.now_unix();
    if now > pending.execute_before.saturating_add(MAX_CLOCK_SKEW_SECS) {
        clear(env, ports, &record.public_key, pending)?;
        return Ok(Reconciled::Dropped {
            calls_digest: digest,
        });
    }
    if !resubmit {
        return Ok(Reconciled::StillPending {
            calls_digest: digest,
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
            calls_digest: digest,
            reason: format!(
                "transaction with nonce {} is being sent (until {} at the latest) and may \
                 land until {}",
                pending.nonce, pending.sending_until, pending.execute_before
            ),
        });
    }
    let reason = match remote::execute_sponsored(env, ports, pending.body.as_bytes())? {
        Sent::Accepted(hash) => {
            land(env, ports, &record.public_key, pending, Some(&hash))?;
            return Ok(Reconciled::Landed {
                calls_digest: digest,
                hash: Some(hash),
            });
        }
        Sent::Refused(err) => {
            // Refused now, perhaps because the first send is being processed:
            // ask the account once more before keeping it pending.
            if !remote::outside_nonce_is_unused(env, ports, &nonce)? {
                land(env, ports, &record.public_key, pending, None)?;
                return Ok(Reconciled::Landed {
                    calls_digest: digest,
                    hash: None,
                });
            }
            format!("its resubmission was refused ({err})")
        }
        Sent::Unknown(err) => format!("its resubmission got no answer ({err})"),
    };
    Ok(Reconciled::StillPending {
        calls_digest: digest,
        reason: format!(
            "transaction with nonce {} may still land until {}: {reason}",
            pending.nonce, pending.execute_before
        ),
    })
}

/// Reconcile before a new transaction for the request `calls_digest`.
///
/// `Ok(Some(hash))` when this request is the retry of the pending transaction
/// and it landed with a known hash (the caller returns it); `Ok(None)` when
/// the caller may go on and sign; otherwise `TRANSACTION_PENDING` (something
/// may still land) or `ALREADY_EXECUTED` (this request landed, hash unknown).
pub(crate) fn settle_before_signing<P: Ports>(
    env: &Env<'_>,
    ports: &mut P,
    calls_digest: &str,
) -> Result<Option<String>> {
    for outcome in reconcile(env, ports, true)? {
        match outcome {
            Reconciled::Landed {
                calls_digest: d,
                hash,
            } if d == calls_digest => {
                return match hash {
                    Some(hash) => Ok(Some(hash)),
                    None => Err(SessionError::AlreadyExecuted(
                        "this request already landed in an earlier attempt whose answer was \
                         lost (the account consumed its nonce); it was counted once and nothing \
                         was signed or sent again"
                            .into(),
                    )),
                };
            }
            Reconciled::StillPending {
                calls_digest: d,
                reason,
            } if d == calls_digest => {
                return Err(SessionError::TransactionPending(format!(
                    "{reason}; nothing new is signed for this request while it may land"
                )));
            }
            // Other requests settle on their own; they do not block this one.
            _ => {}
        }
    }
    Ok(None)
}
