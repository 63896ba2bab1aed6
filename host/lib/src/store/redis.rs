//! Session store on a Redis server, shared by every process and machine that
//! points at it.

use std::fmt;
use std::sync::{Mutex, MutexGuard, Once, PoisonError};
use std::time::Duration;

use redis::{Client, Connection, ErrorKind, RedisError, Script};

use super::{SessionStore, StoreError};

/// Compare-and-swap as one script, which Redis runs atomically.
///
/// `ARGV[1]`: `1` when a value is expected (`ARGV[2]`), `0` when the key must
/// be absent. `ARGV[3]`: `1` to write `ARGV[4]`, `0` to delete. Returns 1 when
/// the swap happened, 0 when the current value differs from the expected one.
/// `GET` of an absent key is `false` in Lua, which never equals a string.
const CAS_SCRIPT: &str = r"
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if current ~= ARGV[2] then return 0 end
elseif current then
  return 0
end
if ARGV[3] == '1' then
  redis.call('SET', KEYS[1], ARGV[4])
else
  redis.call('DEL', KEYS[1])
end
return 1
";

/// Broken pooled connections a command moves past before retries count.
const STALE_RETRIES: u32 = 4;

/// Connection and retry settings of a [`RedisStore`].
#[derive(Clone, PartialEq, Eq)]
pub struct RedisOptions {
    /// Prepended to every key, so several deployments (or other data) can
    /// share one database. The component's keys already start with
    /// `chipi-session/v1/`. Default: empty.
    pub prefix: String,
    /// Longest wait for a TCP (and TLS) connection. Default 2 s.
    pub connect_timeout: Duration,
    /// Longest wait for one command's answer. Default 2 s.
    pub io_timeout: Duration,
    /// Attempts at a read (and at reaching the server before a write is
    /// sent) before reporting [`StoreError::Unavailable`]. Default 3.
    pub attempts: u32,
    /// Idle connections kept for reuse. Default 8.
    pub max_idle_connections: usize,
    /// PEM certificate(s) of the authority that signed a `rediss://` server's
    /// certificate, when it is not one the system trusts.
    pub ca_certificate: Option<Vec<u8>>,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            prefix: String::new(),
            connect_timeout: Duration::from_secs(2),
            io_timeout: Duration::from_secs(2),
            attempts: 3,
            max_idle_connections: 8,
            ca_certificate: None,
        }
    }
}

impl fmt::Debug for RedisOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisOptions")
            .field("prefix", &self.prefix)
            .field("connect_timeout", &self.connect_timeout)
            .field("io_timeout", &self.io_timeout)
            .field("attempts", &self.attempts)
            .field("max_idle_connections", &self.max_idle_connections)
            .field(
                "ca_certificate",
                &self.ca_certificate.as_ref().map(Vec::len),
            )
            .finish()
    }
}

/// A session store on a Redis server (`redis://` or, over TLS, `rediss://`).
///
/// - Compare-and-swap is one Lua script, atomic with respect to every other
///   client of the server: any number of processes and machines may share
///   the store.
/// - Connections are reused (up to [`RedisOptions::max_idle_connections`]
///   idle ones) and every command has a time limit.
/// - Reads are retried ([`RedisOptions::attempts`]); a write is retried only
///   while the server could not be reached, before anything was sent. When a
///   write's answer is lost, the key is read back: the write is reported
///   done when the new value is there, sent again when the old one still is,
///   and [`StoreError::Unavailable`] (outcome unknown) otherwise.
/// - Only the values the component gives are written: ciphertext and public
///   data. The URL's password is never shown (`Debug` shows the server only).
///
/// Durability is the server's: see the README's Redis section for the
/// persistence settings a deployment needs (append-only file).
pub struct RedisStore {
    client: Client,
    options: RedisOptions,
    server: String,
    idle: Mutex<Vec<Connection>>,
    cas: Script,
}

impl RedisStore {
    /// A store on the server at `url` with the default options. Nothing is
    /// connected yet: an unreachable server is reported by the first
    /// operation (or by [`RedisStore::ping`]).
    pub fn open(url: &str) -> Result<Self, StoreError> {
        Self::with_options(url, RedisOptions::default())
    }

