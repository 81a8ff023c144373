//! podkit-metrics' StatsD line parser and mapper, compiled from its own source files for the
//! fuzz targets. podkit-metrics is a binary crate; taking its modules by path, in the same tree
//! shape (`crate::mapping`, `crate::statsd::line`), fuzzes exactly the code it ships without
//! turning it into a library for the fuzzer's sake.

// The fuzz targets use a few entry points; the rest of what these modules offer is for the
// binary.
#![allow(dead_code)]

#[path = "../../bins/metrics/src/mapping/mod.rs"]
pub mod mapping;

pub mod statsd;

pub mod json;
pub mod logs;
