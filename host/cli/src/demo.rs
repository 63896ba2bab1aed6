//! `chipi-session demo`: the whole lifecycle against the embedded sandbox.

use std::sync::Arc;
use std::time::Instant;

use anyhow::anyhow;
use serde_json::{json, Value};

use super::args::GlobalArgs;
use super::context;
use super::embedded::EmbeddedSandbox;
use super::output::{self, CliError};
use chipi_session_host::runtime::{
    Call, CreateOptions, RegisterOptions, SessionRuntime, WalletSession,
};
use chipi_session_host::store::{MemoryStore, SessionStore};

/// STRK token on Starknet, used as the demo transfer target.
const DEMO_TOKEN: &str = "0x04718f5a0fc34cc1af16a1cdee98ffb20c31f5cd61d6ab07201858f4287c938d";
/// Recipient of the demo transfer.
const DEMO_RECIPIENT: &str = "0x0000000000000000000000000000000000000000000000000000000000c0ffee";

struct Steps {
    json: bool,
    steps: Vec<Value>,
    started: Instant,
}

impl Steps {
    fn record(&mut self, name: &str, detail: Value, text: String) {
        let ms = self.started.elapsed().as_millis();
        if !self.json {
            println!("[{ms:>5} ms] {name:<8} {text}");
        }
        let mut step = json!({ "step": name, "elapsedMs": ms });
        if let (Some(obj), Value::Object(extra)) = (step.as_object_mut(), detail) {
            obj.extend(extra);
        }
        self.steps.push(step);
        self.started = Instant::now();
    }
}

/// Run create -> register -> execute -> status -> revoke -> status on a fresh
/// sandbox with a fresh wallet, printing each step. Sessions are kept in
/// memory, or in the `--store` store when one is given.
pub(crate) async fn run(global: &GlobalArgs) -> Result<(Value, String), CliError> {
    let embedded = EmbeddedSandbox::start().await?;
    let pin = "246810";
    let warnings = context::Warnings::default();
    let (created_wallet, ctx) = embedded.wallet(pin);
    // In memory unless `--store` names a store (e.g. a Redis server to try).
    let store: Arc<dyn SessionStore> = match &global.store {
        Some(_) => context::store_url(global)
            .and_then(|url| context::open_store(&url))
            .map_err(CliError::Usage)?,
        None => Arc::new(MemoryStore::new()),
    };
    let imports = embedded.imports(store, &warnings)?;
    let mut steps = Steps {
        json: global.json,
        steps: Vec::new(),
        started: Instant::now(),
    };
    let runtime = SessionRuntime::new(context::runtime_options(global)).map_err(CliError::Host)?;
    steps.record(
        "setup",
        json!({ "sandbox": embedded.sandbox.api_url(), "wallet": created_wallet.address }),
        format!(
            "sandbox at {}; CHIPI wallet {}",
            embedded.sandbox.api_url(),
            created_wallet.address
        ),
    );
    let session = runtime
        .open_session(imports, ctx)
        .await
        .map_err(CliError::Host)?;

    let key = output::session_result(
        session
            .create_session(&CreateOptions {
                duration_seconds: None,
                replace_existing: false,
            })
            .await,
    )?;
    steps.record(
        "create",
        json!({ "publicKey": key.public_key, "validUntil": key.valid_until }),
        format!(
            "session key {} valid until {}",
            key.public_key, key.valid_until
        ),
    );

    let options = RegisterOptions {
        valid_until: None,
        max_calls: Some(10),
        allowed_entrypoints: vec!["transfer".into()],
        idempotency_key: None,
    };
    let tx = output::session_result(session.register_session(&options).await)?;
    steps.record(
        "register",
        json!({ "transactionHash": tx }),
        format!("registered (max 10 calls, whitelist: transfer); tx {tx}"),
    );

    let call = Call {
        contract_address: DEMO_TOKEN.into(),
        entrypoint: "transfer".into(),
        calldata: vec![DEMO_RECIPIENT.into(), "1000".into(), "0x0".into()],
    };
    let tx = output::session_result(session.execute_with_session(&[call]).await)?;
    steps.record(
        "execute",
        json!({ "transactionHash": tx }),
        format!("transfer signed by the session key; tx {tx}"),
    );

    let status = status_step(&session, &mut steps).await?;
    if status["state"] != "active" || status["remainingCalls"] != 9 {
        return Err(CliError::Host(anyhow!(
            "unexpected status after execute: {status}"
        )));
    }

    let tx = output::session_result(session.revoke_session().await)?;
    steps.record(
        "revoke",
        json!({ "transactionHash": tx }),
        format!("revoked; tx {tx}"),
    );

    let status = status_step(&session, &mut steps).await?;
    if status["state"] != "revoked" {
        return Err(CliError::Host(anyhow!(
            "unexpected status after revoke: {status}"
        )));
    }
    session.close().await.map_err(CliError::Host)?;
    embedded.sandbox.shutdown().await;
    let mut value = json!({ "ok": true, "steps": steps.steps });
    warnings.add_to(&mut value);
    Ok((
        value,
        "demo finished: create -> register -> execute -> status -> revoke all succeeded".into(),
    ))
}

/// Read the session status, record it as a step, return its JSON form.
async fn status_step(session: &WalletSession, steps: &mut Steps) -> Result<Value, CliError> {
    let status = output::session_result(session.get_session_status().await)?;
    let status_json = output::status_json(&status);
    steps.record(
        "status",
        json!({ "status": status_json }),
        output::status_text(&status).replace('\n', "; "),
    );
    Ok(status_json)
}
