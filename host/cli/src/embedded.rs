//! The embedded sandbox the `demo` and `bench` commands run against: started
//! on 127.0.0.1, with the configuration, wallets and imports that reach it.

use std::sync::Arc;

use super::context::{self, Warnings};
use super::output::CliError;
use chipi_session_host::runtime::{
    Config, EncryptKeyKind, Imports, SessionContext, StaticToken, Wallet, WalletType,
};
use chipi_session_host::store::SessionStore;
use chipi_session_sandbox::{Sandbox, SandboxConfig, SandboxWallet, SandboxWalletType};

/// A running sandbox and the configuration and bearer token that reach it.
pub(crate) struct EmbeddedSandbox {
    /// The sandbox.
    pub(crate) sandbox: Sandbox,
    /// Backend and chain configuration pointing at it.
    pub(crate) config: Config,
    bearer: String,
}

impl EmbeddedSandbox {
    /// Start a sandbox on a free loopback port.
    pub(crate) async fn start() -> Result<Self, CliError> {
        let sandbox_config = SandboxConfig::default();
        let api_key = sandbox_config.api_key.clone();
        let bearer = sandbox_config.bearer_token.clone();
        let sandbox = Sandbox::start(sandbox_config, ([127, 0, 0, 1], 0).into())
            .await
            .map_err(CliError::Host)?;
        let config = Config {
            api_base_url: sandbox.api_url(),
            api_key,
            rpc_urls: vec![sandbox.rpc_url()],
            chain_id: None,
            default_duration_seconds: context::DEFAULT_DURATION_SECS,
            default_max_calls: context::DEFAULT_MAX_CALLS,
            timeout_ms: None,
        };
        Ok(Self {
            sandbox,
            config,
            bearer,
        })
    }

    /// A new CHIPI wallet of the sandbox (owner key encrypted under `pin`)
    /// and the session context that acts for it.
    pub(crate) fn wallet(&self, pin: &str) -> (SandboxWallet, SessionContext) {
        let wallet = self.sandbox.create_wallet(pin, SandboxWalletType::Chipi);
        let ctx = SessionContext {
            wallet: Wallet {
                address: wallet.address.clone(),
                encrypted_private_key: wallet.encrypted_private_key.clone(),
                wallet_type: WalletType::Chipi,
            },
            encrypt_key: pin.into(),
            encrypt_key_kind: EncryptKeyKind::Pin,
            config: self.config.clone(),
        };
        (wallet, ctx)
    }

    /// Imports reaching the sandbox only, with `store` and the warnings sink.
    pub(crate) fn imports(
        &self,
        store: Arc<dyn SessionStore>,
        warnings: &Warnings,
    ) -> Result<Imports, CliError> {
        Ok(Imports {
            store,
            token: Arc::new(StaticToken::new(self.bearer.clone())),
            allowed_authorities: context::allow_list(&self.config, &[]).map_err(CliError::Usage)?,
            clock: None,
            on_warning: Some(warnings.sink()),
        })
    }
}
