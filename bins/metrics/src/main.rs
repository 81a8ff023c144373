//! podkit-metrics: the adapter sidecar. StatsD in over UDP, TCP and a unix datagram socket,
//! mapped with statsd_exporter's mapping file unchanged; log lines in through regex rules; JSON
//! documents in through json_exporter-style rules; Prometheus `/metrics` out.

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

fn main() {
    cli::forget_empty_variables();
    // One thread for the runtime (TCP connections, the sweep, the endpoint); UDP reads on a
    // thread of its own.
    podkit::daemon::main::<Cli, _, _>(run::run)
}
