//! Keeping URL userinfo (`user:password@`) out of error messages and logs.

use std::borrow::Cow;

/// Placeholder written instead of userinfo.
const REDACTED: &str = "<redacted>";

/// `raw` (one URL, or something meant to be one) with any userinfo replaced by
/// `<redacted>`, for error messages.
///
/// A URL that parses is printed without its username and password. Text that
/// does not parse is redacted conservatively: everything between the scheme
/// separator (or the start) and the last `@` is replaced, because we cannot
/// tell where an unparseable authority ends (a password may hold `/`).
pub(crate) fn redact_userinfo(raw: &str) -> Cow<'_, str> {
    if !raw.contains('@') {
        return Cow::Borrowed(raw);
    }
    if let Ok(mut url) = url::Url::parse(raw) {
        if url.username().is_empty() && url.password().is_none() && !url.cannot_be_a_base() {
            // An `@` in the path, query or fragment of a URL with an
            // authority is not userinfo.
            return Cow::Borrowed(raw);
        }
        let cleared = url.set_password(None).is_ok() && url.set_username("").is_ok();
        if cleared && url.username().is_empty() && url.password().is_none() {
            // Show that something was there without showing it.
            if let Some(rest) = url.as_str().split_once("://") {
                return Cow::Owned(format!("{}://{REDACTED}@{}", rest.0, rest.1));
            }
        }
    }
    let (prefix, rest) = match raw.find("://") {
        Some(i) => raw.split_at(i + 3),
        None => ("", raw),
    };
    match rest.rfind('@') {
        Some(at) => Cow::Owned(format!("{prefix}{REDACTED}{}", &rest[at..])),
        None => Cow::Borrowed(raw),
    }
}

/// Characters that end a URL inside free text.
fn ends_url(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '`' | '\'' | '"' | '<' | '>' | '(' | ')' | '{' | '}' | ','
        )
}

/// `text` with the userinfo of every `scheme://...` URL in it redacted (see
/// [`redact_userinfo`]); text without `@` is returned as is.
pub fn redact_urls_in(text: &str) -> Cow<'_, str> {
    if !text.contains('@') || !text.contains("://") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(sep) = rest.find("://") {
        // The URL starts at its scheme: letters, digits, `+`, `-`, `.`.
        let start = rest[..sep]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |i| {
                i + rest[i..].chars().next().map_or(1, char::len_utf8)
            });
        let end = rest[sep + 3..]
            .find(ends_url)
            .map_or(rest.len(), |i| sep + 3 + i);
        out.push_str(&rest[..start]);
        out.push_str(&redact_userinfo(&rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_redacted_from_single_urls() {
        for (raw, want) in [
            (
                "https://user:hunter2@api.example.com/v1",
                "https://<redacted>@api.example.com/v1",
            ),
            ("https://:hunter2@h/", "https://<redacted>@h/"),
            ("https://hunter2@h:8080", "https://<redacted>@h:8080/"),
            // Unparseable (a `/` in the password, bad port): conservative.
            ("https://u:hun/ter2@h/x", "https://<redacted>@h/x"),
            ("http://u:hunter2@h:99999/", "http://<redacted>@h:99999/"),
            ("u:hunter2@h:443", "<redacted>@h:443"),
            ("mailto:u:hunter2@h", "<redacted>@h"),
            // No userinfo: unchanged.
            ("https://h/a@b", "https://h/a@b"),
            ("https://api.example.com/v1", "https://api.example.com/v1"),
            ("not a url", "not a url"),
        ] {
            assert_eq!(redact_userinfo(raw), want, "{raw}");
        }
    }

    #[test]
    fn urls_inside_text_are_redacted() {
        let text = "request to `https://alice:hunter2@rpc.example/x` failed; \
                    retry http://bob:s3cret@h:1 (or https://h/a@b) then ftp://x";
        let got = redact_urls_in(text);
        assert!(!got.contains("hunter2"), "{got}");
        assert!(!got.contains("s3cret"), "{got}");
        assert!(!got.contains("alice"), "{got}");
        assert!(got.contains("`https://<redacted>@rpc.example/x`"), "{got}");
        assert!(got.contains("http://<redacted>@h:1/"), "{got}");
        assert!(got.contains("https://h/a@b"), "{got}");
        assert!(got.ends_with("then ftp://x"), "{got}");
        assert_eq!(redact_urls_in("no urls @ all"), "no urls @ all");
        assert_eq!(redact_urls_in("é https://u:p@h"), "é https://<redacted>@h/");
        assert_eq!(redact_urls_in("://u:p@h"), "://<redacted>@h");
    }
}
