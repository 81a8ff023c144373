//! One line per event on stderr, as text for people or JSON for collectors.
//!
//! Dependency-free on purpose: `podkit-init` logs through it and its whole binary must stay under
//! 500 KB. An event is a fixed message plus `key=value` fields; values go through `Display`, so a
//! secret reaches the log only if a caller passes it as a field.
//!
//! ```
//! use podkit::log::{self, Format, Level};
//! log::init("podkit-example", Level::Info, Format::Text);
//! podkit::info!("child exited", code = 143, signal = "SIGTERM");
//! ```

use std::fmt::{self, Display, Write as _};
use std::io::Write as _;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// How much to say. Ordered so that `level <= configured` means "print it".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error = 0,
    Warn = 1,
    Info = 2,
    Debug = 3,
}

/// How each line is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `2026-11-22T10:00:00.000Z INFO podkit-init: child exited code=143`
    Text,
    /// `{"time":"...","level":"info","tool":"podkit-init","msg":"child exited","code":"143"}`
    Json,
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Warn as u8);
static FORMAT: AtomicU8 = AtomicU8::new(Format::Text as u8);
static TOOL: OnceLock<&'static str> = OnceLock::new();

/// Sets the tool name, level and format for the rest of the process. Call once, early; events
/// logged before it use `warn` and text.
pub fn init(tool: &'static str, level: Level, format: Format) {
    let _ = TOOL.set(tool);
    LEVEL.store(level as u8, Ordering::Relaxed);
    FORMAT.store(format as u8, Ordering::Relaxed);
}

/// Whether an event at `level` would be printed; the macros check it before formatting anything.
pub fn enabled(level: Level) -> bool {
    level as u8 <= LEVEL.load(Ordering::Relaxed)
}

/// Writes one event as one line with one `write` call, so lines from concurrent threads or from a
/// child sharing stderr do not interleave mid-line.
pub fn emit(level: Level, message: &str, fields: &[(&str, &dyn Display)]) {
    let mut line = String::with_capacity(128);
    let tool = TOOL.get().copied().unwrap_or("podkit");
    let json = FORMAT.load(Ordering::Relaxed) == Format::Json as u8;
    let time = Timestamp(SystemTime::now());
    if json {
        let _ = write!(
            line,
            "{{\"time\":\"{time}\",\"level\":\"{}\",\"tool\":",
            level.name()
        );
        push_json_string(&mut line, tool);
        line.push_str(",\"msg\":");
        push_json_string(&mut line, message);
        for (key, value) in fields {
            line.push(',');
            push_json_string(&mut line, key);
            line.push(':');
            push_json_string(&mut line, &value.to_string());
        }
        line.push('}');
    } else {
        let _ = write!(
            line,
            "{time} {} {tool}: {message}",
            level.name().to_ascii_uppercase()
        );
        for (key, value) in fields {
            let value = value.to_string();
            let plain = !value.is_empty()
                && !value.contains(|c: char| c.is_whitespace() || c == '"' || c == '=');
            if plain {
                let _ = write!(line, " {key}={value}");
            } else {
                let _ = write!(line, " {key}={value:?}");
            }
        }
    }
    line.push('\n');
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Logs an event if its level is enabled: `podkit::event!(Level::Info, "msg", key = value, ...)`.
#[macro_export]
macro_rules! event {
    ($level:expr, $message:expr $(, $key:ident = $value:expr)* $(,)?) => {
        if $crate::log::enabled($level) {
            $crate::log::emit($level, $message, &[$((stringify!($key), &$value as &dyn ::core::fmt::Display)),*]);
        }
    };
}

/// `podkit::error!("message", key = value, ...)`
#[macro_export]
macro_rules! error { ($($t:tt)*) => { $crate::event!($crate::log::Level::Error, $($t)*) }; }
/// `podkit::warn!("message", key = value, ...)`
#[macro_export]
macro_rules! warn { ($($t:tt)*) => { $crate::event!($crate::log::Level::Warn, $($t)*) }; }
/// `podkit::info!("message", key = value, ...)`
#[macro_export]
macro_rules! info { ($($t:tt)*) => { $crate::event!($crate::log::Level::Info, $($t)*) }; }
/// `podkit::debug!("message", key = value, ...)`
#[macro_export]
macro_rules! debug { ($($t:tt)*) => { $crate::event!($crate::log::Level::Debug, $($t)*) }; }

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }

    /// One step more verbose, for each `-v`.
    pub fn louder(self) -> Level {
        match self {
            Level::Error => Level::Warn,
            Level::Warn => Level::Info,
            Level::Info | Level::Debug => Level::Debug,
        }
    }
}

impl std::str::FromStr for Level {
    type Err = String;

