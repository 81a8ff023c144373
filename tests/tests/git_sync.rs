//! podkit-git publishes what `git clone` checks out: over every transport it fetches (`git://`,
//! `http://`, `https://` with basic authentication and a private CA, `file://` of a bare and of a
//! work repository), for every kind of `--ref` (the remote's HEAD, a branch, a lightweight and an
//! annotated tag, one named by hex digits as a short SHA could be, the full sha of a branch tip and
//! of a commit no ref names), at `--depth` 1 (a shallow repository) or 0 (the whole history);
//! under the link git-sync's readers expect (`basename(readlink(ROOT/LINK))` is the commit, the
//! target is relative); and configured by git-sync's `GITSYNC_*` variables where no `PODKIT_*` one
//! is set (`GITSYNC_ONE_TIME` read as git-sync reads a boolean), its hook given the commit as
//! git-sync's `GITSYNC_HASH` too.
//!
//! Each test runs `podkit-git --one-time` to its end, then compares `ROOT/LINK` with a `git clone`
//! of the same URL and ref made by Debian's git.

use std::path::PathBuf;
use std::process::Command;

use podkit_tests::run::{command, run, Finished};

use podkit_tests::bins;
use podkit_tests::git::{
    assert_failed, clone_of, one_time, sidecar, tree_listing, Checkout, Entry, GitDaemon, GitRepo,
    HttpGit, HttpOptions, Root,
};

/// A work tree with what a checkout must reproduce: a file, an empty file, an executable, a
/// symlink to a file and one to a directory, nested directories, a name with a space, and bytes
/// that are not text. Committed and pushed; returns the sha.
fn populated(repo: &GitRepo) -> String {
    repo.write("README", "hello\n");
    repo.write("empty", "");
    repo.write("bin/run.sh", "#!/bin/sh\necho run\n");
    repo.set_executable("bin/run.sh", true);
    repo.write("docs/deep/page.txt", "deep\n");
    repo.write("docs/with space.txt", "spaced\n");
    repo.write("data/blob.bin", [0u8, 1, 2, 0xff, b'\n', 0x80]);
    repo.symlink("latest", "docs/deep/page.txt");
    repo.symlink("pages", "docs/deep");
    repo.commit("populated")
}

/// Asserts that `root` publishes `expected` as git-sync does: the link, relative, names
/// `.worktrees/SHA`, and the tree under it is the clone's.
#[track_caller]
fn assert_published(root: &Root, expected: &Checkout, what: &str) {
    assert_eq!(
        root.target(),
        Some(PathBuf::from(format!(".worktrees/{}", expected.sha))),
        "{what}: the link is relative and names the commit's worktree"
    );
    assert_eq!(
        root.published().as_deref(),
        Some(expected.sha.as_str()),
        "{what}"
    );
    assert_eq!(
        root.tree(),
        expected.tree,
        "{what}: the tree git clone checks out"
    );
}

/// `podkit-git --one-time --repo URL --root ROOT ARGS` succeeds, and publishes what `git clone`
/// of `url` checks out; `adjust` sets the clone's environment.
#[track_caller]
fn assert_syncs_like_clone(
    repo: &GitRepo,
    url: &str,
    root: &Root,
    args: &[&str],
    adjust: impl Fn(&mut Command),
) {
    let mut all = vec!["--repo", url];
    let root_arg = root.arg();
    all.extend_from_slice(&["--root", &root_arg]);
    all.extend_from_slice(args);
    let done = one_time(&all);
    assert_eq!(done.code, Some(0), "{url}: {done:#?}");
    let name = format!(
        "clone-of-{}",
        root.dir().file_name().unwrap().to_string_lossy()
    );
    let expected = clone_of(repo, url, "HEAD", &name, adjust);
    assert_published(root, &expected, url);
}

