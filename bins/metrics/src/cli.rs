//! Flags and environment into a typed [`Config`], once, at the edge: addresses bound later are
//! parsed here, and the files flags name are read and compiled here ([`load`]), so a bad one is
//! exit 2 before anything listens, and `check` refuses it with the same line.

mod check;
mod load;

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use podkit::cli::{parse, LogArgs, UsageError};
use podkit::http::Url;

use crate::json::rules::Catalog;
use crate::json::JsonConfig;
use crate::logs::Follow;
use crate::mapping::Mapper;
pub use check::{Check, CheckArgs};

pub const EXIT_CODES: &str = "\
Exit status:
  0  stopped on SIGTERM or SIGINT; `check`: the files are valid
  1  an internal failure at start (the runtime, signal handling)
  2  usage or configuration error (a flag, an address in use, the mapping or a rules file)

statsd_exporter's flags --statsd.listen-udp, --statsd.listen-tcp, --statsd.mapping-config and
--web.listen-address are accepted too, as aliases.";

#[derive(Debug, Parser)]
#[command(name = "podkit-metrics", version, propagate_version = true, about, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Read StatsD datagrams here: HOST:PORT or :PORT (all interfaces); 9125 by convention
    #[arg(long, value_name = "ADDR", visible_alias = "statsd.listen-udp", value_parser = parse_listen)]
    pub statsd_udp: Option<Listen>,

    /// Read StatsD lines from TCP connections here: HOST:PORT or :PORT
    #[arg(long, value_name = "ADDR", visible_alias = "statsd.listen-tcp", value_parser = parse_listen)]
    pub statsd_tcp: Option<Listen>,

    /// Read StatsD datagrams from a Unix datagram socket made at this path (a stale socket there
    /// is replaced; anything else there is refused)
    #[arg(long, value_name = "PATH", visible_alias = "statsd.listen-unixgram", value_parser = path_or_empty())]
    pub statsd_unixgram: Option<PathBuf>,

    /// statsd_exporter's mapping file (YAML), unchanged; without one, names are escaped
    /// (`a.b-c` becomes `a_b_c`)
    #[arg(long, value_name = "FILE", visible_alias = "statsd.mapping-config", value_parser = path_or_empty())]
    pub mapping: Option<PathBuf>,

    /// Follow this log file through rotation, its lines matched by the --log-rules in the same
    /// place (repeatable)
    #[arg(long = "log", value_name = "FILE", value_delimiter = '\n')]
    pub logs: Vec<PathBuf>,

    /// The rules (YAML) for the --log in the same place; one file for every --log if only one
    /// is given (repeatable)
    #[arg(long = "log-rules", value_name = "FILE", value_delimiter = '\n')]
    pub log_rules: Vec<PathBuf>,

    /// Read each --log from its beginning rather than from its end
    #[arg(long, value_parser = parse::switch)]
    pub log_from_start: bool,

    /// Expose at most this many series; new ones beyond it are refused and counted, the others
    /// keep working
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_series: Option<u64>,

    /// Fetch JSON from this http:// URL and expose what the --json-rules file in the same
    /// position selects (repeatable)
    #[arg(long = "json", value_name = "URL", value_delimiter = '\n', value_parser = parse_json_url)]
    pub json: Vec<Url>,

    /// json_exporter-style rules for the --json URL in the same position; one file alone serves
    /// every URL (repeatable)
    #[arg(long, value_name = "FILE", value_delimiter = '\n')]
    pub json_rules: Vec<PathBuf>,

    /// How long a fetch of a --json URL may take
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse::nonzero_duration)]
    pub json_timeout: Duration,

    /// Fetch the --json URLs every DURATION, serving the last good values, instead of on each
    /// scrape
    #[arg(long, value_name = "DURATION", value_parser = parse::nonzero_duration)]
    pub json_interval: Option<Duration>,

    /// Serve /metrics, /healthz and /readyz here: HOST:PORT or :PORT
    #[arg(long, value_name = "ADDR", default_value = ":9102", visible_alias = "web.listen-address", value_parser = parse_listen)]
    pub metrics_addr: Listen,

    #[command(flatten)]
    pub log: LogArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a mapping file, log rules or JSON rules, and show what StatsD lines, log lines or
    /// JSON documents become, then exit
    Check(CheckArgs),
}

/// The flags whose empty variable does not mean "not given": `--metrics-addr`, where empty
/// turns the endpoint off (statsd_exporter's `--web.listen-address`), and the logging flags,
/// which every podkit tool reads alike.
const EMPTY_IS_A_VALUE: [&str; 3] = ["metrics_addr", "log_level", "log_format"];

