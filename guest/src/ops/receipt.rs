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
/// operation's time budget). Running out of time is `TRANSACTION_PENDING`:
/// the transaction may still be accepted later.
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
        if let Some(receipt) = remote::transaction_receipt(&env, ports, &hash)? {
            return Ok(receipt);
        }
        left = left.saturating_sub(before.saturating_sub(ports.remaining_ms()));
        if left == 0 {
            return Err(SessionError::TransactionPending(format!(
                "transaction {} was not accepted within {timeout_ms} ms; it may still be",
                crate::crypto::felt::felt_to_hex(&hash)
            )));
        }
        let wait = delay.min(left);
        ports.sleep_ms(wait);
        left = left.saturating_sub(wait);
        delay = delay.saturating_mul(2).min(MAX_POLL_MS);
    }
}
