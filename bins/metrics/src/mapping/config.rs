//! statsd_exporter's mapping file as it is written, field for field: what serde reads before
//! [`super::Mapper::from_yaml`] checks and compiles it. Unknown fields are errors, as they are
//! for statsd_exporter (its YAML is read strictly), so a typo is not silently ignored.
//!
//! The native histogram options are read and kept only so that a file written for
//! statsd_exporter loads unchanged: the text format has no native histograms.

use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    #[serde(default)]
    pub defaults: Defaults,
    #[serde(default)]
    pub mappings: Vec<Mapping>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    pub observer_type: Option<ObserverType>,
    pub match_type: Option<MatchType>,
    #[serde(default)]
    pub glob_disable_ordering: bool,
    pub ttl: Option<GoDuration>,
    #[serde(default)]
    pub summary_options: SummaryOptions,
    #[serde(default)]
    pub histogram_options: HistogramOptions,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    #[serde(rename = "match")]
    pub pattern: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub labels: Option<std::collections::BTreeMap<String, String>>,
    #[serde(default)]
    pub honor_labels: bool,
    pub observer_type: Option<ObserverType>,
    pub match_type: Option<MatchType>,
    pub help: Option<String>,
    pub action: Option<Action>,
    pub match_metric_type: Option<MetricType>,
    pub ttl: Option<GoDuration>,
    pub summary_options: Option<SummaryOptions>,
    pub histogram_options: Option<HistogramOptions>,
    pub scale: Option<f64>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SummaryOptions {
    #[serde(default)]
    pub quantiles: Vec<Objective>,
    pub max_age: Option<GoDuration>,
    #[serde(default)]
    pub age_buckets: u32,
    #[serde(default)]
    pub buf_cap: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Objective {
    pub quantile: f64,
    pub error: f64,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistogramOptions {
    #[serde(default)]
    pub buckets: Vec<f64>,
    /// Accepted, not used: the text format has no native histograms.
    #[serde(default)]
    #[allow(dead_code)]
    pub native_histogram_bucket_factor: f64,
    #[serde(default)]
    #[allow(dead_code)]
    pub native_histogram_max_buckets: u32,
}

/// `glob` (also an empty value) or `regex`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchType {
    #[serde(alias = "")]
    Glob,
    Regex,
}

/// `histogram`, or `summary` (also an empty value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObserverType {
    Histogram,
    #[serde(alias = "")]
    Summary,
}

/// `map` (also an empty value) or `drop`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    #[serde(alias = "")]
    Map,
    Drop,
}

/// `match_metric_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricType {
    Counter,
    Gauge,
    Observer,
}

/// A Go `time.Duration` as YAML gives it to statsd_exporter: a string such as `10s`, `1m2s`,
/// `1.5h` or `300ms`, or an integer of nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoDuration(pub Duration);

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Nanos(u64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Nanos(nanos) => Ok(GoDuration(Duration::from_nanos(nanos))),
            Raw::Text(text) => parse_go_duration(&text)
                .map(GoDuration)
                .ok_or_else(|| serde::de::Error::custom(format!("invalid duration {text:?}"))),
        }
    }
}

/// Go's `time.ParseDuration` for non-negative values: a sequence of decimal numbers, each with
/// a unit (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`); `0` alone is allowed.
pub fn parse_go_duration(text: &str) -> Option<Duration> {
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    if rest == "0" {
        return Some(Duration::ZERO);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total += number * seconds;
    }
    Duration::try_from_secs_f64(total).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_read_as_go_reads_them() {
        let d = |text| parse_go_duration(text);
        assert_eq!(d("10s"), Some(Duration::from_secs(10)));
        assert_eq!(d("1m2s"), Some(Duration::from_secs(62)));
        assert_eq!(d("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(d("300ms"), Some(Duration::from_millis(300)));
        assert_eq!(d("0"), Some(Duration::ZERO));
        for bad in ["", "10", "s", "1x", "-1s", "1..5s"] {
            assert_eq!(d(bad), None, "{bad:?}");
        }
    }
}
