//! A structure-aware JSON mutator: `arbitrary` picks a node of a document and
//! rewrites it (a string, a number, a key, a member or element inserted or
//! removed, a subtree copied from elsewhere, or the same integer written in
//! another representation).

use arbitrary::Arbitrary;
use chipi_session_guest::crypto::felt::{decode_short_string, encode_short_string, parse_felt};
use serde_json::{Map, Value};
use starknet_crypto::Felt;

/// Strings that mean something to typed data, the check or the hasher.
pub const KNOWN_STRINGS: &[&str] = &[
    "",
    "0",
    "1",
    "2",
    "0x",
    "0x0",
    "0x1",
    "0x2",
    "0X2",
    "0x02",
    "02",
    " 2",
    "2 ",
    "\u{2}",
    "-1",
    "1e3",
    "0b10",
    "0o7",
    "2n",
    "NaN",
    "transfer",
    " transfer",
    "transfer ",
    "Transfer",
    "approve",
    "upgrade",
    "0x83afd3f4caedc6eebf44246fe54e38c95e3179a5ec9ea81740eca5b482d12e",
    "0x0083afd3f4caedc6eebf44246fe54e38c95e3179a5ec9ea81740eca5b482d12e",
    "SN_SEPOLIA",
    "SN_MAIN",
    "0x534e5f5345504f4c4941",
    "393402133025997798000961",
    "Account.execute_from_outside",
    "StarknetDomain",
    "StarkNetDomain",
    "OutsideExecution",
    "Call",
    "Call*",
    "felt",
    "felt*",
    "u128",
    "i128",
    "u256",
    "ContractAddress",
    "ClassHash",
    "selector",
    "shortstring",
    "string",
    "bool",
    "enum",
    "merkletree",
    "TokenAmount",
    "NftId",
    "timestamp",
    "To",
    "Selector",
    "Calldata",
    "Caller",
    "Nonce",
    "Execute After",
    "Execute Before",
    "Calls",
    "name",
    "type",
    "version",
    "chainId",
    "revision",
    "types",
    "primaryType",
    "domain",
    "message",
    "contains",
    "ANY_CALLER",
    "0x414e595f43414c4c4552",
    "0x800000000000011000000000000000000000000000000000000000000000000",
    "0x800000000000011000000000000000000000000000000000000000000000001",
    "0xffffffffffffffffffffffffffffffff",
    "0x100000000000000000000000000000000",
    "340282366920938463463374607431768211455",
    "340282366920938463463374607431768211456",
    "1800003600",
    "0x6b49d600",
    "0x6b49cfc4",
    "\"",
    "\\",
    "é",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
];

/// A value to write somewhere.
#[derive(Arbitrary, Debug, Clone)]
pub enum Leaf {
    /// `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// An unsigned integer.
    U64(u64),
    /// A signed integer.
    I64(i64),
    /// A float (non-finite floats become `null`).
    F64(f64),
    /// One of [`KNOWN_STRINGS`].
    Known(u8),
    /// Any string.
    Str(String),
    /// Raw JSON text (parsed; ignored when invalid).
    Raw(String),
    /// `[]`.
    EmptyArray,
    /// `{}`.
    EmptyObject,
    /// A copy of another node of the document.
    CopyOf(u16),
}

/// Another spelling of the same integer.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Spelling {
    /// `0x` + lowercase hex.
    Hex,
    /// `0x` + uppercase hex digits.
    HexUpper,
    /// `0X` prefix.
    HexUpperPrefix,
    /// Zero-padded to 64 hex digits.
    HexPadded,
    /// Decimal string.
    Decimal,
    /// Decimal with leading zeros.
    DecimalPadded,
    /// JSON number (when it fits a u64).
    Number,
    /// JSON float (when it fits a u64).
    Float,
    /// Cairo short string (when the bytes are ASCII).
    ShortString,
    /// Surrounded by spaces.
    Spaces,
}

