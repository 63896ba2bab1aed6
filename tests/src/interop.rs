//! Driver of the JavaScript side of the differential tests (`tests/interop/`):
//! installs the pinned npm packages on first use, then runs the referee
//! (`referee.mjs`: starknet.js 9.2.1, crypto-es 2.1.0, Chipi's SDK helpers) and
//! Chipi's real SDK (`sdk_client.mjs`) as child processes.
//!
//! A missing Node.js or a failed install is a test failure with a clear
//! message, never a silent skip: the interop proof is part of the suite.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::{json, Value};

/// `tests/interop/` in the repository.
pub fn interop_dir() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("interop")
}

/// The entries of a SNIP-12 corpus file in `guest/test-data`
/// (`snip12_corpus.json`, `snip12_rejected.json`): a JSON array of documents, each with its name,
/// account and, where starknet.js hashes it, the hash it gives. The one place
/// that knows where the corpus lives.
pub fn corpus(file: &str) -> Vec<Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("guest")
        .join("test-data")
        .join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str::<Vec<Value>>(&text)
        .unwrap_or_else(|e| panic!("{} is not a JSON array: {e}", path.display()))
}

/// Install the pinned npm packages once per test process (`install.sh` is a
/// no-op when they are current and serialises concurrent callers).
pub fn ensure_installed() {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    let result = INSTALLED.get_or_init(|| {
        let out = Command::new("bash")
            .arg(interop_dir().join("install.sh"))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run tests/interop/install.sh: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "tests/interop/install.sh failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    });
    if let Err(e) = result {
        panic!("the interop harness is not installed: {e}");
    }
}

/// Answer a batch of referee operations (see `tests/interop/README.md`);
/// results come back in the order of `ops`. Panics when the referee cannot run
/// or answers something other than one result per op.
pub fn referee(ops: &[Value]) -> Vec<Value> {
    ensure_installed();
    let count = ops.len();
    let input = serde_json::to_vec(&json!({ "ops": ops })).expect("ops serialize");
    let mut child = Command::new("node")
        .arg(interop_dir().join("referee.mjs"))
        .current_dir(interop_dir())
        .env("REFEREE_JOBS", "2")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs referee.mjs (is Node.js installed?)");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let writer = std::thread::spawn(move || {
        stdin.write_all(&input).expect("referee reads its input");
    });
    let out = child.wait_with_output().expect("referee finishes");
    writer.join().expect("writer thread");
    assert!(
        out.status.success(),
        "referee.mjs failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "referee.mjs answered non-JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    let results = answer["results"]
        .as_array()
        .cloned()
        .expect("referee answers {results: [...]}");
    assert_eq!(results.len(), count, "one referee result per op");
    results
}

/// Run Chipi's real SDK through create -> register -> execute (n) -> revoke
/// with the arguments `sdk_client.mjs` documents. Returns its JSON report and
/// whether it exited 0; the SDK's own chatter goes to the returned stderr.
pub fn run_sdk_client(args: &Value) -> (Value, bool, String) {
    ensure_installed();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("args.json");
    std::fs::write(&path, serde_json::to_vec(args).expect("args serialize")).expect("write args");
    let out = Command::new("node")
        .arg(interop_dir().join("sdk_client.mjs"))
        .arg(&path)
        .current_dir(interop_dir())
        .stdin(Stdio::null())
        .output()
        .expect("node runs sdk_client.mjs (is Node.js installed?)");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "sdk_client.mjs printed non-JSON ({e}): {}\nstderr: {stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (report, out.status.success(), stderr)
}

/// The structure of a JSON request body, for comparing what two clients send:
/// objects keep their keys, arrays their length and element shapes, booleans
/// and plain text their value; numeric strings become `"<hex>"` or `"<dec>"`
/// and numbers `"<number>"`, since their values legitimately differ.
pub fn shape(v: &Value) -> Value {
    match v {
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), shape(v))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(shape).collect()),
        Value::String(s) if is_hex(s) => json!("<hex>"),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            json!("<dec>")
        }
        Value::Number(_) => json!("<number>"),
        other => other.clone(),
    }
}

fn is_hex(s: &str) -> bool {
    s.strip_prefix("0x")
        .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_abstracts_values_but_not_structure() {
        let a = json!({"r": "12", "s": "0xab", "calls": [{"entrypoint": "transfer", "calldata": ["0x1", "0x2"]}], "ok": true});
        let b = json!({"r": "99", "s": "0x1", "calls": [{"entrypoint": "transfer", "calldata": ["0x5", "0x7"]}], "ok": true});
        assert_eq!(shape(&a), shape(&b));
        let c = json!({"r": "0x12", "s": "0xab", "calls": [{"entrypoint": "transfer", "calldata": ["0x1", "0x2"]}], "ok": true});
        assert_ne!(shape(&a), shape(&c), "decimal vs hex");
        let d = json!({"r": "12", "s": "0xab", "calls": [{"entrypoint": "approve", "calldata": ["0x1", "0x2"]}], "ok": true});
        assert_ne!(shape(&a), shape(&d), "entrypoint names are compared");
        let e = json!({"r": "12", "s": "0xab", "calls": [{"entrypoint": "transfer", "calldata": ["0x1"]}], "ok": true});
        assert_ne!(shape(&a), shape(&e), "calldata length");
        let f = json!({"r": "12", "s": "0xab", "calls": [{"entrypoint": "transfer", "calldata": ["0x1", "0x2"]}]});
        assert_ne!(shape(&a), shape(&f), "missing field");
    }
}
