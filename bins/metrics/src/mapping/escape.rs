//! Names into Prometheus names, exactly as statsd_exporter makes them, so that the series of an
//! unmapped StatsD name keep their names when statsd_exporter is swapped for podkit-metrics.

use std::borrow::Cow;

/// Every character outside `[a-zA-Z0-9_]` becomes `_` (a run of dashes counts once), and a
/// leading digit gets a `_` before it: `test.web-server.foo` -> `test_web_server_foo`. A valid
/// name comes back borrowed. The result is a valid metric and label name, or empty.
pub fn escape_name(name: &str) -> Cow<'_, str> {
    let valid = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let starts_with_digit = name.starts_with(|c: char| c.is_ascii_digit());
    if !starts_with_digit && name.chars().all(valid) {
        return Cow::Borrowed(name);
    }
    let mut escaped = String::with_capacity(name.len() + 1);
    if starts_with_digit {
        escaped.push('_');
    }
    let mut previous = '\0';
    for c in name.chars() {
        if valid(c) {
            escaped.push(c);
        } else if !(c == '-' && previous == '-') {
            escaped.push('_');
        }
        previous = c;
    }
    Cow::Owned(escaped)
}

#[cfg(test)]
/// Whether `name` is a Prometheus metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
pub fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// statsd_exporter's escape_test.go, case for case.
    #[test]
    fn names_are_escaped_as_statsd_exporter_escapes_them() {
        for (name, want) in [
            ("clean", "clean"),
            ("0starts_with_digit", "_0starts_with_digit"),
            ("with_underscore", "with_underscore"),
            ("with--doubledash", "with_doubledash"),
            ("with---multiple-dashes", "with_multiple_dashes"),
            ("with.dot", "with_dot"),
            ("with😱emoji", "with_emoji"),
            ("with.*.multiple", "with___multiple"),
            ("test.web-server.foo.bar", "test_web_server_foo_bar"),
            ("", ""),
        ] {
            assert_eq!(escape_name(name), want, "{name:?}");
        }
    }

    #[test]
    fn an_escaped_name_is_a_valid_name_or_empty() {
        for name in ["a.b", "9", "-", "ü", "a:b", " x "] {
            let escaped = escape_name(name);
            assert!(is_metric_name(&escaped), "{name:?} -> {escaped:?}");
        }
    }
}
