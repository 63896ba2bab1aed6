//! The real component, through the host library, against an adversarial
//! backend on 127.0.0.1 whose every answer (status, headers, body, framing,
//! delay, early close) comes from the fuzz input.
//!
//! One export is called per input (create / register / execute / status /
//! revoke / clear / policy set, get, remove) with a `MemoryStore` seeded with
//! a stored session when useful. Asserted: the call ends in `Ok(Ok(_))` or
//! `Ok(Err(SessionError))`. An `Err` (a trap, a time-limit hit, a host
//! failure) is a crash.
//!
//! The backend answers each request with the next scripted reply; when the
//! script runs out it answers honestly (valid typed data for the requested
//! calls, a transaction hash, plausible RPC results), so deep paths stay
//! reachable. A scripted reply may also be the honest answer rewritten by the
//! structure-aware JSON mutator.
//!
//! Guest code runs as wasm and is not instrumented; so that libFuzzer still
//! sees new guest behaviour as new coverage, [`run_input`] returns the outcome
//! of each call (op, error code, first words of the message, requests served),
//! which the libFuzzer entry (`fuzz/fuzz_targets/component.rs`) hashes into
//! extra 8-bit counters.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::json_mutate::{self, Mutation};
use crate::oe;
use arbitrary::Arbitrary;
use chipi_session_guest::crypto::envelope::{self, EncryptKey, KdfParams};
use chipi_session_guest::crypto::felt::{felt_to_hex, parse_felt};
use chipi_session_guest::crypto::keys::SigningKey;
use chipi_session_guest::crypto::owner_key;
use chipi_session_guest::protocol::calls::{selector_for, Call as GuestCall};
use chipi_session_guest::protocol::model::CallInput;
use chipi_session_guest::protocol::record::{SessionRecord, RECORD_VERSION};
use chipi_session_host::runtime::{
    Call, Config, CreateOptions, EncryptKeyKind, Imports, RegisterOptions, RuntimeOptions,
    SessionContext, SessionRuntime, SpendingPolicyInput, StaticToken, Wallet, WalletType,
};
use chipi_session_host::store::{MemoryStore, SessionStore};
use serde_json::{json, Value};
use starknet_crypto::Felt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

// ---------------------------------------------------------------- fixtures

/// The PIN of the wallet and of the stored session.
const PIN: &str = "123456";
/// Owner key in CryptoJS passphrase format, encrypted with [`PIN`]
/// (computed with OpenSSL; the first vector of guest/src/core/cryptojs.rs).
const OWNER_CRYPTOJS: &str =
    "U2FsdGVkX1/H5O1qxGuZYTFkGBJsbiwzQ2x7hPzZIYN76VeLmgluh86C0Eq8xS3zGWLdc0NzBRM+IH3L32dKPA==";
/// Its plaintext.
const OWNER_KEY: &str = "0x71d7bb07b9a64f6f78ac4c816aff4da9";
/// The stored session's private key.
const SESSION_KEY: &str = "0x3c1e9550e66958296d11b60f8e8e7a7ad990d07fa65d5f7652c4a6c87d4e3cc";
/// Cheap Argon2id parameters for the stored envelopes (the stored params are
/// what `open` uses, so execute/register stay fast).
const FAST: KdfParams = KdfParams {
    m_kib: 64,
    t: 1,
    p: 1,
};
/// Per-call hard limit of the runtime (hitting it is a crash).
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// The component's own time budget per operation (`config.timeout-ms`).
///
/// Short, so that an input whose replies keep failing ends in a few hundred
/// milliseconds instead of the default minute of retries, backoff and
/// `Retry-After` waits: a corpus replay takes seconds and a campaign runs
/// more inputs. One second still reaches a retry after backoff (the first
/// waits 250 ms); the rest of the schedule (a third attempt, long
/// `Retry-After`) is covered by the guest's unit tests on fake ports. The
/// runtime's hard limit stays far away.
const TIME_BUDGET_MS: u64 = 1_000;