#[test]
fn over_git_daemon_it_publishes_what_git_clone_checks_out() {
    let Some(repo) = GitRepo::new("over_git_daemon_it_publishes_what_git_clone_checks_out") else {
        return;
    };
    let sha = populated(&repo);
    let daemon = GitDaemon::start(&repo);
    let root = Root::in_repo(&repo, "root");

    assert_syncs_like_clone(&repo, &daemon.url(), &root, &[], |_| {});
    assert_eq!(root.published(), Some(sha));
    // The default link is the repository's name without `.git`.
    assert!(root.dir().join("origin").is_symlink());
}

#[test]
fn over_plain_http_it_publishes_what_git_clone_checks_out() {
    let test = "over_plain_http_it_publishes_what_git_clone_checks_out";
    let Some(repo) = GitRepo::new(test) else {
        return;
    };
    populated(&repo);
    let Some(http) = HttpGit::start(test, &repo, HttpOptions::default()) else {
        return;
    };
    let root = Root::in_repo(&repo, "root");

    assert_syncs_like_clone(&repo, &http.url(), &root, &[], |_| {});
}

#[test]
fn over_https_with_basic_auth_and_a_private_ca_it_publishes_what_git_clone_checks_out() {
    let test = "over_https_with_basic_auth_and_a_private_ca_it_publishes_what_git_clone_checks_out";
    let Some(repo) = GitRepo::new(test) else {
        return;
    };
    populated(&repo);
    let options = HttpOptions {
        tls: true,
        basic_auth: Some(("reader", "s3cret")),
    };
    let Some(https) = HttpGit::start(test, &repo, options) else {
        return;
    };
    let ca = https.ca().expect("a CA with TLS");
    let password = repo.dir("password");
    std::fs::write(&password, "s3cret\n").unwrap();
    let root = Root::in_repo(&repo, "root");
    let args = [
        "--username",
        "reader",
        "--password-file",
        &password.display().to_string(),
        "--cacert",
        &ca,
    ];
    let done = one_time(root.args(&https.url(), &args));
    assert_eq!(done.code, Some(0), "{done:#?}");
    assert!(!done.stderr.contains("s3cret"), "{done:#?}");
    let expected = clone_of(
        &repo,
        &https.url_with("reader", "s3cret"),
        "HEAD",
        "clone",
        |git| {
            git.env("GIT_SSL_CAINFO", &ca);
        },
    );
    assert_published(&root, &expected, &https.url());
}

#[test]
fn from_a_bare_repository_path_it_publishes_what_git_clone_checks_out() {
    let Some(repo) =
        GitRepo::new("from_a_bare_repository_path_it_publishes_what_git_clone_checks_out")
    else {
        return;
    };
    populated(&repo);
    let url = format!("file://{}", repo.bare_path().display());
    let root = Root::in_repo(&repo, "root");

    assert_syncs_like_clone(&repo, &url, &root, &[], |_| {});
}

#[test]
fn from_a_work_repository_path_it_publishes_what_git_clone_checks_out() {
    let Some(repo) =
        GitRepo::new("from_a_work_repository_path_it_publishes_what_git_clone_checks_out")
    else {
        return;
    };
    populated(&repo);
    // A change neither committed nor pushed: git clone of the work repository does not see it.
    repo.write("README", "not committed\n");
    let url = format!("file://{}", repo.work_path().display());
    // The default link is the last part of the path: the work repository's directory.
    let root = Root::new(repo.dir("root"), "work");

    assert_syncs_like_clone(&repo, &url, &root, &[], |_| {});
    assert_eq!(root.tree()["README"], Entry::file("hello\n"));
}

