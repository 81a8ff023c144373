//! SIGTERM and SIGINT turned into one shutdown signal that every task can wait for, and a drain
//! bounded by a deadline that a second request cuts short.
//!
//! It owns the stop signals of the tokio-based tools and the drain's deadline. It does not know
//! what a tool drains (open connections, queued actions) nor how it exits: the tool logs the
//! [`Cause`] and picks its exit code. SIGHUP (reload) is not a stop signal and is not handled here.
//! podkit-init handles its signals without tokio and never links this module.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use std::time::Duration;
//! use podkit::shutdown::{Drained, Shutdown};
//!
//! let shutdown = Shutdown::install()?;
//! // ... spawn the tool's tasks, each with a clone of `shutdown` ...
//! let cause = shutdown.requested().await;
//! podkit::info!("stopping", cause = cause);
//! let open_connections = std::future::pending::<()>(); // the tool's own drain work
//! match shutdown.drain(open_connections, Duration::from_secs(30)).await {
//!     Drained::Finished(()) => podkit::info!("drained"),
//!     Drained::TimedOut => podkit::warn!("drain deadline reached, closing what is left"),
//!     Drained::Interrupted(again) => podkit::warn!("drain cut short", cause = again),
//! }
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

use crate::signal::Signal;

/// What asked the tool to stop; its `Display` (`SIGTERM`, `SIGINT`, `triggered`) is meant for the
/// exit log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// A stop signal: SIGTERM from the kubelet or a container engine, SIGINT from a terminal.
    Signal(Signal),
    /// [`Shutdown::trigger`]: the tool decided to stop for a reason of its own, or a test did.
    Triggered,
}

impl Cause {
    /// The signal, when one caused the stop; a tool that follows the 128+N convention needs it.
    pub fn signal(self) -> Option<Signal> {
        match self {
            Cause::Signal(signal) => Some(signal),
            Cause::Triggered => None,
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Signal(signal) => signal.fmt(f),
            Cause::Triggered => f.write_str("triggered"),
        }
    }
}

/// The first request starts the shutdown and the second ends the drain; later ones change nothing,
/// so the causes a tool logs are the ones that had an effect.
#[derive(Debug, Default, Clone, Copy)]
struct Requests {
    first: Option<Cause>,
    again: Option<Cause>,
}

impl Requests {
    /// Records `cause`; true when it changed anything, so waiters are woken only then.
    fn record(&mut self, cause: Cause) -> bool {
        let slot = if self.first.is_none() {
            &mut self.first
        } else if self.again.is_none() {
            &mut self.again
        } else {
            return false;
        };
        *slot = Some(cause);
        true
    }
}

/// A handle on the process's shutdown: cheap to clone, and every clone sees the same requests, so
/// each task can hold one and wait on it.
///
/// Built once at start-up by [`Shutdown::install`] (signals) or [`Shutdown::manual`] (tests, and
/// tools that stop only for reasons of their own). The state lives in a [`tokio::sync::watch`]
/// channel, so any number of tasks can wait, and one that starts waiting after the request still
/// sees it.
#[derive(Debug, Clone)]
pub struct Shutdown {
    requests: Arc<watch::Sender<Requests>>,
}

/// How a [`Shutdown::drain`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Drained<T> {
    /// The work finished within the deadline, with this output.
    Finished(T),
    /// The deadline came first; the work was dropped, which cancels whatever it owned.
    TimedOut,
    /// Shutdown was requested again (this cause) before the work finished; the work was dropped.
    Interrupted(Cause),
}

impl<T> Drained<T> {
    /// Whether the work finished by itself, as opposed to being cut by the deadline or a request.
    pub fn is_finished(&self) -> bool {
        matches!(self, Drained::Finished(_))
    }
}

