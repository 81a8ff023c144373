//! podkit-metrics: the adapter sidecar. StatsD in over UDP, TCP and a unix datagram socket,
//! mapped with statsd_exporter's mapping file unchanged; log lines in through regex rules; JSON
//! documents in through json_exporter-style rules; Prometheus `/metrics` out.
//!
//! A library so that podkit's multi-call binary (bins/toolbox) can hold it; its own binary is
//! `main.rs`.

mod check;
mod cli;
mod ingest;
mod json;
mod logs;
mod mapping;
mod metrics;
mod run;
mod statsd;
mod store;

use crate::cli::Cli;

/// podkit-metrics run with the command line `args` (the program's name first), to its exit.
pub fn main(args: Vec<std::ffi::OsString>) -> ! {
    cli::forget_empty_variables();
    // One thread for the runtime (TCP connections, the sweep, the endpoint); UDP reads on a
    // thread of its own.
    podkit::daemon::main::<Cli, _, _>(args, run::run)
}
