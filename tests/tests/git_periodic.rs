//! podkit-git as a sidecar: it syncs every `--period`, becomes ready at its first publish,
//! publishes each commit pushed since (the link moved with rename(2): a reader of the link never
//! sees a missing or partial tree), runs its hooks once per new commit and never for a sync that
//! found nothing new, keeps the tree published before and removes older ones, stops with exit 0
//! on SIGTERM even while a sync hangs, and, killed and restarted on its root, serves the tree it
//! published at once.
//!
//! Where a test must show that something did not happen (a webhook for an unchanged sync), it
//! waits for later syncs that found nothing new, counted in `/metrics`, and then counts what
//! arrived: the hooks of a publish run before the next sync starts.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use podkit_tests::daemon::Daemon;
use podkit_tests::git::{sidecar, Entry, GitDaemon, GitRepo, Root, PUBLISHED, SYNC_FAILED};
use podkit_tests::servers::{parse_request, HttpServer, Scratch};
use podkit_tests::tcp::{http_get, SilentServer};
use podkit_tests::wait;

/// Short, so that each test takes seconds.
const PERIOD: &str = "200ms";

/// `podkit_git_syncs_total{result="RESULT"}`.
fn syncs(sidecar: &Daemon, result: &str) -> f64 {
    sidecar.metric(&format!("podkit_git_syncs_total{{result=\"{result}\"}}"))
}

/// Waits until `count` more syncs than `before` found nothing new: by then the hooks of the
/// publish before them have run, and a hook that fired for an unchanged sync has fired too.
fn wait_unchanged_syncs(sidecar: &Daemon, before: f64, count: f64) -> f64 {
    sidecar.wait_for_count(
        "podkit_git_syncs_total{result=\"unchanged\"}",
        before + count,
    )
}

/// The `podkit_git_commit_info` series exposed now.
fn commit_info(sidecar: &Daemon) -> Vec<String> {
    sidecar.series_starting("podkit_git_commit_info{")
}

/// `/readyz`'s status.
fn readyz(sidecar: &Daemon) -> u16 {
    http_get(sidecar.metrics_addr(), "/readyz").0
}

#[test]
fn a_sidecar_is_ready_at_its_first_publish_and_runs_its_hooks_once_per_new_commit() {
    let Some(repo) = GitRepo::new(
        "a_sidecar_is_ready_at_its_first_publish_and_runs_its_hooks_once_per_new_commit",
    ) else {
        return;
    };
    // Nothing pushed yet: there is nothing to publish.
    let daemon = GitDaemon::start(&repo);
    let mut webhook = HttpServer::local();
    let root = Root::in_repo(&repo, "root");
    let shas = repo.dir("exechook-shas");
    let exechook = format!("sh -c 'echo \"$PODKIT_GIT_SHA\" >> {}'", shas.display());
    let touched = root.dir().join("touched");
    let sidecar = sidecar([
        "--repo",
        &daemon.url(),
        "--root",
        &root.arg(),
        "--period",
        PERIOD,
        "--max-failures",
        "-1",
        "--webhook-url",
        &webhook.url("/status/200"),
        "--exechook-command",
        &exechook,
        "--touch-file",
        "touched",
    ])
    .metered()
    .start();

    sidecar.wait_for_log(SYNC_FAILED);
    assert_eq!(readyz(&sidecar), 503, "ready with nothing published");
    assert_eq!(root.published(), None);

    let mut published = Vec::new();
    for n in 1..=3 {
        repo.write("file", format!("{n}\n"));
        let sha = repo.commit(&format!("commit {n}"));
        root.wait_published(&sha, &sidecar);
        published.push(sha.clone());
        wait::until("/readyz to answer 200 after the first publish", || {
            (readyz(&sidecar) == 200).then_some(())
        });
        let unchanged = syncs(&sidecar, "unchanged");
        wait_unchanged_syncs(&sidecar, unchanged, 2.0);

        let what = format!("after commit {n}");
        // The webhook: once per new commit, none for the syncs that found nothing new.
        let requests = webhook.requests();
        assert_eq!(requests.len(), 1, "{what}: {requests:#?}");
        let request = parse_request(&requests[0]);
        assert_eq!(request["method"], "POST", "{what}: {request}");
        assert_eq!(request["path"], "/status/200", "{what}: {request}");
        // The command: once per new commit, with the commit in PODKIT_GIT_SHA.
        let expected: String = published.iter().map(|sha| format!("{sha}\n")).collect();
        assert_eq!(std::fs::read_to_string(&shas).unwrap(), expected, "{what}");
        // The touch file, removed after each check: made again by the next publish.
        assert!(touched.is_file(), "{what}: the --touch-file");
        std::fs::remove_file(&touched).unwrap();
        assert_eq!(syncs(&sidecar, "published"), f64::from(n), "{what}");
        assert_eq!(
            commit_info(&sidecar),
            [format!("podkit_git_commit_info{{sha=\"{sha}\"}} 1")],
            "{what}"
        );
        assert_eq!(root.tree()["file"], Entry::file(&format!("{n}\n")));
        // The tree before stays for a reader that resolved the link before the swap; older ones
        // go.
        let kept: BTreeSet<String> = published.iter().rev().take(2).cloned().collect();
        assert_eq!(root.worktrees(), kept, "{what}");
    }
    assert_eq!(readyz(&sidecar), 200);
    sidecar.stop().assert_success();
}

