//! Chipi REST API v1: request bodies, URLs, headers and response parsing
//! (docs/protocol.md, "Chipi REST API").

use serde_json::{json, Value};
use starknet_crypto::Felt;

use super::calls::{truncate, Call};
use super::error::{BackendError, Result, SessionError};
use crate::crypto::felt::felt_to_hex;

/// Value of the `__chipi_api_version` query parameter.
pub const API_VERSION: &str = "2025-12-30";
/// Class hash of the CHIPI account (v29) sent as `accountClassHash`.
pub const CHIPI_CLASS_HASH: &str =
    "0x053f4f8791ed5bed0fddaa553d180c664e32cfaf8316bb232ae77bb08f459f2a";
/// Path of the typed-data preparation endpoint.
pub const PREPARE_TYPED_DATA: &str = "/transactions/prepare-typed-data";
/// Path of the sponsored execution endpoint.
pub const EXECUTE_SPONSORED: &str = "/transactions/execute-sponsored-transaction";
/// Largest response body accepted from the backend or an RPC node.
pub const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// Full URL of an endpoint: base URL (without trailing slash) + path + version query.
pub fn endpoint_url(base_url: &str, path: &str) -> String {
    format!(
        "{}{}?__chipi_api_version={}",
        base_url.trim_end_matches('/'),
        path,
        API_VERSION
    )
}

/// Headers of every Chipi request. The bearer token is only ever placed here.
pub fn headers(api_key: &str, bearer_token: &str) -> Vec<(String, String)> {
    vec![
        ("content-type".into(), "application/json".into()),
        ("x-api-key".into(), api_key.to_string()),
        ("authorization".into(), format!("Bearer {bearer_token}")),
    ]
}

/// Which key will sign the typed data a `prepare-typed-data` request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signer {
    /// The wallet's owner key (register, revoke, spending policy).
    Owner,
    /// The session key (`execute-with-session`).
    Session,
}

/// Body of `prepare-typed-data`, field for field what Chipi's SDK sends:
/// owner-signed flows carry no `walletType`, the session flow carries
/// `"walletType": "CHIPI"`.
pub fn prepare_typed_data_body(wallet: &Felt, calls: &[Call], signer: Signer) -> Value {
    let mut body = json!({
        "publicKey": felt_to_hex(wallet),
        "calls": calls.iter().map(Call::to_api_json).collect::<Vec<_>>(),
        "accountClassHash": CHIPI_CLASS_HASH,
    });
    if signer == Signer::Session {
        body["walletType"] = json!("CHIPI");
    }
    body
}

/// Owner signature `{r, s}` with decimal strings, as Chipi's SDK sends it
/// (no recovery bit).
pub fn owner_signature_json(r: &Felt, s: &Felt) -> Value {
    json!({ "r": r.to_string(), "s": s.to_string() })
}

/// Body of an owner-signed `execute-sponsored-transaction` (session management).
pub fn execute_owner_body(wallet: &Felt, typed_data: &Value, signature: &Value) -> Value {
    json!({
        "publicKey": felt_to_hex(wallet),
        "typedData": typed_data,
        "userSignature": signature,
        "saveToDatabase": false,
        "walletType": "CHIPI",
    })
}

/// Body of a session-signed `execute-sponsored-transaction`:
/// `userSignature = [session_pubkey, r, s, valid_until]`.
pub fn execute_session_body(
    wallet: &Felt,
    typed_data: &Value,
    session_pubkey: &Felt,
    r: &Felt,
    s: &Felt,
    valid_until: u64,
) -> Value {
    json!({
        "publicKey": felt_to_hex(wallet),
        "typedData": typed_data,
        "userSignature": [
            felt_to_hex(session_pubkey),
            felt_to_hex(r),
            felt_to_hex(s),
            felt_to_hex(&Felt::from(valid_until)),
        ],
        "isSessionSignature": true,
        "saveToDatabase": true,
        "walletType": "CHIPI",
    })
}

/// Parse a JSON body, refusing oversized, malformed, too deeply nested ones
/// and ones with duplicate keys ([`super::strict_json`]).
pub fn parse_json(body: &[u8]) -> Result<Value> {
    if body.len() > MAX_RESPONSE_BYTES {
        return Err(SessionError::response("response body too large"));
    }
    super::strict_json::parse(body)
        .map_err(|e| SessionError::response(format!("response is not valid JSON: {e}")))
}

