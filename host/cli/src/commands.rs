//! The session subcommands: each builds the component's inputs, calls one
//! export through the host library and reports the outcome.

use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use serde_json::{json, Value};

use super::args::{Command, GlobalArgs, IntentArgs, PolicyCommand, WaitArgs};
use super::output::{self, CliError};
use super::{context, wait};
use chipi_session_host::runtime::{
    Call, CreateOptions, ExecutionStatus, IntentOptions, RegisterOptions, SessionRuntime,
    SpendingPolicyInput, WalletSession,
};

/// Parse `ADDRESS:ENTRYPOINT:FELT,FELT,...` (calldata may be empty).
pub(crate) fn parse_call_arg(arg: &str) -> anyhow::Result<Call> {
    let mut parts = arg.splitn(3, ':');
    let address = parts.next().unwrap_or_default().trim();
    let entrypoint = parts.next().unwrap_or_default().trim();
    if address.is_empty() || entrypoint.is_empty() {
        bail!("--call {arg:?} must look like ADDRESS:ENTRYPOINT:FELT,FELT,...");
    }
    let calldata = parts
        .next()
        .map(|c| {
            c.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    Ok(Call {
        contract_address: address.to_string(),
        entrypoint: entrypoint.to_string(),
        calldata,
    })
}

/// Parse a calls file: a JSON array of `{contractAddress, entrypoint, calldata}`.
pub(crate) fn parse_calls_json(text: &str) -> anyhow::Result<Vec<Call>> {
    let value: Value = serde_json::from_str(text).context("calls file is not valid JSON")?;
    let items = value
        .as_array()
        .ok_or_else(|| anyhow!("calls file must hold a JSON array of calls"))?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let text = |name: &str| -> anyhow::Result<String> {
                item.get(name)
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| anyhow!("call {i}: {name} must be a string"))
            };
            let calldata = match item.get("calldata") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(values)) => values
                    .iter()
                    .map(|v| match v {
                        Value::String(s) => Ok(s.clone()),
                        Value::Number(n) => Ok(n.to_string()),
                        _ => Err(anyhow!(
                            "call {i}: calldata entries must be strings or numbers"
                        )),
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?,
                Some(_) => bail!("call {i}: calldata must be an array"),
            };
            Ok(Call {
                contract_address: text("contractAddress")?,
                entrypoint: text("entrypoint")?,
                calldata,
            })
        })
        .collect()
}

fn read_calls_file(path: &Path) -> anyhow::Result<Vec<Call>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read calls file {}", path.display()))?;
    parse_calls_json(&text)
}

fn tx_json(tx: &str) -> Value {
    json!({ "transactionHash": tx })
}

fn intent_options(intent: &IntentArgs) -> IntentOptions {
    IntentOptions {
        idempotency_key: intent.idempotency_key.clone(),
    }
}

/// The result of a command that sent transaction `tx`: its hash, and with
/// `--wait` its receipt once the chain accepted it. A reverted transaction
/// is an error (`TRANSACTION_REVERTED`); a wait that fails or runs out of
/// time is `TRANSACTION_PENDING` naming the hash (exit 4), and Ctrl-C while
/// waiting names it too (exit 130): an answer never hides a sent transaction.
async fn sent(
    session: &WalletSession,
    wait: &WaitArgs,
    tx: &str,
    done: &str,
) -> Result<(Value, String), CliError> {
    if !wait.wait {
        return Ok((tx_json(tx), format!("{done}; transaction {tx}")));
    }
    waited(session, tx, Duration::from_secs(wait.wait_timeout), done).await
}

/// Wait for the receipt of the sent transaction `tx` (see [`sent`]).
async fn waited(
    session: &WalletSession,
    tx: &str,
    timeout: Duration,
    done: &str,
) -> Result<(Value, String), CliError> {
    let unconfirmed = |cause: CliError| CliError::SentUnconfirmed {
        transaction_hash: tx.to_owned(),
        cause: Box::new(cause),
    };
    let receipt = tokio::select! {
        receipt = wait::for_receipt(session, tx, timeout) => receipt.map_err(unconfirmed)?,
        _ = tokio::signal::ctrl_c() => {
            return Err(CliError::Interrupted { transaction_hash: tx.to_owned() });
        }
    };
    let mut value = tx_json(tx);
    value["receipt"] = wait::receipt_json(&receipt);
    match receipt.execution_status {
        ExecutionStatus::Succeeded => Ok((
            value,
            format!(
                "{done}; transaction {tx} accepted ({}{})",
                receipt.finality_status,
                receipt
                    .block_number
                    .map(|b| format!(", block {b}"))
                    .unwrap_or_default()
            ),
        )),
        ExecutionStatus::Reverted => Err(CliError::Reverted {
            transaction_hash: tx.to_owned(),
            reason: receipt.revert_reason.unwrap_or_default(),
        }),
    }
}

