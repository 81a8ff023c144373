//! Lines into the table: parse ([`crate::statsd::line`]), map ([`crate::mapping`]), apply
//! ([`crate::store`]), counting what was skipped. Every input path (UDP, TCP) comes through
//! here, with a batch of lines at a time so that the table's lock is taken once per batch.

use std::borrow::Cow;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use crate::mapping::cache::{self, MappingCache, Resolved};
use crate::mapping::Mapper;
use crate::metrics::Metrics;
use crate::statsd::line::{self, Kind, Problems, Reason, Sample};
use crate::store::{Op, Refusal, Store, Update};

/// Names the adapter keeps for its own metrics: a StatsD name mapped onto one would mix two
/// families in one scrape.
const RESERVED_PREFIX: &str = "podkit_";

#[derive(Debug, Clone)]
pub struct Ingest {
    pub mapper: Arc<Mapper>,
    pub store: Arc<Store>,
    pub metrics: Metrics,
    /// The mapper's results by name, shared by every input; locked once per batch.
    pub cache: Arc<Mutex<MappingCache>>,
}

impl Ingest {
    /// Takes in a batch of newline-separated lines (a datagram, or what a TCP read gave).
    pub fn lines(&self, batch: &[u8]) {
        let now = Instant::now();
        let mut samples: Vec<Sample<'_>> = Vec::new();
        let mut problems = Problems::default();
        let mut lines = 0u64;
        for text in batch.split(|b| *b == b'\n') {
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            if text.is_empty() {
                continue;
            }
            lines += 1;
            line::parse_bytes(text, &mut samples, &mut problems);
        }
        self.metrics.lines.inc_by(lines);
        self.count(&problems);
        if samples.is_empty() {
            return;
        }
        // A panic while it was held leaves at worst a name not yet remembered.
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let mut state = self.store.lock();
        for sample in &samples {
            match map_cached(&self.mapper, &mut cache, sample) {
                Ok(mapped) => {
                    if !mapped.mapped {
                        self.metrics.unmapped.inc();
                    }
                    match state.apply(&mapped.update, now) {
                        Ok(()) => {}
                        Err(Refusal::MaxSeries) => self.metrics.refused.inc(),
                        Err(Refusal::TypeConflict) => self.metrics.dropped("type_conflict"),
                    }
                }
                Err(Skip(reason)) => self.metrics.dropped(reason),
            }
        }
        self.metrics.series.set(state.series() as i64);
    }

    fn count(&self, problems: &Problems) {
        self.metrics.samples.inc_by(u64::from(problems.samples));
        self.metrics
            .tag_errors
            .inc_by(u64::from(problems.tag_errors));
        for reason in &problems.errors {
            let at = Reason::ALL.iter().position(|r| r == reason).unwrap_or(0);
            self.metrics.parse_errors[at].inc();
        }
    }
}

/// An update, and the mapping that made it (`None`: unmapped, the escaped StatsD name).
#[derive(Debug)]
pub struct MappedUpdate<'s> {
    pub update: Update<'s>,
    pub mapped: bool,
    /// The `match` of the rule, for `check`.
    pub rule: Option<&'s str>,
}

/// Why a sample makes no update: one of [`crate::metrics::DROP_REASONS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skip(pub &'static str);

/// What `sample` becomes under `mapper`: statsd_exporter's rules (the rule's labels win over
/// tags unless `honor_labels`; `scale` multiplies; a negative counter is refused), plus the name
/// of the rule that matched, for `check`.
pub fn map_sample<'s>(
    mapper: &'s Mapper,
    sample: &'s Sample<'_>,
) -> Result<MappedUpdate<'s>, Skip> {
    let resolved = cache::resolve(mapper, &sample.name, sample.kind);
    let name = match &resolved {
        Resolved::Mapped { name, .. } => name.clone(),
        Resolved::Unmapped { name } => name.to_string(),
    };
    build(mapper, sample, &resolved, Cow::Owned(name))
}

/// As [`map_sample`], with the name's lookup remembered in `cache`: the update borrows the
/// mapped name from it.
pub fn map_cached<'s>(
    mapper: &'s Mapper,
    cache: &'s mut MappingCache,
    sample: &'s Sample<'_>,
) -> Result<MappedUpdate<'s>, Skip> {
    let resolved: &'s Resolved = cache.resolve(mapper, &sample.name, sample.kind);
    let name = match resolved {
        Resolved::Mapped { name, .. } => name.as_str(),
        Resolved::Unmapped { name } => name,
    };
    build(mapper, sample, resolved, Cow::Borrowed(name))
}

