//! How podkit-git fails: a sync that cannot be done (a missing ref, a server that refuses the
//! connection, one that never answers) ends a `--one-time` run with exit 1 and one error line
//! naming the repository, after `--max-failures` more tries; what cannot work at all (an ssh://
//! URL) is refused at start with exit 2, naming the flag.

use podkit_tests::git::{
    assert_failed, one_time, sidecar, GitDaemon, GitRepo, HttpGit, HttpOptions, Root, SYNC_FAILED,
};
use podkit_tests::servers::{DeadPort, Scratch};
use podkit_tests::tcp::SilentServer;

#[test]
fn a_missing_branch_or_tag_fails_with_exit_1_naming_it() {
    let test = "a_missing_branch_or_tag_fails_with_exit_1_naming_it";
    let Some(repo) = GitRepo::new(test) else {
        return;
    };
    repo.write("file", "1\n");
    repo.commit("one");
    let daemon = GitDaemon::start(&repo);
    let Some(http) = HttpGit::start(test, &repo, HttpOptions::default()) else {
        return;
    };
    let file = format!("file://{}", repo.bare_path().display());

    for url in [daemon.url(), http.url(), file] {
        for reference in ["no-such-branch", "no-such-tag", "refs/tags/no-such-tag"] {
            let root = Root::in_repo(&repo, "root");
            let done = one_time(["--repo", &url, "--root", &root.arg(), "--ref", reference]);
            assert_failed(&done, 1, &[&url, reference]);
            assert_eq!(root.published(), None, "{url} {reference}");
        }
    }
}

#[test]
fn a_missing_commit_sha_fails_with_exit_1_naming_it() {
    let test = "a_missing_commit_sha_fails_with_exit_1_naming_it";
    let Some(repo) = GitRepo::new(test) else {
        return;
    };
    repo.write("file", "1\n");
    repo.commit("one");
    let daemon = GitDaemon::start(&repo);
    let Some(http) = HttpGit::start(test, &repo, HttpOptions::default()) else {
        return;
    };
    let file = format!("file://{}", repo.bare_path().display());
    let missing = "0123456789abcdef0123456789abcdef01234567";

    let mut wrong = Vec::new();
    for url in [daemon.url(), http.url(), file] {
        let root = Root::in_repo(&repo, "root");
        let done = one_time(["--repo", &url, "--root", &root.arg(), "--ref", missing]);
        assert_eq!(done.code, Some(1), "{done:#?}");
        let last = done.stderr.lines().last().unwrap_or_default().to_owned();
        if !last.contains(missing) {
            wrong.push(last);
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn an_unreachable_server_fails_with_exit_1_and_one_line() {
    let dead = DeadPort::reserve();
    let scratch = Scratch::new("git-unreachable");
    for scheme in ["git", "http", "https"] {
        let url = format!("{scheme}://{}/origin.git", dead.address);
        let done = one_time(["--repo", &url, "--root", &scratch.file(scheme)]);
        assert_failed(&done, 1, &[&url]);
    }
}

#[test]
fn a_silent_server_fails_at_the_sync_timeout_with_exit_1() {
    let silent = SilentServer::start();
    let scratch = Scratch::new("git-silent-timeout");
    for scheme in ["git", "http"] {
        let url = format!("{scheme}://{}/origin.git", silent.addr());
        let done = one_time([
            "--repo",
            &url,
            "--root",
            &scratch.file(scheme),
            "--sync-timeout",
            "1s",
        ]);
        assert_failed(&done, 1, &[&url, "--sync-timeout 1s"]);
    }
    assert!(silent.accepted() >= 2, "both syncs reached the server");
}

#[test]
fn max_failures_retries_a_one_time_sync_then_exits_1() {
    let dead = DeadPort::reserve();
    let scratch = Scratch::new("git-max-failures");
    let url = format!("git://{}/origin.git", dead.address);
    let done = one_time([
        "--repo",
        &url,
        "--root",
        &scratch.file("root"),
        "--max-failures",
        "2",
    ]);
    assert_failed(&done, 1, &[&url, "failed 3 time(s) in a row"]);
    let attempts: Vec<&str> = done
        .stderr
        .lines()
        .filter(|line| line.contains(SYNC_FAILED))
        .collect();
    assert_eq!(attempts.len(), 3, "the first try and 2 more: {done:#?}");
    for (n, line) in attempts.iter().enumerate() {
        assert!(line.contains(&format!("failures={}", n + 1)), "{line}");
    }
}

#[test]
fn an_ssh_url_is_refused_at_start_with_exit_2() {
    let scratch = Scratch::new("git-ssh");
    for url in [
        "ssh://git@example.com/team/site.git",
        "git@example.com:team/site.git",
    ] {
        sidecar(["--repo", url, "--root", &scratch.file("root")])
            .assert_refused(&["--repo", "ssh"]);
    }
    assert!(!scratch.join("root").exists(), "nothing was made");
}
