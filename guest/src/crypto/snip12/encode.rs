//! Encoding of SNIP-12 values to felts (starknet.js `encodeValue`,
//! `encodeData`, `getStructHash`).
//!
//! Struct hash = hash(type hash, encoded members...) with the revision's
//! hash (revision 0: Pedersen chain `computeHashOnElements`, revision 1:
//! `poseidon_hash_many`). Member encodings, per revision:
//!
//! | type | revision 0 | revision 1 |
//! |---|---|---|
//! | declared struct / preset | struct hash | struct hash |
//! | `T*` | hash of the element encodings | same |
//! | `selector` | hex string as is, else starknet_keccak(name) | same |
//! | `merkletree` | Pedersen merkle root of the `contains` encodings | Poseidon root |
//! | `enum` | number | hash(variant index, encoded tuple items) |
//! | `string` | number or short string | hash of its `ByteArray` serialisation |
//! | `felt`, `shortstring` | number or short string | same, `< P` |
//! | `ContractAddress`, `ClassHash` | number or short string | number `< P` |
//! | `u128`, `timestamp` | number or short string | number `< 2^128` |
//! | `i128` | number or short string | number in i128 range, negatives `P + x` |
//! | `bool` | number or short string | JSON boolean |
//! | anything else | number or short string | error |
//!
//! "number or short string" is starknet.js `getHex` ([`super::js::get_hex`]);
//! every encoded value must lie in `[0, P)`.

use std::cell::RefCell;
use std::collections::HashMap;

use serde_json::Value;
use starknet_core::crypto::compute_hash_on_elements;
use starknet_core::utils::starknet_keccak;
use starknet_crypto::poseidon_hash_many;

use super::js::{byte_array_words, get_hex, is_hex_literal, to_bigint, NotBigInt};
use super::merkle::merkle_root;
use super::schema::{tuple_inner, Field, Schema, Scope};
use super::{Revision, MAX_DEPTH};
use crate::crypto::error::{error_name, TypedDataError};
use crate::crypto::felt::{accumulate_digits, felt_from_be_checked, Felt};

/// Where a value sits: the struct that declares it and the member's name
/// (starknet.js `ctx`), needed by `enum` and `merkletree` members.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ctx<'f, 'a> {
    /// Name of the declaring struct.
    pub parent: &'f str,
    /// Members of the declaring struct.
    pub fields: &'f [Field<'a>],
    /// Name of this member.
    pub key: &'f str,
}

/// Encoder for one document.
pub(super) struct Encoder<'a> {
    schema: Schema<'a>,
    type_hashes: RefCell<HashMap<(Scope, String), Felt>>,
}

impl<'a> Encoder<'a> {
    /// An encoder over a schema.
    pub(crate) fn new(schema: Schema<'a>) -> Self {
        Self {
            schema,
            type_hashes: RefCell::new(HashMap::new()),
        }
    }

