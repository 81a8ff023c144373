use super::*;
use proptest::prelude::*;
use Kind::{Counter, Gauge, Observer};

/// An expected event: kind, name, value, relative, labels (sorted by name).
#[derive(Debug)]
pub struct E(
    Kind,
    &'static str,
    f64,
    bool,
    &'static [(&'static str, &'static str)],
);

/// Samples as statsd_exporter's events: a sampled observation is that many events.
/// An event as compared: kind, name, value, relative, sorted labels.
type Event = (Kind, String, f64, bool, Vec<(String, String)>);

fn events(line: &[u8]) -> Vec<Event> {
    let mut samples = Vec::new();
    parse_bytes(line, &mut samples, &mut Problems::default());
    let mut events = Vec::new();
    for sample in samples {
        let mut labels: Vec<(String, String)> = sample
            .labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        labels.sort();
        for _ in 0..sample.repeat {
            events.push((
                sample.kind,
                sample.name.to_string(),
                sample.value,
                sample.relative,
                labels.clone(),
            ));
        }
    }
    events
}

/// Cases whose names say "invalid" but which statsd_exporter parses into events.
const UNCHECKED_IN_GO: [&str; 4] = [
    "datadog timing with extended aggregation values and invalid signalfx tags",
    "SignalFX no tags with invalid Datadog style extended aggregation values and timings type",
    "Influx no tags with invalid Datadog style extended aggregation values and timings type",
    "Influx no tags with invalid Datadog style extended aggregation values and histogram type",
];

