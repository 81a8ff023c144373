//! The life of an init, top to bottom: start the child, then sleep until a signal or a deadline and
//! act on it (forward, reap, stop gracefully, kill what is left), and exit once the tree is empty.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use nix::sys::prctl::set_child_subreaper;

use podkit::proc;
use podkit::signal::Signal;
use podkit::{debug, error, info, warn};

use crate::cli::Config;
use crate::reap::{reap_exited, Status};
use crate::signals::{is_forwardable, is_stop, Received, SignalSet};
use crate::spawn::{spawn, Role};

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
        // Raw rather than nix::sys::prctl::set_pdeathsig, whose `Signal` enum cannot name the
        // real-time signals that --pdeathsig accepts.
        // SAFETY: prctl with PR_SET_PDEATHSIG and a valid signal number touches no memory of ours.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, signal.number() as libc::c_ulong) };
    }
    let mut init = Init::new(config);
    if !config.pause {
        let take_terminal = std::io::stdin().is_terminal();
        match spawn(&config.command, Role::Main { take_terminal }) {
            Ok(pid) => init.main = Some(pid),
            Err(e) => {
                error!(e.summary(), command = e.program(), reason = e.reason());
                return e.exit_code();
            }
        }
        init.start_post_start();
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
    let error = match set_child_subreaper(true) {
        Ok(()) => {
            debug!("not PID 1: registered as child subreaper");
            return Ok(());
        }
        Err(errno) => std::io::Error::from(errno),
    };
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
    /// The stop signal went to the child (or the child is gone); waiting for the tree to empty.
    Forwarded,
}

