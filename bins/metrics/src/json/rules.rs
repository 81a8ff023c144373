//! The rules file of a JSON input, read once at start: json_exporter's `metrics` list, the
//! fields that name places in a document and how their values become series. A file written
//! for json_exporter loads unchanged when it uses that subset (its module form included); what
//! it cannot do here (filters such as `[?(@.state == "up")]`, timestamps, value converters) is
//! an error naming the field, never silently ignored.
//!
//! ```yaml
//! metrics:
//! - name: app_queue_depth          # type: value (the default): each selected value is a sample
//!   help: Messages waiting, per queue.
//!   path: $.queues.*               # an object of queues: every member...
//!   labels: {queue: '@key'}        # ...named by its key
//! - name: app_worker                # type: object: each selected item gives one sample per value
//!   type: object
//!   path: $.workers[*]
//!   labels: {worker: '{.name}', pool: main}
//!   values: {busy: '{.busy}', jobs_total: '@.jobs', up: 1}
//!   valuetype: gauge               # or counter, untyped
//! ```
//!
//! A label is a path (from the item with `@` or a bare `{.name}`, from the document with `$`),
//! `@key` (the member name or array index the item sits under), or text with `{.path}` or
//! `{@key}` parts in it (json_exporter's `planet-{.location}`).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use http::{HeaderName, HeaderValue};
use serde::Deserialize;

use super::path::Path;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    metrics: Option<Vec<MetricSpec>>,
    /// json_exporter's form before 0.5: `headers` beside `metrics`.
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// json_exporter's form since 0.5: modules by name, one chosen per scrape. An adapter has
    /// one URL per rules file, so the file may hold one module (or one named `default`).
    modules: Option<BTreeMap<String, ModuleSpec>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModuleSpec {
    #[serde(default)]
    metrics: Vec<MetricSpec>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricSpec {
    name: String,
    #[serde(default)]
    help: Option<String>,
    path: String,
    #[serde(rename = "type", default)]
    shape: Shape,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    values: BTreeMap<String, ValueSpec>,
    #[serde(default)]
    valuetype: Kind,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Shape {
    #[default]
    Value,
    Object,
}

/// A `values` entry: a path, or json_exporter's fixed number (`up: 1`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ValueSpec {
    Fixed(f64),
    Path(String),
}

/// The Prometheus type of a family.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    #[default]
    Gauge,
    Counter,
    /// json_exporter's default; exposed as a gauge, which Prometheus reads the same way (the
    /// prometheus crate no longer writes untyped families).
    Untyped,
}

/// One metric name as exposed, shared by every rule (of every input) that names it.
#[derive(Debug, Clone)]
pub struct Family {
    pub name: String,
    pub help: String,
    pub kind: Kind,
    /// The union of the label names its rules give, sorted.
    pub labels: Vec<Arc<str>>,
}

/// Every family of every input; rules refer to them by index.
#[derive(Debug, Default)]
pub struct Catalog {
    pub families: Vec<Family>,
}

