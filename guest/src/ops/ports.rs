//! What the use cases need from the outside world. The component backs this
//! with WASI imports; native tests back it with fakes.

use zeroize::Zeroizing;

/// An HTTP response: status and body.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// HTTP status code.
    pub status: u16,
    /// Body bytes.
    pub body: Vec<u8>,
}

/// Side effects available to the use cases.
pub trait Ports {
    /// POST `body` to `url` with `headers`; `Err` is a transport failure message.
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
}
