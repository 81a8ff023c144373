//! `check --log-rules FILE --log-line LINE`: each log line cut as a followed log's are (a line
//! past the limit is skipped) and put through the same matcher, under each rules file: every
//! rule that matches, and what it does, or why its value was skipped.

use std::fmt::Write;

use crate::cli::Check;
use crate::logs::lines::{Lines, Piece};
use crate::logs::matcher::Matcher;
use crate::logs::rules::{Rule, Rules};

/// How much of a line past the limit its skip line shows.
const TOO_LONG_SHOWN: usize = 40;

pub fn report(check: &Check, out: &mut String) {
    let several = check.log_rules.len() > 1;
    for (path, rules) in &check.log_rules {
        super::ok_line(out, rules.rules.len(), "rules", path, several);
        let mut matcher = Matcher::new(std::sync::Arc::clone(rules));
        for text in &check.log_lines {
            let mut lines = Lines::default();
            let mut show = |piece: Piece<'_>| match piece {
                Piece::Line(line) => show_line(out, &mut matcher, rules, text, line),
                Piece::TooLong => {
                    // Not echoed whole: it is past the limit because it is long.
                    let start: String = text.chars().take(TOO_LONG_SHOWN).collect();
                    let shown = format!("{start}...");
                    let bytes = text.len();
                    let _ = writeln!(out, "{shown:?} ({bytes} bytes): skipped: too_long");
                }
                Piece::BadUtf8 => {
                    let _ = writeln!(out, "{text:?}: skipped: bad_utf8");
                }
            };
            lines.feed(text.as_bytes(), &mut show);
            lines.finish(show);
        }
    }
}

/// The rules `line` (given as `text`) matches, and what each does.
fn show_line(out: &mut String, matcher: &mut Matcher, rules: &Rules, text: &str, line: &str) {
    let matched = matcher.updates(line, |at, made| {
        let rule = &rules.rules[at];
        let by = format!("rule {} {:?}", at + 1, rule.regex.as_str());
        match made {
            Some(update) => {
                let _ = writeln!(out, "{text:?}: {} ({by})", super::update(update));
            }
            None => {
                let _ = writeln!(out, "{text:?}: skipped: {} ({by})", bad_value(rule, line));
            }
        }
    });
    if !matched {
        let _ = writeln!(out, "{text:?}: no rule matched");
    }
}

/// Why the matcher found no usable value in `line` for `rule` (it counts these as
/// `..._log_values_invalid_total`).
fn bad_value(rule: &Rule, line: &str) -> String {
    let captured = rule
        .value
        .and_then(|group| rule.regex.captures(line)?.get(group))
        .map(|found| found.as_str());
    match captured {
        None => "no value captured".to_owned(),
        Some(value) => format!("invalid value {value:?} for a {}", rule.kind.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::Arc;

    use crate::logs::lines::MAX_LINE;
    use crate::logs::rules::Rules;

    const RULES: &str = "rules:\n\
        - {match: '^(?P<method>[A-Z]+) (?P<code>\\d)\\d\\d', metric: requests_total, type: counter, labels: {method: $method, code: '${code}xx'}}\n\
        - {match: ' (?P<seconds>\\S+)$', metric: request_seconds, type: histogram, value: seconds}\n\
        - {match: '^queue(?: (?P<depth>-?\\d+))?$', metric: queue_depth, type: gauge, value: depth}\n";

    fn shown(lines: &[&str]) -> Vec<String> {
        let mut check = crate::check::tests::empty();
        let rules = Rules::from_yaml(RULES).expect("rules");
        check.log_rules = vec![(PathBuf::from("rules.yml"), Arc::new(rules))];
        check.log_lines = lines.iter().map(|l| l.to_string()).collect();
        crate::check::report(&check)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn each_matching_rule_shows_its_update_and_a_bad_value_why_it_is_skipped() {
        let long = "x".repeat(MAX_LINE + 1);
        let out = shown(&["GET 200 0.25", "GET 404 slow", "queue", "nothing", &long]);
        let rule = |n: usize, re: &str| format!("(rule {n} {re:?})");
        assert_eq!(
            out,
            [
                "ok: 3 rules".to_owned(),
                format!(
                    "\"GET 200 0.25\": requests_total{{code=\"2xx\",method=\"GET\"}} counter += 1 {}",
                    rule(1, "^(?P<method>[A-Z]+) (?P<code>\\d)\\d\\d")
                ),
                format!(
                    "\"GET 200 0.25\": request_seconds{{}} histogram observes 0.25 x1 {}",
                    rule(2, " (?P<seconds>\\S+)$")
                ),
                format!(
                    "\"GET 404 slow\": requests_total{{code=\"4xx\",method=\"GET\"}} counter += 1 {}",
                    rule(1, "^(?P<method>[A-Z]+) (?P<code>\\d)\\d\\d")
                ),
                format!(
                    "\"GET 404 slow\": skipped: invalid value \"slow\" for a histogram {}",
                    rule(2, " (?P<seconds>\\S+)$")
                ),
                format!(
                    "\"queue\": skipped: no value captured {}",
                    rule(3, "^queue(?: (?P<depth>-?\\d+))?$")
                ),
                "\"nothing\": no rule matched".to_owned(),
                format!("\"{}...\" (65537 bytes): skipped: too_long", &long[..40]),
            ]
        );
    }
}
