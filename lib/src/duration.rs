//! Durations as people write them in flags and manifests: `500ms`, `30s`, `5m`, `1h30m`.

use std::fmt;
use std::time::Duration;

/// Why a duration string was refused; prints as one line that quotes the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseDurationError {
    input: String,
    reason: &'static str,
}

impl fmt::Display for ParseDurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid duration {:?}: {} (examples: 500ms, 30s, 5m, 1h30m)",
            self.input, self.reason
        )
    }
}

impl std::error::Error for ParseDurationError {}

/// The longest duration accepted: ten years. Every duration podkit reads becomes a timer or a
/// deadline (`Instant + duration`), and one of centuries overflows the clock and panics; no
/// timeout, grace or period needs more.
pub const MAX: Duration = Duration::from_secs(10 * 366 * 24 * 3600);

/// Parses a sequence of `<integer><unit>` parts, units `ms`, `s`, `m`, `h`; a bare `0` is zero.
///
/// A number without a unit is refused (is `30` seconds or milliseconds?), as are fractions, which
/// the Go-style `1.5s` invites but nobody needs in a grace period.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(podkit::duration::parse("1m30s").unwrap(), Duration::from_secs(90));
/// assert_eq!(podkit::duration::parse("250ms").unwrap(), Duration::from_millis(250));
/// assert!(podkit::duration::parse("30").is_err());
/// ```
pub fn parse(input: &str) -> Result<Duration, ParseDurationError> {
    let fail = |reason| ParseDurationError {
        input: input.to_owned(),
        reason,
    };
    let text = input.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.is_empty() {
        return Err(fail("empty"));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(fail("expected a number"));
        }
        let (number, after) = rest.split_at(digits);
        if after.starts_with(['.', ',']) {
            return Err(fail("no fractions: write 1500ms, not 1.5s"));
        }
        let unit_len = after.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, after) = after.split_at(unit_len);
        let value: u64 = number.parse().map_err(|_| fail("number too large"))?;
        let part = match unit {
            "ms" => Duration::from_millis(value),
            "s" => Duration::from_secs(value),
            "m" => value
                .checked_mul(60)
                .map(Duration::from_secs)
                .ok_or_else(|| fail("too large"))?,
            "h" => value
                .checked_mul(3600)
                .map(Duration::from_secs)
                .ok_or_else(|| fail("too large"))?,
            "" => return Err(fail("missing unit")),
            _ => return Err(fail("unknown unit")),
        };
        total = total.checked_add(part).ok_or_else(|| fail("too large"))?;
        rest = after;
    }
    if total > MAX {
        return Err(fail("too large (at most ten years)"));
    }
    Ok(total)
}

/// Formats a duration the way [`parse`] reads it, for help texts and logs: `10s`, `1500ms`, `5m`.
pub fn format(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis == 0 {
        "0s".to_owned()
    } else if millis.is_multiple_of(3_600_000) {
        format!("{}h", millis / 3_600_000)
    } else if millis.is_multiple_of(60_000) {
        format!("{}m", millis / 60_000)
    } else if millis.is_multiple_of(1000) {
        format!("{}s", millis / 1000)
    } else {
        format!("{millis}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_unit_and_compounds() {
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse("1h30m10s5ms"), Ok(Duration::from_millis(5_410_005)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert_eq!(parse(" 10s "), Ok(Duration::from_secs(10)));
    }

    #[test]
    fn refuses_ambiguous_or_malformed_input_naming_it() {
        for bad in [
            "",
            "30",
            "s",
            "1.5s",
            "10sec",
            "-1s",
            "1s2",
            "10 s",
            "99999999999999999999s",
        ] {
            let err = parse(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn refuses_what_no_clock_can_hold_and_says_why_for_fractions() {
        assert_eq!(parse("87840h"), Ok(MAX));
        for huge in ["87841h", "2600000000000000h", "18446744073709551615s"] {
            let error = parse(huge).unwrap_err().to_string();
            assert!(error.contains("too large"), "{error}");
        }
        let error = parse("1.5s").unwrap_err().to_string();
        assert!(error.contains("no fractions"), "{error}");
        // The largest accepted duration is a deadline the clock can hold.
        assert!(std::time::Instant::now().checked_add(MAX).is_some());
    }

    #[test]
    fn format_round_trips_through_parse() {
        for text in ["0s", "250ms", "1500ms", "10s", "5m", "2h"] {
            assert_eq!(format(parse(text).unwrap()), text);
        }
    }
}
