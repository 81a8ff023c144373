//! podkit-ambassador: a TLS ambassador (plain TCP in from the app, TLS or mTLS out) and a TLS
//! terminator (TLS or mTLS in, plain TCP out to the app), with hot certificate reload, identity
//! rules, half-close, idle and drain handling, and Prometheus metrics.

mod cli;
mod config;
mod material;
mod metrics;
mod net;
mod pipe;
mod proxy;
mod proxy_header;
mod run;
mod slots;

use crate::cli::Cli;

// musl's allocator takes one lock for every allocation; rustls allocates per TLS record and the
// copy loop per burst, from every worker thread.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    podkit::daemon::main::<Cli, _, _>(run::run)
}
