//! Real git for podkit-git's tests: a source repository made with Debian's `git` ([`GitRepo`],
//! with hostile commits a sync must survive), the servers a sync fetches from ([`GitDaemon`] for
//! `git://`, [`HttpGit`] for smart HTTP(S) through `git http-backend`), and a checked-out tree as
//! data ([`tree_listing`]), so that what podkit-git publishes can be compared with `git clone`;
//! and podkit-git itself as its tests run it, its `--root` read as a reader would ([`Root`]).
//!
//! Every git command runs through [`git`]: Debian's binary, with the configuration it needs given
//! on its command line and none read from the machine (no system file, HOME in a scratch
//! directory, no `GIT_*` variable of the environment that ran the tests), so a developer's
//! `~/.gitconfig` (a credential helper, `url.*.insteadOf`, signing) cannot change a result.

mod daemon;
mod http;
mod repo;
mod sidecar;
mod tree;

use std::path::Path;
use std::process::Command;

pub use daemon::GitDaemon;
pub use http::{HttpGit, HttpOptions};
pub use repo::{Blob, GitRepo};
pub use sidecar::{
    assert_failed, clone_of, one_time, one_time_with, sidecar, Checkout, Root, ERROR, PUBLISHED,
    STARTING, SYNC_FAILED,
};
pub use tree::{tree_listing, Bytes, Entry};

use crate::run::command;

/// Debian's git (package `git`), not whichever `git` comes first on PATH: a machine may have
/// another build in /usr/local, and the servers (`git daemon`, `git http-backend`) are this one's.
pub const GIT: &str = "/usr/bin/git";

/// Where Debian's git keeps the programs `git` runs (`git-http-backend`, `git-daemon`).
pub const GIT_EXEC_PATH: &str = "/usr/lib/git-core";

/// The configuration every git command gets on its command line, and nothing else: an identity
/// for commits and tags, `main` for new repositories, `file://` allowed for submodules, no
/// signing, no background maintenance that could still run when a test removes its directory.
const CONFIG: &[&str] = &[
    "user.name=podkit test",
    "user.email=test@podkit.invalid",
    "init.defaultBranch=main",
    "protocol.file.allow=always",
    "commit.gpgSign=false",
    "tag.gpgSign=false",
    "core.autocrlf=false",
    "advice.detachedHead=false",
    "gc.auto=0",
    "maintenance.auto=false",
];

/// `git` as every test runs it: Debian's, with [`CONFIG`], `HOME` set to `home` (which holds no
/// configuration), no system configuration, no `GIT_*` variable inherited, messages in English
/// (tests read them), and never a prompt (a refused password fails at once instead of waiting
/// for a terminal). The caller adds the subcommand, and `GIT_*` variables of its own.
pub fn git(home: &Path) -> Command {
    let mut git = command(GIT);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("GIT_") {
            git.env_remove(name);
        }
    }
    git.env("HOME", home)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("SSH_ASKPASS")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C");
    for setting in CONFIG {
        git.args(["-c", setting]);
    }
    git
}
