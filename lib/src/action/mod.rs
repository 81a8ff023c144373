//! What a tool does after something changed (podkit-reload after a volume update, podkit-git
//! after a sync): call a webhook, signal a process, run a command; in the order given.
//!
//! Each [`Action`] carries its own policy and its own state: a timeout for one attempt, retries
//! with exponential backoff and jitter ([`crate::backoff`]), what its last run did (result,
//! attempts, when), which a tool can log or expose, and the content it last succeeded for, so
//! that the same content tried again ([`Actions::run_for`]) runs only the actions that failed
//! for it. [`Actions`] runs a list in order; a failed action does not stop the ones after it.
//! Every run is cancellable: dropping its future ends it, killing a command's whole process
//! group, so a tool's shutdown can cut a running action at the end of its drain instead of
//! waiting for it.
//!
//! It does not decide when to run (the tool's loop does), whether a change is worth it (the
//! watcher's content hash), nor what a failure means for the tool (podkit-reload tries the
//! content again at its next resync, with [`Actions::run_for`]).
//!
//! ```no_run
//! # async fn run() {
//! use std::time::Duration;
//! use podkit::action::{Action, Actions};
//!
//! let actions = Actions::new(vec![
//!     Action::exec("nginx -s reload".parse().unwrap()).timeout(Duration::from_secs(10)),
//! ]);
//! let changed = [std::path::PathBuf::from("/etc/nginx/conf.d")];
//! let all = actions
//!     .run(&changed, |action, result| match result {
//!         Ok(()) => podkit::info!("reloaded", action = action.label()),
//!         Err(e) => podkit::error!("reload failed", action = action.label(), error = e),
//!     })
//!     .await;
//! # }
//! ```

#[cfg(feature = "clap")]
mod args;
pub mod exec;
pub mod signal;
pub mod webhook;

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

pub use exec::{Command, ExecError, ParseCommandError};
pub use signal::{SendError, Target};
pub use webhook::{Webhook, WebhookError};

#[cfg(feature = "clap")]
pub use args::{values, ActionArgs};

use crate::signal::Signal;

/// How long one attempt of an action may take unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The wait before the first retry; each next one twice as long, with jitter, up to
/// [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(200);
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// What an action does.
// A handful of actions, built once at start: their size does not matter, boxing would only add
// noise to every match.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
#[non_exhaustive]
pub enum Kind {
    /// Calls a webhook.
    Webhook(Webhook),
    /// Sends a signal to the processes of a [`Target`], through [`crate::proc`]'s guarded path.
    Signal(Signal, Target),
    /// Runs a command ([`Command::run`]).
    Exec(Command),
}

/// One action with its policy (timeout, retries) and its state.
#[derive(Debug)]
pub struct Action {
    kind: Kind,
    timeout: Duration,
    retries: u32,
    backoff: (Duration, Duration),
    state: Mutex<State>,
}

/// What an action's runs did so far, as [`Action::state`] shows it.
#[derive(Debug, Clone, Default)]
pub struct State {
    /// Whether a run is under way now.
    pub running: bool,
    /// Runs started since the action was made.
    pub runs: u64,
    /// The last finished run; `None` before the first one ends. A run that was cancelled
    /// (dropped) never finishes and leaves this as it was.
    pub last: Option<LastRun>,
    /// The content (the tool's key for it: a content hash, a commit) this action last succeeded
    /// for, through [`Action::run_for`] or [`Actions::mark_applied`]; `None` before that.
    pub applied: Option<u64>,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct LastRun {
    /// When it ended.
    pub at: SystemTime,
    /// Attempts it took: 1 without retries.
    pub attempts: u32,
    /// Its result; shared, since an error cannot always be copied.
    pub result: Result<(), Arc<ActionError>>,
}

/// Why an action failed, after its retries: one line without secrets.
// Made on a failure only, and kept behind an `Arc`: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
#[non_exhaustive]
pub enum ActionError {
    Webhook(WebhookError),
    Signal(SendError),
    Exec(ExecError),
}

impl fmt::Display for ActionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ActionError::Webhook(error) => error.fmt(f),
            ActionError::Signal(error) => error.fmt(f),
            ActionError::Exec(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for ActionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ActionError::Webhook(error) => error.source(),
            ActionError::Signal(error) => error.source(),
            ActionError::Exec(error) => error.source(),
        }
    }
}

