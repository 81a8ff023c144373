//! An http(s) URL, parsed once by the `url` crate (the WHATWG parser browsers use), split into
//! what a request needs: whom to connect to, what to put in the request line and the Host header,
//! and the credentials of its userinfo as a basic `Authorization` header.
//!
//! Credentials never leave this type except as that header, which is marked sensitive: the URL's
//! `Display` and `Debug` omit them, and a URL that does not parse is quoted in its error with its
//! userinfo masked (`http://admin:s3cr/et@host/` reads `http://***@host/`, never `admin` as a host
//! nor `s3cr` as a port). Nothing here connects; the client does.

use std::fmt;

use base64::Engine;
use http::HeaderValue;

use crate::addr::Address;

/// An `http://` or `https://` URL with a host, credentials split off.
#[derive(Clone, PartialEq, Eq)]
pub struct Url {
    /// Without username and password.
    url: url::Url,
    /// The host to connect to and to name in TLS: IPv6 without brackets.
    host: String,
    credentials: Option<Credentials>,
}

/// The userinfo of a URL, as written (percent-encoded), and the header it stands for.
#[derive(Clone, PartialEq, Eq)]
struct Credentials {
    username: String,
    password: Option<String>,
    authorization: HeaderValue,
}

/// Which schemes a caller accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Schemes {
    HttpOrHttps,
    HttpOnly,
}

impl Url {
    /// Parses an `http://` or `https://` URL.
    ///
    /// ```
    /// use podkit::http::Url;
    /// let url = Url::parse("http://user:p%40ss@[::1]:8080/healthz?full=1").unwrap();
    /// assert_eq!((url.host(), url.port()), ("::1", 8080));
    /// assert_eq!(url.authority(), "[::1]:8080");
    /// assert_eq!(url.path_and_query(), "/healthz?full=1");
    /// assert_eq!(url.to_string(), "http://[::1]:8080/healthz?full=1");
    /// assert!(url.authorization().unwrap().is_sensitive());
    /// ```
    pub fn parse(text: &str) -> Result<Url, UrlError> {
        Url::parse_with(text, Schemes::HttpOrHttps)
    }

    /// Parses an `http://` URL only, for a caller that has no TLS to offer (a webhook on the
    /// pod's loopback).
    pub fn parse_http(text: &str) -> Result<Url, UrlError> {
        Url::parse_with(text, Schemes::HttpOnly)
    }

    fn parse_with(text: &str, schemes: Schemes) -> Result<Url, UrlError> {
        let fail = |problem| UrlError {
            shown: crate::log::redact_userinfo(text),
            problem,
        };
        // `http://admin:8080/s3cret@host/` is host `admin`, port 8080: a password with a `/`
        // (or `?`, `#`) ends the authority there, and the rest of it would be sent to `admin`,
        // its first part looked up in DNS, and logged as a path. URLs here are given by hand
        // for a request, so an `@` after the host is taken for that mistake, before the parser
        // can make a host (or a port error) of the password.
        if has_at_after_authority(text) {
            return Err(fail(UrlProblem::AtAfterHost));
        }
        let url = url::Url::parse(text).map_err(|e| fail(UrlProblem::Parse(e)))?;
        match (url.scheme(), schemes) {
            ("http", _) | ("https", Schemes::HttpOrHttps) => {}
            ("https", Schemes::HttpOnly) => return Err(fail(UrlProblem::NotHttp)),
            _ => return Err(fail(UrlProblem::Scheme)),
        }
        Url::from_parsed(url).map_err(fail)
    }

    /// Splits the credentials off a parsed http(s) URL.
    fn from_parsed(mut url: url::Url) -> Result<Url, UrlProblem> {
        let host = match url.host() {
            Some(url::Host::Domain(name)) if !name.is_empty() => name.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            _ => return Err(UrlProblem::NoHost),
        };
        let credentials = if url.username().is_empty() && url.password().is_none() {
            None
        } else {
            let username = url.username().to_owned();
            let password = url.password().map(str::to_owned);
            // An http(s) URL with a host always takes a username and a password.
            let _ = url.set_username("");
            let _ = url.set_password(None);
            Some(Credentials::new(username, password))
        };
        Ok(Url {
            url,
            host,
            credentials,
        })
    }

