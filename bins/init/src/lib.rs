//! podkit-init: PID 1 for containers. Parses its flags, sets up logging, hands over to
//! [`supervise::run`] and exits with what it returns. A library so that podkit's multi-call
//! binary (bins/toolbox) can hold it; its own binary is `main.rs`, [`main`] and nothing else.

mod cli;
mod reap;
mod signals;
mod spawn;
mod supervise;
mod tree;

use std::ffi::OsString;
use std::io::Write;

/// podkit-init run with the command line `args` (the program's name first), to its exit. Any
/// iterator: its own binary hands over `args_os()` as it is, with no Vec (its budget is bytes).
pub fn main<A: IntoIterator<Item = OsString>>(args: A) -> ! {
    let action = cli::parse(args.into_iter().skip(1), |name| std::env::var_os(name));
    let code = match action {
        Ok(cli::Action::Help) => print(cli::HELP),
        Ok(cli::Action::Version) => print(&format!("podkit-init {}\n", env!("CARGO_PKG_VERSION"))),
        Ok(cli::Action::Run(config)) => {
            podkit::log::init("podkit-init", config.log_level, config.log_format);
            supervise::run(&config)
        }
        Err(e) => {
            // Nowhere left to say it if stderr is closed: the exit code still does.
            let _ = writeln!(
                std::io::stderr(),
                "podkit-init: error: {e} (see podkit-init --help)"
            );
            e.exit_code()
        }
    };
    std::process::exit(code);
}

/// Prints `text` to stdout and returns the exit code. A reader that went away (`--help | head
/// -1`) ends podkit-init as it ends tini and every C program: SIGPIPE, quietly, with its default
/// action put back (Rust's runtime ignores it). As PID 1 the kernel spares podkit-init that
/// signal: then the write fails with EPIPE instead, and the exit code is the one a shell would
/// have shown, 128 + SIGPIPE.
fn print(text: &str) -> i32 {
    // SAFETY: restoring the default disposition installs no handler.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => 0,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 128 + libc::SIGPIPE,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "podkit-init: error: stdout: {e}");
            1
        }
    }
}
