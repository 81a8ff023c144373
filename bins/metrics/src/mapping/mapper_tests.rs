use super::*;
use proptest::prelude::*;

/// One scenario of statsd_exporter's mapper tests: a file, whether it must be refused, and
/// lookups with what they must give.
pub struct S {
    name: &'static str,
    config: &'static str,
    bad: bool,
    lookups: &'static [L],
}

/// One lookup and what it must give; empty, zero and `None` fields are not checked, as in the Go
/// test (except `labels`, whose count is always checked, and `scale`, checked when matched).
pub struct L {
    metric: &'static str,
    kind: Option<Kind>,
    name: &'static str,
    labels: &'static [(&'static str, &'static str)],
    not_present: bool,
    ttl: Option<f64>,
    buckets: &'static [f64],
    quantiles: &'static [(f64, f64)],
    max_age: Option<f64>,
    age_buckets: u32,
    buf_cap: u32,
    scale: Option<f64>,
}

fn check(scenario: &S) -> Result<(), String> {
    let mapper = match (Mapper::from_yaml(scenario.config), scenario.bad) {
        (Ok(_), true) => return Err("loaded, but must be refused".into()),
        (Err(_), true) => return Ok(()),
        (Err(e), false) => return Err(format!("refused: {e}")),
        (Ok(mapper), false) => mapper,
    };
    for lookup in scenario.lookups {
        let kind = lookup.kind.unwrap_or(Kind::Counter);
        let found = mapper.lookup(lookup.metric, kind);
        let at = lookup.metric;
        if lookup.not_present && found.is_some() {
            return Err(format!("{at}: matched, must not"));
        }
        let labels = found.as_ref().map(|m| m.labels.clone()).unwrap_or_default();
        let mut want: Vec<(String, String)> = lookup
            .labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        want.sort();
        if labels != want {
            return Err(format!("{at}: labels {labels:?}, want {want:?}"));
        }
        let Some(found) = found else { continue };
        let rule = found.rule;
        if !lookup.name.is_empty() && found.name != lookup.name {
            return Err(format!("{at}: name {}, want {}", found.name, lookup.name));
        }
        if let Some(ttl) = lookup.ttl {
            if rule.ttl != Some(Duration::from_secs_f64(ttl)) {
                return Err(format!("{at}: ttl {:?}, want {ttl}s", rule.ttl));
            }
        }
        if lookup.kind.is_some() && rule.only.map(|o| o as u8) != Some(kind_code(kind)) {
            return Err(format!("{at}: matched a rule for {:?}", rule.only));
        }
        if rule.scale != lookup.scale {
            return Err(format!(
                "{at}: scale {:?}, want {:?}",
                rule.scale, lookup.scale
            ));
        }
        match &rule.observer {
            Observer::Histogram { buckets } => {
                if !lookup.buckets.is_empty() && buckets != lookup.buckets {
                    return Err(format!("{at}: buckets {buckets:?}"));
                }
            }
            Observer::Summary {
                quantiles,
                max_age,
                age_buckets,
                buf_cap,
            } => {
                let got: Vec<(f64, f64)> =
                    quantiles.iter().map(|q| (q.quantile, q.error)).collect();
                if !lookup.quantiles.is_empty() && got != lookup.quantiles {
                    return Err(format!("{at}: quantiles {got:?}"));
                }
                if let Some(age) = lookup.max_age {
                    if *max_age != Some(Duration::from_secs_f64(age)) {
                        return Err(format!("{at}: max_age {max_age:?}"));
                    }
                }
                if lookup.age_buckets != 0 && *age_buckets != lookup.age_buckets {
                    return Err(format!("{at}: age_buckets {age_buckets}"));
                }
                if lookup.buf_cap != 0 && *buf_cap != lookup.buf_cap {
                    return Err(format!("{at}: buf_cap {buf_cap}"));
                }
            }
        }
        if !lookup.buckets.is_empty() && !matches!(rule.observer, Observer::Histogram { .. }) {
            return Err(format!("{at}: buckets wanted, got {:?}", rule.observer));
        }
    }
    Ok(())
}

fn kind_code(kind: Kind) -> u8 {
    match kind {
        Kind::Counter => MetricType::Counter as u8,
        Kind::Gauge | Kind::Set => MetricType::Gauge as u8,
        Kind::Observer => MetricType::Observer as u8,
    }
}

