//! The log-line input: each `--log` file followed through rotation ([`follow`]) on a thread of
//! its own, cut into lines ([`lines`]), and each line tried against its `--log-rules`
//! ([`rules`], [`matcher`]), whose matches update the same table StatsD does.
//!
//! A thread per file, not a task: reading a file blocks (no file is ever "not ready" to
//! epoll), and a thread that sleeps only when its file has nothing new costs nothing else.

pub mod follow;
pub mod lines;
pub mod matcher;
pub mod rules;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use podkit::serve::prometheus::{IntCounter, IntCounterVec, Result as MetricsResult};
use podkit::serve::{Registrar, Registry};

use crate::metrics::Metrics;
use crate::store::Store;
use follow::{Follower, Reader, Rotation};
use lines::{Lines, Piece};
use matcher::{Matcher, Tally};
use rules::Rules;

/// One `--log` and its rules, as the flags gave them.
#[derive(Debug)]
pub struct Follow {
    pub path: PathBuf,
    pub rules: Arc<Rules>,
    pub from_start: bool,
}

/// The adapter's own counters for the log input, one series per `--log` (label `log`, its path).
#[derive(Debug, Clone)]
pub struct LogMetrics {
    lines: IntCounterVec,
    matched: IntCounterVec,
    unmatched: IntCounterVec,
    skipped: IntCounterVec,
    bad_values: IntCounterVec,
    rotations: IntCounterVec,
}

impl LogMetrics {
    pub fn register(registry: &Registry) -> MetricsResult<LogMetrics> {
        let metrics = Registrar::new(registry);
        Ok(LogMetrics {
            lines: metrics.counter_vec(
                "podkit_metrics_log_lines_total",
                "Lines read from a --log file, skipped ones included.",
                &["log"],
                &[],
            )?,
            matched: metrics.counter_vec(
                "podkit_metrics_log_lines_matched_total",
                "Lines that matched at least one rule.",
                &["log"],
                &[],
            )?,
            unmatched: metrics.counter_vec(
                "podkit_metrics_log_lines_unmatched_total",
                "Lines that matched no rule.",
                &["log"],
                &[],
            )?,
            skipped: metrics.counter_vec(
                "podkit_metrics_log_lines_skipped_total",
                "Lines not looked at: longer than 64 KiB (too_long) or not UTF-8 (bad_utf8).",
                &["log", "reason"],
                &[],
            )?,
            bad_values: metrics.counter_vec(
                "podkit_metrics_log_values_invalid_total",
                "Matches whose captured value was not a number (or was negative, for a counter).",
                &["log"],
                &[],
            )?,
            rotations: metrics.counter_vec(
                "podkit_metrics_log_rotations_total",
                "Rotations seen, by kind (rename, copytruncate).",
                &["log", "kind"],
                &[],
            )?,
        })
    }

    fn for_log(&self, log: &str) -> Counters {
        let one = |vec: &IntCounterVec| vec.with_label_values(&[log]);
        Counters {
            lines: one(&self.lines),
            matched: one(&self.matched),
            unmatched: one(&self.unmatched),
            too_long: self.skipped.with_label_values(&[log, "too_long"]),
            bad_utf8: self.skipped.with_label_values(&[log, "bad_utf8"]),
            bad_values: one(&self.bad_values),
            rotations: Rotation::ALL.map(|r| self.rotations.with_label_values(&[log, r.as_str()])),
        }
    }
}

/// One log's series of [`LogMetrics`], looked up once.
#[derive(Debug)]
struct Counters {
    lines: IntCounter,
    matched: IntCounter,
    unmatched: IntCounter,
    too_long: IntCounter,
    bad_utf8: IntCounter,
    bad_values: IntCounter,
    /// In [`Rotation::ALL`]'s order.
    rotations: [IntCounter; 2],
}

/// Follows `follow.path` for ever on a new thread.
pub fn spawn(
    follow: Follow,
    store: Arc<Store>,
    metrics: Metrics,
    log_metrics: &LogMetrics,
) -> std::io::Result<()> {
    let shown = follow.path.display().to_string();
    if !follow.path.exists() {
        // Not an error: the app may not have written its first line yet.
        podkit::warn!(
            "log not there yet; it will be read whole when it appears",
            log = shown
        );
    }
    let mut reader = LogReader {
        matcher: Matcher::new(follow.rules),
        store,
        counters: log_metrics.for_log(&shown),
        metrics,
        log: shown,
    };
    let follower = Follower::new(follow.path, follow.from_start);
    std::thread::Builder::new()
        .name("log".into())
        .spawn(move || follower.run(&mut reader))
        .map(|_| ())
}

/// Lines into the table, and counts.
struct LogReader {
    matcher: Matcher,
    store: Arc<Store>,
    counters: Counters,
    metrics: Metrics,
    /// The path, for the log.
    log: String,
}

impl LogReader {
    /// Takes the lines `feed` gives under one lock of the table, then counts them.
    fn take(&mut self, feed: impl FnOnce(&mut dyn FnMut(Piece<'_>))) {
        let now = Instant::now();
        let mut tally = Tally::default();
        let mut state = self.store.lock();
        let matcher = &mut self.matcher;
        feed(&mut |piece| match piece {
            Piece::Line(line) => matcher.apply(line, &mut state, now, &mut tally),
            Piece::TooLong => {
                tally.lines += 1;
                tally.too_long += 1;
            }
            Piece::BadUtf8 => {
                tally.lines += 1;
                tally.bad_utf8 += 1;
            }
        });
        self.metrics.series.set(state.series() as i64);
        drop(state);
        self.count(&tally);
    }

    fn count(&self, tally: &Tally) {
        let c = &self.counters;
        c.lines.inc_by(tally.lines);
        c.matched.inc_by(tally.matched);
        c.unmatched.inc_by(tally.unmatched);
        c.too_long.inc_by(tally.too_long);
        c.bad_utf8.inc_by(tally.bad_utf8);
        c.bad_values.inc_by(tally.bad_values);
        self.metrics.refused.inc_by(tally.refused);
        for _ in 0..tally.type_conflicts {
            self.metrics.dropped("type_conflict");
        }
    }
}

impl Reader for LogReader {
    fn bytes(&mut self, lines: &mut Lines, chunk: &[u8]) {
        self.take(|each| lines.feed(chunk, each));
    }

    fn finish(&mut self, lines: &mut Lines) {
        self.take(|each| lines.finish(each));
    }

    fn rotated(&mut self, rotation: Rotation) {
        let at = Rotation::ALL
            .iter()
            .position(|r| *r == rotation)
            .unwrap_or(0);
        self.counters.rotations[at].inc();
        podkit::info!("log rotated", log = self.log, kind = rotation.as_str());
    }
}
