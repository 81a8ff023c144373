//! A log rules file, then lines: loading any text must end in rules or an error, never a panic,
//! and each loaded rule must match, capture, expand its label templates and read its value on
//! any line without one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use podkit_metrics_fuzz::logs::rules::Rules;

fuzz_target!(|input: &str| {
    // The file, then the lines to try it on, after the first form feed.
    let (file, lines) = input.split_once('\u{c}').unwrap_or((input, ""));
    let Ok(rules) = Rules::from_yaml(file) else {
        return;
    };
    let mut label = String::new();
    for line in lines.lines() {
        for rule in &rules.rules {
            let mut groups = rule.regex.capture_locations();
            if rule.regex.captures_read(&mut groups, line).is_none() {
                continue;
            }
            for (_, template) in &rule.labels {
                label.clear();
                template.expand_into(line, &groups, &mut label);
            }
            if let Some((start, end)) = rule.value.and_then(|index| groups.get(index)) {
                let _ = line[start..end].parse::<f64>();
            }
        }
    }
});
