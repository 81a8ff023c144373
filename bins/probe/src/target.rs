//! What `podkit-probe wait` waits for: a target URL, parsed once into the check it stands for.
//!
//! `tcp://host:port` (a TLS handshake too with `--tls`), `http://...`, `https://...`,
//! `grpc://host:port[/service]` (the health service says SERVING; TLS with `--tls`),
//! `unix:///path` (a connection to the socket), `file:///path` (the file exists). IPv6 literals in
//! brackets work everywhere: `tcp://[::1]:5432`.

use std::fmt::Display;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use podkit::addr::Address;
use podkit::cli::UsageError;
use podkit::connect::TlsTarget;
use tokio::time::Instant;

use crate::cli::TlsArgs;
use crate::connect::connect;
use crate::grpc::{GrpcCheck, GrpcTls};
use crate::http::HttpCheck;
use crate::outcome::{Finding, TimedOut};

pub enum Target {
    Tcp {
        endpoint: Address,
        tls: Option<TlsTarget>,
    },
    Unix(PathBuf),
    Http(Box<HttpCheck>),
    Grpc(Box<GrpcCheck>),
    File(PathBuf),
}

/// A target as output lines and errors name it: as given, but a URL's credentials masked.
pub fn shown(text: &str) -> String {
    podkit::log::redact_userinfo(text)
}

impl Target {
    /// Parses `text`; errors name the target and what is wrong (a configuration error, exit 2).
    pub fn parse(text: &str, tls: &TlsArgs) -> Result<Target, UsageError> {
        let fail = |why: &dyn Display| {
            UsageError::flag(format!("target {:?}", shown(text)), why.to_string())
        };
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| fail(&"expected SCHEME://..., e.g. tcp://db:5432"))?;
        match scheme {
            "tcp" => {
                let endpoint =
                    Address::parse_host_port(rest.trim_end_matches('/')).map_err(|e| fail(&e))?;
                let tls = if tls.tls {
                    let Address::Tcp { host, .. } = &endpoint else {
                        unreachable!("parse_host_port gives TCP")
                    };
                    let name = tls.server_name.as_deref().unwrap_or(host);
                    let config = tls
                        .client(false)
                        .config(&[])
                        .map_err(|e| fail(&e.blamed_line()))?;
                    Some(TlsTarget::new(Arc::new(config), name).map_err(|e| fail(&e))?)
                } else {
                    None
                };
                Ok(Target::Tcp { endpoint, tls })
            }
            "http" | "https" => {
                let check = HttpCheck::defaults(text, tls.client(false), tls.server_name.clone())
                    .map_err(|e| fail(&e))?;
                Ok(Target::Http(Box::new(check)))
            }
            "grpc" => {
                let (address, service) = rest.split_once('/').unwrap_or((rest, ""));
                let endpoint = Address::parse_host_port(address).map_err(|e| fail(&e))?;
                let tls = tls.tls.then(|| GrpcTls {
                    client: tls.client(false),
                    server_name: tls.server_name.clone(),
                });
                let check = GrpcCheck::new(endpoint, service.to_owned(), tls, Default::default())
                    .map_err(|e| fail(&e))?;
                Ok(Target::Grpc(Box::new(check)))
            }
            "unix" if rest.starts_with('/') => Ok(Target::Unix(PathBuf::from(rest))),
            "file" if rest.starts_with('/') => Ok(Target::File(PathBuf::from(rest))),
            "unix" | "file" => Err(fail(
                &"expected an absolute path: unix:///run/app.sock, file:///tmp/ready",
            )),
            _ => Err(fail(&"unknown scheme (tcp, http, https, grpc, unix, file)")),
        }
    }

    /// One attempt, within `timeout`: connecting, TLS, the request and the answer all count.
    pub async fn attempt(&self, timeout: Duration) -> Result<Finding, TimedOut> {
        let deadline = Instant::now() + timeout;
        tokio::time::timeout_at(deadline, self.attempt_by(deadline))
            .await
            .unwrap_or(Err(TimedOut))
    }

    async fn attempt_by(&self, deadline: Instant) -> Result<Finding, TimedOut> {
        let reached = |connected: Result<_, Finding>| match connected {
            Ok(_) => Finding::healthy(None),
            Err(finding) => finding,
        };
        match self {
            Target::Tcp { endpoint, tls } => {
                Ok(reached(connect(endpoint, deadline, tls.as_ref()).await?))
            }
            Target::Unix(path) => {
                let endpoint = Address::Unix(path.clone());
                Ok(reached(connect(&endpoint, deadline, None).await?))
            }
            Target::Http(check) => check.run(deadline).await,
            Target::Grpc(check) => check.run(deadline).await,
            Target::File(path) => Ok(crate::file::check(path, None)),
        }
    }

    /// Whether this target makes a TLS connection, and so uses the TLS flags.
    pub fn uses_tls(&self) -> bool {
        match self {
            Target::Tcp { tls, .. } => tls.is_some(),
            Target::Http(check) => check.url.is_https(),
            Target::Grpc(check) => check.uses_tls(),
            Target::Unix(_) | Target::File(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(text: &str) -> Result<Target, String> {
        #[derive(Parser)]
        struct Flags {
            #[command(flatten)]
            tls: TlsArgs,
        }
        Target::parse(text, &Flags::parse_from(["x"]).tls).map_err(|e| e.to_string())
    }

    #[test]
    fn every_scheme_parses_ipv6_included() {
        assert!(matches!(parse("tcp://db:5432"), Ok(Target::Tcp { .. })));
        assert!(matches!(parse("tcp://[::1]:5432"), Ok(Target::Tcp { .. })));
        assert!(matches!(
            parse("http://[::1]:8080/healthz"),
            Ok(Target::Http(_))
        ));
        assert!(matches!(
            parse("grpc://[::1]:50051/db"),
            Ok(Target::Grpc(_))
        ));
        assert!(
            matches!(parse("unix:///run/app.sock"), Ok(Target::Unix(p)) if p.as_os_str() == "/run/app.sock")
        );
        assert!(
            matches!(parse("file:///tmp/ready"), Ok(Target::File(p)) if p.as_os_str() == "/tmp/ready")
        );
    }

    #[test]
    fn bad_targets_name_themselves() {
        for bad in [
            "db:5432",
            "tcp://db",
            "ftp://x",
            "unix://relative",
            "http://",
        ] {
            let error = parse(bad).err().unwrap_or_else(|| panic!("{bad} parsed"));
            assert!(error.contains(&format!("{bad:?}")), "{error}");
        }
    }
}
