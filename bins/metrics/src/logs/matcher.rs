//! A line against the rules: one regex pass per rule, into capture slots made once, so that a
//! line that matches nothing allocates nothing and one that matches reuses the label strings of
//! the line before. Every rule that matches counts (a line can feed a counter and a histogram).

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use regex::CaptureLocations;

use super::rules::{Kind, Rule, Rules};
use crate::store::{Op, Refusal, State, Update};

/// What the lines of a batch did, added to the adapter's metrics once per batch.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub lines: u64,
    pub matched: u64,
    pub unmatched: u64,
    pub too_long: u64,
    pub bad_utf8: u64,
    /// A captured value that is not a number, or a negative one for a counter.
    pub bad_values: u64,
    pub refused: u64,
    pub type_conflicts: u64,
}

#[derive(Debug)]
pub struct Matcher {
    rules: Arc<Rules>,
    /// One per rule: where its groups matched in the current line.
    groups: Vec<CaptureLocations>,
    /// The labels of the update being made, kept between lines for their capacity.
    labels: Vec<(String, String)>,
}

impl Matcher {
    pub fn new(rules: Arc<Rules>) -> Matcher {
        let groups = rules
            .rules
            .iter()
            .map(|r| r.regex.capture_locations())
            .collect();
        Matcher {
            rules,
            groups,
            labels: Vec::new(),
        }
    }

    /// Applies `line` to `state`, counting the outcome in `tally`.
    pub fn apply(&mut self, line: &str, state: &mut State, now: Instant, tally: &mut Tally) {
        tally.lines += 1;
        let matched = self.updates(line, |_, made| match made {
            Some(update) => match state.apply(update, now) {
                Ok(()) => {}
                Err(Refusal::MaxSeries) => tally.refused += 1,
                Err(Refusal::TypeConflict) => tally.type_conflicts += 1,
            },
            None => tally.bad_values += 1,
        });
        if matched {
            tally.matched += 1;
        } else {
            tally.unmatched += 1;
        }
    }

    /// Hands `each` the position of every rule that matches `line` and its update (`None` when
    /// its captured value is not a usable number); whether any matched.
    pub fn updates(
        &mut self,
        line: &str,
        mut each: impl FnMut(usize, Option<&Update<'_>>),
    ) -> bool {
        let mut matched = false;
        for (at, (rule, groups)) in self.rules.rules.iter().zip(&mut self.groups).enumerate() {
            if rule.regex.captures_read(groups, line).is_none() {
                continue;
            }
            matched = true;
            let Some(op) = operation(rule, line, groups) else {
                each(at, None);
                continue;
            };
            fill_labels(&mut self.labels, rule, line, groups);
            let update = Update {
                name: Cow::Borrowed(&rule.metric),
                help: rule.help.as_deref(),
                labels: std::mem::take(&mut self.labels),
                op,
                ttl: None,
                observer: &rule.observer,
            };
            each(at, Some(&update));
            self.labels = update.labels;
        }
        matched
    }
}

/// What a match of `rule` does; `None` when its value is not a number it can use.
fn operation(rule: &Rule, line: &str, groups: &CaptureLocations) -> Option<Op<'static>> {
    let value = match rule.value {
        None => 1.0,
        Some(index) => {
            let (start, end) = groups.get(index)?;
            line[start..end].trim().parse::<f64>().ok()?
        }
    };
    match rule.kind {
        Kind::Counter if value >= 0.0 && value.is_finite() => Some(Op::Add(value)),
        Kind::Counter => None,
        Kind::Gauge => Some(Op::Set(value)),
        Kind::Histogram if value.is_nan() => None,
        Kind::Histogram => Some(Op::Observe(value, 1)),
    }
}

/// The rule's labels for this line into `labels`, sorted (the rule's are), none empty (the
/// store's rule: an empty value is an absent label), reusing the strings already there.
fn fill_labels(
    labels: &mut Vec<(String, String)>,
    rule: &Rule,
    line: &str,
    groups: &CaptureLocations,
) {
    labels.truncate(rule.labels.len());
    labels.resize_with(rule.labels.len(), Default::default);
    for ((name, value), (rule_name, template)) in labels.iter_mut().zip(&rule.labels) {
        name.clear();
        name.push_str(rule_name);
        value.clear();
        template.expand_into(line, groups, value);
    }
    labels.retain(|(_, value)| !value.is_empty());
}

#[cfg(test)]
mod tests;
