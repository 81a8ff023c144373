//! podkit-git's loop: sync, publish, run the hooks, wait `--period`; or, with `--one-time`,
//! until the first publish. Failures in a row are counted against `--max-failures`; a stop
//! request interrupts a sync under way and ends the loop.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use podkit::daemon::{Failure, Started};

use crate::cli::{Config, Hooks};
use crate::metrics::Metrics;
use crate::publish::Layout;
use crate::sync::{Plan, SyncError, Synced};

/// How long a sync interrupted by its timeout or a stop gets to return: a transfer stops at its
/// next packet, a checkout at its next file.
const WIND_DOWN: Duration = Duration::from_secs(5);

/// Exit code when syncs failed more than `--max-failures` times in a row.
const EXIT_FAILED: i32 = 1;

pub async fn run(config: Config, started: Started) -> Result<(), Failure> {
    let layout = Layout::new(config.root.clone(), config.link.clone());
    layout
        .prepare()
        .map_err(|e| Failure::usage(format!("--root: cannot make {}", config.root.display()), e))?;
    let _root_lock = layout.lock().map_err(|e| {
        let why = if e.kind() == std::io::ErrorKind::WouldBlock {
            "another podkit-git syncs into it".to_owned()
        } else {
            e.to_string()
        };
        Failure::usage(format!("--root {}", config.root.display()), why)
    })?;
    let metrics = Metrics::register(&started.registry)
        .map_err(|e| Failure::internal("cannot register metrics", e))?;
    if let Some(commit) = layout.published() {
        // A restart: what was published stays served while the first sync runs.
        metrics.commit(commit);
        started.readiness.set_ready();
    }
    let plan = Arc::new(Plan {
        source: config.source,
        reference: config.reference,
        depth: config.depth,
        limits: config.limits,
        layout,
    });
    podkit::info!(
        "starting",
        repo = plan.source,
        reference = plan.reference,
        root = plan.layout.root().display(),
        link = config.link,
        one_time = config.one_time
    );
    for name in crate::cli::unread_gitsync_env() {
        podkit::warn!(
            "variable not read: podkit-git has no such setting (git-sync v3's GIT_SYNC_* are not read; v4's GITSYNC_* and PODKIT_* are)",
            variable = name
        );
    }
    let mut failures: u64 = 0;
    let mut announced: Option<gix::ObjectId> = None;
    let mut backoff = retry_backoff(config.period);
    loop {
        let outcome = tokio::select! {
            outcome = sync_with_timeout(&plan, config.sync_timeout, &metrics) => outcome,
            cause = started.shutdown.requested() => {
                podkit::info!("stopping", cause = cause);
                return Ok(());
            }
        };
        let wait = match outcome {
            Ok(synced) => {
                failures = 0;
                backoff = retry_backoff(config.period);
                let commit = synced.commit();
                // Announced once per commit this process publishes or finds published (a
                // restart: the hooks of a publish cut off by a crash run then); a failed hook is
                // tried again at the next sync.
                if announced != Some(commit) {
                    let worktree = plan.layout.worktree(commit);
                    let hooks = run_hooks(&config.hooks, commit, &worktree, &metrics);
                    let all = tokio::select! {
                        all = hooks => all,
                        cause = started.shutdown.requested() => {
                            // Dropping the hooks kills a command under way with its group.
                            podkit::info!("stopping", cause = cause);
                            return Ok(());
                        }
                    };
                    if all {
                        announced = Some(commit);
                    } else if config.one_time {
                        return Err(Failure::with_code(
                            EXIT_FAILED,
                            plan.source.to_string(),
                            format!("{commit} is published, but a hook failed"),
                        ));
                    }
                }
                started.readiness.set_ready();
                if config.one_time {
                    return Ok(());
                }
                config.period
            }
            Err(error) => {
                failures += 1;
                podkit::error!(
                    "sync failed",
                    repo = plan.source,
                    failures = failures,
                    error = error
                );
                if config.max_failures.is_some_and(|most| failures > most) {
                    return Err(Failure::with_code(
                        EXIT_FAILED,
                        plan.source.to_string(),
                        format!("{error} (failed {failures} time(s) in a row)"),
                    ));
                }
                // One-time: try again soon; a sidecar: at its period, sooner while it backs off.
                backoff.next_delay().min(config.period)
            }
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            cause = started.shutdown.requested() => {
                podkit::info!("stopping", cause = cause);
                return Ok(());
            }
        }
    }
}