/// Unsets every empty `PODKIT_*` variable of a flag (but [`EMPTY_IS_A_VALUE`]'s), so that it
/// counts as the flag not given: statsd_exporter's convention, where an empty value turns an
/// input off, held for every flag alike, so that a template's blank value (`PODKIT_MAPPING=`)
/// does what leaving the variable out does. Called first thing, while the process is one
/// thread and before the flags are read.
pub fn forget_empty_variables() {
    fn forget(command: &clap::Command) {
        for arg in command.get_arguments() {
            if EMPTY_IS_A_VALUE.contains(&arg.get_id().as_str()) {
                continue;
            }
            let Some(variable) = arg.get_env() else {
                continue;
            };
            if std::env::var_os(variable).is_some_and(|value| value.is_empty()) {
                std::env::remove_var(variable);
            }
        }
        command.get_subcommands().for_each(forget);
    }
    forget(&podkit::cli::with_env_vars(
        <Cli as clap::CommandFactory>::command(),
    ));
}

/// A path where an empty value is the flag not given: statsd_exporter's mapping and socket
/// flags default to "", so `--statsd.mapping-config=` means no mapping there, and here.
fn path_or_empty() -> impl clap::builder::TypedValueParser<Value = PathBuf> {
    use clap::builder::TypedValueParser;
    clap::builder::OsStringValueParser::new().map(PathBuf::from)
}

/// An address to listen on, or none (statsd_exporter's empty value turns an input off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listen {
    Off,
    At(SocketAddr),
}

impl Listen {
    fn addr(self) -> Option<SocketAddr> {
        match self {
            Listen::Off => None,
            Listen::At(addr) => Some(addr),
        }
    }
}

/// `HOST:PORT`, `[v6]:PORT`, or Go's `:PORT` for every interface; empty: off.
fn parse_listen(text: &str) -> Result<Listen, String> {
    if text.is_empty() {
        return Ok(Listen::Off);
    }
    if let Some(port) = text.strip_prefix(':') {
        return port
            .parse::<u16>()
            .map(|port| Listen::At(SocketAddr::from(([0, 0, 0, 0], port))))
            .map_err(|_| format!("{text:?} has no valid port"));
    }
    if let Ok(addr) = text.parse() {
        return Ok(Listen::At(addr));
    }
    let mut resolved = text
        .to_socket_addrs()
        .map_err(|e| format!("{text:?}: expected HOST:PORT or :PORT ({e})"))?;
    resolved
        .next()
        .map(Listen::At)
        .ok_or_else(|| format!("{text:?} resolves to no address"))
}

/// An `http://` URL: lib's client speaks TLS only when built with it, and this tool is not,
/// so an `https://` URL is refused here rather than failing at every fetch. Any other scheme
/// gets the same answer: lib words that refusal for callers that take both schemes.
fn parse_json_url(text: &str) -> Result<Url, String> {
    use podkit::http::UrlProblem;
    let http_only = |why: &str| {
        let shown = podkit::log::redact_userinfo(text);
        format!("invalid URL {shown:?}: the scheme must be http://{why}")
    };
    Url::parse_http(text).map_err(|e| match e.problem() {
        UrlProblem::NotHttp => {
            http_only(" (https:// is not supported yet: fetch over http on the pod's network)")
        }
        UrlProblem::Scheme => http_only(""),
        _ => e.to_string(),
    })
}

/// The JSON inputs: each URL with its rules file (the one in the same position, or the only
/// one), read and compiled; a refusal names the flag and the file.
fn json_config(cli: &Cli) -> Result<Option<JsonConfig>, UsageError> {
    if cli.json.is_empty() {
        if !cli.json_rules.is_empty() {
            return Err(UsageError::flag("--json-rules", "given without --json"));
        }
        return Ok(None);
    }
    let files = match cli.json_rules.len() {
        0 => return Err(UsageError::flag("--json", "needs --json-rules")),
        1 => vec![cli.json_rules[0].clone(); cli.json.len()],
        n if n == cli.json.len() => cli.json_rules.clone(),
        n => {
            return Err(UsageError::flag(
                "--json-rules",
                format!(
                    "{n} files for {} URLs: give one per --json, or one for all",
                    cli.json.len()
                ),
            ))
        }
    };
    // A scrape waits for its fetches, and the endpoint gives one request at most
    // CONNECTION_TIMEOUT: a longer wait would answer no scrape at all.
    let most = podkit::serve::CONNECTION_TIMEOUT.saturating_sub(crate::json::collector::HAND_OVER);
    if cli.json_interval.is_none() && cli.json_timeout > most {
        return Err(UsageError::flag(
            "--json-timeout",
            format!(
                "at most {} when fetching on each scrape (the endpoint answers a request within {}); \
                 fetch slower URLs with --json-interval",
                podkit::duration::format(most),
                podkit::duration::format(podkit::serve::CONNECTION_TIMEOUT)
            ),
        ));
    }
    let mut catalog = Catalog::default();
    let mut inputs = Vec::new();
    for (url, file) in cli.json.iter().zip(files) {
        inputs.push((url.clone(), load::json_rules(&mut catalog, &file)?));
    }
    catalog.finish();
    Ok(Some(JsonConfig {
        inputs,
        catalog,
        timeout: cli.json_timeout,
        interval: cli.json_interval,
        max_series: cli
            .max_series
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
    }))
}