/// The files every commit of [`a_reader_of_the_link_never_sees_a_missing_or_partial_tree`]
/// writes, each holding the commit's number: a tree with two numbers, or without one of them,
/// was read half-written.
const READ_FILES: &[&str] = &[
    "a", "b/c", "b/d", "e/f/g", "e/f/h", "e/i", "j/k/l/m", "n", "o/p", "q/r/s",
];

/// What one read of the published tree found.
#[derive(Debug)]
enum Read {
    /// Every file, all holding this number, under this worktree.
    Whole(String, u32),
    /// The worktree went away while it was read, and the link had moved on by then: a reader
    /// slower than two publishes, which the layout does not promise to serve (the tree before
    /// the published one is kept, older ones are removed).
    Overtaken,
}

/// Reads the tree the link points at now, as an application does: resolves the link once, then
/// lists and reads every file under the worktree it names. `Ok(None)` before the first publish
/// (`published_before` false); after it, a missing link is a failure.
fn read_published(root: &Root, published_before: bool) -> Result<Option<Read>, String> {
    let Some(target) = root.target() else {
        return match published_before {
            false => Ok(None),
            true => Err("the link is missing".to_owned()),
        };
    };
    let worktree = root.dir().join(&target);
    let sha = target.file_name().unwrap().to_string_lossy().into_owned();
    let read = list_and_read(&worktree);
    match read {
        Ok(read) => whole(&sha, read).map(Some),
        Err(error) => {
            let moved_on = root.target().is_some_and(|now| now != target);
            if moved_on && !worktree.exists() {
                Ok(Some(Read::Overtaken))
            } else {
                Err(format!("{}: {error}", target.display()))
            }
        }
    }
}

/// Every regular file under `dir`, relative, with its contents.
fn list_and_read(dir: &Path) -> std::io::Result<BTreeMap<String, String>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![(dir.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            if entry.file_type()?.is_dir() {
                pending.push((entry.path(), format!("{name}/")));
            } else {
                files.insert(name, std::fs::read_to_string(entry.path())?);
            }
        }
    }
    Ok(files)
}

/// The number every file of a whole tree holds; an error naming what is wrong otherwise.
fn whole(sha: &str, files: BTreeMap<String, String>) -> Result<Read, String> {
    let names: BTreeSet<&str> = files.keys().map(String::as_str).collect();
    if names != READ_FILES.iter().copied().collect() {
        return Err(format!("{sha}: the files are {names:?}"));
    }
    let numbers: BTreeSet<&str> = files.values().map(String::as_str).collect();
    match numbers.iter().collect::<Vec<_>>()[..] {
        [one] => one
            .trim_end()
            .parse()
            .map(|n| Read::Whole(sha.to_owned(), n))
            .map_err(|_| format!("{sha}: {one:?} is not a number")),
        _ => Err(format!("{sha}: mixed contents {numbers:?}")),
    }
}

