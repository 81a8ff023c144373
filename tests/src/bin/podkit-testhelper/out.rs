//! Where the helper's lines go: stdout for results, stderr for complaints, and append-only files
//! for lines several processes interleave.
//!
//! Every line is built whole and handed to the kernel in one write(2), with no user-space buffer:
//! a test reading a pipe sees each line the moment the step reaches it, lines from the helper and
//! its children never tear into each other, and a process killed right after printing has printed.

use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

/// Prints one line on stdout.
///
/// A failed write is dropped: it means the reader has gone (stdout closed), and then there is no
/// one left to tell. A closed pipe never gets this far anyway, since SIGPIPE is at its default.
pub fn say(line: &str) {
    let _ = write_fd(libc::STDOUT_FILENO, format!("{line}\n").as_bytes());
}

/// Prints one complaint line on stderr, prefixed with the program name.
pub fn warn(message: &str) {
    let _ = write_fd(
        libc::STDERR_FILENO,
        format!("podkit-testhelper: {message}\n").as_bytes(),
    );
}

/// Writes all of `bytes` to `fd`, which for a line of the helper's size is one write(2) call: the
/// loop only matters for a signal interruption or a short write to a full pipe.
fn write_fd(fd: libc::c_int, bytes: &[u8]) -> io::Result<()> {
    let mut rest = bytes;
    while !rest.is_empty() {
        // SAFETY: `rest` is a live slice, so the pointer is valid for reads of `rest.len()` bytes.
        let written = unsafe { libc::write(fd, rest.as_ptr().cast(), rest.len()) };
        match usize::try_from(written) {
            Ok(count) => rest = &rest[count..],
            Err(_) => {
                let err = io::Error::last_os_error();
                if err.kind() != io::ErrorKind::Interrupted {
                    return Err(err);
                }
            }
        }
    }
    Ok(())
}

/// A file that collects lines from several processes. It is opened with `O_APPEND` and each line
/// is one write, so the kernel places whole lines in the order the processes wrote them: that
/// order is what tests sharing one file assert on.
pub struct AppendFile(File);

impl AppendFile {
    /// Opens `path` for appending, creating it (mode 0644) if needed.
    pub fn open(path: &Path) -> io::Result<AppendFile> {
        OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o644)
            .open(path)
            .map(AppendFile)
            .map_err(|err| io::Error::new(err.kind(), format!("{}: {err}", path.display())))
    }

    /// Appends `line` and a newline in one write.
    pub fn write_line(&mut self, line: &str) -> io::Result<()> {
        self.0.write_all(format!("{line}\n").as_bytes())
    }
}