    /// A store on the server at `url` (`redis://[[user]:password@]host[:port][/db]`
    /// or `rediss://...` for TLS) with `options`.
    pub fn with_options(url: &str, options: RedisOptions) -> Result<Self, StoreError> {
        let server = redacted_server(url)?;
        if options.attempts == 0 {
            return Err(StoreError::Config("attempts must be at least 1".into()));
        }
        install_crypto_provider();
        let client = match &options.ca_certificate {
            Some(pem) => Client::build_with_tls(
                url,
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.clone()),
                },
            ),
            None => Client::open(url),
        }
        .map_err(|err| StoreError::Config(format!("invalid Redis URL {server}: {err}")))?;
        Ok(Self {
            client,
            options,
            server,
            idle: Mutex::new(Vec::new()),
            cas: Script::new(CAS_SCRIPT),
        })
    }

    /// Check that the server answers (and accepts the credentials).
    pub fn ping(&self) -> Result<(), StoreError> {
        self.with_retries(|conn| redis::cmd("PING").query::<String>(conn).map(drop))
    }

    /// The server, as `scheme://host:port/db` (no credentials).
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The options in use.
    pub fn options(&self) -> &RedisOptions {
        &self.options
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.options.prefix)
    }

    fn idle(&self) -> MutexGuard<'_, Vec<Connection>> {
        // The vector is never left half-updated: a poisoned lock is usable.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An idle connection, or a new one (tests inspect the server with it).
    #[cfg(test)]
    fn connection(&self) -> Result<Connection, StoreError> {
        Ok(self.pooled_or_new()?.0)
    }

    /// An idle connection (`true`) or a new one (`false`).
    fn pooled_or_new(&self) -> Result<(Connection, bool), StoreError> {
        if let Some(conn) = self.idle().pop() {
            return Ok((conn, true));
        }
        self.new_connection().map(|conn| (conn, false))
    }

    /// A new connection, retried while the server cannot be reached.
    fn new_connection(&self) -> Result<Connection, StoreError> {
        let mut attempt = 0;
        loop {
            match self.connect() {
                Ok(conn) => return Ok(conn),
                Err(err) if is_transient(&err) && attempt + 1 < self.options.attempts => {
                    attempt += 1;
                    std::thread::sleep(backoff(attempt));
                }
                Err(err) => return Err(self.error(&err)),
            }
        }
    }

    fn connect(&self) -> Result<Connection, RedisError> {
        let conn = self
            .client
            .get_connection_with_timeout(self.options.connect_timeout)?;
        conn.set_read_timeout(Some(self.options.io_timeout))?;
        conn.set_write_timeout(Some(self.options.io_timeout))?;
        Ok(conn)
    }

    /// Put a connection that completed its command back for reuse.
    fn release(&self, conn: Connection) {
        let mut idle = self.idle();
        if idle.len() < self.options.max_idle_connections {
            idle.push(conn);
        }
    }

    /// A broken idle connection means the server went away since it was
    /// pooled (restarted, failed over, or closed idle clients): the other
    /// idle ones are as stale, so they are all dropped.
    fn forget_idle(&self) {
        self.idle().clear();
    }

    /// Run an idempotent command, retrying on a broken connection or a time-out.
    /// A pooled connection found broken does not use up an attempt: the idle
    /// connections are dropped and the command is run on a new one.
    fn with_retries<T>(
        &self,
        mut op: impl FnMut(&mut Connection) -> Result<T, RedisError>,
    ) -> Result<T, StoreError> {
        let mut attempt = 0;
        let mut stale = 0;
        loop {
            let (mut conn, pooled) = self.pooled_or_new()?;
            match op(&mut conn) {
                Ok(value) => {
                    self.release(conn);
                    return Ok(value);
                }
                // Bounded: other threads may pool connections meanwhile.
                Err(err) if pooled && is_transient(&err) && stale < STALE_RETRIES => {
                    stale += 1;
                    self.forget_idle();
                }
                // The connection is dropped: it may be broken or out of step.
                Err(err) if is_transient(&err) && attempt + 1 < self.options.attempts => {
                    attempt += 1;
                    std::thread::sleep(backoff(attempt));
                }
                Err(err) => return Err(self.error(&err)),
            }
        }
    }

    /// Run the compare-and-swap script once on a fresh or idle connection.
    fn swap_once(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<Result<bool, RedisError>, StoreError> {
        let (mut conn, pooled) = self.pooled_or_new()?;
        let mut invocation = self.cas.key(key);
        invocation
            .arg(flag(expected))
            .arg(expected.unwrap_or_default())
            .arg(flag(new))
            .arg(new.unwrap_or_default());
        let result = invocation.invoke::<i64>(&mut conn);
        Ok(match result {
            Ok(1) => {
                self.release(conn);
                Ok(true)
            }
            Ok(0) => {
                self.release(conn);
                Ok(false)
            }
            Ok(other) => Err(RedisError::from((
                ErrorKind::UnexpectedReturnType,
                "compare-and-swap script answered",
                other.to_string(),
            ))),
            Err(err) => {
                if pooled && is_transient(&err) {
                    self.forget_idle();
                }
                Err(err)
            }
        })
    }

    fn error(&self, err: &RedisError) -> StoreError {
        describe(&self.server, err)
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("server", &self.server)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl SessionStore for RedisStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let key = self.key(key);
        self.with_retries(|conn| redis::cmd("GET").arg(&key).query::<Option<Vec<u8>>>(conn))
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        let full_key = self.key(key);
        let mut attempt = 0;
        loop {
            let err = match self.swap_once(&full_key, expected, new)? {
                Ok(swapped) => return Ok(swapped),
                Err(err) if is_transient(&err) => err,
                Err(err) => return Err(self.error(&err)),
            };
            // The script was sent and its answer lost: it may have run. Read
            // the key back to learn which.
            let lost = self.error(&err);
            let Ok(current) = self.with_retries(|conn| {
                redis::cmd("GET")
                    .arg(&full_key)
                    .query::<Option<Vec<u8>>>(conn)
            }) else {
                return Err(outcome_unknown(lost));
            };
            if current.as_deref() == new {
                return Ok(true);
            }
            if current.as_deref() != expected {
                // Changed by another writer (after ours, or instead of it).
                return Err(outcome_unknown(lost));
            }
            attempt += 1;
            if attempt >= self.options.attempts {
                return Err(lost);
            }
        }
    }
}

