//! The git fixtures podkit-git's tests stand on, checked with the real git client: each server
//! serves what the source repository holds (over `git://`, HTTP, HTTPS with basic auth; shallow;
//! protocol v2), a fetch sees what was pushed since, [`tree_listing`] tells two trees apart, and
//! the hostile commits hold exactly the entries they claim to.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::process::Command;

use podkit_tests::git::{tree_listing, Entry, GitDaemon, GitRepo, HttpGit, HttpOptions};
use podkit_tests::run::{run, Finished};
use podkit_tests::tcp::{connect, SilentServer};
use podkit_tests::wait;

/// `git clone ARGS URL DIR` into the repository's scratch directory `name`, with `adjust`
/// setting the client's environment (the CA to trust).
fn clone(
    repo: &GitRepo,
    url: &str,
    name: &str,
    args: &[&str],
    adjust: impl FnOnce(&mut Command),
) -> Finished {
    let mut git = repo.git_in(&repo.dir(""));
    git.arg("clone").args(args).args([url, name]);
    adjust(&mut git);
    run(&mut git)
}

/// A work tree with a file, an executable, a symlink and a nested directory, committed.
fn populated(repo: &GitRepo) -> String {
    repo.write("README", "hello\n");
    repo.write("bin/run.sh", "#!/bin/sh\necho run\n");
    repo.set_executable("bin/run.sh", true);
    repo.write("docs/deep/page.txt", "deep\n");
    repo.symlink("latest", "docs/deep/page.txt");
    repo.commit("first")
}

/// What [`populated`] checks out as.
fn populated_listing() -> BTreeMap<String, Entry> {
    BTreeMap::from([
        ("README".to_owned(), Entry::file("hello\n")),
        ("bin".to_owned(), Entry::Dir),
        (
            "bin/run.sh".to_owned(),
            Entry::executable("#!/bin/sh\necho run\n"),
        ),
        ("docs".to_owned(), Entry::Dir),
        ("docs/deep".to_owned(), Entry::Dir),
        ("docs/deep/page.txt".to_owned(), Entry::file("deep\n")),
        ("latest".to_owned(), Entry::symlink("docs/deep/page.txt")),
    ])
}

/// `git ls-remote URL` in protocol v2, with the packets traced: the server must answer
/// `version 2`, the protocol gitoxide asks for first.
#[track_caller]
fn assert_speaks_v2(repo: &GitRepo, url: &str, adjust: impl FnOnce(&mut Command)) {
    let mut git = repo.git();
    git.args(["-c", "protocol.version=2", "ls-remote", url])
        .env("GIT_TRACE_PACKET", "1");
    adjust(&mut git);
    let done = run(&mut git);
    assert!(done.succeeded(), "{done:#?}");
    assert!(
        done.stderr.contains("< version 2"),
        "the server answers in protocol v2: {done:#?}"
    );
}

#[test]
fn a_clone_over_git_daemon_checks_out_the_pushed_commit() {
    let Some(repo) = GitRepo::new("a_clone_over_git_daemon_checks_out_the_pushed_commit") else {
        return;
    };
    let sha = populated(&repo);
    let daemon = GitDaemon::start(&repo);

    let done = clone(&repo, &daemon.url(), "clone", &[], |_| {});
    assert!(done.succeeded(), "{done:#?}\n{}", daemon.log());
    let clone = repo.dir("clone");
    assert_eq!(repo.run_in(&clone, &["rev-parse", "HEAD"]), sha);
    assert_eq!(tree_listing(&clone), populated_listing());
    assert_speaks_v2(&repo, &daemon.url(), |_| {});
}

#[test]
fn a_clone_over_plain_http_checks_out_the_pushed_commit() {
    let test = "a_clone_over_plain_http_checks_out_the_pushed_commit";
    let Some(repo) = GitRepo::new(test) else {
        return;
    };
    let sha = populated(&repo);
    let Some(http) = HttpGit::start(test, &repo, HttpOptions::default()) else {
        return;
    };
    assert!(
        http.url().starts_with("http://127.0.0.1:"),
        "{}",
        http.url()
    );
    assert_eq!(http.ca(), None);

    let done = clone(&repo, &http.url(), "clone", &[], |_| {});
    assert!(done.succeeded(), "{done:#?}");
    let clone = repo.dir("clone");
    assert_eq!(repo.run_in(&clone, &["rev-parse", "HEAD"]), sha);
    assert_eq!(tree_listing(&clone), populated_listing());
    assert_speaks_v2(&repo, &http.url(), |_| {});
}

