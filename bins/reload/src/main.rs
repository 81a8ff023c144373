//! podkit-reload: watches ConfigMap and Secret volumes the way the kubelet writes them and, when
//! their content really changes, validates it and calls webhooks, signals processes or runs
//! commands, in order.

mod cli;
mod metrics;
mod run;
mod template;

use podkit::cli::UsageError;
use podkit::daemon::Daemon;

use crate::cli::{Cli, Config};

impl Daemon for Cli {
    type Config = Config;
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