/// Writes `n` into every file of [`READ_FILES`], commits and pushes; returns the sha.
fn commit_number(repo: &GitRepo, n: u32) -> String {
    for file in READ_FILES {
        repo.write(file, format!("{n}\n"));
    }
    repo.commit(&format!("number {n}"))
}

#[test]
fn a_reader_of_the_link_never_sees_a_missing_or_partial_tree() {
    let Some(repo) = GitRepo::new("a_reader_of_the_link_never_sees_a_missing_or_partial_tree")
    else {
        return;
    };
    let mut numbers = BTreeMap::from([(commit_number(&repo, 0), 0)]);
    let daemon = GitDaemon::start(&repo);
    let root = Arc::new(Root::in_repo(&repo, "root"));
    let sidecar = sidecar([
        "--repo",
        &daemon.url(),
        "--root",
        &root.arg(),
        "--period",
        "20ms",
    ])
    .start();

    let stop = Arc::new(AtomicBool::new(false));
    let seen: Arc<Mutex<Vec<Result<Read, String>>>> = Arc::default();
    let reader = {
        let (root, stop, seen) = (root.clone(), stop.clone(), seen.clone());
        std::thread::spawn(move || {
            let mut published_before = false;
            while !stop.load(Ordering::Relaxed) {
                if let Some(read) = read_published(&root, published_before).transpose() {
                    published_before = true;
                    seen.lock().unwrap().push(read);
                }
            }
        })
    };
    let mut last = String::new();
    for n in 1..=100 {
        last = commit_number(&repo, n);
        numbers.insert(last.clone(), n);
    }
    root.wait_published(&last, &sidecar);
    stop.store(true, Ordering::Relaxed);
    reader.join().expect("the reader");
    let exit = sidecar.stop();
    exit.assert_success();

    let seen = std::mem::take(&mut *seen.lock().unwrap());
    let failures: Vec<&String> = seen.iter().filter_map(|read| read.as_ref().err()).collect();
    assert!(failures.is_empty(), "{failures:#?}\n{}", exit.log_text());
    let mut trees = BTreeSet::new();
    let mut overtaken = 0;
    for read in &seen {
        match read {
            Ok(Read::Whole(sha, n)) => {
                assert_eq!(
                    numbers.get(sha),
                    Some(n),
                    "{sha} holds the number its commit wrote"
                );
                trees.insert(*n);
            }
            Ok(Read::Overtaken) => overtaken += 1,
            Err(_) => unreachable!(),
        }
    }
    assert!(
        trees.contains(&100),
        "the reader saw the last commit: {trees:?}"
    );
    let publishes = exit
        .log
        .iter()
        .filter(|line| line.contains(PUBLISHED))
        .count();
    eprintln!(
        "{} reads of {} trees over {publishes} publishes; {overtaken} reads overtaken by two publishes",
        seen.len(),
        trees.len()
    );
}

#[test]
fn sigterm_stops_a_sidecar_between_syncs_with_exit_0() {
    let Some(repo) = GitRepo::new("sigterm_stops_a_sidecar_between_syncs_with_exit_0") else {
        return;
    };
    repo.write("file", "1\n");
    let sha = repo.commit("one");
    let daemon = GitDaemon::start(&repo);
    let root = Root::in_repo(&repo, "root");
    // A period far longer than the hang guard: only the signal can end the wait.
    let sidecar = sidecar([
        "--repo",
        &daemon.url(),
        "--root",
        &root.arg(),
        "--period",
        "1h",
    ])
    .start();
    root.wait_published(&sha, &sidecar);

    let log = sidecar.stop().assert_success();
    assert!(log.contains("stopping"), "{log}");
    assert_eq!(root.published(), Some(sha), "the tree stays published");
}