#[test]
fn https_with_basic_auth_serves_the_right_password_and_refuses_a_wrong_one() {
    let test = "https_with_basic_auth_serves_the_right_password_and_refuses_a_wrong_one";
    let Some(repo) = GitRepo::new(test) else {
        return;
    };
    let sha = populated(&repo);
    let options = HttpOptions {
        tls: true,
        basic_auth: Some(("reader", "s3cret")),
    };
    let Some(https) = HttpGit::start(test, &repo, options) else {
        return;
    };
    let ca = https.ca().expect("a CA with TLS");
    let trusting = |git: &mut Command| {
        git.env("GIT_SSL_CAINFO", &ca);
    };

    let done = clone(
        &repo,
        &https.url_with("reader", "s3cret"),
        "ok",
        &[],
        trusting,
    );
    assert!(done.succeeded(), "{done:#?}");
    assert_eq!(repo.run_in(&repo.dir("ok"), &["rev-parse", "HEAD"]), sha);
    assert_speaks_v2(&repo, &https.url_with("reader", "s3cret"), trusting);

    let wrong = clone(
        &repo,
        &https.url_with("reader", "guess"),
        "wrong",
        &[],
        trusting,
    );
    assert!(!wrong.succeeded(), "{wrong:#?}");
    assert!(wrong.stderr.contains("Authentication failed"), "{wrong:#?}");
    let anonymous = clone(&repo, &https.url(), "anonymous", &[], trusting);
    assert!(!anonymous.succeeded(), "{anonymous:#?}");
    // The server's certificate is really checked: a CA that did not sign it is refused.
    let other_ca = https.pki().expect("a PKI with TLS").file("other-ca.crt");
    let untrusted = clone(
        &repo,
        &https.url_with("reader", "s3cret"),
        "untrusted",
        &[],
        |git| {
            git.env("GIT_SSL_CAINFO", &other_ca);
        },
    );
    assert!(!untrusted.succeeded(), "{untrusted:#?}");
    assert!(
        untrusted.stderr.contains("certificate"),
        "a certificate error: {untrusted:#?}"
    );
}

#[test]
fn a_depth_1_clone_has_only_the_last_commit_over_either_server() {
    let test = "a_depth_1_clone_has_only_the_last_commit_over_either_server";
    let Some(repo) = GitRepo::new(test) else {
        return;
    };
    populated(&repo);
    repo.write("README", "second\n");
    let sha = repo.commit("second");
    let daemon = GitDaemon::start(&repo);
    let Some(http) = HttpGit::start(test, &repo, HttpOptions::default()) else {
        return;
    };

    for (url, name) in [(daemon.url(), "over-git"), (http.url(), "over-http")] {
        let done = clone(&repo, &url, name, &["--depth", "1"], |_| {});
        assert!(done.succeeded(), "{url}: {done:#?}");
        let dir = repo.dir(name);
        assert_eq!(repo.run_in(&dir, &["rev-parse", "HEAD"]), sha, "{url}");
        assert_eq!(
            repo.run_in(&dir, &["rev-list", "--count", "HEAD"]),
            "1",
            "{url}"
        );
        assert_eq!(
            repo.run_in(&dir, &["rev-parse", "--is-shallow-repository"]),
            "true",
            "{url}"
        );
    }
}

#[test]
fn a_fetch_sees_commits_pushed_after_the_clone() {
    let test = "a_fetch_sees_commits_pushed_after_the_clone";
    let Some(repo) = GitRepo::new(test) else {
        return;
    };
    populated(&repo);
    let daemon = GitDaemon::start(&repo);
    let options = HttpOptions {
        tls: true,
        basic_auth: Some(("writer", "pw")),
    };
    let Some(https) = HttpGit::start(test, &repo, options) else {
        return;
    };
    let ca = https.ca().expect("a CA with TLS");
    let url = https.url_with("writer", "pw");
    assert!(clone(&repo, &daemon.url(), "reader", &[], |_| {}).succeeded());
    let writer = clone(&repo, &url, "writer", &[], |git| {
        git.env("GIT_SSL_CAINFO", &ca);
    });
    assert!(writer.succeeded(), "{writer:#?}");
    let (reader, writer) = (repo.dir("reader"), repo.dir("writer"));
    repo.run_in(&writer, &["config", "http.sslCAInfo", &ca]);

    // Pushed to the bare repository by the source repository.
    repo.write("README", "moved on\n");
    let pushed = repo.commit("moved on");
    repo.run_in(&reader, &["fetch", "-q", "origin"]);
    assert_eq!(repo.run_in(&reader, &["rev-parse", "origin/main"]), pushed);

    // Pushed over HTTPS by an authenticated user.
    repo.run_in(&writer, &["pull", "-q", "--ff-only"]);
    repo.run_in(
        &writer,
        &["commit", "-q", "--allow-empty", "-m", "over https"],
    );
    repo.run_in(&writer, &["push", "-q", "origin", "main"]);
    let over_https = repo.run_in(&writer, &["rev-parse", "HEAD"]);
    repo.run_in(&reader, &["fetch", "-q", "origin"]);
    assert_eq!(
        repo.run_in(&reader, &["rev-parse", "origin/main"]),
        over_https
    );
    assert_eq!(
        repo.run_in(&reader, &["rev-parse", "origin/main^"]),
        pushed,
        "on top of the source's commit"
    );
}

