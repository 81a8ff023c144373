//! `check --mapping FILE --line LINE`: each StatsD line through the same parse and mapping as
//! the running adapter; without `--mapping`, through none (names escaped), as the daemon does.

use std::fmt::Write;

use crate::cli::Check;
use crate::ingest::{map_sample, Skip};
use crate::mapping::Mapper;
use crate::statsd::line::{self, Problems};

pub fn report(check: &Check, out: &mut String) {
    if let Some(mapper) = &check.mapping {
        let _ = writeln!(out, "ok: {} mappings", mapper.len());
    }
    if check.lines.is_empty() {
        return;
    }
    let unmapped;
    let mapper = match &check.mapping {
        Some(mapper) => mapper,
        None => {
            unmapped = Mapper::empty();
            &unmapped
        }
    };
    for text in &check.lines {
        let mut samples = Vec::new();
        let mut problems = Problems::default();
        line::parse(text, &mut samples, &mut problems);
        for reason in &problems.errors {
            let _ = writeln!(out, "{text:?}: skipped: {}", reason.as_str());
        }
        if problems.tag_errors > 0 {
            let _ = writeln!(out, "{text:?}: {} bad tags left out", problems.tag_errors);
        }
        for sample in &samples {
            match map_sample(mapper, sample) {
                Err(Skip(reason)) => {
                    let _ = writeln!(out, "{text:?}: dropped: {reason}");
                }
                Ok(mapped) => {
                    let by = match mapped.rule {
                        Some(rule) => format!("mapping {rule:?}"),
                        None => "no mapping, name escaped".to_owned(),
                    };
                    let _ = writeln!(out, "{text:?}: {} ({by})", super::update(&mapped.update));
                }
            }
        }
    }
}