/// What the flags mean, checked once.
#[derive(Debug)]
pub enum Config {
    /// Boxed, as is `Check`: each is built once, and the enum need not be its size.
    Serve(Box<Serve>),
    Check(Box<Check>),
}

#[derive(Debug)]
pub struct Serve {
    pub udp: Option<SocketAddr>,
    pub tcp: Option<SocketAddr>,
    pub unixgram: Option<PathBuf>,
    pub mapper: Mapper,
    pub logs: Vec<Follow>,
    pub max_series: Option<usize>,
    pub metrics_addr: Option<SocketAddr>,
    pub json: Option<JsonConfig>,
}

/// Each `--log` with its `--log-rules`: paired in order, or one rules file for all. Each rules
/// file is read and compiled once; a refusal names the flag, the file and the rule.
fn follows(
    logs: Vec<PathBuf>,
    rules: &[PathBuf],
    from_start: bool,
) -> Result<Vec<Follow>, UsageError> {
    if rules.len() != logs.len() && rules.len() != 1 {
        return Err(UsageError::flag(
            "--log-rules",
            format!(
                "{} given for {} --log: give one for each --log, in the same order, or one for all",
                rules.len(),
                logs.len()
            ),
        ));
    }
    let mut compiled = Vec::with_capacity(rules.len());
    for path in rules {
        compiled.push(Arc::new(load::log_rules(path)?));
    }
    Ok(logs
        .into_iter()
        .enumerate()
        .map(|(at, path)| Follow {
            path,
            rules: Arc::clone(&compiled[at.min(compiled.len() - 1)]),
            from_start,
        })
        .collect())
}

impl podkit::daemon::Daemon for Cli {
    type Config = Config;

    fn into_config(self, _: &clap::ArgMatches) -> Result<Config, UsageError> {
        if let Some(Command::Check(args)) = self.command {
            return Ok(Config::Check(Box::new(check::config(args)?)));
        }
        let udp = self.statsd_udp.and_then(Listen::addr);
        let tcp = self.statsd_tcp.and_then(Listen::addr);
        let json = json_config(&self)?;
        let logs = follows(self.logs, &self.log_rules, self.log_from_start)?;
        // statsd_exporter's empty value turns the input off, as for the addresses.
        let unixgram = self.statsd_unixgram.filter(|p| !p.as_os_str().is_empty());
        let statsd = udp.is_some() || tcp.is_some() || unixgram.is_some();
        if !statsd && logs.is_empty() && json.is_none() {
            return Err(UsageError::new(
                "nothing to read: give --statsd-udp, --statsd-tcp, --statsd-unixgram, --log or --json (or `check`)",
            ));
        }
        let mapper = match self.mapping.filter(|p| !p.as_os_str().is_empty()) {
            Some(path) => load::mapping(&path)?,
            None => Mapper::empty(),
        };
        Ok(Config::Serve(Box::new(Serve {
            udp,
            tcp,
            unixgram,
            mapper,
            logs,
            max_series: self
                .max_series
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
            metrics_addr: self.metrics_addr.addr(),
            json,
        })))
    }

    fn metrics_addr(config: &Config) -> Option<SocketAddr> {
        match config {
            Config::Serve(serve) => serve.metrics_addr,
            Config::Check(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_read_as_statsd_exporter_writes_them() {
        let at = |a: &str| Listen::At(a.parse().unwrap());
        assert_eq!(parse_listen(":9125"), Ok(at("0.0.0.0:9125")));
        assert_eq!(parse_listen("127.0.0.1:0"), Ok(at("127.0.0.1:0")));
        assert_eq!(parse_listen("[::1]:9102"), Ok(at("[::1]:9102")));
        assert_eq!(parse_listen(""), Ok(Listen::Off));
        assert!(parse_listen(":x").is_err());
        assert!(parse_listen("9125").is_err());
    }

    #[test]
    fn a_json_url_must_be_http_whatever_other_scheme_it_has() {
        for text in ["ftp://x/", "https://x/", "file:///etc/passwd"] {
            let refused = parse_json_url(text).unwrap_err();
            assert!(refused.contains("must be http://"), "{refused}");
            assert!(!refused.contains("http or https"), "{refused}");
        }
        assert!(parse_json_url("https://x/")
            .unwrap_err()
            .contains("https:// is not supported yet"));
        let refused = parse_json_url("ftp://user:s3cret@x/").unwrap_err();
        assert!(!refused.contains("s3cret"), "{refused}");
        assert!(parse_json_url("http://x/status").is_ok());
    }
}
