//! The exec action: a command given as one string (`'nginx -s reload'`), split as a shell would
//! split it and run without a shell, with `PODKIT_CHANGED` listing what changed.
//!
//! It owns the command's life: the command runs in a process group of its own, and a command
//! that outlives its timeout, or whose run is dropped (a shutdown cancelling it), is killed with
//! its whole group, so a `sh -c '... &'` leaves nothing behind. A command that exits by itself
//! keeps whatever it started in the background. It does not retry, time or record anything:
//! [`super::Action`] does.

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use crate::signal::Signal;

/// A command as the user wrote it, split once at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    argv: Vec<String>,
}

/// Why a command string was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseCommandError {
    Empty,
    /// An opening quote without its closing one, in this text.
    UnbalancedQuotes(String),
}

impl fmt::Display for ParseCommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseCommandError::Empty => f.write_str("an empty command"),
            ParseCommandError::UnbalancedQuotes(text) => write!(f, "unbalanced quotes in {text:?}"),
        }
    }
}

impl std::error::Error for ParseCommandError {}

/// Why a run of a command failed; names the program, never the arguments (they may hold a
/// token).
#[derive(Debug)]
pub enum ExecError {
    /// It could not be started: not found, not executable.
    Spawn { program: String, source: io::Error },
    /// It ran and exited unsuccessfully, or was killed by a signal it did not get from us.
    Failed { program: String, status: ExitStatus },
    /// It outlived its timeout and was killed with its process group.
    TimedOut { program: String, after: Duration },
    /// Waiting for it failed (the system refused waitpid); it was killed with its group.
    Wait { program: String, source: io::Error },
}

impl fmt::Display for ExecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExecError::Spawn { program, source } => write!(f, "{program}: {source}"),
            ExecError::Failed { program, status } => write!(f, "{program} exited with {status}"),
            ExecError::TimedOut { program, after } => write!(
                f,
                "{program} still running after {}: killed with its process group",
                crate::duration::format(*after)
            ),
            ExecError::Wait { program, source } => write!(f, "{program}: cannot wait: {source}"),
        }
    }
}

impl std::error::Error for ExecError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ExecError::Spawn { source, .. } | ExecError::Wait { source, .. } => Some(source),
            ExecError::Failed { .. } | ExecError::TimedOut { .. } => None,
        }
    }
}

impl std::str::FromStr for Command {
    type Err = ParseCommandError;

    fn from_str(text: &str) -> Result<Command, ParseCommandError> {
        match shlex::split(text) {
            Some(argv) if !argv.is_empty() => Ok(Command { argv }),
            Some(_) => Err(ParseCommandError::Empty),
            None => Err(ParseCommandError::UnbalancedQuotes(text.to_owned())),
        }
    }
}

impl Command {
    /// The program, as logs and errors name the command.
    pub fn program(&self) -> &str {
        &self.argv[0]
    }

    /// Runs it to its end with `PODKIT_CHANGED` set to `changed`, one path per line, and `vars`
    /// set as given; stdin is
    /// closed, stdout and stderr are the tool's own. Success is exit status 0.
    ///
    /// After `timeout`, or when the returned future is dropped, the command's process group is
    /// killed (SIGKILL): a timeout then waits for the command to be reaped, a drop leaves the
    /// reaping to tokio.
    pub async fn run(
        &self,
        changed: &[PathBuf],
        vars: &[(&str, &str)],
        timeout: Duration,
    ) -> Result<(), ExecError> {
        let program = || self.program().to_owned();
        let mut list = Vec::new();
        for (i, path) in changed.iter().enumerate() {
            if i > 0 {
                list.push(b'\n');
            }
            list.extend_from_slice(path.as_os_str().as_encoded_bytes());
        }
        let mut child = tokio::process::Command::new(&self.argv[0])
            .args(&self.argv[1..])
            .env("PODKIT_CHANGED", OsString::from_vec(list))
            .envs(vars.iter().copied())
            .stdin(Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| ExecError::Spawn {
                program: program(),
                source,
            })?;
        // The child leads its own group, whose id is its pid; the pid stays its own until
        // it is reaped, which happens only in `wait` below.
        let group = child.id().map(Group::new);
        let waited = tokio::time::timeout(timeout, child.wait()).await;
        match waited {
            Ok(Ok(status)) => {
                // Exited by itself: what it left running in the background is its business.
                if let Some(group) = group {
                    group.disarm();
                }
                if status.success() {
                    Ok(())
                } else {
                    Err(ExecError::Failed {
                        program: program(),
                        status,
                    })
                }
            }
            Ok(Err(source)) => Err(ExecError::Wait {
                program: program(),
                source,
            }),
            Err(_) => {
                drop(group);
                // Reaped now, so that no zombie outlives the timeout; SIGKILL cannot be caught.
                let _ = child.wait().await;
                Err(ExecError::TimedOut {
                    program: program(),
                    after: timeout,
                })
            }
        }
    }
}

/// A running command's process group, killed when this is dropped unless disarmed.
struct Group {
    id: Option<libc::pid_t>,
}

impl Group {
    fn new(pid: u32) -> Group {
        Group {
            id: libc::pid_t::try_from(pid).ok(),
        }
    }

    fn disarm(mut self) {
        self.id = None;
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            // The leader is not reaped yet, so the group id is still ours. ESRCH: every member
            // has exited already, which is what was wanted.
            let _ = crate::proc::kill(-id, Signal::KILL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_is_split_as_a_shell_would_and_refused_when_empty_or_unbalanced() {
        let command: Command = "sh -c 'echo \"a b\"' x".parse().unwrap();
        assert_eq!(command.argv, ["sh", "-c", "echo \"a b\"", "x"]);
        assert_eq!(command.program(), "sh");
        assert_eq!("  ".parse::<Command>(), Err(ParseCommandError::Empty));
        let error = "'unbalanced".parse::<Command>().unwrap_err();
        assert_eq!(error.to_string(), "unbalanced quotes in \"'unbalanced\"");
    }
}
