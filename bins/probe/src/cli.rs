//! Flags and environment into typed checks, once, at the edge (clap derive; each flag has its
//! `PODKIT_*` variable, shown by `--help`).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use hyper::header::HeaderValue;
use podkit::cli::{parse, LogArgs, UsageError};
use podkit::tls::ClientTls;

use podkit::http::{Header, Statuses};

/// Exit codes: 0 healthy; 1 unhealthy (the check ran and failed); 2 usage or configuration error;
/// 3 could not connect, or timed out.
#[derive(Debug, Parser)]
#[command(name = "podkit-probe", version, propagate_version = true, about, after_help = EXIT_CODES)]
// A probe's stdout is its answer: its own log says only what went wrong, unless asked.
#[command(mut_arg("log_level", |arg| arg.default_value("warn")))]
pub struct Cli {
    #[command(subcommand)]
    pub check: CheckCommand,

    /// How to print the result: one line of text, or one JSON object
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "PODKIT_OUTPUT"
    )]
    pub output: Output,

    #[command(flatten)]
    pub log: LogArgs,
}

pub const EXIT_CODES: &str = "\
Exit status:
  0  healthy
  1  unhealthy: the check ran and failed (status, body, NOT_SERVING, stale file, non-zero exec)
  2  usage or configuration error (a flag, a URL, a certificate)
  3  could not connect, timed out, or the answer broke off
exec and wait stop on SIGTERM (143) or SIGINT (130)";

