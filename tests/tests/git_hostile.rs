//! podkit-git facing a hostile repository never writes outside the worktree it checks out: a
//! symlink pointing out of the tree is published as a symlink and nothing is written through it,
//! not even when the next commit puts a directory where the symlink was; a `.git` or `..` entry,
//! which git's own checkout refuses, fails the sync (counted in `/metrics`), leaves the tree
//! published before published, and writes nothing anywhere.
//!
//! "Anywhere" is the whole scratch directory of the test's repository, which holds `--root`, the
//! directory a symlink points at, and the repositories: a file of a refused commit found in it was
//! written where it must not be.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use podkit_tests::daemon::Daemon;
use podkit_tests::git::{clone_of, one_time, sidecar, Entry, GitDaemon, GitRepo, Root};
use podkit_tests::tcp::http_get;
use podkit_tests::wait;

/// Every path under `dir` whose last component is one of `names`, symlinks not followed.
fn found_under(dir: &Path, names: &[&str]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.map_while(Result::ok) {
            let path = entry.path();
            if names.iter().any(|name| entry.file_name() == *name) {
                found.push(path.clone());
            }
            if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                pending.push(path);
            }
        }
    }
    found
}

#[test]
fn a_symlink_out_of_the_tree_is_published_as_a_symlink() {
    let Some(repo) = GitRepo::new("a_symlink_out_of_the_tree_is_published_as_a_symlink") else {
        return;
    };
    repo.write("file", "1\n");
    repo.commit("one");
    let sha = repo.commit_escaping_symlink();
    let daemon = GitDaemon::start(&repo);
    let root = Root::in_repo(&repo, "root");

    let done = one_time(root.args(&daemon.url(), &[]));
    assert_eq!(done.code, Some(0), "{done:#?}");
    assert_eq!(root.published().as_deref(), Some(sha.as_str()));
    let tree = root.tree();
    assert_eq!(tree["escape"], Entry::symlink("../../.."));
    let expected = clone_of(&repo, &daemon.url(), "HEAD", "clone", |_| {});
    assert_eq!(tree, expected.tree);
}

#[test]
fn a_directory_where_a_symlink_was_is_not_written_through_it() {
    let Some(repo) = GitRepo::new("a_directory_where_a_symlink_was_is_not_written_through_it")
    else {
        return;
    };
    repo.write("file", "1\n");
    repo.commit("one");
    // From ROOT/.worktrees/SHA/, `../../../outside` is the directory beside ROOT.
    let outside = repo.dir("outside");
    std::fs::create_dir(&outside).unwrap();
    let (link, through) = repo.commit_through_symlink("link", "../../../outside", "pwned");
    let daemon = GitDaemon::start(&repo);
    let root = Root::in_repo(&repo, "root");

    for (sha, name) in [(&link, "link"), (&through, "through")] {
        let done = one_time(root.args(&daemon.url(), &["--ref", sha]));
        assert_eq!(done.code, Some(0), "{name}: {done:#?}");
        assert_eq!(root.published().as_deref(), Some(sha.as_str()), "{name}");
        let expected = clone_of(&repo, &daemon.url(), sha, &format!("clone-{name}"), |_| {});
        assert_eq!(root.tree(), expected.tree, "{name}");
    }
    assert_eq!(root.tree()["link/pwned"], Entry::file("written through?\n"));
    // The tree before keeps its symlink, resolving to the directory outside, left empty.
    let before = root.dir().join(".worktrees").join(&link).join("link");
    assert!(before.is_symlink(), "{before:?}");
    assert_eq!(
        std::fs::canonicalize(&before).unwrap(),
        std::fs::canonicalize(&outside).unwrap()
    );
    let written: Vec<_> = std::fs::read_dir(&outside).unwrap().collect();
    assert!(
        written.is_empty(),
        "written through the symlink: {written:?}"
    );
    let worktree = root.dir().join(".worktrees").join(&through);
    assert_eq!(
        found_under(root.dir(), &["pwned"]),
        [worktree.join("link/pwned")],
        "pwned only in its worktree"
    );
}

/// A sidecar following `main` of `repo` (one commit pushed already), with `/metrics`, its first
/// commit published; the root and the commit.
fn following(repo: &GitRepo, daemon: &GitDaemon) -> (Daemon, Root, String) {
    let first = repo.rev_parse("HEAD");
    let root = Root::in_repo(repo, "root");
    let sidecar = sidecar(root.args(
        &daemon.url(),
        &["--period", "200ms", "--max-failures", "-1"],
    ))
    .metered()
    .start();
    root.wait_published(&first, &sidecar);
    (sidecar, root, first)
}

/// Waits until a sync failed as a checkout error: `podkit_git_syncs_total{result="checkout_error"}`,
/// a series that appears with the first one, is 1 or more.
fn wait_for_checkout_error(sidecar: &Daemon) {
    let series = "podkit_git_syncs_total{result=\"checkout_error\"} ";
    let counted = wait::within_guard(|| {
        let value: f64 = sidecar.series_starting(series).first()?[series.len()..]
            .parse()
            .ok()?;
        (value >= 1.0).then_some(())
    });
    assert!(
        counted.is_some(),
        "no checkout error counted; the log:\n{}",
        sidecar.log_text()
    );
}

/// Pushes the hostile commit `make` makes, and asserts that the sidecar refuses it: a sync fails
/// as a checkout error, the tree before stays published and ready, and none of `names` (the
/// hostile commit's files) was written anywhere. Then a good commit is published again.
fn assert_refused(test: &str, make: fn(&GitRepo) -> String, names: &[&str]) {
    let Some(repo) = GitRepo::new(test) else {
        return;
    };
    repo.write("file", "1\n");
    repo.commit("one");
    let daemon = GitDaemon::start(&repo);
    let (sidecar, root, first) = following(&repo, &daemon);
    let tree = root.tree();

    make(&repo);
    wait_for_checkout_error(&sidecar);
    // Counted, then logged.
    sidecar.wait_for_log("checkout failed");
    assert_eq!(root.published().as_deref(), Some(first.as_str()));
    assert_eq!(root.tree(), tree);
    assert_eq!(http_get(sidecar.metrics_addr(), "/readyz").0, 200);
    assert_eq!(
        root.worktrees(),
        BTreeSet::from([first.clone()]),
        "nothing left half-made"
    );
    let found = found_under(&repo.dir(""), names);
    assert!(
        found.is_empty(),
        "written: {found:?}\n{}",
        sidecar.log_text()
    );
    assert!(!root.git_dir().join("hooks/post-checkout").exists());

    // The next ordinary commit drops the hostile entry: published again.
    repo.write("file", "2\n");
    let fixed = repo.commit("fixed");
    root.wait_published(&fixed, &sidecar);
    assert_eq!(root.tree()["file"], Entry::file("2\n"));
    let found = found_under(&repo.dir(""), names);
    assert!(
        found.is_empty(),
        "written: {found:?}\n{}",
        sidecar.log_text()
    );
    sidecar.stop().assert_success();
}

#[test]
fn a_dot_git_entry_fails_the_sync_and_leaves_the_tree_published() {
    assert_refused(
        "a_dot_git_entry_fails_the_sync_and_leaves_the_tree_published",
        GitRepo::commit_dot_git,
        &["post-checkout"],
    );
}

#[test]
fn a_dot_dot_entry_fails_the_sync_and_leaves_the_tree_published() {
    assert_refused(
        "a_dot_dot_entry_fails_the_sync_and_leaves_the_tree_published",
        GitRepo::commit_dot_dot,
        &["escaped"],
    );
}
