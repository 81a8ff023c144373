//! podkit-reload: watches ConfigMap and Secret volumes the way the kubelet writes them and, when
//! their content really changes, validates it and calls webhooks, signals processes or runs
//! commands, in order.

mod action;
mod cli;
mod metrics;
mod run;
mod template;
mod webhook;

use podkit::cli::EXIT_USAGE;

use crate::cli::Cli;

fn main() {
    let config = podkit::cli::parse_or_explain::<Cli>().and_then(|cli| {
        podkit::log::init("podkit-reload", cli.log_level, cli.log_format);
        cli.into_config()
    });
    let config = match config {
        Ok(config) => config,
        Err(error) => {
            eprintln!("podkit-reload: error: {error}");
            std::process::exit(EXIT_USAGE);
        }
    };
    // One thread: the work is waiting for events and running a few actions in order.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let code = match runtime {
        Ok(runtime) => runtime.block_on(run::run(config)),
        Err(e) => {
            eprintln!("podkit-reload: error: cannot start the runtime: {e}");
            1
        }
    };
    std::process::exit(code);
}