struct Fixtures {
    wallet_hex: String,
    session_pubkey: Felt,
    session_envelope: String,
    owner_envelope: String,
    transfer: Felt,
}

fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| {
        let wallet = oe::account();
        let session = SigningKey::from_hex(SESSION_KEY).expect("session key");
        let session_pubkey = session.public_key();
        let session_envelope = envelope::seal(
            &session,
            &EncryptKey::pin(PIN),
            &wallet,
            &session_pubkey,
            FAST,
            [7; 16],
            [9; 12],
        )
        .expect("seal");
        let owner = SigningKey::from_hex(OWNER_KEY).expect("owner key");
        let owner_envelope = owner_key::seal_owner_key_with_params(
            &owner,
            &EncryptKey::pin(PIN),
            &wallet,
            FAST,
            [3; 16],
            [4; 12],
        )
        .expect("seal owner");
        Fixtures {
            wallet_hex: felt_to_hex(&wallet),
            session_pubkey,
            session_envelope,
            owner_envelope,
            transfer: selector_for("transfer").expect("selector"),
        }
    })
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

// ---------------------------------------------------------------- input

#[derive(Arbitrary, Debug)]
enum Stored {
    Nothing,
    Created {
        expired: bool,
    },
    Registered {
        max_calls: u8,
        calls_used: u8,
        whitelist: bool,
        expired: bool,
    },
    Revoked,
    /// A record whose public key does not match its envelope.
    WrongKey,
    Garbage(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Chain {
    Sepolia,
    FromRpc,
    Mainnet,
}

#[derive(Arbitrary, Debug)]
struct CallSpec {
    to: u8,
    entrypoint: u8,
    calldata: Vec<u64>,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Create {
        duration: Option<u32>,
        replace: bool,
    },
    Register {
        valid_for: Option<i32>,
        max_calls: Option<u16>,
        allow: Vec<u8>,
    },
    Execute(Vec<CallSpec>),
    Status,
    Revoke,
    Clear,
    PolicySet {
        token: u8,
        per_call: u64,
        per_window: u64,
        window: u32,
    },
    PolicyGet(u8),
    PolicyRemove(u8),
}

#[derive(Arbitrary, Debug, Clone)]
enum Body {
    /// What an honest backend would answer.
    Honest,
    /// The honest answer, rewritten by the JSON mutator.
    Mutated(Vec<Mutation>),
    /// Any bytes.
    Raw(Vec<u8>),
    /// A JSON-RPC error / Chipi error object.
    Error { code: i16, message: String },
}

#[derive(Arbitrary, Debug, Clone)]
enum Framing {
    ContentLength,
    Chunked(Vec<u8>),
    /// No length: the body ends when the connection closes.
    CloseDelimited,
    /// Announce the full length, send a prefix, close.
    Truncated(u8),
    /// Announce a shorter length than sent.
    ShortLength(u8),
    /// Close without answering.
    NoResponse,
    /// The whole response is these bytes.
    RawResponse(Vec<u8>),
}

#[derive(Arbitrary, Debug, Clone)]
struct Reply {
    body: Body,
    /// `None` = 200.
    status: Option<u16>,
    framing: Framing,
    extra_header: Option<(String, String)>,
    no_content_type: bool,
    delay_ms: u8,
}

/// One structured fuzz input (decoded from the bytes by `arbitrary`).
#[derive(Arbitrary, Debug)]
pub struct Input {
    op: Op,
    stored: Stored,
    chain: Chain,
    second_rpc: bool,
    wrong_pin: bool,
    owner_in_envelope: bool,
    replies: Vec<Reply>,
}

// ---------------------------------------------------------------- backend

/// What the backend does for one input.
struct Script {
    replies: VecDeque<Reply>,
    /// On-chain session data the honest RPC reports.
    session_data: [u64; 4],
    served: u32,
}

/// The tokio runtime the backends and the component's calls run on.
fn tokio_runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

/// One input's backend: a listener on its own port of 127.0.0.1 answering
/// from its own script, so inputs never share replies (a replay may run
/// several at once). Stops accepting when dropped.
struct Backend {
    port: u16,
    script: Arc<Mutex<Script>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Backend {
    fn start(script: Script) -> Self {
        let rt = tokio_runtime();
        let listener = rt
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .expect("bind 127.0.0.1");
        let port = listener.local_addr().expect("local addr").port();
        let script = Arc::new(Mutex::new(script));
        let shared = script.clone();
        let accept = rt.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let script = shared.clone();
                tokio::spawn(async move {
                    let _ =
                        tokio::time::timeout(Duration::from_secs(15), serve(stream, script)).await;
                });
            }
        });
        Self {
            port,
            script,
            accept,
        }
    }

