//! The files that flags name (a mapping, log rules, JSON rules, a JSON document), each read and
//! compiled by one function here that the daemon and `check` both call: a file is refused with
//! the same one line, naming the flag and the file (and the rule), whichever of them reads it.

use std::fmt::Display;
use std::io::Read;
use std::path::Path;

use podkit::cli::UsageError;
use serde_json::Value;

use crate::json::fetch::{self, Failure, MAX_BODY};
use crate::json::rules::{Catalog, Rules as JsonRules};
use crate::logs::rules::Rules as LogRules;
use crate::mapping::Mapper;

/// `path`'s text made into a `T` by `parse`; a refusal names `flag` and the file.
fn load<T, E: Display>(
    flag: &'static str,
    path: &Path,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, UsageError> {
    let fail = |e: &dyn Display| UsageError::flag(flag, format!("{}: {e}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| fail(&e))?;
    parse(&text).map_err(|e| fail(&e))
}

/// `--mapping`: statsd_exporter's mapping file.
pub fn mapping(path: &Path) -> Result<Mapper, UsageError> {
    load("--mapping", path, Mapper::from_yaml)
}

/// A `--log-rules` file.
pub fn log_rules(path: &Path) -> Result<LogRules, UsageError> {
    load("--log-rules", path, LogRules::from_yaml)
}

/// A `--json-rules` file, its families added to `catalog`: every file of a run shares one, so
/// that a name keeps one type across files.
pub fn json_rules(catalog: &mut Catalog, path: &Path) -> Result<JsonRules, UsageError> {
    load("--json-rules", path, |text| catalog.load(text))
}

/// A `--json-document` file (`check`), read as a fetch reads a body: up to [`MAX_BODY`], then
/// parsed alike, so that what a fetch would refuse (`too_large`, `malformed`) is the failure
/// shown. A file that cannot be read is refused.
pub fn json_document(path: &Path) -> Result<Result<Value, Failure>, UsageError> {
    let fail =
        |e: std::io::Error| UsageError::flag("--json-document", format!("{}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(fail)?;
    let mut bytes = Vec::new();
    file.take(MAX_BODY as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(fail)?;
    let truncated = bytes.len() > MAX_BODY;
    Ok(fetch::document(&bytes, truncated))
}
