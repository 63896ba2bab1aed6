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
//! The README's "Embedding the component" section shows a complete use; it
//! is compiled as a doc test of this crate.

pub mod runtime;
pub mod store;

/// The README's Rust examples, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