    /// Requests answered so far.
    fn served(&self) -> u32 {
        self.script.lock().map(|s| s.served).unwrap_or(0)
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Read one HTTP/1.1 request: (path, body).
async fn read_request(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut headers);
        let status = match req.parse(&buf) {
            Ok(status) => status,
            Err(e) => {
                if verbose() {
                    eprintln!(
                        "BACKEND cannot parse a request ({e}): {:?}",
                        String::from_utf8_lossy(&buf[..buf.len().min(600)])
                    );
                }
                return None;
            }
        };
        let httparse::Status::Complete(head_len) = status else {
            if buf.len() > 1 << 20 {
                return None;
            }
            continue;
        };
        let path = req.path.unwrap_or("/").to_string();
        let header = |name: &str| {
            req.headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| String::from_utf8_lossy(h.value).to_ascii_lowercase())
        };
        let chunked = header("transfer-encoding").is_some_and(|v| v.contains("chunked"));
        let length = header("content-length").and_then(|v| v.trim().parse::<usize>().ok());
        let mut rest = buf[head_len..].to_vec();
        if chunked {
            loop {
                if let Some(body) = dechunk(&rest) {
                    return Some((path, body));
                }
                let n = stream.read(&mut chunk).await.ok()?;
                if n == 0 || rest.len() > 1 << 22 {
                    return None;
                }
                rest.extend_from_slice(&chunk[..n]);
            }
        }
        let length = length.unwrap_or(0).min(1 << 22);
        while rest.len() < length {
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            rest.extend_from_slice(&chunk[..n]);
        }
        rest.truncate(length);
        return Some((path, rest));
    }
}

/// A complete chunked body, or `None` when more bytes are needed.
fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        if data.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