#[derive(Debug, Subcommand)]
pub enum CheckCommand {
    /// GET a URL (or another method); healthy when the status is in range and the body matches
    Http(Box<HttpArgs>),
    /// Open a TCP connection; healthy when it is accepted
    Tcp(TcpArgs),
    /// Run a command; healthy when it exits 0
    Exec(ExecArgs),
    /// A heartbeat file; healthy when it exists and, with --max-age, was modified recently
    File(FileArgs),
    /// Call grpc.health.v1.Health/Check; healthy when the answer is SERVING
    Grpc(GrpcArgs),
    /// Wait until every target passes, all in parallel, then run CMD (an init container, or an
    /// entrypoint prefix); on timeout exit non-zero and never run CMD
    Wait(WaitArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct HttpArgs {
    /// http:// or https:// URL; IPv6 literals in brackets: http://[::1]:8080/healthz
    pub url: String,

    /// Request method
    #[arg(long, default_value = "GET", env = "PODKIT_METHOD")]
    pub method: String,

    /// Extra request header 'Name: value' (repeatable); replaces a default of the same name
    #[arg(long = "header", value_name = "'K: V'", value_delimiter = '\n', value_parser = header)]
    pub headers: Vec<Header>,

    /// Host header, when it differs from the URL's (the TLS name stays the URL's: see --server-name)
    #[arg(long, value_parser = header_value, env = "PODKIT_HOST")]
    pub host: Option<HeaderValue>,

    /// Healthy statuses: a code or an inclusive range, comma-separated
    #[arg(long, default_value = "200-399", env = "PODKIT_EXPECT_STATUS")]
    pub expect_status: Statuses,

    /// Healthy only if the first 10 KiB of the body match this regular expression
    #[arg(long, value_parser = parse_regex, env = "PODKIT_EXPECT_BODY")]
    pub expect_body: Option<regex_lite::Regex>,

    /// Give up after this long, connection included
    #[arg(long, default_value = "1s", value_parser = timeout, env = "PODKIT_TIMEOUT")]
    pub timeout: Duration,

    /// Connect to this unix socket instead of the URL's host and port
    #[arg(long, env = "PODKIT_UNIX_SOCKET")]
    pub unix_socket: Option<PathBuf>,

    /// Behave exactly as the kubelet's HTTP probe, which skips TLS verification
    #[arg(long, env = "PODKIT_K8S", value_parser = parse::switch)]
    pub k8s: bool,

    #[command(flatten)]
    pub tls: TlsArgs,
}

#[derive(Debug, Args)]
pub struct TcpArgs {
    /// HOST:PORT, or [IPv6]:PORT
    pub address: String,

    /// Give up after this long
    #[arg(long, default_value = "1s", value_parser = timeout, env = "PODKIT_TIMEOUT")]
    pub timeout: Duration,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Kill the command and report a timeout after this long
    #[arg(long, default_value = "1s", value_parser = timeout, env = "PODKIT_TIMEOUT")]
    pub timeout: Duration,

    /// The command and its arguments
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<std::ffi::OsString>,
}

#[derive(Debug, Args)]
pub struct FileArgs {
    /// The heartbeat file
    pub path: PathBuf,

    /// Unhealthy when the file was last modified longer ago than this
    #[arg(long, value_parser = parse::duration, env = "PODKIT_MAX_AGE")]
    pub max_age: Option<Duration>,
}

#[derive(Debug, Args)]
pub struct GrpcArgs {
    /// HOST:PORT, [IPv6]:PORT, or unix:PATH (unix:///PATH)
    pub address: String,

    /// The service to ask about; empty asks about the server as a whole
    #[arg(long, default_value = "", env = "PODKIT_SERVICE")]
    pub service: String,

    /// Give up after this long, connection included [default: 1s, or the sum of
    /// --connect-timeout and --rpc-timeout, each 1s unless given, when either is]
    #[arg(long, value_parser = timeout, env = "PODKIT_TIMEOUT")]
    pub timeout: Option<Duration>,

    /// Give up connecting (TCP, and TLS with --tls) after this long
    #[arg(long, value_parser = timeout)]
    pub connect_timeout: Option<Duration>,

    /// Give up on the call after this long once connected; the server is told (grpc-timeout)
    #[arg(long, value_parser = timeout)]
    pub rpc_timeout: Option<Duration>,

    /// Extra request metadata 'name: value' (repeatable)
    #[arg(long = "rpc-header", value_name = "'K: V'", value_delimiter = '\n', value_parser = rpc_header)]
    pub rpc_headers: Vec<Header>,

    /// The user-agent sent; empty sends none
    #[arg(long, default_value = crate::grpc::USER_AGENT_DEFAULT, value_parser = header_value)]
    pub user_agent: HeaderValue,

    #[command(flatten)]
    pub tls: TlsArgs,
}

/// The TLS flags shared by http, grpc and wait.
#[derive(Debug, Clone, Args)]
pub struct TlsArgs {
    /// Use TLS even for a plain scheme (grpc, wait targets)
    #[arg(long, env = "PODKIT_TLS", value_parser = parse::switch)]
    pub tls: bool,

    /// Trust only the CAs in this PEM file (default: the system bundle); --ca is curl's name for it
    #[arg(long, visible_alias = "ca", value_name = "FILE", env = "PODKIT_CACERT")]
    pub cacert: Option<PathBuf>,

    /// Client certificate (PEM) for mTLS; needs --key
    #[arg(long, value_name = "FILE", requires = "key", env = "PODKIT_CERT")]
    pub cert: Option<PathBuf>,

    /// Client private key (PEM) for mTLS; needs --cert
    #[arg(long, value_name = "FILE", requires = "cert", env = "PODKIT_KEY")]
    pub key: Option<PathBuf>,

    /// Name to verify the server certificate against (default: the URL's host)
    #[arg(long, env = "PODKIT_SERVER_NAME")]
    pub server_name: Option<String>,

    /// Do not verify the server certificate (the kubelet's behaviour; see --k8s)
    #[arg(long, env = "PODKIT_INSECURE", value_parser = parse::switch)]
    pub insecure: bool,
}

impl TlsArgs {
    /// The first TLS flag given that only a TLS connection would use, if any.
    pub fn given_without_tls(&self) -> Option<&'static str> {
        let given = [
            ("--cacert", self.cacert.is_some()),
            ("--cert", self.cert.is_some()),
            ("--key", self.key.is_some()),
            ("--server-name", self.server_name.is_some()),
            ("--insecure", self.insecure),
        ];
        given.iter().find(|(_, set)| *set).map(|(flag, _)| *flag)
    }

    /// The client TLS settings these flags describe; `insecure` forces no verification.
    pub fn client(&self, insecure: bool) -> ClientTls {
        ClientTls {
            ca: self.cacert.clone(),
            identity: self.cert.clone().zip(self.key.clone()),
            insecure: self.insecure || insecure,
        }
    }
}

impl Cli {
    /// Parses the command line `args` once, as every podkit tool does ([`podkit::cli::parse`]).
    pub fn parse(args: Vec<std::ffi::OsString>) -> Result<Cli, UsageError> {
        podkit::cli::parse(args).map(|parsed| parsed.cli)
    }
}

/// A check's time limit: more than zero, since no attempt fits in none.
fn timeout(text: &str) -> Result<Duration, String> {
    match parse::duration(text)? {
        Duration::ZERO => Err("must be more than 0: no check can succeed in no time".to_owned()),
        timeout => Ok(timeout),
    }
}

/// `Name: value`, one header ([`Header::parse`]).
fn header(text: &str) -> Result<Header, String> {
    Header::parse(text).map_err(|e| e.to_string())
}

/// gRPC metadata `name: value`: a header ([`Header::parse`]) whose name gRPC itself does not
/// set or reserve.
fn rpc_header(text: &str) -> Result<Header, String> {
    let header = header(text)?;
    let name = header.name.as_str();
    let reserved = ["content-type", "te", "user-agent", "host", "connection"];
    if reserved.contains(&name) || name.starts_with("grpc-") {
        let hint = if name == "user-agent" {
            " (use --user-agent)"
        } else {
            ""
        };
        return Err(format!("{name} is gRPC's own, not metadata to send{hint}"));
    }
    Ok(header)
}

/// A header's value: one line, never a second header smuggled in after a line break.
fn header_value(text: &str) -> Result<HeaderValue, String> {
    if text.contains(['\r', '\n']) {
        return Err("a line break is not allowed in a header".to_owned());
    }
    HeaderValue::from_str(text).map_err(|_| "not a valid header value".to_owned())
}

fn parse_regex(text: &str) -> Result<regex_lite::Regex, String> {
    regex_lite::Regex::new(text).map_err(|e| format!("invalid regular expression: {e}"))
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// tcp://HOST:PORT, http(s)://..., grpc://HOST:PORT[/SERVICE], unix:///PATH, file:///PATH
    #[arg(required = true, value_name = "TARGET")]
    pub targets: Vec<String>,

    /// Give up, without running CMD, after this long
    #[arg(long, default_value = "5m", value_parser = timeout, env = "PODKIT_TIMEOUT")]
    pub timeout: Duration,

    /// The longest pause between two attempts at one target (the backoff starts at 50ms); each
    /// attempt may take this long, or 1s if that is longer
    #[arg(long, default_value = "1s", value_parser = parse::duration, env = "PODKIT_INTERVAL")]
    pub interval: Duration,

    #[command(flatten)]
    pub tls: TlsArgs,

    /// Run once every target passes; it replaces podkit-probe (exec)
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<std::ffi::OsString>,
}

impl GrpcArgs {
    /// The whole check's time: `--timeout`, else 1s, else (as grpc_health_probe, whose two
    /// timeouts default to 1s each) the connect and call timeouts added up.
    pub fn whole_timeout(&self) -> Duration {
        const ONE_SECOND: Duration = Duration::from_secs(1);
        match (self.timeout, self.connect_timeout, self.rpc_timeout) {
            (Some(timeout), _, _) => timeout,
            (None, None, None) => ONE_SECOND,
            (None, connect, rpc) => connect.unwrap_or(ONE_SECOND) + rpc.unwrap_or(ONE_SECOND),
        }
    }
}