/// Turn a non-2xx response into an error, using Chipi's code when it is one of
/// the session codes.
pub fn error_from_response(status: u16, body: &[u8]) -> SessionError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let field = |name: &str| -> Option<String> {
        parsed.as_ref().and_then(|v| match v.get(name) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .filter_map(|i| i.as_str())
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            _ => None,
        })
    };
    let message = field("message")
        .or_else(|| field("error"))
        .unwrap_or_else(|| truncate(&String::from_utf8_lossy(body)));
    let message = truncate(&message);
    let code = field("code");
    if let Some(err) = code
        .as_deref()
        .and_then(|c| SessionError::from_chipi_code(c, &message))
    {
        return err;
    }
    SessionError::Backend(BackendError {
        status,
        code,
        message,
    })
}

/// Extract the typed data from a `prepare-typed-data` response: either
/// `{typedData, walletType}` or, from older servers, the typed data itself.
pub fn typed_data_from_response(body: &Value) -> Result<Value> {
    let candidate = match body.get("typedData") {
        Some(td) => td,
        None => body,
    };
    if candidate.get("types").is_some() && candidate.get("message").is_some() {
        Ok(candidate.clone())
    } else {
        Err(SessionError::response(
            "prepare-typed-data response carries no typed data",
        ))
    }
}

/// Extract the transaction hash from an `execute-sponsored-transaction` response.
pub fn transaction_hash_from_response(body: &Value) -> Result<String> {
    let hash = body
        .get("transactionHash")
        .and_then(Value::as_str)
        .ok_or_else(|| SessionError::response("response carries no transactionHash"))?;
    let felt = crate::crypto::felt::parse_felt(hash)
        .map_err(|_| SessionError::response("transactionHash is not a felt"))?;
    Ok(felt_to_hex(&felt))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_has_version_query() {
        assert_eq!(
            endpoint_url("https://api.chipipay.com/v1/", PREPARE_TYPED_DATA),
            "https://api.chipipay.com/v1/transactions/prepare-typed-data?__chipi_api_version=2025-12-30"
        );
    }

    #[test]
    fn session_body_layout() {
        let body = execute_session_body(
            &Felt::from(0xabu8),
            &json!({"types": {}}),
            &Felt::from(1u8),
            &Felt::from(2u8),
            &Felt::from(3u8),
            255,
        );
        assert_eq!(body["userSignature"], json!(["0x1", "0x2", "0x3", "0xff"]));
        assert_eq!(body["isSessionSignature"], json!(true));
        assert_eq!(body["saveToDatabase"], json!(true));
        assert_eq!(body["publicKey"], json!("0xab"));
    }

    #[test]
    fn prepare_body_carries_wallet_type_only_for_sessions() {
        let owner = prepare_typed_data_body(&Felt::ONE, &[], Signer::Owner);
        assert!(owner.get("walletType").is_none());
        assert_eq!(owner["accountClassHash"], json!(CHIPI_CLASS_HASH));
        let session = prepare_typed_data_body(&Felt::ONE, &[], Signer::Session);
        assert_eq!(session["walletType"], json!("CHIPI"));
    }

    #[test]
    fn owner_body_layout() {
        let sig = owner_signature_json(&Felt::from(10u8), &Felt::from(11u8));
        let body = execute_owner_body(&Felt::ONE, &json!({}), &sig);
        assert_eq!(body["userSignature"], json!({"r": "10", "s": "11"}));
        assert_eq!(body["saveToDatabase"], json!(false));
        assert!(body.get("isSessionSignature").is_none());
    }

    #[test]
    fn error_mapping() {
        let e = error_from_response(
            401,
            br#"{"statusCode":401,"message":"Invalid API key","code":"INVALID_API_KEY"}"#,
        );
        assert_eq!(
            e,
            SessionError::Backend(BackendError {
                status: 401,
                code: Some("INVALID_API_KEY".into()),
                message: "Invalid API key".into()
            })
        );
        let e = error_from_response(
            400,
            br#"{"message":"Session expired","code":"SESSION_EXPIRED"}"#,
        );
        assert_eq!(e.code(), "SESSION_EXPIRED");
        let e = error_from_response(500, b"<html>oops</html>");
        assert!(
            matches!(e, SessionError::Backend(ref b) if b.status == 500 && b.message.contains("oops"))
        );
    }

    #[test]
    fn response_parsing() {
        let td = json!({"types": {}, "message": {}});
        assert_eq!(
            typed_data_from_response(&json!({"typedData": td.clone(), "walletType": "CHIPI"}))
                .unwrap(),
            td
        );
        assert_eq!(typed_data_from_response(&td).unwrap(), td);
        assert!(typed_data_from_response(&json!({"foo": 1})).is_err());
        assert_eq!(
            transaction_hash_from_response(&json!({"transactionHash": "0x0AB"})).unwrap(),
            "0xab"
        );
        assert_eq!(
            transaction_hash_from_response(&json!({}))
                .unwrap_err()
                .code(),
            "SESSION_INVALID_RESPONSE"
        );
        assert!(parse_json(b"{not json").is_err());
    }
}
