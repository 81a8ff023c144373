//! podkit-git's credentials: sent only over https (over http:// or git:// they are refused at
//! start, exit 2), never shown (a refused password fails the sync with one line naming the
//! repository, and the password appears nowhere in the output), and read from `--password-file`
//! before each sync, so that a rotated Secret works at the next sync without a restart.

use podkit_tests::git::{
    assert_failed, one_time, sidecar, GitRepo, HttpGit, HttpOptions, Root, SYNC_FAILED,
};
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
    let done = one_time([
        "--repo",
        &https.url(),
        "--root",
        &root.arg(),
        "--username",
        "reader",
        "--password-file",
        &password.display().to_string(),
        "--cacert",
        &ca,
        "--max-failures",
        "0",
    ]);
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
    let sidecar = sidecar([
        "--repo",
        &https.url(),
        "--root",
        &root.arg(),
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
    ])
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
