//! The lines a process writes to a pipe or terminal, read on a thread of their own and kept, so
//! that a test can wait for one with a hang guard and a failure can show everything seen so far.
//!
//! A wait ends as soon as it can: when a wanted line arrives (the reader wakes the waiter), or
//! when the source ends without it (the process is gone: waiting longer cannot help), or at the
//! hang guard. Nothing here polls.

use std::io::{BufRead, BufReader, Read};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use crate::wait::HANG_GUARD;

/// The lines of one source, in order, with a cursor for the tests that read them as a sequence
/// ([`Lines::next_satisfying`]). The waits that take `&self` look at every line, wherever the
/// cursor is.
pub struct Lines {
    shared: Arc<Shared>,
    reader: Option<JoinHandle<()>>,
    /// How many lines [`Lines::next_satisfying`] and its kin have gone past.
    cursor: usize,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    lines: Vec<String>,
    /// The source has ended: every writer closed it, or it failed.
    ended: bool,
}

impl Lines {
    /// Starts reading `source` until its end (every writer closed it).
    pub fn read_from(source: impl Read + Send + 'static) -> Lines {
        let shared = Arc::new(Shared::default());
        let writer = shared.clone();
        let reader = std::thread::spawn(move || {
            // A terminal's master side ends with EIO when the last slave closes: also an end.
            for line in BufReader::new(source).lines().map_while(Result::ok) {
                let line = line.trim_end_matches('\r').to_owned();
                writer.state.lock().unwrap().lines.push(line);
                writer.changed.notify_all();
            }
            writer.state.lock().unwrap().ended = true;
            writer.changed.notify_all();
        });
        Lines {
            shared,
            reader: Some(reader),
            cursor: 0,
        }
    }

    /// Every line received so far, in order.
    pub fn so_far(&self) -> Vec<String> {
        self.shared.state.lock().unwrap().lines.clone()
    }

    /// Waits until `check`, given every line so far, returns `Some`, and returns that. Panics,
    /// with the lines, naming `what`, when the source ends first or after the hang guard.
    pub fn wait_for<T>(&self, what: &str, mut check: impl FnMut(&[String]) -> Option<T>) -> T {
        let start = Instant::now();
        let mut state = self.shared.state.lock().unwrap();
        let failure = loop {
            if let Some(found) = check(&state.lines) {
                return found;
            }
            if state.ended {
                break "the output ended";
            }
            let left = HANG_GUARD.saturating_sub(start.elapsed());
            if left.is_zero() {
                break "hung";
            }
            state = self.shared.changed.wait_timeout(state, left).unwrap().0;
        };
        let seen = state.lines.join("\n");
        drop(state);
        panic!("{failure} waiting for {what}; the lines so far:\n{seen}")
    }

    /// The next line, waiting for it.
    pub fn next_line(&mut self) -> String {
        self.next_satisfying("any line", |_| true)
    }

    /// Waits for the next line satisfying `wanted` and returns it.
    pub fn next_satisfying(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let from = self.cursor;
        let (at, line) = self.wait_for(&format!("a line {what}"), |lines| {
            let at = from + lines[from..].iter().position(|line| wanted(line))?;
            Some((at, lines[at].clone()))
        });
        self.cursor = at + 1;
        line
    }

    /// Like [`Lines::next_satisfying`], but also accepts a line seen earlier: for the output of
    /// concurrent processes, whose order is not defined.
    pub fn seen_or_next(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let (at, line) = self.wait_for(&format!("a line {what}"), |lines| {
            let at = lines.iter().position(|line| wanted(line))?;
            Some((at, lines[at].clone()))
        });
        self.cursor = self.cursor.max(at + 1);
        line
    }

    /// Every line, once the source has ended (under the hang guard: a process that left a child
    /// holding the pipe open fails the test instead of hanging it).
    pub fn all(mut self) -> Vec<String> {
        let start = Instant::now();
        let mut state = self.shared.state.lock().unwrap();
        while !state.ended {
            let left = HANG_GUARD.saturating_sub(start.elapsed());
            if left.is_zero() {
                let seen = state.lines.join("\n");
                drop(state);
                panic!("the output never ended; the lines so far:\n{seen}");
            }
            state = self.shared.changed.wait_timeout(state, left).unwrap().0;
        }
        let lines = std::mem::take(&mut state.lines);
        drop(state);
        if let Some(reader) = self.reader.take() {
            reader.join().expect("the line reader");
        }
        lines
    }
}
