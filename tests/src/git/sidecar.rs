//! podkit-git as its tests run it: a sidecar left running ([`sidecar`]) or a one-time run to its
//! end ([`one_time`]); its `--root` read as a reader of the volume reads it ([`Root`]: the link,
//! the commit it publishes, the tree, the worktrees kept); and what `git clone` checks out for the
//! same URL and ref ([`clone_of`]), the tree a published one must equal.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::daemon::{Daemon, Launch};
use crate::run::{command, run, Finished};
use crate::{bins, wait};

use super::{tree_listing, Entry, GitRepo};

/// What podkit-git logs once its loop starts, after `/metrics` is served (and after a tree
/// published by an earlier run has made it ready).
pub const STARTING: &str = "podkit-git: starting";

/// What podkit-git logs for each new commit it publishes.
pub const PUBLISHED: &str = "podkit-git: published";

/// What podkit-git logs for each failed sync.
pub const SYNC_FAILED: &str = "podkit-git: sync failed";

/// The first words of podkit-git's last line when it exits on an error.
pub const ERROR: &str = "podkit-git: error: ";

/// `podkit-git ARGS`, to be started once its loop starts ([`STARTING`]).
pub fn sidecar<S: AsRef<OsStr>>(args: impl IntoIterator<Item = S>) -> Launch {
    Daemon::tool("git").args(args).ready_when(STARTING)
}

/// `podkit-git --one-time ARGS`, run to its end under the hang guard.
pub fn one_time<S: AsRef<OsStr>>(args: impl IntoIterator<Item = S>) -> Finished {
    one_time_with(args, |_| {})
}

/// As [`one_time`], letting the test adjust the command (its environment).
pub fn one_time_with<S: AsRef<OsStr>>(
    args: impl IntoIterator<Item = S>,
    adjust: impl FnOnce(&mut Command),
) -> Finished {
    let mut podkit_git = command(bins::path("git"));
    podkit_git.arg("--one-time").args(args);
    adjust(&mut podkit_git);
    run(&mut podkit_git)
}

/// Asserts that a run of podkit-git ended with `code` on an error it reported as one line, its
/// last, `podkit-git: error: ...`, holding each of `named`; returns that line.
#[track_caller]
pub fn assert_failed(done: &Finished, code: i32, named: &[&str]) -> String {
    assert_eq!(done.code, Some(code), "{done:#?}");
    let errors: Vec<&str> = done
        .stderr
        .lines()
        .filter(|line| line.starts_with(ERROR))
        .collect();
    assert_eq!(errors.len(), 1, "one error line: {done:#?}");
    assert_eq!(
        done.stderr.lines().last(),
        Some(errors[0]),
        "the error is the last line: {done:#?}"
    );
    for text in named {
        assert!(errors[0].contains(text), "{text:?} named: {done:#?}");
    }
    errors[0].to_owned()
}

/// podkit-git's `--root` and `--link`, read from outside as the application beside it reads the
/// volume. The directory is not made here: podkit-git makes it.
pub struct Root {
    dir: PathBuf,
    link: String,
}

impl Root {
    /// `dir` with the link `link`.
    pub fn new(dir: PathBuf, link: &str) -> Root {
        Root {
            dir,
            link: link.to_owned(),
        }
    }

    /// The directory `NAME` in `repo`'s scratch directory (removed with it), with the link
    /// podkit-git names by default for the repositories the fixtures serve: `origin`.
    pub fn in_repo(repo: &GitRepo, name: &str) -> Root {
        Root::new(repo.dir(name), "origin")
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The directory as `--root` takes it.
    pub fn arg(&self) -> String {
        self.dir.display().to_string()
    }

    /// podkit-git's command line for this root: `--repo URL --root ROOT`, then `more`.
    pub fn args(&self, url: &str, more: &[&str]) -> Vec<String> {
        let mut args = vec![
            "--repo".to_owned(),
            url.to_owned(),
            "--root".to_owned(),
            self.arg(),
        ];
        args.extend(more.iter().map(|arg| (*arg).to_owned()));
        args
    }

    /// `ROOT/LINK`.
    pub fn link(&self) -> PathBuf {
        self.dir.join(&self.link)
    }

    /// What the link holds, as written (`None` while there is no link).
    pub fn target(&self) -> Option<PathBuf> {
        std::fs::read_link(self.link()).ok()
    }

    /// `basename(readlink(ROOT/LINK))`: the commit published, as git-sync's readers take it.
    pub fn published(&self) -> Option<String> {
        let target = self.target()?;
        Some(target.file_name()?.to_string_lossy().into_owned())
    }

    /// The published tree, through the link.
    pub fn tree(&self) -> BTreeMap<String, Entry> {
        tree_listing(&self.link())
    }

    /// The names in `ROOT/.worktrees`.
    pub fn worktrees(&self) -> BTreeSet<String> {
        let dir = self.dir.join(".worktrees");
        std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("list {dir:?}: {e}"))
            .map(|entry| {
                let entry = entry.unwrap_or_else(|e| panic!("list {dir:?}: {e}"));
                entry.file_name().to_string_lossy().into_owned()
            })
            .collect()
    }

    /// podkit-git's own repository, `ROOT/.git`.
    pub fn git_dir(&self) -> PathBuf {
        self.dir.join(".git")
    }

    /// Waits until the link names `sha`; fails with the sidecar's log if it never does.
    #[track_caller]
    pub fn wait_published(&self, sha: &str, sidecar: &Daemon) {
        let reached =
            wait::within_guard(|| (self.published().as_deref() == Some(sha)).then_some(()));
        if reached.is_none() {
            panic!(
                "hung waiting for {sha} to be published in {} (published: {:?}); the log:\n{}",
                self.dir.display(),
                self.published(),
                sidecar.log_text()
            );
        }
    }
}

/// What a `git clone` checked out: the commit and its tree.
#[derive(Debug)]
pub struct Checkout {
    pub sha: String,
    pub tree: BTreeMap<String, Entry>,
}

/// `git clone URL` into `repo`'s scratch directory `name`, at `reference` as podkit-git's
/// `--ref` takes it (`HEAD`: the remote's default branch; a full sha: cloned, then checked out;
/// else `--branch`), with `adjust` setting the client's environment (the CA to trust).
pub fn clone_of(
    repo: &GitRepo,
    url: &str,
    reference: &str,
    name: &str,
    adjust: impl Fn(&mut Command),
) -> Checkout {
    let is_sha = reference.len() == 40 && reference.bytes().all(|b| b.is_ascii_hexdigit());
    let mut git = repo.git_in(&repo.dir(""));
    git.args(["clone", "-q"]);
    if reference != "HEAD" && !is_sha {
        git.args(["--branch", reference]);
    }
    git.args([url, name]);
    adjust(&mut git);
    let done = run(&mut git);
    assert!(
        done.succeeded(),
        "git clone {url} at {reference}: {done:#?}"
    );
    let dir = repo.dir(name);
    if is_sha {
        let mut git = repo.git_in(&dir);
        git.args(["checkout", "-q", reference]);
        adjust(&mut git);
        let done = run(&mut git);
        assert!(done.succeeded(), "git checkout {reference}: {done:#?}");
    }
    Checkout {
        sha: repo.run_in(&dir, &["rev-parse", "HEAD"]),
        tree: tree_listing(&dir),
    }
}
