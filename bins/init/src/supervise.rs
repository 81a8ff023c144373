//! The life of an init, top to bottom: start the child, then sleep until a signal or a deadline and
//! act on it (forward, reap, stop gracefully, kill what is left), and exit once the tree is empty.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use nix::sys::prctl::set_child_subreaper;

use podkit::proc::{self, Process};
use podkit::signal::Signal;
use podkit::{debug, error, info, warn};

use crate::cli::Config;
use crate::reap::{reap_exited, Status};
use crate::signals::{is_forwardable, Inherited, Received, SignalSet};
use crate::spawn::{spawn, Role};
use crate::tree::{self, Tree};

/// Once the stop signal went out, the tree is swept this often until it is empty: during the
/// grace, a process adopted since the last sweep gets its SIGTERM (no kernel event says that a
/// process was re-parented); after it, SIGKILL goes out again, catching any process that forked
/// between the walk of the tree and the kill.
const SWEEP_INTERVAL: Duration = Duration::from_millis(100);

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
    let mut init = Init::new(config, signals.inherited());
    if !config.pause {
        let take_terminal = std::io::stdin().is_terminal();
        match spawn(
            &config.command,
            Role::Main { take_terminal },
            init.inherited,
        ) {
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
    /// The signal state podkit-init started with, which every child gets back.
    inherited: Inherited,
    main: Option<libc::pid_t>,
    main_status: Option<Status>,
    post_start: Option<libc::pid_t>,
    pre_stop: Option<libc::pid_t>,
    /// The exit code of a failed `--post-start-required` hook, which becomes podkit-init's own.
    hook_failure: Option<i32>,
    stop: Option<Stop>,
    /// When whatever is left of the tree gets SIGKILL: the end of the grace.
    kill_at: Option<Instant>,
    /// The next sweep of the tree (see [`SWEEP_INTERVAL`]), from the forward of the stop signal
    /// (or the main child's end) until podkit-init exits.
    sweep_at: Option<Instant>,
    /// The processes podkit-init itself sent SIGTERM (pid and start time), so each gets it once.
    terminated: Vec<(libc::pid_t, u64)>,
    children_remain: bool,
    pause_ended: bool,
    reaped: u64,
    /// How many processes the grace's SIGKILL reached, as a number when /proc showed them, or
    /// as what it reached when it could not ("every other process of the namespace").
    killed: String,
}

impl<'a> Init<'a> {
    fn new(config: &'a Config, inherited: Inherited) -> Init<'a> {
        Init {
            config,
            inherited,
            main: None,
            main_status: None,
            post_start: None,
            pre_stop: None,
            hook_failure: None,
            stop: None,
            kill_at: None,
            sweep_at: None,
            terminated: Vec::new(),
            children_remain: true,
            pause_ended: false,
            reaped: 0,
            killed: "0".to_owned(),
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
        [delay_end, self.kill_at, self.sweep_at]
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
        let stops = self.config.stop_signals.contains(&signal);
        if self.config.pause {
            if stops {
                info!("pause ended", signal = signal);
                self.pause_ended = true;
            }
            return;
        }
        let Some(forward) = self.rewrite(signal) else {
            debug!("signal dropped by --rewrite", signal = signal);
            return;
        };
        if stops {
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
            if self.sweep_at.is_none() {
                self.sweep(Instant::now());
            }
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
        let forward_now = stop.step == StopStep::PreStop && self.pre_stop.is_none();
        if forward_now {
            self.forward(stop.forward);
            stop.step = StopStep::Forwarded;
        }
        self.stop = Some(stop);
        if forward_now {
            self.sweep(Instant::now());
        }
    }

    fn on_deadline(&mut self) {
        let now = Instant::now();
        self.advance_stop();
        let grace_over = self.kill_at.is_some_and(|at| now >= at);
        if grace_over {
            // Counted once: a re-kill mostly reaches processes already dying of the first one.
            self.kill_at = None;
            let walked = self.kill_remaining();
            match walked {
                Some(count) => {
                    self.killed = count.to_string();
                    info!(
                        "grace period over: killed the remaining processes",
                        count = count
                    );
                }
                // No count without /proc: as PID 1, kill(-1) reached whoever was left.
                None if std::process::id() == 1 => {
                    self.killed = "every other process of the namespace".to_owned();
                    info!("grace period over: killed every other process of the namespace (no /proc to count them)");
                }
                None => {
                    self.killed = "its own children (no /proc)".to_owned();
                    warn!("no /proc shows the tree: processes podkit-init did not start itself may outlive the grace");
                }
            }
            self.sweep_at = Some(deadline(now, SWEEP_INTERVAL));
        } else if self.sweep_at.is_some_and(|at| now >= at) {
            self.sweep(now);
        }
    }

    /// One sweep of the tree: SIGTERM for the orphans adopted since the last one while the grace
    /// runs, SIGKILL for everything once it is over. The next sweep is due [`SWEEP_INTERVAL`] on.
    fn sweep(&mut self, now: Instant) {
        if self.kill_at.is_none() {
            let _ = self.kill_remaining();
        } else {
            self.terminate_orphans();
        }
        self.sweep_at = Some(deadline(now, SWEEP_INTERVAL));
    }

    /// SIGTERM, once, for every process whose parent is gone since it was adopted by podkit-init:
    /// the stop signal went to the main child, which can no longer pass it on to them. They are
    /// still part of the tree, so they get the stop too rather than only the SIGKILL.
    fn terminate_orphans(&mut self) {
        let Some(tree) = Tree::read() else { return };
        let own: Vec<libc::pid_t> = [self.main, self.pre_stop, self.post_start]
            .into_iter()
            .flatten()
            .collect();
        let count = self.terminate(tree.orphans(&own));
        if count > 0 {
            info!("terminating processes whose parent is gone", count = count);
        }
    }

    /// SIGTERM for each of `processes` that has not had one from podkit-init yet.
    fn terminate(&mut self, processes: Vec<&Process>) -> usize {
        let new: Vec<&Process> = processes
            .into_iter()
            .filter(|process| !self.terminated.contains(&(process.pid, process.start_time)))
            .collect();
        self.terminated
            .extend(new.iter().map(|process| (process.pid, process.start_time)));
        tree::signal_each(new, Signal::TERM)
    }

    /// SIGKILL for the whole tree; returns how many processes the walk of the tree reached, or
    /// `None` when /proc could not show the tree.
    fn kill_remaining(&self) -> Option<usize> {
        let count = Tree::read().map(|tree| tree::signal_each(tree.members(), Signal::KILL));
        // The walk needs /proc. The children podkit-init started itself do not: their pids
        // cannot be reused before podkit-init reaps them. And as PID 1 it can end its whole
        // namespace without /proc or pidfds at all. So the grace holds wherever the walk fails
        // (no /proc, a seccomp profile) for podkit-init's own children, and as PID 1 for all.
        let own = [self.main, self.pre_stop, self.post_start];
        for pid in own.into_iter().flatten() {
            // An unreaped child's pid cannot have been recycled.
            let _ = proc::kill(pid, Signal::KILL);
        }
        tree::kill_namespace(Signal::KILL);
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
        let count = match Tree::read() {
            Some(tree) => self.terminate(tree.members()),
            None => {
                // No /proc to find them: as PID 1, everyone left in the namespace is the rest
                // of the tree.
                tree::kill_namespace(Signal::TERM);
                0
            }
        };
        info!(
            "child gone: terminating the rest of its tree",
            count = count
        );
        let now = Instant::now();
        self.kill_at = self
            .kill_at
            .or_else(|| Some(deadline(now, self.config.grace)));
        self.sweep_at = self
            .sweep_at
            .or_else(|| Some(deadline(now, SWEEP_INTERVAL)));
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
        match spawn(argv, Role::Hook, self.inherited) {
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
            killed = self.killed.as_str()
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
