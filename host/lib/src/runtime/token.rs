//! Bearer-token sources backing the `chipi:session/credentials` import.

use super::secret::SecretString;

/// Supplies the bearer token the component sends to the Chipi backend (the
/// hook's `getBearerToken`). Called once per token the component needs, on a
/// blocking-capable thread, so implementations may refresh synchronously.
pub trait TokenSource: Send + Sync + 'static {
    /// A current bearer token, or an error message (no secrets in it) that the
    /// component reports as `unauthorized`.
    fn bearer_token(&self) -> Result<String, String>;
}

/// A fixed bearer token, held as a [`SecretString`]: zeroized on drop, shown
/// by `Debug` as `StaticToken(<redacted>)`, not serializable.
///
/// The copy handed to the component (the `String` the credentials import
/// returns) is lowered into the guest's memory by wasmtime and released with
/// the per-call store; the host cannot zeroize wasmtime's transient copy.
#[derive(Clone)]
pub struct StaticToken {
    token: SecretString,
}

impl StaticToken {
    /// Wrap a token (a `String`, `&str` or [`SecretString`]).
    pub fn new(token: impl Into<SecretString>) -> Self {
        Self {
            token: token.into(),
        }
    }
}

impl std::fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StaticToken({:?})", self.token)
    }
}

impl TokenSource for StaticToken {
    fn bearer_token(&self) -> Result<String, String> {
        if self.token.is_empty() {
            return Err("no bearer token configured".to_owned());
        }
        Ok(self.token.expose().to_owned())
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
        for debug in [format!("{token:?}"), format!("{token:#?}")] {
            assert!(!debug.contains("secret"), "{debug}");
            assert_eq!(debug, "StaticToken(<redacted>)");
        }
        let from_secret = StaticToken::new(SecretString::new(String::from("jwt-2")));
        assert_eq!(from_secret.bearer_token().unwrap(), "jwt-2");
        assert!(!format!("{from_secret:?}").contains("jwt-2"));
        assert!(StaticToken::new("").bearer_token().is_err());
        // An error names no token.
        let err = StaticToken::new("").bearer_token().unwrap_err();
        assert!(!err.contains("jwt"), "{err}");
    }

    #[test]
    fn closures_and_no_token() {
        let source: Box<dyn TokenSource> = Box::new(|| Ok::<_, String>("t".to_owned()));
        assert_eq!(source.bearer_token().unwrap(), "t");
        assert_eq!(NoToken::new("none").bearer_token().unwrap_err(), "none");
    }
}
