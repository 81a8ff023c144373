//! The signal action: a signal to the processes of a program found by name (in a pod with
//! `shareProcessNamespace: true`), or to the process whose pid a file holds.
//!
//! It owns finding the targets; sending goes through [`crate::proc`], which checks a process's
//! start time through a handle on it before signalling, so a pid that was recycled since it was
//! read (from /proc or from the file) gets nothing. It does not retry or time anything:
//! [`super::Action`] does.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::proc::{self, Process};
use crate::signal::Signal;

/// Which processes get the signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The top process of each tree of processes with this name ([`proc::processes_named`]):
    /// nginx's master, not its workers.
    Process(String),
    /// The process whose pid this file holds, read at each run.
    PidFile(PathBuf),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Process(name) => write!(f, "process {name:?}"),
            Target::PidFile(file) => write!(f, "pid file {}", file.display()),
        }
    }
}

/// Why a signal reached none or not all of its targets.
#[derive(Debug)]
#[non_exhaustive]
pub enum SendError {
    /// No process has this name now.
    NoProcessNamed(String),
    /// The pid file could not be read.
    PidFile { file: PathBuf, source: io::Error },
    /// The pid file does not hold a pid.
    NotAPid { file: PathBuf, text: String },
    /// No process has the pid the file holds (the app exited, or never wrote the file anew).
    NoProcess { file: PathBuf, pid: libc::pid_t },
    /// The kernel refused to deliver it to these processes (another user's, without CAP_KILL).
    Refused(Vec<proc::SignalError>),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::NoProcessNamed(name) => write!(f, "no process named {name:?}"),
            SendError::PidFile { file, source } => {
                write!(f, "pid file {}: {source}", file.display())
            }
            SendError::NotAPid { file, text } => {
                write!(f, "pid file {}: not a pid: {text:?}", file.display())
            }
            SendError::NoProcess { file, pid } => {
                write!(f, "pid file {}: no process {pid}", file.display())
            }
            SendError::Refused(errors) => {
                for (i, error) in errors.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    error.fmt(f)?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for SendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SendError::PidFile { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Sends `signal` to every process of `target`. For a name, a process that exited between the
/// lookup and the signal (an old worker finishing) is no failure, as long as one got it or none
/// was refused; for a pid file, the one process must get it.
pub(super) fn send(signal: Signal, target: &Target) -> Result<(), SendError> {
    match target {
        Target::Process(name) => {
            let processes = proc::processes_named(name);
            if processes.is_empty() {
                return Err(SendError::NoProcessNamed(name.clone()));
            }
            let mut refused = Vec::new();
            for process in processes {
                match process.signal(signal) {
                    Ok(()) => crate::debug!("signalled", pid = process.pid, signal = signal),
                    Err(error) if error.is_gone() => {
                        crate::debug!("exited before the signal", pid = process.pid);
                    }
                    Err(error) => refused.push(error),
                }
            }
            match refused.is_empty() {
                true => Ok(()),
                false => Err(SendError::Refused(refused)),
            }
        }
        Target::PidFile(file) => {
            let pid = read_pid(file)?;
            let no_process = || SendError::NoProcess {
                file: file.clone(),
                pid,
            };
            let process = Process::read(pid)
                .filter(|process| !process.is_zombie())
                .ok_or_else(no_process)?;
            match process.signal(signal) {
                Ok(()) => {
                    crate::debug!("signalled", pid = pid, signal = signal);
                    Ok(())
                }
                Err(error) if error.is_gone() => Err(no_process()),
                Err(error) => Err(SendError::Refused(vec![error])),
            }
        }
    }
}

fn read_pid(file: &Path) -> Result<libc::pid_t, SendError> {
    let text = std::fs::read_to_string(file).map_err(|source| SendError::PidFile {
        file: file.to_owned(),
        source,
    })?;
    text.trim()
        .parse::<libc::pid_t>()
        .ok()
        .filter(|pid| *pid > 0)
        .ok_or_else(|| SendError::NotAPid {
            file: file.to_owned(),
            // A pid file is short; a long one is not a pid file, and its content need not be
            // quoted whole.
            text: text.trim().chars().take(32).collect(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch_file(name: &str, content: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("podkit-signal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(name);
        std::fs::write(&file, content).unwrap();
        file
    }

    #[test]
    fn a_pid_file_without_a_pid_is_refused_naming_the_file() {
        for (name, content) in [
            ("empty.pid", ""),
            ("word.pid", "nginx\n"),
            ("zero.pid", "0"),
        ] {
            let file = scratch_file(name, content);
            let error = send(Signal::TERM, &Target::PidFile(file.clone())).unwrap_err();
            assert!(matches!(error, SendError::NotAPid { .. }), "{error:?}");
            assert_eq!(
                error.to_string(),
                format!(
                    "pid file {}: not a pid: {:?}",
                    file.display(),
                    content.trim()
                )
            );
        }
        let missing = Target::PidFile(PathBuf::from("/nonexistent/app.pid"));
        let error = send(Signal::TERM, &missing).unwrap_err();
        assert_eq!(
            error.to_string(),
            "pid file /nonexistent/app.pid: No such file or directory (os error 2)"
        );
    }

    #[test]
    fn a_name_no_process_has_is_an_error_naming_it() {
        let target = Target::Process("podkit-no-such-program".to_owned());
        let error = send(Signal::TERM, &target).unwrap_err();
        assert_eq!(
            error.to_string(),
            "no process named \"podkit-no-such-program\""
        );
    }
}
