//! A fetched document through one input's rules: the samples it gives, and what was skipped.
//! json_exporter's conversions: a number is itself, `true`/`false` are 1 and 0, a string that
//! reads as a number is that number; anything else selected as a value is counted and skipped.

use std::sync::Arc;

use serde_json::Value;

use super::path::{Key, Root, Selected};
use super::rules::{Family, Kind, LabelSource, Part, Rules, ValueSource};

/// One value of one series.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub family: usize,
    /// In the rule's order; an empty value is an absent label.
    pub labels: Vec<(Arc<str>, String)>,
    pub value: f64,
}

/// Why a selected value gave no sample: the `reason` of `..._json_values_skipped_total`.
pub const SKIP_REASONS: [&str; 5] = [
    "non_numeric",
    "negative_counter",
    "duplicate",
    "name_taken",
    "max_series",
];

/// Counts per [`SKIP_REASONS`], in its order.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Skipped(pub [u64; 5]);

impl Skipped {
    pub fn count(&mut self, reason: usize) {
        self.0[reason] += 1;
    }
}

/// Where a selected value that gives no sample goes: counted by reason for the adapter's
/// metrics ([`Skipped`]), or shown one by one by `check`, which so runs the same selection.
pub trait Skips {
    /// A value for `family` under `labels` was skipped for [`SKIP_REASONS`]`[reason]`; `value`
    /// is what was selected.
    fn skip(
        &mut self,
        reason: usize,
        family: usize,
        labels: &[(Arc<str>, String)],
        value: &dyn std::fmt::Display,
    );
}

impl Skips for Skipped {
    fn skip(
        &mut self,
        reason: usize,
        _: usize,
        _: &[(Arc<str>, String)],
        _: &dyn std::fmt::Display,
    ) {
        self.count(reason);
    }
}

/// The samples `document` gives under `rules`.
pub fn samples(
    rules: &Rules,
    families: &[Family],
    document: &Value,
    skipped: &mut impl Skips,
) -> Vec<Sample> {
    let mut out = Vec::new();
    for rule in &rules.rules {
        for item in rule.path.select(document) {
            let labels: Vec<(Arc<str>, String)> = rule
                .labels
                .iter()
                .map(|(name, source)| (Arc::clone(name), label(source, &item, document)))
                .collect();
            for value in &rule.values {
                let found = match &value.source {
                    ValueSource::Item => Some(item.value),
                    ValueSource::Fixed(_) => None,
                    ValueSource::Path(path) => path
                        .first(start(path.root, &item, document))
                        .map(|s| s.value),
                };
                let number = match &value.source {
                    ValueSource::Fixed(n) => Some(*n),
                    _ => found.and_then(number),
                };
                let Some(number) = number else {
                    match found {
                        Some(json) => skipped.skip(0, value.family, &labels, json),
                        None => skipped.skip(0, value.family, &labels, &"nothing"),
                    }
                    continue;
                };
                let counter = families
                    .get(value.family)
                    .is_some_and(|f| f.kind == Kind::Counter);
                if counter && (number.is_nan() || number < 0.0) {
                    skipped.skip(1, value.family, &labels, &number);
                    continue;
                }
                out.push(Sample {
                    family: value.family,
                    labels: labels.clone(),
                    value: number,
                });
            }
        }
    }
    out
}

fn start<'a>(root: Root, item: &Selected<'a>, document: &'a Value) -> &'a Value {
    match root {
        Root::Document => document,
        Root::Item => item.value,
    }
}

fn label(source: &LabelSource, item: &Selected<'_>, document: &Value) -> String {
    let mut text = String::new();
    for part in &source.0 {
        match part {
            Part::Text(fixed) => text.push_str(fixed),
            Part::Key => match item.key {
                Some(Key::Member(name)) => text.push_str(name),
                Some(Key::Index(at)) => text.push_str(&at.to_string()),
                None => {}
            },
            Part::Path(path) => {
                if let Some(found) = path.first(start(path.root, item, document)) {
                    push_label_value(&mut text, found.value);
                }
            }
        }
    }
    text
}