async fn serve(mut stream: TcpStream, script: Arc<Mutex<Script>>) {
    let Some((path, body)) = read_request(&mut stream).await else {
        return;
    };
    let (reply, session_data) = {
        let mut s = script
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        s.served += 1;
        (s.replies.pop_front(), s.session_data)
    };
    let reply = reply.unwrap_or(Reply {
        body: Body::Honest,
        status: None,
        framing: Framing::ContentLength,
        extra_header: None,
        no_content_type: false,
        delay_ms: 0,
    });
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let payload: Vec<u8> = match &reply.body {
        Body::Honest => honest(&path, &request, session_data)
            .to_string()
            .into_bytes(),
        Body::Mutated(mutations) => {
            let mut v = honest(&path, &request, session_data);
            for m in mutations.iter().take(4) {
                json_mutate::apply(&mut v, m);
            }
            v.to_string().into_bytes()
        }
        Body::Raw(bytes) => bytes.clone(),
        Body::Error { code, message } => json!({
            "jsonrpc": "2.0",
            "id": request.get("id").cloned().unwrap_or(json!(1)),
            "error": {"code": code, "message": message},
            "code": message,
            "message": message,
        })
        .to_string()
        .into_bytes(),
    };
    let status = reply.status.map_or(200, |s| 100 + s % 900);
    let mut head = format!("HTTP/1.1 {status} Fuzz\r\n");
    if !reply.no_content_type {
        head.push_str("content-type: application/json\r\n");
    }
    if let Some((name, value)) = &reply.extra_header {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    let mut out: Vec<u8> = Vec::new();
    match &reply.framing {
        Framing::ContentLength => {
            head.push_str(&format!(
                "content-length: {}\r\nconnection: close\r\n\r\n",
                payload.len()
            ));
            out.extend_from_slice(head.as_bytes());
            out.extend_from_slice(&payload);
        }
        Framing::Chunked(sizes) => {
            head.push_str("transfer-encoding: chunked\r\nconnection: close\r\n\r\n");
            out.extend_from_slice(head.as_bytes());
            let mut rest: &[u8] = &payload;
            let mut sizes = sizes.iter().cycle();
            while !rest.is_empty() {
                let n = usize::from(*sizes.next().unwrap_or(&255)).clamp(1, rest.len());
                out.extend_from_slice(format!("{n:x}\r\n").as_bytes());
                out.extend_from_slice(&rest[..n]);
                out.extend_from_slice(b"\r\n");
                rest = &rest[n..];
            }
            out.extend_from_slice(b"0\r\n\r\n");
        }
        Framing::CloseDelimited => {
            head.push_str("connection: close\r\n\r\n");
            out.extend_from_slice(head.as_bytes());
            out.extend_from_slice(&payload);
        }
        Framing::Truncated(k) => {
            head.push_str(&format!(
                "content-length: {}\r\nconnection: close\r\n\r\n",
                payload.len()
            ));
            out.extend_from_slice(head.as_bytes());
            let keep = payload.len() * usize::from(*k) / 256;
            out.extend_from_slice(&payload[..keep]);
        }
        Framing::ShortLength(k) => {
            let len = payload.len().saturating_sub(usize::from(*k));
            head.push_str(&format!(
                "content-length: {len}\r\nconnection: close\r\n\r\n"
            ));
            out.extend_from_slice(head.as_bytes());
            out.extend_from_slice(&payload);
        }
        Framing::NoResponse => {}
        Framing::RawResponse(bytes) => out.extend_from_slice(bytes),
    }
    if reply.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(u64::from(reply.delay_ms % 20))).await;
    }
    let _ = stream.write_all(&out).await;
    let _ = stream.shutdown().await;
}

/// The answer of an honest Chipi backend / Starknet node.
fn honest(path: &str, request: &Value, session_data: [u64; 4]) -> Value {
    let f = fixtures();
    if path.contains("prepare-typed-data") {
        let calls: Vec<GuestCall> = request["calls"]
            .as_array()
            .map(|calls| {
                calls
                    .iter()
                    .filter_map(|c| {
                        GuestCall::parse(&CallInput {
                            contract_address: c["contractAddress"].as_str()?.to_string(),
                            entrypoint: c["entrypoint"].as_str()?.to_string(),
                            calldata: c["calldata"]
                                .as_array()?
                                .iter()
                                .filter_map(|v| v.as_str().map(String::from))
                                .collect(),
                        })
                        .ok()
                    })
                    .collect()
            })
            .unwrap_or_default();
        let td = oe::honest_document(&calls, &oe::chain(), Felt::from(now()), now());
        return json!({"typedData": td, "walletType": "CHIPI"});
    }
    if path.contains("execute-sponsored-transaction") {
        return json!({"transactionHash": "0x7a11ce"});
    }
    let id = request.get("id").cloned().unwrap_or(json!(1));
    let result = match request["method"].as_str() {
        Some("starknet_chainId") => json!("0x534e5f5345504f4c4941"),
        Some("starknet_call") => {
            let selector = request["params"]["request"]["entry_point_selector"]
                .as_str()
                .and_then(|s| parse_felt(s).ok());
            let is = |name: &str| selector.is_some() && selector == selector_for(name).ok();
            if is("get_session_data") {
                json!(session_data
                    .iter()
                    .map(|v| format!("{v:#x}"))
                    .collect::<Vec<_>>())
            } else if is("get_session_allowed_entrypoint_at") {
                json!([felt_to_hex(&f.transfer)])
            } else if is("get_spending_policy") {
                json!([
                    "0x64",
                    "0x0",
                    "0x3e8",
                    "0x0",
                    "0xe10",
                    "0x5",
                    "0x0",
                    format!("{:#x}", now())
                ])
            } else {
                return json!({"jsonrpc": "2.0", "id": id, "error": {"code": 21, "message": "Invalid message selector"}});
            }
        }
        Some("starknet_getClassHashAt") => {
            json!("0x053f4f8791ed5bed0fddaa553d180c664e32cfaf8316bb232ae77bb08f459f2a")
        }
        _ => {
            return json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "Method not found"}});
        }
    };
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

