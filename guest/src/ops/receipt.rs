//! `wait-for-transaction`: poll the receipt until the chain accepted the
//! transaction (succeeded or reverted) or the time runs out.

use super::ports::Ports;
use super::{remote, Env};
use crate::crypto::felt::parse_felt;
use crate::protocol::error::{Result, SessionError};
use crate::protocol::model::{SessionContext, TransactionReceipt};

/// First delay between two polls; doubled up to [`MAX_POLL_MS`].
const FIRST_POLL_MS: u64 = 100;
/// Longest delay between two polls.
const MAX_POLL_MS: u64 = 2_000;

/// Poll the receipt of `hash` for at most `timeout_ms` (and at most the
/// operation's time budget). Running out of time is `TRANSACTION_PENDING`
/// naming the hash: the transaction may still be accepted later. A node that
/// fails (transport errors, 5xx, errors or answers we cannot read) is polled
/// again until the time runs out; its last error is named in the answer.
pub(crate) fn wait_for_transaction<P: Ports>(
    ctx: &SessionContext,
    hash: &str,
    timeout_ms: u64,
    ports: &mut P,
) -> Result<TransactionReceipt> {
    let env = Env::new(ctx)?;
    env.require_urls()?;
    let hash = parse_felt(hash)
        .map_err(|e| SessionError::input(format!("invalid transaction hash: {e}")))?;
    let mut left = timeout_ms.min(ports.remaining_ms());
    let mut delay = FIRST_POLL_MS;
    loop {
        let before = ports.remaining_ms();
        let last_error = match remote::transaction_receipt(&env, ports, &hash) {
            Ok(Some(receipt)) => return Ok(receipt),
            Ok(None) => None,
            Err(err) => Some(err),
        };
        left = left.saturating_sub(before.saturating_sub(ports.remaining_ms()));
        if left == 0 {
            let hex = crate::crypto::felt::felt_to_hex(&hash);
            return Err(SessionError::TransactionPending(match last_error {
                None => format!(
                    "transaction {hex} was not accepted within {timeout_ms} ms; it may still be"
                ),
                Some(err) => format!(
                    "transaction {hex} was sent; its receipt could not be read within \
                     {timeout_ms} ms ({err}); it may have been accepted: wait for it again"
                ),
            }));
        }
        let wait = delay.min(left);
        ports.sleep_ms(wait);
        left = left.saturating_sub(wait);
        delay = delay.saturating_mul(2).min(MAX_POLL_MS);
    }
}