/// A JSON scalar as label text; an object or array gives nothing (it has no one text).
fn push_label_value(text: &mut String, value: &Value) {
    match value {
        Value::String(s) => text.push_str(s),
        Value::Number(n) => text.push_str(&n.to_string()),
        Value::Bool(b) => text.push_str(if *b { "true" } else { "false" }),
        Value::Null | Value::Array(_) | Value::Object(_) => {}
    }
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        Value::String(s) => s.trim().parse().ok(),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::rules::Catalog;
    use proptest::prelude::*;
    use serde_json::json;

    fn run(yaml: &str, document: Value) -> (Vec<String>, Skipped) {
        let mut catalog = Catalog::default();
        let rules = catalog.load(yaml).unwrap();
        let mut skipped = Skipped::default();
        let shown = samples(&rules, &catalog.families, &document, &mut skipped)
            .into_iter()
            .map(|s| {
                let labels: Vec<String> =
                    s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!(
                    "{}{{{}}} {}",
                    catalog.families[s.family].name,
                    labels.join(","),
                    s.value
                )
            })
            .collect();
        (shown, skipped)
    }

    #[test]
    fn object_keys_and_array_items_become_label_values() {
        let doc = json!({
            "queues": {"mail": 3, "sms": "4"},
            "workers": [{"name": "a", "busy": true, "jobs": 10}, {"name": "b", "busy": false, "jobs": 2}],
            "region": "eu"
        });
        let (shown, skipped) = run(
            "metrics:\n\
             - {name: queue_depth, path: $.queues.*, labels: {queue: '@key', region: $.region}}\n\
             - name: worker\n  type: object\n  path: '{.workers[*]}'\n  labels: {worker: 'w-{.name}', at: '{@key}'}\n  values: {busy: '{.busy}', jobs_total: '@.jobs', up: 1}\n  valuetype: counter\n",
            doc,
        );
        assert_eq!(
            shown,
            [
                "queue_depth{queue=mail,region=eu} 3",
                "queue_depth{queue=sms,region=eu} 4",
                "worker_busy{at=0,worker=w-a} 1",
                "worker_jobs_total{at=0,worker=w-a} 10",
                "worker_up{at=0,worker=w-a} 1",
                "worker_busy{at=1,worker=w-b} 0",
                "worker_jobs_total{at=1,worker=w-b} 2",
                "worker_up{at=1,worker=w-b} 1",
            ]
        );
        assert_eq!(skipped, Skipped::default());
    }

    #[test]
    fn values_that_are_not_numbers_are_counted_and_skipped() {
        let doc = json!({"v": [1, "x", null, {"a": 1}, [2], "2.5", -1]});
        let (shown, skipped) = run("metrics: [{name: v, path: '$.v[*]'}]", doc.clone());
        assert_eq!(shown, ["v{} 1", "v{} 2.5", "v{} -1"]);
        assert_eq!(skipped.0, [4, 0, 0, 0, 0]);
        let (shown, skipped) = run(
            "metrics: [{name: v, path: '$.v[*]', valuetype: counter}]",
            doc,
        );
        assert_eq!(shown, ["v{} 1", "v{} 2.5"]);
        assert_eq!(skipped.0, [4, 1, 0, 0, 0]);
    }

    proptest! {
        /// Any document through rules using every kind of selection: no panic.
        #[test]
        fn any_document_gives_samples_without_panicking(document in crate::json::path::tests::document()) {
            let (_, skipped) = run(
                "metrics:\n- {name: a, path: '$.*', labels: {k: '@key', v: '{.a}-{$.b[0]}'}}\n- {name: b, type: object, path: '$[*]', values: {x: '@.a', y: 1}, valuetype: counter}\n",
                document,
            );
            prop_assert_eq!(skipped.0[2], 0);
        }
    }
}