// ---------------------------------------------------------------- runtime

fn runtime() -> &'static SessionRuntime {
    static R: OnceLock<SessionRuntime> = OnceLock::new();
    R.get_or_init(|| {
        // `fuzz/target/component-cache`, beside the campaign builds.
        let cache = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("target")
            .join("component-cache");
        let options = RuntimeOptions {
            call_timeout: CALL_TIMEOUT,
            cache_dir: Some(cache),
            ..RuntimeOptions::default()
        };
        // Built inside the backend's runtime so anything it spawns has one.
        let _guard = tokio_runtime().enter();
        SessionRuntime::new(options).expect("the embedded component loads")
    })
}

// ---------------------------------------------------------------- outcome

/// The first words of an error message, numbers and hex removed.
fn shape(message: &str) -> String {
    message
        .split_whitespace()
        .take(6)
        .filter(|w| !w.chars().any(|c| c.is_ascii_digit()))
        .collect::<Vec<_>>()
        .join(" ")
}

// ---------------------------------------------------------------- the target

/// `CHIPI_FUZZ_VERBOSE=1` prints each call's outcome to stderr.
fn verbose() -> bool {
    static V: OnceLock<bool> = OnceLock::new();
    *V.get_or_init(|| std::env::var_os("CHIPI_FUZZ_VERBOSE").is_some())
}

/// The stored session record, written as the guest's JSON (through serde, so
/// fields the record gains later with defaults do not break this target).
fn record(stored: &Stored, now: u64) -> Option<Vec<u8>> {
    let f = fixtures();
    let mut r = json!({
        "version": RECORD_VERSION,
        "wallet": f.wallet_hex,
        "publicKey": felt_to_hex(&f.session_pubkey),
        "encryptedPrivateKey": f.session_envelope,
        "validUntil": now + 3600,
        "createdAt": now - 60,
    });
    let registered = |r: &mut Value,
                      max_calls: u32,
                      calls_used: u32,
                      whitelist: bool,
                      expired: bool| {
        if expired {
            r["validUntil"] = json!(now - 10);
        }
        r["callsUsed"] = json!(calls_used);
        r["registration"] = json!({
            "validUntil": r["validUntil"],
            "maxCalls": max_calls,
            "allowedEntrypoints": if whitelist { vec![felt_to_hex(&f.transfer)] } else { Vec::new() },
            "transactionHash": "0x1",
        });
    };
    match stored {
        Stored::Nothing => return None,
        Stored::Created { expired } => {
            if *expired {
                r["validUntil"] = json!(now - 10);
            }
        }
        Stored::Registered {
            max_calls,
            calls_used,
            whitelist,
            expired,
        } => registered(
            &mut r,
            u32::from(*max_calls % 16),
            u32::from(*calls_used % 16),
            *whitelist,
            *expired,
        ),
        Stored::Revoked => {
            registered(&mut r, 10, 0, false, false);
            r["revokedTx"] = json!("0x2");
        }
        Stored::WrongKey => {
            registered(&mut r, 10, 0, false, false);
            r["publicKey"] = json!("0x1234");
        }
        Stored::Garbage(bytes) => return Some(bytes.clone()),
    }
    // Round-trip through the guest's own type: the JSON above must stay a record.
    let record: SessionRecord = serde_json::from_value(r).expect("fixture record");
    record.encode().ok()
}

