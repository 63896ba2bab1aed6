//! Type declarations of a SNIP-12 document: lookup (declared types, revision-1
//! presets), dependency discovery and the `encodeType` string whose
//! starknet-keccak is a type hash.
//!
//! Mirrors starknet.js `getDependencies` / `encodeType`:
//! - revision 0: `Name(a:felt,b:Other)`; revision 1 quotes every name and
//!   type: `"Name"("a":"felt","b":"Other")`, prints an `enum` member as its
//!   `contains` type and a variant tuple as `("u128","Other*")`;
//! - the primary type comes first, then every type it depends on, sorted
//!   (JavaScript default sort: UTF-16 code units);
//! - in revision 1 the presets `u256`, `TokenAmount`, `NftId` are appended
//!   when referenced, and in the type string they take precedence over a
//!   declared type of the same name (`{...types, ...presetTypes}`).
//!
//! A cycle in the dependency graph is an error (starknet.js recurses forever).

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::{Revision, MAX_DEPTH};
use crate::crypto::error::{error_name, TypedDataError};

/// One member of a struct (or variant of an enum) declaration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Field<'a> {
    /// Member name.
    pub name: &'a str,
    /// Declared type.
    pub ty: &'a str,
    /// `contains` (enum and merkletree members).
    pub contains: Option<&'a str>,
}

const fn field(name: &'static str, ty: &'static str) -> Field<'static> {
    Field {
        name,
        ty,
        contains: None,
    }
}

/// Revision-1 preset `u256`.
const PRESET_U256: &[Field<'static>] = &[field("low", "u128"), field("high", "u128")];
/// Revision-1 preset `TokenAmount`.
const PRESET_TOKEN_AMOUNT: &[Field<'static>] = &[
    field("token_address", "ContractAddress"),
    field("amount", "u256"),
];
/// Revision-1 preset `NftId`.
const PRESET_NFT_ID: &[Field<'static>] = &[
    field("collection_address", "ContractAddress"),
    field("token_id", "u256"),
];

/// Property names every JavaScript object inherits: starknet.js finds them
/// in any `types` object, then fails on them.
const JS_OBJECT_PROTOTYPE: [&str; 12] = [
    "__proto__",
    "__defineGetter__",
    "__defineSetter__",
    "__lookupGetter__",
    "__lookupSetter__",
    "constructor",
    "hasOwnProperty",
    "isPrototypeOf",
    "propertyIsEnumerable",
    "toLocaleString",
    "toString",
    "valueOf",
];

/// Which JavaScript `types` object a lookup goes to: the document's own, or
/// starknet.js's preset table (used while encoding a preset's members).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Scope {
    /// The document's `types`.
    User,
    /// The revision-1 preset table.
    Presets,
}

/// The declared types of one document, for one revision.
#[derive(Debug, Clone, Copy)]
pub(super) struct Schema<'a> {
    types: &'a Map<String, Value>,
    revision: Revision,
}

impl<'a> Schema<'a> {
    /// Wraps a document's `types` object.
    pub(crate) fn new(types: &'a Map<String, Value>, revision: Revision) -> Self {
        Self { types, revision }
    }

    /// The revision this schema follows.
    pub(crate) fn revision(&self) -> Revision {
        self.revision
    }

