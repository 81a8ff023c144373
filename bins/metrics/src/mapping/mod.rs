//! statsd_exporter's mapping file, unchanged: which StatsD names become which Prometheus names
//! and labels, which are dropped, and how observations are kept (histogram buckets, summary
//! quantiles) and for how long (`ttl`).
//!
//! The file is read and checked once ([`Mapper::from_yaml`]) into compiled rules; a lookup
//! ([`Mapper::lookup`]) then only matches and concatenates. Rules are tried as statsd_exporter
//! tries them: every glob rule first, the first match in file order winning, then the regex
//! rules in file order.

pub mod cache;
pub mod config;
pub mod escape;
pub mod glob;
pub mod template;

use std::fmt;
use std::time::Duration;

use regex::Regex;

use crate::statsd::line::Kind;
pub use config::Objective;
use config::{Action, File, MatchType, MetricType, ObserverType};
use glob::Glob;
use template::Template;

/// Prometheus' default histogram buckets (client_golang's `DefBuckets`), which statsd_exporter
/// uses when a file gives none.
pub const DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// statsd_exporter's default quantiles and their allowed errors.
pub const DEFAULT_QUANTILES: [Objective; 3] = [
    Objective {
        quantile: 0.5,
        error: 0.05,
    },
    Objective {
        quantile: 0.9,
        error: 0.01,
    },
    Objective {
        quantile: 0.99,
        error: 0.001,
    },
];

/// The whole file, compiled.
#[derive(Debug)]
pub struct Mapper {
    rules: Vec<Rule>,
    /// Indices into `rules`, in file order.
    globs: Vec<usize>,
    regexes: Vec<usize>,
    /// What an unmapped observation becomes.
    pub default_observer: Observer,
    /// How long an unmapped series lives without an update; `None`: for ever.
    pub default_ttl: Option<Duration>,
    /// `glob_disable_ordering`: of the globs that match, the most specific wins (as
    /// statsd_exporter's matcher then finds it), not the first in the file.
    most_specific_glob: bool,
}

/// One mapping, compiled.
#[derive(Debug)]
pub struct Rule {
    /// The `match` as written, for messages and `check`.
    pub pattern: String,
    matcher: Matcher,
    only: Option<MetricType>,
    name: Template,
    /// Sorted by name.
    labels: Vec<(String, Template)>,
    pub drop: bool,
    pub observer: Observer,
    pub ttl: Option<Duration>,
    pub help: Option<String>,
    /// Tag labels win over the rule's labels of the same name.
    pub honor_labels: bool,
    /// Multiplies every value (`scale: 1e-6` for microseconds).
    pub scale: Option<f64>,
}

#[derive(Debug)]
enum Matcher {
    Glob(Glob),
    Regex(Regex),
}

/// How observations (`ms`, `h`, `d`) are kept.
#[derive(Debug, Clone, PartialEq)]
pub enum Observer {
    Histogram {
        buckets: Vec<f64>,
    },
    Summary {
        quantiles: Vec<Objective>,
        /// How long an observation counts toward the quantiles; `None`: client_golang's 10m.
        max_age: Option<Duration>,
        age_buckets: u32,
        buf_cap: u32,
    },
}

/// What a StatsD name became.
#[derive(Debug, PartialEq)]
pub struct Mapped<'m> {
    pub rule: &'m Rule,
    /// Escaped, a valid metric name, or empty when the rule's captures were.
    pub name: String,
    /// The rule's labels, expanded.
    pub labels: Vec<(String, String)>,
}

impl PartialEq for Rule {
    fn eq(&self, other: &Rule) -> bool {
        std::ptr::eq(self, other)
    }
}

/// Why a mapping file was refused: one line, naming the mapping when it is about one.
#[derive(Debug)]
pub struct MappingError {
    /// The mapping's position (from 1) and its `match`.
    mapping: Option<(usize, String)>,
    why: String,
}

impl fmt::Display for MappingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.mapping {
            Some((at, pattern)) => write!(f, "mapping {at} (match {pattern:?}): {}", self.why),
            None => f.write_str(&self.why),
        }
    }
}

impl std::error::Error for MappingError {}

impl Mapper {
    /// No mappings: every name escaped, observations into summaries with the default quantiles.
    pub fn empty() -> Mapper {
        Mapper {
            rules: Vec::new(),
            globs: Vec::new(),
            regexes: Vec::new(),
            default_observer: Observer::Summary {
                quantiles: DEFAULT_QUANTILES.to_vec(),
                max_age: None,
                age_buckets: 0,
                buf_cap: 0,
            },
            default_ttl: None,
            most_specific_glob: false,
        }
    }

