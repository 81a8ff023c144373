//! The life of an init, top to bottom: start the child, then sleep until a signal or a deadline and
//! act on it (forward, reap, stop gracefully, kill what is left), and exit once the tree is empty.

use std::time::{Duration, Instant};

use podkit::signal::Signal;
use podkit::{debug, error, info, warn};

use crate::cli::Config;
use crate::reap::{reap_exited, Status};
use crate::signals::{is_forwardable, is_stop, Received, SignalSet};
use crate::spawn::{spawn, Role};
use crate::tree::signal_descendants;

/// After the grace, SIGKILL goes out again this often while processes remain, catching any that
/// forked between the walk of the tree and the kill.
const REKILL_INTERVAL: Duration = Duration::from_millis(100);

/// Runs podkit-init to the end and returns its exit code.
pub fn run(config: &Config) -> i32 {
    let signals = match SignalSet::block() {
        Ok(signals) => signals,
        Err(e) => {
            error!("cannot block signals", error = e);
            return 1;
        }
    };
    if let Err(code) = become_reaper(config.subreaper) {
        return code;
    }
    if let Some(signal) = config.pdeathsig {
        // SAFETY: prctl with PR_SET_PDEATHSIG and a valid signal number.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, signal.number() as libc::c_ulong) };
    }
    let mut init = Init::new(config);
    if !config.pause {
        // SAFETY: isatty only inspects the descriptor.
        let take_terminal = unsafe { libc::isatty(libc::STDIN_FILENO) } == 1;
        match spawn(&config.command, Role::Main { take_terminal }) {
            Ok(pid) => init.main = Some(pid),
            Err(e) => {
                error!(e.summary(), command = e.program(), reason = e.reason());
                return e.exit_code();
            }
        }
        if let Some(hook) = &config.post_start {
            init.post_start = init.start_hook("post-start", hook);
        }
    }
    loop {
        match signals.wait(init.next_deadline()) {
            None => init.on_deadline(),
            Some(received) if received.signal == Signal::CHLD => init.reap(),
            Some(received) => init.on_signal(received),
        }
        if let Some(code) = init.finished() {
            return code;
        }
    }
}

/// A PID 1 reaps orphans by nature; anything else asks to be a child subreaper so that orphans of
/// its tree come back to it rather than escaping to the real init, where they could neither be
/// stopped nor reaped.
fn become_reaper(required: bool) -> Result<(), i32> {
    if std::process::id() == 1 {
        return Ok(());
    }
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER and a plain integer argument.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong) } == 0 {
        debug!("not PID 1: registered as child subreaper");
        return Ok(());
    }
    let error = std::io::Error::last_os_error();
    if required {
        error!("cannot become a child subreaper", error = error);
        return Err(1);
    }
    warn!(
        "not PID 1 and cannot become a child subreaper: orphans will escape",
        error = error
    );
    Ok(())
}

/// Where a graceful stop stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StopStep {
    /// `--stop-delay`: the child keeps serving while endpoints are removed.
    Delaying { until: Instant },
    /// `--pre-stop` is running.
    PreStop,
    /// The stop signal went to the child; waiting for the tree to empty.
    Forwarded,
}

#[derive(Debug, Clone, Copy)]
struct Stop {
    /// What to forward (the stop signal after `--rewrite`).
    forward: Signal,
    step: StopStep,
}

struct Init<'a> {
    config: &'a Config,
    main: Option<libc::pid_t>,
    main_status: Option<Status>,
    post_start: Option<libc::pid_t>,
    pre_stop: Option<libc::pid_t>,
    /// The exit code of a failed `--post-start-required` hook, which becomes podkit-init's own.
    hook_failure: Option<i32>,
    stop: Option<Stop>,
    /// The signal that started the stop, for the exit line.
    stopped_by: Option<Signal>,
    /// When whatever is left of the tree gets SIGKILL: the end of the grace.
    kill_at: Option<Instant>,
    rekill_at: Option<Instant>,
    /// Whether the leftovers of a main child that exited have had their SIGTERM.
    leftovers_terminated: bool,
    children_remain: bool,
    pause_ended: bool,
    reaped: u64,
    killed: usize,
}

