//! `--wait`: poll a transaction's receipt until the chain accepted it,
//! with a progress indicator on stderr (never on stdout, so `--json` output
//! stays one object).

use std::io::{IsTerminal as _, Write as _};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::output::{self, CliError};
use chipi_session_host::runtime::{
    ExecutionStatus, SessionError, TransactionReceipt, WalletSession,
};

/// Length of one `wait-for-transaction` call: the progress line is
/// refreshed between calls.
const SLICE: Duration = Duration::from_secs(2);

/// Wait up to `timeout` for the receipt of `tx`. Running out of time is
/// `TRANSACTION_PENDING` (the transaction may still be accepted).
pub(crate) async fn for_receipt(
    session: &WalletSession,
    tx: &str,
    timeout: Duration,
) -> Result<TransactionReceipt, CliError> {
    let started = Instant::now();
    let mut progress = Progress::new(tx);
    loop {
        let left = timeout.saturating_sub(started.elapsed());
        let slice = left.min(SLICE);
        match session.wait_for_transaction(tx, slice).await {
            Ok(Ok(receipt)) => {
                progress.done(&receipt);
                return Ok(receipt);
            }
            Ok(Err(SessionError::TransactionPending(_))) if started.elapsed() < timeout => {
                progress.tick(started.elapsed());
            }
            other => {
                progress.abandon();
                return output::session_result(other);
            }
        }
    }
}

/// The receipt as JSON.
pub(crate) fn receipt_json(receipt: &TransactionReceipt) -> Value {
    json!({
        "transactionHash": receipt.transaction_hash,
        "finalityStatus": receipt.finality_status,
        "executionStatus": match receipt.execution_status {
            ExecutionStatus::Succeeded => "SUCCEEDED",
            ExecutionStatus::Reverted => "REVERTED",
        },
        "revertReason": receipt.revert_reason,
        "blockNumber": receipt.block_number,
    })
}

/// The progress indicator: a self-rewriting line on a terminal, plain lines
/// otherwise.
struct Progress {
    tx: String,
    terminal: bool,
    ticks: usize,
}

impl Progress {
    fn new(tx: &str) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let progress = Self {
            tx: tx.to_owned(),
            terminal,
            ticks: 0,
        };
        progress.show("waiting for the chain to accept", Duration::ZERO);
        progress
    }

    fn show(&self, what: &str, elapsed: Duration) {
        const SPINNER: [char; 4] = ['|', '/', '-', '\\'];
        let mut stderr = std::io::stderr().lock();
        if self.terminal {
            let _ = write!(
                stderr,
                "\r{} {what} transaction {} ({} s)",
                SPINNER[self.ticks % SPINNER.len()],
                self.tx,
                elapsed.as_secs()
            );
        } else {
            let _ = writeln!(
                stderr,
                "{what} transaction {} ({} s)",
                self.tx,
                elapsed.as_secs()
            );
        }
        let _ = stderr.flush();
    }

    fn tick(&mut self, elapsed: Duration) {
        self.ticks += 1;
        self.show("still waiting for", elapsed);
    }

    fn done(&self, receipt: &TransactionReceipt) {
        let outcome = match receipt.execution_status {
            ExecutionStatus::Succeeded => "accepted",
            ExecutionStatus::Reverted => "reverted",
        };
        let mut stderr = std::io::stderr().lock();
        let end = if self.terminal { "\r" } else { "" };
        let _ = writeln!(
            stderr,
            "{end}transaction {} {outcome} ({})",
            self.tx, receipt.finality_status
        );
    }

    fn abandon(&self) {
        if self.terminal {
            let _ = writeln!(std::io::stderr());
        }
    }
}