    /// A revision-1 preset, if `name` is one.
    fn preset(&self, name: &str) -> Option<Vec<Field<'a>>> {
        if self.revision != Revision::V1 {
            return None;
        }
        let fields = match name {
            "u256" => PRESET_U256,
            "TokenAmount" => PRESET_TOKEN_AMOUNT,
            "NftId" => PRESET_NFT_ID,
            _ => return None,
        };
        Some(fields.to_vec())
    }

    /// The document's declaration of `name`, parsed.
    fn declared(&self, name: &str) -> Result<Option<Vec<Field<'a>>>, TypedDataError> {
        match self.types.get(name) {
            Some(def) => parse_declaration(name, def).map(Some),
            None => Ok(None),
        }
    }

    /// `types[name]` in one scope's JavaScript object (no fallback).
    pub(crate) fn own(
        &self,
        scope: Scope,
        name: &str,
    ) -> Result<Option<Vec<Field<'a>>>, TypedDataError> {
        let found = match scope {
            Scope::User => self.declared(name)?,
            Scope::Presets => self.preset(name),
        };
        if found.is_none() && JS_OBJECT_PROTOTYPE.contains(&name) {
            return Err(TypedDataError::UnknownType(error_name(name)));
        }
        Ok(found)
    }

    /// The struct used to *encode a value* of type `name` (starknet.js
    /// `encodeValue`: the scope's own types, then the presets), with the scope
    /// its members are encoded in.
    pub(crate) fn value_struct(
        &self,
        scope: Scope,
        name: &str,
    ) -> Result<Option<(Scope, Vec<Field<'a>>)>, TypedDataError> {
        if let Some(fields) = self.own(scope, name)? {
            return Ok(Some((scope, fields)));
        }
        Ok(self.preset(name).map(|fields| (Scope::Presets, fields)))
    }

    /// The declaration printed in *type strings* (starknet.js `allTypes`:
    /// presets override declared types in revision 1).
    fn type_string_struct(
        &self,
        scope: Scope,
        name: &str,
    ) -> Result<Option<Vec<Field<'a>>>, TypedDataError> {
        if let Some(fields) = self.preset(name) {
            return Ok(Some(fields));
        }
        self.own(scope, name)
    }

    /// starknet.js `encodeType(types, name, revision)`. An undeclared name
    /// encodes as the empty string, as in starknet.js.
    pub(crate) fn encode_type(&self, scope: Scope, name: &str) -> Result<String, TypedDataError> {
        if self.dependency_targets(name, None) != [name] {
            return Err(TypedDataError::InvalidTypeDefinition(error_name(name)));
        }
        if self.type_string_struct(scope, name)?.is_none() {
            return Ok(String::new());
        }
        let mut done = BTreeSet::new();
        let mut path = Vec::new();
        self.collect_dependencies(scope, name, &mut path, &mut done)?;
        done.remove(name);
        let mut dependencies: Vec<String> = done.into_iter().collect();
        dependencies.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));

        let mut out = String::new();
        for type_name in core::iter::once(name).chain(dependencies.iter().map(String::as_str)) {
            let fields = self
                .type_string_struct(scope, type_name)?
                .ok_or_else(|| TypedDataError::UnknownType(error_name(type_name)))?;
            out.push_str(&self.escape(type_name));
            out.push('(');
            for (i, f) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&self.escape(f.name));
                out.push(':');
                out.push_str(&self.member_type_string(type_name, f)?);
            }
            out.push(')');
        }
        Ok(out)
    }

    /// How a member's type is printed in a type string.
    fn member_type_string(&self, owner: &str, f: &Field<'a>) -> Result<String, TypedDataError> {
        let target = if self.revision == Revision::V1 && f.ty == "enum" {
            f.contains
                .ok_or_else(|| TypedDataError::InvalidTypeDefinition(error_name(owner)))?
        } else {
            f.ty
        };
        Ok(match tuple_inner(target) {
            Some(inner) => {
                let elements: Vec<String> = inner
                    .split(',')
                    .map(|e| {
                        if e.is_empty() {
                            String::new()
                        } else {
                            self.escape(e)
                        }
                    })
                    .collect();
                format!("({})", elements.join(","))
            }
            None => self.escape(target),
        })
    }

    /// Revision 1 quotes names in type strings; revision 0 does not.
    fn escape(&self, s: &str) -> String {
        match self.revision {
            Revision::V0 => s.to_owned(),
            Revision::V1 => format!("\"{s}\""),
        }
    }

    /// Depth-first walk recording every type reachable from `name`; a type
    /// met again on the current path is a cycle.
    fn collect_dependencies(
        &self,
        scope: Scope,
        name: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Result<(), TypedDataError> {
        if path.iter().any(|p| p == name) {
            return Err(TypedDataError::RecursiveType(error_name(name)));
        }
        if done.contains(name) {
            return Ok(());
        }
        if path.len() >= MAX_DEPTH {
            return Err(TypedDataError::TooDeep(MAX_DEPTH));
        }
        let Some(fields) = self.type_string_struct(scope, name)? else {
            return Ok(());
        };
        path.push(name.to_owned());
        for f in &fields {
            for target in self.dependency_targets(f.ty, f.contains) {
                if self.type_string_struct(scope, target)?.is_some() {
                    self.collect_dependencies(scope, target, path, done)?;
                }
            }
        }
        path.pop();
        done.insert(name.to_owned());
        Ok(())
    }

    /// The type names a member of type `ty` may depend on (starknet.js
    /// `getDependencies`, before the "is it declared" filter).
    pub(crate) fn dependency_targets<'s>(
        &self,
        ty: &'s str,
        contains: Option<&'s str>,
    ) -> Vec<&'s str> {
        if let Some(element) = ty.strip_suffix('*') {
            return vec![element];
        }
        if self.revision == Revision::V1 {
            if ty == "enum" {
                return contains.into_iter().collect();
            }
            if let Some(inner) = tuple_inner(ty) {
                return inner
                    .split(',')
                    .map(|t| t.strip_suffix('*').unwrap_or(t))
                    .collect();
            }
        }
        vec![ty]
    }
}