/// Run one session subcommand and hand its outcome (the JSON result and its
/// human text, or the failure) to `report`, which prints it and returns the
/// exit code. Warnings the component reports are printed to stderr as they
/// arrive and, on success, listed under `"warnings"` in the JSON result.
///
/// The outcome is reported before the session is closed: closing writes an
/// execute's landing to the store, after which the same calls are a new
/// intent, so the caller must hold the hash first. A process killed between
/// the two leaves the transaction pending in the store, and a retry is
/// answered with it instead of paying again.
pub(crate) async fn run(
    global: &GlobalArgs,
    command: &Command,
    report: impl FnOnce(Result<(Value, String), CliError>) -> i32,
) -> i32 {
    let warnings = context::Warnings::default();
    let session = match open(global, &warnings).await {
        Ok(session) => session,
        Err(err) => return report(Err(err)),
    };
    let outcome = run_command(&session, command)
        .await
        .map(|(mut value, text)| {
            warnings.add_to(&mut value);
            (value, text)
        });
    let code = report(outcome);
    // Writes the last execute's landing and zeroizes the keys now, before
    // the process exits. A failure here is reported, the outcome stands.
    if let Err(err) = session.close().await {
        eprintln!(
            "warning: the session could not be closed cleanly ({err:#}); the next operation \
             reconciles the store with the account"
        );
    }
    code
}

/// Open the warm session the global options describe.
async fn open(
    global: &GlobalArgs,
    warnings: &context::Warnings,
) -> Result<WalletSession, CliError> {
    let ctx = context::session_context(global).map_err(CliError::Usage)?;
    let imports = context::imports(global, &ctx.config, warnings).map_err(CliError::Usage)?;
    let runtime = SessionRuntime::new(context::runtime_options(global)).map_err(CliError::Host)?;
    runtime
        .open_session(imports, ctx)
        .await
        .map_err(CliError::Host)
}

