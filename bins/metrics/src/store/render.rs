//! The table in the Prometheus text format, written straight into the `/metrics` body: one
//! family per name, sorted by name, its series under the union of their label names.
//!
//! Straight, not through the `prometheus` crate's registry: that would build a protobuf
//! structure per series (a dozen allocations each), sort them, and format them again, which
//! at 100,000 series is most of a scrape, with the table's lock held all along.

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use podkit::serve::prometheus::IntCounter;
use podkit::serve::TextSource;

use super::series::Value;
use super::{Family, FamilyKind, State, Store};

/// The store as a part of every `/metrics` body.
#[derive(Clone)]
pub struct StoreText {
    pub store: Arc<Store>,
    /// Counts the series a scrape found expired.
    pub expired: IntCounter,
}

impl TextSource for StoreText {
    fn append(&self, body: &mut Vec<u8>) {
        let now = Instant::now();
        let mut state = self.store.lock();
        // A scrape never shows a series whose ttl has passed, whenever the sweep last ran.
        let expired = state.expire(now);
        // About what a counter with two labels takes: the body grows by doubling only rarely.
        body.reserve(state.series() * 64);
        render(&mut state, now, body);
        drop(state);
        self.expired.inc_by(expired as u64);
    }
}

/// Every family, sorted by name, into `out`.
pub fn render(state: &mut State, now: Instant, out: &mut Vec<u8>) {
    // Unmapped StatsD names are a family each: 100,000 of them must cost no copy of their names.
    let mut families: Vec<(&String, &mut Family)> = state.families.iter_mut().collect();
    families.sort_unstable_by(|a, b| a.0.cmp(b.0));
    for (name, family) in families {
        render_family(name, family, now, out);
    }
}

fn render_family(name: &str, family: &mut Family, now: Instant, out: &mut Vec<u8>) {
    if family.series.is_empty() {
        return;
    }
    // The family's label names are shared by its series (see `Labels`): they are told apart by
    // address, without reading the strings of 100,000 keys scattered over the heap.
    let mut union: Vec<&Arc<str>> = Vec::new();
    for labels in family.series.keys() {
        for (label, _) in labels.iter() {
            if !union.iter().any(|known| Arc::ptr_eq(known, label)) {
                union.push(label);
            }
        }
    }
    union.sort();
    let union: Vec<Arc<str>> = union.into_iter().cloned().collect();
    let kind = match family.kind {
        FamilyKind::Counter => "counter",
        FamilyKind::Gauge | FamilyKind::Set => "gauge",
        FamilyKind::Histogram(_) => "histogram",
        FamilyKind::Summary { .. } => "summary",
    };
    out.extend_from_slice(b"# HELP ");
    out.extend_from_slice(name.as_bytes());
    out.push(b' ');
    escape(&family.help, false, out);
    out.extend_from_slice(b"\n# TYPE ");
    out.extend_from_slice(name.as_bytes());
    out.push(b' ');
    out.extend_from_slice(kind.as_bytes());
    out.push(b'\n');
    // The series' labels under the union, written once per series and reused by each of its
    // samples (a histogram's buckets).
    let mut labels = Vec::new();
    for (key, entry) in family.series.iter_mut() {
        labels.clear();
        for (i, label) in union.iter().enumerate() {
            if i > 0 {
                labels.push(b',');
            }
            labels.extend_from_slice(label.as_bytes());
            labels.extend_from_slice(b"=\"");
            let value = key
                .iter()
                .find(|(k, _)| Arc::ptr_eq(k, label))
                .map_or("", |(_, v)| &**v);
            escape(value, true, &mut labels);
            labels.push(b'"');
        }
        let sample = |out: &mut Vec<u8>, suffix: &str, extra: Option<(&str, f64)>, value: f64| {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(suffix.as_bytes());
            if !labels.is_empty() || extra.is_some() {
                out.push(b'{');
                out.extend_from_slice(&labels);
                if let Some((label, bound)) = extra {
                    if !labels.is_empty() {
                        out.push(b',');
                    }
                    out.extend_from_slice(label.as_bytes());
                    out.extend_from_slice(b"=\"");
                    number(bound, out);
                    out.push(b'"');
                }
                out.push(b'}');
            }
            out.push(b' ');
            number(value, out);
            out.push(b'\n');
        };
        match &mut entry.value {
            Value::Counter(value) | Value::Gauge(value) => sample(out, "", None, *value),
            Value::Set(members) => sample(out, "", None, members.len() as f64),
            Value::Histogram(histogram) => {
                for (bound, count) in histogram.cumulative() {
                    sample(out, "_bucket", Some(("le", bound)), count as f64);
                }
                let count = histogram.count as f64;
                sample(out, "_bucket", Some(("le", f64::INFINITY)), count);
                sample(out, "_sum", None, histogram.sum);
                sample(out, "_count", None, count);
            }
            Value::Summary(summary) => {
                for (quantile, value) in summary.quantiles(now) {
                    sample(out, "", Some(("quantile", quantile)), value);
                }
                sample(out, "_sum", None, summary.sum);
                sample(out, "_count", None, summary.count as f64);
            }
        }
    }
}

/// A value as the text format spells it: `+Inf`, `-Inf`, `NaN`, or the shortest decimal that
/// reads back as the same float.
fn number(value: f64, out: &mut Vec<u8>) {
    if value.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if value.is_infinite() {
        out.extend_from_slice(if value > 0.0 { b"+Inf" } else { b"-Inf" });
    } else {
        // Writing to a Vec cannot fail.
        let _ = write!(out, "{value}");
    }
}

/// `\` and a line break escaped, and `"` in a label value.
fn escape(text: &str, quote: bool, out: &mut Vec<u8>) {
    for byte in text.bytes() {
        match byte {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'"' if quote => out.extend_from_slice(b"\\\""),
            _ => out.push(byte),
        }
    }
}