#[test]
fn every_scenario_of_statsd_exporters_mapper_tests_maps_the_same() {
    let failures: Vec<String> = SCENARIOS
        .iter()
        .filter_map(|s| check(s).err().map(|e| format!("{}: {e}", s.name)))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// statsd_exporter's TestAction.
#[test]
fn action_is_map_unless_drop_and_nothing_else() {
    let file = |action: &str| format!("mappings:\n- match: test.*.*\n  name: foo\n{action}");
    let drop = |text: &str| Mapper::from_yaml(text).map(|m| m.rules[0].drop);
    assert!(!drop(&file("")).unwrap());
    assert!(!drop(&file("  action: map\n")).unwrap());
    assert!(drop(&file("  action: drop\n")).unwrap());
    assert!(drop(&file("  action: xyz\n")).is_err());
    let good = "mappings:\n- match: \"test\\\\.(\\\\w+)\\\\.(\\\\w+)\\\\.counter\"\n  match_type: regex\n  name: \"${2}_total\"\n  labels:\n    provider: \"$1\"\n";
    let mapper = Mapper::from_yaml(good).expect("valid");
    let mapped = mapper
        .lookup("test.aws.requests.counter", Kind::Counter)
        .unwrap();
    assert_eq!(mapped.name, "requests_total");
    assert_eq!(mapped.labels, [("provider".to_owned(), "aws".to_owned())]);
    let bad = "mappings:\n- match: \"test\\.(\\w+)\\.(\\w+)\\.counter\"\n  match_type: regex\n  name: \"${2}_total\"\n";
    assert!(Mapper::from_yaml(bad).is_err(), "\\. is not a YAML escape");
}

/// statsd_exporter's TestMultipleMatches (its issue 273): one rule, many names, each its own.
#[test]
fn one_rule_gives_each_name_its_own_expansion() {
    let mapper = Mapper::from_yaml(
        "mappings:\n- match: aa.bb.*.*\n  name: \"aa_bb_${1}_total\"\n  labels:\n    app: \"$2\"\n",
    )
    .unwrap();
    for _ in 0..3 {
        for (name, want) in [
            ("aa.bb.aa.myapp", "aa_bb_aa_total"),
            ("aa.bb.bb.myapp", "aa_bb_bb_total"),
            ("aa.bb.cc.myapp", "aa_bb_cc_total"),
        ] {
            assert_eq!(mapper.lookup(name, Kind::Counter).unwrap().name, want);
        }
    }
}

#[test]
fn a_refusal_is_one_line_naming_the_mapping() {
    let error = Mapper::from_yaml("mappings:\n- match: a.*\n  name: x\n  labels:\n    b: c\n- match: \"(\"\n  match_type: regex\n  name: y\n")
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("mapping 1 (match \"a.*\"): invalid label name \"b\""),
        "{error}"
    );
    let error = Mapper::from_yaml("mappings:\n- match: \"(\"\n  match_type: regex\n  name: y\n")
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("mapping 1 (match \"(\"): invalid regex"),
        "{error}"
    );
    assert!(!error.contains('\n'), "{error}");
    let error = Mapper::from_yaml("mapping: []").unwrap_err().to_string();
    assert!(error.contains("unknown field"), "{error}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    /// Any name, any kind, against globs and regexes with captures: never a panic, and a mapped
    /// name is always a valid metric name or empty.
    #[test]
    fn no_name_panics_the_mapper(name in "\\PC{0,40}|[a-z.*]{0,20}", kind in 0..4u8) {
        let mapper = Mapper::from_yaml(
            "mappings:\n- match: a.*.*\n  name: \"x_$1_${2}_$3\"\n  labels:\n    l1: \"$1$9\"\n- match: \"(.*)\\\\.(?P<n>[^.]*)$\"\n  match_type: regex\n  name: \"r_$2_$1\"\n  labels:\n    ll: \"${n}$2$$\"\n",
        ).unwrap();
        let kind = [Kind::Counter, Kind::Gauge, Kind::Observer, Kind::Set][kind as usize];
        if let Some(mapped) = mapper.lookup(&name, kind) {
            prop_assert!(mapped.name.is_empty() || escape::is_metric_name(&mapped.name));
        }
    }

    /// Any file text: refused or loaded, never a panic.
    #[test]
    fn no_file_panics_the_loader(text in "[a-z_:\\- .*$0-9\\n\\[\\]{}\"]{0,120}") {
        let _ = Mapper::from_yaml(&text);
    }
}