const ENTRYPOINTS: &[&str] = &[
    "transfer",
    "approve",
    "upgrade",
    "add_or_update_session_key",
    "set_spending_policy",
    "0x83afd3f4caedc6eebf44246fe54e38c95e3179a5ec9ea81740eca5b482d12e",
    "increase_allowance",
    "not a name",
];

/// The configuration record, built through serde so that fields the WIT
/// record gains later (with `option` types, e.g. a time budget) default to
/// `None` instead of breaking this target's build.
fn config(base: &str, rpc_urls: Vec<String>, chain_id: Option<&str>) -> Config {
    serde_json::from_value(json!({
        "api_base_url": format!("{base}/v1"),
        "api_key": "pk_dev_00000000000000000000000000000000",
        "rpc_urls": rpc_urls,
        "chain_id": chain_id,
        "default_duration_seconds": 21_600,
        "default_max_calls": 1_000,
        "timeout_ms": TIME_BUDGET_MS,
    }))
    .expect("the config record deserializes")
}

fn token(i: u8) -> String {
    match i % 4 {
        0 | 1 => oe::TOKEN.to_string(),
        2 => "0x0".to_string(),
        _ => "token".to_string(),
    }
}

/// Compiles (or loads from the cache) the component, so the first input does
/// not pay for it.
pub fn init() {
    let _ = runtime();
}

/// One input, as libFuzzer hands it over: decoded like `fuzz_target!`
/// decodes a structured input. `None` when the bytes decode to no input
/// (libFuzzer then does not keep them); otherwise the call's outcome (see
/// [`run_input`]).
pub fn run(data: &[u8]) -> Option<Vec<String>> {
    crate::decode::<Input>(data).map(run_input)
}

