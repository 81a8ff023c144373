//! One series' value and what an event does to it. Counters and gauges are one float; a set
//! keeps a hash per distinct member; a histogram its bucket counts; a summary its recent
//! observations, from which the quantiles are computed at scrape time.

use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, Instant};

use crate::mapping::Objective;

/// The most distinct members one set series remembers: a set fed user ids must not grow
/// without bound. Past it, new members are not counted.
pub const MAX_SET_MEMBERS: usize = 100_000;

/// client_golang's summary defaults, which statsd_exporter inherits when a file says nothing.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(600);
/// How many recent observations a summary keeps for its quantiles when `buf_cap` is not given.
pub const DEFAULT_WINDOW: usize = 500;

#[derive(Debug)]
pub enum Value {
    Counter(f64),
    Gauge(f64),
    Set(HashSet<u64>),
    Histogram(Histogram),
    Summary(Summary),
}

#[derive(Debug)]
pub struct Histogram {
    /// Upper bounds, increasing; the `+Inf` bucket is `count`.
    pub bounds: std::sync::Arc<[f64]>,
    /// Observations per bucket (not cumulative: made cumulative when rendered).
    pub counts: Vec<u64>,
    pub count: u64,
    pub sum: f64,
}

impl Histogram {
    pub fn new(bounds: std::sync::Arc<[f64]>) -> Histogram {
        Histogram {
            counts: vec![0; bounds.len()],
            bounds,
            count: 0,
            sum: 0.0,
        }
    }

    pub fn observe(&mut self, value: f64, times: u64) {
        if let Some(at) = self.bounds.iter().position(|bound| value <= *bound) {
            self.counts[at] = self.counts[at].saturating_add(times);
        }
        self.count = self.count.saturating_add(times);
        self.sum += value * times as f64;
    }

    /// `(upper bound, cumulative count)` for each finite bound.
    pub fn cumulative(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        let mut running = 0u64;
        self.bounds.iter().zip(&self.counts).map(move |(bound, n)| {
            running = running.saturating_add(*n);
            (*bound, running)
        })
    }
}

#[derive(Debug)]
pub struct Summary {
    pub objectives: std::sync::Arc<[Objective]>,
    max_age: Duration,
    capacity: usize,
    /// `(when, value, weight)`, oldest first.
    window: VecDeque<(Instant, f64, u64)>,
    pub count: u64,
    pub sum: f64,
}

impl Summary {
    pub fn new(
        objectives: std::sync::Arc<[Objective]>,
        max_age: Option<Duration>,
        buf_cap: u32,
    ) -> Summary {
        Summary {
            objectives,
            max_age: max_age.unwrap_or(DEFAULT_MAX_AGE),
            capacity: match buf_cap {
                0 => DEFAULT_WINDOW,
                n => n as usize,
            },
            window: VecDeque::new(),
            count: 0,
            sum: 0.0,
        }
    }

    pub fn observe(&mut self, value: f64, times: u64, now: Instant) {
        if self.window.len() == self.capacity {
            self.window.pop_front();
        }
        self.window.push_back((now, value, times));
        self.count = self.count.saturating_add(times);
        self.sum += value * times as f64;
    }

    /// `(quantile, value)` over the observations younger than `max_age`; NaN without any, as
    /// client_golang reports an empty summary.
    pub fn quantiles(&mut self, now: Instant) -> Vec<(f64, f64)> {
        while let Some((when, _, _)) = self.window.front() {
            if now.saturating_duration_since(*when) <= self.max_age {
                break;
            }
            self.window.pop_front();
        }
        let mut values: Vec<(f64, u64)> = self.window.iter().map(|(_, v, w)| (*v, *w)).collect();
        values.sort_by(|a, b| a.0.total_cmp(&b.0));
        let total: u64 = values.iter().map(|(_, w)| *w).sum();
        self.objectives
            .iter()
            .map(|objective| {
                if total == 0 {
                    return (objective.quantile, f64::NAN);
                }
                // The smallest value with at least this share of the weight at or below it.
                let rank = (objective.quantile * total as f64).ceil().max(1.0) as u64;
                let mut seen = 0u64;
                let value = values
                    .iter()
                    .find(|(_, w)| {
                        seen = seen.saturating_add(*w);
                        seen >= rank
                    })
                    .or(values.last())
                    .map_or(f64::NAN, |(v, _)| *v);
                (objective.quantile, value)
            })
            .collect()
    }
}

/// A set member's hash: the set remembers 8 bytes per member, not the member.
pub fn member_hash(hasher: &RandomState, member: &str) -> u64 {
    hasher.hash_one(member)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn histogram_buckets_are_cumulative_and_count_repeats() {
        let mut histogram = Histogram::new(Arc::from([1.0, 5.0]));
        histogram.observe(0.5, 1);
        histogram.observe(3.0, 10);
        histogram.observe(9.0, 1);
        assert_eq!(
            histogram.cumulative().collect::<Vec<_>>(),
            [(1.0, 1), (5.0, 11)]
        );
        assert_eq!(histogram.count, 12);
        assert_eq!(histogram.sum, 0.5 + 30.0 + 9.0);
    }

    #[test]
    fn summary_quantiles_come_from_recent_observations() {
        let objectives: Arc<[Objective]> = Arc::from([
            Objective {
                quantile: 0.5,
                error: 0.05,
            },
            Objective {
                quantile: 0.99,
                error: 0.001,
            },
        ]);
        let mut summary = Summary::new(objectives, Some(Duration::from_secs(60)), 0);
        let start = Instant::now();
        for value in 1..=100 {
            summary.observe(value as f64, 1, start);
        }
        assert_eq!(summary.quantiles(start), [(0.5, 50.0), (0.99, 99.0)]);
        let later = start + Duration::from_secs(61);
        let empty = summary.quantiles(later);
        assert!(empty.iter().all(|(_, v)| v.is_nan()), "{empty:?}");
        assert_eq!(summary.count, 100, "count and sum are for ever");
    }
}
