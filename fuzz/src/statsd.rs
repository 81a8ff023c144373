//! `crate::statsd::line`, where the mapper and the parser expect it.

#[path = "../../bins/metrics/src/statsd/line.rs"]
pub mod line;