#[test]
fn sigterm_stops_a_sidecar_whose_sync_hangs_on_a_silent_server_with_exit_0() {
    let silent = SilentServer::start();
    let scratch = Scratch::new("git-silent");
    for scheme in ["git", "http"] {
        let before = silent.accepted();
        let url = format!("{scheme}://{}/origin.git", silent.addr());
        let sidecar = sidecar([
            "--repo",
            &url,
            "--root",
            &scratch.file(scheme),
            "--sync-timeout",
            "1h",
        ])
        .start();
        wait::until("the sync to connect to the silent server", || {
            (silent.accepted() > before).then_some(())
        });

        let exit = sidecar.stop();
        assert_eq!(exit.code(), Some(0), "{url}: {}", exit.log_text());
        assert!(
            !exit.log_text().contains(SYNC_FAILED),
            "{url}: {}",
            exit.log_text()
        );
    }
}

#[test]
fn a_killed_sidecar_restarted_on_its_root_is_ready_at_once_and_goes_on() {
    let Some(repo) =
        GitRepo::new("a_killed_sidecar_restarted_on_its_root_is_ready_at_once_and_goes_on")
    else {
        return;
    };
    repo.write("file", "1\n");
    let first = repo.commit("one");
    let daemon = GitDaemon::start(&repo);
    let root = Root::in_repo(&repo, "root");
    let args = [
        "--repo".to_owned(),
        daemon.url(),
        "--root".to_owned(),
        root.arg(),
        "--period".to_owned(),
        PERIOD.to_owned(),
    ];
    let killed = sidecar(&args).metered().start();
    root.wait_published(&first, &killed);
    let tree = root.tree();
    killed.signal(libc::SIGKILL);
    let exit = killed.wait();
    assert_eq!(exit.code(), None, "killed: {}", exit.log_text());

    let restarted = sidecar(&args).metered().start();
    // Ready before its first sync has done anything: a tree is published.
    assert_eq!(readyz(&restarted), 200, "{}", restarted.log_text());
    assert_eq!(
        commit_info(&restarted),
        [format!("podkit_git_commit_info{{sha=\"{first}\"}} 1")]
    );
    assert_eq!(root.published().as_deref(), Some(first.as_str()));
    assert_eq!(root.tree(), tree);

    repo.write("file", "2\n");
    let second = repo.commit("two");
    root.wait_published(&second, &restarted);
    assert_eq!(root.tree()["file"], Entry::file("2\n"));
    let expected: BTreeSet<String> = [first, second].into_iter().collect();
    assert_eq!(root.worktrees(), expected);
    restarted.stop().assert_success();
}

#[test]
fn a_revert_to_the_tree_kept_from_before_publishes_that_tree_as_it_is() {
    let Some(repo) =
        GitRepo::new("a_revert_to_the_tree_kept_from_before_publishes_that_tree_as_it_is")
    else {
        return;
    };
    repo.write("file", "1\n");
    let first = repo.commit("one");
    let daemon = GitDaemon::start(&repo);
    let root = Root::in_repo(&repo, "root");
    let sidecar = sidecar([
        "--repo".to_owned(),
        daemon.url(),
        "--root".to_owned(),
        root.arg(),
        "--period".to_owned(),
        PERIOD.to_owned(),
    ])
    .metered()
    .start();
    root.wait_published(&first, &sidecar);
    repo.write("file", "2\n");
    let second = repo.commit("two");
    root.wait_published(&second, &sidecar);
    let kept = root.dir().join(".worktrees").join(&first);
    let inode_before = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&kept).unwrap());
    // A reader still in the tree from before: its open file must stay the published one's.
    let reader = std::fs::File::open(kept.join("file")).unwrap();

    repo.run(&["reset", "--hard", &first]);
    repo.push_all();
    root.wait_published(&first, &sidecar);

    let inode_after = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&kept).unwrap());
    assert_eq!(
        inode_after, inode_before,
        "the kept tree was rebuilt, not reused"
    );
    assert_eq!(root.tree()["file"], Entry::file("1\n"));
    let mut text = String::new();
    std::io::Read::read_to_string(&mut &reader, &mut text).unwrap();
    assert_eq!(text, "1\n");
    sidecar.stop().assert_success();
}
