//! Where the component may send requests: under its configured Chipi API base
//! URL or to one of its configured RPC URLs, nowhere else.
//!
//! This is defence in depth for every host: the component only ever builds
//! URLs from its configuration, and a host may allow-list authorities too,
//! but hosts without an outgoing-HTTP hook (wasmtime-py) rely on this check.
//! [`UrlScope::admit`] parses the URL once and returns the parsed
//! [`http::Uri`] that the adapter then sends, so the URL that was checked is
//! the URL that goes out.

use http::uri::{Scheme, Uri};

/// One allowed destination: an origin and a path (a prefix for the API base
/// URL, the exact path and query for an RPC URL).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Allowed {
    /// `http` or `https`.
    scheme: String,
    /// Lower-case host (IPv6 in brackets, as written).
    host: String,
    /// Explicit port, or the scheme's default.
    port: u16,
    /// Path (for a prefix, without its trailing `/`).
    path: String,
    /// Query of an exact RPC URL (`None` for the API prefix).
    query: Option<String>,
    /// True for the API base URL: any path below it.
    prefix: bool,
}

/// The destinations of one session's configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UrlScope {
    /// Parsed destinations; configured URLs that do not parse are left out
    /// (the operation's own URL check reports them).
    allowed: Vec<Allowed>,
}

/// The parts of a URL that are compared.
struct Parts {
    /// Lower-case scheme.
    scheme: String,
    /// Lower-case host.
    host: String,
    /// Explicit or default port.
    port: u16,
    /// Path (`/` when empty).
    path: String,
    /// Query, if any.
    query: Option<String>,
}

/// Parse an absolute `http(s)://` URL without userinfo.
fn parse(url: &str) -> Result<(Uri, Parts), String> {
    let uri: Uri = url.parse().map_err(|_| "not a valid URL".to_owned())?;
    let scheme = match uri.scheme() {
        Some(s) if *s == Scheme::HTTP => "http",
        Some(s) if *s == Scheme::HTTPS => "https",
        _ => return Err("only http and https URLs are allowed".into()),
    };
    let authority = uri.authority().ok_or("the URL has no host")?;
    if authority.as_str().contains('@') {
        return Err("URLs with credentials (user@host) are refused".into());
    }
    let host = authority.host().to_ascii_lowercase();
    if host.is_empty() {
        return Err("the URL has no host".into());
    }
    let port = authority
        .port_u16()
        .unwrap_or(if scheme == "https" { 443 } else { 80 });
    let path = match uri.path() {
        "" => "/".to_owned(),
        p => p.to_owned(),
    };
    let query = uri.query().map(str::to_owned);
    let parts = Parts {
        scheme: scheme.to_owned(),
        host,
        port,
        path,
        query,
    };
    Ok((uri, parts))
}

impl Allowed {
    /// True when `parts` is this destination (or below it, for the prefix).
    fn admits(&self, parts: &Parts) -> bool {
        if self.scheme != parts.scheme || self.host != parts.host || self.port != parts.port {
            return false;
        }
        if self.prefix {
            parts.path == self.path
                || parts
                    .path
                    .strip_prefix(self.path.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
        } else {
            parts.path == self.path && parts.query == self.query
        }
    }
}

impl UrlScope {
    /// The scope of a configuration: anything under `api_base_url`, and each
    /// of `rpc_urls` exactly.
    pub fn new(api_base_url: &str, rpc_urls: &[String]) -> Self {
        let mut allowed = Vec::with_capacity(1 + rpc_urls.len());
        if let Ok((_, p)) = parse(api_base_url) {
            allowed.push(Allowed {
                path: p.path.trim_end_matches('/').to_owned(),
                scheme: p.scheme,
                host: p.host,
                port: p.port,
                query: None,
                prefix: true,
            });
        }
        for url in rpc_urls {
            if let Ok((_, p)) = parse(url) {
                allowed.push(Allowed {
                    scheme: p.scheme,
                    host: p.host,
                    port: p.port,
                    path: p.path,
                    query: p.query,
                    prefix: false,
                });
            }
        }
        Self { allowed }
    }

    /// Parse `url` and return it when it is in scope; otherwise a message
    /// naming only its origin (never its path, query or credentials).
    pub fn admit(&self, url: &str) -> Result<Uri, String> {
        let (uri, parts) = parse(url).map_err(|why| format!("refused request: {why}"))?;
        if self.allowed.iter().any(|a| a.admits(&parts)) {
            Ok(uri)
        } else {
            Err(format!(
                "refused request to {}://{}:{}: outside the configured API and RPC URLs",
                parts.scheme, parts.host, parts.port
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> UrlScope {
        UrlScope::new(
            "https://API.chipipay.com/v1/",
            &[
                "http://127.0.0.1:5050/rpc".into(),
                "https://rpc.example/v0_8?key=abc".into(),
                "ftp://ignored/".into(),
            ],
        )
    }

    #[test]
    fn admits_the_api_endpoints_and_the_exact_rpc_urls() {
        let s = scope();
        for url in [
            "https://api.chipipay.com/v1/chipi-wallets/prepare-typed-data?__chipi_api_version=1",
            "https://api.chipipay.com:443/v1/transactions/execute-sponsored-transaction",
            "https://api.chipipay.com/v1",
            "http://127.0.0.1:5050/rpc",
            "https://rpc.example/v0_8?key=abc",
        ] {
            let uri = s.admit(url).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(uri.to_string(), url);
        }
    }

    #[test]
    fn refuses_everything_else() {
        let s = scope();
        for url in [
            "http://api.chipipay.com/v1/x",          // scheme differs
            "https://api.chipipay.com:8443/v1/x",    // port differs
            "https://api.chipipay.com/v10/x",        // not below /v1
            "https://api.chipipay.com/v2/x",         // outside the prefix
            "https://evil.example/v1/x",             // host differs
            "https://api.chipipay.com.evil/v1/x",    // host suffix
            "http://127.0.0.1:5050/rpc/x",           // RPC paths are exact
            "http://127.0.0.1:5050/rpc?x=1",         // and so are their queries
            "http://localhost:5050/rpc",             // another name for the host
            "https://rpc.example/v0_8",              // query missing
            "https://user:pw@api.chipipay.com/v1/x", // credentials
            "file:///etc/passwd",
            "ftp://ignored/",
            "/v1/relative",
            "not a url",
            "",
        ] {
            let err = s.admit(url).expect_err(url);
            assert!(err.starts_with("refused request"), "{url}: {err}");
            assert!(!err.contains("pw"), "{err}");
        }
        let err = scope()
            .admit("https://evil.example/v1/x?token=secret")
            .unwrap_err();
        assert_eq!(
            err,
            "refused request to https://evil.example:443: outside the configured API and RPC URLs"
        );
    }

    #[test]
    fn an_empty_configuration_admits_nothing() {
        let s = UrlScope::new("", &[]);
        assert!(s.admit("https://api.chipipay.com/v1/x").is_err());
    }
}
