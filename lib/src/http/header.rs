//! A request header given as `Name: value` (a flag, a line of a variable), parsed once into the
//! typed name and value a request takes.
//!
//! The value may be a secret (`Authorization: Bearer ...`), so no error quotes it.

use std::fmt;

use http::{HeaderName, HeaderValue};

/// One request header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: HeaderName,
    pub value: HeaderValue,
}

impl Header {
    /// Parses `Name: value`. Blanks around the name and the value go; the value may be empty.
    /// A CR or LF anywhere is refused: one argument is one header, never a smuggled second one.
    ///
    /// ```
    /// use podkit::http::Header;
    /// let header = Header::parse("X-Probe: kube").unwrap();
    /// assert_eq!((header.name.as_str(), header.value.to_str().unwrap()), ("x-probe", "kube"));
    /// assert!(Header::parse("X-A: 1\nX-B: 2").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Header, HeaderError> {
        let (name, value) = text.split_once(':').ok_or(HeaderError::NoColon)?;
        let blanks: &[char] = &[' ', '\t'];
        let name = name.trim_matches(blanks);
        if text.contains(['\r', '\n']) {
            return Err(HeaderError::LineBreak {
                name: printable(name),
            });
        }
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| HeaderError::Name {
            name: printable(name),
        })?;
        let mut value = HeaderValue::from_str(value.trim_matches(blanks))
            .map_err(|_| HeaderError::Value { name: name.clone() })?;
        value.set_sensitive(is_secret(&name));
        Ok(Header { name, value })
    }
}

/// Whether a header's value is a credential, which `Debug` (and hyper) must not show.
pub(crate) fn is_secret(name: &HeaderName) -> bool {
    use http::header::{AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION};
    [AUTHORIZATION, PROXY_AUTHORIZATION, COOKIE].contains(name)
}

/// A name as an error may quote it: at most 64 characters, escaped by `Debug`.
fn printable(name: &str) -> String {
    name.chars().take(64).collect()
}

/// Why a header was refused; never quotes the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    NoColon,
    Name { name: String },
    Value { name: HeaderName },
    LineBreak { name: String },
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderError::NoColon => f.write_str("expected 'Name: value' (no colon)"),
            HeaderError::Name { name } => write!(f, "invalid header name {name:?}"),
            HeaderError::Value { name } => write!(f, "invalid value for header {name}"),
            HeaderError::LineBreak { name } => {
                write!(
                    f,
                    "header {name:?}: a line break in a header (one header per value)"
                )
            }
        }
    }
}

impl std::error::Error for HeaderError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_and_value_lose_their_blanks() {
        let header = Header::parse("  Accept :\t */* ").unwrap();
        assert_eq!(header.name, http::header::ACCEPT);
        assert_eq!(header.value, "*/*");
        let header = Header::parse("User-Agent:").unwrap();
        assert_eq!(header.value, "");
        let header = Header::parse("X-Time: 12:30").unwrap();
        assert_eq!(header.value, "12:30");
    }

    #[test]
    fn line_breaks_are_refused_not_split_into_two_headers() {
        for bad in [
            "X-A: 1\nX-B: 2",
            "X-A: 1\r\nX-B: 2",
            "X-A: 1\n",
            "X-A\n: 1",
            "X-A: 1\r",
        ] {
            assert!(
                matches!(Header::parse(bad), Err(HeaderError::LineBreak { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn bad_names_and_values_are_refused_without_quoting_the_value() {
        assert_eq!(Header::parse("no colon"), Err(HeaderError::NoColon));
        assert_eq!(
            Header::parse("Bad Name: x").unwrap_err().to_string(),
            "invalid header name \"Bad Name\""
        );
        assert!(matches!(
            Header::parse(": x"),
            Err(HeaderError::Name { .. })
        ));
        let error = Header::parse("Authorization: Bearer s3cret\u{7f}").unwrap_err();
        assert_eq!(error.to_string(), "invalid value for header authorization");
        let header = Header::parse("Authorization: Bearer s3cret").unwrap();
        assert!(header.value.is_sensitive());
        assert!(!format!("{header:?}").contains("s3cret"), "{header:?}");
        assert!(!Header::parse("Accept: x").unwrap().value.is_sensitive());
        let error = Header::parse("Authorization: Bearer s3cret\n").unwrap_err();
        assert!(!error.to_string().contains("s3cret"), "{error}");
        assert!(!Header::parse("Authorization Bearer s3cret")
            .unwrap_err()
            .to_string()
            .contains("s3cret"));
    }
}