    /// The schema.
    pub(crate) fn schema(&self) -> &Schema<'a> {
        &self.schema
    }

    fn revision(&self) -> Revision {
        self.schema.revision()
    }

    /// The revision's hash over a list of felts.
    pub(crate) fn hash_many(&self, items: &[Felt]) -> Felt {
        match self.revision() {
            Revision::V0 => compute_hash_on_elements(items),
            Revision::V1 => poseidon_hash_many(items),
        }
    }

    /// starknet-keccak of the type string (cached per scope and name).
    pub(crate) fn type_hash(&self, scope: Scope, name: &str) -> Result<Felt, TypedDataError> {
        let key = (scope, name.to_owned());
        if let Some(hash) = self.type_hashes.borrow().get(&key) {
            return Ok(*hash);
        }
        let hash = starknet_keccak(self.schema.encode_type(scope, name)?.as_bytes());
        self.type_hashes.borrow_mut().insert(key, hash);
        Ok(hash)
    }

    /// starknet.js `getStructHash`: `hash(type hash, members...)`.
    pub(crate) fn struct_hash(
        &self,
        scope: Scope,
        name: &str,
        fields: &[Field<'a>],
        data: &Value,
        depth: usize,
    ) -> Result<Felt, TypedDataError> {
        if depth > MAX_DEPTH {
            return Err(TypedDataError::TooDeep(MAX_DEPTH));
        }
        let obj = data
            .as_object()
            .ok_or_else(|| bad(name, "expected an object"))?;
        let mut items = Vec::with_capacity(fields.len() + 1);
        items.push(self.type_hash(scope, name)?);
        for f in fields {
            let value = match obj.get(f.name) {
                None | Some(Value::Null) => {
                    return Err(TypedDataError::MissingField(error_name(f.name)))
                }
                Some(value) => value,
            };
            let ctx = Ctx {
                parent: name,
                fields,
                key: f.name,
            };
            items.push(self.encode_value(scope, f.ty, value, Some(&ctx), depth + 1)?);
        }
        Ok(self.hash_many(&items))
    }

    /// starknet.js `encodeValue`.
    pub(crate) fn encode_value(
        &self,
        scope: Scope,
        ty: &str,
        data: &Value,
        ctx: Option<&Ctx<'_, 'a>>,
        depth: usize,
    ) -> Result<Felt, TypedDataError> {
        if depth > MAX_DEPTH {
            return Err(TypedDataError::TooDeep(MAX_DEPTH));
        }
        if let Some((inner_scope, fields)) = self.schema.value_struct(scope, ty)? {
            return self.struct_hash(inner_scope, ty, &fields, data, depth);
        }
        if let Some(element) = ty.strip_suffix('*') {
            let items = data
                .as_array()
                .ok_or_else(|| bad(ty, "expected an array"))?;
            let encoded = items
                .iter()
                .map(|item| self.encode_value(scope, element, item, None, depth + 1))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(self.hash_many(&encoded));
        }
        let v1 = self.revision() == Revision::V1;
        match ty {
            "enum" if v1 => self.encode_enum(scope, data, ctx, depth),
            "merkletree" => self.encode_merkletree(scope, data, ctx, depth),
            "selector" => encode_selector(data),
            "string" if v1 => {
                let text = data.as_str().ok_or_else(|| bad(ty, "expected a string"))?;
                let words = byte_array_words(text).map_err(|reason| bad(ty, reason))?;
                Ok(self.hash_many(&words))
            }
            "i128" if v1 => bigint(ty, data)?
                .to_i128_felt()
                .map_err(|reason| bad(ty, reason)),
            "u128" | "timestamp" if v1 => bigint(ty, data)?
                .to_u128_felt()
                .map_err(|reason| bad(ty, reason)),
            "ContractAddress" | "ClassHash" if v1 => bigint(ty, data)?
                .to_felt()
                .map_err(|reason| bad(ty, reason)),
            "bool" if v1 => match data {
                Value::Bool(b) => Ok(Felt::from(u8::from(*b))),
                _ => Err(bad(ty, "expected a boolean")),
            },
            "felt" | "shortstring" if v1 => hex_felt(ty, data),
            _ if v1 => Err(TypedDataError::UnknownType(error_name(ty))),
            _ => hex_felt(ty, data),
        }
    }

    /// Revision-1 enum: `hash(variant index, tuple items...)` (no type hash,
    /// as starknet.js does it); an empty tuple slot (`"()"`) contributes 0.
    fn encode_enum(
        &self,
        scope: Scope,
        data: &Value,
        ctx: Option<&Ctx<'_, 'a>>,
        depth: usize,
    ) -> Result<Felt, TypedDataError> {
        let ctx = ctx.ok_or_else(|| TypedDataError::InvalidEnum(String::new()))?;
        let invalid = || TypedDataError::InvalidEnum(error_name(ctx.key));
        let member = ctx
            .fields
            .iter()
            .find(|f| f.name == ctx.key)
            .ok_or_else(invalid)?;
        let enum_name = member.contains.ok_or_else(invalid)?;
        let variants = self.schema.own(scope, enum_name)?.ok_or_else(invalid)?;
        let obj = data.as_object().ok_or_else(invalid)?;
        let mut entries = obj.iter();
        let (Some((variant_name, variant_data)), None) = (entries.next(), entries.next()) else {
            return Err(invalid());
        };
        let index = variants
            .iter()
            .position(|v| v.name == variant_name)
            .ok_or_else(invalid)?;
        let variant = variants.get(index).ok_or_else(invalid)?;
        let inner = tuple_inner(variant.ty).ok_or_else(invalid)?;
        let values = variant_data.as_array().ok_or_else(invalid)?;
        let mut items = vec![Felt::from(index)];
        for (slot, item_ty) in inner.split(',').enumerate() {
            if item_ty.is_empty() {
                items.push(Felt::ZERO);
                continue;
            }
            let value = values.get(slot).ok_or_else(invalid)?;
            items.push(self.encode_value(scope, item_ty, value, None, depth + 1)?);
        }
        Ok(self.hash_many(&items))
    }

    /// Merkle root over the encodings of the leaves, whose type is the
    /// member's `contains` (or `raw` outside a struct, as in starknet.js).
    fn encode_merkletree(
        &self,
        scope: Scope,
        data: &Value,
        ctx: Option<&Ctx<'_, 'a>>,
        depth: usize,
    ) -> Result<Felt, TypedDataError> {
        let leaf_ty = match ctx {
            Some(ctx) if !ctx.parent.is_empty() && !ctx.key.is_empty() => {
                let invalid = || TypedDataError::InvalidMerkleTree(error_name(ctx.key));
                let member = ctx
                    .fields
                    .iter()
                    .find(|f| f.name == ctx.key)
                    .ok_or_else(invalid)?;
                if member.ty != "merkletree" {
                    return Err(invalid());
                }
                let contains = member.contains.ok_or_else(invalid)?;
                if contains.ends_with('*') {
                    return Err(invalid());
                }
                contains
            }
            _ => "raw",
        };
        let leaves = data
            .as_array()
            .ok_or_else(|| bad("merkletree", "expected an array"))?;
        let hashes = leaves
            .iter()
            .map(|leaf| self.encode_value(scope, leaf_ty, leaf, None, depth + 1))
            .collect::<Result<Vec<_>, _>>()?;
        merkle_root(&hashes, self.revision()).ok_or(TypedDataError::EmptyMerkleTree)
    }
}

