//! podkit-reload: watches ConfigMap and Secret volumes the way the kubelet writes them and, when
//! their content really changes, validates it and calls webhooks, signals processes or runs
//! commands, in order.

mod cli;
mod health;
mod metrics;
mod run;
mod template;

use crate::cli::Cli;

fn main() {
    // One thread (the default): the work is waiting for events and running a few actions in
    // order.
    podkit::daemon::main::<Cli, _, _>(run::run)
}
