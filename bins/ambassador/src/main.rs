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

use podkit::cli::EXIT_USAGE;

use crate::cli::Cli;

// musl's allocator takes one lock for every allocation; rustls allocates per TLS record and the
// copy loop per burst, from every worker thread.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let config = podkit::cli::parse_or_explain::<Cli>().and_then(|cli| {
        podkit::log::init("podkit-ambassador", cli.log_level, cli.log_format);
        cli.into_config()
    });
    let config = match config {
        Ok(config) => config,
        Err(error) => {
            eprintln!("podkit-ambassador: error: {error}");
            std::process::exit(EXIT_USAGE);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build();
    let code = match runtime {
        Ok(runtime) => runtime.block_on(run::run(config)),
        Err(e) => {
            eprintln!("podkit-ambassador: error: cannot start the runtime: {e}");
            1
        }
    };
    std::process::exit(code);
}