    /// Whether the scheme is `https`.
    pub fn is_https(&self) -> bool {
        self.url.scheme() == "https"
    }

    /// The host to connect to and the name TLS expects: a name, or an IP address (IPv6 without
    /// brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port: the URL's, or the scheme's (80, 443).
    pub fn port(&self) -> u16 {
        self.url
            .port_or_known_default()
            .unwrap_or(if self.is_https() { 443 } else { 80 })
    }

    /// Where to connect: the host and port.
    pub fn address(&self) -> Address {
        Address::Tcp {
            host: self.host.clone(),
            port: self.port(),
        }
    }

    /// The Host header's value: `host[:port]`, IPv6 in brackets, the port only when it is not
    /// the scheme's.
    pub fn authority(&self) -> String {
        let host = self.url.host_str().unwrap_or_default();
        match self.url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        }
    }

    /// The request target: the path and, if any, `?` and the query (never the fragment).
    pub fn path_and_query(&self) -> &str {
        &self.url[url::Position::BeforePath..url::Position::AfterQuery]
    }

    /// The `Authorization: Basic ...` value that the URL's credentials stand for, marked
    /// sensitive (hyper and `Debug` do not show it).
    pub fn authorization(&self) -> Option<&HeaderValue> {
        self.credentials.as_ref().map(|c| &c.authorization)
    }

    /// `reference` (a redirect's `Location`) resolved against this URL (RFC 3986 section 5, as
    /// the WHATWG parser does it). A reference without an authority keeps this URL's
    /// credentials, as Go's `ResolveReference` does; one naming a host brings its own or none.
    pub fn join(&self, reference: &str) -> Result<Url, UrlError> {
        let mut base = self.url.clone();
        if let Some(credentials) = &self.credentials {
            let _ = base.set_username(&credentials.username);
            let _ = base.set_password(credentials.password.as_deref());
        }
        let fail = |problem| UrlError {
            shown: crate::log::redact_userinfo(reference),
            problem,
        };
        let url = base
            .join(reference)
            .map_err(|e| fail(UrlProblem::Parse(e)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(fail(UrlProblem::Scheme));
        }
        Url::from_parsed(url).map_err(fail)
    }

    /// Whether `reference` is an absolute URL (it has a scheme), as opposed to a path, a query
    /// or a scheme-relative `//host/...` reference.
    pub fn is_absolute(reference: &str) -> bool {
        url::Url::parse(reference).is_ok()
    }
}

impl Credentials {
    fn new(username: String, password: Option<String>) -> Credentials {
        let mut plain = decode(&username);
        plain.push(b':');
        plain.extend(password.as_deref().map(decode).unwrap_or_default());
        let encoded = base64::engine::general_purpose::STANDARD.encode(plain);
        let mut authorization = HeaderValue::from_str(&format!("Basic {encoded}"))
            .expect("base64 is a valid header value");
        authorization.set_sensitive(true);
        Credentials {
            username,
            password,
            authorization,
        }
    }
}

/// Whether `text`, read as `scheme://authority...`, has an `@` after the authority: where the
/// authority ends at the first `/`, `?`, `#` (or `\\`, which the parser takes for `/`).
fn has_at_after_authority(text: &str) -> bool {
    let Some((_, rest)) = text.split_once("://") else {
        return false;
    };
    let authority_end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
    rest[authority_end..].contains('@')
}

/// `p%40ss` -> `p@ss`: userinfo is percent-encoded in a URL, and sent decoded.
fn decode(text: &str) -> Vec<u8> {
    percent_encoding::percent_decode_str(text).collect()
}

impl fmt::Display for Url {
    /// The URL without its credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.url.as_str())
    }
}

impl fmt::Debug for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("Url");
        debug.field("url", &self.url.as_str());
        if self.credentials.is_some() {
            debug.field("credentials", &"<redacted>");
        }
        debug.finish()
    }
}

/// A URL that was refused: the input, userinfo masked, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlError {
    shown: String,
    problem: UrlProblem,
}