impl Action {
    /// An action with the default policy: a timeout of [`DEFAULT_TIMEOUT`] per attempt and no
    /// retry.
    pub fn new(kind: Kind) -> Action {
        Action {
            kind,
            timeout: DEFAULT_TIMEOUT,
            retries: 0,
            backoff: (FIRST_BACKOFF, MAX_BACKOFF),
            state: Mutex::new(State::default()),
        }
    }

    /// Calls `webhook` ([`Kind::Webhook`]).
    pub fn webhook(webhook: Webhook) -> Action {
        Action::new(Kind::Webhook(webhook))
    }

    /// Runs `command` ([`Kind::Exec`]).
    pub fn exec(command: Command) -> Action {
        Action::new(Kind::Exec(command))
    }

    /// Sends `signal` to `target` ([`Kind::Signal`]).
    pub fn signal(signal: Signal, target: Target) -> Action {
        Action::new(Kind::Signal(signal, target))
    }

    /// How long one attempt may take: a webhook's request, or a command, which is killed with
    /// its process group when it runs longer. A signal is sent at once and is not timed.
    pub fn timeout(mut self, timeout: Duration) -> Action {
        self.timeout = timeout;
        self
    }

    /// How many times a failed attempt is tried again, after a backoff.
    pub fn retries(mut self, retries: u32) -> Action {
        self.retries = retries;
        self
    }

    /// The first backoff between two attempts, and the most it grows to.
    pub fn backoff(mut self, first: Duration, max: Duration) -> Action {
        self.backoff = (first, max);
        self
    }

    pub fn kind(&self) -> &Kind {
        &self.kind
    }

