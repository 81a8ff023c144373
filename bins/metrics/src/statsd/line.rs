//! One StatsD line into samples: `name:value|type[|@rate][|#tags][|c:container][|T:time]`, with
//! the DogStatsD (`|#k:v`), InfluxDB (`name,k=v`), Librato (`name#k=v`) and SignalFX
//! (`name.[k=v]rest`) tag styles, DogStatsD's extended aggregation (`name:1:2:3|ms`) and the old
//! multi-value form (`name:1|c:2|g`).
//!
//! It follows statsd_exporter's parser case for case, so a line means here what it meant there,
//! with two differences that only remove failures: a `]` before the `[` is a tag error instead of
//! a crash, and a sampled observation carries its repeat count instead of being copied (a rate of
//! `@0.000001` would otherwise make a million events out of one line).
//!
//! It never panics and never allocates for a line without tags: bad input becomes a counted
//! [`Reason`], and the rest of the line (the other samples of a multi-value line) still counts.

use std::borrow::Cow;

use crate::mapping::escape::escape_name;

/// The StatsD types, as the mapper distinguishes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `c`: added to a counter.
    Counter,
    /// `g`: sets a gauge, or with a sign moves it.
    Gauge,
    /// `ms`, `h`, `d`: one observation (a timer's milliseconds already turned into seconds).
    Observer,
    /// `s`: a member of a set; the gauge counts distinct members.
    Set,
}

/// One parsed sample. Borrowed from the line wherever the line can be used as it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample<'a> {
    /// The StatsD name, tags taken out, not yet escaped: the mapper matches on it.
    pub name: Cow<'a, str>,
    /// Tag labels, names escaped, one value per name (the last given wins).
    pub labels: Vec<(Cow<'a, str>, &'a str)>,
    pub kind: Kind,
    /// The number (seconds for `ms`); 0 for a set, whose member is in `member`.
    pub value: f64,
    /// `g` with a leading `+` or `-`: add, don't set.
    pub relative: bool,
    /// A set's member.
    pub member: &'a str,
    /// How many observations this sample stands for (`@0.1` on a timer: 10); 1 otherwise.
    pub repeat: u64,
}

/// Why a line or a sample was skipped: the `reason` label of the parse errors counter. The names
/// are statsd_exporter's, so dashboards built on its `sample_errors_total` read the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    MalformedLine,
    MixedTaggingStyles,
    NotEnoughPartsAfterColon,
    InvalidExtendedAggregateType,
    MalformedComponent,
    MalformedValue,
    InvalidSampleFactor,
    MalformedContainerId,
    IllegalEvent,
}

impl Reason {
    pub const ALL: [Reason; 9] = [
        Reason::MalformedLine,
        Reason::MixedTaggingStyles,
        Reason::NotEnoughPartsAfterColon,
        Reason::InvalidExtendedAggregateType,
        Reason::MalformedComponent,
        Reason::MalformedValue,
        Reason::InvalidSampleFactor,
        Reason::MalformedContainerId,
        Reason::IllegalEvent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::MalformedLine => "malformed_line",
            Reason::MixedTaggingStyles => "mixed_tagging_styles",
            Reason::NotEnoughPartsAfterColon => "not_enough_parts_after_colon",
            Reason::InvalidExtendedAggregateType => "invalid_extended_aggregate_type",
            Reason::MalformedComponent => "malformed_component",
            Reason::MalformedValue => "malformed_value",
            Reason::InvalidSampleFactor => "invalid_sample_factor",
            Reason::MalformedContainerId => "malformed_container_id",
            Reason::IllegalEvent => "illegal_event",
        }
    }
}

/// What went wrong in one line, beside the samples it gave.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Problems {
    pub errors: Vec<Reason>,
    /// Tags that could not be read (no separator, empty key or value); the sample still counts.
    pub tag_errors: u32,
    /// Samples seen, good or bad (statsd_exporter's `samples_total`).
    pub samples: u32,
}

/// Parses one line (without its line break) into `out`, recording what was skipped in
/// `problems`. Bytes that are not UTF-8 make the whole line malformed.
pub fn parse_bytes<'a>(line: &'a [u8], out: &mut Vec<Sample<'a>>, problems: &mut Problems) {
    match std::str::from_utf8(line) {
        Ok(text) => parse(text, out, problems),
        Err(_) => problems.errors.push(Reason::MalformedLine),
    }
}