async fn run_command(
    handle: &WalletSession,
    command: &Command,
) -> Result<(Value, String), CliError> {
    {
        match command {
            Command::Create { duration, replace } => {
                let options = CreateOptions {
                    duration_seconds: *duration,
                    replace_existing: *replace,
                };
                let key = output::session_result(handle.create_session(&options).await)?;
                let value = json!({
                    "publicKey": key.public_key,
                    "validUntil": key.valid_until,
                    "encryptedPrivateKey": key.encrypted_private_key,
                });
                let text = format!(
                    "created session {}\nvalid until {} (register it to use it)",
                    key.public_key, key.valid_until
                );
                Ok((value, text))
            }
            Command::Register {
                max_calls,
                valid_until,
                allow,
                wait,
                intent,
            } => {
                let options = RegisterOptions {
                    valid_until: *valid_until,
                    max_calls: *max_calls,
                    allowed_entrypoints: allow.clone(),
                    idempotency_key: intent.idempotency_key.clone(),
                };
                let tx = output::session_result(handle.register_session(&options).await)?;
                sent(handle, wait, &tx, "registered").await
            }
            Command::Execute {
                calls_file,
                call,
                wait,
                intent,
            } => {
                let calls = match calls_file {
                    Some(path) => read_calls_file(path).map_err(CliError::Usage)?,
                    None if !call.is_empty() => call
                        .iter()
                        .map(|c| parse_call_arg(c))
                        .collect::<anyhow::Result<Vec<_>>>()
                        .map_err(CliError::Usage)?,
                    None => {
                        return Err(CliError::Usage(anyhow!(
                        "nothing to execute: pass --calls-file FILE or --call ADDR:ENTRYPOINT:FELT,..."
                    )))
                    }
                };
                let tx = output::session_result(
                    handle
                        .execute_with_options(&calls, &intent_options(intent))
                        .await,
                )?;
                sent(handle, wait, &tx, "executed").await
            }
            Command::Status => {
                let status = output::session_result(handle.get_session_status().await)?;
                Ok((output::status_json(&status), output::status_text(&status)))
            }
            Command::Revoke { wait, intent } => {
                let tx = output::session_result(
                    handle.revoke_with_options(&intent_options(intent)).await,
                )?;
                sent(handle, wait, &tx, "revoked").await
            }
            Command::Wait {
                transaction_hash,
                wait_timeout,
            } => {
                waited(
                    handle,
                    transaction_hash,
                    Duration::from_secs(*wait_timeout),
                    "waited",
                )
                .await
            }
            Command::Clear => {
                output::session_result(handle.clear_session().await)?;
                Ok((
                    json!({ "cleared": true }),
                    "cleared the stored session".into(),
                ))
            }
            Command::Policy { action } => match action {
                PolicyCommand::Set {
                    token,
                    max_per_call,
                    max_per_window,
                    window_seconds,
                    wait,
                    intent,
                } => {
                    let policy = SpendingPolicyInput {
                        token: token.clone(),
                        max_per_call: max_per_call.clone(),
                        max_per_window: max_per_window.clone(),
                        window_seconds: *window_seconds,
                    };
                    let tx = output::session_result(
                        handle
                            .set_spending_policy_with_options(&policy, &intent_options(intent))
                            .await,
                    )?;
                    sent(handle, wait, &tx, "policy set").await
                }
                PolicyCommand::Get { token } => {
                    let policy = output::session_result(handle.get_spending_policy(token).await)?;
                    let value = match &policy {
                        Some(p) => json!({ "policy": {
                            "token": p.token,
                            "maxPerCall": p.max_per_call,
                            "maxPerWindow": p.max_per_window,
                            "windowSeconds": p.window_seconds,
                            "spent": p.spent,
                            "windowStart": p.window_start,
                        }}),
                        None => json!({ "policy": null }),
                    };
                    let text = match &policy {
                        Some(p) => format!(
                            "token {}: max {} per call, {} per {} s window; spent {} since {}",
                            p.token,
                            p.max_per_call,
                            p.max_per_window,
                            p.window_seconds,
                            p.spent,
                            p.window_start
                        ),
                        None => format!("no spending policy for {token}"),
                    };
                    Ok((value, text))
                }
                PolicyCommand::Remove {
                    token,
                    wait,
                    intent,
                } => {
                    let tx = output::session_result(
                        handle
                            .remove_spending_policy_with_options(token, &intent_options(intent))
                            .await,
                    )?;
                    sent(handle, wait, &tx, "policy removed").await
                }
            },
            Command::Sandbox(_) | Command::Demo | Command::Bench(_) => {
                Err(CliError::Usage(anyhow!("internal: not a session command")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_argument_forms() {
        let c = parse_call_arg("0x12:transfer:0x1,100, 0x0").unwrap();
        assert_eq!(c.contract_address, "0x12");
        assert_eq!(c.entrypoint, "transfer");
        assert_eq!(c.calldata, vec!["0x1", "100", "0x0"]);
        assert!(parse_call_arg("0x12:ping").unwrap().calldata.is_empty());
        assert!(parse_call_arg("0x12:ping:").unwrap().calldata.is_empty());
        assert!(parse_call_arg("0x12").is_err());
        assert!(parse_call_arg(":transfer:1").is_err());
    }

    #[test]
    fn calls_file_forms() {
        let calls = parse_calls_json(
            r#"[{"contractAddress":"0x1","entrypoint":"transfer","calldata":["0x2", 5]}]"#,
        )
        .unwrap();
        assert_eq!(calls[0].calldata, vec!["0x2", "5"]);
        assert!(parse_calls_json("{}").is_err());
        assert!(parse_calls_json(r#"[{"entrypoint":"x"}]"#).is_err());
        assert!(parse_calls_json(
            r#"[{"contractAddress":"0x1","entrypoint":"x","calldata":[true]}]"#
        )
        .is_err());
        assert!(parse_calls_json("not json").is_err());
    }
}
