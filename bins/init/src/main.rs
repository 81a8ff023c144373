//! podkit-init: PID 1 for containers. Parses its flags, sets up logging, hands over to
//! [`supervise::run`] and exits with what it returns.

mod cli;
mod reap;
mod signals;
mod spawn;
mod supervise;

fn main() {
    let action = cli::parse(std::env::args_os().skip(1), |name| std::env::var_os(name));
    let code = match action {
        Ok(cli::Action::Help) => {
            print!("{}", cli::HELP);
            0
        }
        Ok(cli::Action::Version) => {
            println!("podkit-init {}", env!("CARGO_PKG_VERSION"));
            0
        }
        Ok(cli::Action::Run(config)) => {
            podkit::log::init("podkit-init", config.log_level, config.log_format);
            supervise::run(&config)
        }
        Err(e) => {
            eprintln!("podkit-init: error: {e} (see podkit-init --help)");
            e.exit_code()
        }
    };
    std::process::exit(code);
}