/// A history with a commit behind every kind of ref, each a different commit so that a wrong one
/// shows: `main` (HEAD), the branch `feature`, the lightweight tag `light`, the annotated tag
/// `v3`, and a first commit no ref names. Returns (`--ref`, the commit it names) pairs.
fn every_kind_of_ref(repo: &GitRepo) -> Vec<(String, String)> {
    repo.write("file", "1\n");
    let untagged = repo.commit("one");
    repo.write("file", "2\n");
    let light = repo.commit("two");
    repo.tag("light", false);
    repo.write("file", "3\n");
    let annotated = repo.commit("three");
    repo.tag("v3", true);
    repo.write("file", "4\n");
    let main = repo.commit("four");
    repo.branch("feature");
    repo.checkout("feature");
    repo.write("feature.txt", "on the branch\n");
    let feature = repo.commit("five, on feature");
    repo.checkout("main");
    vec![
        ("HEAD".to_owned(), main.clone()),
        ("main".to_owned(), main),
        ("feature".to_owned(), feature.clone()),
        ("light".to_owned(), light),
        ("v3".to_owned(), annotated),
        (feature.clone(), feature),
        (untagged.clone(), untagged),
    ]
}

#[test]
fn every_kind_of_ref_publishes_the_commit_git_clone_checks_out() {
    let Some(repo) = GitRepo::new("every_kind_of_ref_publishes_the_commit_git_clone_checks_out")
    else {
        return;
    };
    let refs = every_kind_of_ref(&repo);
    let daemon = GitDaemon::start(&repo);
    let file = format!("file://{}", repo.bare_path().display());

    for (transport, url) in [("git", daemon.url()), ("file", file)] {
        for (index, (reference, sha)) in refs.iter().enumerate() {
            let what = format!("--ref {reference} over {transport}://");
            let root = Root::in_repo(&repo, &format!("{transport}-{index}"));
            let done = one_time(root.args(&url, &["--ref", reference]));
            assert_eq!(done.code, Some(0), "{what}: {done:#?}");
            let expected = clone_of(
                &repo,
                &url,
                reference,
                &format!("clone-{transport}-{index}"),
                |_| {},
            );
            assert_eq!(&expected.sha, sha, "{what}: git clone's commit");
            assert_published(&root, &expected, &what);
        }
    }
}

/// `git --git-dir ROOT/.git ARGS`: podkit-git's repository, read by git.
fn in_root(repo: &GitRepo, root: &Root, args: &[&str]) -> String {
    let git_dir = root.git_dir().display().to_string();
    let mut all = vec!["--git-dir", &git_dir];
    all.extend_from_slice(args);
    repo.run_in(&repo.dir(""), &all)
}

#[test]
fn depth_1_fetches_a_shallow_repository_and_depth_0_the_whole_history() {
    let test = "depth_1_fetches_a_shallow_repository_and_depth_0_the_whole_history";
    let Some(repo) = GitRepo::new(test) else {
        return;
    };
    for n in 1..=3 {
        repo.write("file", format!("{n}\n"));
        repo.commit(&format!("commit {n}"));
    }
    let tip = repo.rev_parse("HEAD");
    let daemon = GitDaemon::start(&repo);
    let Some(http) = HttpGit::start(test, &repo, HttpOptions::default()) else {
        return;
    };

    for (transport, url) in [("git", daemon.url()), ("http", http.url())] {
        let shallow = Root::in_repo(&repo, &format!("shallow-{transport}"));
        let done = one_time(shallow.args(&url, &["--depth", "1"]));
        assert_eq!(done.code, Some(0), "{url}: {done:#?}");
        assert_eq!(shallow.published().as_deref(), Some(tip.as_str()), "{url}");
        assert_eq!(
            in_root(
                &repo,
                &shallow,
                &["rev-list", "--count", "refs/podkit/synced"]
            ),
            "1",
            "{url}: one commit at --depth 1"
        );
        assert!(shallow.git_dir().join("shallow").is_file(), "{url}");

        let full = Root::in_repo(&repo, &format!("full-{transport}"));
        let done = one_time(full.args(&url, &["--depth", "0"]));
        assert_eq!(done.code, Some(0), "{url}: {done:#?}");
        assert_eq!(full.published().as_deref(), Some(tip.as_str()), "{url}");
        assert_eq!(
            in_root(&repo, &full, &["rev-list", "--count", "refs/podkit/synced"]),
            "3",
            "{url}: the whole history at --depth 0"
        );
        assert!(!full.git_dir().join("shallow").exists(), "{url}");
    }
}

