//! podkit-reload: watches ConfigMap and Secret volumes the way the kubelet writes them and, when
//! their content really changes, validates it and calls webhooks, signals processes or runs
//! commands, in order.
//!
//! A library so that podkit's multi-call binary (bins/toolbox) can hold it; its own binary is
//! `main.rs`.

mod cli;
mod health;
mod metrics;
mod run;
mod template;

use crate::cli::Cli;

/// podkit-reload run with the command line `args` (the program's name first), to its exit.
pub fn main(args: Vec<std::ffi::OsString>) -> ! {
    // One thread (the default): the work is waiting for events and running a few actions in
    // order.
    podkit::daemon::main::<Cli, _, _>(args, run::run)
}