/// One decoded input: one export called against the scripted backend.
///
/// Inputs are independent (each has its own backend on its own port, its own
/// store and session), so several may run at once.
///
/// Returns the outcome as words (op, `ok` or the error code, the error
/// message's first words, requests served), which the libFuzzer binary
/// hashes into coverage counters. Panics when the call fails in the host (a
/// trap, the time limit, a host error): that is a crash.
pub fn run_input(input: Input) -> Vec<String> {
    let f = fixtures();
    let rt = runtime();
    let now = now();

    let store = Arc::new(MemoryStore::new());
    if let Some(bytes) = record(&input.stored, now) {
        store.insert(&SessionRecord::key(&f.wallet_hex), &bytes);
    }
    let be = Backend::start(Script {
        replies: input.replies.iter().take(300).cloned().collect(),
        session_data: match &input.stored {
            Stored::Registered {
                max_calls,
                calls_used,
                whitelist,
                expired,
            } => [
                if *expired { now - 10 } else { now + 3600 },
                u64::from(*max_calls % 16),
                u64::from(*calls_used % 16),
                u64::from(*whitelist),
            ],
            _ => [now + 3600, 10, 0, 0],
        },
        served: 0,
    });

    let base = format!("http://127.0.0.1:{}", be.port);
    let mut rpc_urls = vec![format!("{base}/rpc")];
    if input.second_rpc {
        rpc_urls.push(format!("{base}/rpc2"));
    }
    let ctx = SessionContext {
        wallet: Wallet {
            address: f.wallet_hex.clone(),
            encrypted_private_key: if input.owner_in_envelope {
                f.owner_envelope.clone()
            } else {
                OWNER_CRYPTOJS.to_string()
            },
            wallet_type: WalletType::Chipi,
        },
        encrypt_key: (if input.wrong_pin { "654321" } else { PIN }).into(),
        encrypt_key_kind: EncryptKeyKind::Pin,
        config: config(
            &base,
            rpc_urls,
            match input.chain {
                Chain::Sepolia => Some("SN_SEPOLIA"),
                Chain::FromRpc => None,
                Chain::Mainnet => Some("SN_MAIN"),
            },
        ),
    };
    let imports = Imports::new(
        store.clone() as Arc<dyn SessionStore>,
        Arc::new(StaticToken::new("fuzz-bearer-token")),
    )
    // An `http://` origin: a bare `host:port` entry allows https only.
    .with_allowed_authorities([format!("http://127.0.0.1:{}", be.port)]);
    let started = std::time::Instant::now();
    let (op, outcome): (&str, anyhow::Result<Result<String, _>>) =
        tokio_runtime().block_on(async {
            let handle = match rt.open_session(imports, ctx.clone()).await {
                Ok(session) => session,
                Err(err) => return ("open", Err(err)),
            };
            match &input.op {
                Op::Create { duration, replace } => (
                    "create",
                    handle
                        .create_session(&CreateOptions {
                            duration_seconds: duration.map(u64::from),
                            replace_existing: *replace,
                        })
                        .await
                        .map(|r| r.map(|k| k.public_key)),
                ),
                Op::Register {
                    valid_for,
                    max_calls,
                    allow,
                } => (
                    "register",
                    handle
                        .register_session(&RegisterOptions {
                            valid_until: valid_for.map(|d| now.saturating_add_signed(i64::from(d))),
                            max_calls: max_calls.map(u32::from),
                            allowed_entrypoints: allow
                                .iter()
                                .take(8)
                                .map(|i| {
                                    ENTRYPOINTS[usize::from(*i) % ENTRYPOINTS.len()].to_string()
                                })
                                .collect(),
                            idempotency_key: None,
                        })
                        .await,
                ),
                Op::Execute(specs) => {
                    let calls: Vec<Call> = specs
                        .iter()
                        .take(4)
                        .map(|c| Call {
                            contract_address: match c.to % 3 {
                                0 | 1 => oe::TOKEN.to_string(),
                                _ => f.wallet_hex.clone(),
                            },
                            entrypoint: ENTRYPOINTS[usize::from(c.entrypoint) % ENTRYPOINTS.len()]
                                .to_string(),
                            calldata: c
                                .calldata
                                .iter()
                                .take(8)
                                .map(|v| format!("{v:#x}"))
                                .collect(),
                        })
                        .collect();
                    ("execute", handle.execute_with_session(&calls).await)
                }
                Op::Status => (
                    "status",
                    handle
                        .get_session_status()
                        .await
                        .map(|r| r.map(|s| format!("{:?}", s.state))),
                ),
                Op::Revoke => ("revoke", handle.revoke_session().await),
                Op::Clear => (
                    "clear",
                    handle
                        .clear_session()
                        .await
                        .map(|r| r.map(|()| String::new())),
                ),
                Op::PolicySet {
                    token: t,
                    per_call,
                    per_window,
                    window,
                } => (
                    "policy-set",
                    handle
                        .set_spending_policy(&SpendingPolicyInput {
                            token: token(*t),
                            max_per_call: per_call.to_string(),
                            max_per_window: per_window.to_string(),
                            window_seconds: u64::from(*window),
                        })
                        .await,
                ),
                Op::PolicyGet(t) => (
                    "policy-get",
                    handle
                        .get_spending_policy(&token(*t))
                        .await
                        .map(|r| r.map(|p| format!("{}", p.is_some()))),
                ),
                Op::PolicyRemove(t) => (
                    "policy-remove",
                    handle.remove_spending_policy(&token(*t)).await,
                ),
            }
        });

    let served = be.served().min(8).to_string();
    if verbose() {
        match &outcome {
            Ok(Ok(v)) => eprintln!(
                "OUTCOME {op} {} ms served={served} ok {v}",
                started.elapsed().as_millis()
            ),
            Ok(Err(e)) => eprintln!(
                "OUTCOME {op} {} ms served={served} {} {e}",
                started.elapsed().as_millis(),
                e.code()
            ),
            Err(_) => {}
        }
    }
    match outcome {
        Ok(Ok(_)) => vec![op.to_string(), "ok".to_string(), served],
        Ok(Err(e)) => vec![
            op.to_string(),
            e.code().to_string(),
            shape(&e.to_string()),
            served,
        ],
        Err(e) => panic!(
            "component call `{op}` failed in the host (trap, time limit or host error): {e:#}"
        ),
    }
}
