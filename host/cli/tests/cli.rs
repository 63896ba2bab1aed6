//! The `chipi-session` binary as a script would use it: exit codes, `--json`
//! output, and the whole lifecycle against a sandbox over 127.0.0.1.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use chipi_session_sandbox::{Sandbox, SandboxConfig, SandboxWalletType};
use common::{bin, json_of};
use serde_json::Value;

#[test]
fn demo_json_exits_zero_with_every_step() {
    let out = bin().args(["demo", "--json"]).output().expect("runs");
    let value = json_of(&out);
    assert!(out.status.success(), "{value}");
    assert_eq!(value["ok"], true);
    let steps: Vec<&str> = value["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["step"].as_str())
        .collect();
    assert_eq!(
        steps,
        ["setup", "create", "register", "execute", "status", "revoke", "status"]
    );
}

#[test]
fn missing_wallet_is_a_usage_error_in_json() {
    let out = bin()
        .args(["status", "--json", "--rpc-url", "http://127.0.0.1:9"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let value = json_of(&out);
    assert_eq!(value["error"]["code"], "USAGE_ERROR");
    assert!(value["error"]["message"]
        .as_str()
        .unwrap()
        .contains("wallet"));
}

#[test]
fn unknown_flag_exits_with_usage_code() {
    let out = bin()
        .args(["create", "--no-such-flag"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
}

/// `chipi-session --json` against `sandbox` for the wallet file `wallet`,
/// the SQLite store `store` and the encrypt key `key` (kind from the flags
/// only: the environment's kind is removed).
fn cli_for(
    sandbox: &Sandbox,
    (api_key, bearer): (&str, &str),
    wallet: &Path,
    store: &Path,
    key: &str,
) -> Command {
    let mut cmd = bin();
    cmd.env("CHIPI_API_URL", sandbox.api_url())
        .env("CHIPI_RPC_URL", sandbox.rpc_url())
        .env("CHIPI_API_KEY", api_key)
        .env("CHIPI_BEARER_TOKEN", bearer)
        .env("CHIPI_WALLET", wallet)
        .env("CHIPI_ENCRYPT_KEY", key)
        .env("CHIPI_STORE", store)
        .env_remove("CHIPI_ENCRYPT_KEY_KIND")
        .arg("--json");
    cmd
}

#[tokio::test(flavor = "multi_thread")]
async fn lifecycle_through_the_cli() {
    let config = SandboxConfig::default();
    let (api_key, bearer) = (config.api_key.clone(), config.bearer_token.clone());
    let sandbox = Sandbox::start(config, ([127, 0, 0, 1], 0).into())
        .await
        .expect("sandbox");
    let wallet = sandbox.create_wallet("4321", SandboxWalletType::Chipi);
    let dir = tempfile::tempdir().expect("tempdir");
    let wallet_path = dir.path().join("wallet.json");
    std::fs::write(&wallet_path, serde_json::to_string(&wallet).expect("json")).expect("write");
    let store = dir.path().join("store.sqlite");
    let calls_file = dir.path().join("calls.json");
    std::fs::write(
        &calls_file,
        r#"[{"contractAddress":"0x4718f5a0fc34cc1af16a1cdee98ffb20c31f5cd61d6ab07201858f4287c938d","entrypoint":"transfer","calldata":["0xc0ffee","7","0x0"]}]"#,
    )
    .expect("write");

    let run = |args: &[&str], pin: &str| -> Output {
        let mut cmd = cli_for(&sandbox, (&api_key, &bearer), &wallet_path, &store, pin);
        cmd.args(args).output().expect("runs")
    };
    let run_ok = |args: &[&str]| -> Value {
        let out = run(args, "4321");
        let value = json_of(&out);
        assert!(out.status.success(), "{args:?}: {value}");
        value
    };

    let created = run_ok(&["create", "--duration", "3600"]);
    assert!(created["publicKey"].as_str().unwrap().starts_with("0x"));
    assert!(created["encryptedPrivateKey"]
        .as_str()
        .unwrap()
        .starts_with("v1.argon2id."));
    assert!(created["validUntil"].as_u64().is_some());
    // The store holds only ciphertext: the PIN and no private key in clear.
    let raw = std::fs::read(&store).expect("store file");
    assert!(!String::from_utf8_lossy(&raw).contains("4321\""));

    assert_eq!(run_ok(&["status"])["state"], "created");
    let out = run(
        &["register", "--max-calls", "3", "--allow", "transfer"],
        "9999",
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json_of(&out)["error"]["code"], "SESSION_DECRYPTION_FAILED");
    assert!(
        run_ok(&["register", "--max-calls", "3", "--allow", "transfer"])["transactionHash"]
            .as_str()
            .unwrap()
            .starts_with("0x")
    );
    run_ok(&["execute", "--calls-file", calls_file.to_str().unwrap()]);
    // --wait: the receipt in the JSON result, progress on stderr only.
    let out = run(
        &[
            "execute",
            "--wait",
            "--call",
            "0x4718f5a0fc34cc1af16a1cdee98ffb20c31f5cd61d6ab07201858f4287c938d:transfer:0xc0ffee,1,0",
        ],
        "4321",
    );
    let waited = json_of(&out);
    assert!(out.status.success(), "{waited}");
    assert_eq!(
        waited["receipt"]["executionStatus"], "SUCCEEDED",
        "{waited}"
    );
    assert_eq!(
        waited["receipt"]["transactionHash"], waited["transactionHash"],
        "{waited}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("accepted"), "{stderr}");
    let status = run_ok(&["status"]);
    assert_eq!(status["state"], "active");
    assert_eq!(status["isActive"], true);
    assert_eq!(status["remainingCalls"], 1);
    assert_eq!(status["allowedEntrypoints"].as_array().unwrap().len(), 1);

    let out = run(&["execute", "--call", "0x123:approve:1,2,3"], "4321");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        json_of(&out)["error"]["code"],
        "SESSION_ENTRYPOINT_NOT_ALLOWED"
    );

    run_ok(&["revoke"]);
    assert_eq!(run_ok(&["status"])["state"], "revoked");
    run_ok(&["clear"]);
    assert_eq!(run_ok(&["status"])["state"], "none");
    sandbox.shutdown().await;
}

/// `--encrypt-key-kind`: a high-entropy key seals with HKDF, the same text as
/// a PIN is refused naming the kind, and a short high-entropy key is a usage
/// of the wrong kind of key (invalid input), never stretched instead.
#[tokio::test(flavor = "multi_thread")]
async fn encrypt_key_kind_is_a_flag_never_guessed() {
    let config = SandboxConfig::default();
    let (api_key, bearer) = (config.api_key.clone(), config.bearer_token.clone());
    let sandbox = Sandbox::start(config, ([127, 0, 0, 1], 0).into())
        .await
        .expect("sandbox");
    // 32 bytes in unpadded base64url; the sandbox's owner key is
    // CryptoJS-encrypted under the same text.
    let key = "CzBVep_E6Q4zWH2ix-wRNluApcrvFDleg6jN8hc8YYY";
    let wallet = sandbox.create_wallet(key, SandboxWalletType::Chipi);
    let dir = tempfile::tempdir().expect("tempdir");
    let wallet_path = dir.path().join("wallet.json");
    std::fs::write(&wallet_path, serde_json::to_string(&wallet).expect("json")).expect("write");
    let store = dir.path().join("store.sqlite");
    let run = |args: &[&str], key: &str, kind: Option<&str>| -> Output {
        let mut cmd = cli_for(&sandbox, (&api_key, &bearer), &wallet_path, &store, key);
        cmd.args(args);
        if let Some(kind) = kind {
            cmd.args(["--encrypt-key-kind", kind]);
        }
        cmd.output().expect("runs")
    };

    let out = run(&["create"], key, Some("high-entropy"));
    let created = json_of(&out);
    assert!(out.status.success(), "{created}");
    assert!(
        created["encryptedPrivateKey"]
            .as_str()
            .unwrap()
            .starts_with("v1.hkdf-sha256."),
        "{created}"
    );
    // The default kind is `pin`: the same text is a PIN, refused by name.
    let out = run(&["register"], key, None);
    assert_eq!(out.status.code(), Some(1));
    let error = json_of(&out);
    assert_eq!(
        error["error"]["code"], "SESSION_DECRYPTION_FAILED",
        "{error}"
    );
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`high-entropy`"),
        "{error}"
    );
    let out = run(&["register"], key, Some("high-entropy"));
    assert!(out.status.success(), "{}", json_of(&out));
    // The first 31 of those bytes: refused as input.
    let short = "CzBVep_E6Q4zWH2ix-wRNluApcrvFDleg6jN8hc8YQ";
    let out = run(&["status"], short, Some("high-entropy"));
    assert!(
        out.status.success(),
        "status needs no key: {}",
        json_of(&out)
    );
    let out = run(&["revoke"], short, Some("high-entropy"));
    assert_eq!(out.status.code(), Some(1));
    let error = json_of(&out);
    assert_eq!(error["error"]["code"], "INVALID_INPUT", "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("256 bits"),
        "{error}"
    );
    // The environment variable sets the kind too; a wrong value is a usage error.
    let out = bin()
        .env("CHIPI_ENCRYPT_KEY_KIND", "hkdf")
        .args(["status", "--json"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    sandbox.shutdown().await;
}

/// The CLI excludes its memory from core dumps before reading any key: a
/// running `sandbox` process has a zero core-dump filter.
#[cfg(target_os = "linux")]
#[test]
fn the_cli_process_is_excluded_from_core_dumps() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = bin()
        .args([
            "--json",
            "sandbox",
            "--listen",
            "127.0.0.1:0",
            "--pin",
            "1234",
        ])
        .arg("--wallet-out")
        .arg(dir.path().join("wallet.json"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("runs");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("reads");
    let filter = std::fs::read_to_string(format!("/proc/{}/coredump_filter", child.id()));
    child.kill().expect("kill");
    child.wait().expect("wait");
    assert!(line.contains("127.0.0.1"), "sandbox started: {line}");
    let filter = filter.expect("the filter is readable");
    assert_eq!(
        u32::from_str_radix(filter.trim(), 16).expect("hex"),
        0,
        "coredump_filter {filter}"
    );
}

/// The measures of a full `bench --json` run (both parts with sessions).
const SESSION_MEASURES: [&str; 10] = [
    "startupMs",
    "instantiateUs",
    "createMs",
    "registerMs",
    "firstExecuteMs",
    "executeMedianMs",
    "executeP99Ms",
    "clientCpuPerExecuteMs",
    "executesPerSecond",
    "rssPerIdleSessionKiB",
];

/// Every measure of a successful `bench --json` with sessions is a positive
/// number and the throughput window is a real interval.
fn assert_session_measures(value: &Value) {
    assert_eq!(value["backend"], "embedded-sandbox", "{value}");
    for field in SESSION_MEASURES {
        let number = value[field].as_f64();
        assert!(number.is_some_and(|n| n > 0.0), "{field}: {value}");
    }
    assert!(value["executeP99Ms"].as_f64() >= value["executeMedianMs"].as_f64());
    let start = value["throughput"]["startUnixMs"].as_f64().expect("start");
    let end = value["throughput"]["endUnixMs"].as_f64().expect("end");
    assert!(start > 1.6e12 && end > start, "{value}");
    assert_eq!(
        value["throughput"]["executes"], value["executes"],
        "{value}"
    );
}

/// `value["store"]` reports `ops` reads and compare-and-swaps of the store
/// shown as `url`, at positive rates.
fn assert_store_measures(value: &Value, url: &str, ops: u64) {
    let store = &value["store"];
    assert_eq!(store["url"], url, "{value}");
    assert_eq!(store["ops"], ops, "{value}");
    assert_eq!(store["valueBytes"], 2048, "{value}");
    for field in [
        "getsPerSecond",
        "casPerSecond",
        "getMedianUs",
        "casMedianUs",
    ] {
        let number = store[field].as_f64();
        assert!(number.is_some_and(|n| n > 0.0), "{field}: {value}");
    }
    // One op at a time: the rate cannot beat the median by much.
    for (rate, median) in [
        ("getsPerSecond", "getMedianUs"),
        ("casPerSecond", "casMedianUs"),
    ] {
        let (rate, median) = (
            store[rate].as_f64().expect("rate"),
            store[median].as_f64().expect("median"),
        );
        assert!(rate * median / 1e6 < 2.0, "{rate} vs {median}: {value}");
    }
}

#[test]
fn bench_on_the_embedded_sandbox_reports_every_measure() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("bench.sqlite");
    let out = bin()
        .args([
            "bench",
            "--executes",
            "3",
            "--wallets",
            "2",
            "--concurrency",
            "2",
            "--store-ops",
            "50",
            "--json",
        ])
        .arg("--store")
        .arg(format!("sqlite:{}", store.display()))
        .output()
        .expect("runs");
    let value = json_of(&out);
    assert!(out.status.success(), "{value}");
    assert_session_measures(&value);
    let url = format!("sqlite:{}", store.display());
    assert_eq!(value["sessionStore"], url.as_str(), "{value}");
    assert_store_measures(&value, &url, 50);
    let raw = std::fs::read(&store).expect("the bench used the --store file");
    assert!(!raw.is_empty());

    // The store part alone: no sessions, no sandbox.
    let out = bin()
        .args(["bench", "--only", "store", "--store-ops", "20", "--json"])
        .arg("--store")
        .arg(&store)
        .output()
        .expect("runs");
    let value = json_of(&out);
    assert!(out.status.success(), "{value}");
    assert_eq!(value["backend"], "none", "{value}");
    assert_store_measures(&value, &url, 20);
    for field in SESSION_MEASURES {
        assert!(value.get(field).is_none(), "{field}: {value}");
    }
    // The latency part alone: one warm session in memory, no pool.
    let out = bin()
        .args(["--store", "memory:", "--json", "bench", "--only", "latency"])
        .args(["--executes", "3"])
        .output()
        .expect("runs");
    let value = json_of(&out);
    assert!(out.status.success(), "{value}");
    assert_eq!(value["sessionStore"], "memory:", "{value}");
    assert_eq!(value["executes"], 3, "{value}");
    for field in ["executeMedianMs", "clientCpuPerExecuteMs", "firstExecuteMs"] {
        assert!(
            value[field].as_f64().is_some_and(|v| v > 0.0),
            "{field}: {value}"
        );
    }
    for field in ["executesPerSecond", "rssPerIdleSessionKiB", "throughput"] {
        assert!(value.get(field).is_none(), "{field}: {value}");
    }

    // ...which needs --store-ops.
    let out = bin()
        .args(["bench", "--only", "store", "--json"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(json_of(&out)["error"]["code"], "USAGE_ERROR");
}

/// The test Redis server's URL (`scripts/test.sh` starts one).
fn test_redis_url() -> String {
    std::env::var("CHIPI_TEST_REDIS_URL").unwrap_or_else(|_| {
        panic!(
            "CHIPI_TEST_REDIS_URL is not set: run scripts/test.sh, or start a server with \
             `scripts/redis.sh start DIR` and export its URL"
        )
    })
}

/// Keys of the Redis server at `url` (`redis://:PASSWORD@HOST:PORT/DB`, as
/// `scripts/redis.sh` prints it) that start with `prefix` (redis-cli).
fn redis_keys(url: &str, prefix: &str) -> Vec<String> {
    let (userinfo, server) = url
        .strip_prefix("redis://")
        .and_then(|rest| rest.split_once('@'))
        .expect("redis://:PASSWORD@HOST:PORT/DB");
    let password = userinfo.trim_start_matches(':');
    let (address, db) = server.split_once('/').unwrap_or((server, "0"));
    let (host, port) = address.rsplit_once(':').expect("HOST:PORT");
    let out = Command::new("redis-cli")
        .env("REDISCLI_AUTH", password)
        .args(["-h", host, "-p", port, "-n", db, "--scan", "--pattern"])
        .arg(format!("{prefix}*"))
        .output()
        .expect("redis-cli runs (install redis-tools: scripts/setup.sh)");
    assert!(
        out.status.success(),
        "redis-cli: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn bench_on_redis_measures_the_store_and_leaves_no_key() {
    use chipi_session_host::store::StoreUrl;

    let server = test_redis_url();
    // redis://:PASSWORD@127.0.0.1:PORT/0
    let password = server
        .split_once('@')
        .and_then(|(userinfo, _)| userinfo.rsplit_once(':'))
        .map(|(_, password)| password.to_owned())
        .filter(|p| !p.is_empty())
        .expect("the test server has a password");
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let prefix = format!("cli-bench-test-{}-{nanos}:", std::process::id());
    let url = format!("{server}?prefix={prefix}");
    let shown: StoreUrl = url.parse().expect("store URL");
    let shown = shown.to_string();
    assert!(!shown.contains(&password), "{shown}");

    // The scan below sees keys under the prefix.
    let store = StoreUrl::open(&url.parse().unwrap()).expect("open");
    assert!(store.compare_and_swap("probe", None, Some(b"x")).unwrap());
    assert_eq!(redis_keys(&server, &prefix), [format!("{prefix}probe")]);
    assert!(store.compare_and_swap("probe", Some(b"x"), None).unwrap());
    assert!(redis_keys(&server, &prefix).is_empty());

    let out = bin()
        .args([
            "bench",
            "--executes",
            "3",
            "--wallets",
            "2",
            "--concurrency",
            "2",
            "--store-ops",
            "50",
            "--json",
        ])
        .env("CHIPI_STORE", &url)
        .output()
        .expect("runs");
    let value = json_of(&out);
    assert!(out.status.success(), "{value}");
    assert_session_measures(&value);
    assert_eq!(value["sessionStore"], shown.as_str(), "{value}");
    assert_store_measures(&value, &shown, 50);
    let all = format!("{}{}", value, String::from_utf8_lossy(&out.stderr));
    assert!(!all.contains(&password), "{all}");
    // Session records cleared, store measure key deleted.
    let left = redis_keys(&server, &prefix);
    assert!(left.is_empty(), "keys left behind: {left:?}");

    let out = bin()
        .args(["bench", "--only", "store", "--store-ops", "30", "--json"])
        .env("CHIPI_STORE", &url)
        .output()
        .expect("runs");
    let value = json_of(&out);
    assert!(out.status.success(), "{value}");
    assert_store_measures(&value, &shown, 30);
    let left = redis_keys(&server, &prefix);
    assert!(left.is_empty(), "keys left behind: {left:?}");
}

/// A wallet file and a store path in `dir`, for commands that fail before
/// reaching any network.
fn offline_setup(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let wallet = dir.join("wallet.json");
    std::fs::write(
        &wallet,
        r#"{"publicKey":"0x1","encryptedPrivateKey":"U2FsdGVkX1+x","walletType":"CHIPI"}"#,
    )
    .expect("write wallet");
    (wallet, dir.join("store.sqlite"))
}

#[test]
fn url_passwords_never_reach_the_cli_output() {
    let secret = "Pa55w0rd-never-shown";
    let dir = tempfile::tempdir().expect("tempdir");
    let (wallet, store) = offline_setup(dir.path());
    let cases: Vec<Vec<String>> = vec![
        vec![
            "--allow-host".into(),
            format!("https://alice:{secret}@rpc.example:443"),
        ],
        vec![
            "--allow-host".into(),
            format!("alice:{secret}@rpc.example:443"),
        ],
        vec![
            "--api-url".into(),
            format!("ftp://alice:{secret}@api.example/"),
        ],
        vec!["--rpc-url".into(), format!("https://alice:{secret}@:8545/")],
        vec![
            "--rpc-url".into(),
            format!("https://alice:{secret}@rpc.example:99999/"),
        ],
    ];
    for case in cases {
        for json in [true, false] {
            let mut cmd = bin();
            cmd.arg("status")
                .arg("--wallet")
                .arg(&wallet)
                .arg("--store")
                .arg(&store)
                .env("CHIPI_ENCRYPT_KEY", "1234");
            if !case.iter().any(|a| a == "--rpc-url") {
                cmd.args(["--rpc-url", "http://127.0.0.1:9/rpc"]);
            }
            if json {
                cmd.arg("--json");
            }
            let out = cmd.args(&case).output().expect("runs");
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{case:?}: {stdout} {stderr}");
            for text in [&stdout, &stderr] {
                assert!(!text.contains(secret), "{case:?}: {text}");
                assert!(!text.contains("alice"), "{case:?}: {text}");
            }
            assert!(
                stdout.contains("<redacted>") || stderr.contains("<redacted>"),
                "{case:?}: {stdout} {stderr}"
            );
        }
    }
}

#[test]
fn secrets_are_not_echoed_by_argument_errors() {
    // A bad value next to secrets: clap's error must not print them.
    let out = bin()
        .args([
            "status",
            "--encrypt-key",
            "pin-secret-1",
            "--bearer-token",
            "jwt-secret-2",
            "--timeout",
            "not-a-number",
        ])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains("secret"), "{all}");
}

#[test]
fn help_documents_the_allow_host_syntax() {
    let out = bin().arg("--help").output().expect("runs");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("--allow-host <[SCHEME://]HOST:PORT>"),
        "{help}"
    );
    assert!(help.contains("https only"), "{help}");
}

#[test]
fn bad_store_urls_are_usage_errors_naming_the_accepted_forms() {
    let secret = "St0re-pa55-never-shown";
    let dir = tempfile::tempdir().expect("tempdir");
    let (wallet, _) = offline_setup(dir.path());
    for store in [
        format!("postgres://app:{secret}@db.example/sessions"),
        "memory:extra".to_owned(),
        "sqlite:".to_owned(),
        format!("redis://app:{secret}@/0"),
        "redis://127.0.0.1?prefix=".to_owned(),
    ] {
        for via_env in [false, true] {
            let mut cmd = bin();
            cmd.args(["status", "--json", "--rpc-url", "http://127.0.0.1:9/rpc"])
                .arg("--wallet")
                .arg(&wallet)
                .env("CHIPI_ENCRYPT_KEY", "1234");
            if via_env {
                cmd.env("CHIPI_STORE", &store);
            } else {
                cmd.args(["--store", &store]);
            }
            let out = cmd.output().expect("runs");
            let value = json_of(&out);
            assert_eq!(out.status.code(), Some(2), "{store}: {value}");
            assert_eq!(value["error"]["code"], "USAGE_ERROR", "{store}: {value}");
            let message = value["error"]["message"].as_str().expect("message");
            for form in ["sqlite:PATH", "redis://", "rediss://", "memory:"] {
                assert!(message.contains(form), "{store}: {message}");
            }
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                !message.contains(secret) && !stderr.contains(secret),
                "{message}"
            );
        }
    }
}

#[test]
fn a_redis_store_that_is_down_is_a_store_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (wallet, _) = offline_setup(dir.path());
    // Nothing listens on port 1 of the loopback interface.
    let out = bin()
        .args(["status", "--json", "--rpc-url", "http://127.0.0.1:9/rpc"])
        .arg("--wallet")
        .arg(&wallet)
        .env("CHIPI_ENCRYPT_KEY", "1234")
        .env("CHIPI_STORE", "redis://:hunter2-secret@127.0.0.1:1/0")
        .output()
        .expect("runs");
    let value = json_of(&out);
    assert_eq!(out.status.code(), Some(1), "{value}");
    assert_eq!(value["error"]["code"], "STORE_ERROR", "{value}");
    let message = value["error"]["message"].as_str().expect("message");
    assert!(
        message.contains("unavailable") && message.contains("redis://127.0.0.1:1/0"),
        "{message}"
    );
    assert!(!message.contains("hunter2"), "{message}");
}
