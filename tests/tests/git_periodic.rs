//! podkit-git as a sidecar: it syncs every `--period`, becomes ready at its first publish,
//! publishes each commit pushed since (the link moved with rename(2): a reader of the link never
//! sees a missing or partial tree), runs its hooks once per new commit and never for a sync that
//! found nothing new (once, too, for the commit it finds published when it starts: a restart
//! announces a publish whose hooks a stop cut off), keeps the tree published before and removes
//! older ones, stops with exit 0 on SIGTERM even while a sync hangs or a hook runs (the hook
//! killed with it), and, killed and restarted on its root, serves the tree it published at once.
//! It holds its root alone (a second podkit-git on it is refused, exit 2), and the locks a
//! stopped run left in the root's repository do not fail the runs after it.
//!
//! Where a test must show that something did not happen (a webhook for an unchanged sync), it
//! waits for later syncs that found nothing new, counted in `/metrics`, and then counts what
//! arrived: the hooks of a publish run before the next sync starts.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use podkit_tests::daemon::Daemon;
use podkit_tests::git::{
    one_time, sidecar, Entry, GitDaemon, GitRepo, Root, PUBLISHED, SYNC_FAILED,
};
use podkit_tests::procs::Pidfd;
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
    let sidecar = sidecar(root.args(
        &daemon.url(),
        &[
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
        ],
    ))
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
    let sidecar = sidecar(root.args(&daemon.url(), &["--period", "20ms"])).start();

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
    let sidecar = sidecar(root.args(&daemon.url(), &["--period", "1h"])).start();
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

#[test]
fn locks_left_by_a_stopped_run_do_not_stop_the_next_run_from_syncing() {
    let Some(repo) =
        GitRepo::new("locks_left_by_a_stopped_run_do_not_stop_the_next_run_from_syncing")
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
    ];
    let done = one_time(&args);
    assert_eq!(done.code, Some(0), "{done:#?}");
    assert_eq!(root.published().as_deref(), Some(first.as_str()));

    // What a run killed in the middle of a fetch leaves: the lock of the shallow file (--depth
    // 1) and the lock of the ref podkit-git keeps the fetched commit in. Each alone failed every
    // later sync.
    for (n, file) in [(2, "shallow"), (3, "refs/podkit/synced")] {
        let locked = root.git_dir().join(file);
        assert!(locked.is_file(), "{} is podkit-git's", locked.display());
        let lock = root.git_dir().join(format!("{file}.lock"));
        std::fs::write(&lock, "").unwrap();
        repo.write("file", format!("{n}\n"));
        let sha = repo.commit(&format!("commit {n}"));

        let done = one_time(&args);
        assert_eq!(done.code, Some(0), "with {}: {done:#?}", lock.display());
        assert_eq!(root.published(), Some(sha), "with {}", lock.display());
        assert_eq!(root.tree()["file"], Entry::file(&format!("{n}\n")));
    }
}

#[test]
fn a_second_podkit_git_on_the_same_root_is_refused_with_exit_2_while_the_first_runs() {
    let Some(repo) = GitRepo::new(
        "a_second_podkit_git_on_the_same_root_is_refused_with_exit_2_while_the_first_runs",
    ) else {
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
    let running = sidecar(&args).start();
    root.wait_published(&first, &running);

    sidecar(&args).assert_refused(&["--root", &root.arg()]);
    // The first one goes on as if nothing happened.
    repo.write("file", "2\n");
    let second = repo.commit("two");
    root.wait_published(&second, &running);
    let log = running.stop().assert_success();
    assert!(!log.contains(SYNC_FAILED), "{log}");
}

/// The processes of a hook, held by pidfds; killed when dropped if still running, so that a
/// podkit-git that left them behind does not leave them to outlive the test.
struct HookProcesses(Vec<Pidfd>);

impl Drop for HookProcesses {
    fn drop(&mut self) {
        for process in &self.0 {
            let _ = process.signal(libc::SIGKILL);
        }
    }
}

#[test]
fn sigterm_while_an_exechook_runs_stops_with_exit_0_and_kills_the_hook() {
    let Some(repo) =
        GitRepo::new("sigterm_while_an_exechook_runs_stops_with_exit_0_and_kills_the_hook")
    else {
        return;
    };
    repo.write("file", "1\n");
    let sha = repo.commit("one");
    let daemon = GitDaemon::start(&repo);
    let root = Root::in_repo(&repo, "root");
    // The shell and the sleep it waits for, both in the hook's process group; their pids written
    // whole (renamed into place) before the wait.
    let pids = repo.dir("hook-pids");
    let exechook = format!(
        "sh -c 'sleep 300 & echo $$ $! > {0}.next && mv {0}.next {0}; wait'",
        pids.display()
    );
    let sidecar = sidecar(root.args(
        &daemon.url(),
        &["--exechook-command", &exechook, "--exechook-timeout", "5m"],
    ))
    .start();
    let written = wait::until("the hook to write its pids", || {
        std::fs::read_to_string(&pids).ok()
    });
    let hook = HookProcesses(
        written
            .split_whitespace()
            .map(|pid| Pidfd::open(pid.parse().expect("a pid")).expect("the hook runs"))
            .collect(),
    );
    assert_eq!(hook.0.len(), 2, "{written:?}");
    assert!(
        hook.0.iter().all(|process| !process.exited()),
        "the hook runs"
    );

    let log = sidecar.stop().assert_success();
    assert!(log.contains("stopping"), "{log}");
    let gone = wait::within_guard(|| hook.0.iter().all(Pidfd::exited).then_some(()));
    assert!(
        gone.is_some(),
        "the hook outlived podkit-git: {written:?}\n{log}"
    );
    assert_eq!(root.published(), Some(sha), "the tree stays published");
}

#[test]
fn a_sidecar_that_finds_its_commit_already_published_runs_its_hooks_once() {
    let Some(repo) =
        GitRepo::new("a_sidecar_that_finds_its_commit_already_published_runs_its_hooks_once")
    else {
        return;
    };
    repo.write("file", "1\n");
    let sha = repo.commit("one");
    let daemon = GitDaemon::start(&repo);
    let root = Root::in_repo(&repo, "root");
    // A run that published and stopped before its hooks told anyone.
    let done = one_time(root.args(&daemon.url(), &[]));
    assert_eq!(done.code, Some(0), "{done:#?}");
    assert_eq!(root.published().as_deref(), Some(sha.as_str()));

    let mut webhook = HttpServer::local();
    let restarted = sidecar(root.args(
        &daemon.url(),
        &[
            "--period",
            PERIOD,
            "--webhook-url",
            &webhook.url("/status/200"),
        ],
    ))
    .metered()
    .start();
    // Three syncs that found nothing new: the first finds the commit published and announces
    // it; hooks run before the next sync starts, so those of the first two have run by the time
    // the third is counted.
    wait_unchanged_syncs(&restarted, 0.0, 3.0);
    let requests = webhook.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    let request = parse_request(&requests[0]);
    assert_eq!(request["path"], "/status/200", "{request}");
    assert_eq!(
        syncs(&restarted, "published"),
        0.0,
        "nothing new was published"
    );
    assert_eq!(root.published(), Some(sha));
    restarted.stop().assert_success();
}