    /// Reads and checks a mapping file with statsd_exporter's rules.
    pub fn from_yaml(text: &str) -> Result<Mapper, MappingError> {
        let file: File = serde_yaml::from_str::<Option<File>>(text)
            .map_err(|e| MappingError {
                mapping: None,
                why: one_line(&e.to_string()),
            })?
            .unwrap_or_default();
        compile(file)
    }

    /// The rule that `name` (a StatsD name, tags taken out) of `kind` matches, with its name and
    /// labels expanded; `None` when no rule matches.
    pub fn lookup(&self, name: &str, kind: Kind) -> Option<Mapped<'_>> {
        let kind = match kind {
            Kind::Counter => MetricType::Counter,
            // statsd_exporter has no sets; they are gauges to match.
            Kind::Gauge | Kind::Set => MetricType::Gauge,
            Kind::Observer => MetricType::Observer,
        };
        let applies = |rule: &Rule| rule.only.is_none_or(|only| only == kind);
        let mut best: Option<(&Rule, Vec<&str>)> = None;
        for &index in &self.globs {
            let rule = &self.rules[index];
            let Matcher::Glob(glob) = &rule.matcher else {
                continue;
            };
            if !applies(rule) {
                continue;
            }
            let Some(captures) = glob.captures(name) else {
                continue;
            };
            if !self.most_specific_glob {
                let capture = |i: usize| i.checked_sub(1).and_then(|i| captures.get(i)).copied();
                return Some(rule.expand(capture, |_| None));
            }
            let better = best
                .as_ref()
                .is_none_or(|(b, _): &(&Rule, _)| specificity(rule) < specificity(b));
            if better {
                best = Some((rule, captures));
            }
        }
        if let Some((rule, captures)) = best {
            let capture = |i: usize| i.checked_sub(1).and_then(|i| captures.get(i)).copied();
            return Some(rule.expand(capture, |_| None));
        }
        for &index in &self.regexes {
            let rule = &self.rules[index];
            let Matcher::Regex(regex) = &rule.matcher else {
                continue;
            };
            if !applies(rule) {
                continue;
            }
            if let Some(captures) = regex.captures(name) {
                let capture = |i: usize| captures.get(i).map(|m| m.as_str());
                let named = |n: &str| captures.name(n).map(|m| m.as_str());
                return Some(rule.expand(capture, named));
            }
        }
        None
    }

    /// How many mappings the file has.
    pub fn len(&self) -> usize {
        self.rules.len()
    }
}

impl Rule {
    fn expand<'c>(
        &self,
        capture: impl Fn(usize) -> Option<&'c str> + Copy,
        named: impl Fn(&str) -> Option<&'c str> + Copy,
    ) -> Mapped<'_> {
        let name = self.name.expand(capture, named);
        Mapped {
            rule: self,
            name: escape::escape_name(&name).into_owned(),
            labels: self
                .labels
                .iter()
                .map(|(label, value)| (label.clone(), value.expand(capture, named)))
                .collect(),
        }
    }
}