/// `selector`: a `0x`-hex string is the selector itself; any other string is
/// a function name, hashed with starknet_keccak over its UTF-8 bytes.
fn encode_selector(data: &Value) -> Result<Felt, TypedDataError> {
    let text = data
        .as_str()
        .ok_or_else(|| bad("selector", "expected a string"))?;
    if !is_hex_literal(text) {
        return Ok(starknet_keccak(text.as_bytes()));
    }
    let digits = text.get(2..).unwrap_or_default();
    let mut acc = [0u8; 32];
    accumulate_digits(digits.as_bytes(), 16, &mut acc)
        .map_err(|_| bad("selector", "invalid hex selector"))?;
    felt_from_be_checked(&acc)
        .map_err(|_| bad("selector", "selector does not fit in a field element"))
}

/// `BigInt(value)` with the declared type in the error.
fn bigint(ty: &str, data: &Value) -> Result<super::js::JsInt, TypedDataError> {
    to_bigint(data).map_err(|e| match e {
        NotBigInt::Syntax => bad(ty, "not a number"),
        NotBigInt::Refused(reason) => bad(ty, reason),
    })
}

/// `getHex(value)`, which must be a felt.
fn hex_felt(ty: &str, data: &Value) -> Result<Felt, TypedDataError> {
    get_hex(data)
        .and_then(super::js::JsInt::to_felt)
        .map_err(|reason| bad(ty, reason))
}

fn bad(ty: &str, reason: &'static str) -> TypedDataError {
    TypedDataError::BadValue {
        ty: error_name(ty),
        reason,
    }
}
