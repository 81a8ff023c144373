//! `check --json-rules FILE --json-document FILE`: each document under each rules file, through
//! the same selection ([`crate::json::select`]) and exposure ([`crate::json::collector::expose`])
//! as a scrape: the series it would show, then each value skipped and why. A document a fetch
//! would refuse (past the size limit, not JSON) is shown with the fetch's result.

use std::fmt::{self, Write};
use std::sync::Arc;

use crate::cli::Check;
use crate::json::collector::expose;
use crate::json::fetch::RESULTS;
use crate::json::rules::Family;
use crate::json::select::{samples, Skips, SKIP_REASONS};

/// The longest selected value shown in a skip line; a larger one (an object, say) is cut.
const SHOWN_VALUE: usize = 80;

pub fn report(check: &Check, out: &mut String) {
    let families = &check.json_catalog.families;
    let several = check.json_rules.len() > 1;
    for (path, rules) in &check.json_rules {
        super::ok_line(out, rules.rules.len(), "metrics", path, several);
        for (file, document) in &check.json_documents {
            let file = file.display().to_string();
            let document = match document {
                Ok(document) => document,
                Err(failure) => {
                    let result = RESULTS[failure.result()];
                    let _ = writeln!(out, "{file:?}: {result}: {failure}");
                    continue;
                }
            };
            let mut skips = Shown {
                families,
                lines: Vec::new(),
            };
            let found = samples(rules, families, document, &mut skips);
            // One document is one input of one scrape: no table beside it, no --max-series.
            for series in expose(families, &found, &[], usize::MAX, &mut skips) {
                let family = &families[series.family];
                let pairs = family
                    .labels
                    .iter()
                    .map(|name| &**name)
                    .zip(series.values.iter().map(String::as_str));
                let labels = super::labels(pairs);
                let _ = writeln!(out, "{file:?}: {}{labels} {}", family.name, series.value);
            }
            for line in skips.lines {
                let _ = writeln!(out, "{file:?}: skipped: {line}");
            }
        }
    }
}

/// The skipped values, one line each: `non_numeric: name{labels} "text"`.
struct Shown<'a> {
    families: &'a [Family],
    lines: Vec<String>,
}

impl Skips for Shown<'_> {
    fn skip(
        &mut self,
        reason: usize,
        family: usize,
        labels: &[(Arc<str>, String)],
        value: &dyn fmt::Display,
    ) {
        let name = self.families.get(family).map_or("", |f| f.name.as_str());
        let labels = super::labels(labels.iter().map(|(k, v)| (&**k, v.as_str())));
        let mut value = value.to_string();
        if value.chars().count() > SHOWN_VALUE {
            value = value.chars().take(SHOWN_VALUE).collect::<String>() + "...";
        }
        let reason = SKIP_REASONS.get(reason).copied().unwrap_or("skipped");
        self.lines.push(format!("{reason}: {name}{labels} {value}"));
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use crate::json::fetch::document;
    use crate::json::rules::Catalog;

    const RULES: &str = "metrics:\n\
        - {name: depth, path: $.queues.*, labels: {queue: '@key'}}\n\
        - {name: depth, path: $.total, labels: {all: 'yes'}}\n\
        - name: worker\n  type: object\n  path: '$.workers[*]'\n  labels: {name: '@.name'}\n  values: {jobs_total: '@.jobs'}\n  valuetype: counter\n";

    fn shown(documents: &[(&str, &[u8])]) -> String {
        let mut check = crate::check::tests::empty();
        let mut catalog = Catalog::default();
        let rules = catalog.load(RULES).expect("rules");
        catalog.finish();
        check.json_catalog = catalog;
        check.json_rules = vec![(PathBuf::from("rules.yml"), rules)];
        check.json_documents = documents
            .iter()
            .map(|(name, bytes)| (PathBuf::from(name), document(bytes, false)))
            .collect();
        crate::check::report(&check)
    }

    #[test]
    fn a_document_shows_the_series_a_scrape_would_and_each_skipped_value() {
        let out = shown(&[(
            "doc.json",
            br#"{"queues": {"mail": 3, "sms": "x"}, "total": 3,
                 "workers": [{"name": "a", "jobs": 1}, {"name": "a", "jobs": 2},
                             {"name": "b", "jobs": -1}, {"name": "c"}]}"#,
        )]);
        assert_eq!(
            out,
            "ok: 3 metrics\n\
             \"doc.json\": depth{all=\"\",queue=\"mail\"} 3\n\
             \"doc.json\": depth{all=\"yes\",queue=\"\"} 3\n\
             \"doc.json\": worker_jobs_total{name=\"a\"} 1\n\
             \"doc.json\": skipped: non_numeric: depth{queue=\"sms\"} \"x\"\n\
             \"doc.json\": skipped: negative_counter: worker_jobs_total{name=\"b\"} -1\n\
             \"doc.json\": skipped: non_numeric: worker_jobs_total{name=\"c\"} nothing\n\
             \"doc.json\": skipped: duplicate: worker_jobs_total{name=\"a\"} 2\n"
        );
    }

    #[test]
    fn a_document_a_fetch_would_refuse_shows_the_fetchs_result() {
        let out = shown(&[("bad.json", b"{nope")]);
        assert!(out.contains("\"bad.json\": malformed: not JSON: "), "{out}");
        let mut check = crate::check::tests::empty();
        check.json_rules = vec![(
            PathBuf::from("r.yml"),
            Catalog::default().load(RULES).unwrap(),
        )];
        check.json_documents = vec![(PathBuf::from("big.json"), document(b"", true))];
        let out = crate::check::report(&check);
        assert!(out.contains("\"big.json\": too_large: "), "{out}");
    }

    #[test]
    fn a_long_skipped_value_is_cut() {
        let big = format!("{{\"queues\": {{\"q\": [{}]}}}}", "1,".repeat(100) + "1");
        let out = shown(&[("doc.json", big.as_bytes())]);
        let line = out
            .lines()
            .find(|l| l.contains("non_numeric: depth{queue=\"q\"}"))
            .expect(&out);
        assert!(line.ends_with("..."), "{line}");
        assert!(line.len() < 150, "{line}");
    }
}