/// The waits before retrying a failed sync: 1 s, doubling, at most the period.
fn retry_backoff(period: Duration) -> podkit::backoff::Backoff {
    podkit::backoff::Backoff::new(Duration::from_secs(1), period.max(Duration::from_secs(1)))
}

/// One sync on a thread of its own, within `timeout`: past it, the sync is interrupted and
/// given [`WIND_DOWN`] to return. Dropping the future (a stop) interrupts it too.
async fn sync_with_timeout(
    plan: &Arc<Plan>,
    timeout: Duration,
    metrics: &Metrics,
) -> Result<Synced, SyncError> {
    let interrupt = Arc::new(AtomicBool::new(false));
    let guard = InterruptOnDrop(Arc::clone(&interrupt));
    let (done, result) = tokio::sync::oneshot::channel();
    let thread_plan = Arc::clone(plan);
    let thread_interrupt = Arc::clone(&interrupt);
    let start = Instant::now();
    std::thread::Builder::new()
        .name("sync".to_owned())
        .spawn(move || {
            let _ = done.send(crate::sync::sync(&thread_plan, &thread_interrupt));
        })
        .map_err(|e| SyncError::Local {
            what: "starting the sync thread".to_owned(),
            error: e.to_string(),
        })?;
    tokio::pin!(result);
    let outcome = match tokio::time::timeout(timeout, &mut result).await {
        Ok(outcome) => outcome,
        Err(_) => {
            interrupt.store(true, Ordering::Relaxed);
            // Whatever it returns now, the sync took too long.
            let _ = tokio::time::timeout(WIND_DOWN, &mut result).await;
            Ok(Err(SyncError::TimedOut(timeout)))
        }
    };
    drop(guard);
    let outcome = outcome.unwrap_or(Err(SyncError::Interrupted));
    metrics.synced(&outcome, start.elapsed());
    match &outcome {
        Ok(Synced::Published {
            commit,
            previous,
            written,
            ..
        }) => {
            metrics.commit(*commit);
            podkit::info!(
                "published",
                commit = commit,
                previous = previous.map_or_else(|| "none".to_owned(), |p| p.to_string()),
                files = written.files,
                bytes = written.bytes,
                seconds = format!("{:.3}", start.elapsed().as_secs_f64())
            );
            if written.submodules > 0 {
                podkit::warn!(
                    "submodules are not checked out (gix cannot yet): their directories are empty",
                    count = written.submodules
                );
            }
        }
        Ok(Synced::Unchanged { commit, .. }) => podkit::debug!("unchanged", commit = commit),
        Err(_) => {}
    }
    outcome
}

/// Sets the interrupt flag when the sync's future is dropped before the sync ends: the thread
/// then stops at its next step instead of running on after a stop.
struct InterruptOnDrop(Arc<AtomicBool>);

impl Drop for InterruptOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The hooks after a publish: touch the file, then the webhook and the command in order, each
/// retried on its own; true when all of them succeeded. A failed hook is logged and counted,
/// and does not undo the publish.
async fn run_hooks(
    hooks: &Hooks,
    commit: gix::ObjectId,
    worktree: &std::path::Path,
    metrics: &Metrics,
) -> bool {
    let mut all = true;
    if let Some(file) = &hooks.touch_file {
        let touched = touch(file);
        all &= touched.is_ok();
        metrics.hook("touch", touched.is_ok());
        if let Err(error) = touched {
            podkit::error!("touch failed", file = file.display(), error = error);
        }
    }
    let sha = commit.to_string();
    // git-sync's name for it too, so that its users' scripts work unchanged.
    let vars = [
        ("PODKIT_GIT_SHA", sha.as_str()),
        ("GITSYNC_HASH", sha.as_str()),
    ];
    all &= hooks
        .actions
        .run_with(&[worktree.to_path_buf()], &vars, |action, result| {
            metrics.hook(action.label(), result.is_ok());
            match result {
                Ok(()) => podkit::info!("hook done", hook = action.label(), commit = sha),
                Err(e) => podkit::error!(
                    "hook failed",
                    hook = action.label(),
                    commit = sha,
                    error = e
                ),
            }
        })
        .await;
    all
}

/// Creates `file`, or sets its modification time to now.
fn touch(file: &std::path::Path) -> std::io::Result<()> {
    let opened = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)?;
    opened.set_modified(std::time::SystemTime::now())
}
