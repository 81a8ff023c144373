//! `podkit-metrics check`: the files were loaded at the edge by the daemon's own loaders (a bad
//! one never gets here); this shows what each input becomes, one line of output per series or
//! skip, through the same code as the running adapter: StatsD lines through the parse and the
//! mapping ([`statsd`]), log lines through the rules' matcher ([`logs`]), JSON documents through
//! the selection and the scrape's exposure ([`json`]).

mod json;
mod logs;
mod statsd;

use std::fmt::Write;
use std::path::Path;

use crate::cli::Check;
use crate::store::{Op, Update};

/// The report, for stdout: the mapping's part, then the log rules', then the JSON rules'.
pub fn report(check: &Check) -> String {
    let mut out = String::new();
    statsd::report(check, &mut out);
    logs::report(check, &mut out);
    json::report(check, &mut out);
    out
}

/// `ok: N things`, for one file; when several files of a kind are given, it names which.
fn ok_line(out: &mut String, count: usize, things: &str, file: &Path, several: bool) {
    let _ = write!(out, "ok: {count} {things}");
    if several {
        let _ = write!(out, " in {}", file.display());
    }
    out.push('\n');
}

/// Labels as the check shows them: `{code="200",endpoint="users"}`.
fn labels<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let shown: Vec<String> = pairs
        .into_iter()
        .map(|(name, value)| format!("{name}={value:?}"))
        .collect();
    format!("{{{}}}", shown.join(","))
}

/// What an update does to its series: `api_requests_total{code="200"} counter += 3`.
fn update(update: &Update<'_>) -> String {
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
    let pairs = update.labels.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    format!("{}{} {what}", update.name, labels(pairs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::Arc;

    /// A check with no file and no input: each test adds its own.
    pub fn empty() -> Check {
        Check {
            mapping: None,
            lines: Vec::new(),
            log_rules: Vec::new(),
            log_lines: Vec::new(),
            json_catalog: Default::default(),
            json_rules: Vec::new(),
            json_documents: Vec::new(),
        }
    }

    #[test]
    fn lines_without_a_mapping_are_escaped_and_no_mapping_is_counted() {
        let mut check = empty();
        check.lines = vec!["api.users-x:2|g".to_owned()];
        assert_eq!(
            report(&check),
            "\"api.users-x:2|g\": api_users_x{} gauge = 2 (no mapping, name escaped)\n"
        );
    }

    #[test]
    fn with_several_files_of_a_kind_each_ok_line_names_its_file() {
        let rules = "rules: [{match: 'x', metric: x_total, type: counter}]";
        let mut check = empty();
        for name in ["a.yml", "b.yml"] {
            let loaded = crate::logs::rules::Rules::from_yaml(rules).unwrap();
            check
                .log_rules
                .push((PathBuf::from(name), Arc::new(loaded)));
        }
        check.log_lines = vec!["x".to_owned()];
        let shown = report(&check);
        let lines: Vec<&str> = shown.lines().collect();
        assert_eq!(lines.len(), 4, "{shown}");
        assert_eq!(lines[0], "ok: 1 rules in a.yml");
        assert_eq!(lines[2], "ok: 1 rules in b.yml");
        assert_eq!(lines[1], lines[3]);

        check.log_rules.pop();
        assert!(report(&check).starts_with("ok: 1 rules\n"));
    }
}