#[test]
fn every_case_of_statsd_exporters_line_tests_parses_the_same() {
    let mut failures = Vec::new();
    for (name, line, expected) in CASES {
        let expected: Vec<Event> = expected
            .iter()
            .map(|E(kind, name, value, relative, labels)| {
                let labels = labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                (*kind, name.to_string(), *value, *relative, labels)
            })
            .collect();
        let got = events(line);
        if UNCHECKED_IN_GO.contains(name) {
            // statsd_exporter's table lists no events for these, and its test loop then checks
            // nothing; its parser makes six timer events of `foo.test`, and so does this one.
            let names: Vec<&str> = got.iter().map(|e| e.1.as_str()).collect();
            if names != ["foo.test"; 6] || got.iter().any(|e| e.0 != Observer) {
                failures.push(format!("{name}: {got:?}"));
            }
            continue;
        }
        if got != expected {
            failures.push(format!(
                "{name}: {line:?}\n  want {expected:?}\n  got  {got:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn skipped_input_is_counted_by_reason() {
    let cases: &[(&[u8], Reason)] = &[
        (b"foo", Reason::MalformedLine),
        (b":1|c", Reason::MalformedLine),
        (b"foo:1|c\xff", Reason::MalformedLine),
        (b"foo:1", Reason::NotEnoughPartsAfterColon),
        (b"foo:1|x", Reason::IllegalEvent),
        (b"foo:abc|c", Reason::MalformedValue),
        // Past f64's range: Go's range error, not an infinity.
        (b"foo:1e999|g", Reason::MalformedValue),
        (b"foo:-1e999|c", Reason::MalformedValue),
        (b"foo:1|c||", Reason::MalformedComponent),
        (b"foo:1|c|a|b|c|d|e", Reason::MalformedComponent),
        (b"foo:1|c|%", Reason::InvalidSampleFactor),
        (b"foo:1|c|c", Reason::MalformedContainerId),
        (b"foo:1:2|c", Reason::InvalidExtendedAggregateType),
        (b"foo,a=b:1|c|#c:d", Reason::MixedTaggingStyles),
    ];
    for (line, reason) in cases {
        let mut samples = Vec::new();
        let mut problems = Problems::default();
        parse_bytes(line, &mut samples, &mut problems);
        assert_eq!(problems.errors, [*reason], "{line:?}");
        assert!(samples.is_empty(), "{line:?}");
    }
}

#[test]
fn bad_tags_are_counted_and_the_sample_kept() {
    let mut samples = Vec::new();
    let mut problems = Problems::default();
    parse(
        "foo:1|c|#novalue,:nokey,ok:1,#also:2",
        &mut samples,
        &mut problems,
    );
    assert_eq!(problems.tag_errors, 2);
    assert_eq!(samples.len(), 1);
    assert_eq!(
        samples[0].labels,
        [(Cow::Borrowed("ok"), "1"), (Cow::Borrowed("also"), "2")]
    );
    // A `]` before its `[` (statsd_exporter would slice out of range) is a tag error.
    let mut problems = Problems::default();
    parse("foo]x[:1|c", &mut samples, &mut problems);
    assert_eq!(problems.tag_errors, 1);
}

#[test]
fn sets_keep_their_member_and_huge_rates_do_not_multiply() {
    let mut samples = Vec::new();
    parse("users:alice|s", &mut samples, &mut Problems::default());
    assert_eq!(samples[0].kind, Kind::Set);
    assert_eq!(samples[0].member, "alice");
    samples.clear();
    parse("t:5|ms|@0.000001", &mut samples, &mut Problems::default());
    assert_eq!(samples.len(), 1);
    assert_eq!(samples[0].repeat, 1_000_000);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

    /// Any bytes at all: never a panic, and no sample without a name.
    #[test]
    fn no_input_panics(line in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut samples = Vec::new();
        parse_bytes(&line, &mut samples, &mut Problems::default());
        prop_assert!(samples.iter().all(|sample| !line.is_empty() && sample.repeat < u64::MAX));
    }

    /// Lines made of StatsD's own punctuation, where the parser's edge cases are.
    #[test]
    fn no_statsd_shaped_input_panics(line in "[a-z.#,=:|@\\[\\]+\\-0-9eTc]{0,60}") {
        let mut samples = Vec::new();
        parse(&line, &mut samples, &mut Problems::default());
    }
}

/// statsd_exporter's pkg/line/line_test.go, TestLineToEvents (every tag style on), case for case:
/// (name, line, the events it becomes). Generated from the Go table, not edited by hand.
pub const CASES: &[(&str, &[u8], &[E])] = &[
    ("empty", b"", &[]),
    (
        "simple counter",
        b"foo:2|c",
        &[
            E(Counter, "foo", 2.0, false, &[]),
        ],
    ),
    (
        "simple gauge",
        b"foo:3|g",
        &[
            E(Gauge, "foo", 3.0, false, &[]),
        ],
    ),
    (
        "gauge with sampling",
        b"foo:3|g|@0.2",
        &[
            E(Gauge, "foo", 3.0, false, &[]),
        ],
    ),
    (
        "gauge decrement",
        b"foo:-10|g",
        &[
            E(Gauge, "foo", -10.0, true, &[]),
        ],
    ),
    (
        "simple timer",
        b"foo:200|ms",
        &[
            E(Observer, "foo", 0.2, false, &[]),
        ],
    ),
    (
        "simple histogram",
        b"foo:200|h",
        &[
            E(Observer, "foo", 200.0, false, &[]),
        ],
    ),
    (
        "simple distribution",
        b"foo:200|d",
        &[
            E(Observer, "foo", 200.0, false, &[]),
        ],
    ),
    (
        "distribution with sampling",
        b"foo:0.01|d|@0.2|#tag1:bar,#tag2:baz",
        &[
            E(Observer, "foo", 0.01, false, &[("tag1", "bar"), ("tag2", "baz")]),
            E(Observer, "foo", 0.01, false, &[("tag1", "bar"), ("tag2", "baz")]),
            E(Observer, "foo", 0.01, false, &[("tag1", "bar"), ("tag2", "baz")]),
            E(Observer, "foo", 0.01, false, &[("tag1", "bar"), ("tag2", "baz")]),
            E(Observer, "foo", 0.01, false, &[("tag1", "bar"), ("tag2", "baz")]),
        ],
    ),
    (
        "librato tag extension",
        b"foo#tag1=bar,tag2=baz:100|c",
        &[
            E(Counter, "foo", 100.0, false, &[("tag1", "bar"), ("tag2", "baz")]),
        ],
    ),
    (
        "librato tag extension with tag keys unsupported by prometheus",
        b"foo#09digits=0,tag.with.dots=1:100|c",
        &[
            E(Counter, "foo", 100.0, false, &[("_09digits", "0"), ("tag_with_dots", "1")]),
        ],
    ),
    (
        "influxdb tag extension",
        b"foo,tag1=bar,tag2=baz:100|c",
        &[
            E(Counter, "foo", 100.0, false, &[("tag1", "bar"), ("tag2", "baz")]),
        ],
    ),
    (
        "SignalFx tag extension",
        b"foo.[tag1=bar,tag2=baz]test:100|c",
        &[
            E(Counter, "foo.test", 100.0, false, &[("tag1", "bar"), ("tag2", "baz")]),
        ],
    ),
    (
        "SignalFx tag extension, tags at end of name",
        b"foo.test[tag1=bar,tag2=baz]:100|c",
        &[
            E(Counter, "foo.test", 100.0, false, &[("tag1", "bar"), ("tag2", "baz")]),
        ],
    ),
    (
        "SignalFx tag extension, tags at beginning of name",
        b"[tag1=bar,tag2=baz]foo.test:100|c",
        &[
            E(Counter, "foo.test", 100.0, false, &[("tag1", "bar"), ("tag2", "baz")]),
        ],
    ),
    (
        "SignalFx tag extension, no tags",
        b"foo.[]test:100|c",
        &[
            E(Counter, "foo.test", 100.0, false, &[]),
        ],
    ),
    (
        "SignalFx tag extension, non-kv tags",
        b"foo.[tag1,tag2]test:100|c",
        &[
            E(Counter, "foo.test", 100.0, false, &[]),
        ],
    ),
    (
        "SignalFx tag extension, missing closing bracket",
        b"[tag1=bar,tag2=bazfoo.test:100|c",
        &[
            E(Counter, "[tag1=bar,tag2=bazfoo.test", 100.0, false, &[]),
        ],
    ),
    (
        "SignalFx tag extension, missing opening bracket",
        b"tag1=bar,tag2=baz]foo.test:100|c",
        &[
            E(Counter, "tag1=bar,tag2=baz]foo.test", 100.0, false, &[]),
        ],
    ),
    (
        "influxdb tag extension with tag keys unsupported by prometheus",
        b"foo,09digits=0,tag.with.dots=1:100|c",
        &[
            E(Counter, "foo", 100.0, false, &[("_09digits", "0"), ("tag_with_dots", "1")]),
        ],
    ),
    (
        "datadog tag extension",
        b"foo:100|c|#tag1:bar,tag2:baz",
        &[
            E(Counter, "foo", 100.0, false, &[("tag1", "bar"), ("tag2", "baz")]),
        ],
    ),
    (
        "datadog tag extension with # in all keys (as sent by datadog php client)",
        b"foo:100|c|#tag1:bar,#tag2:baz",
        &[
            E(Counter, "foo", 100.0, false, &[("tag1", "bar"), ("tag2", "baz")]),
        ],
    ),
    (
        "datadog tag extension with tag keys unsupported by prometheus",
        b"foo:100|c|#09digits:0,tag.with.dots:1",
        &[
            E(Counter, "foo", 100.0, false, &[("_09digits", "0"), ("tag_with_dots", "1")]),
        ],
    ),
    (
        "datadog tag extension with valueless tags: ignored",
        b"foo:100|c|#tag_without_a_value",
        &[
            E(Counter, "foo", 100.0, false, &[]),
        ],
    ),
    (
        "datadog tag extension with valueless tags (edge case)",
        b"foo:100|c|#tag_without_a_value,tag:value",
        &[
            E(Counter, "foo", 100.0, false, &[("tag", "value")]),
        ],
    ),
    (
        "datadog tag extension with empty tags (edge case)",
        b"foo:100|c|#tag:value,,",
        &[
            E(Counter, "foo", 100.0, false, &[("tag", "value")]),
        ],
    ),
    (
        "datadog tag extension with sampling",
        b"foo:100|c|@0.1|#tag1:bar,#tag2:baz",
        &[
            E(Counter, "foo", 1000.0, false, &[("tag1", "bar"), ("tag2", "baz")]),
        ],
    ),
    ("librato/dogstatsd mixed tag styles without sampling", b"foo#tag1=foo,tag3=bing:100|c|#tag1:bar,#tag2:baz", &[]),
    ("signalfx/dogstatsd mixed tag styles without sampling", b"foo[tag1=foo,tag3=bing]:100|c|#tag1:bar,#tag2:baz", &[]),
    ("influxdb/dogstatsd mixed tag styles without sampling", b"foo,tag1=foo,tag3=bing:100|c|#tag1:bar,#tag2:baz", &[]),
    ("mixed tag styles with sampling", b"foo#tag1=foo,tag3=bing:100|c|@0.1|#tag1:bar,#tag2:baz", &[]),
    (
        "histogram with sampling",
        b"foo:0.01|h|@0.2|#tag1:bar,#tag2:baz",
        &[
            E(Observer, "foo", 0.01, false, &[("tag1", "bar"), ("tag2", "baz")]),
            E(Observer, "foo", 0.01, false, &[("tag1", "bar"), ("tag2", "baz")]),
            E(Observer, "foo", 0.01, false, &[("tag1", "bar"), ("tag2", "baz")]),
            E(Observer, "foo", 0.01, false, &[("tag1", "bar"), ("tag2", "baz")]),
            E(Observer, "foo", 0.01, false, &[("tag1", "bar"), ("tag2", "baz")]),
        ],
    ),
    (
        "datadog tag extension with multiple colons",
        b"foo:100|c|@0.1|#tag1:foo:bar",
        &[
            E(Counter, "foo", 1000.0, false, &[("tag1", "foo:bar")]),
        ],
    ),
    ("datadog tag extension with invalid utf8 tag values", b"foo:100|c|@0.1|#tag:\xc3(invalid", &[]),
    ("datadog tag extension with both valid and invalid utf8 tag values", b"foo:100|c|@0.1|#tag1:valid,tag2:\xc3(invalid", &[]),
    (
        "datadog timings with extended aggregation values",
        b"foo_timing:0.5:120:3000:10:20000:0.01|ms|#tag1:bar,tag2:baz",
        &[
            E(Observer, "foo_timing", 0.0005, false, &[("tag1", "bar"), ("tag2", "baz")]),
            E(Observer, "foo_timing", 0.120, false, &[("tag1", "bar"), ("tag2", "baz")]),
            E(Observer, "foo_timing", 3.0, false, &[("tag1", "bar"), ("tag2", "baz")]),
            E(Observer, "foo_timing", 0.01, false, &[("tag1", "bar"), ("tag2", "baz")]),
            E(Observer, "foo_timing", 20.0, false, &[("tag1", "bar"), ("tag2", "baz")]),
            E(Observer, "foo_timing", 0.00001, false, &[("tag1", "bar"), ("tag2", "baz")]),
        ],
    ),
    (
        "datadog timings with extended aggregation values without tags",
        b"foo_timing:0.5:120:3000:10:20000:0.01|ms",
        &[
            E(Observer, "foo_timing", 0.0005, false, &[]),
            E(Observer, "foo_timing", 0.120, false, &[]),
            E(Observer, "foo_timing", 3.0, false, &[]),
            E(Observer, "foo_timing", 0.01, false, &[]),
            E(Observer, "foo_timing", 20.0, false, &[]),
            E(Observer, "foo_timing", 0.00001, false, &[]),
        ],
    ),
    (
        "datadog timings with extended aggregation values and sampling but without tags",
        b"foo_timing:0.5:120:3000:10:20000:0.01|ms|@0.5",
        &[
            E(Observer, "foo_timing", 0.0005, false, &[]),
            E(Observer, "foo_timing", 0.0005, false, &[]),
            E(Observer, "foo_timing", 0.120, false, &[]),
            E(Observer, "foo_timing", 0.120, false, &[]),
            E(Observer, "foo_timing", 3.0, false, &[]),
            E(Observer, "foo_timing", 3.0, false, &[]),
            E(Observer, "foo_timing", 0.01, false, &[]),
            E(Observer, "foo_timing", 0.01, false, &[]),
            E(Observer, "foo_timing", 20.0, false, &[]),
            E(Observer, "foo_timing", 20.0, false, &[]),
            E(Observer, "foo_timing", 0.00001, false, &[]),
            E(Observer, "foo_timing", 0.00001, false, &[]),
        ],
    ),
    (
        "datadog timings with extended aggregation values, sampling, and tags",
        b"foo_timing:0.5:120:3000:10:20000:0.01|ms|@0.5|#tag1:bar,tag2:baz",
        &[
            E(Observer, "foo_timing", 0.0005, false, &[("tag1", "bar"), ("tag2", "baz")]),
            E(Observer, "foo_timing", 0.0005, false, &[("tag1", "bar"), ("tag2", "baz")]),
            E(Observer, "foo_timing", 0.120, false, &[("tag1", "bar"), ("tag2", "baz")]),
            E(Observer, "foo_timing", 0.120, false, &[("tag1", "bar"), ("tag2", "baz")]),
            E(Observer, "foo_timing", 3.0, false, &[("tag1", "bar"), ("tag2", "baz")]),
            E(Observer, "foo_timing", 3.0, false, &[("tag1", "bar"), ("tag2", "baz")]),
            E(Observer, "foo_timing", 0.01, false, &[("tag1", "bar"), ("tag2", "baz")]),
            E(Observer, "foo_timing", 0.01, false, &[("tag1", "bar"), ("tag2", "baz")]),
            E(Observer, "foo_timing", 20.0, false, &[("tag1", "bar"), ("tag2", "baz")]),
            E(Observer, "foo_timing", 20.0, false, &[("tag1", "bar"), ("tag2", "baz")]),
            E(Observer, "foo_timing", 0.00001, false, &[("tag1", "bar"), ("tag2", "baz")]),
            E(Observer, "foo_timing", 0.00001, false, &[("tag1", "bar"), ("tag2", "baz")]),
        ],
    ),
    (
        "datadog histogram with extended aggregation values and tags",
        b"foo_histogram:0.5:120:3000:10:20000:0.01|h|#tag1:bar,tag2:baz",
        &[
            E(Observer, "foo_histogram", 0.5, false, &[("tag1", "bar"), ("tag2", "baz")]),
            E(Observer, "foo_histogram", 120.0, false, &[("tag1", "bar"), ("tag2", "baz")]),
            E(Observer, "foo_histogram", 3000.0, false, &[("tag1", "bar"), ("tag2", "baz")]),
            E(Observer, "foo_histogram", 10.0, false, &[("tag1", "bar"), ("tag2", "baz")]),
            E(Observer, "foo_histogram", 20000.0, false, &[("tag1", "bar"), ("tag2", "baz")]),
            E(Observer, "foo_histogram", 0.01, false, &[("tag1", "bar"), ("tag2", "baz")]),
        ],
    ),
    (
        "datadog distribution with extended aggregation values",
        b"foo_distribution:0.5:120:3000:10:20000:0.01|d|#tag1:bar,tag2:baz",
        &[
            E(Observer, "foo_distribution", 0.5, false, &[("tag1", "bar"), ("tag2", "baz")]),
            E(Observer, "foo_distribution", 120.0, false, &[("tag1", "bar"), ("tag2", "baz")]),
            E(Observer, "foo_distribution", 3000.0, false, &[("tag1", "bar"), ("tag2", "baz")]),
            E(Observer, "foo_distribution", 10.0, false, &[("tag1", "bar"), ("tag2", "baz")]),
            E(Observer, "foo_distribution", 20000.0, false, &[("tag1", "bar"), ("tag2", "baz")]),
            E(Observer, "foo_distribution", 0.01, false, &[("tag1", "bar"), ("tag2", "baz")]),
        ],
    ),
    ("datadog counter with invalid extended aggregation values", b"foo_counter:0.5:120:3000:10:20000:0.01|c|#tag1:bar,tag2:baz", &[]),
    ("datadog gauge with invalid extended aggregation values", b"foo_gauge:0.5:120:3000:10:20000:0.01|g|#tag1:bar,tag2:baz", &[]),
    ("datadog timing with extended aggregation values and invalid signalfx tags", b"foo.[tag1=bar,tag2=baz]test:0.5:120:3000:10:20000:0.01|ms", &[]),
    ("SignalFX counter with invalid Datadog style extended aggregation values", b"foo.[tag1=bar,tag2=baz]test:0.5:120:3000:10:20000:0.01|c", &[]),
    ("SignalFX no tags counter with invalid Datadog style extended aggregation values", b"foo.[]test:0.5:120:3000:10:20000:0.01|c", &[]),
    ("SignalFX no tags with invalid Datadog style extended aggregation values and timings type", b"foo.[]test:0.5:120:3000:10:20000:0.01|ms", &[]),
    ("Influx no tags with invalid Datadog style extended aggregation values and timings type", b"foo.test:0.5:120:3000:10:20000:0.01|ms", &[]),
    ("Influx no tags with invalid Datadog style extended aggregation values and histogram type", b"foo.test:0.5:120:3000:10:20000:0.01|ms", &[]),
    (
        "timings with sampling factor",
        b"foo.timing:0.5|ms|@0.1",
        &[
            E(Observer, "foo.timing", 0.0005, false, &[]),
            E(Observer, "foo.timing", 0.0005, false, &[]),
            E(Observer, "foo.timing", 0.0005, false, &[]),
            E(Observer, "foo.timing", 0.0005, false, &[]),
            E(Observer, "foo.timing", 0.0005, false, &[]),
            E(Observer, "foo.timing", 0.0005, false, &[]),
            E(Observer, "foo.timing", 0.0005, false, &[]),
            E(Observer, "foo.timing", 0.0005, false, &[]),
            E(Observer, "foo.timing", 0.0005, false, &[]),
            E(Observer, "foo.timing", 0.0005, false, &[]),
        ],
    ),
    ("bad line", b"foo", &[]),
    ("bad component", b"foo:1", &[]),
    ("bad value", b"foo:1o|c", &[]),
    (
        "illegal sampling factor",
        b"foo:1|c|@bar",
        &[
            E(Counter, "foo", 1.0, false, &[]),
        ],
    ),
    (
        "zero sampling factor",
        b"foo:2|c|@0",
        &[
            E(Counter, "foo", 2.0, false, &[]),
        ],
    ),
    ("illegal stat type", b"foo:2|t", &[]),
    ("empty metric name", b":100|ms", &[]),
    ("empty component", b"foo:1|c|", &[]),
    ("invalid utf8", b"invalid\xc3(utf8:1|c", &[]),
    (
        "ms timer with conversion to seconds",
        b"foo:200|ms",
        &[
            E(Observer, "foo", 0.2, false, &[]),
        ],
    ),
    (
        "histogram with no unit conversion",
        b"foo:200|h",
        &[
            E(Observer, "foo", 200.0, false, &[]),
        ],
    ),
    (
        "distribution with no unit conversion",
        b"foo:200|d",
        &[
            E(Observer, "foo", 200.0, false, &[]),
        ],
    ),
    ("invalid event split over lines part 1", b"karafka.consumer.consume.cpu_idle_second:  0.111090  -0.055903  -0.195390 (  2.419002)", &[]),
    ("invalid event split over lines part 2", b"|h|#consumer:Kafka::SharedConfigurationConsumer,topic:shared_configuration_update,partition:1,consumer_group:tc_rc_us", &[]),
    (
        "dogstatsd container ID extension",
        b"foo:100|c|#tag1:value|c:container123",
        &[
            E(Counter, "foo", 100.0, false, &[("container_id", "container123"), ("tag1", "value")]),
        ],
    ),
    (
        "dogstatsd container ID with tags",
        b"foo:100|c|#tag1:bar,tag2:baz|c:container456",
        &[
            E(Counter, "foo", 100.0, false, &[("container_id", "container456"), ("tag1", "bar"), ("tag2", "baz")]),
        ],
    ),
    (
        "dogstatsd container ID with gauge",
        b"foo:50|g|#tag1:value|c:gauge_container",
        &[
            E(Gauge, "foo", 50.0, false, &[("container_id", "gauge_container"), ("tag1", "value")]),
        ],
    ),
    (
        "dogstatsd container ID with timer",
        b"foo:1000|ms|#tag1:value|c:timer_container",
        &[
            E(Observer, "foo", 1.0, false, &[("container_id", "timer_container"), ("tag1", "value")]),
        ],
    ),
    (
        "dogstatsd container ID with histogram",
        b"foo:500|h|#tag1:value|c:hist_container",
        &[
            E(Observer, "foo", 500.0, false, &[("container_id", "hist_container"), ("tag1", "value")]),
        ],
    ),
    ("dogstatsd container ID malformed - no colon", b"foo:100|c|#tag1:value|c", &[]),
    ("dogstatsd container ID malformed - no value after colon", b"foo:100|c|#tag1:value|c:", &[]),
    (
        "dogstatsd container ID with complex value",
        b"foo:100|c|#tag1:value|c:sha256:abcd1234efgh5678",
        &[
            E(Counter, "foo", 100.0, false, &[("container_id", "sha256:abcd1234efgh5678"), ("tag1", "value")]),
        ],
    ),
    (
        "dogstatsd container ID with sampling",
        b"foo:100|c|@0.1|#service:abc,client:go|c:3a88c225dbeb98f20bbb40cbd39ef90b094ce74291ae66fbd98b7f06f2a15b86",
        &[
            E(Counter, "foo", 1000.0, false, &[("client", "go"), ("container_id", "3a88c225dbeb98f20bbb40cbd39ef90b094ce74291ae66fbd98b7f06f2a15b86"), ("service", "abc")]),
        ],
    ),
    (
        "dogstatsd container ID with sampling and histogram",
        b"foo:200|h|@0.5|#env:prod|c:container_hist",
        &[
            E(Observer, "foo", 200.0, false, &[("container_id", "container_hist"), ("env", "prod")]),
            E(Observer, "foo", 200.0, false, &[("container_id", "container_hist"), ("env", "prod")]),
        ],
    ),
    ("malformed line with too many components", b"foo:100|c|@0.1|#tag1:value|c:container|extra:component", &[]),
    (
        "dogstatsd v1.3 timestamp counter",
        b"page.views:15|c|#env:dev|T1656581400",
        &[
            E(Counter, "page.views", 15.0, false, &[("env", "dev")]),
        ],
    ),
    (
        "dogstatsd v1.3 timestamp gauge",
        b"temperature:98.6|g|#location:kitchen|T1656581400",
        &[
            E(Gauge, "temperature", 98.6, false, &[("location", "kitchen")]),
        ],
    ),
    (
        "dogstatsd v1.3 timestamp without tags",
        b"foo:42|c|T1656581400",
        &[
            E(Counter, "foo", 42.0, false, &[]),
        ],
    ),
    (
        "dogstatsd v1.3 timestamp with sampling, tags and container ID",
        b"requests:100|c|@0.1|#service:web|c:abc123|T1656581400",
        &[
            E(Counter, "requests", 1000.0, false, &[("container_id", "abc123"), ("service", "web")]),
        ],
    ),
    (
        "dogstatsd v1.3 timestamp non-numeric is dropped",
        b"foo:100|c|#tag:val|Tnot-a-ts",
        &[
            E(Counter, "foo", 100.0, false, &[("tag", "val")]),
        ],
    ),
    (
        "dogstatsd v1.3 timestamp empty value is dropped",
        b"foo:100|c|#tag:val|T",
        &[
            E(Counter, "foo", 100.0, false, &[("tag", "val")]),
        ],
    ),
];
