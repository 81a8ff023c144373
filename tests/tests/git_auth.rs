//! podkit-git's credentials: sent only over https (over http:// or git:// they are refused at
//! start, exit 2), never shown (a refused password fails the sync with one line naming the
//! repository, and the password appears nowhere in the output, nor in a refused URL, nor in the
//! hooks' environment when `PODKIT_REPO` or `GITSYNC_REPO` held it), and read from
//! `--password-file` before each sync, so that a rotated Secret works at the next sync without a
//! restart; a file without end is refused at start. A refused password, or none where the server
//! asks for one, is told as such (`auth_error` in `/metrics`).

use podkit_tests::bins;
use podkit_tests::daemon::Daemon;
use podkit_tests::git::{
    assert_failed, one_time, one_time_with, sidecar, GitRepo, HttpGit, HttpOptions, Root,
    SYNC_FAILED,
};
use podkit_tests::run::{command, run};
use podkit_tests::servers::Scratch;

/// Writes `password` (and a newline, as `echo` does) to `file` whole, as the kubelet updates a
/// Secret: a new file renamed over the old one.
fn write_password(file: &std::path::Path, password: &str) {
    let next = file.with_extension("next");
    std::fs::write(&next, format!("{password}\n")).unwrap();
    std::fs::rename(&next, file).unwrap();
}

#[test]
fn a_wrong_password_fails_with_one_line_naming_the_repository_and_never_shows_it() {
    let test = "a_wrong_password_fails_with_one_line_naming_the_repository_and_never_shows_it";
    let Some(repo) = GitRepo::new(test) else {
        return;
    };
    repo.write("file", "1\n");
    repo.commit("one");
    let options = HttpOptions {
        tls: true,
        basic_auth: Some(("reader", "right-pw-4c1a")),
    };
    let Some(https) = HttpGit::start(test, &repo, options) else {
        return;
    };
    let ca = https.ca().expect("a CA with TLS");
    let wrong = "wrong-pw-7e2b";
    let password = repo.dir("password");
    write_password(&password, wrong);

    let root = Root::in_repo(&repo, "by-file");
    let done = one_time(root.args(
        &https.url(),
        &[
            "--username",
            "reader",
            "--password-file",
            &password.display().to_string(),
            "--cacert",
            &ca,
            "--max-failures",
            "0",
        ],
    ));
    assert_failed(&done, 1, &[&https.url()]);
    assert!(!done.stderr.contains(wrong), "{done:#?}");
    assert_eq!(root.published(), None);

    // Given in the URL, the password is taken out of it: the URL shown has none.
    let root = Root::in_repo(&repo, "in-url");
    let done = one_time([
        "--repo",
        &https.url_with("reader", wrong),
        "--root",
        &root.arg(),
        "--cacert",
        &ca,
    ]);
    assert_failed(&done, 1, &[&https.url()]);
    assert!(!done.stderr.contains(wrong), "{done:#?}");
    assert_eq!(root.published(), None);
}

#[test]
fn credentials_over_http_or_git_are_refused_at_start_with_exit_2() {
    let Some(repo) = GitRepo::new("credentials_over_http_or_git_are_refused_at_start_with_exit_2")
    else {
        return;
    };
    let password = repo.dir("password");
    let secret = "never-shown-5d3f";
    write_password(&password, secret);
    let root = repo.dir("root").display().to_string();
    let password = password.display().to_string();
    for url in [
        "http://127.0.0.1:9/origin.git",
        "git://127.0.0.1:9/origin.git",
    ] {
        let done = sidecar([
            "--repo",
            url,
            "--root",
            &root,
            "--username",
            "reader",
            "--password-file",
            &password,
        ])
        .assert_refused(&["--repo", url]);
        assert!(!done.stderr.contains(secret), "{done:#?}");
    }
    let in_url = format!("http://reader:{secret}@127.0.0.1:9/origin.git");
    let done = sidecar(["--repo", &in_url, "--root", &root])
        .assert_refused(&["--repo", "http://127.0.0.1:9/origin.git"]);
    assert!(!done.stderr.contains(secret), "{done:#?}");
    assert!(!repo.dir("root").exists(), "nothing was made");
}