/// The inside of `(…)` if `s` matches JavaScript's `/^\(.*\)$/` (where `.`
/// does not match line terminators).
pub(super) fn tuple_inner(s: &str) -> Option<&str> {
    let inner = s.strip_prefix('(')?.strip_suffix(')')?;
    let has_line_terminator = inner.contains(['\n', '\r', '\u{2028}', '\u{2029}']);
    (!has_line_terminator).then_some(inner)
}

/// Parses a declaration: a list of `{ "name": str, "type": str, "contains"?: str }`.
fn parse_declaration<'a>(name: &str, def: &'a Value) -> Result<Vec<Field<'a>>, TypedDataError> {
    let invalid = || TypedDataError::InvalidTypeDefinition(error_name(name));
    let members = def.as_array().ok_or_else(invalid)?;
    members
        .iter()
        .map(|member| {
            let obj = member.as_object().ok_or_else(invalid)?;
            let member_name = obj
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(invalid)?;
            let ty = obj
                .get("type")
                .and_then(Value::as_str)
                .ok_or_else(invalid)?;
            let contains = match obj.get("contains") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.as_str()),
                Some(_) => return Err(invalid()),
            };
            Ok(Field {
                name: member_name,
                ty,
                contains,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn types_of(v: &Value) -> &Map<String, Value> {
        v.as_object().unwrap()
    }

    #[test]
    fn revision_0_type_string() {
        let types = json!({
            "StarkNetDomain": [
                { "name": "name", "type": "felt" },
                { "name": "version", "type": "felt" },
                { "name": "chainId", "type": "felt" }
            ],
            "Person": [{ "name": "name", "type": "felt" }, { "name": "wallet", "type": "felt" }],
            "Post": [{ "name": "title", "type": "felt" }, { "name": "content", "type": "felt" }],
            "Mail": [
                { "name": "from", "type": "Person" },
                { "name": "to", "type": "Person" },
                { "name": "posts_len", "type": "felt" },
                { "name": "posts", "type": "Post*" }
            ]
        });
        let schema = Schema::new(types_of(&types), Revision::V0);
        assert_eq!(
            schema.encode_type(Scope::User, "Mail").unwrap(),
            "Mail(from:Person,to:Person,posts_len:felt,posts:Post*)Person(name:felt,wallet:felt)Post(title:felt,content:felt)"
        );
        let schema = Schema::new(types_of(&types), Revision::V1);
        assert_eq!(
            schema.encode_type(Scope::User, "Mail").unwrap(),
            r#""Mail"("from":"Person","to":"Person","posts_len":"felt","posts":"Post*")"Person"("name":"felt","wallet":"felt")"Post"("title":"felt","content":"felt")"#
        );
        assert_eq!(schema.encode_type(Scope::User, "selector").unwrap(), "");
    }

    #[test]
    fn enum_and_preset_type_strings() {
        let types = json!({
            "Example": [{ "name": "someEnum", "type": "enum", "contains": "EnumA" }],
            "EnumA": [
                { "name": "Variant 1", "type": "()" },
                { "name": "Variant 2", "type": "(u128,StructA)" }
            ],
            "StructA": [{ "name": "nestedEnum", "type": "enum", "contains": "EnumB" }],
            "EnumB": [
                { "name": "Variant A", "type": "()" },
                { "name": "Variant B", "type": "(StructB*)" }
            ],
            "StructB": [{ "name": "flag", "type": "bool" }],
            "Presets": [{ "name": "n0", "type": "TokenAmount" }, { "name": "n1", "type": "NftId" }]
        });
        let schema = Schema::new(types_of(&types), Revision::V1);
        assert_eq!(
            schema.encode_type(Scope::User, "Example").unwrap(),
            r#""Example"("someEnum":"EnumA")"EnumA"("Variant 1":(),"Variant 2":("u128","StructA"))"EnumB"("Variant A":(),"Variant B":("StructB*"))"StructA"("nestedEnum":"EnumB")"StructB"("flag":"bool")"#
        );
        assert_eq!(
            schema.encode_type(Scope::User, "Presets").unwrap(),
            r#""Presets"("n0":"TokenAmount","n1":"NftId")"NftId"("collection_address":"ContractAddress","token_id":"u256")"TokenAmount"("token_address":"ContractAddress","amount":"u256")"u256"("low":"u128","high":"u128")"#
        );
        assert_eq!(
            schema.encode_type(Scope::Presets, "u256").unwrap(),
            r#""u256"("low":"u128","high":"u128")"#
        );
    }

    #[test]
    fn cycles_are_errors() {
        let types = json!({
            "A": [{ "name": "b", "type": "B" }],
            "B": [{ "name": "a", "type": "A*" }],
            "Self": [{ "name": "me", "type": "Self" }],
            "Ok": [{ "name": "x", "type": "Leaf" }, { "name": "y", "type": "Leaf" }],
            "Leaf": [{ "name": "v", "type": "felt" }]
        });
        for rev in [Revision::V0, Revision::V1] {
            let schema = Schema::new(types_of(&types), rev);
            assert!(matches!(
                schema.encode_type(Scope::User, "A"),
                Err(TypedDataError::RecursiveType(_))
            ));
            assert!(matches!(
                schema.encode_type(Scope::User, "Self"),
                Err(TypedDataError::RecursiveType(_))
            ));
            assert!(schema.encode_type(Scope::User, "Ok").is_ok());
        }
    }

    #[test]
    fn deep_chains_are_bounded() {
        let mut types = Map::new();
        for i in 0..100 {
            types.insert(
                format!("T{i}"),
                json!([{ "name": "next", "type": format!("T{}", i + 1) }]),
            );
        }
        let schema = Schema::new(&types, Revision::V1);
        assert_eq!(
            schema.encode_type(Scope::User, "T0"),
            Err(TypedDataError::TooDeep(MAX_DEPTH))
        );
        assert!(schema.encode_type(Scope::User, "T80").is_ok());
    }

    #[test]
    fn wide_diamonds_stay_linear() {
        // Each level references the next one twice: 2^30 paths, 31 types.
        let mut types = Map::new();
        for i in 0..30 {
            let next = format!("D{}", i + 1);
            types.insert(
                format!("D{i}"),
                json!([{ "name": "l", "type": next }, { "name": "r", "type": next }]),
            );
        }
        types.insert("D30".into(), json!([{ "name": "v", "type": "felt" }]));
        let schema = Schema::new(&types, Revision::V0);
        assert!(schema
            .encode_type(Scope::User, "D0")
            .unwrap()
            .starts_with("D0(l:D1,r:D1)D1("));
    }

    #[test]
    fn bad_declarations() {
        let types = json!({
            "NotList": { "name": "x" },
            "BadMember": [{ "name": "x" }],
            "BadContains": [{ "name": "x", "type": "enum", "contains": 5 }],
            "Star*": [],
            "UsesProto": [{ "name": "x", "type": "toString" }],
            "EnumNoContains": [{ "name": "x", "type": "enum" }]
        });
        let schema = Schema::new(types_of(&types), Revision::V1);
        assert!(matches!(
            schema.encode_type(Scope::User, "NotList"),
            Err(TypedDataError::InvalidTypeDefinition(_))
        ));
        assert!(matches!(
            schema.encode_type(Scope::User, "BadMember"),
            Err(TypedDataError::InvalidTypeDefinition(_))
        ));
        assert!(matches!(
            schema.encode_type(Scope::User, "BadContains"),
            Err(TypedDataError::InvalidTypeDefinition(_))
        ));
        assert!(matches!(
            schema.encode_type(Scope::User, "Star*"),
            Err(TypedDataError::InvalidTypeDefinition(_))
        ));
        assert!(matches!(
            schema.encode_type(Scope::User, "UsesProto"),
            Err(TypedDataError::UnknownType(_))
        ));
        assert!(matches!(
            schema.encode_type(Scope::User, "EnumNoContains"),
            Err(TypedDataError::InvalidTypeDefinition(_))
        ));
    }

    #[test]
    fn utf16_sort_order() {
        // U+FF21 (BMP) sorts before U+1F600 (astral) in UTF-8 bytes but after it in UTF-16.
        let types = json!({
            "P": [{ "name": "a", "type": "\u{1F600}" }, { "name": "b", "type": "\u{FF21}" }, { "name": "c", "type": "Z" }],
            "\u{1F600}": [], "\u{FF21}": [], "Z": []
        });
        let schema = Schema::new(types_of(&types), Revision::V0);
        assert_eq!(
            schema.encode_type(Scope::User, "P").unwrap(),
            "P(a:\u{1F600},b:\u{FF21},c:Z)Z()\u{1F600}()\u{FF21}()"
        );
    }
}