/// A glob rule's `*` positions, for `glob_disable_ordering`: smaller is more specific.
fn specificity(rule: &Rule) -> Vec<bool> {
    match &rule.matcher {
        Matcher::Glob(glob) => glob.specificity().collect(),
        Matcher::Regex(_) => Vec::new(),
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// statsd_exporter's checks, in its order, and the defaults filled in.
fn compile(file: File) -> Result<Mapper, MappingError> {
    let defaults = file.defaults;
    let default_buckets = match defaults.histogram_options.buckets.is_empty() {
        true => DEFAULT_BUCKETS.to_vec(),
        false => defaults.histogram_options.buckets.clone(),
    };
    let default_summary = defaults.summary_options.clone();
    let default_quantiles = match default_summary.quantiles.is_empty() {
        true => DEFAULT_QUANTILES.to_vec(),
        false => default_summary.quantiles.clone(),
    };
    let default_ttl = defaults.ttl.map(|d| d.0).filter(|d| !d.is_zero());
    let default_match = defaults.match_type.unwrap_or(MatchType::Glob);
    let summary = |options: Option<config::SummaryOptions>| {
        let options = options.unwrap_or_default();
        let pick = |own: u32, default: u32| if own == 0 { default } else { own };
        Observer::Summary {
            quantiles: match options.quantiles.is_empty() {
                true => default_quantiles.clone(),
                false => options.quantiles,
            },
            max_age: options
                .max_age
                .or(default_summary.max_age)
                .map(|d| d.0)
                .filter(|d| !d.is_zero()),
            age_buckets: pick(options.age_buckets, default_summary.age_buckets),
            buf_cap: pick(options.buf_cap, default_summary.buf_cap),
        }
    };
    let default_observer = match defaults.observer_type {
        Some(ObserverType::Histogram) => Observer::Histogram {
            buckets: default_buckets.clone(),
        },
        _ => summary(None),
    };
    let metric_name = Regex::new(r"^([a-zA-Z_]|\$\{?\d+\}?)([a-zA-Z0-9_]|\$\{?\d+\}?)*$")
        .expect("a valid pattern");
    let glob_line =
        Regex::new(r"^(\*|[a-zA-Z_][a-zA-Z0-9_\-]*)(\.\*|\.[a-zA-Z0-9_][a-zA-Z0-9_\-]*)*$")
            .expect("a valid pattern");
    // statsd_exporter wants two characters at least; one-letter label names are refused there.
    let label_name = Regex::new(r"^[a-zA-Z_][a-zA-Z0-9_]+$").expect("a valid pattern");

    let mut mapper = Mapper {
        rules: Vec::with_capacity(file.mappings.len()),
        globs: Vec::new(),
        regexes: Vec::new(),
        default_observer,
        default_ttl,
        most_specific_glob: defaults.glob_disable_ordering,
    };
    for (at, mapping) in file.mappings.into_iter().enumerate() {
        let fail = |why: String| MappingError {
            mapping: Some((at + 1, mapping.pattern.clone())),
            why,
        };
        let labels = mapping.labels.clone().unwrap_or_default();
        if let Some(bad) = labels.keys().find(|k| !label_name.is_match(k)) {
            return Err(fail(format!("invalid label name {bad:?}")));
        }
        if mapping.name.is_empty() {
            return Err(fail("no name: every mapping needs one".to_owned()));
        }
        if !metric_name.is_match(&mapping.name) {
            return Err(fail(format!(
                "name {:?} is not a metric name (letters, digits, _ and $1 captures)",
                mapping.name
            )));
        }
        let matcher = match mapping.match_type.unwrap_or(default_match) {
            MatchType::Glob => {
                if !glob_line.is_match(&mapping.pattern) {
                    return Err(fail(
                        "invalid glob: dot-separated names or whole * segments".to_owned(),
                    ));
                }
                Matcher::Glob(Glob::new(&mapping.pattern))
            }
            MatchType::Regex => match Regex::new(&mapping.pattern) {
                Ok(regex) => Matcher::Regex(regex),
                Err(e) => return Err(fail(format!("invalid regex: {}", one_line(&e.to_string())))),
            },
        };
        let observer = match mapping.observer_type.or(defaults.observer_type) {
            Some(ObserverType::Histogram) => {
                if mapping.summary_options.is_some() {
                    return Err(fail(
                        "summary_options with a histogram observer_type".to_owned(),
                    ));
                }
                let buckets = mapping
                    .histogram_options
                    .as_ref()
                    .map(|o| o.buckets.clone())
                    .filter(|b| !b.is_empty())
                    .unwrap_or_else(|| default_buckets.clone());
                Observer::Histogram { buckets }
            }
            Some(ObserverType::Summary) => {
                if mapping.histogram_options.is_some() {
                    return Err(fail(
                        "histogram_options with a summary observer_type".to_owned(),
                    ));
                }
                summary(mapping.summary_options.clone())
            }
            None => summary(mapping.summary_options.clone()),
        };
        if let Observer::Histogram { buckets } = &observer {
            if buckets.windows(2).any(|w| w[0] >= w[1]) || buckets.iter().any(|b| b.is_nan()) {
                return Err(fail("histogram buckets must increase".to_owned()));
            }
        }
        if let Observer::Summary { quantiles, .. } = &observer {
            if quantiles.iter().any(|q| !(0.0..=1.0).contains(&q.quantile)) {
                return Err(fail("quantiles must be between 0 and 1".to_owned()));
            }
        }
        let index = mapper.rules.len();
        match matcher {
            Matcher::Glob(_) => mapper.globs.push(index),
            Matcher::Regex(_) => mapper.regexes.push(index),
        }
        mapper.rules.push(Rule {
            pattern: mapping.pattern.clone(),
            matcher,
            only: mapping.match_metric_type,
            name: Template::parse(&mapping.name),
            labels: labels
                .iter()
                .map(|(k, v)| (k.clone(), Template::parse(v)))
                .collect(),
            drop: mapping.action == Some(Action::Drop),
            observer,
            ttl: mapping
                .ttl
                .map(|d| d.0)
                .filter(|d| !d.is_zero())
                .or(default_ttl),
            help: mapping.help.clone().filter(|h| !h.is_empty()),
            honor_labels: mapping.honor_labels,
            scale: mapping.scale,
        });
    }
    Ok(mapper)
}

#[cfg(test)]
#[path = "mapper_tests.rs"]
mod tests;
