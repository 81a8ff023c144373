//! The lines a process writes to a pipe or terminal, read on a thread so that a test can wait for
//! one with a hang guard, and kept so that a failure can show everything seen so far.

use std::io::{BufRead, BufReader, Read};
use std::sync::mpsc::{self, Receiver};
use std::time::Instant;

use crate::wait::HANG_GUARD;

pub struct Lines {
    receiver: Receiver<String>,
    /// Every line received so far, in order.
    pub seen: Vec<String>,
}

impl Lines {
    /// Starts reading `source` until its end (every writer closed it).
    pub fn read_from(source: impl Read + Send + 'static) -> Lines {
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(source).lines().map_while(Result::ok) {
                let line = line.trim_end_matches('\r').to_owned();
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Lines {
            receiver,
            seen: Vec::new(),
        }
    }

    /// The next line, waiting for it.
    pub fn next_line(&mut self) -> String {
        self.next_satisfying("any line", |_| true)
    }

    /// Waits for the next line satisfying `wanted` and returns it.
    pub fn next_satisfying(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let left = HANG_GUARD.saturating_sub(start.elapsed());
            match self.receiver.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if wanted(&line) {
                        return line;
                    }
                }
                Err(_) => panic!("no line {what}; seen so far: {:#?}", self.seen),
            }
        }
    }

    /// Like [`Lines::next_satisfying`], but also accepts a line seen earlier: for the output of
    /// concurrent processes, whose order is not defined.
    pub fn seen_or_next(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        match self.seen.iter().find(|line| wanted(line)) {
            Some(line) => line.clone(),
            None => self.next_satisfying(what, wanted),
        }
    }

    /// Every line, once the source has ended.
    pub fn all(mut self) -> Vec<String> {
        let start = Instant::now();
        loop {
            let left = HANG_GUARD.saturating_sub(start.elapsed());
            match self.receiver.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => return self.seen,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("the output never ended: {:#?}", self.seen)
                }
            }
        }
    }
}
