//! The `signals` and `wait-signal` steps, and `serve-files`' reload on SIGHUP ([`on_each`]).
//!
//! Signals are blocked and taken with sigwaitinfo(2) rather than caught by handlers: nothing runs
//! in signal context, every arrival is reported from the main thread in the order the kernel hands
//! them over, and a signal that arrives while a line is being printed waits its turn.

use std::convert::Infallible;
use std::io;
use std::mem;
use std::path::Path;
use std::thread;

use crate::out::{self, AppendFile};
use crate::process;
use crate::ready::Ready;
use crate::signal::{Disposition, Signal};

/// `signals`: reports every catchable signal until killed; see the manual in main.rs.
pub fn signals(
    ignore: &[Signal],
    exit_on: &[Signal],
    log: Option<&Path>,
) -> io::Result<Infallible> {
    signals_then_ready(ignore, exit_on, log, None)
}

/// As [`signals`], releasing `ready` (the parent waiting for this process) once it is set up.
pub fn signals_then_ready(
    ignore: &[Signal],
    exit_on: &[Signal],
    log: Option<&Path>,
    ready: Option<Ready>,
) -> io::Result<Infallible> {
    let mut log = log.map(AppendFile::open).transpose()?;
    let caught = SigSet::of(Signal::catchable().filter(|signal| !ignore.contains(signal)));
    caught.block()?;
    // Blocked first, so nothing sent from here on is lost. Then the dispositions: a blocked signal
    // is queued whatever its disposition, but an inherited SIG_IGN on SIGCHLD would make the kernel
    // reap children behind the step's back, and `--exit-on` needs the default action to die by.
    for signal in Signal::catchable() {
        if ignore.contains(&signal) {
            signal.ignore()?;
        } else {
            signal.reset()?;
        }
    }
    report(&mut log, "ready")?;
    if let Some(ready) = ready {
        ready.done()?;
    }
    loop {
        let signal = caught.wait()?;
        report(&mut log, &format!("signal {signal}"))?;
        if signal == Signal::CHLD {
            // Children the helper forked earlier would otherwise stay zombies until it dies, and
            // a zombie still counts as a live process for the tests that look for one.
            process::reap_exited();
        }
        if exit_on.contains(&signal) {
            return die_by(signal);
        }
    }
}

/// `wait-signal`: waits silently for one signal, prints `got SIGNAME`, and puts the signal mask
/// back as it was.
pub fn wait_signal(signal: Signal) -> io::Result<()> {
    let set = SigSet::of([signal]);
    let previous = set.block()?;
    let got = set.wait()?;
    out::say(&format!("got {got}"));
    previous.make_mask()
}

/// Runs `action` on a thread of its own each time `signal` arrives, for as long as the process
/// lives. Must be called before the process starts any other thread: the signal is blocked in the
/// calling thread, and only threads started after that inherit the block, so that the kernel
/// leaves it pending for the waiting thread rather than taking its default action in another.
pub fn on_each<F>(signal: Signal, mut action: F) -> io::Result<()>
where
    F: FnMut() + Send + 'static,
{
    let set = SigSet::of([signal]);
    set.block()?;
    // Blocked first, so nothing sent from here on is lost; then the default disposition, since an
    // inherited SIG_IGN (nohup) would discard the signal even while it is blocked.
    signal.reset()?;
    thread::Builder::new()
        .name(format!("on-{signal}"))
        .spawn(move || loop {
            match set.wait() {
                Ok(_) => action(),
                Err(err) => {
                    out::warn(&format!("waiting for {signal}: {err}"));
                    return;
                }
            }
        })?;
    Ok(())
}

fn report(log: &mut Option<AppendFile>, line: &str) -> io::Result<()> {
    out::say(line);
    match log {
        Some(file) => file.write_line(line),
        None => Ok(()),
    }
}

/// Ends the process by `signal`, so its parent sees "killed by signal" and not an exit code. The
/// disposition is already the default (set when the step started); unblocking lets it through.
fn die_by(signal: Signal) -> io::Result<Infallible> {
    SigSet::of([signal]).unblock()?;
    // SAFETY: raise only sends a signal to the calling thread.
    unsafe { libc::raise(signal.number()) };
    // Still alive: the signal's default action is to ignore it (CHLD, WINCH, URG, CONT), or this
    // is the init of a PID namespace, which the kernel shields from its own default-action
    // signals. Exit with the status a shell would report for the signal instead.
    std::process::exit(128 + signal.number())
}

/// A set of signals, for blocking, unblocking and waiting.
struct SigSet(libc::sigset_t);

impl SigSet {
    fn of(signals: impl IntoIterator<Item = Signal>) -> SigSet {
        // SAFETY: sigset_t is plain data; sigemptyset then initialises it properly.
        let mut set: libc::sigset_t = unsafe { mem::zeroed() };
        // SAFETY: `set` is a live sigset_t.
        unsafe { libc::sigemptyset(&mut set) };
        for signal in signals {
            // SAFETY: `set` is a live sigset_t and `Signal` holds only valid signal numbers.
            unsafe { libc::sigaddset(&mut set, signal.number()) };
        }
        SigSet(set)
    }

    /// Adds these signals to the mask; returns the mask as it was.
    fn block(&self) -> io::Result<SigSet> {
        self.mask(libc::SIG_BLOCK)
    }

    fn unblock(&self) -> io::Result<()> {
        self.mask(libc::SIG_UNBLOCK).map(drop)
    }

    /// Makes this set the whole mask.
    fn make_mask(&self) -> io::Result<()> {
        self.mask(libc::SIG_SETMASK).map(drop)
    }

    fn mask(&self, how: libc::c_int) -> io::Result<SigSet> {
        // SAFETY: as in `of`; pthread_sigmask overwrites it with the old mask.
        let mut old: libc::sigset_t = unsafe { mem::zeroed() };
        // SAFETY: both pointers are to live sigset_t values.
        let rc = unsafe { libc::pthread_sigmask(how, &self.0, &mut old) };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok(SigSet(old))
    }

    /// Takes the next pending signal of this set, waiting for one. The set must be blocked.
    fn wait(&self) -> io::Result<Signal> {
        loop {
            // SAFETY: the set is a live sigset_t; a null siginfo pointer is allowed.
            let number = unsafe { libc::sigwaitinfo(&self.0, std::ptr::null_mut()) };
            if let Some(signal) = Signal::from_number(number) {
                return Ok(signal);
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(io::Error::new(err.kind(), format!("sigwaitinfo: {err}")));
            }
        }
    }
}