/// One input's rules, compiled.
#[derive(Debug)]
pub struct Rules {
    pub rules: Vec<Rule>,
    /// Headers to send with each fetch (a module's `headers`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

#[derive(Debug)]
pub struct Rule {
    pub path: Path,
    pub labels: Vec<(Arc<str>, LabelSource)>,
    pub values: Vec<Value>,
}

/// One sample a selected item gives: into which family, from where.
#[derive(Debug)]
pub struct Value {
    pub family: usize,
    pub source: ValueSource,
}

#[derive(Debug)]
pub enum ValueSource {
    /// The selected value itself (`type: value`).
    Item,
    Path(Path),
    Fixed(f64),
}

/// A label's value: its parts, joined.
#[derive(Debug)]
pub struct LabelSource(pub Vec<Part>);

#[derive(Debug)]
pub enum Part {
    Text(String),
    /// `@key`: the member name or index the item sits under.
    Key,
    Path(Path),
}

/// Why a rules file was refused; shown after the file's name.
#[derive(Debug)]
pub struct RulesError(String);

impl fmt::Display for RulesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RulesError {}

fn fail<T>(text: impl Into<String>) -> Result<T, RulesError> {
    Err(RulesError(text.into()))
}

/// Names the adapter keeps for its own metrics.
const RESERVED_PREFIX: &str = "podkit_";

impl Catalog {
    /// Reads one rules file, adding its families to the catalog.
    pub fn load(&mut self, yaml: &str) -> Result<Rules, RulesError> {
        let file: FileSpec = serde_yaml::from_str(yaml).map_err(|e| RulesError(e.to_string()))?;
        let (metrics, headers) = match (file.metrics, file.modules) {
            (Some(metrics), None) => (metrics, file.headers),
            (None, Some(_)) if !file.headers.is_empty() => {
                return fail("`headers` go inside the module")
            }
            (None, Some(mut modules)) => {
                let module = match modules.remove("default") {
                    Some(module) => module,
                    None if modules.len() == 1 => modules.into_values().next().expect("one"),
                    None => return fail(
                        "modules: give one module, or one named `default`: an input has one URL",
                    ),
                };
                (module.metrics, module.headers)
            }
            (Some(_), Some(_)) => return fail("give `metrics` or `modules`, not both"),
            (None, None) => return fail("no `metrics`: nothing to select"),
        };
        if metrics.is_empty() {
            return fail("no `metrics`: nothing to select");
        }
        let headers = headers
            .into_iter()
            .map(|(name, value)| {
                let name = HeaderName::try_from(name.as_str())
                    .map_err(|e| RulesError(format!("headers: {name:?}: {e}")))?;
                let value = HeaderValue::try_from(value.as_str())
                    .map_err(|e| RulesError(format!("headers: {name}: {e}")))?;
                Ok((name, value))
            })
            .collect::<Result<_, RulesError>>()?;
        let rules = metrics
            .into_iter()
            .map(|spec| {
                let name = spec.name.clone();
                self.rule(spec)
                    .map_err(|e| RulesError(format!("metric {name:?}: {e}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Rules { rules, headers })
    }

    fn rule(&mut self, spec: MetricSpec) -> Result<Rule, RulesError> {
        let path = Path::parse(&spec.path).map_err(|e| RulesError(format!("path: {e}")))?;
        let mut labels = Vec::new();
        for (name, text) in &spec.labels {
            if !is_label_name(name) {
                return fail(format!(
                    "label {name:?}: a label name is [a-zA-Z_][a-zA-Z0-9_]* and does not start with __"
                ));
            }
            labels.push((
                Arc::from(name.as_str()),
                label_source(text).map_err(|e| RulesError(format!("label {name}: {e}")))?,
            ));
        }
        let label_names: Vec<&str> = spec.labels.keys().map(String::as_str).collect();
        let help = spec.help.unwrap_or_default();
        let values = match spec.shape {
            Shape::Value => {
                if !spec.values.is_empty() {
                    return fail("`values` is for `type: object`");
                }
                let family = self.family(&spec.name, &help, spec.valuetype, &label_names)?;
                vec![Value {
                    family,
                    source: ValueSource::Item,
                }]
            }
            Shape::Object => {
                if spec.values.is_empty() {
                    return fail("`type: object` needs `values`");
                }
                let mut values = Vec::new();
                for (suffix, value) in spec.values {
                    let name = format!("{}_{suffix}", spec.name);
                    let family = self.family(&name, &help, spec.valuetype, &label_names)?;
                    let source = match value {
                        ValueSpec::Fixed(n) => ValueSource::Fixed(n),
                        ValueSpec::Path(text) => ValueSource::Path(
                            Path::parse(&text)
                                .map_err(|e| RulesError(format!("values: {suffix}: {e}")))?,
                        ),
                    };
                    values.push(Value { family, source });
                }
                values
            }
        };
        Ok(Rule {
            path,
            labels,
            values,
        })
    }

    /// The family called `name`, made or joined: a name seen before must keep its type.
    fn family(
        &mut self,
        name: &str,
        help: &str,
        kind: Kind,
        labels: &[&str],
    ) -> Result<usize, RulesError> {
        if !is_metric_name(name) {
            return fail(format!(
                "{name:?} is not a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)"
            ));
        }
        if name.starts_with(RESERVED_PREFIX) {
            return fail(format!(
                "{name:?}: names starting with {RESERVED_PREFIX} are podkit-metrics' own"
            ));
        }
        let at = match self.families.iter().position(|f| f.name == name) {
            Some(at) => {
                if self.families[at].kind != kind {
                    return fail(format!(
                        "{name:?} is a {:?} elsewhere: one name has one type",
                        self.families[at].kind
                    ));
                }
                at
            }
            None => {
                self.families.push(Family {
                    name: name.to_owned(),
                    help: String::new(),
                    kind,
                    labels: Vec::new(),
                });
                self.families.len() - 1
            }
        };
        let family = &mut self.families[at];
        if family.help.is_empty() {
            family.help = help.to_owned();
        }
        for label in labels {
            if !family.labels.iter().any(|l| &**l == *label) {
                family.labels.push(Arc::from(*label));
            }
        }
        family.labels.sort();
        Ok(at)
    }

    /// The help of every family, made final: json_exporter's default where a rule gave none.
    pub fn finish(&mut self) {
        for family in &mut self.families {
            if family.help.is_empty() {
                family.help = format!("Selected by podkit-metrics' JSON rules: {}.", family.name);
            }
        }
    }
}

/// `@key`, a path (`$.a`, `@.a`), or text with json_exporter's `{.path}` (or `{@key}`) inside
/// it: `planet-{.location}`.
fn label_source(text: &str) -> Result<LabelSource, RulesError> {
    let trimmed = text.trim();
    if trimmed == "@key" {
        return Ok(LabelSource(vec![Part::Key]));
    }
    if trimmed.starts_with(['$', '@']) {
        let path = Path::parse(trimmed).map_err(|e| RulesError(e.to_string()))?;
        return Ok(LabelSource(vec![Part::Path(path)]));
    }
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            parts.push(Part::Text(rest[..open].to_owned()));
        }
        let close = rest[open..]
            .find('}')
            .ok_or_else(|| RulesError(format!("{text:?}: a `{{` without its `}}`")))?
            + open;
        let inner = rest[open + 1..close].trim();
        parts.push(if inner == "@key" {
            Part::Key
        } else {
            Part::Path(Path::parse(inner).map_err(|e| RulesError(format!("{text:?}: {e}")))?)
        });
        rest = &rest[close + 1..];
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest.to_owned()));
    }
    Ok(LabelSource(parts))
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    !name.starts_with("__")
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(yaml: &str) -> Result<(Catalog, Rules), String> {
        let mut catalog = Catalog::default();
        let rules = catalog.load(yaml).map_err(|e| e.to_string())?;
        catalog.finish();
        Ok((catalog, rules))
    }

    #[test]
    fn json_exporters_example_config_loads_unchanged() {
        // json_exporter's examples/config.yml, less what it cannot do here (a filter).
        let yaml = r#"
modules:
  default:
    headers:
      X-Dummy: my-test-header
    metrics:
    - name: example_global_value
      path: "{ .counter }"
      help: Example of a top-level global value scrape in the json
      labels:
        environment: beta # static label
        location: "planet-{.location}"          # dynamic label
    - name: example_value
      type: object
      help: Example of sub-level value scrapes from a json
      path: '{.values[*]}'
      labels:
        environment: beta # static label
        id: '{.id}'          # dynamic label
      values:
        active: 1      # static value
        count: '{.count}' # dynamic value
        boolean: '{.some_boolean}'
"#;
        let (catalog, rules) = load(yaml).unwrap();
        let names: Vec<&str> = catalog.families.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "example_global_value",
                "example_value_active",
                "example_value_boolean",
                "example_value_count"
            ]
        );
        assert_eq!(rules.headers[0].0, "x-dummy");
        assert_eq!(&*catalog.families[1].labels[1], "id");
        // `planet-{.location}`: text, then a path.
        assert!(matches!(
            rules.rules[0].labels[1].1 .0[..],
            [Part::Text(_), Part::Path(_)]
        ));
    }

