//! podkit-git: clones a repository into a volume and keeps it fresh, with no git binary inside:
//! gitoxide fetches, each commit is checked out in a worktree of its own, and a symlink swapped
//! with rename(2) publishes it whole.
//!
//! A library so that podkit's multi-call binary (bins/toolbox) can hold it; its own binary is
//! `main.rs`.

mod checkout;
mod cli;
mod fetch;
mod metrics;
mod publish;
mod run;
mod source;
mod sync;
mod transport;

use crate::cli::Cli;

/// podkit-git run with the command line `args` (the program's name first), to its exit.
pub fn main(args: Vec<std::ffi::OsString>) -> ! {
    // Before anything else, while the process has one thread: the environment is changed here.
    cli::adopt_gitsync_env();
    podkit::daemon::main::<Cli, _, _>(args, run::run)
}