/// `1` for a value, `0` for none.
fn flag(value: Option<&[u8]>) -> &'static str {
    if value.is_some() {
        "1"
    } else {
        "0"
    }
}

/// True for errors where the server may answer a retry: refused or dropped
/// connections, time-outs, a server loading its data or shutting down.
fn is_transient(err: &RedisError) -> bool {
    err.is_io_error()
        || err.is_timeout()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || matches!(
            err.kind(),
            ErrorKind::Server(
                redis::ServerErrorKind::BusyLoading | redis::ServerErrorKind::TryAgain
            )
        )
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(50u64.saturating_mul(1 << attempt.min(5)))
}

fn outcome_unknown(lost: StoreError) -> StoreError {
    match lost {
        StoreError::Unavailable(msg) => {
            StoreError::Unavailable(format!("{msg}; the outcome of the write is unknown"))
        }
        other => other,
    }
}

/// A typed error for `err`, naming the server but never its credentials.
fn describe(server: &str, err: &RedisError) -> StoreError {
    if is_transient(err) {
        return StoreError::Unavailable(format!("Redis at {server} is unavailable: {err}"));
    }
    match err.kind() {
        ErrorKind::AuthenticationFailed => {
            StoreError::Backend(format!("Redis at {server} refused the credentials: {err}"))
        }
        ErrorKind::InvalidClientConfig => StoreError::Config(format!("Redis at {server}: {err}")),
        _ => StoreError::Unexpected(format!("Redis at {server} answered unexpectedly: {err}")),
    }
}

/// `scheme://host:port/db` of a Redis URL, without credentials or query.
fn redacted_server(url: &str) -> Result<String, StoreError> {
    let parsed = url::Url::parse(url)
        .map_err(|err| StoreError::Config(format!("invalid Redis URL: {err}")))?;
    let scheme = parsed.scheme();
    if scheme != "redis" && scheme != "rediss" {
        return Err(StoreError::Config(format!(
            "a Redis URL starts with redis:// or rediss://, not {scheme}://"
        )));
    }
    let host = parsed
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| StoreError::Config("the Redis URL has no host".into()))?;
    let port = parsed.port().unwrap_or(6379);
    let db = parsed.path().trim_start_matches('/');
    let db = if db.is_empty() { "0" } else { db };
    Ok(format!("{scheme}://{host}:{port}/{db}"))
}

