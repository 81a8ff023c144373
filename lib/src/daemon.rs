//! The start-up and end of a long-running podkit tool, once for all of them: parse the command
//! line, set up logging, build the typed configuration, start the runtime, take over SIGTERM and
//! SIGINT, serve `/healthz`, `/readyz` and `/metrics` (with the build info) on `--metrics-addr`,
//! run the tool, and turn whatever stopped it into one `error:` line and an exit code.
//!
//! It does not know what a tool does nor how it drains: [`main`] hands the tool its
//! configuration and a [`Started`] (the shutdown handle, the metrics registry, the readiness) and
//! waits for the tool's future to end. The metrics endpoint outlives that future, so `/readyz` says
//! "draining" and `/metrics` counts the last connections until the tool is done.
//!
//! ```no_run
//! use std::net::SocketAddr;
//! use podkit::cli::{LogArgs, UsageError};
//! use podkit::daemon::{Daemon, Started};
//!
//! #[derive(clap::Parser)]
//! #[command(name = "podkit-example", version)]
//! struct Cli {
//!     #[arg(long, env = "PODKIT_METRICS_ADDR")]
//!     metrics_addr: Option<SocketAddr>,
//!     #[command(flatten)]
//!     log: LogArgs,
//! }
//!
//! impl Daemon for Cli {
//!     type Config = Option<SocketAddr>;
//!     fn into_config(self, _: &clap::ArgMatches) -> Result<Self::Config, UsageError> {
//!         Ok(self.metrics_addr)
//!     }
//!     fn metrics_addr(config: &Self::Config) -> Option<SocketAddr> { *config }
//! }
//!
//! fn main() {
//!     let args = std::env::args_os().collect();
//!     podkit::daemon::main::<Cli, _, _>(args, |_config, started: Started| async move {
//!         started.readiness.set_ready();
//!         let cause = started.shutdown.requested().await;
//!         podkit::info!("stopping", cause = cause);
//!         Ok(())
//!     })
//! }
//! ```

use std::borrow::Cow;
use std::error::Error;
use std::ffi::OsString;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;

use clap::ArgMatches;

use crate::cli::{Blame, LogArgs, Parsed, UsageError, EXIT_USAGE};
use crate::serve::{register_build_info, MetricsServer, Readiness, Registry};
use crate::shutdown::Shutdown;

/// Exit code for a failure of the tool itself rather than of its input: the runtime or the
/// signal handling could not be set up.
pub const EXIT_FAILURE: i32 = 1;

/// A long-running tool's command line, and what the start-up needs to know about it.
///
/// The tool's name (the log's tool name, the error line's prefix, the build info's label) and
/// version are clap's, from `#[command(name = "podkit-<tool>", version)]`; its logging flags are
/// [`LogArgs`], flattened into its `Cli`.
pub trait Daemon: clap::Parser {
    /// What the flags mean, checked once: the tool's loop reads only this.
    type Config;

    /// The typed configuration, or the flag that was wrong. `matches` is clap's view of the same,
    /// single parse, for what types do not say (the order repeatable flags came in).
    fn into_config(self, matches: &ArgMatches) -> Result<Self::Config, UsageError>;

    /// Where to serve `/healthz`, `/readyz` and `/metrics`, if anywhere.
    fn metrics_addr(config: &Self::Config) -> Option<SocketAddr>;

    /// The runtime to build: one thread unless the tool moves bytes for many connections.
    fn runtime() -> tokio::runtime::Builder {
        tokio::runtime::Builder::new_current_thread()
    }
}

/// What a started tool gets besides its configuration.
#[derive(Debug, Clone)]
pub struct Started {
    /// SIGTERM and SIGINT, already taken over: the first starts the tool's stop, a second ends
    /// its drain.
    pub shutdown: Shutdown,
    /// Register the tool's metrics here; the build info is already in.
    pub registry: Registry,
    /// Not ready ("starting") until the tool says it is.
    pub readiness: Readiness,
}

/// Why a tool stopped other than by being asked to: one line for stderr, and its exit code.
#[derive(Debug)]
pub struct Failure {
    code: i32,
    what: Cow<'static, str>,
    source: Box<dyn Error + Send + Sync>,
}

impl Failure {
    /// Bad input found at start (a file named by a flag, an address to listen on): exit 2.
    pub fn usage(
        what: impl Into<Cow<'static, str>>,
        source: impl Into<Box<dyn Error + Send + Sync>>,
    ) -> Failure {
        Failure {
            code: EXIT_USAGE,
            what: what.into(),
            source: source.into(),
        }
    }

