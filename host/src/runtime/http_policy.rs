//! Outgoing-HTTP policy: which authorities the component may reach.
//!
//! Every request the component sends through `wasi:http/outgoing-handler` goes
//! through [`HttpPolicy::send_request`]. A request whose scheme is not `http`
//! or `https`, whose authority carries userinfo, or whose `host:port` is not
//! allow-listed is refused with `error-code::HTTP-request-denied` before any
//! DNS lookup or connection. Request headers and bodies are never logged.

use std::future::Future;
use std::net::Ipv6Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context as _};
use http::uri::{Authority, Scheme};
use http_body_util::BodyExt;
use wasmtime_wasi_http::{RequestOptions, WasiBody, WasiHttpHooks};

/// `host:port` strings (port explicit or the scheme's default) for a list of
/// `http`/`https` URLs, e.g. `https://api.chipipay.com/v1` gives
/// `api.chipipay.com:443`. Userinfo, path and query are ignored; hosts are
/// lowercased and IPv6 literals kept in brackets (`[::1]:8080`).
pub fn authorities_from_urls(urls: &[&str]) -> anyhow::Result<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(urls.len());
    for raw in urls {
        let authority = authority_from_url(raw)?;
        if !out.contains(&authority) {
            out.push(authority);
        }
    }
    Ok(out)
}

fn authority_from_url(raw: &str) -> anyhow::Result<String> {
    let url = url::Url::parse(raw).with_context(|| format!("invalid URL `{raw}`"))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        bail!("URL `{raw}` must use http or https, not `{}`", url.scheme());
    }
    let host = match url.host() {
        Some(url::Host::Domain(domain)) => domain.to_ascii_lowercase(),
        Some(url::Host::Ipv4(addr)) => addr.to_string(),
        Some(url::Host::Ipv6(addr)) => format!("[{addr}]"),
        None => bail!("URL `{raw}` has no host"),
    };
    let port = url
        .port_or_known_default()
        .ok_or_else(|| anyhow!("URL `{raw}` has no port"))?;
    Ok(format!("{host}:{port}"))
}

/// Default port of an `http`/`https` scheme.
fn default_port(scheme: &Scheme) -> Option<u16> {
    if *scheme == Scheme::HTTPS {
        Some(443)
    } else if *scheme == Scheme::HTTP {
        Some(80)
    } else {
        None
    }
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

/// One allow-list entry: a host and, optionally, a port.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    host: String,
    /// `None` allows the request scheme's default port only.
    port: Option<u16>,
}

/// Parsed allow-list of authorities.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct AllowList {
    entries: Vec<Entry>,
}

/// Why a request was refused (kept for tests and error messages; carries no
/// request data beyond the authority).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Denial {
    /// Scheme other than `http` / `https`.
    Scheme,
    /// No authority, or one that cannot be parsed.
    NoAuthority,
    /// Authority with `user@`.
    Userinfo,
    /// `host:port` not allow-listed.
    NotAllowed(String),
}

impl AllowList {
    /// Parse entries such as `api.chipipay.com:443`, `127.0.0.1:8080`,
    /// `[::1]:5050`, `localhost` (default port of the request's scheme) or a
    /// full `http(s)://` URL (its explicit or default port).
    pub(crate) fn parse<S: AsRef<str>>(entries: &[S]) -> anyhow::Result<Self> {
        let mut parsed = Vec::with_capacity(entries.len());
        for raw in entries {
            let raw = raw.as_ref().trim();
            let entry = if raw.contains("://") {
                let authority = authority_from_url(raw)?;
                Self::parse_authority(&authority)?
            } else {
                Self::parse_authority(raw)?
            };
            if !parsed.contains(&entry) {
                parsed.push(entry);
            }
        }
        Ok(Self { entries: parsed })
    }

    fn parse_authority(raw: &str) -> anyhow::Result<Entry> {
        if raw.contains('@') {
            bail!("allowed authority `{raw}` must not contain userinfo");
        }
        let authority: Authority = raw
            .parse()
            .with_context(|| format!("invalid allowed authority `{raw}`"))?;
        let host = authority.host();
        if host.is_empty() {
            bail!("allowed authority `{raw}` has no host");
        }
        let port = explicit_port(authority.as_str())
            .map_err(|()| anyhow!("invalid port in allowed authority `{raw}`"))?;
        Ok(Entry {
            host: canonical_host(host),
            port,
        })
    }

    /// Number of distinct entries.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Decide whether a request to `uri` may be sent.
    pub(crate) fn check(&self, uri: &http::Uri) -> Result<(), Denial> {
        let scheme = uri.scheme().ok_or(Denial::Scheme)?;
        let default = default_port(scheme).ok_or(Denial::Scheme)?;
        let authority = uri.authority().ok_or(Denial::NoAuthority)?;
        if authority.as_str().contains('@') {
            return Err(Denial::Userinfo);
        }
        if authority.host().is_empty() {
            return Err(Denial::NoAuthority);
        }
        let port = explicit_port(authority.as_str())
            .map_err(|()| Denial::NoAuthority)?
            .unwrap_or(default);
        let host = canonical_host(authority.host());
        let allowed = self
            .entries
            .iter()
            .any(|e| e.host == host && e.port.unwrap_or(default) == port);
        if allowed {
            Ok(())
        } else {
            Err(Denial::NotAllowed(format!("{host}:{port}")))
        }
    }
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
    fn urls_to_authorities() {
        let got = authorities_from_urls(&[
            "https://api.chipipay.com/v1",
            "http://127.0.0.1:8080/rpc",
            "HTTPS://API.ChipiPay.com:8443/x?y=1",
            "http://[::1]:5050/",
            "http://[0:0::1]/",
            "https://user:pw@rpc.example.org/",
            "https://api.chipipay.com/v2", // duplicate authority
        ])
        .unwrap();
        assert_eq!(
            got,
            [
                "api.chipipay.com:443",
                "127.0.0.1:8080",
                "api.chipipay.com:8443",
                "[::1]:5050",
                "[::1]:80",
                "rpc.example.org:443",
            ]
        );
    }