#[test]
fn a_rotated_password_file_is_used_at_the_next_sync_without_a_restart() {
    let test = "a_rotated_password_file_is_used_at_the_next_sync_without_a_restart";
    let Some(repo) = GitRepo::new(test) else {
        return;
    };
    repo.write("file", "1\n");
    let first = repo.commit("one");
    let (old, new) = ("old-pw-81b0", "new-pw-2a9c");
    let options = HttpOptions {
        tls: true,
        basic_auth: Some(("reader", old)),
    };
    let Some(https) = HttpGit::start(test, &repo, options) else {
        return;
    };
    let ca = https.ca().expect("a CA with TLS");
    let password = repo.dir("password");
    write_password(&password, old);
    let root = Root::in_repo(&repo, "root");
    let sidecar = sidecar(root.args(
        &https.url(),
        &[
            "--username",
            "reader",
            "--password-file",
            &password.display().to_string(),
            "--cacert",
            &ca,
            "--period",
            "200ms",
            "--max-failures",
            "-1",
        ],
    ))
    .start();
    root.wait_published(&first, &sidecar);

    // The host rotates the password: syncs fail until the Secret follows.
    let failed_before = sidecar.count_logged(SYNC_FAILED);
    https.set_password("reader", new);
    repo.write("file", "2\n");
    let second = repo.commit("two");
    sidecar.wait_logged(SYNC_FAILED, failed_before + 1);
    assert_eq!(root.published().as_deref(), Some(first.as_str()));
    write_password(&password, new);
    root.wait_published(&second, &sidecar);

    let log = sidecar.stop().assert_success();
    assert!(!log.contains(old) && !log.contains(new), "{log}");
}

#[test]
fn an_unreadable_password_file_is_refused_at_start_with_exit_2() {
    let scratch = Scratch::new("git-password-file");
    let missing = scratch.file("missing");
    sidecar([
        "--repo",
        "https://127.0.0.1:9/origin.git",
        "--root",
        &scratch.file("root"),
        "--username",
        "reader",
        "--password-file",
        &missing,
    ])
    .assert_refused(&["--password-file", &missing]);
}

#[test]
fn a_password_in_podkit_repo_or_gitsync_repo_is_kept_from_the_hooks_environment() {
    let test = "a_password_in_podkit_repo_or_gitsync_repo_is_kept_from_the_hooks_environment";
    let Some(repo) = GitRepo::new(test) else {
        return;
    };
    repo.write("file", "1\n");
    let sha = repo.commit("one");
    let secret = "in-url-pw-93d1";
    let options = HttpOptions {
        tls: true,
        basic_auth: Some(("reader", secret)),
    };
    let Some(https) = HttpGit::start(test, &repo, options) else {
        return;
    };
    let ca = https.ca().expect("a CA with TLS");

    for variable in ["PODKIT_REPO", "GITSYNC_REPO"] {
        let root = Root::in_repo(&repo, variable);
        let seen = repo.dir(&format!("{variable}.env"));
        let exechook = format!("sh -c 'env > {}'", seen.display());
        let done = one_time_with(
            [
                "--root",
                &root.arg(),
                "--cacert",
                &ca,
                "--exechook-command",
                &exechook,
            ],
            |podkit_git| {
                podkit_git
                    .env_remove("PODKIT_REPO")
                    .env_remove("GITSYNC_REPO")
                    .env(variable, https.url_with("reader", secret));
            },
        );
        assert_eq!(done.code, Some(0), "{variable}: {done:#?}");
        assert_eq!(
            root.published().as_deref(),
            Some(sha.as_str()),
            "{variable}"
        );
        let env = std::fs::read_to_string(&seen).unwrap();
        assert!(env.contains("PODKIT_GIT_SHA="), "the hook ran: {env}");
        assert!(
            !env.contains(secret),
            "{variable}: the hook's environment:\n{env}"
        );
        // The repository is still named, without its credentials.
        let named = format!("{variable}={}", https.url());
        assert!(env.lines().any(|line| line == named), "{named}:\n{env}");
        assert!(!done.stderr.contains(secret), "{done:#?}");
    }
}

#[test]
fn a_refused_repo_url_never_shows_its_password() {
    let scratch = Scratch::new("git-refused-url");
    let secret = "s3cret-8f1e";
    for url in [
        // No such port: gix's parse error quotes its input.
        format!("https://u:{secret}@localhost:99999/x.git"),
        format!("ssh://u:{secret}@example.com/x.git"),
        format!("ftp://u:{secret}@example.com/x.git"),
    ] {
        let done =
            sidecar(["--repo", &url, "--root", &scratch.file("root")]).assert_refused(&["--repo"]);
        assert!(!done.stderr.contains(secret), "{done:#?}");
    }
    assert!(!scratch.join("root").exists(), "nothing was made");
}

