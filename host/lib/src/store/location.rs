//! Store URLs: how a command line or a configuration file names a session
//! store (`--store` / `CHIPI_STORE` in the CLI).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use super::{MemoryStore, SessionStore, StoreError};

/// The accepted forms, for usage messages.
pub const STORE_URL_FORMS: &str = "PATH or sqlite:PATH (an SQLite file), \
redis://[[USER]:PASSWORD@]HOST[:PORT][/DB][?prefix=P&ca=FILE], \
rediss://... (Redis over TLS), or memory: (this process only)";

/// A session store named by URL.
///
/// | form | store |
/// |---|---|
/// | `PATH`, `sqlite:PATH` | `SqliteStore` at `PATH` |
/// | `redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]` | `RedisStore` |
/// | `rediss://...` | `RedisStore` over TLS |
/// | `memory:` | [`MemoryStore`], gone when the process ends |
///
/// Redis URLs take two query parameters of their own (the others go to the
/// Redis client): `prefix` (key prefix, default none) and `ca`
/// (a PEM file of the authority that signed the server's certificate, when
/// the system does not trust it). A bare `PATH` must not look like a URL: a
/// path containing `:` before any `/` is written `sqlite:PATH` or `./PATH`.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// An `SQLite` file.
    Sqlite(PathBuf),
    /// A Redis server.
    Redis {
        /// The server URL given to the Redis client (credentials included,
        /// this crate's own query parameters removed).
        url: String,
        /// Key prefix (`prefix=`), when given.
        prefix: Option<String>,
        /// Certificate authority file (`ca=`), when given.
        ca_file: Option<PathBuf>,
    },
    /// An in-process map.
    Memory,
}

/// A store URL that is not one of [`STORE_URL_FORMS`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid session store {given:?}: {reason}; accepted forms: {STORE_URL_FORMS}")]
pub struct StoreUrlError {
    /// The value as given, credentials removed.
    pub given: String,
    /// What is wrong with it.
    pub reason: String,
}

impl StoreUrl {
    /// Open the store. Redis stores connect lazily: an unreachable server is
    /// reported by the first operation.
    pub fn open(&self) -> Result<Arc<dyn SessionStore>, StoreError> {
        match self {
            Self::Memory => Ok(Arc::new(MemoryStore::new())),
            Self::Sqlite(path) => open_sqlite(path),
            Self::Redis {
                url,
                prefix,
                ca_file,
            } => open_redis(url, prefix.as_deref(), ca_file.as_deref()),
        }
    }
}

#[cfg(feature = "sqlite")]
fn open_sqlite(path: &std::path::Path) -> Result<Arc<dyn SessionStore>, StoreError> {
    Ok(Arc::new(super::SqliteStore::open(path)?))
}

#[cfg(not(feature = "sqlite"))]
fn open_sqlite(_path: &std::path::Path) -> Result<Arc<dyn SessionStore>, StoreError> {
    Err(StoreError::Config(
        "SQLite stores need the `sqlite` cargo feature of chipi-session-host".into(),
    ))
}

#[cfg(feature = "redis")]
fn open_redis(
    url: &str,
    prefix: Option<&str>,
    ca_file: Option<&std::path::Path>,
) -> Result<Arc<dyn SessionStore>, StoreError> {
    let mut options = super::RedisOptions::default();
    if let Some(prefix) = prefix {
        prefix.clone_into(&mut options.prefix);
    }
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|err| {
            StoreError::Config(format!(
                "cannot read the certificate authority file {}: {err}",
                path.display()
            ))
        })?;
        options.ca_certificate = Some(pem);
    }
    Ok(Arc::new(super::RedisStore::with_options(url, options)?))
}

#[cfg(not(feature = "redis"))]
fn open_redis(
    _url: &str,
    _prefix: Option<&str>,
    _ca_file: Option<&std::path::Path>,
) -> Result<Arc<dyn SessionStore>, StoreError> {
    Err(StoreError::Config(
        "Redis stores need the `redis` cargo feature of chipi-session-host".into(),
    ))
}

impl FromStr for StoreUrl {
    type Err = StoreUrlError;

    fn from_str(given: &str) -> Result<Self, Self::Err> {
        let fail = |reason: &str| StoreUrlError {
            given: redact(given),
            reason: reason.to_owned(),
        };
        if given.is_empty() {
            return Err(fail("it is empty"));
        }
        if let Some(rest) = given.strip_prefix("memory:") {
            return if rest.is_empty() {
                Ok(Self::Memory)
            } else {
                Err(fail("memory: takes nothing after the colon"))
            };
        }
        if let Some(path) = given.strip_prefix("sqlite:") {
            return if path.is_empty() {
                Err(fail("sqlite: needs a file path"))
            } else {
                Ok(Self::Sqlite(PathBuf::from(path)))
            };
        }
        if given.starts_with("redis://") || given.starts_with("rediss://") {
            return parse_redis(given).map_err(|reason| fail(&reason));
        }
        if let Some(scheme) = scheme_of(given) {
            return Err(fail(&format!("unknown scheme {scheme}:")));
        }
        Ok(Self::Sqlite(PathBuf::from(given)))
    }
}

/// The URL scheme of `s` when it has one (two or more characters, so that a
/// Windows drive letter is not one).
fn scheme_of(s: &str) -> Option<&str> {
    let (scheme, _) = s.split_once(':')?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    let valid = scheme.len() >= 2
        && first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some(scheme)
}

