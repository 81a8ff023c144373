//! What `podkit-probe wait` waits for: a target URL, parsed once into the check it stands for.
//!
//! `tcp://host:port` (a TLS handshake too with `--tls`), `http://...`, `https://...`,
//! `grpc://host:port[/service]` (the health service says SERVING; TLS with `--tls`),
//! `unix:///path` (a connection to the socket), `file:///path` (the file exists). IPv6 literals in
//! brackets work everywhere: `tcp://[::1]:5432`.

use std::path::PathBuf;
use std::sync::Arc;

use podkit::tls::rustls::ClientConfig;

use crate::cli::TlsArgs;
use podkit::addr::Address;

use crate::connect::connect;
use crate::grpc::{GrpcCheck, GrpcTls};
use crate::http::HttpCheck;
use crate::outcome::Finding;

pub enum Target {
    Tcp {
        endpoint: Address,
        tls: Option<Arc<ClientConfig>>,
        server_name: String,
    },
    Unix(PathBuf),
    Http(Box<HttpCheck>),
    Grpc(Box<GrpcCheck>),
    File(PathBuf),
}

impl Target {
    /// Parses `text`; errors name the target and what is wrong (a configuration error, exit 2).
    pub fn parse(text: &str, tls: &TlsArgs) -> Result<Target, String> {
        let fail = |why: &str| format!("target {text:?}: {why}");
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| fail("expected SCHEME://..., e.g. tcp://db:5432"))?;
        match scheme {
            "tcp" => {
                let endpoint = Address::parse_host_port(rest.trim_end_matches('/'))
                    .map_err(|e| fail(&e.to_string()))?;
                let Address::Tcp { host, .. } = &endpoint else {
                    unreachable!("parse_host_port gives TCP")
                };
                let server_name = tls.server_name.clone().unwrap_or_else(|| host.clone());
                if tls.tls {
                    crate::connect::server_name(&server_name).map_err(|e| fail(&e))?;
                }
                let tls = if tls.tls {
                    Some(Arc::new(
                        tls.client(false)
                            .config(&[])
                            .map_err(|e| fail(&crate::cli::describe_tls_error(&e)))?,
                    ))
                } else {
                    None
                };
                Ok(Target::Tcp {
                    endpoint,
                    tls,
                    server_name,
                })
            }
            "http" | "https" => {
                let check = HttpCheck::defaults(text, tls.client(false), tls.server_name.clone())
                    .map_err(|e| fail(&e))?;
                Ok(Target::Http(Box::new(check)))
            }
            "grpc" => {
                let (address, service) = rest.split_once('/').unwrap_or((rest, ""));
                let endpoint =
                    Address::parse_host_port(address).map_err(|e| fail(&e.to_string()))?;
                let tls = tls.tls.then(|| GrpcTls {
                    client: tls.client(false),
                    server_name: tls.server_name.clone(),
                });
                let check =
                    GrpcCheck::new(endpoint, service.to_owned(), tls).map_err(|e| fail(&e))?;
                Ok(Target::Grpc(Box::new(check)))
            }
            "unix" if rest.starts_with('/') => Ok(Target::Unix(PathBuf::from(rest))),
            "file" if rest.starts_with('/') => Ok(Target::File(PathBuf::from(rest))),
            "unix" | "file" => Err(fail(
                "expected an absolute path: unix:///run/app.sock, file:///tmp/ready",
            )),
            _ => Err(fail("unknown scheme (tcp, http, https, grpc, unix, file)")),
        }
    }

    /// One attempt; the caller bounds it with a timeout.
    pub async fn attempt(&self) -> Finding {
        let reached = |result: Result<_, crate::connect::ConnectError>| match result {
            Ok(_) => Finding::healthy(None),
            Err(e) => Finding::unreachable(e.0),
        };
        match self {
            Target::Tcp {
                endpoint,
                tls,
                server_name,
            } => {
                let tls = tls.clone().map(|config| (config, server_name.as_str()));
                reached(connect(endpoint, tls).await)
            }
            Target::Unix(path) => reached(connect(&Address::Unix(path.clone()), None).await),
            Target::Http(check) => check.run().await,
            Target::Grpc(check) => check.run().await,
            Target::File(path) => crate::file::check(path, None),
        }
    }

    /// Whether this target makes a TLS connection, and so uses the TLS flags.
    pub fn uses_tls(&self) -> bool {
        match self {
            Target::Tcp { tls, .. } => tls.is_some(),
            Target::Http(check) => check.url.https,
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
        Target::parse(text, &Flags::parse_from(["x"]).tls)
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