#[test]
fn a_refused_scp_like_repo_never_shows_its_password() {
    let scratch = Scratch::new("git-refused-scp");
    let secret = "s3cret-8f1e";
    let url = format!("u:{secret}@example.com:x.git");
    let done =
        sidecar(["--repo", &url, "--root", &scratch.file("root")]).assert_refused(&["--repo"]);
    assert!(!done.stderr.contains(secret), "{done:#?}");
}

#[test]
fn a_password_file_without_end_is_refused_at_start_with_exit_2() {
    let scratch = Scratch::new("git-password-zero");
    // Under a memory cap, far above what podkit-git needs: a read of /dev/zero without a bound
    // fails there for lack of memory instead of refusing the file for what it is.
    let mut capped = command("sh");
    capped
        .args(["-c", "ulimit -v 524288 && exec \"$@\"", "sh"])
        .arg(bins::path("git"))
        .args([
            "--repo",
            "https://127.0.0.1:9/origin.git",
            "--root",
            &scratch.file("root"),
            "--username",
            "reader",
            "--password-file",
            "/dev/zero",
        ]);
    let done = run(&mut capped);
    let line = assert_failed(&done, 2, &["--password-file", "/dev/zero"]);
    assert!(!line.contains("out of memory"), "{line}");
    assert_eq!(done.stdout, "", "{done:#?}");
    assert!(!scratch.join("root").exists(), "nothing was made");
}

/// The `podkit_git_syncs_total` series of failed syncs exposed now (every result but
/// `published` and `unchanged`).
fn failed_syncs(sidecar: &Daemon) -> Vec<String> {
    sidecar
        .series_starting("podkit_git_syncs_total{")
        .into_iter()
        .filter(|series| !series.contains("\"published\"") && !series.contains("\"unchanged\""))
        .collect()
}

#[test]
fn a_wrong_password_is_counted_as_an_auth_error() {
    let test = "a_wrong_password_is_counted_as_an_auth_error";
    let Some(repo) = GitRepo::new(test) else {
        return;
    };
    repo.write("file", "1\n");
    repo.commit("one");
    let options = HttpOptions {
        tls: true,
        basic_auth: Some(("reader", "right-pw-0d4e")),
    };
    let Some(https) = HttpGit::start(test, &repo, options) else {
        return;
    };
    let ca = https.ca().expect("a CA with TLS");
    let password = repo.dir("password");
    write_password(&password, "wrong-pw-61c7");
    let root = Root::in_repo(&repo, "root");
    let sidecar = sidecar(root.args(
        &https.url(),
        &[
            "--username",
            "reader",
            "--password-file",
            &password.display().to_string(),
            "--cacert",
            &ca,
            "--max-failures",
            "-1",
        ],
    ))
    .metered()
    .start();
    // A failed sync is counted before it is logged.
    sidecar.wait_for_log(SYNC_FAILED);
    let failed = failed_syncs(&sidecar);
    assert_eq!(failed.len(), 1, "{failed:#?}\n{}", sidecar.log_text());
    assert!(
        failed[0].starts_with("podkit_git_syncs_total{result=\"auth_error\"} "),
        "{failed:#?}\n{}",
        sidecar.log_text()
    );
    let log = sidecar.stop().assert_success();
    assert!(!log.contains("wrong-pw-61c7"), "{log}");
}

#[test]
fn no_credentials_for_a_server_that_asks_for_them_fails_saying_so() {
    let test = "no_credentials_for_a_server_that_asks_for_them_fails_saying_so";
    let Some(repo) = GitRepo::new(test) else {
        return;
    };
    repo.write("file", "1\n");
    repo.commit("one");
    let options = HttpOptions {
        tls: true,
        basic_auth: Some(("reader", "pw-a3b8")),
    };
    let Some(https) = HttpGit::start(test, &repo, options) else {
        return;
    };
    let ca = https.ca().expect("a CA with TLS");
    let root = Root::in_repo(&repo, "root");
    let done = one_time(root.args(&https.url(), &["--cacert", &ca]));
    assert_failed(&done, 1, &[&https.url(), "asks for credentials"]);
    assert_eq!(root.published(), None);
}