#[test]
fn tree_listings_of_one_commit_are_equal_and_tell_a_change_apart() {
    let Some(repo) = GitRepo::new("tree_listings_of_one_commit_are_equal_and_tell_a_change_apart")
    else {
        return;
    };
    populated(&repo);
    let daemon = GitDaemon::start(&repo);
    for name in ["one", "two", "three"] {
        assert!(clone(&repo, &daemon.url(), name, &[], |_| {}).succeeded());
    }
    let (one, two, three) = (repo.dir("one"), repo.dir("two"), repo.dir("three"));
    assert_eq!(tree_listing(&one), tree_listing(&two));

    // Each kind of change shows: contents, the executable bit, a symlink's target, a path.
    type Change = (&'static str, fn(&GitRepo));
    let changes: [Change; 4] = [
        ("contents", |r| r.write("docs/deep/page.txt", "deeper\n")),
        ("mode", |r| r.set_executable("bin/run.sh", false)),
        ("target", |r| r.symlink("latest", "README")),
        ("path", |r| r.write("new/file", "")),
    ];
    for (what, change) in changes {
        let before = tree_listing(&three);
        change(&repo);
        repo.commit(what);
        repo.run_in(&three, &["pull", "-q", "--ff-only"]);
        assert_ne!(tree_listing(&three), before, "a change of {what}");
    }
    assert_eq!(tree_listing(&one), tree_listing(&two));
    let after = tree_listing(&three);
    assert_eq!(after["bin/run.sh"], Entry::file("#!/bin/sh\necho run\n"));
    assert_eq!(after["latest"], Entry::symlink("README"));
    assert_eq!(after["new/file"], Entry::file(""));
}

#[test]
fn hostile_commits_hold_the_entries_they_claim() {
    let Some(repo) = GitRepo::new("hostile_commits_hold_the_entries_they_claim") else {
        return;
    };
    populated(&repo);
    // Read from the bare repository: what the servers serve.
    let bare = repo.bare_path();
    let ls_tree = |args: &[&str]| {
        let mut all = vec!["ls-tree"];
        all.extend_from_slice(args);
        repo.run_in(&bare, &all)
    };
    let blob = |sha_path: &str| repo.run_in(&bare, &["cat-file", "blob", sha_path]);

    let escaping = repo.commit_escaping_symlink();
    assert!(ls_tree(&[&escaping, "escape"]).starts_with("120000 blob "));
    assert_eq!(blob(&format!("{escaping}:escape")), "../../..");

    let (link, through) = repo.commit_through_symlink("link", "../../outside", "pwned");
    assert!(ls_tree(&[&link, "link"]).starts_with("120000 blob "));
    assert_eq!(blob(&format!("{link}:link")), "../../outside");
    assert!(ls_tree(&[&through, "link"]).starts_with("040000 tree "));
    assert!(ls_tree(&[&through, "link/pwned"]).starts_with("100644 blob "));
    assert_eq!(repo.rev_parse(&format!("{through}^")), link);

    let dot_git = repo.commit_dot_git();
    let listed = ls_tree(&["-r", "--name-only", &dot_git]);
    assert!(
        listed.lines().any(|l| l == ".git/hooks/post-checkout"),
        "{listed}"
    );
    assert!(ls_tree(&[&dot_git, ".git/hooks/post-checkout"]).starts_with("100755 blob "));
    assert_eq!(repo.rev_parse(&format!("{dot_git}^")), through);

    let dot_dot = repo.commit_dot_dot();
    let listed = ls_tree(&[&dot_dot]);
    // `REV:../escaped` would name a path relative to the current directory: go through the tree.
    let dot_dot_tree = listed
        .lines()
        .find_map(|l| l.strip_prefix("040000 tree ")?.strip_suffix("\t.."))
        .unwrap_or_else(|| panic!("a tree named ..: {listed}"));
    let top: Vec<String> = ls_tree(&["--name-only", &dot_dot])
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(top.contains(&"..".to_owned()), "{top:?}");
    // The rest of the tree is kept: .git replaced nothing, .. sits beside it.
    for kept in [".git", "README", "bin", "docs", "escape", "latest", "link"] {
        assert!(top.contains(&kept.to_owned()), "{kept} in {top:?}");
    }
    assert_eq!(blob(&format!("{dot_dot_tree}:escaped")), "out of the tree");
    assert_eq!(repo.rev_parse("main"), dot_dot);
    assert_eq!(
        repo.run_in(&bare, &["rev-parse", "refs/heads/main"]),
        dot_dot,
        "pushed"
    );

    // git's own checkout refuses them: the commits are as hostile as they look.
    let daemon = GitDaemon::start(&repo);
    let refused = clone(&repo, &daemon.url(), "refused", &[], |_| {});
    assert!(!refused.succeeded(), "{refused:#?}");
    assert!(refused.stderr.contains("invalid path"), "{refused:#?}");

    // The next ordinary commit builds on them with the work tree: the hostile entries are gone.
    repo.write("README", "fixed\n");
    let fixed = repo.commit("fixed");
    assert_eq!(repo.rev_parse(&format!("{fixed}^")), dot_dot);
    let top = ls_tree(&["--name-only", &fixed]);
    assert!(!top.lines().any(|l| l == ".git" || l == ".."), "{top}");
    let done = clone(&repo, &daemon.url(), "fixed", &[], |_| {});
    assert!(done.succeeded(), "{done:#?}");

    // Made first, a hostile commit is a root commit.
    let empty = repo.sibling("empty");
    let root = empty.commit_dot_git();
    assert_eq!(empty.run(&["rev-list", "--count", &root]), "1");
    let listed = empty.run(&["ls-tree", "-r", "--name-only", &root]);
    assert_eq!(listed, ".git/hooks/post-checkout");
}

#[test]
fn a_silent_server_accepts_and_never_answers_until_dropped() {
    let silent = SilentServer::start();
    let mut stream = connect(silent.addr());
    stream
        .write_all(b"0032git-upload-pack /origin.git\0host=127.0.0.1\0")
        .unwrap();
    wait::until("the connection to be accepted", || {
        (silent.accepted() == 1).then_some(())
    });
    // Nothing comes until the server goes: then the connection ends, with no byte before (a
    // reset, as the request was never read).
    drop(silent);
    let mut answer = Vec::new();
    match stream.read_to_end(&mut answer) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("the connection ends when the server goes: {e}"),
    }
    assert_eq!(answer, b"", "the silent server said something");
}