/// What to do at the chosen node.
#[derive(Arbitrary, Debug, Clone)]
pub enum Action {
    /// Replace the node.
    Set(Leaf),
    /// Rewrite the node's integer value in another spelling.
    Respell(Spelling),
    /// Upper- or lower-case a string.
    Case(bool),
    /// Append text to a string.
    Append(String),
    /// Rename the member the node is stored under (to a known string or any).
    RenameKey(Leaf),
    /// Remove the node from its parent.
    Remove,
    /// Insert a member (into an object node or the node's parent object).
    InsertMember(Leaf, Leaf),
    /// Insert an element (into an array node or the node's parent array).
    InsertElement(u8, Leaf),
    /// Duplicate the node inside its parent array.
    Duplicate,
    /// Swap an array node's first and last elements.
    Reverse,
}

/// One mutation: which node (index into a pre-order walk) and what to do.
#[derive(Arbitrary, Debug, Clone)]
pub struct Mutation {
    /// Node index, taken modulo the number of nodes.
    pub node: u16,
    /// The rewrite.
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

fn walk(v: &Value, path: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
    out.push(path.clone());
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                path.push(Seg::Key(k.clone()));
                walk(child, path, out);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                path.push(Seg::Index(i));
                walk(child, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn paths(doc: &Value) -> Vec<Vec<Seg>> {
    let mut out = Vec::new();
    walk(doc, &mut Vec::new(), &mut out);
    out
}

fn get_mut<'a>(doc: &'a mut Value, path: &[Seg]) -> Option<&'a mut Value> {
    let mut cur = doc;
    for seg in path {
        cur = match (seg, cur) {
            (Seg::Key(k), Value::Object(m)) => m.get_mut(k)?,
            (Seg::Index(i), Value::Array(a)) => a.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn get<'a>(doc: &'a Value, path: &[Seg]) -> Option<&'a Value> {
    let mut cur = doc;
    for seg in path {
        cur = match (seg, cur) {
            (Seg::Key(k), Value::Object(m)) => m.get(k)?,
            (Seg::Index(i), Value::Array(a)) => a.get(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn known(i: u8) -> &'static str {
    KNOWN_STRINGS[usize::from(i) % KNOWN_STRINGS.len()]
}

fn leaf(doc: &Value, all: &[Vec<Seg>], leaf: &Leaf) -> Option<Value> {
    Some(match leaf {
        Leaf::Null => Value::Null,
        Leaf::Bool(b) => Value::Bool(*b),
        Leaf::U64(n) => Value::from(*n),
        Leaf::I64(n) => Value::from(*n),
        Leaf::F64(x) => serde_json::Number::from_f64(*x).map_or(Value::Null, Value::Number),
        Leaf::Known(i) => Value::from(known(*i)),
        Leaf::Str(s) => Value::from(s.as_str()),
        Leaf::Raw(text) => serde_json::from_str(text).ok()?,
        Leaf::EmptyArray => Value::Array(Vec::new()),
        Leaf::EmptyObject => Value::Object(Map::new()),
        Leaf::CopyOf(i) => get(doc, &all[usize::from(*i) % all.len()])?.clone(),
    })
}

fn key_text(doc: &Value, all: &[Vec<Seg>], l: &Leaf) -> String {
    match l {
        Leaf::Known(i) => known(*i).to_string(),
        Leaf::Str(s) | Leaf::Raw(s) => s.clone(),
        other => match leaf(doc, all, other) {
            Some(Value::String(s)) => s,
            Some(v) => v.to_string(),
            None => String::new(),
        },
    }
}

/// The integer a JSON value spells (hex/decimal string, JSON integer, or a
/// short string), if any.
fn integer_of(v: &Value) -> Option<Felt> {
    match v {
        Value::Number(n) => n.as_u64().map(Felt::from),
        Value::String(s) => parse_felt(s.trim())
            .ok()
            .or_else(|| encode_short_string(s).ok()),
        _ => None,
    }
}

fn respell(v: &Value, spelling: Spelling) -> Option<Value> {
    let felt = integer_of(v)?;
    let hex = format!("{felt:x}");
    let small = u64::try_from(felt.to_biguint()).ok();
    Some(match spelling {
        Spelling::Hex => Value::from(format!("0x{hex}")),
        Spelling::HexUpper => Value::from(format!("0x{}", hex.to_uppercase())),
        Spelling::HexUpperPrefix => Value::from(format!("0X{hex}")),
        Spelling::HexPadded => Value::from(format!("0x{hex:0>64}")),
        Spelling::Decimal => Value::from(felt.to_biguint().to_string()),
        Spelling::DecimalPadded => Value::from(format!("00{}", felt.to_biguint())),
        Spelling::Number => Value::from(small?),
        Spelling::Float => serde_json::Number::from_f64(small? as f64).map(Value::Number)?,
        Spelling::ShortString => Value::from(decode_short_string(&felt).ok()?),
        Spelling::Spaces => match v {
            Value::String(s) => Value::from(format!(" {s} ")),
            other => Value::from(format!(" {other} ")),
        },
    })
}

/// Apply `m` to `doc` (a no-op when it does not fit the chosen node).
pub fn apply(doc: &mut Value, m: &Mutation) {
    let all = paths(doc);
    let path = all[usize::from(m.node) % all.len()].clone();
    match &m.action {
        Action::Set(l) => {
            if let Some(new) = leaf(doc, &all, l) {
                if let Some(slot) = get_mut(doc, &path) {
                    *slot = new;
                }
            }
        }
        Action::Respell(s) => {
            if let Some(slot) = get_mut(doc, &path) {
                if let Some(new) = respell(slot, *s) {
                    *slot = new;
                }
            }
        }
        Action::Case(upper) => {
            if let Some(Value::String(s)) = get_mut(doc, &path) {
                *s = if *upper {
                    s.to_uppercase()
                } else {
                    s.to_lowercase()
                };
            }
        }
        Action::Append(text) => {
            if let Some(Value::String(s)) = get_mut(doc, &path) {
                s.push_str(text);
            }
        }
        Action::RenameKey(l) => {
            let new_key = key_text(doc, &all, l);
            if let Some((Seg::Key(old), parent)) = path.split_last() {
                if let Some(Value::Object(map)) = get_mut(doc, parent) {
                    if let Some(v) = map.remove(old) {
                        map.insert(new_key, v);
                    }
                }
            }
        }
        Action::Remove => match path.split_last() {
            Some((Seg::Key(k), parent)) => {
                if let Some(Value::Object(map)) = get_mut(doc, parent) {
                    map.remove(k);
                }
            }
            Some((Seg::Index(i), parent)) => {
                if let Some(Value::Array(items)) = get_mut(doc, parent) {
                    if *i < items.len() {
                        items.remove(*i);
                    }
                }
            }
            None => {}
        },
        Action::InsertMember(k, l) => {
            let key = key_text(doc, &all, k);
            let Some(value) = leaf(doc, &all, l) else {
                return;
            };
            let target = match get(doc, &path) {
                Some(Value::Object(_)) => path.clone(),
                _ => path[..path.len().saturating_sub(1)].to_vec(),
            };
            if let Some(Value::Object(map)) = get_mut(doc, &target) {
                map.insert(key, value);
            }
        }
        Action::InsertElement(at, l) => {
            let Some(value) = leaf(doc, &all, l) else {
                return;
            };
            let target = match get(doc, &path) {
                Some(Value::Array(_)) => path.clone(),
                _ => path[..path.len().saturating_sub(1)].to_vec(),
            };
            if let Some(Value::Array(items)) = get_mut(doc, &target) {
                let at = usize::from(*at) % (items.len() + 1);
                items.insert(at, value);
            }
        }
        Action::Duplicate => {
            if let Some((Seg::Index(i), parent)) = path.split_last() {
                if let Some(Value::Array(items)) = get_mut(doc, parent) {
                    if let Some(v) = items.get(*i).cloned() {
                        items.insert(*i, v);
                    }
                }
            }
        }
        Action::Reverse => {
            if let Some(Value::Array(items)) = get_mut(doc, &path) {
                items.reverse();
            }
        }
    }
}
