//! Loads the session component, backs its imports and calls its exports.
//!
//! - [`SessionRuntime`] compiles the component once (or loads it from the
//!   on-disk cache), links WASI p2, `wasi:http` and the project imports, and
//!   pre-instantiates it. An epoch ticker enforces per-call time limits.
//! - [`WalletSession`] (from [`SessionRuntime::open_session`], or a
//!   [`SessionPool`] from [`SessionRuntime::pool`]) is a warm
//!   `wallet-session` resource in a long-lived instance with a WASI context
//!   that grants nothing (no files, env, args, stdio or sockets), bounded
//!   memory, bounded run time per call, and outgoing HTTP restricted to
//!   allow-listed authorities.
//! - [`Imports`] says what the host provides: a [`SessionStore`](crate::store::SessionStore),
//!   a [`TokenSource`], allowed `(scheme, host, port)` origins, an optional
//!   [`WallClock`] and an optional [`WarningSink`].
//! - [`SessionContext`] is the `session-context` record with the encrypt key
//!   held as a [`SecretString`] (zeroized, never printed); the generated
//!   bindings stay private.

mod bindings;
mod cache;
mod context;
mod core_dumps;
mod engine;
mod errors;
mod host_state;
mod http_policy;
mod imports;
mod limits;
mod options;
mod pool;
mod redact;
mod secret;
mod session;
mod token;
mod unlock_limit;
mod worker;

pub use bindings::chipi::session::types::{
    BackendError, Call, Config, CreateOptions, EncryptKeyKind, ExecutionStatus, IntentOptions,
    RegisterOptions, SessionData, SessionError, SessionKeyData, SessionState, SessionStatus,
    SpendingPolicy, SpendingPolicyInput, TransactionReceipt, Wallet, WalletType,
};
pub use cache::CacheStatus;
pub use context::SessionContext;
pub use core_dumps::{core_dumps_excluded, exclude_from_core_dumps};
pub use engine::SessionRuntime;
pub use http_policy::{authorities_from_urls, canonical_entry};
pub use imports::{Imports, WallClock, WarningSink};
pub use limits::{MAX_ARGUMENT_BYTES, MAX_STORE_VALUE_BYTES};
#[cfg(feature = "embedded")]
pub use options::embedded_component;
pub use options::{
    default_cache_dir, ComponentSource, RuntimeOptions, DEFAULT_CALL_TIMEOUT,
    DEFAULT_MAX_INSTANCES, DEFAULT_MEMORY_LIMIT_BYTES,
};
pub use pool::{PoolOptions, SessionPool};
pub use redact::redact_urls_in;
pub use secret::{parse_secret, SecretString};
pub use session::WalletSession;
pub use token::{NoToken, StaticToken, TokenSource};

#[cfg(test)]
mod tests;