#[test]
fn a_sibling_is_served_beside_origin_as_a_submodule_by_relative_url() {
    let test = "a_sibling_is_served_beside_origin_as_a_submodule_by_relative_url";
    let Some(repo) = GitRepo::new(test) else {
        return;
    };
    populated(&repo);
    let sub = repo.sibling("sub");
    assert_eq!(sub.served_name(), "sub.git");
    sub.write("lib.txt", "from the submodule\n");
    let sub_sha = sub.commit("the submodule's first");
    repo.run(&["submodule", "add", "-q", "../sub.git", "vendor/sub"]);
    repo.commit("a submodule");
    let daemon = GitDaemon::start(&repo);
    let Some(http) = HttpGit::start(test, &repo, HttpOptions::default()) else {
        return;
    };

    for (url, name) in [(daemon.url(), "over-git"), (http.url(), "over-http")] {
        let done = clone(&repo, &url, name, &["--recurse-submodules"], |_| {});
        assert!(done.succeeded(), "{url}: {done:#?}");
        let dir = repo.dir(name);
        let listing = tree_listing(&dir);
        assert_eq!(
            listing["vendor/sub/lib.txt"],
            Entry::file("from the submodule\n"),
            "{url}"
        );
        let checked_out = repo.run_in(&dir.join("vendor/sub"), &["rev-parse", "HEAD"]);
        assert_eq!(checked_out, sub_sha, "{url}");
        let fetched_from = repo.run_in(&dir.join("vendor/sub"), &["remote", "get-url", "origin"]);
        assert_eq!(fetched_from, url.replace("origin.git", "sub.git"));
    }
    assert_eq!(
        daemon.url_of("sub"),
        daemon.url().replace("origin.git", "sub.git")
    );
    assert_eq!(
        http.url_of("sub"),
        http.url().replace("origin.git", "sub.git")
    );
}