#[derive(Debug, Clone, Copy)]
struct Stop {
    /// The signal that started the stop, for the exit line.
    by: Signal,
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
    /// When whatever is left of the tree gets SIGKILL: the end of the grace.
    kill_at: Option<Instant>,
    rekill_at: Option<Instant>,
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
            kill_at: None,
            rekill_at: None,
            children_remain: true,
            pause_ended: false,
            reaped: 0,
            killed: 0,
        }
    }

    fn start_post_start(&mut self) {
        let Some(hook) = &self.config.post_start else {
            return;
        };
        match self.start_hook("post-start", hook) {
            Ok(pid) => self.post_start = Some(pid),
            Err(code) if self.config.post_start_required => self.fail_required_hook(code),
            Err(_) => {}
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
    fn begin_stop(&mut self, by: Signal, forward: Signal) {
        if self.main.is_none() {
            debug!("stop signal while the tree drains", signal = by);
            return;
        }
        if let Some(stop) = self.stop {
            // Asked again: skip what is left of the delay and the hook, and forward now.
            if stop.step != StopStep::Forwarded {
                info!("stop signal repeated: forwarding at once", signal = by);
            }
            self.forward(forward);
            self.stop = Some(Stop {
                step: StopStep::Forwarded,
                ..stop
            });
            return;
        }
        let now = Instant::now();
        info!(
            "stopping",
            signal = by,
            grace = podkit::duration::format(self.config.grace)
        );
        self.kill_at = Some(deadline(now, self.config.grace));
        let until = deadline(now, self.config.stop_delay);
        self.stop = Some(Stop {
            by,
            forward,
            step: StopStep::Delaying { until },
        });
        self.advance_stop();
    }

    /// Moves the stop on as far as it can go now.
    fn advance_stop(&mut self) {
        let Some(mut stop) = self.stop else { return };
        if self.main.is_none() {
            // The stop delay and the pre-stop hook were for the main child, which is gone.
            stop.step = StopStep::Forwarded;
        }
        if let StopStep::Delaying { until } = stop.step {
            if Instant::now() < until {
                return;
            }
            stop.step = StopStep::PreStop;
            if let Some(hook) = &self.config.pre_stop {
                self.pre_stop = self.start_hook("pre-stop", hook).ok();
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
        let grace_over = self.kill_at.is_some_and(|at| now >= at);
        let rekill_due = self.rekill_at.is_some_and(|at| now >= at);
        if !grace_over && !rekill_due {
            return;
        }
        let count = self.kill_remaining();
        if grace_over {
            // Counted once: a re-kill mostly reaches processes already dying of the first one.
            self.kill_at = None;
            self.killed = count;
            info!(
                "grace period over: killed the remaining processes",
                count = count
            );
        }
        self.rekill_at = Some(deadline(now, REKILL_INTERVAL));
    }

    /// SIGKILL for the whole tree; returns how many processes the walk of the tree reached.
    fn kill_remaining(&self) -> usize {
        let count = signal_descendants(Signal::KILL);
        // The walk needs /proc and pidfd_send_signal. The children podkit-init started itself
        // need neither: their pids cannot be reused before podkit-init reaps them. So the grace
        // holds for them even where the walk fails (no /proc, a seccomp profile).
        let own = [self.main, self.pre_stop, self.post_start];
        for pid in own.into_iter().flatten() {
            // An unreaped child's pid cannot have been recycled.
            let _ = proc::kill(pid, Signal::KILL);
        }
        count
    }

    fn reap(&mut self) {
        let main_was_alive = self.main.is_some();
        self.children_remain = reap_exited(|pid, status| self.on_exit(pid, status));
        if main_was_alive && self.main.is_none() {
            self.advance_stop();
            if self.children_remain {
                self.terminate_leftovers();
            }
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
            // Once a stop is under way or the child is gone, podkit-init itself may have
            // signalled the hook: that is no failure of the hook's.
            let signalled_by_us = self.stop.is_some() || self.main.is_none();
            if !status.succeeded() && self.config.post_start_required && !signalled_by_us {
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
        let count = signal_descendants(Signal::TERM);
        info!(
            "child gone: terminating the rest of its tree",
            count = count
        );
        self.kill_at = self
            .kill_at
            .or_else(|| Some(deadline(Instant::now(), self.config.grace)));
    }

    fn fail_required_hook(&mut self, code: i32) {
        error!("required post-start hook failed: stopping", code = code);
        self.hook_failure = Some(code);
        // This stop is podkit-init's own: a --rewrite that drops incoming SIGTERMs does not
        // cancel it, while one that turns SIGTERM into another signal still applies.
        let forward = self.rewrite(Signal::TERM).unwrap_or(Signal::TERM);
        self.begin_stop(Signal::TERM, forward);
    }

    /// Starts a hook; on failure logs why and returns the exit code the failure stands for.
    fn start_hook(&self, name: &str, argv: &[std::ffi::OsString]) -> Result<libc::pid_t, i32> {
        match spawn(argv, Role::Hook) {
            Ok(pid) => {
                info!("hook started", hook = name, pid = pid);
                Ok(pid)
            }
            Err(e) => {
                error!(
                    "hook cannot start",
                    hook = name,
                    command = e.program(),
                    reason = e.reason()
                );
                Err(e.exit_code())
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
        // The child is not reaped yet, so neither its pid nor its group can have been recycled.
        let _ = proc::kill(target, signal);
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
        let cause = match (self.hook_failure, self.stop) {
            (Some(_), _) => "post-start hook failed".to_owned(),
            (None, Some(stop)) => format!("stopped by {}", stop.by),
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

/// Sends `signal` to every live descendant of podkit-init and returns how many it reached.
///
/// "The tree" is found by walking parent links in /proc down from podkit-init's own pid, so a
/// podkit-init that shares its PID namespace (`shareProcessNamespace`, `--pid=host`, a subreaper
/// under another init) leaves its neighbours alone; and each process is signalled through
/// [`podkit::proc::Process::signal`], so one that exited since the walk, its pid recycled, is
/// skipped rather than hit. Zombies are skipped too: they are dead already and only wait to be
/// reaped.
fn signal_descendants(signal: Signal) -> usize {
    let Some(root) = proc::own_pid() else {
        return 0;
    };
    proc::Table::read()
        .descendants(root)
        .into_iter()
        .filter(|process| !process.is_zombie())
        .filter(|process| process.signal(signal).is_ok())
        .count()
}

/// `after` from `from`, or a deadline past any container's life when the sum would overflow (a
/// `--grace 3000000000h` is accepted and means "never").
fn deadline(from: Instant, after: Duration) -> Instant {
    const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    from.checked_add(after).unwrap_or(from + FOREVER)
}

fn log_hook_exit(hook: &str, status: Status) {
    if status.succeeded() {
        info!("hook finished", hook = hook);
    } else {
        warn!("hook failed", hook = hook, status = status);
    }
}
