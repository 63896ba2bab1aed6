//! Turning command-line options into the component's inputs: the session
//! context, the store, the token source and the HTTP allow-list.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use serde::Deserialize;

use super::args::GlobalArgs;
use crate::runtime::{
    authorities_from_urls, ComponentSource, Config, Imports, RuntimeOptions, SessionContext,
    StaticToken, Wallet, WalletType,
};
use crate::store::{SessionStore, SqliteStore};

/// Hook default session duration (6 h).
pub const DEFAULT_DURATION_SECS: u64 = 21_600;
/// Hook default max calls.
pub const DEFAULT_MAX_CALLS: u32 = 1_000;

/// A wallet file as Chipi returns a wallet.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WalletFile {
    /// Wallet address.
    pub public_key: String,
    /// Encrypted owner private key.
    pub encrypted_private_key: String,
    /// `CHIPI` or `READY`.
    pub wallet_type: String,
}

impl WalletFile {
    /// Read and validate a wallet JSON file.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read wallet file {}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| {
            anyhow!(
                "wallet file {} is not a Chipi wallet JSON ({{publicKey, encryptedPrivateKey, walletType}}): {e}",
                path.display()
            )
        })
    }

    /// The WIT wallet record.
    pub fn to_wallet(&self) -> anyhow::Result<Wallet> {
        let wallet_type = match self.wallet_type.to_ascii_uppercase().as_str() {
            "CHIPI" => WalletType::Chipi,
            "READY" => WalletType::Ready,
            other => bail!("unknown walletType {other:?} (expected CHIPI or READY)"),
        };
        Ok(Wallet {
            address: self.public_key.clone(),
            encrypted_private_key: self.encrypted_private_key.clone(),
            wallet_type,
        })
    }
}

/// Default session store path.
pub fn default_store_path() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("chipi-session").join("sessions.sqlite")
}

/// The configuration record from the global options.
pub fn config(global: &GlobalArgs) -> anyhow::Result<Config> {
    if global.rpc_urls.is_empty() {
        bail!("no RPC URL: pass --rpc-url or set CHIPI_RPC_URL");
    }
    Ok(Config {
        api_base_url: global.api_url.clone(),
        api_key: global.api_key.clone().unwrap_or_default(),
        rpc_urls: global.rpc_urls.clone(),
        chain_id: global.chain_id.clone(),
        default_duration_seconds: DEFAULT_DURATION_SECS,
        default_max_calls: DEFAULT_MAX_CALLS,
    })
}

/// The full session context from the global options.
pub fn session_context(global: &GlobalArgs) -> anyhow::Result<SessionContext> {
    let path = global
        .wallet
        .as_deref()
        .ok_or_else(|| anyhow!("no wallet: pass --wallet FILE or set CHIPI_WALLET"))?;
    let wallet = WalletFile::read(path)?.to_wallet()?;
    Ok(SessionContext {
        wallet,
        encrypt_key: global.encrypt_key.clone().unwrap_or_default(),
        config: config(global)?,
    })
}

/// The imports: SQLite store, static bearer token, allow-list of the API and
/// RPC authorities plus `--allow-host`.
pub fn imports(global: &GlobalArgs, config: &Config) -> anyhow::Result<Imports> {
    let store_path = global.store.clone().unwrap_or_else(default_store_path);
    let store: Arc<dyn SessionStore> = Arc::new(
        SqliteStore::open(&store_path)
            .with_context(|| format!("cannot open session store {}", store_path.display()))?,
    );
    Ok(Imports {
        store,
        token: Arc::new(StaticToken::new(
            global.bearer_token.clone().unwrap_or_default(),
        )),
        allowed_authorities: allow_list(config, &global.allow_hosts)?,
        clock: None,
    })
}

/// Authorities of the configured URLs plus extra `host:port` entries.
pub fn allow_list(config: &Config, extra: &[String]) -> anyhow::Result<Vec<String>> {
    let mut urls: Vec<&str> = vec![config.api_base_url.as_str()];
    urls.extend(config.rpc_urls.iter().map(String::as_str));
    let mut list = authorities_from_urls(&urls)?;
    list.extend(extra.iter().map(|h| h.to_ascii_lowercase()));
    Ok(list)
}

/// Runtime options from the global options.
pub fn runtime_options(global: &GlobalArgs) -> RuntimeOptions {
    let mut options = RuntimeOptions::default();
    if let Some(path) = &global.component {
        options.component = ComponentSource::Path(path.clone());
    }
    options.call_timeout = Duration::from_secs(global.timeout.max(1));
    options
}
