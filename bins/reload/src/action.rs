//! What a change triggers: a webhook, a signal to a process, or a command; and the validation
//! command that may veto them all.

use std::path::{Path, PathBuf};

use podkit::signal::Signal;

use crate::webhook::Webhook;

#[derive(Debug)]
pub enum Action {
    Webhook(Webhook),
    Signal(Signal, Target),
    Exec(podkit::action::Action),
}

impl Action {
    /// A fixed label for the `action` dimension of the metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Action::Webhook(_) => "webhook",
            Action::Signal(..) => "signal",
            Action::Exec(_) => "exec",
        }
    }

    /// Carries the action out; `Err` says why it failed, in one line without secrets.
    pub async fn run(&self, changed: &[PathBuf]) -> Result<(), String> {
        match self {
            Action::Webhook(webhook) => webhook.call().await,
            Action::Signal(signal, target) => send(*signal, target),
            Action::Exec(exec) => exec.run(changed).await.map_err(|e| e.to_string()),
        }
    }
}

/// Which processes get the signal.
#[derive(Debug)]
pub enum Target {
    /// Every process with this name, as `/proc/PID/comm` or the base name of its first argument
    /// shows it (in a pod with `shareProcessNamespace: true`).
    Process(String),
    /// The pid written in this file.
    PidFile(PathBuf),
}

fn send(signal: Signal, target: &Target) -> Result<(), String> {
    let pids = match target {
        Target::Process(name) => {
            let pids = processes_named(name);
            if pids.is_empty() {
                return Err(format!("no process named {name:?}"));
            }
            pids
        }
        Target::PidFile(file) => vec![read_pid(file)?],
    };
    // Every pid is tried; one that exited meanwhile (an old worker finishing) is not a failure.
    let mut failures = Vec::new();
    for pid in pids {
        // SAFETY: kill(2) with a pid read from /proc or a pid file, and a valid signal number.
        if unsafe { libc::kill(pid, signal.number()) } == 0 {
            podkit::debug!("signalled", pid = pid, signal = signal);
            continue;
        }
        let error = std::io::Error::last_os_error();
        if error.raw_os_error() != Some(libc::ESRCH) {
            failures.push(format!("{signal} to pid {pid}: {error}"));
        }
    }
    match failures.is_empty() {
        true => Ok(()),
        false => Err(failures.join("; ")),
    }
}

fn read_pid(file: &Path) -> Result<libc::pid_t, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    text.trim()
        .parse::<libc::pid_t>()
        .ok()
        .filter(|pid| *pid > 0)
        .ok_or_else(|| format!("{}: not a pid: {:?}", file.display(), text.trim()))
}

/// The pids of the processes called `name` whose parent is not also called `name`: nginx's
/// master, not its workers (the master passes the signal on; a worker may run as another user
/// that podkit-reload may not signal). This process and zombies are left out.
fn processes_named(name: &str) -> Vec<libc::pid_t> {
    let me = std::process::id() as libc::pid_t;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            entry
                .ok()?
                .file_name()
                .to_str()?
                .parse::<libc::pid_t>()
                .ok()
        })
        .filter(|pid| *pid != me)
        .filter(|pid| process_name_is(*pid, name))
        .filter(|pid| match state_and_parent(*pid) {
            Some((state, parent)) => state != 'Z' && !process_name_is(parent, name),
            None => false,
        })
        .collect()
}

/// The state letter and parent pid from `/proc/PID/stat` (after the command name, which may
/// itself contain spaces and parentheses).
fn state_and_parent(pid: libc::pid_t) -> Option<(char, libc::pid_t)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat.get(stat.rfind(')')? + 1..)?.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let parent = fields.next()?.parse().ok()?;
    Some((state, parent))
}

fn process_name_is(pid: libc::pid_t, name: &str) -> bool {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    if comm.trim_end() == name {
        return true;
    }
    // comm is cut at 15 bytes; the command line has the whole name.
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let first = cmdline.split(|b| *b == 0).next().unwrap_or_default();
    let base = first.rsplit(|b| *b == b'/').next().unwrap_or_default();
    base == name.as_bytes()
}
