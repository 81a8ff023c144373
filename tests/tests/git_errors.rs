//! How podkit-git fails: a sync that cannot be done (a missing ref, a short commit SHA, which no
//! server resolves, a server that refuses the connection, one that never answers) ends a
//! `--one-time` run with exit 1 and one error line naming the repository, after `--max-failures`
//! more tries; so does a hook that fails after a `--one-time` publish, which stays published.
//! What cannot work at all (an ssh:// URL, a `--link` with a control character) is refused at
//! start with exit 2, naming the flag.

use podkit_tests::git::{
    assert_failed, one_time, sidecar, GitDaemon, GitRepo, HttpGit, HttpOptions, Root, SYNC_FAILED,
};
use podkit_tests::servers::{DeadPort, HttpServer, Scratch};
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
            let done = one_time(root.args(&url, &["--ref", reference]));
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
        let done = one_time(root.args(&url, &["--ref", missing]));
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

#[test]
fn a_short_commit_sha_fails_with_exit_1_hinting_at_40_hex_digits() {
    let test = "a_short_commit_sha_fails_with_exit_1_hinting_at_40_hex_digits";
    let Some(repo) = GitRepo::new(test) else {
        return;
    };
    repo.write("file", "1\n");
    let sha = repo.commit("one");
    let daemon = GitDaemon::start(&repo);
    let Some(http) = HttpGit::start(test, &repo, HttpOptions::default()) else {
        return;
    };
    let file = format!("file://{}", repo.bare_path().display());

    // The commit's own short SHA, as `git log --oneline` shows it, and one of no commit: no
    // server resolves either.
    for url in [daemon.url(), http.url(), file] {
        for short in [&sha[..7], "0123abc"] {
            let root = Root::in_repo(&repo, "root");
            let done = one_time(root.args(&url, &["--ref", short]));
            assert_failed(&done, 1, &[&url, short, "40 hex digits"]);
            assert_eq!(root.published(), None, "{url} {short}");
        }
    }
}

#[test]
fn a_one_time_run_whose_webhook_fails_exits_1_with_the_tree_published() {
    let Some(repo) =
        GitRepo::new("a_one_time_run_whose_webhook_fails_exits_1_with_the_tree_published")
    else {
        return;
    };
    repo.write("file", "1\n");
    let sha = repo.commit("one");
    let daemon = GitDaemon::start(&repo);
    let mut webhook = HttpServer::local();
    let root = Root::in_repo(&repo, "root");
    let done = one_time(root.args(
        &daemon.url(),
        &[
            "--webhook-url",
            &webhook.url("/status/500"),
            "--webhook-retries",
            "0",
        ],
    ));
    assert_failed(&done, 1, &[&daemon.url(), &sha, "a hook failed"]);
    assert_eq!(root.published(), Some(sha), "the publish is not undone");
    assert_eq!(webhook.requests().len(), 1, "one try, no retry");
}

#[test]
fn a_link_with_a_control_character_is_refused_at_start_with_exit_2() {
    let scratch = Scratch::new("git-link-control");
    for link in ["a\nb", "a\rb", "a\tb", "site\n"] {
        sidecar([
            "--repo",
            "git://127.0.0.1:9/origin.git",
            "--root",
            &scratch.file("root"),
            "--link",
            link,
        ])
        .assert_refused(&["--link"]);
    }
    assert!(!scratch.join("root").exists(), "nothing was made");
}