/// Parses one line of text: see [`parse_bytes`].
pub fn parse<'a>(line: &'a str, out: &mut Vec<Sample<'a>>, problems: &mut Problems) {
    if line.is_empty() {
        return;
    }
    let Some((name_part, rest)) = line.split_once(':').filter(|(name, _)| !name.is_empty()) else {
        problems.errors.push(Reason::MalformedLine);
        return;
    };
    let mut name_labels = Vec::new();
    let name = name_and_tags(name_part, &mut name_labels, problems);
    let dogstatsd = rest.contains("|#");
    if dogstatsd && !name_labels.is_empty() {
        problems.errors.push(Reason::MixedTaggingStyles);
        return;
    }
    let mut parts = rest.splitn(3, '|');
    let (Some(values), Some(kind)) = (parts.next(), parts.next()) else {
        problems.errors.push(Reason::NotEnoughPartsAfterColon);
        return;
    };
    let context = Context {
        name: &name,
        labels: &name_labels,
    };
    if values.contains(':') {
        // DogStatsD's extended aggregation: several values sharing one type and suffix.
        if !matches!(kind, "ms" | "h" | "d") {
            problems.errors.push(Reason::InvalidExtendedAggregateType);
            return;
        }
        let suffix = &rest[values.len() + 1..];
        for value in values.split(':') {
            sample(&context, value, suffix, out, problems);
        }
    } else if dogstatsd {
        one_sample(&context, rest, out, problems);
    } else {
        for each in rest.split(':') {
            one_sample(&context, each, out, problems);
        }
    }
}

/// What every sample of a line shares.
struct Context<'l, 'a> {
    name: &'l Cow<'a, str>,
    labels: &'l [(Cow<'a, str>, &'a str)],
}

/// `value|type|...` as one sample.
fn one_sample<'a>(
    context: &Context<'_, 'a>,
    text: &'a str,
    out: &mut Vec<Sample<'a>>,
    problems: &mut Problems,
) {
    match text.split_once('|') {
        Some((value, suffix)) => sample(context, value, suffix, out, problems),
        None => {
            problems.samples += 1;
            problems.errors.push(Reason::MalformedComponent);
        }
    }
}

/// `value` with `suffix` = `type[|@rate][|#tags][|c:id][|T...]`.
fn sample<'a>(
    context: &Context<'_, 'a>,
    value_text: &'a str,
    suffix: &'a str,
    out: &mut Vec<Sample<'a>>,
    problems: &mut Problems,
) {
    problems.samples += 1;
    // Value, type and at most four more components, as statsd_exporter allows.
    let count = suffix.split('|').count() + 1;
    if !(2..=6).contains(&count) {
        problems.errors.push(Reason::MalformedComponent);
        return;
    }
    let mut components = suffix.split('|');
    let kind_text = components.next().unwrap_or_default();
    let relative = value_text.starts_with(['+', '-']);
    // A set's member is any text (a user id); every other value is a number.
    let parsed = match kind_text {
        "s" => Some(0.0),
        _ => parse_float(value_text),
    };
    let Some(mut value) = parsed else {
        problems.errors.push(Reason::MalformedValue);
        return;
    };
    if components.clone().any(str::is_empty) {
        problems.errors.push(Reason::MalformedComponent);
        return;
    }
    let mut labels = context.labels.to_vec();
    let mut repeat: u64 = 1;
    for component in components {
        match component.as_bytes()[0] {
            b'@' => {
                let mut rate = parse_float(&component[1..]).unwrap_or_else(|| {
                    problems.errors.push(Reason::InvalidSampleFactor);
                    0.0
                });
                if rate == 0.0 {
                    rate = 1.0;
                }
                match kind_text {
                    "c" => value /= rate,
                    // Truncated as statsd_exporter truncates: a rate above 1 observes nothing.
                    // `as` saturates (NaN and negatives become 0), never wraps.
                    "ms" | "h" | "d" => repeat = (1.0 / rate) as u64,
                    _ => {}
                }
            }
            b'#' => dogstatsd_tags(&component[1..], &mut labels, problems),
            b'c' => match component.strip_prefix("c:").filter(|id| !id.is_empty()) {
                Some(id) => set_label(&mut labels, Cow::Borrowed("container_id"), id),
                None => {
                    problems.errors.push(Reason::MalformedContainerId);
                    return;
                }
            },
            // DogStatsD 1.3's timestamp: a pull endpoint has no use for it.
            b'T' => {}
            _ => {
                problems.errors.push(Reason::InvalidSampleFactor);
                return;
            }
        }
    }
    let (kind, value, member) = match kind_text {
        "c" => (Kind::Counter, value, ""),
        "g" => (Kind::Gauge, value, ""),
        "ms" => (Kind::Observer, value / 1000.0, ""),
        "h" | "d" => (Kind::Observer, value, ""),
        "s" => (Kind::Set, 0.0, value_text),
        _ => {
            problems.errors.push(Reason::IllegalEvent);
            return;
        }
    };
    out.push(Sample {
        name: context.name.clone(),
        labels,
        kind,
        value,
        relative: relative && kind == Kind::Gauge,
        member,
        repeat,
    });
}

