//! Embedding library for the Chipi session-key component on wasmtime.
//!
//! - [`runtime`]: loads (and caches compiled) the component, backs its imports
//!   with a sandboxed WASI context, and calls its exports.
//! - [`store`]: the [`SessionStore`](store::SessionStore) trait behind the
//!   component's `chipi:session/store` import, store URLs, an in-memory
//!   store, a durable `SQLite` store (cargo feature `sqlite`, on by default)
//!   and a Redis store (cargo feature `redis`).
//!
//! The component comes as bytes or a path
//! ([`ComponentSource`](runtime::ComponentSource)); with the `embedded`
//! feature the library also carries one built from `guest/`.
//!
//! The README's "Embedding the component" section shows a complete use; it
//! is compiled as a doc test of this crate (with the `redis` feature).

pub mod runtime;
pub mod store;

/// The README's Rust examples, compiled as doc tests (they use both stores).
#[cfg(all(doctest, feature = "sqlite", feature = "redis"))]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