/// rustls needs a process-wide crypto provider; install ring's unless the
/// application installed one.
fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            // Losing a race with another installer is fine: one is installed.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance;
    use std::sync::Arc;

    /// The test server: `CHIPI_TEST_REDIS_URL`, which `scripts/test.sh` sets
    /// after starting a throwaway `redis-server` (a missing server fails the
    /// test; it never skips).
    fn server_url() -> String {
        std::env::var("CHIPI_TEST_REDIS_URL").unwrap_or_else(|_| {
            panic!(
                "CHIPI_TEST_REDIS_URL is not set: run scripts/test.sh, or start a server with \
                 `scripts/redis.sh start` and export the URL it prints"
            )
        })
    }

    /// A store on the test server under a prefix of its own.
    fn store(test: &str) -> RedisStore {
        RedisStore::with_options(&server_url(), options(test)).unwrap()
    }

    fn options(test: &str) -> RedisOptions {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        RedisOptions {
            prefix: format!("test:{test}:{}:{nanos}:", std::process::id()),
            ..RedisOptions::default()
        }
    }

    #[test]
    fn redis_basic_ops() {
        conformance::basic_ops(&store("basic"));
    }

    #[test]
    fn redis_cas_ops() {
        conformance::cas_ops(&store("cas"));
    }

    #[test]
    fn redis_cas_race_between_connections_counts_exactly() {
        let options = options("race");
        conformance::concurrent_increments(
            move || Arc::new(RedisStore::with_options(&server_url(), options.clone()).unwrap()),
            8,
            50,
        );
    }

    #[test]
    fn redis_one_store_shared_by_threads_counts_exactly() {
        // One store, its connections reused across threads.
        let store: Arc<dyn SessionStore> = Arc::new(store("shared"));
        conformance::concurrent_increments(move || Arc::clone(&store), 8, 50);
    }

    #[test]
    fn redis_prefixes_separate_stores() {
        let a = store("prefix-a");
        let b = store("prefix-b");
        conformance::put(&a, "wallet", b"a");
        assert_eq!(b.get("wallet").unwrap(), None);
        conformance::put(&b, "wallet", b"b");
        assert_eq!(a.get("wallet").unwrap().as_deref(), Some(&b"a"[..]));
        // The prefix is literally prepended on the server.
        let mut conn = a.connection().unwrap();
        let raw: Option<Vec<u8>> = redis::cmd("GET")
            .arg(format!("{}wallet", a.options().prefix))
            .query(&mut conn)
            .unwrap();
        assert_eq!(raw.as_deref(), Some(&b"a"[..]));
    }

    #[test]
    fn redis_connections_are_reused() {
        let store = store("reuse");
        for i in 0..20u8 {
            conformance::put(&store, "k", &[i]);
        }
        assert_eq!(store.idle().len(), 1);
    }

    #[test]
    fn redis_wrong_type_is_an_unexpected_answer() {
        let store = store("wrongtype");
        let mut conn = store.connection().unwrap();
        let _: i64 = redis::cmd("HSET")
            .arg(store.key("k"))
            .arg("field")
            .arg("v")
            .query(&mut conn)
            .unwrap();
        assert!(matches!(store.get("k"), Err(StoreError::Unexpected(_))));
        assert!(matches!(
            store.compare_and_swap("k", None, Some(b"v")),
            Err(StoreError::Unexpected(_))
        ));
    }

    /// The test server's TLS listener and the authority that signed its
    /// certificate (`CHIPI_TEST_REDISS_URL`, `CHIPI_TEST_REDIS_CA`, set by
    /// `scripts/test.sh`).
    fn tls_server() -> (String, Vec<u8>) {
        let url = std::env::var("CHIPI_TEST_REDISS_URL")
            .expect("CHIPI_TEST_REDISS_URL is not set: run scripts/test.sh");
        let ca = std::env::var("CHIPI_TEST_REDIS_CA")
            .expect("CHIPI_TEST_REDIS_CA is not set: run scripts/test.sh");
        (url, std::fs::read(ca).expect("the test CA file"))
    }

    #[test]
    fn rediss_with_the_servers_authority_passes_the_suite() {
        let (url, ca) = tls_server();
        let store = RedisStore::with_options(
            &url,
            RedisOptions {
                ca_certificate: Some(ca),
                ..options("tls")
            },
        )
        .unwrap();
        conformance::basic_ops(&store);
        conformance::cas_ops(&store);
        store.ping().unwrap();
    }

    #[test]
    fn a_store_url_carries_the_prefix_and_the_authority() {
        let (url, _) = tls_server();
        let ca = std::env::var("CHIPI_TEST_REDIS_CA").unwrap();
        let prefix = options("url").prefix;
        let named: crate::store::StoreUrl =
            format!("{url}?prefix={prefix}&ca={ca}").parse().unwrap();
        let store = named.open().unwrap();
        conformance::put(store.as_ref(), "k", b"over tls");
        // Same key under the same prefix, read over the plain-text port.
        let plain = RedisStore::with_options(
            &server_url(),
            RedisOptions {
                prefix,
                ..RedisOptions::default()
            },
        )
        .unwrap();
        assert_eq!(plain.get("k").unwrap().as_deref(), Some(&b"over tls"[..]));
    }

    #[test]
    fn rediss_refuses_a_certificate_nobody_vouches_for() {
        let (url, _) = tls_server();
        // The system's authorities did not sign the throwaway certificate.
        let options = options("tls-untrusted");
        let untrusted = RedisStore::with_options(
            &url,
            RedisOptions {
                attempts: 1,
                ..options.clone()
            },
        )
        .unwrap();
        match untrusted.compare_and_swap("k", None, Some(b"v")) {
            Err(err @ (StoreError::Unavailable(_) | StoreError::Backend(_))) => {
                let text = err.to_string();
                assert!(text.contains("certificate"), "{text}");
            }
            other => panic!("{other:?}"),
        }
        // Nothing was written.
        let plain = RedisStore::with_options(&server_url(), options).unwrap();
        assert_eq!(plain.get("k").unwrap(), None);
    }

    #[test]
    fn an_acl_user_limited_to_its_prefix_and_commands_suffices() {
        // The user the deployment notes recommend: only its prefix, only the
        // commands the store sends (and those the script runs).
        let admin = store("acl-admin");
        let user = format!("chipi-acl-{}", std::process::id());
        let prefix = options("acl").prefix;
        let mut conn = admin.connection().unwrap();
        let _: String = redis::cmd("ACL")
            .arg("SETUSER")
            .arg(&user)
            .arg("reset")
            .arg("on")
            .arg(">acl-test-password")
            .arg(format!("~{prefix}*"))
            .arg("+get")
            .arg("+set")
            .arg("+del")
            .arg("+eval")
            .arg("+evalsha")
            .arg("+ping")
            .query(&mut conn)
            .unwrap();
        let mut url = url::Url::parse(&server_url()).unwrap();
        url.set_username(&user).unwrap();
        url.set_password(Some("acl-test-password")).unwrap();
        let limited = RedisStore::with_options(
            url.as_str(),
            RedisOptions {
                prefix: prefix.clone(),
                ..RedisOptions::default()
            },
        )
        .unwrap();
        conformance::basic_ops(&limited);
        conformance::cas_ops(&limited);
        // Outside its prefix it is refused: an unexpected answer, typed.
        let outside = RedisStore::with_options(url.as_str(), options("acl-outside")).unwrap();
        assert!(matches!(outside.get("k"), Err(StoreError::Unexpected(_))));
        let _: i64 = redis::cmd("ACL")
            .arg("DELUSER")
            .arg(&user)
            .query(&mut conn)
            .unwrap();
    }

    #[test]
    fn redis_wrong_password_is_refused() {
        let mut url = url::Url::parse(&server_url()).unwrap();
        url.set_password(Some("not-the-password")).unwrap();
        let store = RedisStore::open(url.as_str()).unwrap();
        match store.get("k") {
            Err(StoreError::Backend(msg)) => {
                assert!(msg.contains("credentials"), "{msg}");
                assert!(!msg.contains("not-the-password"), "{msg}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_server_is_shown_without_credentials() {
        assert_eq!(
            redacted_server("redis://:s3cret@127.0.0.1:7000/2").unwrap(),
            "redis://127.0.0.1:7000/2"
        );
        assert_eq!(
            redacted_server("rediss://user:pw@cache.example").unwrap(),
            "rediss://cache.example:6379/0"
        );
        let store = RedisStore::open("redis://admin:hunter2@127.0.0.1:1/").unwrap();
        let shown = format!("{store:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("admin"),
            "{shown}"
        );
    }

    #[test]
    fn bad_urls_are_configuration_errors() {
        for url in ["http://127.0.0.1", "redis://", "not a url", "redis://:pw@/"] {
            match RedisStore::open(url) {
                Err(StoreError::Config(msg)) => assert!(!msg.contains("pw"), "{msg}"),
                other => panic!("{url}: {other:?}"),
            }
        }
        let options = RedisOptions {
            attempts: 0,
            ..RedisOptions::default()
        };
        assert!(matches!(
            RedisStore::with_options("redis://127.0.0.1", options),
            Err(StoreError::Config(_))
        ));
    }

    #[test]
    fn a_server_that_is_down_is_unavailable() {
        // Port 1 on loopback: nothing listens there.
        let options = RedisOptions {
            attempts: 2,
            ..RedisOptions::default()
        };
        let store = RedisStore::with_options("redis://:pw@127.0.0.1:1/", options).unwrap();
        for result in [
            store.get("k").map(drop),
            store.compare_and_swap("k", None, Some(b"v")).map(drop),
            store.ping(),
        ] {
            match result {
                Err(StoreError::Unavailable(msg)) => {
                    assert!(msg.contains("redis://127.0.0.1:1/0"), "{msg}");
                    assert!(!msg.contains("pw@"), "{msg}");
                }
                other => panic!("{other:?}"),
            }
        }
    }
}