impl<'a> Init<'a> {
    fn new(config: &'a Config) -> Init<'a> {
        Init {
            config,
            main: None,
            main_status: None,
            post_start: None,
            pre_stop: None,
            hook_failure: None,
            stop: None,
            stopped_by: None,
            kill_at: None,
            rekill_at: None,
            leftovers_terminated: false,
            children_remain: true,
            pause_ended: false,
            reaped: 0,
            killed: 0,
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let delay_end = match self.stop {
            Some(Stop {
                step: StopStep::Delaying { until },
                ..
            }) => Some(until),
            _ => None,
        };
        [delay_end, self.kill_at, self.rekill_at]
            .into_iter()
            .flatten()
            .min()
    }

    fn on_signal(&mut self, received: Received) {
        let signal = received.signal;
        if received.self_inflicted || !is_forwardable(signal) {
            debug!("signal not forwarded", signal = signal);
            return;
        }
        if self.config.pause {
            if signal == Signal::TERM || signal == Signal::INT {
                info!("pause ended", signal = signal);
                self.pause_ended = true;
            }
            return;
        }
        let Some(forward) = self.rewrite(signal) else {
            debug!("signal dropped by --rewrite", signal = signal);
            return;
        };
        if is_stop(signal) {
            self.begin_stop(signal, forward);
        } else {
            self.forward(forward);
        }
    }

    /// The graceful stop: the grace starts now and bounds everything after it; stop delay, then
    /// pre-stop hook, then the signal to the child, then SIGKILL for whatever outlives the grace.
    fn begin_stop(&mut self, received: Signal, forward: Signal) {
        if self.main.is_none() {
            debug!("stop signal while the tree drains", signal = received);
            return;
        }
        if let Some(stop) = self.stop {
            // Asked again: skip what is left of the delay and the hook, and forward now.
            if stop.step != StopStep::Forwarded {
                info!(
                    "stop signal repeated: forwarding at once",
                    signal = received
                );
            }
            self.forward(forward);
            self.stop = Some(Stop {
                forward,
                step: StopStep::Forwarded,
            });
            return;
        }
        let now = Instant::now();
        self.stopped_by = Some(received);
        info!(
            "stopping",
            signal = received,
            grace = podkit::duration::format(self.config.grace)
        );
        self.kill_at = Some(now + self.config.grace);
        self.stop = Some(Stop {
            forward,
            step: StopStep::Delaying {
                until: now + self.config.stop_delay,
            },
        });
        self.advance_stop();
    }

    /// Moves the stop on as far as it can go now.
    fn advance_stop(&mut self) {
        let Some(mut stop) = self.stop else { return };
        if let StopStep::Delaying { until } = stop.step {
            if Instant::now() < until {
                return;
            }
            stop.step = StopStep::PreStop;
            if let Some(hook) = &self.config.pre_stop {
                self.pre_stop = self.start_hook("pre-stop", hook);
            }
        }
        if stop.step == StopStep::PreStop && self.pre_stop.is_none() {
            self.forward(stop.forward);
            stop.step = StopStep::Forwarded;
        }
        self.stop = Some(stop);
    }

    fn on_deadline(&mut self) {
        let now = Instant::now();
        self.advance_stop();
        if self.kill_at.is_some_and(|at| now >= at) {
            self.kill_at = None;
            let count = signal_descendants(Signal::KILL);
            info!(
                "grace period over: killed the remaining processes",
                count = count
            );
            self.killed += count;
            self.rekill_at = Some(now + REKILL_INTERVAL);
        } else if self.rekill_at.is_some_and(|at| now >= at) {
            self.killed += signal_descendants(Signal::KILL);
            self.rekill_at = Some(now + REKILL_INTERVAL);
        }
    }

    fn reap(&mut self) {
        let main_was_alive = self.main.is_some();
        self.children_remain = reap_exited(|pid, status| self.on_exit(pid, status));
        if main_was_alive && self.main.is_none() {
            // Nothing is left to stop gracefully: what remains of the stop delay and the
            // pre-stop hook was for the main child.
            if let Some(stop) = &mut self.stop {
                stop.step = StopStep::Forwarded;
            }
            if self.children_remain {
                self.terminate_leftovers();
            }
        }
        if !self.children_remain {
            self.rekill_at = None;
        }
    }

    fn on_exit(&mut self, pid: libc::pid_t, status: Status) {
        if Some(pid) == self.main {
            self.main = None;
            self.main_status = Some(status);
            info!("child ended", pid = pid, status = status);
        } else if Some(pid) == self.pre_stop {
            self.pre_stop = None;
            log_hook_exit("pre-stop", status);
            self.advance_stop();
        } else if Some(pid) == self.post_start {
            self.post_start = None;
            log_hook_exit("post-start", status);
            if !status.succeeded() && self.config.post_start_required {
                self.fail_required_hook(status.code());
            }
        } else {
            self.reaped += 1;
            debug!("reaped", pid = pid, status = status);
        }
    }

    /// The main child exited while other processes of its tree live on: they get SIGTERM now and
    /// SIGKILL at the end of the grace (the grace already running if a stop began earlier).
    fn terminate_leftovers(&mut self) {
        if self.leftovers_terminated {
            return;
        }
        self.leftovers_terminated = true;
        let count = signal_descendants(Signal::TERM);
        info!(
            "child gone: terminating the rest of its tree",
            count = count
        );
        self.kill_at = self.kill_at.or(Some(Instant::now() + self.config.grace));
    }

    fn fail_required_hook(&mut self, code: i32) {
        error!("required post-start hook failed: stopping", code = code);
        self.hook_failure = Some(code);
        if let Some(forward) = self.rewrite(Signal::TERM) {
            self.begin_stop(Signal::TERM, forward);
        }
    }

    fn start_hook(&self, name: &str, argv: &[std::ffi::OsString]) -> Option<libc::pid_t> {
        match spawn(argv, Role::Hook) {
            Ok(pid) => {
                info!("hook started", hook = name, pid = pid);
                Some(pid)
            }
            Err(e) => {
                error!(
                    "hook cannot start",
                    hook = name,
                    command = e.program(),
                    reason = e.reason()
                );
                None
            }
        }
    }

    /// The signal to send when `signal` arrives, after `--rewrite`; `None` to drop it.
    fn rewrite(&self, signal: Signal) -> Option<Signal> {
        match self
            .config
            .rewrites
            .iter()
            .find(|rewrite| rewrite.from == signal)
        {
            Some(rewrite) => rewrite.to,
            None => Some(signal),
        }
    }

    fn forward(&self, signal: Signal) {
        let Some(pid) = self.main else { return };
        // The child leads its own process group (spawn puts it there), so -pid is that group.
        let target = if self.config.group { -pid } else { pid };
        // SAFETY: kill with the pid (or group) of a child that has not been reaped, so not reused.
        unsafe { libc::kill(target, signal.number()) };
        debug!("forwarded", signal = signal, to = target);
    }

    /// The exit code once podkit-init is done: pause ended, or the main child gone and the tree
    /// empty.
    fn finished(&self) -> Option<i32> {
        if self.config.pause {
            return self.pause_ended.then(|| {
                info!("exiting", code = 0, reaped = self.reaped);
                0
            });
        }
        let status = self.main_status?;
        if self.children_remain {
            return None;
        }
        let code = self
            .hook_failure
            .unwrap_or_else(|| self.remap(status.code()));
        let cause = match (self.hook_failure, self.stopped_by) {
            (Some(_), _) => "post-start hook failed".to_owned(),
            (None, Some(signal)) => format!("stopped by {signal}"),
            (None, None) => "child exited on its own".to_owned(),
        };
        info!(
            "exiting",
            cause = cause,
            child = status,
            code = code,
            reaped = self.reaped,
            killed = self.killed
        );
        Some(code)
    }

    fn remap(&self, code: i32) -> i32 {
        let remap = self
            .config
            .remaps
            .iter()
            .find(|remap| i32::from(remap.from) == code);
        remap.map_or(code, |remap| i32::from(remap.to))
    }
}

fn log_hook_exit(hook: &str, status: Status) {
    if status.succeeded() {
        info!("hook finished", hook = hook);
    } else {
        warn!("hook failed", hook = hook, status = status);
    }
}
