//! `podkit-probe wait`: every target checked in parallel until all pass, then CMD.
//!
//! Each target retries with exponential backoff and jitter, from 50 ms up to `--interval`, so a
//! dependency that comes up is seen at once and one that stays down is not hammered. All of it
//! runs on one thread. On timeout the exit code is the worst final verdict and CMD never runs.

use std::ffi::OsString;
use std::time::{Duration, Instant};

use podkit::backoff::Backoff;

use crate::cli::Output;
use crate::outcome::{Finding, Outcome, TimedOut, Verdict};
use crate::target::Target;

const FIRST_RETRY: Duration = Duration::from_millis(50);
/// One attempt may take this long at least (a TLS handshake to a slow peer), or `--interval`.
const MIN_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(1);

/// Waits for every target, printing each one's outcome when it passes (or when time runs out).
/// Returns the worst final verdict: `Healthy` means all passed.
pub async fn wait_all(
    targets: Vec<(String, Target)>,
    timeout: Duration,
    interval: Duration,
    output: Output,
) -> Verdict {
    let deadline = Instant::now() + timeout;
    let mut handles = Vec::new();
    let local = tokio::task::LocalSet::new();
    for (name, target) in targets {
        handles.push(local.spawn_local(async move {
            let outcome = wait_one(name, target, deadline, interval).await;
            outcome.print(output);
            outcome.verdict
        }));
    }
    local
        .run_until(async {
            let mut worst = Verdict::Healthy;
            for handle in handles {
                worst = worst.max(handle.await.unwrap_or(Verdict::Unreachable));
            }
            worst
        })
        .await
}

/// Retries one target until it passes or the deadline comes, and returns the last attempt's
/// outcome: the real reason it gave up. An attempt that only the deadline cut short says nothing
/// about the target, so the attempt before it is reported instead.
async fn wait_one(name: String, target: Target, deadline: Instant, interval: Duration) -> Outcome {
    let started = Instant::now();
    let attempt_timeout = interval.max(MIN_ATTEMPT_TIMEOUT);
    // `--interval 0s` is allowed, but never below the first step: no busy loop on a dead target.
    let mut pauses = Backoff::new(FIRST_RETRY, interval.max(FIRST_RETRY));
    let mut previous: Option<Finding> = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let cut_by_deadline = left < attempt_timeout;
        let finding = match target.attempt(attempt_timeout.min(left)).await {
            Ok(finding) => finding,
            Err(TimedOut) => match previous.take().filter(|_| cut_by_deadline) {
                Some(previous) => previous,
                None => Finding::unreachable("attempt timed out".to_owned()),
            },
        };
        if finding.verdict == Verdict::Healthy {
            return finding.into_outcome(name, started.elapsed());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if !left.is_zero() {
            podkit::debug!(
                "not ready yet",
                target = name,
                detail = finding.detail.as_deref().unwrap_or("-")
            );
            tokio::time::sleep(pauses.next_delay().min(left)).await;
        }
        if Instant::now() >= deadline {
            let detail = finding.detail.map(|d| format!("gave up waiting: {d}"));
            return Finding { detail, ..finding }.into_outcome(name, started.elapsed());
        }
        previous = Some(finding);
    }
}

/// Replaces podkit-probe with CMD; returns only if exec failed, with the shell's exit code.
pub fn exec(command: &[OsString]) -> i32 {
    use std::os::unix::process::CommandExt;
    let (program, args) = command
        .split_first()
        .expect("clap requires a command after --");
    let error = std::process::Command::new(program).args(args).exec();
    eprintln!(
        "podkit-probe: error: cannot run {}: {error}",
        program.to_string_lossy()
    );
    podkit::cli::exec_failure_code(&error)
}