impl Shutdown {
    /// Listens for SIGTERM and SIGINT from now on; call it early in `main`'s runtime, before the
    /// tool does anything that should be stopped gracefully.
    ///
    /// Must run within a tokio runtime with I/O enabled (its signal driver); outside one it is an
    /// error, not a panic. Once installed, the signals no longer kill the process by default: the
    /// tool must act on [`requested`](Shutdown::requested), and a second signal ends a
    /// [`drain`](Shutdown::drain) at once, so an impatient operator (or a double Ctrl-C) still
    /// stops it. The handlers stay for the life of the process.
    pub fn install() -> io::Result<Shutdown> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(io::Error::other(
                "shutdown signals need a tokio runtime; install them from within one",
            ));
        }
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        let shutdown = Shutdown::manual();
        let listener = shutdown.clone();
        tokio::spawn(async move {
            loop {
                let signal = tokio::select! {
                    Some(()) = terminate.recv() => Signal::TERM,
                    Some(()) = interrupt.recv() => Signal::INT,
                    // Both streams end only when the runtime shuts down: nothing left to stop.
                    else => return,
                };
                listener.request(Cause::Signal(signal));
            }
        });
        Ok(shutdown)
    }

    /// A handle that no signal triggers, only [`trigger`](Shutdown::trigger): for tests, and for
    /// tools (or parts of one) that stop for reasons of their own.
    pub fn manual() -> Shutdown {
        Shutdown {
            requests: Arc::new(watch::Sender::new(Requests::default())),
        }
    }

    /// Requests shutdown as a signal would: the first call starts it, a second one ends a drain.
    pub fn trigger(&self) {
        self.request(Cause::Triggered);
    }

    fn request(&self, cause: Cause) {
        self.requests
            .send_if_modified(|requests| requests.record(cause));
    }

    /// Whether shutdown has been requested; for loops that check between steps instead of waiting.
    pub fn is_requested(&self) -> bool {
        self.requests.borrow().first.is_some()
    }

    /// What requested the shutdown first, if anything has yet.
    pub fn cause(&self) -> Option<Cause> {
        self.requests.borrow().first
    }

    /// Resolves with the first request's cause; at once if one has already arrived.
    pub async fn requested(&self) -> Cause {
        self.wait(|requests| requests.first).await
    }

    /// Resolves with the cause of the second request: the operator's "stop now". [`drain`]
    /// uses it; a tool with a drain of its own shape can too.
    ///
    /// [`drain`]: Shutdown::drain
    pub async fn requested_again(&self) -> Cause {
        self.wait(|requests| requests.again).await
    }

    async fn wait(&self, pick: fn(&Requests) -> Option<Cause>) -> Cause {
        let mut receiver = self.requests.subscribe();
        // `wait_for` fails only once the sender is gone, and `self` holds it.
        let cause = receiver
            .wait_for(|requests| pick(requests).is_some())
            .await
            .ok()
            .and_then(|requests| pick(&requests));
        match cause {
            Some(cause) => cause,
            None => std::future::pending().await,
        }
    }

    /// Runs `work` (typically "wait until the open connections end") until it finishes, until
    /// `timeout` passes, or until shutdown is requested again, whichever comes first.
    ///
    /// The second request counts from the one that started the shutdown: with SIGTERM, then
    /// SIGINT (or SIGTERM again) during the drain, it ends at once with
    /// [`Drained::Interrupted`]; a request that already came before the drain started ends it
    /// as soon as it starts. A work that is not finished is dropped, so what it owns is
    /// cancelled; the tool closes whatever else is left.
    pub async fn drain<F: Future>(&self, work: F, timeout: Duration) -> Drained<F::Output> {
        tokio::select! {
            // Finished wins a tie: the work's output is never thrown away for nothing.
            biased;
            output = work => Drained::Finished(output),
            again = self.requested_again() => Drained::Interrupted(again),
            () = tokio::time::sleep(timeout) => Drained::TimedOut,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A long deadline that a correct drain never reaches: if the code under test ignored the
    /// interruption, the test would fail with `TimedOut` rather than hang.
    const NEVER: Duration = Duration::from_secs(60);

    #[tokio::test]
    async fn trigger_wakes_every_waiter_with_the_cause() {
        let shutdown = Shutdown::manual();
        let waiters: Vec<_> = (0..4)
            .map(|_| {
                let shutdown = shutdown.clone();
                tokio::spawn(async move { shutdown.requested().await })
            })
            .collect();
        tokio::task::yield_now().await;
        assert!(!shutdown.is_requested());
        assert_eq!(shutdown.cause(), None);

        shutdown.trigger();

        for waiter in waiters {
            assert_eq!(waiter.await.expect("waiter task"), Cause::Triggered);
        }
        assert!(shutdown.is_requested());
        assert_eq!(shutdown.cause(), Some(Cause::Triggered));
    }

    #[tokio::test]
    async fn a_waiter_that_comes_late_sees_the_request_at_once() {
        let shutdown = Shutdown::manual();
        shutdown.request(Cause::Signal(Signal::TERM));
        assert_eq!(
            shutdown.clone().requested().await,
            Cause::Signal(Signal::TERM)
        );
    }

    #[tokio::test]
    async fn the_first_cause_is_kept_and_the_second_is_the_interruption() {
        let shutdown = Shutdown::manual();
        shutdown.request(Cause::Signal(Signal::TERM));
        shutdown.request(Cause::Signal(Signal::INT));
        shutdown.trigger();
        assert_eq!(shutdown.requested().await, Cause::Signal(Signal::TERM));
        assert_eq!(shutdown.requested_again().await, Cause::Signal(Signal::INT));
    }

    #[tokio::test]
    async fn drain_returns_the_output_of_work_that_finishes() {
        let shutdown = Shutdown::manual();
        shutdown.trigger();
        let drained = shutdown.drain(async { 42 }, NEVER).await;
        assert_eq!(drained, Drained::Finished(42));
        assert!(drained.is_finished());
    }

    #[tokio::test]
    async fn drain_deadline_cuts_unfinished_work_and_drops_it() {
        let shutdown = Shutdown::manual();
        shutdown.trigger();
        let (owned, dropped) = tokio::sync::oneshot::channel::<()>();
        let work = async move {
            let _owned = owned;
            std::future::pending::<()>().await
        };

        let drained = shutdown.drain(work, Duration::ZERO).await;

        assert_eq!(drained, Drained::TimedOut);
        assert!(dropped.await.is_err(), "the cut work was dropped");
    }

    #[tokio::test]
    async fn a_second_request_during_the_drain_ends_it_at_once() {
        let shutdown = Shutdown::manual();
        shutdown.request(Cause::Signal(Signal::TERM));
        let impatient = shutdown.clone();
        let work = async move {
            impatient.request(Cause::Signal(Signal::INT));
            std::future::pending::<()>().await
        };

        let drained = shutdown.drain(work, NEVER).await;

        assert_eq!(drained, Drained::Interrupted(Cause::Signal(Signal::INT)));
    }

    #[test]
    fn install_outside_a_runtime_is_an_error_not_a_panic() {
        let error = Shutdown::install().expect_err("no runtime here");
        assert!(error.to_string().contains("tokio runtime"), "{error}");
    }

    #[test]
    fn causes_print_as_the_exit_log_line_wants_them() {
        assert_eq!(Cause::Signal(Signal::TERM).to_string(), "SIGTERM");
        assert_eq!(Cause::Triggered.to_string(), "triggered");
        assert_eq!(Cause::Signal(Signal::INT).signal(), Some(Signal::INT));
        assert_eq!(Cause::Triggered.signal(), None);
    }

    const CHILD: &str = "shutdown::tests::real_signals_as_pid1_of_a_new_pid_namespace";

    /// The signal path for real: this test binary runs [`CHILD`] as PID 1 of a new PID namespace,
    /// where it may signal itself without reaching anything else on the machine.
    #[test]
    fn sigterm_requests_shutdown_and_sigint_cuts_the_drain() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            let why = "creating a PID namespace with unshare needs root";
            let required = std::env::var_os("PODKIT_REQUIRE_ALL").is_some_and(|v| v == "1");
            assert!(
                !required,
                "{CHILD} cannot run: {why} (PODKIT_REQUIRE_ALL=1)"
            );
            eprintln!("skipped sigterm_requests_shutdown_and_sigint_cuts_the_drain: {why}");
            return;
        }
        let test_binary = std::env::current_exe().expect("the test binary's path");
        let output = std::process::Command::new("unshare")
            .args(["--pid", "--fork", "--kill-child"])
            .arg(test_binary)
            .args([
                CHILD,
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .output()
            .expect("unshare starts (util-linux)");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success() && stdout.contains("1 passed"),
            "child in a PID namespace: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
            output.status
        );
    }

    #[tokio::test]
    #[ignore = "run by sigterm_requests_shutdown_and_sigint_cuts_the_drain as PID 1 of a new PID namespace"]
    async fn real_signals_as_pid1_of_a_new_pid_namespace() {
        // SAFETY: getpid has no preconditions.
        let pid = unsafe { libc::getpid() };
        assert_eq!(
            pid, 1,
            "signals itself only as PID 1 of its own PID namespace"
        );
        let raise = |signal: Signal| {
            // SAFETY: kill has no memory preconditions; the target is this process, alone in its
            // PID namespace (checked above), and the handlers are installed before the first call.
            let sent = unsafe { libc::kill(pid, signal.number()) };
            assert_eq!(sent, 0, "kill {signal}: {}", io::Error::last_os_error());
        };
        let shutdown = Shutdown::install().expect("signal handlers install");
        assert!(!shutdown.is_requested());

        raise(Signal::TERM);
        assert_eq!(shutdown.requested().await, Cause::Signal(Signal::TERM));

        let work = async {
            raise(Signal::INT);
            std::future::pending::<()>().await
        };
        let drained = shutdown.drain(work, NEVER).await;
        assert_eq!(drained, Drained::Interrupted(Cause::Signal(Signal::INT)));
        assert_eq!(shutdown.cause(), Some(Cause::Signal(Signal::TERM)));
    }
}
