//! The `--log-rules` file: what it says ([`File`], read strictly, as the mapping file is), and
//! what it becomes ([`Rules`]): regexes compiled once, each capture a label or the observed
//! value resolved to its group index, every name checked, so that a bad file is exit 2 at start
//! and the hot path ([`super::apply`]) never looks a name up.
//!
//! ```yaml
//! rules:
//!   - match: '^(?P<method>[A-Z]+) \S+ (?P<code>\d{3}) (?P<seconds>[0-9.]+)$'
//!     metric: http_requests_total
//!     type: counter
//!     labels: {method: '$method', code: '${code}xx'}
//!     help: Requests served.
//!   - match: ' (?P<seconds>[0-9.]+)$'
//!     metric: http_request_seconds
//!     type: histogram
//!     value: seconds
//!     buckets: [0.05, 0.1, 0.5, 1]
//! ```

use std::collections::BTreeMap;
use std::fmt;

use regex::Regex;
use serde::Deserialize;

use crate::mapping::{Observer, DEFAULT_BUCKETS};

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    /// Read one by one, so that an error in a rule names the rule.
    rules: Vec<serde_yaml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(rename = "match")]
    pattern: String,
    metric: String,
    #[serde(rename = "type")]
    kind: Kind,
    value: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    buckets: Option<Vec<f64>>,
    help: Option<String>,
}

/// What a matching line does to its series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Adds 1, or the captured `value`.
    Counter,
    /// Sets the captured `value`.
    Gauge,
    /// Observes the captured `value`.
    Histogram,
}

/// Every rule of one file, in file order; a line is tried against each.
#[derive(Debug)]
pub struct Rules {
    pub rules: Vec<Rule>,
}

#[derive(Debug)]
pub struct Rule {
    pub regex: Regex,
    pub metric: String,
    pub kind: Kind,
    /// The group whose text is the value; `None`: a counter that counts lines.
    pub value: Option<usize>,
    /// Sorted by label name (the store's order).
    pub labels: Vec<(String, Template)>,
    pub help: Option<String>,
    /// The histogram's buckets; for the other kinds, unused but required by the store's update.
    pub observer: Observer,
}

/// A label's value: literal text and `$name`, `${name}` or `$1` captures (`$$` is a `$`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(Vec<Segment>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Text(String),
    Group(usize),
}

impl Template {
    fn parse(text: &str, regex: &Regex) -> Result<Template, String> {
        let mut segments = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(at) = rest.find('$') {
            literal.push_str(&rest[..at]);
            rest = &rest[at + 1..];
            if let Some(after) = rest.strip_prefix('$') {
                literal.push('$');
                rest = after;
                continue;
            }
            let (name, after) = match rest.strip_prefix('{') {
                Some(braced) => {
                    let end = braced
                        .find('}')
                        .ok_or_else(|| format!("{text:?}: an unclosed ${{"))?;
                    (&braced[..end], &braced[end + 1..])
                }
                None => {
                    let end = rest
                        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .unwrap_or(rest.len());
                    (&rest[..end], &rest[end..])
                }
            };
            if name.is_empty() {
                return Err(format!(
                    "{text:?}: a $ with no capture name (write $$ for a $)"
                ));
            }
            if !literal.is_empty() {
                segments.push(Segment::Text(std::mem::take(&mut literal)));
            }
            segments.push(Segment::Group(group(regex, name)?));
            rest = after;
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            segments.push(Segment::Text(literal));
        }
        Ok(Template(segments))
    }

    /// Appends the value for `line`, whose captures are `groups`, to `out`; a group that took
    /// no part in the match adds nothing.
    pub fn expand_into(&self, line: &str, groups: &regex::CaptureLocations, out: &mut String) {
        for segment in &self.0 {
            match segment {
                Segment::Text(text) => out.push_str(text),
                Segment::Group(index) => {
                    if let Some((start, end)) = groups.get(*index) {
                        out.push_str(&line[start..end]);
                    }
                }
            }
        }
    }
}

/// The index of capture `name` (a name, or a number) in `regex`.
fn group(regex: &Regex, name: &str) -> Result<usize, String> {
    if let Ok(index) = name.parse::<usize>() {
        if index < regex.captures_len() {
            return Ok(index);
        }
        return Err(format!("the regex has no group {index}"));
    }
    regex
        .capture_names()
        .position(|n| n == Some(name))
        .ok_or_else(|| format!("the regex has no capture named {name:?}"))
}

