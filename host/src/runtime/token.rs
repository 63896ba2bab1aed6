//! Bearer-token sources backing the `chipi:session/credentials` import.

use zeroize::Zeroizing;

/// Supplies the bearer token the component sends to the Chipi backend (the
/// hook's `getBearerToken`). Called once per token the component needs, on a
/// blocking-capable thread, so implementations may refresh synchronously.
pub trait TokenSource: Send + Sync + 'static {
    /// A current bearer token, or an error message (no secrets in it) that the
    /// component reports as `unauthorized`.
    fn bearer_token(&self) -> Result<String, String>;
}

/// A fixed bearer token. The stored copy is zeroized on drop and never shown
/// by `Debug`.
#[derive(Clone)]
pub struct StaticToken {
    token: Zeroizing<String>,
}

impl StaticToken {
    /// Wrap a token.
    pub fn new(token: impl Into<String>) -> Self {
        Self {
            token: Zeroizing::new(token.into()),
        }
    }
}

impl std::fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StaticToken(<redacted>)")
    }
}

impl TokenSource for StaticToken {
    fn bearer_token(&self) -> Result<String, String> {
        if self.token.is_empty() {
            return Err("no bearer token configured".to_owned());
        }
        Ok(self.token.as_str().to_owned())
    }
}

/// A token source that always fails with a message, for hosts without
/// backend credentials (every call needing the backend reports `unauthorized`).
#[derive(Clone, Debug)]
pub struct NoToken {
    message: String,
}

impl NoToken {
    /// A source that fails with `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl TokenSource for NoToken {
    fn bearer_token(&self) -> Result<String, String> {
        Err(self.message.clone())
    }
}

impl<F> TokenSource for F
where
    F: Fn() -> Result<String, String> + Send + Sync + 'static,
{
    fn bearer_token(&self) -> Result<String, String> {
        self()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_token_is_redacted() {
        let token = StaticToken::new("secret-jwt");
        assert_eq!(token.bearer_token().unwrap(), "secret-jwt");
        let debug = format!("{token:?}");
        assert!(!debug.contains("secret"), "{debug}");
        assert!(StaticToken::new("").bearer_token().is_err());
    }

    #[test]
    fn closures_and_no_token() {
        let source: Box<dyn TokenSource> = Box::new(|| Ok::<_, String>("t".to_owned()));
        assert_eq!(source.bearer_token().unwrap(), "t");
        assert_eq!(NoToken::new("none").bearer_token().unwrap_err(), "none");
    }
}