/// What was wrong with a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlProblem {
    /// The parser refused it (a port above 65535, a bad IPv6 literal, a relative URL...).
    Parse(url::ParseError),
    /// Not `http` nor `https`.
    Scheme,
    /// `https` where only `http` is accepted.
    NotHttp,
    /// No host (`http:///path`).
    NoHost,
    /// An `@` after the host: most likely a password holding a `/`, `?` or `#`, which must be
    /// percent-encoded (as must an `@` of the path).
    AtAfterHost,
}

impl UrlError {
    pub fn problem(&self) -> &UrlProblem {
        &self.problem
    }
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid URL {:?}: ", self.shown)?;
        match &self.problem {
            UrlProblem::Parse(e) => e.fmt(f),
            UrlProblem::Scheme => f.write_str("the scheme must be http or https"),
            UrlProblem::NotHttp => f.write_str("only http:// URLs are accepted here"),
            UrlProblem::NoHost => f.write_str("no host"),
            UrlProblem::AtAfterHost => f.write_str(
                // No `@` in this text: a line that quotes input has its userinfo masked, and
                // the mask would take this text for some.
                "an at sign after the host: percent-encode a '/', '?' or '#' of the password \
                 (%2F, %3F, %23), and an at sign of the path (%40)",
            ),
        }
    }
}

