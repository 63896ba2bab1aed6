//! SNIP-12 typed-data hashing that matches starknet.js 9.x
//! `typedData.getMessageHash(typedData, accountAddress)` on the typed data
//! exactly as a server returns it.
//!
//! - Revision detection ([`revision`]): `domain.revision` `"1"` or `1` is
//!   revision 1 (domain type `StarknetDomain`, Poseidon); absent, `null` or
//!   `"0"` is revision 0 (domain type `StarkNetDomain`, Pedersen). The JSON
//!   number `0` is refused, as starknet.js refuses it.
//!   The matching domain type must be declared.
//! - Message hash: `H("StarkNet Message", domain struct hash, account,
//!   message struct hash)` where `H` is the Pedersen chain
//!   (`computeHashOnElements`) in revision 0 and `poseidon_hash_many` in
//!   revision 1.
//! - Type strings and dependencies: `schema`; value encodings: `encode`;
//!   JavaScript number semantics: `js`; merkle roots: `merkle`.
//!
//! Everything is bounded: nesting (of types and of values) beyond
//! [`MAX_DEPTH`] and recursive types are errors, never a stack overflow.

mod encode;
mod js;
mod merkle;
mod schema;

use serde_json::{Map, Value};

use self::encode::Encoder;
use self::schema::{Schema, Scope};
use crate::crypto::error::{error_name, TypedDataError};
use crate::crypto::felt::Felt;

/// Deepest nesting of types or values we accept.
pub const MAX_DEPTH: usize = 32;

/// `"StarkNet Message"` as a Cairo short string.
const STARKNET_MESSAGE: Felt = Felt::from_hex_unchecked("0x537461726b4e6574204d657373616765");

/// SNIP-12 revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Revision {
    /// Legacy: `StarkNetDomain`, Pedersen, unquoted type strings.
    V0,
    /// Active: `StarknetDomain`, Poseidon, quoted type strings, presets, enums.
    V1,
}

impl Revision {
    /// Name of the domain separator type of this revision.
    pub fn domain_type(self) -> &'static str {
        match self {
            Self::V0 => "StarkNetDomain",
            Self::V1 => "StarknetDomain",
        }
    }
}

/// The top-level members of a typed-data document.
struct Document<'a> {
    types: &'a Map<String, Value>,
    primary_type: &'a str,
    domain: &'a Value,
    message: &'a Value,
    revision: Revision,
}

impl<'a> Document<'a> {
    fn parse(typed_data: &'a Value) -> Result<Self, TypedDataError> {
        let root = typed_data
            .as_object()
            .ok_or(TypedDataError::Malformed("typed data is not an object"))?;
        let types = root
            .get("types")
            .and_then(Value::as_object)
            .ok_or(TypedDataError::Malformed("`types` is not an object"))?;
        let primary_type = root
            .get("primaryType")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or(TypedDataError::Malformed(
                "`primaryType` is not a non-empty string",
            ))?;
        let domain = root
            .get("domain")
            .filter(|d| d.is_object())
            .ok_or(TypedDataError::Malformed("`domain` is not an object"))?;
        let message = root
            .get("message")
            .filter(|m| is_js_truthy(m))
            .ok_or(TypedDataError::Malformed("`message` is missing"))?;
        let revision = detect_revision(types, domain)?;
        Ok(Self {
            types,
            primary_type,
            domain,
            message,
            revision,
        })
    }
}

/// JavaScript truthiness of a JSON value.
fn is_js_truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// Revision from `domain.revision`, checked against the declared domain type.
fn detect_revision(types: &Map<String, Value>, domain: &Value) -> Result<Revision, TypedDataError> {
    let revision = match domain.get("revision") {
        None | Some(Value::Null) => Revision::V0,
        Some(Value::String(s)) if s == "0" => Revision::V0,
        Some(Value::String(s)) if s == "1" => Revision::V1,
        // starknet.js's schema check compares `revision` with the string "0",
        // so a JSON number 0 is refused there; the number 1 is accepted.
        Some(Value::Number(n)) if n.as_f64() == Some(1.0) => Revision::V1,
        Some(_) => return Err(TypedDataError::UnknownRevision),
    };
    if !types.contains_key(revision.domain_type()) {
        return Err(TypedDataError::UnknownRevision);
    }
    Ok(revision)
}

/// The SNIP-12 revision of a typed-data document.
pub fn revision(typed_data: &Value) -> Result<Revision, TypedDataError> {
    Document::parse(typed_data).map(|doc| doc.revision)
}

/// The message hash to sign, equal to starknet.js
/// `typedData.getMessageHash(typedData, account)`.
pub fn message_hash(typed_data: &Value, account: &Felt) -> Result<Felt, TypedDataError> {
    let doc = Document::parse(typed_data)?;
    let encoder = Encoder::new(Schema::new(doc.types, doc.revision));
    let domain_type = doc.revision.domain_type();
    let domain_hash = top_level_struct_hash(&encoder, domain_type, doc.domain)?;
    let message_hash = top_level_struct_hash(&encoder, doc.primary_type, doc.message)?;
    Ok(encoder.hash_many(&[STARKNET_MESSAGE, domain_hash, *account, message_hash]))
}

/// starknet.js `getStructHash(types, name, data, revision)` at top level
/// (the members are encoded against the document's types even when `name`
/// is a preset).
fn top_level_struct_hash(
    encoder: &Encoder<'_>,
    name: &str,
    data: &Value,
) -> Result<Felt, TypedDataError> {
    let (_, fields) = encoder
        .schema()
        .value_struct(Scope::User, name)?
        .ok_or_else(|| TypedDataError::UnknownType(error_name(name)))?;
    encoder.struct_hash(Scope::User, name, &fields, data, 0)
}

/// How starknet.js encodes one revision-1 value of a basic type (`felt`,
/// `shortstring`, `ContractAddress`, `u128`, `selector`, ...), the exact
/// reading [`message_hash`] applies to a member of that type.
pub fn encode_basic_v1(ty: &str, value: &Value) -> Result<Felt, TypedDataError> {
    let no_types = Map::new();
    Encoder::new(Schema::new(&no_types, Revision::V1)).encode_value(Scope::User, ty, value, None, 0)
}

/// starknet.js `encodeType(types, name, revision)` on a `types` object.
pub fn encode_type(
    types: &Value,
    name: &str,
    revision: Revision,
) -> Result<String, TypedDataError> {
    let types = types
        .as_object()
        .ok_or(TypedDataError::Malformed("`types` is not an object"))?;
    Schema::new(types, revision).encode_type(Scope::User, name)
}

/// starknet.js `getTypeHash(types, name, revision)`: starknet_keccak of [`encode_type`].
pub fn type_hash(types: &Value, name: &str, revision: Revision) -> Result<Felt, TypedDataError> {
    let types = types
        .as_object()
        .ok_or(TypedDataError::Malformed("`types` is not an object"))?;
    Encoder::new(Schema::new(types, revision)).type_hash(Scope::User, name)
}

/// starknet.js `getStructHash(types, name, data, revision)`.
pub fn struct_hash(
    types: &Value,
    name: &str,
    data: &Value,
    revision: Revision,
) -> Result<Felt, TypedDataError> {
    let types = types
        .as_object()
        .ok_or(TypedDataError::Malformed("`types` is not an object"))?;
    let encoder = Encoder::new(Schema::new(types, revision));
    top_level_struct_hash(&encoder, name, data)
}

#[cfg(test)]
mod tests;
