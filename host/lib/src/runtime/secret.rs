//! [`SecretString`]: a string that is zeroized on drop and never printed.

use zeroize::{Zeroize as _, Zeroizing};

/// A secret (an encrypt key / PIN, a bearer token) held by the host.
///
/// The bytes are zeroized when the value is dropped; `Debug` prints
/// `<redacted>`; there is no `Display`, `Serialize` or `PartialEq`, so a
/// secret cannot end up in a log line, an error message or a JSON document by
/// accident. Read it with [`expose`](SecretString::expose) where it is
/// actually needed.
#[derive(Clone, Default)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    /// Wrap a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(Zeroizing::new(secret.into()))
    }

    /// The secret itself. Do not keep copies longer than needed (and zeroize
    /// the ones you make).
    pub fn expose(&self) -> &str {
        self.0.as_str()
    }

    /// True when the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for SecretString {
    fn from(secret: String) -> Self {
        Self(Zeroizing::new(secret))
    }
}

impl From<&str> for SecretString {
    fn from(secret: &str) -> Self {
        Self::new(secret)
    }
}

impl From<&String> for SecretString {
    fn from(secret: &String) -> Self {
        Self::new(secret.as_str())
    }
}

impl From<Zeroizing<String>> for SecretString {
    fn from(secret: Zeroizing<String>) -> Self {
        Self(secret)
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// `clap` value parser for secret options (`--encrypt-key`, `--bearer-token`):
/// never fails, so clap never echoes the value in an error.
pub fn parse_secret(value: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::new(value))
}

/// Zeroize a `String` in place (helper for temporary copies).
pub(crate) fn wipe(text: &mut String) {
    text.zeroize();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted_and_expose_gives_the_secret() {
        let secret = SecretString::new("hunter2-pin");
        assert_eq!(format!("{secret:?}"), "<redacted>");
        assert_eq!(format!("{secret:#?}"), "<redacted>");
        assert_eq!(secret.expose(), "hunter2-pin");
        assert!(!secret.is_empty());
        assert!(SecretString::default().is_empty());
        let from_string: SecretString = String::from("a").into();
        let from_str: SecretString = "a".into();
        assert_eq!(from_string.expose(), from_str.expose());
        assert_eq!(
            parse_secret("x").map(|s| s.expose().to_owned()),
            Ok("x".into())
        );
    }

    #[test]
    fn wipe_clears() {
        let mut text = String::from("secret");
        wipe(&mut text);
        assert!(text.is_empty());
    }
}
