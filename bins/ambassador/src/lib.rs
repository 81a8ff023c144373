//! podkit-ambassador: a TLS ambassador (plain TCP in from the app, TLS or mTLS out) and a TLS
//! terminator (TLS or mTLS in, plain TCP out to the app), with hot certificate reload, identity
//! rules, half-close, idle and drain handling, and Prometheus metrics.
//!
//! A library so that podkit's multi-call binary (bins/toolbox) can hold it; its own binary is
//! `main.rs`.

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

/// podkit-ambassador run with the command line `args` (the program's name first), to its exit.
pub fn main(args: Vec<std::ffi::OsString>) -> ! {
    podkit::daemon::main::<Cli, _, _>(args, run::run)
}