    #[test]
    fn refusals_name_the_metric_and_the_field() {
        for (yaml, expected) in [
            ("metrics: []", "no `metrics`"),
            (
                "metrics: [{name: a, path: '$.x[?(@.up)]'}]",
                "metric \"a\": path: at offset 4",
            ),
            ("metrics: [{name: a-b, path: $.x}]", "not a metric name"),
            (
                "metrics: [{name: podkit_x, path: $.x}]",
                "podkit-metrics' own",
            ),
            (
                "metrics: [{name: a, path: $.x, labels: {__x: y}}]",
                "label \"__x\"",
            ),
            (
                "metrics: [{name: a, path: $.x}, {name: a, path: $.y, valuetype: counter}]",
                "one name has one type",
            ),
            (
                "metrics: [{name: a, path: $.x, type: object}]",
                "needs `values`",
            ),
            (
                "metrics: [{name: a, path: $.x, epochTimestamp: '{.t}'}]",
                "unknown field `epochTimestamp`",
            ),
            (
                "modules: {a: {metrics: [{name: a, path: $}]}, b: {}}",
                "one named `default`",
            ),
        ] {
            let error = load(yaml).unwrap_err();
            assert!(error.contains(expected), "{yaml}: {error}");
        }
    }

    #[test]
    fn rules_sharing_a_name_share_the_union_of_their_labels() {
        let (catalog, _) = load(
            "metrics:\n- {name: up, path: $.a, labels: {x: '@key'}}\n- {name: up, path: $.b, labels: {y: '$.v', x: '1'}}\n",
        )
        .unwrap();
        assert_eq!(catalog.families.len(), 1);
        let labels: Vec<&str> = catalog.families[0].labels.iter().map(|l| &**l).collect();
        assert_eq!(labels, ["x", "y"]);
        assert!(catalog.families[0].help.contains("up"));
    }
}