#[test]
fn gitsync_variables_configure_it_and_podkit_ones_win_over_them() {
    let Some(repo) = GitRepo::new("gitsync_variables_configure_it_and_podkit_ones_win_over_them")
    else {
        return;
    };
    let sha = populated(&repo);
    let daemon = GitDaemon::start(&repo);
    let url = daemon.url();

    // Only git-sync's names: the repository, the root, the link, one run.
    let gitsync = Root::new(repo.dir("gitsync"), "site");
    let done = run_with_env(&[
        ("GITSYNC_REPO", url.as_str()),
        ("GITSYNC_ROOT", &gitsync.arg()),
        ("GITSYNC_LINK", "site"),
        ("GITSYNC_ONE_TIME", "true"),
    ]);
    assert_eq!(done.code, Some(0), "{done:#?}");
    assert_eq!(gitsync.published().as_deref(), Some(sha.as_str()));
    assert_eq!(gitsync.tree(), tree_listing(repo.work_path()));

    // Both: PODKIT_ROOT and PODKIT_REF win; GITSYNC_ROOT's directory is never made, and
    // GITSYNC_REF's missing branch is never looked for.
    let ignored = repo.dir("ignored");
    let ours = Root::in_repo(&repo, "ours");
    let done = run_with_env(&[
        ("GITSYNC_REPO", url.as_str()),
        ("GITSYNC_ROOT", &ignored.display().to_string()),
        ("PODKIT_ROOT", &ours.arg()),
        ("GITSYNC_REF", "no-such-branch"),
        ("PODKIT_REF", "main"),
        ("GITSYNC_ONE_TIME", "true"),
    ]);
    assert_eq!(done.code, Some(0), "{done:#?}");
    assert_eq!(ours.published().as_deref(), Some(sha.as_str()));
    assert!(!ignored.exists(), "GITSYNC_ROOT was used: {done:#?}");
}

/// `podkit-git` with only `vars` as configuration (no flag, no other `PODKIT_*` or `GITSYNC_*`
/// variable from the test's environment), run to its end.
fn run_with_env(vars: &[(&str, &str)]) -> Finished {
    let mut podkit_git = command(bins::path("git"));
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("PODKIT_") || name.starts_with("GITSYNC_") {
            podkit_git.env_remove(name);
        }
    }
    podkit_git.envs(vars.iter().copied());
    run(&mut podkit_git)
}

#[test]
fn a_branch_or_tag_named_by_hex_digits_publishes_what_git_clone_checks_out() {
    let Some(repo) =
        GitRepo::new("a_branch_or_tag_named_by_hex_digits_publishes_what_git_clone_checks_out")
    else {
        return;
    };
    // Names a short SHA could have: a tag for a date, a branch spelled in hex. Each names a
    // commit that is not HEAD, so that a fallback to the default branch shows.
    repo.write("file", "1\n");
    let tagged = repo.commit("one");
    repo.tag("20240101", false);
    repo.write("file", "2\n");
    let branched = repo.commit("two");
    repo.branch("deadbeef");
    repo.write("file", "3\n");
    repo.commit("three");
    let daemon = GitDaemon::start(&repo);
    let file = format!("file://{}", repo.bare_path().display());

    for (transport, url) in [("git", daemon.url()), ("file", file)] {
        for (reference, sha) in [("20240101", &tagged), ("deadbeef", &branched)] {
            let what = format!("--ref {reference} over {transport}://");
            let root = Root::in_repo(&repo, &format!("{transport}-{reference}"));
            let done = one_time(root.args(&url, &["--ref", reference]));
            assert_eq!(done.code, Some(0), "{what}: {done:#?}");
            let name = format!("clone-{transport}-{reference}");
            let expected = clone_of(&repo, &url, reference, &name, |_| {});
            assert_eq!(&expected.sha, sha, "{what}: git clone's commit");
            assert_published(&root, &expected, &what);
        }
    }
}

