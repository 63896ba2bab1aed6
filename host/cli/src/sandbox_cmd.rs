//! `chipi-session sandbox`: run the local sandbox until interrupted, on its own
//! simulated chain or, with `--devnet-rpc`, relaying to a real Starknet node.

use anyhow::Context as _;
use serde_json::json;

use super::args::{GlobalArgs, SandboxArgs};
use super::output::CliError;
use chipi_session_sandbox::{Sandbox, SandboxConfig, SandboxWalletType};

/// Start the sandbox, optionally create a wallet, print how to use it, and
/// serve until Ctrl-C.
pub(crate) async fn run(global: &GlobalArgs, args: &SandboxArgs) -> Result<(), CliError> {
    if !args.listen.ip().is_loopback() {
        return Err(CliError::Usage(anyhow::anyhow!(
            "the sandbox only listens on loopback addresses"
        )));
    }
    let mut config = SandboxConfig::default();
    if let Some(key) = &global.api_key {
        config.api_key = key.clone();
    }
    if let Some(token) = &global.bearer_token {
        config.bearer_token = token.expose().to_owned();
    }
    let (api_key, bearer) = (config.api_key.clone(), config.bearer_token.clone());
    let sandbox = match &args.devnet_rpc {
        Some(node) => Sandbox::start_relay(config, args.listen, node)
            .await
            .map_err(CliError::Host)?,
        None => Sandbox::start(config, args.listen)
            .await
            .map_err(CliError::Host)?,
    };
    let rpc_url = sandbox.node_rpc_url().unwrap_or_else(|| sandbox.rpc_url());
    let mut info = json!({
        "apiUrl": sandbox.api_url(),
        "rpcUrl": rpc_url,
        "apiKey": api_key,
        "bearerToken": bearer,
    });
    if let (Some(pin), Some(out)) = (&args.pin, &args.wallet_out) {
        let wallet = if args.devnet_rpc.is_some() {
            sandbox
                .take_node_wallet(pin.expose())
                .map_err(CliError::Host)?
        } else {
            sandbox.create_wallet(pin.expose(), SandboxWalletType::Chipi)
        };
        let text = serde_json::to_string_pretty(&wallet)
            .context("cannot encode wallet")
            .map_err(CliError::Host)?;
        std::fs::write(out, text)
            .with_context(|| format!("cannot write {}", out.display()))
            .map_err(CliError::Usage)?;
        info["wallet"] = json!(out.display().to_string());
    }
    if global.json {
        println!("{info}");
    } else {
        println!("sandbox listening (Ctrl-C to stop)");
        println!("export CHIPI_API_URL={}", sandbox.api_url());
        println!("export CHIPI_RPC_URL={rpc_url}");
        println!("export CHIPI_API_KEY={api_key}");
        println!("export CHIPI_BEARER_TOKEN={bearer}");
        if let Some(path) = info.get("wallet").and_then(|v| v.as_str()) {
            println!("export CHIPI_WALLET={path}");
        }
    }
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for Ctrl-C")
        .map_err(CliError::Host)?;
    sandbox.shutdown().await;
    Ok(())
}