    fn from_str(text: &str) -> Result<Level, String> {
        match text.to_ascii_lowercase().as_str() {
            "error" => Ok(Level::Error),
            "warn" | "warning" => Ok(Level::Warn),
            "info" => Ok(Level::Info),
            "debug" => Ok(Level::Debug),
            _ => Err(format!(
                "invalid log level {text:?} (use error, warn, info or debug)"
            )),
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(text: &str) -> Result<Format, String> {
        match text.to_ascii_lowercase().as_str() {
            "text" => Ok(Format::Text),
            "json" => Ok(Format::Json),
            _ => Err(format!("invalid log format {text:?} (use text or json)")),
        }
    }
}

/// `text` with the userinfo of every URL-like word masked (`http://***@host/`), for any line that
/// quotes what a user gave: a URL, an address, a rejected flag value. A word is what lies between
/// blanks and quotes; in a word with an `@`, everything from after its scheme (or from its start)
/// to its last `@` is masked. It masks too much rather than too little: a value that did not parse
/// has no trustworthy structure, and a `/`, `?` or `#` in a password would end an authority early.
///
/// ```
/// use podkit::log::redact_userinfo;
/// assert_eq!(redact_userinfo("bad 'http://admin:s3cr/et@host/x'"), "bad 'http://***@host/x'");
/// assert_eq!(redact_userinfo("HTTP:user:pw@h and tcp://u:p@db:5432"), "HTTP:***@h and tcp://***@db:5432");
/// assert_eq!(redact_userinfo("nothing to hide"), "nothing to hide");
/// ```
pub fn redact_userinfo(text: &str) -> String {
    if !text.contains('@') {
        return text.to_owned();
    }
    let is_boundary = |c: char| c.is_whitespace() || "\"'`<>()[],".contains(c);
    let mut out = String::with_capacity(text.len());
    let mut word_start = 0;
    for (at, c) in text.char_indices() {
        if is_boundary(c) {
            out.push_str(&mask_word(&text[word_start..at]));
            out.push(c);
            word_start = at + c.len_utf8();
        }
    }
    out.push_str(&mask_word(&text[word_start..]));
    out
}

/// One word of [`redact_userinfo`].
fn mask_word(word: &str) -> std::borrow::Cow<'_, str> {
    let Some(at) = word.rfind('@') else {
        return word.into();
    };
    // `user:password@host` has the shape of `scheme:rest`: a word before a colon is a scheme
    // only if it is http(s), or `//` follows it.
    let after_scheme = match word.split_once(':') {
        Some((scheme, rest))
            if scheme.eq_ignore_ascii_case("http")
                || scheme.eq_ignore_ascii_case("https")
                || (rest.starts_with("//") && is_scheme(scheme)) =>
        {
            word.len() - rest.trim_start_matches(['/', '\\']).len()
        }
        _ => 0,
    };
    if at < after_scheme {
        return word.into();
    }
    format!("{}***{}", &word[..after_scheme], &word[at..]).into()
}

/// RFC 3986: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
fn is_scheme(word: &str) -> bool {
    word.starts_with(|c: char| c.is_ascii_alphabetic())
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
}

/// Appends `text` as a JSON string, quoted and escaped: the one JSON writer of the tools that
/// print a JSON line (the logs, podkit-probe's `--output json`), which need no JSON library.
pub fn push_json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// RFC 3339 in UTC with milliseconds, computed by hand: a date library would cost init its budget.
struct Timestamp(SystemTime);

impl Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let since_epoch = self.0.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = since_epoch.as_secs();
        let (year, month, day) = civil_from_days((secs / 86_400) as i64);
        let in_day = secs % 86_400;
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
            in_day / 3600,
            in_day / 60 % 60,
            in_day % 60,
            since_epoch.subsec_millis()
        )
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let at = |secs| Timestamp(UNIX_EPOCH + Duration::from_millis(secs)).to_string();
        assert_eq!(at(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(at(1_795_305_600_000), "2026-11-22T00:00:00.000Z");
    }

    #[test]
    fn json_strings_escape_quotes_and_control_characters() {
        let mut out = String::new();
        push_json_string(&mut out, "a \"b\"\n\\\u{1}");
        assert_eq!(out, r#""a \"b\"\n\\\u0001""#);
    }

    #[test]
    fn levels_and_formats_parse_case_insensitively_and_name_bad_input() {
        assert_eq!("INFO".parse::<Level>(), Ok(Level::Info));
        assert_eq!("json".parse::<Format>(), Ok(Format::Json));
        assert!("loud".parse::<Level>().unwrap_err().contains("\"loud\""));
        assert_eq!(Level::Warn.louder(), Level::Info);
    }
}
