//! Embedding library for the Chipi session-key component on wasmtime.
//!
//! - [`runtime`]: loads (and caches compiled) the component, backs its imports
//!   with a sandboxed WASI context, and calls its exports.
//! - [`store`]: the [`SessionStore`](store::SessionStore) trait behind the
//!   component's `chipi:session/store` import, an in-memory store, and (cargo
//!   feature `sqlite`, on by default) a durable `SQLite` store.
//!
//! The component comes as bytes or a path
//! ([`ComponentSource`](runtime::ComponentSource)); with the `embedded`
//! feature the library also carries one built from `guest/`.
//!
//! ```no_run
//! use chipi_session_host::runtime::{ComponentSource, Imports, RuntimeOptions, SessionRuntime};
//! use chipi_session_host::store::MemoryStore;
//!
//! # fn main() -> anyhow::Result<()> {
//! let options = RuntimeOptions::new(ComponentSource::Path("chipi_session_guest.wasm".into()));
//! let runtime = SessionRuntime::new(options)?;
//! let handle = runtime.instance(Imports::new(MemoryStore::new()));
//! # let _ = handle;
//! # Ok(())
//! # }
//! ```

pub mod runtime;
pub mod store;