#[test]
fn the_exechook_gets_the_commit_as_gitsync_hash_too() {
    let Some(repo) = GitRepo::new("the_exechook_gets_the_commit_as_gitsync_hash_too") else {
        return;
    };
    repo.write("file", "1\n");
    let sha = repo.commit("one");
    let daemon = GitDaemon::start(&repo);
    let root = Root::in_repo(&repo, "root");
    let seen = repo.dir("hook-saw");
    // git-sync's scripts read GITSYNC_HASH.
    let exechook = format!(
        "sh -c 'echo \"$PODKIT_GIT_SHA $GITSYNC_HASH\" > {}'",
        seen.display()
    );
    let done = one_time(root.args(&daemon.url(), &["--exechook-command", &exechook]));
    assert_eq!(done.code, Some(0), "{done:#?}");
    assert_eq!(
        std::fs::read_to_string(&seen).unwrap(),
        format!("{sha} {sha}\n"),
        "PODKIT_GIT_SHA, then GITSYNC_HASH"
    );
}

#[test]
fn gitsync_one_time_is_read_as_git_sync_reads_a_boolean() {
    let Some(repo) = GitRepo::new("gitsync_one_time_is_read_as_git_sync_reads_a_boolean") else {
        return;
    };
    repo.write("file", "1\n");
    let sha = repo.commit("one");
    let daemon = GitDaemon::start(&repo);
    let url = daemon.url();

    // Go's strconv.ParseBool, as git-sync reads it: each of these is true.
    for (n, value) in ["True", "TRUE", "t", "T", "1", "true"].iter().enumerate() {
        let root = Root::in_repo(&repo, &format!("root-{n}"));
        let done = run_with_env(&[
            ("GITSYNC_REPO", url.as_str()),
            ("GITSYNC_ROOT", &root.arg()),
            ("GITSYNC_ONE_TIME", value),
        ]);
        assert_eq!(done.code, Some(0), "GITSYNC_ONE_TIME={value}: {done:#?}");
        assert_eq!(root.published().as_deref(), Some(sha.as_str()), "{value}");
    }
    // And this one false: a sidecar.
    let root = Root::in_repo(&repo, "sidecar");
    let sidecar = sidecar(root.args(&url, &[]))
        .env("GITSYNC_ONE_TIME", "False")
        .start();
    assert!(
        sidecar.ready_line().contains("one_time=false"),
        "{}",
        sidecar.ready_line()
    );
    sidecar.stop().assert_success();
}

#[test]
fn podkit_one_time_takes_every_form_of_a_podkit_switch() {
    let Some(repo) = GitRepo::new("podkit_one_time_takes_every_form_of_a_podkit_switch") else {
        return;
    };
    repo.write("file", "1\n");
    let sha = repo.commit("one");
    let daemon = GitDaemon::start(&repo);
    let url = daemon.url();
    // The convention of every podkit switch's variable: true, false, 1 or 0, any case, blanks
    // around ignored.
    for (n, value) in ["1", "true", "TRUE", " true "].iter().enumerate() {
        let root = Root::in_repo(&repo, &format!("root-{n}"));
        let done = run(command(bins::path("git"))
            .args(root.args(&url, &[]))
            .env("PODKIT_ONE_TIME", value));
        assert_eq!(done.code, Some(0), "PODKIT_ONE_TIME={value:?}: {done:#?}");
        assert_eq!(root.published().as_deref(), Some(sha.as_str()), "{value:?}");
    }
    let root = Root::in_repo(&repo, "refused");
    let done = run(command(bins::path("git"))
        .args(root.args(&url, &[]))
        .env("PODKIT_ONE_TIME", "yes"));
    assert_failed(&done, 2, &["PODKIT_ONE_TIME"]);
}
