//! Turning command-line options into the component's inputs: the session
//! context, the store, the token source and the HTTP allow-list.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use serde::Deserialize;

use super::args::GlobalArgs;
use chipi_session_host::runtime::{
    authorities_from_urls, canonical_entry, ComponentSource, Config, Imports, RuntimeOptions,
    SessionContext, StaticToken, Wallet, WalletType,
};
use chipi_session_host::store::{SessionStore, StoreUrl};

/// Hook default session duration (6 h).
pub(crate) const DEFAULT_DURATION_SECS: u64 = 21_600;
/// Hook default max calls.
pub(crate) const DEFAULT_MAX_CALLS: u32 = 1_000;

/// A wallet file as Chipi returns a wallet.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WalletFile {
    /// Wallet address.
    pub public_key: String,
    /// Encrypted owner private key.
    pub encrypted_private_key: String,
    /// `CHIPI` or `READY`.
    pub wallet_type: String,
}

impl WalletFile {
    /// Read and validate a wallet JSON file.
    pub(crate) fn read(path: &Path) -> anyhow::Result<Self> {
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
    pub(crate) fn to_wallet(&self) -> anyhow::Result<Wallet> {
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

/// The store `--store` / `CHIPI_STORE` names, or the default SQLite file.
/// A bad URL is a usage error naming the accepted forms (its password hidden).
pub(crate) fn store_url(global: &GlobalArgs) -> anyhow::Result<StoreUrl> {
    match &global.store {
        Some(url) => Ok(url.expose().parse::<StoreUrl>()?),
        None => Ok(StoreUrl::Sqlite(default_store_path())),
    }
}

/// Open the store at `url` (Redis connects on first use).
pub(crate) fn open_store(url: &StoreUrl) -> anyhow::Result<Arc<dyn SessionStore>> {
    url.open()
        .with_context(|| format!("cannot open session store {url}"))
}

/// Default session store path.
pub(crate) fn default_store_path() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("chipi-session").join("sessions.sqlite")
}

/// The configuration record from the global options.
pub(crate) fn config(global: &GlobalArgs) -> anyhow::Result<Config> {
    if global.rpc_urls.is_empty() {
        bail!("no RPC URL: pass --rpc-url or set CHIPI_RPC_URL");
    }
    Ok(Config {
        api_base_url: global.api_url().to_owned(),
        api_key: global.api_key.clone().unwrap_or_default(),
        rpc_urls: global.rpc_urls.clone(),
        chain_id: global.chain_id.clone(),
        default_duration_seconds: DEFAULT_DURATION_SECS,
        default_max_calls: DEFAULT_MAX_CALLS,
        timeout_ms: None,
    })
}

/// The full session context from the global options.
pub(crate) fn session_context(global: &GlobalArgs) -> anyhow::Result<SessionContext> {
    let path = global
        .wallet
        .as_deref()
        .ok_or_else(|| anyhow!("no wallet: pass --wallet FILE or set CHIPI_WALLET"))?;
    let wallet = WalletFile::read(path)?.to_wallet()?;
    Ok(SessionContext {
        wallet,
        encrypt_key: global.encrypt_key.clone().unwrap_or_default(),
        encrypt_key_kind: global.encrypt_key_kind.into(),
        config: config(global)?,
    })
}

/// The imports: the `--store` store, static bearer token, allow-list of the API and
/// RPC origins plus `--allow-host`, and `warnings` as the warning sink.
pub(crate) fn imports(
    global: &GlobalArgs,
    config: &Config,
    warnings: &Warnings,
) -> anyhow::Result<Imports> {
    let store = open_store(&store_url(global)?)?;
    imports_with_store(global, config, store, warnings)
}

/// The imports of [`imports`] with an already opened `store`.
pub(crate) fn imports_with_store(
    global: &GlobalArgs,
    config: &Config,
    store: Arc<dyn SessionStore>,
    warnings: &Warnings,
) -> anyhow::Result<Imports> {
    Ok(Imports {
        store,
        token: Arc::new(StaticToken::new(
            global.bearer_token.clone().unwrap_or_default(),
        )),
        allowed_authorities: allow_list(config, &global.allow_hosts)?,
        clock: None,
        on_warning: Some(warnings.sink()),
    })
}

/// Origins (`scheme://host:port`) of the configured URLs plus the
/// `--allow-host` entries: `scheme://host:port`, or a bare `host:port`
/// meaning `https://host:port`. Errors never show URL userinfo.
pub(crate) fn allow_list(config: &Config, extra: &[String]) -> anyhow::Result<Vec<String>> {
    let mut urls: Vec<&str> = vec![config.api_base_url.as_str()];
    urls.extend(config.rpc_urls.iter().map(String::as_str));
    let mut list = authorities_from_urls(&urls)?;
    for entry in extra {
        let origin = canonical_entry(entry).context("invalid --allow-host")?;
        if !list.contains(&origin) {
            list.push(origin);
        }
    }
    Ok(list)
}

/// The component's warnings during one CLI run: each is printed to stderr as
/// `warning: ...` when it arrives and kept for the `--json` output.
#[derive(Clone, Debug, Default)]
pub(crate) struct Warnings(Arc<Mutex<Vec<String>>>);

impl Warnings {
    /// A sink for [`Imports::on_warning`] that prints and records.
    pub(crate) fn sink(&self) -> chipi_session_host::runtime::WarningSink {
        let seen = Arc::clone(&self.0);
        Arc::new(move |warning: &str| {
            eprintln!("warning: {warning}");
            seen.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(warning.to_owned());
        })
    }

    /// The warnings received so far.
    pub(crate) fn list(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Add `"warnings": [...]` to a JSON success object when there were any.
    pub(crate) fn add_to(&self, value: &mut serde_json::Value) {
        let list = self.list();
        if list.is_empty() {
            return;
        }
        if let Some(object) = value.as_object_mut() {
            object.insert("warnings".into(), serde_json::json!(list));
        }
    }
}

/// Runtime options from the global options.
pub(crate) fn runtime_options(global: &GlobalArgs) -> RuntimeOptions {
    let mut options = RuntimeOptions::default();
    if let Some(path) = &global.component {
        options.component = ComponentSource::Path(path.clone());
    }
    options.call_timeout = Duration::from_secs(global.timeout.max(1));
    options
}

#[cfg(test)]
mod tests {
    use super::*;
    use chipi_session_host::runtime::{SecretString, StaticToken};

    fn config(api: &str, rpc: &str) -> Config {
        Config {
            api_base_url: api.into(),
            api_key: "pk_x".into(),
            rpc_urls: vec![rpc.into()],
            chain_id: None,
            default_duration_seconds: DEFAULT_DURATION_SECS,
            default_max_calls: DEFAULT_MAX_CALLS,
            timeout_ms: None,
        }
    }

    #[test]
    fn allow_list_keeps_schemes_and_bare_hosts_are_https() {
        let config = config("https://api.chipipay.com/v1", "http://127.0.0.1:5050/rpc");
        let list = allow_list(
            &config,
            &[
                "RPC.example.org:8545".into(),
                "http://10.0.0.1:80".into(),
                "https://api.chipipay.com:443".into(), // already there
            ],
        )
        .unwrap();
        assert_eq!(
            list,
            [
                "https://api.chipipay.com:443",
                "http://127.0.0.1:5050",
                "https://rpc.example.org:8545",
                "http://10.0.0.1:80",
            ]
        );
        assert!(allow_list(&config, &["ftp://x:21".into()]).is_err());
        assert!(allow_list(&config, &["x:99999".into()]).is_err());
    }

    #[test]
    fn allow_list_errors_never_show_passwords() {
        let secret = "Tr0ub4dor-secret";
        let good = config("https://api.chipipay.com/v1", "https://rpc.example/");
        let mut messages = Vec::new();
        for extra in [
            format!("https://alice:{secret}@rpc.example:443"),
            format!("alice:{secret}@rpc.example:443"),
            format!("http://alice:{secret}@rpc.example:99999"),
        ] {
            let err = allow_list(&good, &[extra]).unwrap_err();
            messages.push(format!("{err:#}"));
        }
        for (api, rpc) in [
            (
                format!("ftp://alice:{secret}@api.example/"),
                "https://rpc.example/".to_owned(),
            ),
            (
                "https://api.example/".to_owned(),
                format!("https://alice:{secret}@:8545/"),
            ),
            (
                "https://api.example/".to_owned(),
                format!("https://alice:{secret}@rpc.example:1x/"),
            ),
        ] {
            let err = allow_list(&config(&api, &rpc), &[]).unwrap_err();
            messages.push(format!("{err:#}"));
            // The CLI's error output goes through the same redaction.
            let cli = crate::output::CliError::Usage(err);
            messages.push(cli.message());
            messages.push(cli.to_json().to_string());
        }
        for message in &messages {
            assert!(!message.contains(secret), "{message}");
            assert!(!message.contains("alice"), "{message}");
        }
    }

    #[test]
    fn warnings_are_recorded_and_added_to_json() {
        let warnings = Warnings::default();
        let mut value = serde_json::json!({ "transactionHash": "0x1" });
        warnings.add_to(&mut value);
        assert!(value.get("warnings").is_none());
        let sink = warnings.sink();
        sink("session store not updated after sending 0x1");
        sink("second");
        assert_eq!(warnings.list().len(), 2);
        warnings.add_to(&mut value);
        assert_eq!(
            value,
            serde_json::json!({
                "transactionHash": "0x1",
                "warnings": ["session store not updated after sending 0x1", "second"],
            })
        );
    }

    #[test]
    fn bearer_token_goes_into_a_redacted_static_token() {
        let token = StaticToken::new(SecretString::new("jwt-secret-99"));
        assert!(!format!("{token:?}").contains("jwt-secret-99"));
    }
}
