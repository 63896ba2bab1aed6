//! End-to-end tests: the real component (the guest `.wasm`) in the real host,
//! against the sandbox over 127.0.0.1, and differential tests against the
//! JavaScript stack Chipi runs in production. One test binary, one module per
//! concern.

mod exactly_once;
mod hardening;
mod interop;
mod lifecycle;
mod limits;
mod redis_at_rest;
mod redis_restart;
mod refusals;
mod store_failures;
mod warm;
