//! Command-line arguments of `chipi-session`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use chipi_session_host::runtime::{parse_secret, SecretString};

/// Session keys for Chipi smart wallets on Starknet, run in a sandboxed
/// WebAssembly component.
#[derive(Debug, Parser)]
#[command(name = "chipi-session", version, about, long_about = None)]
pub(crate) struct Cli {
    /// Global options.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// `--encrypt-key-kind`: how the encrypt key is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyKindArg {
    /// A PIN or password: stretched with Argon2id.
    Pin,
    /// 32 to 64 random bytes in unpadded base64url: HKDF, no Argon2id.
    HighEntropy,
}

impl From<KeyKindArg> for chipi_session_host::runtime::EncryptKeyKind {
    fn from(kind: KeyKindArg) -> Self {
        match kind {
            KeyKindArg::Pin => Self::Pin,
            KeyKindArg::HighEntropy => Self::HighEntropy,
        }
    }
}

/// Options shared by every subcommand. `Debug` never shows the encrypt key or
/// the bearer token (they are [`SecretString`]s).
#[derive(Debug, Args)]
pub(crate) struct GlobalArgs {
    /// Chipi API base URL [default: https://api.chipipay.com/v1].
    #[arg(long, env = "CHIPI_API_URL", global = true)]
    pub api_url: Option<String>,
    /// Starknet JSON-RPC URL (repeat, or comma-separate in the variable, for fallbacks).
    #[arg(
        long = "rpc-url",
        env = "CHIPI_RPC_URL",
        value_delimiter = ',',
        global = true
    )]
    pub rpc_urls: Vec<String>,
    /// Public API key (`pk_...`).
    #[arg(long, env = "CHIPI_API_KEY", hide_env_values = true, global = true)]
    pub api_key: Option<String>,
    /// Bearer token for the Chipi backend.
    #[arg(
        long,
        env = "CHIPI_BEARER_TOKEN",
        hide_env_values = true,
        global = true,
        value_parser = parse_secret
    )]
    pub bearer_token: Option<SecretString>,
    /// Wallet JSON file as Chipi returns it: `{publicKey, encryptedPrivateKey, walletType}`.
    #[arg(long, env = "CHIPI_WALLET", global = true)]
    pub wallet: Option<PathBuf>,
    /// Encrypt key (PIN) of the wallet. Prefer the environment variable over the flag.
    #[arg(
        long,
        env = "CHIPI_ENCRYPT_KEY",
        hide_env_values = true,
        global = true,
        value_parser = parse_secret
    )]
    pub encrypt_key: Option<SecretString>,
    /// Kind of the encrypt key: `pin` (a PIN or password, stretched with
    /// Argon2id) or `high-entropy` (32 to 64 random bytes in unpadded
    /// base64url with at least 256 bits of entropy, e.g. a passkey PRF output
    /// or a KMS data key; no Argon2id). Never guessed from the key.
    #[arg(
        long,
        env = "CHIPI_ENCRYPT_KEY_KIND",
        global = true,
        value_enum,
        default_value_t = KeyKindArg::Pin
    )]
    pub encrypt_key_kind: KeyKindArg,
    /// Session store: `PATH` or `sqlite:PATH` (an SQLite file),
    /// `redis://[[USER]:PASSWORD@]HOST[:PORT][/DB][?prefix=P&ca=FILE]`,
    /// `rediss://...` (TLS) or `memory:`. Default: the SQLite file
    /// `$XDG_DATA_HOME/chipi-session/sessions.sqlite`. A URL with a password
    /// is better passed in the variable than on the command line.
    #[arg(
        long,
        env = "CHIPI_STORE",
        value_name = "URL",
        hide_env_values = true,
        global = true,
        value_parser = parse_secret
    )]
    pub store: Option<SecretString>,
    /// Extra origin the component may reach, as `https://host:port`,
    /// `http://host:port` or a bare `host:port` (https only); repeat for
    /// several. The API and RPC URLs' own scheme, host and port are always
    /// allowed; nothing else is.
    #[arg(
        long = "allow-host",
        value_name = "[SCHEME://]HOST:PORT",
        global = true
    )]
    pub allow_hosts: Vec<String>,
    /// Expected chain id (`SN_MAIN`, `SN_SEPOLIA` or hex); read from the RPC node when absent.
    #[arg(long, env = "CHIPI_CHAIN_ID", global = true)]
    pub chain_id: Option<String>,
    /// Component to run instead of the embedded one.
    #[arg(long, env = "CHIPI_SESSION_COMPONENT", global = true)]
    pub component: Option<PathBuf>,
    /// Time limit of one operation, in seconds.
    #[arg(long, default_value_t = 60, global = true)]
    pub timeout: u64,
    /// Print one JSON object on stdout (errors too).
    #[arg(long, global = true)]
    pub json: bool,
}

/// Chipi's production API, used when no API URL is given.
pub(crate) const DEFAULT_API_URL: &str = "https://api.chipipay.com/v1";

