use super::*;
use crate::store::{render, Store};
use proptest::prelude::*;

const RULES: &str = r#"
rules:
  - match: '^(?P<method>[A-Z]+) (?P<path>\S+) (?P<code>\d{3})(?: (?P<seconds>\S+))?$'
    metric: http_requests_total
    type: counter
    labels: {method: '$method', class: '${code}!', note: '$$'}
    help: Requests served.
  - match: ' (?P<code>\d{3}) (?P<seconds>\S+)$'
    metric: http_request_seconds
    type: histogram
    value: seconds
    buckets: [0.1, 1]
  - match: '^queue (?P<name>\w*) (?P<depth>\S+)$'
    metric: queue_depth
    type: gauge
    value: depth
    labels: {queue: '$name'}
  - match: '^bytes (?P<n>\S+)$'
    metric: bytes_total
    type: counter
    value: n
"#;

/// The lines fed through [`RULES`]: the scrape's text of the series (not the comments), and the
/// tally.
fn feed(lines: &[&str]) -> (String, Tally) {
    let mut matcher = Matcher::new(Arc::new(Rules::from_yaml(RULES).expect("valid rules")));
    let store = Store::new(None);
    let mut state = store.lock();
    let now = Instant::now();
    let mut tally = Tally::default();
    for line in lines {
        matcher.apply(line, &mut state, now, &mut tally);
    }
    let mut out = Vec::new();
    render::render(&mut state, now, &mut out);
    let text = String::from_utf8(out).expect("UTF-8");
    let series = text.lines().filter(|l| !l.starts_with('#'));
    (series.collect::<Vec<_>>().join("\n"), tally)
}

#[test]
fn captures_become_labels_and_values_and_every_matching_rule_counts() {
    let (text, tally) = feed(&[
        "GET /a 200 0.05",
        "GET /b 200 0.5",
        "POST /c 500",
        "queue mail 7",
        "queue mail 3",
        "bytes 1500",
        "nothing here",
    ]);
    assert!(
        text.contains("http_requests_total{class=\"200!\",method=\"GET\",note=\"$\"} 2"),
        "{text}"
    );
    assert!(text.contains("http_requests_total{class=\"500!\",method=\"POST\",note=\"$\"} 1"));
    assert!(
        text.contains("http_request_seconds_bucket{le=\"0.1\"} 1"),
        "{text}"
    );
    assert!(text.contains("http_request_seconds_count 2"));
    assert!(text.contains("queue_depth{queue=\"mail\"} 3"));
    assert!(text.contains("bytes_total 1500"));
    assert_eq!(
        tally,
        Tally {
            lines: 7,
            matched: 6,
            unmatched: 1,
            ..Tally::default()
        }
    );
}

#[test]
fn a_value_that_is_not_a_number_is_counted_and_an_empty_label_is_absent() {
    let (text, tally) = feed(&["queue  x", "bytes -3", "queue  4", "GET /a 200 fast"]);
    assert!(text.contains("queue_depth 4"), "{text}");
    assert!(!text.contains("http_request_seconds_count"), "{text}");
    assert_eq!(tally.bad_values, 3, "{tally:?}");
    assert_eq!(tally.matched, 4);
}

