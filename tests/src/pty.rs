//! A pseudo-terminal that becomes a process's controlling terminal, for job-control tests.

use std::fs::File;
use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

use crate::lines::Lines;

/// The master side of a terminal whose slave is the controlling terminal of `child`.
pub struct Terminal {
    pub child: Child,
    pub lines: Lines,
    writer: File,
}

impl Terminal {
    /// Starts `command` in a new session with a fresh pty as its stdin, stdout, stderr and
    /// controlling terminal.
    pub fn spawn(mut command: Command) -> Terminal {
        let (mut master, mut slave) = (0, 0);
        // SAFETY: openpty writes two descriptors; the null name, termios and winsize are allowed.
        let opened = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(opened, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both descriptors were just opened and are owned here.
        let (master, slave) =
            unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        command
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        // SAFETY: setsid and ioctl(TIOCSCTTY) are async-signal-safe and touch no shared state.
        unsafe {
            command.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(libc::STDIN_FILENO, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().expect("spawn under a pty");
        let writer = File::from(master.try_clone().unwrap());
        Terminal {
            child,
            lines: Lines::read_from(File::from(master)),
            writer,
        }
    }

    /// The next line the terminal shows, without its line ending.
    pub fn read_line(&mut self) -> String {
        self.lines.next_line()
    }

    /// Types `text` at the terminal.
    pub fn type_text(&mut self, text: &str) {
        self.writer
            .write_all(text.as_bytes())
            .expect("write to the pty");
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        // A failed test must not leave its program running on the terminal; under `unshare
        // --kill-child` this takes the whole PID namespace down. Only this test's child is killed.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
