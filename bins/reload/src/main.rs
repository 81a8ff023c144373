//! podkit-reload: watches ConfigMap and Secret volumes the way the kubelet writes them and, when
//! their content really changes, validates it and calls webhooks, signals processes or runs
//! commands, in order.

mod action;
mod cli;
mod commit;
mod metrics;
mod run;
mod template;
mod webhook;

use podkit::cli::{LogArgs, UsageError};
use podkit::daemon::Daemon;

use crate::cli::{Cli, Config};

impl Daemon for Cli {
    type Config = Config;
    const NAME: &'static str = "podkit-reload";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn log_args(&self) -> &LogArgs {
        &self.log
    }

    fn into_config(self, matches: &clap::ArgMatches) -> Result<Config, UsageError> {
        Cli::into_config(self, matches)
    }

    fn metrics_addr(config: &Config) -> Option<std::net::SocketAddr> {
        config.metrics_addr
    }
}

fn main() {
    // One thread (the default): the work is waiting for events and running a few actions in
    // order.
    podkit::daemon::main::<Cli, _, _>(run::run)
}