/// The update of `sample`, whose name resolved to `resolved` (and `name`).
fn build<'s>(
    mapper: &'s Mapper,
    sample: &'s Sample<'_>,
    resolved: &Resolved,
    name: Cow<'s, str>,
) -> Result<MappedUpdate<'s>, Skip> {
    let rule = resolved.rule(mapper);
    if rule.is_some_and(|r| r.drop) {
        return Err(Skip("rule"));
    }
    let mut labels: Vec<(String, String)> = sample
        .labels
        .iter()
        .map(|(k, v)| (k.to_string(), (*v).to_owned()))
        .collect();
    let mapped = match (resolved, rule) {
        (Resolved::Mapped { labels: own, .. }, Some(rule)) => {
            for (label, value) in own {
                match labels.iter_mut().find(|(k, _)| k == label) {
                    Some(_) if rule.honor_labels => {}
                    Some(slot) => slot.1.clone_from(value),
                    None => labels.push((label.clone(), value.clone())),
                }
            }
            true
        }
        _ => false,
    };
    if name.is_empty() {
        return Err(Skip("empty_name"));
    }
    if name.starts_with(RESERVED_PREFIX) {
        return Err(Skip("reserved_name"));
    }
    // An empty value is an absent label to Prometheus: dropping it here keeps one series per
    // label set.
    labels.retain(|(k, v)| !v.is_empty() && !k.is_empty());
    labels.sort();
    if sample.kind == Kind::Observer {
        // `le` and `quantile` are the buckets' and quantiles' own labels: a tag of that name
        // would give one sample two of them, and the whole scrape would be refused.
        let own = match rule.map_or(&mapper.default_observer, |r| &r.observer) {
            crate::mapping::Observer::Histogram { .. } => "le",
            crate::mapping::Observer::Summary { .. } => "quantile",
        };
        if labels.iter().any(|(k, _)| k == own) {
            return Err(Skip("reserved_label"));
        }
    }
    let value = sample.value * rule.and_then(|r| r.scale).unwrap_or(1.0);
    let op = match sample.kind {
        Kind::Counter if value < 0.0 => return Err(Skip("negative_counter")),
        // `NaN`, `Inf`, or a finite value that the mapping's scale took past f64's range.
        Kind::Counter if !value.is_finite() => return Err(Skip("non_finite_counter")),
        Kind::Counter => Op::Add(value),
        Kind::Gauge if sample.relative => Op::Move(value),
        Kind::Gauge => Op::Set(value),
        Kind::Set => Op::Member(sample.member),
        Kind::Observer => Op::Observe(value, sample.repeat),
    };
    Ok(MappedUpdate {
        update: Update {
            name,
            help: rule.and_then(|r| r.help.as_deref()),
            labels,
            op,
            ttl: rule.map_or(mapper.default_ttl, |r| r.ttl),
            observer: rule.map_or(&mapper.default_observer, |r| &r.observer),
        },
        mapped,
        rule: rule.map(|r| r.pattern.as_str()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPPING: &str = "mappings:\n\
        - match: api.*.hits\n  name: api_hits_total\n  labels:\n    endpoint: \"$1\"\n    code: fixed\n\
        - match: honor.*\n  name: honored\n  honor_labels: true\n  labels:\n    code: fixed\n\
        - match: micro.*\n  name: micro_seconds\n  scale: 1e-6\n  observer_type: histogram\n\
        - match: empty.*\n  name: \"$2\"\n";

    /// What the first sample of `line` becomes under [`MAPPING`]: its name, its labels as
    /// `k=v`, and its operation as `{:?}`.
    fn mapped(line: &str) -> Result<(String, Vec<String>, String), Skip> {
        let mapper = Mapper::from_yaml(MAPPING).expect("a valid mapping");
        let mut samples = Vec::new();
        line::parse(line, &mut samples, &mut Problems::default());
        map_sample(&mapper, &samples[0]).map(|m| {
            let labels = m
                .update
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            (
                m.update.name.to_string(),
                labels,
                format!("{:?}", m.update.op),
            )
        })
    }

    #[test]
    fn rule_labels_win_over_tags_unless_honor_labels() {
        let (name, labels, _) = mapped("api.users.hits:1|c|#code:500,extra:x").unwrap();
        assert_eq!(name, "api_hits_total");
        assert_eq!(labels, ["code=fixed", "endpoint=users", "extra=x"]);
        let (_, labels, _) = mapped("honor.x:1|c|#code:500").unwrap();
        assert_eq!(labels, ["code=500"]);
    }

    #[test]
    fn scale_multiplies_and_refusals_are_named() {
        let (_, _, op) = mapped("micro.x:1500|h").unwrap();
        assert_eq!(op, format!("{:?}", Op::Observe(1500.0 * 1e-6, 1)));
        assert_eq!(mapped("x:-1|c").unwrap_err(), Skip("negative_counter"));
        assert_eq!(mapped("x:NaN|c").unwrap_err(), Skip("non_finite_counter"));
        assert_eq!(mapped("x:+Inf|c").unwrap_err(), Skip("non_finite_counter"));
        assert_eq!(mapped("empty.a:1|c").unwrap_err(), Skip("empty_name"));
        assert_eq!(mapped("podkit_x:1|c").unwrap_err(), Skip("reserved_name"));
        assert_eq!(
            mapped("t:1|ms|#quantile:9").unwrap_err(),
            Skip("reserved_label")
        );
        assert_eq!(
            mapped("micro.t:1|h|#le:9").unwrap_err(),
            Skip("reserved_label")
        );
        assert!(
            mapped("c:1|c|#le:9").is_ok(),
            "a counter may have an le label"
        );
    }
}
