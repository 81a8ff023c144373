//! `crate::logs::rules`, where its code expects it.

#[path = "../../bins/metrics/src/logs/rules.rs"]
pub mod rules;
