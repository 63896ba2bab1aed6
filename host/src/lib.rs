//! Reference host for the Chipi session-key component.
//!
//! - [`runtime`]: loads (and caches compiled) the component, backs its imports
//!   with a sandboxed WASI context, and calls its exports.
//! - [`store`]: session stores backing the `chipi:session/store` import (SQLite, memory).
//! - [`sandbox`]: a local Chipi-compatible backend and Starknet RPC for tests and the demo.
//! - [`clock`]: a shiftable wall clock shared by the sandbox and the component.
//! - [`cli`]: the `chipi-session` command line.

pub mod cli;
pub mod clock;
pub mod runtime;
pub mod sandbox;
pub mod store;