#[test]
fn rules_files_are_refused_naming_the_rule_and_what_is_wrong() {
    let refused = |rules: &str| Rules::from_yaml(rules).unwrap_err().to_string();
    let rule = |body: &str| {
        format!("rules:\n  - match: 'a'\n    metric: ok\n    type: counter\n  - {body}\n")
    };
    assert!(refused("rules: []").contains("no rules"));
    assert!(refused("rule: []").contains("unknown field"));
    let cases = [
        ("match: '('\n    metric: m\n    type: counter", "bad regex"),
        ("match: 'a'\n    metric: 'bad name'\n    type: counter", "not a valid metric name"),
        ("match: 'a'\n    metric: podkit_x\n    type: counter", "adapter's own"),
        ("match: 'a'\n    metric: g\n    type: gauge", "needs `value`"),
        ("match: '(?P<v>a)'\n    metric: g\n    type: gauge\n    value: w", "no capture named \"w\""),
        ("match: 'a'\n    metric: m\n    type: counter\n    labels: {x: '$nope'}", "no capture named \"nope\""),
        ("match: 'a'\n    metric: m\n    type: counter\n    labels: {x: '$'}", "no capture name"),
        ("match: 'a'\n    metric: m\n    type: counter\n    labels: {__x: 'a'}", "not a valid label name"),
        ("match: '(?P<v>a)'\n    metric: h\n    type: histogram\n    value: v\n    labels: {le: 'a'}", "histogram's own"),
        ("match: '(?P<v>a)'\n    metric: h\n    type: histogram\n    value: v\n    buckets: [2, 1]", "increasing"),
        ("match: 'a'\n    metric: m\n    type: counter\n    buckets: [1]", "for a histogram"),
        ("match: '(?P<v>a)'\n    metric: ok\n    type: gauge\n    value: v", "is a counter in an earlier rule"),
        ("match: 'a'\n    metric: m\n    type: summary", "unknown variant"),
    ];
    for (body, why) in cases {
        let message = refused(&rule(body));
        assert!(message.starts_with("rule 2 ("), "{body}: {message}");
        assert!(message.contains(why), "{body}: {message}");
    }
}

/// `text` as a YAML double-quoted scalar, every character but printable ASCII escaped.
fn quoted(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => out.push_str(&format!("\\U{:08x}", u32::from(c))),
        }
    }
    out.push('"');
    out
}

proptest! {
    /// Any line, through rules that capture labels and values of every kind, updates the table
    /// or is counted; nothing panics, and every line is either matched or unmatched.
    #[test]
    fn the_matcher_never_panics_on_any_line(lines in proptest::collection::vec(any::<String>(), 1..20),
                                            bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut lines: Vec<String> = lines;
        lines.push(String::from_utf8_lossy(&bytes).into_owned());
        lines.push(format!("GET /{} 200 {}", lines[0], lines[0]));
        lines.push(format!("queue {} {}", lines[0].len(), lines[0]));
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let (_, tally) = feed(&refs);
        prop_assert_eq!(tally.lines, refs.len() as u64);
        prop_assert_eq!(tally.matched + tally.unmatched, tally.lines);
    }

    /// A rules file built from any pattern and any label template loads or is refused with a
    /// message naming the rule; it never panics, and what loads matches any line.
    #[test]
    fn any_pattern_and_template_load_or_are_refused(pattern in ".{0,40}", template in ".{0,40}", line in ".{0,80}") {
        let yaml = format!(
            "rules:\n  - match: {}\n    metric: m\n    type: counter\n    labels: {{x: {}}}\n",
            quoted(&pattern),
            quoted(&template),
        );
        match Rules::from_yaml(&yaml) {
            Ok(rules) => {
                let mut matcher = Matcher::new(Arc::new(rules));
                let store = Store::new(None);
                let mut tally = Tally::default();
                matcher.apply(&line, &mut store.lock(), Instant::now(), &mut tally);
                prop_assert_eq!(tally.lines, 1);
            }
            Err(e) => prop_assert!(e.to_string().starts_with("rule 1 ("), "{}", e),
        }
    }

    /// Bytes of any kind, cut anywhere, become lines or counted skips without a panic.
    #[test]
    fn the_line_cutter_never_panics_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400),
                                                 cut in 0usize..400) {
        let mut lines = super::super::lines::Lines::default();
        let cut = cut.min(bytes.len());
        let mut pieces = 0;
        lines.feed(&bytes[..cut], |_| pieces += 1);
        lines.feed(&bytes[cut..], |_| pieces += 1);
        lines.finish(|_| pieces += 1);
        prop_assert!(pieces <= bytes.len() + 1);
    }
}