impl GlobalArgs {
    /// The API base URL: `--api-url` / `CHIPI_API_URL`, else Chipi's.
    pub(crate) fn api_url(&self) -> &str {
        self.api_url.as_deref().unwrap_or(DEFAULT_API_URL)
    }
}

/// `--wait` of the commands that send a transaction.
#[derive(Debug, Args, Clone, Copy)]
pub(crate) struct WaitArgs {
    /// Wait until the chain accepted the transaction (succeeded or reverted),
    /// showing progress on stderr.
    #[arg(long)]
    pub wait: bool,
    /// Longest wait, in seconds.
    #[arg(long, default_value_t = 300, requires = "wait")]
    pub wait_timeout: u64,
}

/// `--idempotency-key` of the commands that sign a transaction.
#[derive(Debug, Args, Clone)]
pub(crate) struct IntentArgs {
    /// Name this intent: the same key is the same intent for at least 24
    /// hours, so rerunning the command after any failure (a crash, a lost
    /// answer, a timeout) reports the first transaction instead of signing
    /// a second one; another key is a new intent, even for the same calls.
    /// Without a key, the intent is the command and its calls until an
    /// outcome was reported.
    #[arg(long, value_name = "KEY")]
    pub idempotency_key: Option<String>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create a session key locally and store it encrypted (nothing on chain yet).
    Create {
        /// Session lifetime in seconds (default 21600).
        #[arg(long)]
        duration: Option<u64>,
        /// Replace a stored session that is still created or active.
        #[arg(long)]
        replace: bool,
    },
    /// Register the stored session on chain (owner-signed, gasless).
    Register {
        /// Maximum number of transactions (default 1000).
        #[arg(long)]
        max_calls: Option<u32>,
        /// Expiry as a Unix timestamp (default: the one chosen at create).
        #[arg(long)]
        valid_until: Option<u64>,
        /// Whitelisted entrypoint (name or 0x selector); repeat for several.
        #[arg(long = "allow")]
        allow: Vec<String>,
        /// Waiting for the receipt.
        #[command(flatten)]
        wait: WaitArgs,
        /// Naming the intent.
        #[command(flatten)]
        intent: IntentArgs,
    },
    /// Execute calls signed by the session key.
    Execute {
        /// JSON file holding an array of `{contractAddress, entrypoint, calldata}`.
        #[arg(long, conflicts_with = "call")]
        calls_file: Option<PathBuf>,
        /// One call as `ADDRESS:ENTRYPOINT:FELT,FELT,...`; repeat for several.
        #[arg(long)]
        call: Vec<String>,
        /// Waiting for the receipt.
        #[command(flatten)]
        wait: WaitArgs,
        /// Naming the intent.
        #[command(flatten)]
        intent: IntentArgs,
    },
    /// Show the lifecycle state and on-chain data of the stored session.
    Status,
    /// Revoke the stored session on chain (owner-signed, gasless).
    Revoke {
        /// Waiting for the receipt.
        #[command(flatten)]
        wait: WaitArgs,
        /// Naming the intent.
        #[command(flatten)]
        intent: IntentArgs,
    },
    /// Forget the stored session locally (nothing is sent).
    Clear,
    /// Wait for a transaction that was sent (a hash an earlier command
    /// reported) until the chain accepted it.
    Wait {
        /// The transaction hash.
        #[arg(value_name = "TRANSACTION_HASH")]
        transaction_hash: String,
        /// Longest wait, in seconds.
        #[arg(long, default_value_t = 300)]
        wait_timeout: u64,
    },
    /// Manage the spending policy of the stored session.
    Policy {
        /// Policy action.
        #[command(subcommand)]
        action: PolicyCommand,
    },
    /// Run the local sandbox backend until interrupted.
    Sandbox(SandboxArgs),
    /// Start the sandbox embedded and run create, register, execute, status,
    /// revoke (sessions in memory, or in the `--store` store when given).
    Demo,
    /// Measure create, register and warm executes (transfers), against the
    /// backend the global options name when `--api-url` / `CHIPI_API_URL` is
    /// given, otherwise against an embedded sandbox; with `--store-ops`, the
    /// session store's reads and compare-and-swaps too.
    ///
    /// The sessions go to the `--store` / `CHIPI_STORE` store; without one,
    /// the embedded sandbox uses a throwaway SQLite file and an external
    /// backend the default store.
    Bench(BenchArgs),
}

/// `policy` actions.
#[derive(Debug, Subcommand)]
pub(crate) enum PolicyCommand {
    /// Set the spending policy for a token.
    Set {
        /// Token contract address.
        #[arg(long)]
        token: String,
        /// Maximum amount per call (u256, decimal or 0x).
        #[arg(long)]
        max_per_call: String,
        /// Maximum amount per window (u256, decimal or 0x).
        #[arg(long)]
        max_per_window: String,
        /// Window length in seconds.
        #[arg(long)]
        window_seconds: u64,
        /// Waiting for the receipt.
        #[command(flatten)]
        wait: WaitArgs,
        /// Naming the intent.
        #[command(flatten)]
        intent: IntentArgs,
    },
    /// Show the spending policy for a token.
    Get {
        /// Token contract address.
        #[arg(long)]
        token: String,
    },
    /// Remove the spending policy for a token.
    Remove {
        /// Token contract address.
        #[arg(long)]
        token: String,
        /// Waiting for the receipt.
        #[command(flatten)]
        wait: WaitArgs,
        /// Naming the intent.
        #[command(flatten)]
        intent: IntentArgs,
    },
}