fn parse_redis(given: &str) -> Result<StoreUrl, String> {
    let mut url = url::Url::parse(given).map_err(|err| format!("not a valid URL ({err})"))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err("the Redis URL has no host".into());
    }
    let mut prefix = None;
    let mut ca_file = None;
    let mut passed_on = Vec::new();
    for (name, value) in url.query_pairs() {
        match name.as_ref() {
            "prefix" if value.is_empty() => return Err("prefix= must not be empty".into()),
            "prefix" => prefix = Some(value.into_owned()),
            "ca" if value.is_empty() => return Err("ca= needs a file path".into()),
            "ca" => ca_file = Some(PathBuf::from(value.as_ref())),
            _ => passed_on.push((name.into_owned(), value.into_owned())),
        }
    }
    if passed_on.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(passed_on);
    }
    Ok(StoreUrl::Redis {
        url: url.into(),
        prefix,
        ca_file,
    })
}

/// `s` with any URL password replaced by `***`.
fn redact(s: &str) -> String {
    match url::Url::parse(s) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.into()
        }
        // Not parseable: still hide whatever sits between `:` and `@`.
        _ => match (s.find("://"), s.rfind('@')) {
            (Some(start), Some(at)) if at > start => {
                format!("{}://***@{}", &s[..start], &s[at + 1..])
            }
            _ => s.to_owned(),
        },
    }
}

impl fmt::Display for StoreUrl {
    /// The store without credentials: `sqlite:PATH`, `redis://user:***@host/db`, `memory:`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            Self::Redis { url, .. } => f.write_str(&redact(url)),
            Self::Memory => f.write_str("memory:"),
        }
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreUrl({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> StoreUrl {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn accepted_forms() {
        assert_eq!(
            parse("sessions.sqlite"),
            StoreUrl::Sqlite("sessions.sqlite".into())
        );
        assert_eq!(
            parse("/var/lib/x.db"),
            StoreUrl::Sqlite("/var/lib/x.db".into())
        );
        assert_eq!(parse("./a:b"), StoreUrl::Sqlite("./a:b".into()));
        assert_eq!(
            parse("C:\\data\\s.db"),
            StoreUrl::Sqlite("C:\\data\\s.db".into())
        );
        assert_eq!(parse("sqlite:a:b.db"), StoreUrl::Sqlite("a:b.db".into()));
        assert_eq!(parse("memory:"), StoreUrl::Memory);
        assert_eq!(
            parse("redis://:pw@127.0.0.1:6380/2"),
            StoreUrl::Redis {
                url: "redis://:pw@127.0.0.1:6380/2".into(),
                prefix: None,
                ca_file: None
            }
        );
        assert_eq!(
            parse("rediss://u:p@cache:6380/0?prefix=app%3A&ca=/etc/ca.pem&protocol=resp3"),
            StoreUrl::Redis {
                url: "rediss://u:p@cache:6380/0?protocol=resp3".into(),
                prefix: Some("app:".into()),
                ca_file: Some("/etc/ca.pem".into())
            }
        );
    }

    #[test]
    fn refused_forms_name_the_accepted_ones_and_hide_passwords() {
        for bad in [
            "",
            "memory:x",
            "sqlite:",
            "postgres://u:secretpw@db/x",
            "http://127.0.0.1:6379",
            "redis://",
            "redis://:secretpw@/",
            "redis://h?prefix=",
            "rediss://h?ca=",
            "file:x",
        ] {
            let err = bad.parse::<StoreUrl>().unwrap_err();
            let text = err.to_string();
            assert!(text.contains(STORE_URL_FORMS), "{text}");
            assert!(!text.contains("secretpw"), "{text}");
        }
    }

    #[test]
    fn any_input_parses_or_fails_cleanly_without_echoing_a_password() {
        // Inputs assembled from the pieces URLs are made of (a fixed-seed
        // xorshift, no dependency): parsing never panics, and neither the
        // error nor the parsed store's display shows the password.
        const PIECES: &[&str] = &[
            "redis://",
            "rediss://",
            "sqlite:",
            "memory:",
            "secretpw",
            ":",
            "@",
            "/",
            "?",
            "&",
            "=",
            "prefix",
            "ca",
            "%",
            "%zz",
            "[::1]",
            "127.0.0.1",
            "6379",
            "é",
            "#",
            " ",
            "",
            "\\",
            "x",
            "user",
        ];
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = next() % 10;
            let input: String = (0..len)
                .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
                .collect();
            let shown = match input.parse::<StoreUrl>() {
                Ok(url) => format!("{url} {url:?}"),
                Err(err) => err.to_string(),
            };
            // (A file path may contain anything; only URL credentials are hidden.)
            if input.contains("://") && input.contains(":secretpw@") {
                assert!(!shown.contains(":secretpw@"), "{input:?} -> {shown}");
            }
        }
    }

    #[test]
    fn display_hides_the_password() {
        let url = parse("redis://user:secretpw@127.0.0.1:6379/0?prefix=x");
        assert_eq!(url.to_string(), "redis://user:***@127.0.0.1:6379/0");
        assert!(!format!("{url:?}").contains("secretpw"));
    }

    #[cfg(feature = "sqlite")]
    #[test]
    fn memory_and_sqlite_urls_open() {
        let dir = tempfile::tempdir().unwrap();
        for url in [
            StoreUrl::Memory,
            StoreUrl::Sqlite(dir.path().join("s.sqlite")),
        ] {
            let store = url.open().unwrap();
            assert!(store.compare_and_swap("k", None, Some(b"v")).unwrap());
            assert_eq!(store.get("k").unwrap().as_deref(), Some(&b"v"[..]));
        }
    }
}
