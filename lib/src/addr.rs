//! Addresses as flags give them, typed once at the edge: `HOST:PORT`, `[IPv6]:PORT`, `unix:PATH`.
//!
//! Names stay names: a Service name is resolved when a connection is made, not when the flag is
//! read, because the address behind it changes.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// Where to connect or listen.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Address {
    /// A host name or IP literal (without brackets) and a port other than 0.
    Tcp {
        host: String,
        port: u16,
    },
    Unix(PathBuf),
}

/// An address that could not be read; one line quoting it and saying what is expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressError {
    input: String,
    expected: &'static str,
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // An address with a user and password in it is a URL given by mistake: never echo those.
        let input = crate::log::redact_userinfo(&self.input);
        write!(f, "expected {}, got {input:?}", self.expected)
    }
}

impl std::error::Error for AddressError {}

const ANY: &str = "HOST:PORT, [IPv6]:PORT or unix:PATH";
const TCP: &str = "HOST:PORT or [IPv6]:PORT";

impl Address {
    /// `HOST:PORT`, `[IPv6]:PORT` or `unix:PATH`.
    ///
    /// ```
    /// use podkit::addr::Address;
    /// assert_eq!(Address::parse("[::1]:8443").unwrap().to_string(), "[::1]:8443");
    /// assert_eq!(Address::parse("unix:/run/app.sock").unwrap(), Address::Unix("/run/app.sock".into()));
    /// ```
    pub fn parse(text: &str) -> Result<Address, AddressError> {
        match text.strip_prefix("unix:") {
            Some("") => Err(AddressError {
                input: text.to_owned(),
                expected: ANY,
            }),
            Some(path) => Ok(Address::Unix(PathBuf::from(path))),
            None => host_port(text, ANY, Port::NonZero),
        }
    }

    /// `HOST:PORT` or `[IPv6]:PORT` only, for what needs a TCP peer.
    pub fn parse_host_port(text: &str) -> Result<Address, AddressError> {
        host_port(text, TCP, Port::NonZero)
    }

    /// An address to listen on: as [`parse`](Address::parse), and port 0 asks the kernel for a
    /// free port (the tool logs the one it got).
    pub fn parse_listen(text: &str) -> Result<Address, AddressError> {
        match text.strip_prefix("unix:") {
            Some(_) => Address::parse(text),
            None => host_port(text, ANY, Port::AnyIncludingZero),
        }
    }
}

/// Whether port 0 is a valid port: only to listen on, where it means "any free one".
#[derive(Clone, Copy, PartialEq, Eq)]
enum Port {
    NonZero,
    AnyIncludingZero,
}

fn host_port(text: &str, expected: &'static str, ports: Port) -> Result<Address, AddressError> {
    let bad = || AddressError {
        input: text.to_owned(),
        expected,
    };
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, port) = rest.split_once("]:").ok_or_else(bad)?;
        host.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?;
        (host, port)
    } else {
        let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
        if host.is_empty() || host.contains(':') {
            return Err(bad());
        }
        (host, port)
    };
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|p| *p != 0 || ports == Port::AnyIncludingZero)
        .ok_or_else(bad)?;
    Ok(Address::Tcp {
        host: host.to_owned(),
        port,
    })
}

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(text: &str) -> Result<Address, AddressError> {
        Address::parse(text)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Address::Tcp { host, port } => write!(f, "{host}:{port}"),
            Address::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(host: &str, port: u16) -> Address {
        Address::Tcp {
            host: host.to_owned(),
            port,
        }
    }

    #[test]
    fn names_ipv4_bracketed_ipv6_and_unix_paths() {
        assert_eq!(Address::parse("db:5432"), Ok(tcp("db", 5432)));
        assert_eq!(Address::parse("10.0.0.1:80"), Ok(tcp("10.0.0.1", 80)));
        assert_eq!(Address::parse("[::1]:8080"), Ok(tcp("::1", 8080)));
        assert_eq!(
            Address::parse("unix:/run/app.sock"),
            Ok(Address::Unix("/run/app.sock".into()))
        );
        assert_eq!(
            Address::parse("unix:relative.sock"),
            Ok(Address::Unix("relative.sock".into()))
        );
    }

    #[test]
    fn only_a_listen_address_may_ask_for_port_zero() {
        assert_eq!(
            Address::parse_listen("127.0.0.1:0"),
            Ok(tcp("127.0.0.1", 0))
        );
        assert_eq!(
            Address::parse_listen("unix:/run/a.sock"),
            Ok(Address::Unix("/run/a.sock".into()))
        );
        assert!(Address::parse("127.0.0.1:0").is_err());
    }

    #[test]
    fn display_gives_back_what_parses() {
        for text in ["db:5432", "[::1]:8080", "unix:/run/app.sock"] {
            assert_eq!(Address::parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn bad_addresses_quote_themselves() {
        for bad in [
            "db", "db:", ":80", "db:0", "db:99999", "::1:80", "[::1]", "[db]:80", "unix:",
        ] {
            let error = Address::parse(bad).unwrap_err().to_string();
            assert!(error.contains(&format!("{bad:?}")), "{error}");
        }
        assert!(Address::parse_listen("db:99999").is_err());
        assert!(Address::parse_host_port("unix:/run/app.sock")
            .unwrap_err()
            .to_string()
            .starts_with("expected HOST:PORT or [IPv6]:PORT"));
    }
}