/// `bench` options.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Warm executes measured (after the first one, which unlocks the key).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(2..=100_000))]
    pub executes: u32,
    /// Wallets with a warm session each, for the throughput and idle-memory
    /// measures (embedded sandbox only; one wallet against a real backend).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub wallets: u32,
    /// Executes in flight at once in the throughput measure (also the
    /// number of component instances of the pool).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub concurrency: u32,
    /// Also measure the session store: N reads, then N successful
    /// compare-and-swaps, one after the other, of a 2 KiB value under a key
    /// of its own, deleted at the end (0: skip).
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=10_000_000))]
    pub store_ops: u32,
    /// Run one part only: `store` (the store measure alone, needs
    /// `--store-ops`; no backend is used), `latency` (one warm session,
    /// executes one after the other: latency and client CPU per execute) or
    /// `throughput` (the pool of warm sessions alone: executes per second
    /// and memory per idle session, with the wall-clock window of the
    /// executes, to line up several processes).
    #[arg(long, value_enum, value_name = "PART")]
    pub only: Option<BenchPart>,
}

/// A part of `chipi-session bench` run alone (`--only`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum BenchPart {
    /// The session store's reads and compare-and-swaps (`--store-ops`).
    Store,
    /// One warm session, executes one after the other: latency and CPU.
    Latency,
    /// The pool of warm sessions: executes per second and idle memory.
    Throughput,
}

/// `sandbox` options.
#[derive(Debug, Args)]
pub(crate) struct SandboxArgs {
    /// Address to listen on (loopback only).
    #[arg(long, default_value = "127.0.0.1:8545")]
    pub listen: SocketAddr,
    /// Create a CHIPI wallet with this PIN and write its JSON to `--wallet-out`.
    #[arg(long, requires = "wallet_out", value_parser = parse_secret)]
    pub pin: Option<SecretString>,
    /// Where to write the created wallet JSON (with `--pin`).
    #[arg(long, requires = "pin")]
    pub wallet_out: Option<PathBuf>,
    /// Relay mode: serve Chipi's endpoints in front of this Starknet node
    /// (starknet-devnet with Chipi's session account predeployed, see
    /// scripts/devnet.sh). Transactions go to the node from a relayer account the
    /// sandbox deploys; `--wallet-out` hands out the node's next predeployed account;
    /// the printed RPC URL is the node's.
    #[arg(long, value_name = "URL")]
    pub devnet_rpc: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsed_args_never_debug_print_secrets() {
        let cli = Cli::try_parse_from([
            "chipi-session",
            "--encrypt-key",
            "pin-0451-secret",
            "--bearer-token",
            "jwt-eyJ-secret",
            "--allow-host",
            "http://127.0.0.1:8545",
            "sandbox",
            "--pin",
            "sandbox-pin-secret",
            "--wallet-out",
            "/tmp/w.json",
        ])
        .unwrap();
        let global = &cli.global;
        assert_eq!(
            global.encrypt_key.as_ref().map(SecretString::expose),
            Some("pin-0451-secret")
        );
        assert_eq!(
            global.bearer_token.as_ref().map(SecretString::expose),
            Some("jwt-eyJ-secret")
        );
        assert_eq!(global.allow_hosts, ["http://127.0.0.1:8545"]);
        for debug in [
            format!("{cli:?}"),
            format!("{cli:#?}"),
            format!("{global:?}"),
        ] {
            assert!(!debug.contains("secret"), "{debug}");
            assert!(debug.contains("<redacted>"), "{debug}");
        }
    }

    #[test]
    fn secret_flags_are_documented_and_hidden_in_help() {
        use clap::CommandFactory as _;
        let help = Cli::command().render_long_help().to_string();
        assert!(
            help.contains("--allow-host <[SCHEME://]HOST:PORT>"),
            "{help}"
        );
        assert!(help.contains("https only"), "{help}");
        assert!(help.contains("--encrypt-key"), "{help}");
    }

    #[test]
    fn sandbox_pin_and_wallet_out_go_together() {
        for args in [
            &["chipi-session", "sandbox", "--pin", "1234"][..],
            &["chipi-session", "sandbox", "--wallet-out", "w.json"][..],
        ] {
            let err = Cli::try_parse_from(args).expect_err("refused alone");
            assert_eq!(
                err.kind(),
                clap::error::ErrorKind::MissingRequiredArgument,
                "{args:?}"
            );
        }
        assert!(Cli::try_parse_from([
            "chipi-session",
            "sandbox",
            "--pin",
            "1234",
            "--wallet-out",
            "w.json"
        ])
        .is_ok());
    }
}