/// Go's `strconv.ParseFloat` for what StatsD clients send: decimal, exponent, sign, `Inf`,
/// `NaN`. Rust's parser also takes `infinity`, which Go does too. A number too large for an
/// f64 (`1e999`, 400 digits) is Go's range error, which statsd_exporter counts as a malformed
/// value; Rust's parser would make it an infinity instead.
fn parse_float(text: &str) -> Option<f64> {
    let value: f64 = text.parse().ok()?;
    let spelled_infinite = text.to_ascii_lowercase().contains("inf");
    (value.is_finite() || value.is_nan() || spelled_infinite).then_some(value)
}

/// The name without its SignalFX, Librato or InfluxDB tags, which go to `labels`.
fn name_and_tags<'a>(
    name: &'a str,
    labels: &mut Vec<(Cow<'a, str>, &'a str)>,
    problems: &mut Problems,
) -> Cow<'a, str> {
    match (name.find('['), name.find(']')) {
        (Some(start), Some(end)) if start < end => {
            name_tags(&name[start + 1..end], labels, problems);
            return Cow::Owned(format!("{}{}", &name[..start], &name[end + 1..]));
        }
        (None, None) => {}
        // One bracket, or `]` first: left in the name, as statsd_exporter does with one.
        _ => {
            problems.tag_errors += 1;
            return Cow::Borrowed(name);
        }
    }
    match name.find(['#', ',']) {
        Some(at) => {
            name_tags(&name[at + 1..], labels, problems);
            Cow::Borrowed(&name[..at])
        }
        None => Cow::Borrowed(name),
    }
}

/// `k=v,k=v` (a final comma is no tag).
fn name_tags<'a>(
    text: &'a str,
    labels: &mut Vec<(Cow<'a, str>, &'a str)>,
    problems: &mut Problems,
) {
    let text = text.strip_suffix(',').unwrap_or(text);
    if text.is_empty() {
        return;
    }
    for tag in text.split(',') {
        tag_into(tag, '=', labels, problems);
    }
}

/// `k:v,#k:v` (a `#` before each tag is allowed).
fn dogstatsd_tags<'a>(
    text: &'a str,
    labels: &mut Vec<(Cow<'a, str>, &'a str)>,
    problems: &mut Problems,
) {
    let text = text.strip_suffix(',').unwrap_or(text);
    if text.is_empty() {
        return;
    }
    for tag in text.split(',') {
        tag_into(tag.strip_prefix('#').unwrap_or(tag), ':', labels, problems);
    }
}

fn tag_into<'a>(
    tag: &'a str,
    separator: char,
    labels: &mut Vec<(Cow<'a, str>, &'a str)>,
    problems: &mut Problems,
) {
    match tag.split_once(separator) {
        Some((key, value)) if !key.is_empty() && !value.is_empty() => {
            set_label(labels, escape_name(key), value)
        }
        _ => problems.tag_errors += 1,
    }
}

/// One value per label name, the last one given winning (statsd_exporter's map).
fn set_label<'a>(labels: &mut Vec<(Cow<'a, str>, &'a str)>, name: Cow<'a, str>, value: &'a str) {
    match labels.iter_mut().find(|(existing, _)| *existing == name) {
        Some(slot) => slot.1 = value,
        None => labels.push((name, value)),
    }
}

#[cfg(test)]
#[path = "line_tests.rs"]
mod tests;
