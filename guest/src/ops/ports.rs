//! What the use cases need from the outside world. The component backs this
//! with WASI imports; native tests back it with fakes.

use zeroize::Zeroizing;

/// An HTTP response: status, the headers the protocol reads, and body.
#[derive(Debug, Clone, Default)]
pub struct HttpResponse {
    /// HTTP status code.
    pub status: u16,
    /// `Retry-After` header value, if any.
    pub retry_after: Option<String>,
    /// Body bytes (at most the cap the adapter enforces).
    pub body: Vec<u8>,
}

/// Side effects available to the use cases.
pub trait Ports {
    /// POST `body` to `url` with `headers`; `Err` is a transport failure
    /// message (including a response body over the size cap, and running out
    /// of the operation's time budget). The request may have reached the
    /// server even when this fails.
    fn http_post(
        &mut self,
        url: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<HttpResponse, String>;
    /// Read a store value.
    fn store_get(&mut self, key: &str) -> Result<Option<Vec<u8>>, String>;
    /// Compare-and-swap a store value (`None` = absent / delete).
    fn store_cas(
        &mut self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, String>;
    /// Current Unix time in seconds.
    fn now_unix(&mut self) -> u64;
    /// Fill `buf` with cryptographically secure random bytes.
    fn fill_random(&mut self, buf: &mut [u8]);
    /// The bearer token for the Chipi backend.
    fn bearer_token(&mut self) -> Result<Zeroizing<String>, String>;
    /// Milliseconds left of the operation's time budget.
    fn remaining_ms(&mut self) -> u64;
    /// Wait `ms` milliseconds (backoff between retries).
    fn sleep_ms(&mut self, ms: u64);
    /// Report something the caller should know about a successful operation
    /// (for example that the local record could not be updated).
    fn warn(&mut self, message: &str);
}