    #[test]
    fn urls_with_bad_scheme_or_no_host_fail() {
        assert!(authorities_from_urls(&["ftp://example.com/"]).is_err());
        assert!(authorities_from_urls(&["file:///etc/passwd"]).is_err());
        assert!(authorities_from_urls(&["not a url"]).is_err());
        assert!(authorities_from_urls(&["api.chipipay.com"]).is_err());
        assert!(authorities_from_urls(&[]).unwrap().is_empty());
    }

    #[test]
    fn allow_list_parsing() {
        assert_eq!(list(&["a.com:1", "A.COM:1", "https://a.com:1/"]).len(), 1);
        assert!(AllowList::parse(&["user@a.com:443"]).is_err());
        assert!(AllowList::parse(&["a.com:65536"]).is_err());
        assert!(AllowList::parse(&["a.com:99999"]).is_err());
        assert!(AllowList::parse(&["a.com:"]).is_err());
        assert!(AllowList::parse(&["[::1]:x"]).is_err());
        assert!(AllowList::parse(&["a.com:port"]).is_err());
        assert!(AllowList::parse(&[":443"]).is_err());
        assert!(AllowList::parse(&["ftp://a.com/"]).is_err());
        assert!(AllowList::parse(&["a.com/path"]).is_err());
        assert!(AllowList::parse::<&str>(&[]).unwrap().len() == 0);
    }

    #[test]
    fn matches_host_and_port() {
        let allow = list(&["127.0.0.1:8080", "api.chipipay.com:443"]);
        assert_eq!(allow.check(&uri("http://127.0.0.1:8080/x")), Ok(()));
        assert_eq!(allow.check(&uri("https://api.chipipay.com/v1/x")), Ok(()));
        assert_eq!(allow.check(&uri("https://api.chipipay.com:443/")), Ok(()));
        // Wrong port, including the other scheme's default.
        assert!(matches!(
            allow.check(&uri("http://127.0.0.1:8081/")),
            Err(Denial::NotAllowed(a)) if a == "127.0.0.1:8081"
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
    fn explicit_ports_are_parsed_strictly() {
        assert_eq!(explicit_port("a.com"), Ok(None));
        assert_eq!(explicit_port("a.com:8080"), Ok(Some(8080)));
        assert_eq!(explicit_port("[::1]"), Ok(None));
        assert_eq!(explicit_port("[::1]:1"), Ok(Some(1)));
        assert_eq!(explicit_port("a.com:65536"), Err(()));
        assert_eq!(explicit_port("a.com:+1"), Err(()));
        assert_eq!(explicit_port("a.com:"), Err(()));
        assert_eq!(explicit_port("[::1]x"), Err(()));
        let allow = list(&["a.com:80"]);
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
    }

    #[test]
    fn entry_without_port_uses_the_request_schemes_default() {
        let allow = list(&["localhost"]);
        assert_eq!(allow.check(&uri("http://localhost/")), Ok(()));
        assert_eq!(allow.check(&uri("https://localhost/")), Ok(()));
        assert_eq!(allow.check(&uri("http://localhost:80/")), Ok(()));
        assert!(allow.check(&uri("http://localhost:443/")).is_err());
        assert!(allow.check(&uri("http://localhost:8080/")).is_err());
    }

    #[test]
    fn ipv6_literals() {
        let allow = list(&["[::1]:5050", "[2001:DB8::1]:443"]);
        assert_eq!(allow.check(&uri("http://[::1]:5050/")), Ok(()));
        assert_eq!(allow.check(&uri("http://[0:0:0:0:0:0:0:1]:5050/")), Ok(()));
        assert_eq!(allow.check(&uri("https://[2001:db8::1]/")), Ok(()));
        assert!(allow.check(&uri("http://[::1]:5051/")).is_err());
        assert!(allow.check(&uri("http://[::2]:5050/")).is_err());
        assert!(allow.check(&uri("http://127.0.0.1:5050/")).is_err());
    }

    #[test]
    fn userinfo_and_bad_schemes_are_denied() {
        let allow = list(&["127.0.0.1:8080", "a.com:443"]);
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
    fn empty_allow_list_denies_everything() {
        let allow = AllowList::default();
        assert!(allow.check(&uri("http://127.0.0.1:8080/")).is_err());
    }

    #[tokio::test]
    async fn hook_refuses_without_connecting_and_counts() {
        use http_body_util::BodyExt as _;
        let denied = DeniedCounter::default();
        let mut policy = HttpPolicy::new(Arc::new(list(&["127.0.0.1:1"])), denied.clone());
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
