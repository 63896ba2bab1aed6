//! Tests of the sandbox over real loopback HTTP, one file per concern.

mod support;
mod auth_and_prepare;
mod sessions;
mod typed_data;
mod policies;
mod faults;
mod rpc_and_admin;
mod nonces;