impl std::error::Error for UrlError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(plain: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(plain)
        )
    }

    #[test]
    fn urls_split_into_what_a_request_needs() {
        let url = Url::parse("http://[::1]:8080/healthz?full=1#top").unwrap();
        assert_eq!(
            (url.host(), url.port(), url.is_https()),
            ("::1", 8080, false)
        );
        assert_eq!(url.authority(), "[::1]:8080");
        assert_eq!(url.path_and_query(), "/healthz?full=1");
        assert_eq!(
            url.address(),
            Address::Tcp {
                host: "::1".into(),
                port: 8080
            }
        );
        let url = Url::parse("https://Example.COM").unwrap();
        assert_eq!((url.host(), url.port()), ("example.com", 443));
        assert_eq!(
            (url.authority().as_str(), url.path_and_query()),
            ("example.com", "/")
        );
        assert!(url.is_https() && url.authorization().is_none());
        assert_eq!(Url::parse("http://10.0.0.1/").unwrap().port(), 80);
    }

    #[test]
    fn a_port_above_65535_is_refused_not_taken_for_the_default() {
        for text in [
            "http://127.0.0.3:99999/",
            "http://h:65536/",
            "https://[::1]:70000/",
        ] {
            let error = Url::parse(text).unwrap_err();
            assert_eq!(
                error.problem(),
                &UrlProblem::Parse(url::ParseError::InvalidPort)
            );
            assert_eq!(
                error.to_string(),
                format!("invalid URL {text:?}: invalid port number")
            );
        }
        assert_eq!(Url::parse("http://h:65535/").unwrap().port(), 65535);
    }

    #[test]
    fn a_non_ascii_host_is_refused_and_its_punycode_form_taken() {
        // No Unicode back end is linked (see lib/Cargo.toml's idna_adapter).
        assert!(Url::parse("http://bücher.example/").is_err());
        let url = Url::parse("http://xn--bcher-kva.example/").unwrap();
        assert_eq!(url.host(), "xn--bcher-kva.example");
    }

    #[test]
    fn other_schemes_and_hostless_urls_are_refused() {
        assert_eq!(
            Url::parse("ftp://x/").unwrap_err().problem(),
            &UrlProblem::Scheme
        );
        assert_eq!(
            Url::parse("ftp://x/").unwrap_err().to_string(),
            "invalid URL \"ftp://x/\": the scheme must be http or https"
        );
        for bad in ["http://", "/relative", "http://[::1/", "x"] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Url::parse_http("https://x/").unwrap_err().problem(),
            &UrlProblem::NotHttp
        );
        assert!(Url::parse_http("http://x/").is_ok());
    }

    #[test]
    fn a_url_with_an_at_after_the_host_is_refused_without_echoing_the_password() {
        for text in [
            "http://admin:8080/s3cret@127.0.0.1/",
            "http://admin:80?s3cret@127.0.0.1/",
            "http://admin:80#s3cret@127.0.0.1/",
            "http://admin:s3cr/et@host/",
            "https://ghp_s3cret/xyz@127.0.0.1:8443/healthz",
            "http://127.0.0.1/a@b",
        ] {
            // Both a webhook's parse and a probe's: the password's first part is never taken
            // for a host (looked up, shown as a target), nor for a port.
            for error in [Url::parse_http(text), Url::parse(text)]
                .into_iter()
                .filter_map(Result::err)
            {
                assert_eq!(error.problem(), &UrlProblem::AtAfterHost, "{text}");
                let shown = error.to_string();
                assert!(!shown.contains("s3c"), "{shown}");
                // The hint reads as written: the mask of a line that quotes input finds no
                // userinfo in it.
                let masked = crate::log::redact_userinfo(&shown);
                assert!(
                    masked.ends_with("percent-encode a '/', '?' or '#' of the password (%2F, %3F, %23), and an at sign of the path (%40)"),
                    "{masked}"
                );
            }
            assert!(Url::parse(text).is_err(), "{text}");
        }
        let encoded = Url::parse_http("http://admin:8080%2Fs3cret@127.0.0.1/a%40b").unwrap();
        assert_eq!(encoded.to_string(), "http://127.0.0.1/a%40b");
        assert!(encoded.authorization().is_some());
    }

    #[test]
    fn credentials_become_a_sensitive_basic_authorization() {
        let url = Url::parse("http://admin:s%3Acret@127.0.0.1:9090/-/reload").unwrap();
        let authorization = url.authorization().unwrap();
        assert!(authorization.is_sensitive());
        assert_eq!(authorization.to_str().unwrap(), basic("admin:s:cret"));
        assert_eq!(url.host(), "127.0.0.1");
        // Percent-encoded `/` and `@` are decoded; an unencoded `@` in the password is the
        // parser's (the last `@` ends the userinfo).
        let url = Url::parse("http://us%40er:p%2Fw@ss@host/").unwrap();
        assert_eq!(url.authorization().unwrap(), &basic("us@er:p/w@ss"));
        assert_eq!(url.host(), "host");
        // A username alone, or a password alone.
        assert_eq!(
            Url::parse("http://admin@h/")
                .unwrap()
                .authorization()
                .unwrap(),
            &basic("admin:")
        );
        assert_eq!(
            Url::parse("http://:pw@h/")
                .unwrap()
                .authorization()
                .unwrap(),
            &basic(":pw")
        );
    }

    #[test]
    fn credentials_never_show_in_display_or_debug() {
        let url = Url::parse("https://admin:s3cret@db.example:8443/x?y=1").unwrap();
        assert_eq!(url.to_string(), "https://db.example:8443/x?y=1");
        let debug = format!("{url:?}");
        assert!(
            !debug.contains("s3cret") && !debug.contains("admin"),
            "{debug}"
        );
        assert!(!debug.contains(&basic("admin:s3cret")[6..]), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
    }

    #[test]
    fn a_parse_error_never_echoes_the_userinfo() {
        // The `/` ends the authority: a naive split would take `admin` for the host and `s3cr`
        // for a port.
        let error = Url::parse("http://admin:s3cr/et@host/").unwrap_err();
        assert_eq!(error.problem(), &UrlProblem::AtAfterHost);
        let shown = error.to_string();
        assert!(
            !shown.contains("s3cr") && !shown.contains("admin"),
            "{shown}"
        );
        assert!(
            shown.starts_with("invalid URL \"http://***@host/\""),
            "{shown}"
        );
        let debug = format!("{error:?}");
        assert!(!debug.contains("s3cr"), "{debug}");
        for text in [
            "http://u:p?ss@host:99999/",
            "http://u:p#ss@host:99999/",
            "http:u:pass@host:99999",
            "ftp://u:pass@host/",
        ] {
            let shown = Url::parse(text).unwrap_err().to_string();
            // (The hint's own "password" aside.)
            assert!(
                !shown.contains("u:p") && !shown.contains(":pass") && !shown.contains("ss@"),
                "{shown}"
            );
        }
        assert_eq!(crate::log::redact_userinfo("no at sign"), "no at sign");
        assert_eq!(crate::log::redact_userinfo("u:secret@h"), "***@h");
        assert_eq!(
            crate::log::redact_userinfo("HTTPS:u:secret@h"),
            "HTTPS:***@h"
        );
        assert_eq!(
            crate::log::redact_userinfo("git+ssh://u:secret@h/"),
            "git+ssh://***@h/"
        );
    }

    #[test]
    fn redirect_locations_resolve_as_rfc_3986_says() {
        let base = Url::parse("http://a/b/c/d;p?q").unwrap();
        let resolve = |reference: &str| {
            let url = base.join(reference).unwrap();
            format!("{}{}", url.authority(), url.path_and_query())
        };
        // The normal examples of RFC 3986 section 5.4.1, those with http URLs.
        for (reference, expected) in [
            ("g", "a/b/c/g"),
            ("./g", "a/b/c/g"),
            ("g/", "a/b/c/g/"),
            ("/g", "a/g"),
            ("//g", "g/"),
            ("?y", "a/b/c/d;p?y"),
            ("g?y", "a/b/c/g?y"),
            ("#s", "a/b/c/d;p?q"),
            ("g#s", "a/b/c/g"),
            ("g?y#s", "a/b/c/g?y"),
            (";x", "a/b/c/;x"),
            ("g;x", "a/b/c/g;x"),
            ("g;x?y#s", "a/b/c/g;x?y"),
            ("", "a/b/c/d;p?q"),
            (".", "a/b/c/"),
            ("./", "a/b/c/"),
            ("..", "a/b/"),
            ("../", "a/b/"),
            ("../g", "a/b/g"),
            ("../..", "a/"),
            ("../../", "a/"),
            ("../../g", "a/g"),
            // The abnormal examples of section 5.4.2 that http URLs can meet.
            ("../../../g", "a/g"),
            ("../../../../g", "a/g"),
            ("/./g", "a/g"),
            ("/../g", "a/g"),
            ("g.", "a/b/c/g."),
            (".g", "a/b/c/.g"),
            ("g..", "a/b/c/g.."),
            ("..g", "a/b/c/..g"),
            ("./../g", "a/b/g"),
            ("./g/.", "a/b/c/g/"),
            ("g/./h", "a/b/c/g/h"),
            ("g/../h", "a/b/c/h"),
            ("g;x=1/./y", "a/b/c/g;x=1/y"),
            ("g;x=1/../y", "a/b/c/y"),
            ("g?y/./x", "a/b/c/g?y/./x"),
            ("g?y/../x", "a/b/c/g?y/../x"),
        ] {
            assert_eq!(resolve(reference), expected, "{reference:?}");
        }
    }

    #[test]
    fn redirect_locations_resolve_against_the_current_url() {
        let base = Url::parse("http://a:81/x/y?q").unwrap();
        assert_eq!(base.join("/z").unwrap().path_and_query(), "/z");
        assert_eq!(base.join("z").unwrap().path_and_query(), "/x/z");
        assert_eq!(base.join("z").unwrap().port(), 81);
        let other = base.join("https://b/").unwrap();
        assert_eq!((other.host(), other.is_https()), ("b", true));
        assert!(base.join("ftp://b/").is_err());
        assert!(base.join("http://b:99999/").is_err());
    }

    #[test]
    fn a_relative_redirect_keeps_the_credentials_and_another_host_does_not() {
        let base = Url::parse("http://u:pw@a/x").unwrap();
        assert_eq!(
            base.join("/y").unwrap().authorization(),
            base.authorization()
        );
        assert_eq!(base.join("//b/").unwrap().authorization(), None);
        assert_eq!(base.join("http://a/y").unwrap().authorization(), None);
    }

    #[test]
    fn absolute_references_have_a_scheme() {
        assert!(Url::is_absolute("http://a/"));
        assert!(Url::is_absolute("https://a"));
        for relative in ["/a", "a", "//a/b", "?q", "", "#f"] {
            assert!(!Url::is_absolute(relative), "{relative}");
        }
    }
}
