//! Flags and environment into a typed [`Config`], once, at the edge (clap derive; each flag has
//! its `PODKIT_*` variable, shown by `--help`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use podkit::addr::Address;
use podkit::cli::{parse, Blame, LogArgs, UsageError};
use podkit::tls::rustls_pki_types::ServerName;
use podkit::tls::{AllowRules, ClientTls, ServerTls, VerifyRules};

use crate::config::{ClientMode, Config, Limits, Mode, ProxyProtocol, ServerMode};

pub const EXIT_CODES: &str = "\
Exit status:
  0  stopped on SIGTERM or SIGINT (after draining open connections)
  1  an internal failure at start (the runtime, signal handling)
  2  usage or configuration error (a flag, an address, a certificate, a key)

Repeatable flags take one value per line when they come from their PODKIT_* variable.";

#[derive(Debug, Parser)]
#[command(name = "podkit-ambassador", version, propagate_version = true, about, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub mode: ModeCommand,

    #[command(flatten)]
    pub log: LogArgs,
}

#[derive(Debug, Subcommand)]
pub enum ModeCommand {
    /// Ambassador: plain TCP in from the app, TLS or mTLS out to the target
    Client(ClientArgs),
    /// Terminator: TLS or mTLS in, plain TCP out to the app
    Server(ServerArgs),
}

#[derive(Debug, Args)]
pub struct ClientArgs {
    #[command(flatten)]
    pub proxy: ProxyArgs,

    /// Trust only the CAs in this PEM file (default: the system bundle, SSL_CERT_FILE)
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,

    /// Present this certificate chain to the target (mTLS); needs --key
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,

    /// The private key of --cert
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,

    /// Name to send as SNI and to verify the target's certificate against (default: the host of
    /// --target)
    #[arg(long, value_name = "NAME")]
    pub server_name: Option<String>,

    /// Also require this DNS SAN in the target's certificate (repeatable; any one suffices)
    #[arg(long = "verify-dns", value_name = "NAME", value_delimiter = '\n')]
    pub verify_dns: Vec<String>,

    /// Also require a URI SAN matching this pattern, e.g. a SPIFFE ID with * or ** (repeatable)
    #[arg(long = "verify-uri", value_name = "URI", value_delimiter = '\n')]
    pub verify_uri: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ServerArgs {
    #[command(flatten)]
    pub proxy: ProxyArgs,

    /// The certificate chain to present, leaf first
    #[arg(long, value_name = "FILE")]
    pub cert: PathBuf,

    /// The private key of --cert
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,

    /// Require client certificates signed by a CA in this PEM file (mTLS)
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,

    /// Admit clients whose certificate has this subject common name (repeatable)
    #[arg(long = "allow-cn", value_name = "CN", value_delimiter = '\n')]
    pub allow_cn: Vec<String>,

    /// Admit clients whose certificate has this DNS SAN (repeatable)
    #[arg(long = "allow-dns", value_name = "NAME", value_delimiter = '\n')]
    pub allow_dns: Vec<String>,

    /// Admit clients with a URI SAN matching this pattern: a SPIFFE ID, `*` for one path
    /// segment, a final `**` for any suffix (repeatable)
    #[arg(long = "allow-uri", value_name = "URI", value_delimiter = '\n')]
    pub allow_uri: Vec<String>,

    /// Admit any client whose certificate chains to --cacert
    #[arg(long, value_parser = parse::switch)]
    pub allow_all: bool,

    /// Ask for no client certificate: plain TLS, anyone may connect
    #[arg(long, value_parser = parse::switch)]
    pub disable_authentication: bool,
}

/// What both modes share: where to listen, where to connect, and the limits in between.
#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// Accept connections here: HOST:PORT, [IPv6]:PORT or unix:PATH (port 0: any free port, logged)
    #[arg(long, value_name = "ADDR", value_parser = Address::parse_listen)]
    pub listen: Address,

    /// The permissions of a unix: --listen socket, in octal: connecting takes write permission,
    /// so 0660 lets the group in and 0666 everyone (default: 0755 under the usual umask 022,
    /// only the owner)
    #[arg(long, value_name = "MODE", value_parser = parse_mode)]
    pub listen_mode: Option<u32>,

    /// Connect each accepted connection here: HOST:PORT, [IPv6]:PORT or unix:PATH; a name is
    /// resolved at every connection
    #[arg(long, value_name = "ADDR", value_parser = Address::parse)]
    pub target: Address,

    /// An ALPN protocol to offer (client) or accept (server), most preferred first (repeatable)
    #[arg(long, value_name = "PROTO", value_delimiter = '\n')]
    pub alpn: Vec<String>,

    /// Send the target a PROXY protocol v2 header with the client's address
    #[arg(long, value_parser = parse::switch)]
    pub proxy_protocol: bool,

    /// Add TLVs to the PROXY header: SNI, ALPN, TLS version and the client certificate's CN
    #[arg(long, requires = "proxy_protocol", value_parser = parse::switch)]
    pub proxy_protocol_tlvs: bool,

    /// Give up connecting to the target after this long
    #[arg(long, default_value = "10s", value_parser = parse::nonzero_duration)]
    pub connect_timeout: Duration,

    /// Give up on a TLS handshake after this long (a slow or silent peer)
    #[arg(long, default_value = "10s", value_parser = parse::nonzero_duration)]
    pub handshake_timeout: Duration,

    /// Close a connection with no byte in either direction for this long (default: never)
    #[arg(long, value_parser = parse::nonzero_duration)]
    pub idle_timeout: Option<Duration>,