/// statsd_exporter's pkg/mapper/mapper_test.go, TestMetricMapperYAML, scenario for scenario.
/// Generated from the Go table, not edited by hand.
pub const SCENARIOS: &[S] = &[
    S {
        name: "Empty config",
        config: r###""###,
        bad: false,
        lookups: &[

        ],
    },
    S {
        name: "Config with several mapping definitions",
        config: r###"---
mappings:
- match: test.dispatcher.*.*.*
  name: "dispatch_events"
  labels:
    processor: "$1"
    action: "$2"
    result: "$3"
    job: "test_dispatcher"
- match: test.my-dispatch-host01.name.dispatcher.*.*.*
  name: "host_dispatch_events"
  labels:
    processor: "$1"
    action: "$2"
    result: "$3"
    job: "test_dispatcher"
- match: request_time.*.*.*.*.*.*.*.*.*.*.*.*
  name: "tyk_http_request"
  labels:
    method_and_path: "${1}"
    response_code: "${2}"
    apikey: "${3}"
    apiversion: "${4}"
    apiname: "${5}"
    apiid: "${6}"
    ipv4_t1: "${7}"
    ipv4_t2: "${8}"
    ipv4_t3: "${9}"
    ipv4_t4: "${10}"
    orgid: "${11}"
    oauthid: "${12}"
- match: "*.*"
  name: "catchall"
  labels:
    first: "$1"
    second: "$2"
    third: "$3"
    job: "$1-$2-$3"
- match: (.*)\.(.*)-(.*)\.(.*)
  match_type: regex
  name: "proxy_requests_total"
  labels:
    job: "$1"
    protocol: "$2"
    endpoint: "$3"
    result: "$4"

  "###,
        bad: false,
        lookups: &[
            L { metric: "test.dispatcher.FooProcessor.send.succeeded", kind: None, name: "dispatch_events", labels: &[("processor", "FooProcessor"), ("action", "send"), ("result", "succeeded"), ("job", "test_dispatcher")], not_present: false, ttl: None, buckets: &[], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
            L { metric: "test.my-dispatch-host01.name.dispatcher.FooProcessor.send.succeeded", kind: None, name: "host_dispatch_events", labels: &[("processor", "FooProcessor"), ("action", "send"), ("result", "succeeded"), ("job", "test_dispatcher")], not_present: false, ttl: None, buckets: &[], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
            L { metric: "request_time.get/threads/1/posts.200.00000000.nonversioned.discussions.a11bbcdf0ac64ec243658dc64b7100fb.172.20.0.1.12ba97b7eaa1a50001000001.", kind: None, name: "tyk_http_request", labels: &[("method_and_path", "get/threads/1/posts"), ("response_code", "200"), ("apikey", "00000000"), ("apiversion", "nonversioned"), ("apiname", "discussions"), ("apiid", "a11bbcdf0ac64ec243658dc64b7100fb"), ("ipv4_t1", "172"), ("ipv4_t2", "20"), ("ipv4_t3", "0"), ("ipv4_t4", "1"), ("orgid", "12ba97b7eaa1a50001000001"), ("oauthid", "")], not_present: false, ttl: None, buckets: &[], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
            L { metric: "foo.bar", kind: None, name: "catchall", labels: &[("first", "foo"), ("second", "bar"), ("third", ""), ("job", "foo-bar-")], not_present: false, ttl: None, buckets: &[], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
            L { metric: "foo.bar.baz", kind: None, name: "", labels: &[], not_present: false, ttl: None, buckets: &[], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
            L { metric: "proxy-1.http-goober.success", kind: None, name: "proxy_requests_total", labels: &[("job", "proxy-1"), ("protocol", "http"), ("endpoint", "goober"), ("result", "success")], not_present: false, ttl: None, buckets: &[], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
        ],
    },
    S {
        name: "Config with backtracking",
        config: r###"
defaults:
  glob_disable_ordering: true
mappings:
- match: backtrack.*.bbb
  name: "testb"
  labels:
    label: "${1}_foo"
- match: backtrack.justatest.aaa
  name: "testa"
  labels:
    label: "${1}_foo"
  "###,
        bad: false,
        lookups: &[
            L { metric: "backtrack.good.bbb", kind: None, name: "testb", labels: &[("label", "good_foo")], not_present: false, ttl: None, buckets: &[], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
            L { metric: "backtrack.justatest.bbb", kind: None, name: "testb", labels: &[("label", "justatest_foo")], not_present: false, ttl: None, buckets: &[], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
            L { metric: "backtrack.justatest.aaa", kind: None, name: "testa", labels: &[("label", "_foo")], not_present: false, ttl: None, buckets: &[], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
        ],
    },
    S {
        name: "Config with backtracking, the non-matched rule has star(s)",
        config: r###"
defaults:
  glob_disable_ordering: false
mappings:
- match: '*.dummy.*'
  name: metric_one
  labels:
    system: $1
    attribute: $2
- match: 'full.name.*'
  name: metric_two
  labels:
    system: static
    attribute: $1
"###,
        bad: false,
        lookups: &[
            L { metric: "whatever.dummy.test", kind: None, name: "metric_one", labels: &[("system", "whatever"), ("attribute", "test")], not_present: false, ttl: None, buckets: &[], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
            L { metric: "full.name.anothertest", kind: None, name: "metric_two", labels: &[("system", "static"), ("attribute", "anothertest")], not_present: false, ttl: None, buckets: &[], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
        ],
    },
    S {
        name: "Config with super sets, disables ordering",
        config: r###"
defaults:
  glob_disable_ordering: true
mappings:
- match: noorder.*.*
  name: "testa"
  labels:
    label: "${1}_foo"
- match: noorder.*.bbb
  name: "testb"
  labels:
    label: "${1}_foo"
- match: noorder.ccc.bbb
  name: "testc"
  labels:
    label: "ccc_foo"
  "###,
        bad: false,
        lookups: &[
            L { metric: "noorder.good.bbb", kind: None, name: "testb", labels: &[("label", "good_foo")], not_present: false, ttl: None, buckets: &[], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
            L { metric: "noorder.ccc.bbb", kind: None, name: "testc", labels: &[("label", "ccc_foo")], not_present: false, ttl: None, buckets: &[], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
        ],
    },
    S {
        name: "Config with super sets, keeps ordering",
        config: r###"
defaults:
  glob_disable_ordering: false
mappings:
- match: order.*.*
  name: "testa"
  labels:
    label: "${1}_foo"
- match: order.*.bbb
  name: "testb"
  labels:
    label: "${1}_foo"
  "###,
        bad: false,
        lookups: &[
            L { metric: "order.good.bbb", kind: None, name: "testa", labels: &[("label", "good_foo")], not_present: false, ttl: None, buckets: &[], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
        ],
    },
    S {
        name: "Config with bad regex reference",
        config: r###"---
mappings:
- match: test.*
  name: "name"
  labels:
    label: "$1_foo"
  "###,
        bad: false,
        lookups: &[
            L { metric: "test.a", kind: None, name: "name", labels: &[("label", "")], not_present: false, ttl: None, buckets: &[], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
        ],
    },
    S {
        name: "Config with good regex reference",
        config: r###"
mappings:
- match: test.*
  name: "name"
  labels:
    label: "${1}_foo"
  "###,
        bad: false,
        lookups: &[
            L { metric: "test.a", kind: None, name: "name", labels: &[("label", "a_foo")], not_present: false, ttl: None, buckets: &[], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
        ],
    },
    S {
        name: "Match metric segment with a number",
        config: r###"
mappings:
- match: test.99.myapp.*
  name: "name"
  labels:
    label: "${1}_foo"
  "###,
        bad: false,
        lookups: &[
            L { metric: "test.99.myapp.create", kind: None, name: "name", labels: &[("label", "create_foo")], not_present: false, ttl: None, buckets: &[], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
        ],
    },
    S {
        name: "Match metric segment starting with a number",
        config: r###"
mappings:
- match: test.99test.myapp.*
  name: "name"
  labels:
    label: "${1}_foo"
  "###,
        bad: false,
        lookups: &[
            L { metric: "test.99test.myapp.create", kind: None, name: "name", labels: &[("label", "create_foo")], not_present: false, ttl: None, buckets: &[], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
        ],
    },
    S {
        name: "Match metric segment with a number #328 example",
        config: r###"
mappings:
- match: kafka.server.FetcherStats.brokerHost.hostname.brokerPort.9092.clientId.ReplicaFetcherThread-0-1.BytesPerSec.1MinuteRate.gauge
  name: "example_name"
  "###,
        bad: false,
        lookups: &[
            L { metric: "kafka.server.FetcherStats.brokerHost.hostname.brokerPort.9092.clientId.ReplicaFetcherThread-0-1.BytesPerSec.1MinuteRate.gauge", kind: None, name: "example_name", labels: &[], not_present: false, ttl: None, buckets: &[], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
        ],
    },
    S {
        name: "Single segment match",
        config: r###"
mappings:
- match: '*'
  name: single_segment
  labels:
    label: "${1}"
"###,
        bad: false,
        lookups: &[
            L { metric: "test", kind: None, name: "single_segment", labels: &[("label", "test")], not_present: false, ttl: None, buckets: &[], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
        ],
    },
    S {
        name: "Config with bad metric line",
        config: r###"---
mappings:
- match: bad!!metric-line.*.*
  name: "foo"
  labels: {}
  "###,
        bad: true,
        lookups: &[

        ],
    },
    S {
        name: "Config with multiple dashes in metric name",
        config: r###"---
mappings:
- match: "foo--bar.*"
  name: "foo_bar_${1}"
  labels: {}
  "###,
        bad: false,
        lookups: &[
            L { metric: "foo--bar.count", kind: None, name: "foo_bar_count", labels: &[], not_present: false, ttl: None, buckets: &[], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
        ],
    },
    S {
        name: "Config with dynamic metric name",
        config: r###"---
mappings:
- match: test1.*.*
  name: "$1"
  labels: {}
- match: test2.*.*
  name: "${1}_$2"
  labels: {}
- match: test3\.(\w+)\.(\w+)
  match_type: regex
  name: "${2}_$1"
  labels: {}
  "###,
        bad: false,
        lookups: &[
            L { metric: "test1.total_requests.count", kind: None, name: "total_requests", labels: &[], not_present: false, ttl: None, buckets: &[], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
            L { metric: "test2.total_requests.count", kind: None, name: "total_requests_count", labels: &[], not_present: false, ttl: None, buckets: &[], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
            L { metric: "test3.total_requests.count", kind: None, name: "count_total_requests", labels: &[], not_present: false, ttl: None, buckets: &[], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
        ],
    },
    S {
        name: "Config with bad metric name",
        config: r###"---
mappings:
- match: test.*.*
  name: "0foo"
  labels: {}
  "###,
        bad: true,
        lookups: &[

        ],
    },
    S {
        name: "Config with no metric name",
        config: r###"---
mappings:
- match: test.*.*
  labels:
    this: "$1"
  "###,
        bad: true,
        lookups: &[

        ],
    },
    S {
        name: "Config with no mappings",
        config: r###""###,
        bad: false,
        lookups: &[

        ],
    },
    S {
        name: "Config without a trailing newline",
        config: r###"mappings:
- match: test.*
  name: "name"
  labels:
    label: "${1}_foo""###,
        bad: false,
        lookups: &[
            L { metric: "test.a", kind: None, name: "name", labels: &[("label", "a_foo")], not_present: false, ttl: None, buckets: &[], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
        ],
    },
    S {
        name: "Config with an improperly escaped *",
        config: r###"
mappings:
- match: *.test.*
  name: "name"
  labels:
    label: "${1}_foo""###,
        bad: true,
        lookups: &[

        ],
    },
    S {
        name: "Config with a properly escaped *",
        config: r###"
mappings:
- match: "*.test.*"
  name: "name"
  labels:
    label: "${2}_foo""###,
        bad: false,
        lookups: &[
            L { metric: "foo.test.a", kind: None, name: "name", labels: &[("label", "a_foo")], not_present: false, ttl: None, buckets: &[], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
        ],
    },
    S {
        name: "Config with good observer type",
        config: r###"---
mappings:
- match: test.*.*
  observer_type: summary
  name: "foo"
  labels: {}
  summary_options:
    quantiles:
      - quantile: 0.42
        error: 0.04
      - quantile: 0.7
        error: 0.002
  "###,
        bad: false,
        lookups: &[
            L { metric: "test.*.*", kind: None, name: "foo", labels: &[], not_present: false, ttl: None, buckets: &[], quantiles: &[(0.42, 0.04), (0.7, 0.002)], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
        ],
    },
    S {
        name: "Config with good observertype and no defaults",
        config: r###"---
mappings:
- match: test1.*.*
  observer_type: summary
  name: "foo"
  labels: {}
  "###,
        bad: false,
        lookups: &[
            L { metric: "test1.*.*", kind: None, name: "foo", labels: &[], not_present: false, ttl: None, buckets: &[], quantiles: &[(0.5, 0.05), (0.9, 0.01), (0.99, 0.001)], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
        ],
    },
    S {
        name: "Config with bad observer type",
        config: r###"---
mappings:
- match: test.*.*
  observer_type: wrong
  name: "foo"
  labels: {}
    "###,
        bad: true,
        lookups: &[

        ],
    },
    S {
        name: "New style quantiles",
        config: r###"---
mappings:
- match: test.*.*
  observer_type: summary
  name: "foo"
  labels: {}
  summary_options:
    quantiles:
      - quantile: 0.42
        error: 0.04
      - quantile: 0.7
        error: 0.002
  "###,
        bad: false,
        lookups: &[
            L { metric: "test.*.*", kind: None, name: "foo", labels: &[], not_present: false, ttl: None, buckets: &[], quantiles: &[(0.42, 0.04), (0.7, 0.002)], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
        ],
    },
    S {
        name: "Config with summary options",
        config: r###"---
mappings:
- match: test.*.*
  observer_type: summary
  name: "foo"
  labels: {}
  summary_options:
    quantiles:
      - quantile: 0.42
        error: 0.04
      - quantile: 0.7
        error: 0.002
    max_age: 5m
    age_buckets: 2
    buf_cap: 1000
  "###,
        bad: false,
        lookups: &[
            L { metric: "test.*.*", kind: None, name: "foo", labels: &[], not_present: false, ttl: None, buckets: &[], quantiles: &[(0.42, 0.04), (0.7, 0.002)], max_age: Some(300.0), age_buckets: 2, buf_cap: 1000, scale: None },
        ],
    },
    S {
        name: "Config with default summary options",
        config: r###"---
defaults:
 summary_options:
   quantiles:
     - quantile: 0.42
       error: 0.04
     - quantile: 0.7
       error: 0.002
   max_age: 5m
   age_buckets: 2
   buf_cap: 1000
mappings:
- match: test.*.*
  observer_type: summary
  name: "foo"
  labels: {}
"###,
        bad: false,
        lookups: &[
            L { metric: "test.*.*", kind: None, name: "foo", labels: &[], not_present: false, ttl: None, buckets: &[], quantiles: &[(0.42, 0.04), (0.7, 0.002)], max_age: Some(300.0), age_buckets: 2, buf_cap: 1000, scale: None },
        ],
    },
    S {
        name: "Config with default summary options without quantiles",
        config: r###"---
defaults:
 summary_options:
   max_age: 5m
   age_buckets: 2
   buf_cap: 1000
mappings:
- match: test.*.*
  observer_type: summary
  name: "foo"
  labels: {}
"###,
        bad: false,
        lookups: &[
            L { metric: "test.*.*", kind: None, name: "foo", labels: &[], not_present: false, ttl: None, buckets: &[], quantiles: &[], max_age: Some(300.0), age_buckets: 2, buf_cap: 1000, scale: None },
        ],
    },
    S {
        name: "Config that overrides default summary options",
        config: r###"---
defaults:
 summary_options:
   quantiles:
     - quantile: 0.042
       error: 0.4
     - quantile: 0.07
       error: 0.02
   max_age: 15m
   age_buckets: 3
   buf_cap: 100
mappings:
- match: test.*.*
  observer_type: summary
  name: "foo"
  labels: {}
  summary_options:
    quantiles:
     - quantile: 0.42
       error: 0.04
     - quantile: 0.7
       error: 0.002
    max_age: 5m
    age_buckets: 2
    buf_cap: 1000
"###,
        bad: false,
        lookups: &[
            L { metric: "test.*.*", kind: None, name: "foo", labels: &[], not_present: false, ttl: None, buckets: &[], quantiles: &[(0.42, 0.04), (0.7, 0.002)], max_age: Some(300.0), age_buckets: 2, buf_cap: 1000, scale: None },
        ],
    },
    S {
        name: "Config that overrides default summary options and a default options mapping",
        config: r###"---
defaults:
 summary_options:
   quantiles:
     - quantile: 0.9
       error: 0.1
     - quantile: 0.99
       error: 0.01
   max_age: 15m
   age_buckets: 3
   buf_cap: 100
mappings:
- match: test.*.*
  observer_type: summary
  name: "foo"
  labels: {}
  summary_options:
    quantiles:
     - quantile: 0.42
       error: 0.04
     - quantile: 0.7
       error: 0.002
    max_age: 5m
    age_buckets: 2
    buf_cap: 1000
- match: test_default.*.*
  observer_type: summary
  name: "foo_default"
  labels: {}
"###,
        bad: false,
        lookups: &[
            L { metric: "test.*.*", kind: None, name: "foo", labels: &[], not_present: false, ttl: None, buckets: &[], quantiles: &[(0.42, 0.04), (0.7, 0.002)], max_age: Some(300.0), age_buckets: 2, buf_cap: 1000, scale: None },
            L { metric: "test_default.*.*", kind: None, name: "foo_default", labels: &[], not_present: false, ttl: None, buckets: &[], quantiles: &[(0.9, 0.1), (0.99, 0.01)], max_age: Some(900.0), age_buckets: 3, buf_cap: 100, scale: None },
        ],
    },
    S {
        name: "Config that partially overrides default summary quantiles and a default options mapping",
        config: r###"---
defaults:
 summary_options:
   quantiles:
     - quantile: 0.9
       error: 0.1
     - quantile: 0.99
       error: 0.01
   max_age: 15m
   age_buckets: 3
   buf_cap: 100
mappings:
- match: test.*.*
  observer_type: summary
  name: "foo"
  labels: {}
  summary_options:
    quantiles:
     - quantile: 0.42
       error: 0.04
     - quantile: 0.7
       error: 0.002
- match: test_default.*.*
  observer_type: summary
  name: "foo_default"
  labels: {}
"###,
        bad: false,
        lookups: &[
            L { metric: "test.*.*", kind: None, name: "foo", labels: &[], not_present: false, ttl: None, buckets: &[], quantiles: &[(0.42, 0.04), (0.7, 0.002)], max_age: Some(900.0), age_buckets: 3, buf_cap: 100, scale: None },
            L { metric: "test_default.*.*", kind: None, name: "foo_default", labels: &[], not_present: false, ttl: None, buckets: &[], quantiles: &[(0.9, 0.1), (0.99, 0.01)], max_age: Some(900.0), age_buckets: 3, buf_cap: 100, scale: None },
        ],
    },
    S {
        name: "Config that partially overrides default summary max_age and a default options mapping",
        config: r###"---
defaults:
 summary_options:
   quantiles:
     - quantile: 0.9
       error: 0.1
     - quantile: 0.99
       error: 0.01
   max_age: 15m
   age_buckets: 3
   buf_cap: 100
mappings:
- match: test.*.*
  observer_type: summary
  name: "foo"
  labels: {}
  summary_options:
    max_age: 5m
- match: test_default.*.*
  observer_type: summary
  name: "foo_default"
  labels: {}
"###,
        bad: false,
        lookups: &[
            L { metric: "test.*.*", kind: None, name: "foo", labels: &[], not_present: false, ttl: None, buckets: &[], quantiles: &[(0.9, 0.1), (0.99, 0.01)], max_age: Some(300.0), age_buckets: 3, buf_cap: 100, scale: None },
            L { metric: "test_default.*.*", kind: None, name: "foo_default", labels: &[], not_present: false, ttl: None, buckets: &[], quantiles: &[(0.9, 0.1), (0.99, 0.01)], max_age: Some(900.0), age_buckets: 3, buf_cap: 100, scale: None },
        ],
    },
    S {
        name: "Config with histogram options",
        config: r###"---
mappings:
- match: test.*.*
  observer_type: histogram
  name: "foo"
  labels: {}
  histogram_options:
    buckets: [0.1, 1, 10, 100, 1000]
"###,
        bad: false,
        lookups: &[
            L { metric: "test.*.*", kind: None, name: "foo", labels: &[], not_present: false, ttl: None, buckets: &[0.1, 1.0, 10.0, 100.0, 1000.0], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
        ],
    },
    S {
        name: "Config with default histogram options",
        config: r###"---
defaults:
  histogram_options:
    buckets: [0.1, 1, 10, 100, 1000]
mappings:
- match: test.*.*
  observer_type: histogram
  name: "foo"
  labels: {}
"###,
        bad: false,
        lookups: &[
            L { metric: "test.*.*", kind: None, name: "foo", labels: &[], not_present: false, ttl: None, buckets: &[0.1, 1.0, 10.0, 100.0, 1000.0], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
        ],
    },
    S {
        name: "Config with default histogram options without buckets",
        config: r###"---
defaults:
  histogram_options:
    buckets: []
mappings:
- match: test.*.*
  observer_type: histogram
  name: "foo"
  labels: {}
"###,
        bad: false,
        lookups: &[
            L { metric: "test.*.*", kind: None, name: "foo", labels: &[], not_present: false, ttl: None, buckets: &[], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
        ],
    },
    S {
        name: "Config that overrides default histogram configuration",
        config: r###"---
defaults:
  histogram_options:
    buckets: [0.2, 2, 20, 200, 2000]
mappings:
- match: test.*.*
  observer_type: histogram
  name: "foo"
  labels: {}
  histogram_options:
    buckets: [0.1, 1, 10, 100, 1000]
"###,
        bad: false,
        lookups: &[
            L { metric: "test.*.*", kind: None, name: "foo", labels: &[], not_present: false, ttl: None, buckets: &[0.1, 1.0, 10.0, 100.0, 1000.0], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
        ],
    },
    S {
        name: "Config that overrides default histogram configuration and a default options mapping",
        config: r###"---
defaults:
  histogram_options:
    buckets: [0.2, 2, 20, 200]
mappings:
- match: test.*.*
  observer_type: histogram
  name: "foo"
  labels: {}
  histogram_options:
    buckets: [0.1, 1, 10, 100, 1000]
- match: test_default.*.*
  observer_type: histogram
  name: "foo_default"
  labels: {}
"###,
        bad: false,
        lookups: &[
            L { metric: "test.*.*", kind: None, name: "foo", labels: &[], not_present: false, ttl: None, buckets: &[0.1, 1.0, 10.0, 100.0, 1000.0], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
            L { metric: "test_default.*.*", kind: None, name: "foo_default", labels: &[], not_present: false, ttl: None, buckets: &[0.2, 2.0, 20.0, 200.0], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
        ],
    },
    S {
        name: "Duplicate quantiles are bad",
        config: r###"---
mappings:
- match: test.*.*
  observer_type: summary
  name: "foo"
  labels: {}
  quantiles:
    - quantile: 0.42
      error: 0.04
  summary_options:
    quantiles:
      - quantile: 0.42
        error: 0.04
  "###,
        bad: true,
        lookups: &[

        ],
    },
    S {
        name: "Config with good metric type",
        config: r###"---
mappings:
- match: test.*.*
  match_metric_type: counter
  name: "foo"
  labels: {}
    "###,
        bad: false,
        lookups: &[

        ],
    },
    S {
        name: "Config with good metric type observer",
        config: r###"---
mappings:
- match: test.*.*
  match_metric_type: observer
  name: "foo"
  labels: {}
    "###,
        bad: false,
        lookups: &[

        ],
    },
    S {
        name: "Config with bad metric type matcher",
        config: r###"---
mappings:
- match: test.*.*
  match_metric_type: wrong
  name: "foo"
  labels: {}
    "###,
        bad: true,
        lookups: &[

        ],
    },
    S {
        name: "Config with multiple explicit metric types",
        config: r###"---
mappings:
- match: test.foo.*
  name: "test_foo_sum"
  match_metric_type: counter
- match: test.foo.*
  name: "test_foo_current"
  match_metric_type: gauge
    "###,
        bad: false,
        lookups: &[
            L { metric: "test.foo.test", kind: Some(Kind::Counter), name: "test_foo_sum", labels: &[], not_present: false, ttl: None, buckets: &[], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
            L { metric: "test.foo.test", kind: Some(Kind::Gauge), name: "test_foo_current", labels: &[], not_present: false, ttl: None, buckets: &[], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
        ],
    },
    S {
        name: "Config with uncompilable regex",
        config: r###"---
mappings:
- match: "*\\.foo"
  match_type: regex
  name: "foo"
  labels: {}
    "###,
        bad: true,
        lookups: &[

        ],
    },
    S {
        name: "Config with non-matched metric",
        config: r###"---
mappings:
- match: foo.*.*
  observer_type: summary
  name: "foo"
  labels: {}
  "###,
        bad: false,
        lookups: &[
            L { metric: "test.1.2", kind: None, name: "test_1_2", labels: &[], not_present: false, ttl: None, buckets: &[], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
        ],
    },
    S {
        name: "Config with no name",
        config: r###"---
mappings:
- match: *\.foo
  match_type: regex
  labels:
    bar: "foo"
    "###,
        bad: true,
        lookups: &[

        ],
    },
    S {
        name: "Config with labels from glob",
        config: r###"---
mappings:
- match: p.*.*.c.*
  match_type: glob
  name: issue_256
  labels:
    one: $1
    two: $2
    three: $3
"###,
        bad: false,
        lookups: &[
            L { metric: "p.one.two.c.three", kind: None, name: "issue_256", labels: &[("one", "one"), ("two", "two"), ("three", "three")], not_present: false, ttl: None, buckets: &[], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
        ],
    },
    S {
        name: "Example from the README",
        config: r###"
mappings:
- match: test.dispatcher.*.*.*
  name: "dispatcher_events_total"
  labels:
    processor: "$1"
    action: "$2"
    outcome: "$3"
    job: "test_dispatcher"
- match: "*.signup.*.*"
  name: "signup_events_total"
  labels:
    provider: "$2"
    outcome: "$3"
    job: "${1}_server"
"###,
        bad: false,
        lookups: &[
            L { metric: "test.dispatcher.FooProcessor.send.success", kind: None, name: "dispatcher_events_total", labels: &[("processor", "FooProcessor"), ("action", "send"), ("outcome", "success"), ("job", "test_dispatcher")], not_present: false, ttl: None, buckets: &[], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
            L { metric: "foo_product.signup.facebook.failure", kind: None, name: "signup_events_total", labels: &[("provider", "facebook"), ("outcome", "failure"), ("job", "foo_product_server")], not_present: false, ttl: None, buckets: &[], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
            L { metric: "test.web-server.foo.bar", kind: None, name: "test_web_server_foo_bar", labels: &[], not_present: false, ttl: None, buckets: &[], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
        ],
    },
    S {
        name: "Config that drops all",
        config: r###"mappings:
- match: .
  match_type: regex
  name: "drop"
  action: drop"###,
        bad: false,
        lookups: &[
            L { metric: "test.a", kind: None, name: "", labels: &[], not_present: false, ttl: None, buckets: &[], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
            L { metric: "abc", kind: None, name: "", labels: &[], not_present: false, ttl: None, buckets: &[], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
        ],
    },
    S {
        name: "Config that has a catch-all to drop all",
        config: r###"mappings:
- match: web.*
  name: "web"
  labels:
    site: "$1"
- match: .
  match_type: regex
  name: "drop"
  action: drop"###,
        bad: false,
        lookups: &[
            L { metric: "test.a", kind: None, name: "", labels: &[], not_present: false, ttl: None, buckets: &[], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
            L { metric: "web.localhost", kind: None, name: "web", labels: &[("site", "localhost")], not_present: false, ttl: None, buckets: &[], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
        ],
    },
    S {
        name: "Config that has a ttl",
        config: r###"mappings:
- match: web.*
  name: "web"
  ttl: 10s
  labels:
    site: "$1""###,
        bad: false,
        lookups: &[
            L { metric: "test.a", kind: None, name: "", labels: &[], not_present: false, ttl: None, buckets: &[], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
            L { metric: "web.localhost", kind: None, name: "web", labels: &[("site", "localhost")], not_present: false, ttl: Some(10.0), buckets: &[], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
        ],
    },
    S {
        name: "Config that has a default ttl",
        config: r###"defaults:
  ttl: 1m2s
mappings:
- match: web.*
  name: "web"
  labels:
    site: "$1""###,
        bad: false,
        lookups: &[
            L { metric: "test.a", kind: None, name: "", labels: &[], not_present: false, ttl: None, buckets: &[], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
            L { metric: "web.localhost", kind: None, name: "web", labels: &[("site", "localhost")], not_present: false, ttl: Some(62.0), buckets: &[], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
        ],
    },
    S {
        name: "Config that override a default ttl",
        config: r###"defaults:
  ttl: 1m2s
mappings:
- match: web.*
  name: "web"
  ttl: 5s
  labels:
    site: "$1""###,
        bad: false,
        lookups: &[
            L { metric: "test.a", kind: None, name: "", labels: &[], not_present: false, ttl: None, buckets: &[], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
            L { metric: "web.localhost", kind: None, name: "web", labels: &[("site", "localhost")], not_present: false, ttl: Some(5.0), buckets: &[], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
        ],
    },
    S {
        name: "Config with 'scale' field",
        config: r###"mappings:
- match: grpc_server.*.*.latency_ms
  name: grpc_server_handling_seconds
  scale: 0.001
  labels:
    grpc_service: "$1"
    grpc_method: "$2""###,
        bad: false,
        lookups: &[
            L { metric: "test.a", kind: None, name: "", labels: &[], not_present: false, ttl: None, buckets: &[], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
            L { metric: "grpc_server.Foo.Bar.latency_ms", kind: None, name: "grpc_server_handling_seconds", labels: &[("grpc_service", "Foo"), ("grpc_method", "Bar")], not_present: false, ttl: None, buckets: &[], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: Some(0.001) },
        ],
    },
    S {
        name: "Config with 'scale' using scientific notation",
        config: r###"mappings:
- match: grpc_server.*.*.latency_us
  name: grpc_server_handling_seconds
  scale: 1e-6
  labels:
    grpc_service: "$1"
    grpc_method: "$2""###,
        bad: false,
        lookups: &[
            L { metric: "test.a", kind: None, name: "", labels: &[], not_present: false, ttl: None, buckets: &[], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: None },
            L { metric: "grpc_server.Foo.Bar.latency_us", kind: None, name: "grpc_server_handling_seconds", labels: &[("grpc_service", "Foo"), ("grpc_method", "Bar")], not_present: false, ttl: None, buckets: &[], quantiles: &[], max_age: None, age_buckets: 0, buf_cap: 0, scale: Some(1e-6) },
        ],
    },
];
