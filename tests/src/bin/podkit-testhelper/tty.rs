//! The `tty` step: whether the helper owns the terminal's foreground, and what a read from it
//! gets, for tests of job control under podkit-init.

use std::io;

use crate::out;

/// Prints `foreground`, `background` or `no-tty`, then reads one line from stdin and prints
/// `read: LINE`, or `eof` when stdin ends before any byte.
pub fn tty() -> io::Result<()> {
    out::say(terminal_role());
    match read_line()? {
        Some(line) => out::say(&format!("read: {line}")),
        None => out::say("eof"),
    }
    Ok(())
}

fn terminal_role() -> &'static str {
    // SAFETY: isatty only inspects descriptor 0.
    if unsafe { libc::isatty(libc::STDIN_FILENO) } == 0 {
        return "no-tty";
    }
    // SAFETY: tcgetpgrp only queries the terminal on descriptor 0; getpgrp cannot fail.
    let (foreground, own) = unsafe { (libc::tcgetpgrp(libc::STDIN_FILENO), libc::getpgrp()) };
    match foreground {
        // A terminal, but not this process's controlling terminal: no foreground to be in.
        -1 => "no-tty",
        group if group == own => "foreground",
        _ => "background",
    }
}

/// Reads up to a newline, one byte at a time: whatever follows the line stays unread for the next
/// reader of the same terminal or pipe. A background read makes the kernel stop the helper with
/// SIGTTIN; that is the point of the step, not an error.
fn read_line() -> io::Result<Option<String>> {
    let mut line = Vec::new();
    loop {
        let mut byte = 0u8;
        // SAFETY: `byte` is a live, writable buffer of exactly the one byte asked for.
        let count = unsafe { libc::read(libc::STDIN_FILENO, (&mut byte as *mut u8).cast(), 1) };
        match count {
            1 if byte == b'\n' => break,
            1 => line.push(byte),
            0 if line.is_empty() => return Ok(None),
            0 => break,
            _ => {
                let err = io::Error::last_os_error();
                if err.kind() != io::ErrorKind::Interrupted {
                    return Err(io::Error::new(err.kind(), format!("read stdin: {err}")));
                }
            }
        }
    }
    Ok(Some(String::from_utf8_lossy(&line).into_owned()))
}
