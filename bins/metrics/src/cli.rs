//! Flags and environment into a typed [`Config`], once, at the edge: addresses bound later are
//! parsed here, and the mapping file is read and compiled here, so a bad one is exit 2 before
//! anything listens.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use podkit::cli::{LogArgs, UsageError};

use crate::mapping::Mapper;

pub const EXIT_CODES: &str = "\
Exit status:
  0  stopped on SIGTERM or SIGINT; `check`: the file is valid
  1  an internal failure at start (the runtime, signal handling)
  2  usage or configuration error (a flag, an address in use, the mapping file)

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
    #[arg(long, value_name = "PATH", visible_alias = "statsd.listen-unixgram")]
    pub statsd_unixgram: Option<PathBuf>,

    /// statsd_exporter's mapping file (YAML), unchanged; without one, names are escaped
    /// (`a.b-c` becomes `a_b_c`)
    #[arg(long, value_name = "FILE", visible_alias = "statsd.mapping-config")]
    pub mapping: Option<PathBuf>,

    /// Expose at most this many series; new ones beyond it are refused and counted, the others
    /// keep working
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_series: Option<u64>,

    /// Serve /metrics, /healthz and /readyz here: HOST:PORT or :PORT
    #[arg(long, value_name = "ADDR", default_value = ":9102", visible_alias = "web.listen-address", value_parser = parse_listen)]
    pub metrics_addr: Listen,

    #[command(flatten)]
    pub log: LogArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a mapping file and show what StatsD lines become, then exit
    Check(CheckArgs),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The mapping file to check
    #[arg(long = "mapping", value_name = "FILE", id = "check_mapping")]
    pub mapping: PathBuf,

    /// A StatsD line to show the series of (repeatable)
    #[arg(long = "line", value_name = "LINE", value_delimiter = '\n')]
    pub lines: Vec<String>,
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

/// What the flags mean, checked once.
#[derive(Debug)]
pub enum Config {
    Serve(Serve),
    Check(Check),
}

#[derive(Debug)]
pub struct Serve {
    pub udp: Option<SocketAddr>,
    pub tcp: Option<SocketAddr>,
    pub unixgram: Option<PathBuf>,
    pub mapper: Mapper,
    pub max_series: Option<usize>,
    pub metrics_addr: Option<SocketAddr>,
}

#[derive(Debug)]
pub struct Check {
    pub mapper: Mapper,
    pub lines: Vec<String>,
}

/// The mapping file, read and compiled; a refusal names the flag and the file.
fn load(flag: &'static str, path: &std::path::Path) -> Result<Mapper, UsageError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| UsageError::flag(flag, format!("{}: {e}", path.display())))?;
    Mapper::from_yaml(&text).map_err(|e| UsageError::flag(flag, format!("{}: {e}", path.display())))
}

impl podkit::daemon::Daemon for Cli {
    type Config = Config;

    fn into_config(self, _: &clap::ArgMatches) -> Result<Config, UsageError> {
        if let Some(Command::Check(check)) = self.command {
            return Ok(Config::Check(Check {
                mapper: load("--mapping", &check.mapping)?,
                lines: check.lines,
            }));
        }
        let udp = self.statsd_udp.and_then(Listen::addr);
        let tcp = self.statsd_tcp.and_then(Listen::addr);
        // statsd_exporter's empty value turns the input off, as for the addresses.
        let unixgram = self.statsd_unixgram.filter(|p| !p.as_os_str().is_empty());
        if udp.is_none() && tcp.is_none() && unixgram.is_none() {
            return Err(UsageError::new(
                "nothing to read: give --statsd-udp, --statsd-tcp or --statsd-unixgram (or `check`)",
            ));
        }
        let mapper = match &self.mapping {
            Some(path) => load("--mapping", path)?,
            None => Mapper::empty(),
        };
        Ok(Config::Serve(Serve {
            udp,
            tcp,
            unixgram,
            mapper,
            max_series: self
                .max_series
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
            metrics_addr: self.metrics_addr.addr(),
        }))
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
}