    /// A fixed word for the kind (`webhook`, `signal`, `exec`), for a metric's label.
    pub fn label(&self) -> &'static str {
        match self.kind {
            Kind::Webhook(_) => "webhook",
            Kind::Signal(..) => "signal",
            Kind::Exec(_) => "exec",
        }
    }

    /// A copy of what its runs did so far.
    pub fn state(&self) -> State {
        self.lock().clone()
    }

    /// Carries the action out, trying again after a failure up to its retries; `Err` is the
    /// last attempt's failure, the same one [`State::last`] keeps. `changed` is what changed,
    /// handed to a command as `PODKIT_CHANGED`.
    ///
    /// Dropping the future cancels the run: a running command is killed with its process group,
    /// and the state records no result for it.
    pub async fn run(&self, changed: &[PathBuf]) -> Result<(), Arc<ActionError>> {
        self.run_with(changed, &[]).await
    }

    /// [`Action::run`], a command also getting `vars` in its environment: what the tool knows of
    /// the change beyond its paths (podkit-git's `PODKIT_GIT_SHA`).
    pub async fn run_with(
        &self,
        changed: &[PathBuf],
        vars: &[(&str, &str)],
    ) -> Result<(), Arc<ActionError>> {
        let running = Running::start(self);
        let mut backoff = crate::backoff::Backoff::new(self.backoff.0, self.backoff.1);
        let mut attempts = 0;
        let result = loop {
            attempts += 1;
            match self.attempt(changed, vars).await {
                Ok(()) => break Ok(()),
                Err(error) if attempts > self.retries => break Err(Arc::new(error)),
                Err(error) => {
                    crate::warn!(
                        "action failed, retrying",
                        action = self.label(),
                        attempt = attempts,
                        error = error
                    );
                    tokio::time::sleep(backoff.next_delay()).await;
                }
            }
        };
        running.finish(LastRun {
            at: SystemTime::now(),
            attempts,
            result: result.clone(),
        });
        result
    }

    /// Whether this action last succeeded for `content`: [`Action::run_for`] would not run it.
    pub fn applied(&self, content: u64) -> bool {
        self.lock().applied == Some(content)
    }

    /// Runs the action for `content` unless it already succeeded for it, and records `content`
    /// when it succeeds; `None` when it was skipped. A tool that tries the same content again
    /// (podkit-reload at each resync after a failure) so calls again only what failed: the
    /// healthy webhook is not called, the app not signalled, once more for each retry of a dead
    /// one. Content that differs from the one recorded runs it again, content that came back
    /// included.
    pub async fn run_for(
        &self,
        content: u64,
        changed: &[PathBuf],
    ) -> Option<Result<(), Arc<ActionError>>> {
        if self.applied(content) {
            return None;
        }
        let result = self.run(changed).await;
        let mut state = self.lock();
        state.applied = match result {
            Ok(()) => Some(content),
            // What it did for the content before is undone by this attempt only in part, at
            // best: it no longer holds.
            Err(_) => None,
        };
        drop(state);
        Some(result)
    }

    async fn attempt(&self, changed: &[PathBuf], vars: &[(&str, &str)]) -> Result<(), ActionError> {
        match &self.kind {
            Kind::Webhook(webhook) => webhook
                .call(self.timeout)
                .await
                .map_err(ActionError::Webhook),
            Kind::Exec(command) => command
                .run(changed, vars, self.timeout)
                .await
                .map_err(ActionError::Exec),
            // Reading /proc and sending a signal take microseconds and never wait for the
            // target: nothing to time.
            Kind::Signal(signal, target) => {
                signal::send(*signal, target).map_err(ActionError::Signal)
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is plain data, valid after any panic: a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A run under way: marks the action running, and not running again however the run ends,
/// dropped midway included.
struct Running<'a> {
    action: &'a Action,
}

impl<'a> Running<'a> {
    fn start(action: &'a Action) -> Running<'a> {
        let mut state = action.lock();
        state.running = true;
        state.runs += 1;
        Running { action }
    }

    fn finish(self, last: LastRun) {
        self.action.lock().last = Some(last);
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.action.lock().running = false;
    }
}

/// Actions run in order, each whatever became of the one before.
#[derive(Debug, Default)]
pub struct Actions {
    actions: Vec<Action>,
}

impl Actions {
    pub fn new(actions: Vec<Action>) -> Actions {
        Actions { actions }
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Action> {
        self.actions.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    pub fn len(&self) -> usize {
        self.actions.len()
    }

    /// Runs, in order, each action that has not succeeded for `content` yet ([`Action::run_for`]),
    /// telling `done` how each that ran ended; true when every action has now succeeded for it.
    /// Dropping the future cancels the action under way and runs none after it.
    pub async fn run_for(
        &self,
        content: u64,
        changed: &[PathBuf],
        mut done: impl FnMut(&Action, &Result<(), Arc<ActionError>>),
    ) -> bool {
        let mut all = true;
        for action in &self.actions {
            match action.run_for(content, changed).await {
                None => crate::debug!("already applied", action = action.label()),
                Some(result) => {
                    all &= result.is_ok();
                    done(action, &result);
                }
            }
        }
        all
    }

    /// Records `content` as applied by every action without running any: the content an app
    /// loaded itself at start, which no action needs to tell it about.
    pub fn mark_applied(&self, content: u64) {
        for action in &self.actions {
            action.lock().applied = Some(content);
        }
    }

    /// Runs every action in order, telling `done` how each ended as it ends; true when all of
    /// them succeeded. Dropping the future cancels the action under way and runs none after it.
    pub async fn run(
        &self,
        changed: &[PathBuf],
        done: impl FnMut(&Action, &Result<(), Arc<ActionError>>),
    ) -> bool {
        self.run_with(changed, &[], done).await
    }

    /// [`Actions::run`], each command also getting `vars` in its environment
    /// ([`Action::run_with`]).
    pub async fn run_with(
        &self,
        changed: &[PathBuf],
        vars: &[(&str, &str)],
        mut done: impl FnMut(&Action, &Result<(), Arc<ActionError>>),
    ) -> bool {
        let mut all = true;
        for action in &self.actions {
            let result = action.run_with(changed, vars).await;
            all &= result.is_ok();
            done(action, &result);
        }
        all
    }
}

impl<'a> IntoIterator for &'a Actions {
    type Item = &'a Action;
    type IntoIter = std::slice::Iter<'a, Action>;

    fn into_iter(self) -> Self::IntoIter {
        self.actions.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::path::Path;
    use std::time::Instant;

    /// Far above anything a test waits for; only a hang reaches it.
    const GUARD: Duration = Duration::from_secs(30);

    struct Scratch(PathBuf);

    impl Scratch {
        fn new(label: &str) -> Scratch {
            let dir =
                std::env::temp_dir().join(format!("podkit-action-{label}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("scratch directory");
            Scratch(dir)
        }

        fn file(&self, name: &str) -> String {
            self.0.join(name).display().to_string()
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn exec(text: &str) -> Action {
        Action::exec(text.parse().expect("a command"))
    }

    /// Waits (bounded by [`GUARD`]) for `file` to hold a pid, and returns it.
    async fn pid_in(file: &str) -> i32 {
        let start = Instant::now();
        loop {
            let text = std::fs::read_to_string(file).unwrap_or_default();
            if let Ok(pid) = text.trim().parse() {
                return pid;
            }
            assert!(start.elapsed() < GUARD, "no pid in {file}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits (bounded by [`GUARD`]) for process `pid` to be dead: gone, or a zombie.
    async fn wait_dead(pid: i32) {
        let start = Instant::now();
        loop {
            let process = crate::proc::Process::read(pid);
            if process.as_ref().is_none_or(crate::proc::Process::is_zombie) {
                return;
            }
            assert!(
                start.elapsed() < GUARD,
                "process {pid} still runs: {process:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn a_command_gets_the_tools_variables_beside_the_changed_paths() {
        let scratch = Scratch::new("vars");
        let out = scratch.file("out");
        let action = exec(&format!(
            "sh -c 'printf %s:%s \"$PODKIT_GIT_SHA\" \"$PODKIT_CHANGED\" > {out}'"
        ));

        action
            .run_with(&[PathBuf::from("/w/abc")], &[("PODKIT_GIT_SHA", "abc")])
            .await
            .expect("the command succeeds");

        assert_eq!(std::fs::read_to_string(&out).unwrap(), "abc:/w/abc");
    }

    #[tokio::test]
    async fn a_command_gets_the_changed_paths_one_per_line() {
        let scratch = Scratch::new("changed");
        let out = scratch.file("out");
        let action = exec(&format!("sh -c 'printf %s \"$PODKIT_CHANGED\" > {out}'"));
        let changed = [PathBuf::from("/a"), PathBuf::from("/b c")];

        action.run(&changed).await.expect("the command succeeds");

        assert_eq!(std::fs::read_to_string(&out).unwrap(), "/a\n/b c");
        let state = action.state();
        assert!(!state.running);
        assert_eq!(state.runs, 1);
        let last = state.last.expect("a finished run");
        assert_eq!(last.attempts, 1);
        assert!(last.result.is_ok());
    }

    #[tokio::test]
    async fn a_failing_command_is_retried_and_its_last_failure_kept() {
        let scratch = Scratch::new("retries");
        let count = scratch.file("count");
        // Fails on its first two runs, succeeds on the third.
        let flaky = format!(
            "sh -c 'n=$(cat {count} 2>/dev/null || echo 0); echo $((n+1)) > {count}; [ $n -ge 2 ]'"
        );
        let quick = (Duration::from_millis(1), Duration::from_millis(5));
        let action = exec(&flaky).retries(3).backoff(quick.0, quick.1);

        action.run(&[]).await.expect("the third attempt succeeds");
        assert_eq!(action.state().last.expect("finished").attempts, 3);

        let failing = exec("false").retries(1).backoff(quick.0, quick.1);
        let error = failing.run(&[]).await.expect_err("false always fails");
        assert_eq!(error.to_string(), "false exited with exit status: 1");
        let last = failing.state().last.expect("finished");
        assert_eq!(last.attempts, 2, "one try and one retry");
        let kept = last.result.expect_err("the failure is kept");
        assert!(Arc::ptr_eq(&kept, &error), "the same error as returned");
    }

    #[tokio::test]
    async fn a_command_past_its_timeout_is_killed_with_its_process_group() {
        let scratch = Scratch::new("timeout");
        let pid_file = scratch.file("background.pid");
        // The shell waits for a background sleep: both must die at the timeout.
        let slow = format!("sh -c 'sleep 600 & echo $! > {pid_file}; wait'");
        let action = exec(&slow).timeout(Duration::from_millis(300));

        let error = tokio::time::timeout(GUARD, action.run(&[]))
            .await
            .expect("the run ends soon after its timeout")
            .expect_err("the timeout ends it");

        assert!(
            matches!(
                &*error,
                ActionError::Exec(ExecError::TimedOut { program, .. }) if program == "sh"
            ),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            "sh still running after 300ms: killed with its process group"
        );
        wait_dead(pid_in(&pid_file).await).await;
    }

    #[tokio::test]
    async fn dropping_a_run_kills_its_command_and_records_no_result() {
        let scratch = Scratch::new("dropped");
        let pid_file = scratch.file("command.pid");
        let action = exec(&format!("sh -c 'echo $$ > {pid_file}; exec sleep 600'"));

        let pid = {
            let run = action.run(&[]);
            tokio::pin!(run);
            tokio::select! {
                result = &mut run => panic!("a sleep of 600 s ended first: {result:?}"),
                pid = pid_in(&pid_file) => pid,
            }
        };

        wait_dead(pid).await;
        let state = action.state();
        assert!(!state.running, "not running once dropped");
        assert_eq!(state.runs, 1);
        assert!(state.last.is_none(), "a cancelled run has no result");
    }

    #[tokio::test]
    async fn a_command_that_cannot_start_names_its_program() {
        let error = exec("/nonexistent/podkit-tool --flag")
            .run(&[])
            .await
            .expect_err("no such program");
        assert_eq!(
            error.to_string(),
            "/nonexistent/podkit-tool: No such file or directory (os error 2)"
        );
    }

    #[tokio::test]
    async fn for_the_same_content_only_what_failed_runs_again() {
        let scratch = Scratch::new("per-content");
        let (log, broken) = (scratch.file("log"), scratch.file("broken"));
        std::fs::write(&broken, "").unwrap();
        let healthy = exec(&format!("sh -c 'echo healthy >> {log}'"));
        // Fails while the file `broken` exists.
        let flaky = exec(&format!("sh -c 'echo flaky >> {log}; ! test -e {broken}'"));
        let actions = Actions::new(vec![healthy, flaky]);
        let ran = || std::fs::read_to_string(&log).unwrap_or_default();

        assert!(!actions.run_for(1, &[], |_, _| {}).await, "flaky fails");
        assert!(
            !actions.run_for(1, &[], |_, _| {}).await,
            "flaky fails again"
        );
        assert_eq!(
            ran(),
            "healthy\nflaky\nflaky\n",
            "healthy ran once for content 1"
        );
        std::fs::remove_file(&broken).unwrap();
        assert!(actions.run_for(1, &[], |_, _| {}).await);
        assert!(
            actions.run_for(1, &[], |_, _| {}).await,
            "nothing left to do"
        );
        assert_eq!(ran(), "healthy\nflaky\nflaky\nflaky\n");

        let mut told = Vec::new();
        assert!(
            actions
                .run_for(2, &[], |a, r| told.push((a.label(), r.is_ok())))
                .await
        );
        assert_eq!(
            told,
            [("exec", true), ("exec", true)],
            "new content runs both"
        );
        actions.mark_applied(3);
        assert!(actions.iter().all(|action| action.applied(3)));
        assert!(actions.run_for(3, &[], |_, _| panic!("nothing runs")).await);
    }

    #[tokio::test]
    async fn actions_run_in_order_and_a_failure_does_not_stop_the_next() {
        let scratch = Scratch::new("order");
        let log = scratch.file("log");
        let append = |word: &str| exec(&format!("sh -c 'echo {word} >> {log}'"));
        let actions = Actions::new(vec![append("first"), exec("false"), append("third")]);
        let mut seen = Vec::new();

        let all = actions
            .run(&[], |action, result| {
                seen.push((action.label(), result.is_ok()))
            })
            .await;

        assert!(!all, "one failed");
        assert_eq!(
            seen,
            [("exec", true), ("exec", false), ("exec", true)],
            "told of each, in order"
        );
        assert_eq!(
            std::fs::read_to_string(Path::new(&log)).unwrap(),
            "first\nthird\n"
        );
    }
}