/// Why a rules file was refused: which rule (1-based, with its `match`), and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulesError {
    rule: Option<(usize, String)>,
    why: String,
}

impl fmt::Display for RulesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.rule {
            Some((number, pattern)) => write!(f, "rule {number} ({pattern:?}): {}", self.why),
            None => f.write_str(&self.why),
        }
    }
}

impl std::error::Error for RulesError {}

impl Rules {
    pub fn from_yaml(text: &str) -> Result<Rules, RulesError> {
        let file: File = serde_yaml::from_str(text).map_err(|e| RulesError {
            rule: None,
            why: e.to_string(),
        })?;
        if file.rules.is_empty() {
            return Err(RulesError {
                rule: None,
                why: "no rules".to_owned(),
            });
        }
        let mut rules: Vec<Rule> = Vec::with_capacity(file.rules.len());
        for (at, value) in file.rules.into_iter().enumerate() {
            let pattern = value.get("match").and_then(|m| m.as_str()).unwrap_or("");
            let context = (at + 1, pattern.to_owned());
            let rule = RawRule::deserialize(value)
                .map_err(|e| e.to_string())
                .and_then(|raw| compile(raw, &rules))
                .map_err(|why| RulesError {
                    rule: Some(context),
                    why,
                })?;
            rules.push(rule);
        }
        Ok(Rules { rules })
    }
}

fn compile(raw: RawRule, earlier: &[Rule]) -> Result<Rule, String> {
    // The regex crate's message spans lines (the pattern, a caret); an error here is one line.
    let regex = Regex::new(&raw.pattern).map_err(|e| {
        let message = e.to_string();
        format!(
            "bad regex: {}",
            message.split_whitespace().collect::<Vec<_>>().join(" ")
        )
    })?;
    if !valid_name(&raw.metric, true) {
        return Err(format!(
            "metric {:?} is not a valid metric name",
            raw.metric
        ));
    }
    if raw.metric.starts_with("podkit_") {
        return Err(format!(
            "metric {:?}: podkit_ names are the adapter's own",
            raw.metric
        ));
    }
    let value = raw.value.as_deref().map(|v| group(&regex, v)).transpose()?;
    if value.is_none() && raw.kind != Kind::Counter {
        return Err(format!(
            "a {} needs `value`, the capture to observe",
            raw.kind.as_str()
        ));
    }
    let mut labels = Vec::with_capacity(raw.labels.len());
    for (name, text) in raw.labels {
        if !valid_name(&name, false) || name.starts_with("__") {
            return Err(format!("label {name:?} is not a valid label name"));
        }
        if name == "le" && raw.kind == Kind::Histogram {
            return Err("label \"le\" is a histogram's own".to_owned());
        }
        let template = Template::parse(&text, &regex).map_err(|e| format!("label {name}: {e}"))?;
        labels.push((name, template));
    }
    let buckets = match (raw.buckets, raw.kind) {
        (None, _) => DEFAULT_BUCKETS.to_vec(),
        (Some(buckets), Kind::Histogram) => {
            if buckets.is_empty()
                || buckets.iter().any(|b| !b.is_finite())
                || buckets.windows(2).any(|w| w[0] >= w[1])
            {
                return Err("buckets must be finite and increasing".to_owned());
            }
            buckets
        }
        (Some(_), _) => return Err("buckets are for a histogram".to_owned()),
    };
    if let Some(other) = earlier.iter().find(|r| r.metric == raw.metric) {
        if other.kind != raw.kind {
            return Err(format!(
                "metric {:?} is a {} in an earlier rule",
                raw.metric,
                other.kind.as_str()
            ));
        }
        if other.observer
            != (Observer::Histogram {
                buckets: buckets.clone(),
            })
        {
            return Err(format!(
                "metric {:?} has other buckets in an earlier rule",
                raw.metric
            ));
        }
    }
    Ok(Rule {
        regex,
        metric: raw.metric,
        kind: raw.kind,
        value,
        labels,
        help: raw.help,
        observer: Observer::Histogram { buckets },
    })
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// Prometheus' name rules: `[a-zA-Z_:][a-zA-Z0-9_:]*` for a metric, without `:` for a label.
fn valid_name(name: &str, colon: bool) -> bool {
    let ok = |c: char| c.is_ascii_alphabetic() || c == '_' || (colon && c == ':');
    let mut chars = name.chars();
    chars.next().is_some_and(ok) && chars.all(|c| ok(c) || c.is_ascii_digit())
}