    /// The tool itself could not work (no runtime, no signal handling): exit 1.
    pub fn internal(
        what: impl Into<Cow<'static, str>>,
        source: impl Into<Box<dyn Error + Send + Sync>>,
    ) -> Failure {
        Failure {
            code: EXIT_FAILURE,
            what: what.into(),
            source: source.into(),
        }
    }

    /// A failure of the tool's work with an exit code of its own (podkit-git's 1 after too many
    /// failed syncs), documented in its `--help`.
    pub fn with_code(
        code: i32,
        what: impl Into<Cow<'static, str>>,
        source: impl Into<Box<dyn Error + Send + Sync>>,
    ) -> Failure {
        Failure {
            code,
            what: what.into(),
            source: source.into(),
        }
    }

    /// The exit code this failure ends the process with.
    pub fn exit_code(&self) -> i32 {
        self.code
    }
}

impl From<UsageError> for Failure {
    fn from(error: UsageError) -> Failure {
        Failure {
            code: error.exit_code(),
            what: Cow::Borrowed(""),
            source: Box::new(error),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.what.is_empty() {
            self.source.fmt(f)
        } else {
            write!(f, "{}: {}", self.what, self.source)
        }
    }
}

impl Error for Failure {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.source)
    }
}

/// Runs the tool `D` from its command line `args` (the program's name first) to its exit: `run`
/// gets the configuration and [`Started`], and its end is the process's end (0 when it returns
/// `Ok`). Every failure before or during `run` prints one line, `podkit-<tool>: error: ...`,
/// whatever the log format, since it is for the person who wrote the command line.
pub fn main<D, F, Fut>(args: Vec<OsString>, run: F) -> !
where
    D: Daemon,
    F: FnOnce(D::Config, Started) -> Fut,
    Fut: Future<Output = Result<(), Failure>>,
{
    let (name, version) = identity::<D>();
    let report = |failure: &Failure| {
        eprintln!("{name}: error: {failure}");
        failure.exit_code()
    };
    let code = match configure::<D>(name, args) {
        Err(failure) => report(&failure),
        Ok(config) => match D::runtime().enable_all().build() {
            Err(error) => report(&Failure::internal("cannot start the runtime", error)),
            Ok(runtime) => {
                let served = serve_and_run::<D, F, Fut>(config, (name, version), run);
                let code = runtime.block_on(served).map_or_else(|f| report(&f), |()| 0);
                // Exit with the runtime alive: dropping it would wait for blocking tasks (a
                // name lookup to a silent DNS server) that the exit ends anyway.
                std::process::exit(code)
            }
        },
    };
    std::process::exit(code)
}

/// The command line, parsed once, into logging and the typed configuration.
fn configure<D: Daemon>(name: &'static str, args: Vec<OsString>) -> Result<D::Config, Failure> {
    let Parsed { cli, matches } = crate::cli::parse::<D>(args)?;
    LogArgs::from_matches(&matches).init(name);
    Ok(cli.into_config(&matches)?)
}

/// The tool's name and version as its `Cli` declares them, for the whole life of the process.
fn identity<D: Daemon>() -> (&'static str, &'static str) {
    let command = D::command();
    let leak = |text: &str| -> &'static str { Box::leak(text.to_owned().into_boxed_str()) };
    (
        leak(command.get_name()),
        leak(command.get_version().unwrap_or("unknown")),
    )
}

async fn serve_and_run<D, F, Fut>(
    config: D::Config,
    (name, version): (&'static str, &'static str),
    run: F,
) -> Result<(), Failure>
where
    D: Daemon,
    F: FnOnce(D::Config, Started) -> Fut,
    Fut: Future<Output = Result<(), Failure>>,
{
    let shutdown = Shutdown::install()
        .map_err(|error| Failure::internal("cannot handle SIGTERM and SIGINT", error))?;
    let registry = Registry::new();
    register_build_info(&registry, name, version)
        .map_err(|error| Failure::internal("cannot register metrics", error))?;
    let readiness = Readiness::new("starting");
    let (stop_endpoint, endpoint_stopped) = tokio::sync::oneshot::channel::<()>();
    let endpoint = match D::metrics_addr(&config) {
        None => None,
        Some(addr) => {
            let server = MetricsServer::bind(addr, registry.clone(), readiness.clone())
                .await
                .blame("--metrics-addr")?;
            Some(tokio::spawn(server.serve(endpoint_stopped)))
        }
    };
    let started = Started {
        shutdown,
        registry,
        readiness,
    };
    let result = run(config, started).await;
    let _ = stop_endpoint.send(());
    if let Some(endpoint) = endpoint {
        let _ = endpoint.await;
    }
    result
}