    /// Serve at most this many connections at once; more wait in the listen backlog
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_conns: Option<u32>,

    /// On SIGTERM, let open connections finish for up to this long, then close them
    #[arg(long, default_value = "30s", value_parser = parse::duration)]
    pub drain_timeout: Duration,

    /// Read the TLS files again this often without a change event: catches a missed event, and
    /// retries a refused reload (a rotated certificate not yet valid) until it loads
    #[arg(long, default_value = "1m", value_parser = parse::nonzero_duration)]
    pub resync: Duration,

    /// Serve /healthz, /readyz and /metrics here (HOST:PORT)
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<SocketAddr>,
}

impl podkit::daemon::Daemon for Cli {
    type Config = Config;
    /// The typed configuration these flags describe, or the flag that was wrong.
    fn into_config(self, _: &clap::ArgMatches) -> Result<Config, UsageError> {
        match self.mode {
            ModeCommand::Client(args) => client_config(args),
            ModeCommand::Server(args) => server_config(args),
        }
    }

    fn metrics_addr(config: &Config) -> Option<SocketAddr> {
        config.metrics_addr
    }

    /// Many connections, each moving bytes: a worker per core.
    fn runtime() -> tokio::runtime::Builder {
        tokio::runtime::Builder::new_multi_thread()
    }
}

fn client_config(args: ClientArgs) -> Result<Config, UsageError> {
    let server_name = match (&args.server_name, &args.proxy.target) {
        (Some(name), _) => name.clone(),
        (None, Address::Tcp { host, .. }) => host.clone(),
        (None, Address::Unix(_)) => {
            return Err(UsageError::flag(
                "--server-name",
                "needed when --target is a unix socket",
            ))
        }
    };
    // Without --server-name the name comes from --target: blame the flag the user wrote.
    let named_by = match args.server_name {
        Some(_) => "--server-name",
        None => "--target",
    };
    let server_name = ServerName::try_from(server_name.clone())
        .map_err(|_| format!("{server_name:?} is not a DNS name or an IP address"))
        .blame(named_by)?;
    let verify =
        VerifyRules::from_flags(&args.verify_dns, &args.verify_uri).map_err(UsageError::new)?;
    let mode = Mode::Client(ClientMode {
        tls: ClientTls {
            ca: args.cacert,
            identity: args.cert.zip(args.key),
            insecure: false,
        },
        server_name,
        verify,
    });
    proxy_config(mode, args.proxy)
}

fn server_config(args: ServerArgs) -> Result<Config, UsageError> {
    let given_rules = args.allow_all
        || !(args.allow_cn.is_empty() && args.allow_dns.is_empty() && args.allow_uri.is_empty());
    let allow = match (&args.cacert, args.disable_authentication) {
        (Some(_), true) => {
            return Err(UsageError::flag(
                "--disable-authentication",
                "cannot be combined with --cacert",
            ))
        }
        (None, true) if given_rules => {
            return Err(UsageError::flag(
                "--disable-authentication",
                "no client certificate is asked for, so --allow-* rules would never apply",
            ))
        }
        (None, true) => None,
        (None, false) => {
            return Err(UsageError::flag(
                "--cacert",
                "needed to verify client certificates; give --disable-authentication to accept any client",
            ))
        }
        (Some(_), false) => Some(
            AllowRules::from_flags(args.allow_all, &args.allow_cn, &args.allow_dns, &args.allow_uri)
                .map_err(UsageError::new)?,
        ),
    };
    let mode = Mode::Server(ServerMode {
        tls: ServerTls {
            cert: args.cert,
            key: args.key,
            client_ca: args.cacert,
            allow,
        },
    });
    proxy_config(mode, args.proxy)
}

/// An octal file mode of at most 0777, as chmod(1) takes it.
fn parse_mode(text: &str) -> Result<u32, String> {
    u32::from_str_radix(text, 8)
        .ok()
        .filter(|mode| *mode <= 0o777)
        .ok_or_else(|| "not an octal mode from 0 to 0777 (e.g. 0660)".to_owned())
}

fn proxy_config(mode: Mode, args: ProxyArgs) -> Result<Config, UsageError> {
    if args.listen_mode.is_some() && !matches!(args.listen, Address::Unix(_)) {
        return Err(UsageError::flag(
            "--listen-mode",
            "only for a unix: --listen socket",
        ));
    }
    let alpn = args
        .alpn
        .iter()
        .map(|proto| match proto.len() {
            1..=255 => Ok(proto.as_bytes().to_vec()),
            _ => Err(UsageError::flag(
                format!("--alpn {proto:?}"),
                "a protocol name is 1 to 255 bytes",
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let proxy_protocol = match (args.proxy_protocol, args.proxy_protocol_tlvs) {
        (false, _) => ProxyProtocol::Off,
        (true, false) => ProxyProtocol::Addresses,
        (true, true) => ProxyProtocol::WithTlvs,
    };
    Ok(Config {
        mode,
        listen: args.listen,
        listen_mode: args.listen_mode,
        target: args.target,
        alpn,
        proxy_protocol,
        limits: Limits {
            connect_timeout: args.connect_timeout,
            handshake_timeout: args.handshake_timeout,
            idle_timeout: args.idle_timeout,
            max_conns: args.max_conns.map(|n| n as usize),
            drain_timeout: args.drain_timeout,
        },
        resync: args.resync,
        metrics_addr: args.metrics_addr,
    })
}
