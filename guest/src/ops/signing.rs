//! Decrypting keys and the prepare -> verify -> sign -> execute flow shared by
//! every transaction.

use starknet_crypto::Felt;

use super::ports::Ports;
use super::{remote, Env};
use crate::core::envelope;
use crate::core::keys::SigningKey;
use crate::core::owner_key::decrypt_owner_key;
use crate::core::snip12;
use crate::protocol::calls::Call;
use crate::protocol::chipi_api;
use crate::protocol::error::{Result, SessionError};
use crate::protocol::record::SessionRecord;
use crate::protocol::typed_data_check::verify_outside_execution;

/// Decrypt the wallet's owner key with the encrypt key.
pub fn owner_key(env: &Env<'_>) -> Result<SigningKey> {
    decrypt_owner_key(
        &env.ctx.wallet.encrypted_private_key,
        &env.ctx.encrypt_key,
        &env.wallet,
    )
    .map_err(|e| SessionError::DecryptionFailed(format!("owner key: {e}")))
}

/// Decrypt the stored session's private key with the encrypt key.
pub fn session_key(env: &Env<'_>, record: &SessionRecord) -> Result<SigningKey> {
    let public_key = crate::core::felt::parse_felt(&record.public_key)
        .map_err(|_| SessionError::Store("stored session public key is not a felt".into()))?;
    envelope::open(
        &record.encrypted_private_key,
        &env.ctx.encrypt_key,
        &env.wallet,
        &public_key,
    )
    .map_err(|e| SessionError::DecryptionFailed(format!("session key: {e}")))
}

/// Ask the backend for the typed data of `calls`, check it, and return it with
/// its message hash. Nothing is signed when the check fails.
pub fn prepare_and_hash<P: Ports>(
    env: &Env<'_>,
    ports: &mut P,
    calls: &[Call],
    signer: chipi_api::Signer,
) -> Result<(serde_json::Value, Felt)> {
    let chain_id = remote::chain_id(env, ports)?;
    let typed_data = remote::prepare_typed_data(env, ports, calls, signer)?;
    let now = ports.now_unix();
    verify_outside_execution(&typed_data, calls, &chain_id, now)?;
    let hash = snip12::message_hash(&typed_data, &env.wallet)
        .map_err(|e| SessionError::response(format!("cannot hash typed data: {e}")))?;
    Ok((typed_data, hash))
}

/// Run `calls` on the wallet as an owner-signed gasless transaction
/// (`saveToDatabase: false`); returns the transaction hash.
pub fn owner_transaction<P: Ports>(
    env: &Env<'_>,
    ports: &mut P,
    owner: &SigningKey,
    calls: &[Call],
) -> Result<String> {
    let (typed_data, hash) = prepare_and_hash(env, ports, calls, chipi_api::Signer::Owner)?;
    let signature = owner
        .sign(&hash)
        .map_err(|e| SessionError::CreationFailed(format!("owner signature failed: {e}")))?;
    let body = chipi_api::execute_owner_body(
        &env.wallet,
        &typed_data,
        chipi_api::owner_signature_json(&signature.r, &signature.s),
    );
    remote::execute_sponsored(env, ports, &body)
}
