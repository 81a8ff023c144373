//! `podkit-metrics check`: the mapping file was loaded at the edge (a bad one never gets here);
//! this shows what each `--line` becomes, one line of output per sample, through the same parse
//! and mapping as the running adapter.

use std::fmt::Write;

use crate::cli::Check;
use crate::ingest::{map_sample, Skip};
use crate::statsd::line::{self, Problems};
use crate::store::Op;

/// The report, for stdout.
pub fn report(check: &Check) -> String {
    let mut out = format!("ok: {} mappings\n", check.mapper.len());
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
            match map_sample(&check.mapper, sample) {
                Err(Skip(reason)) => {
                    let _ = writeln!(out, "{text:?}: dropped: {reason}");
                }
                Ok(mapped) => {
                    let update = &mapped.update;
                    let labels: Vec<String> = update
                        .labels
                        .iter()
                        .map(|(k, v)| format!("{k}={v:?}"))
                        .collect();
                    let what = match update.op {
                        Op::Add(n) => format!("counter += {n}"),
                        Op::Set(n) => format!("gauge = {n}"),
                        Op::Move(n) => format!("gauge += {n}"),
                        Op::Member(m) => format!("set member {m:?}"),
                        Op::Observe(v, times) => {
                            let kind = match update.observer {
                                crate::mapping::Observer::Histogram { .. } => "histogram",
                                crate::mapping::Observer::Summary { .. } => "summary",
                            };
                            format!("{kind} observes {v} x{times}")
                        }
                    };
                    let by = match mapped.rule {
                        Some(rule) => format!("mapping {rule:?}"),
                        None => "no mapping, name escaped".to_owned(),
                    };
                    let _ = writeln!(
                        out,
                        "{text:?}: {}{{{}}} {what} ({by})",
                        update.name,
                        labels.join(",")
                    );
                }
            }
        }
    }
    out
}
