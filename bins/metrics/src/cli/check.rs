//! `check`'s flags into what it shows: the files it names read by the daemon's own loaders
//! ([`super::load`]), so that a file is refused with the same line, and an input given without
//! the file it goes through refused rather than ignored.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use podkit::cli::UsageError;

use super::load;
use super::path_or_empty;
use crate::json::fetch::Failure;
use crate::json::rules::{Catalog, Rules as JsonRules};
use crate::logs::rules::Rules as LogRules;
use crate::mapping::Mapper;

/// `check`'s flags: the files as the daemon's flags of the same names take them (and so their
/// variables), and inputs to show through them.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The mapping file to check
    #[arg(long = "mapping", value_name = "FILE", id = "check_mapping", value_parser = path_or_empty())]
    pub mapping: Option<PathBuf>,

    /// A StatsD line to show the series of, through --mapping or, without it, with names
    /// escaped (repeatable)
    #[arg(long = "line", value_name = "LINE", value_delimiter = '\n')]
    pub lines: Vec<String>,

    /// A log rules file to check (repeatable)
    #[arg(
        long = "log-rules",
        value_name = "FILE",
        id = "check_log_rules",
        value_delimiter = '\n'
    )]
    pub log_rules: Vec<PathBuf>,

    /// A log line to show the updates of, under each --log-rules file (repeatable)
    #[arg(long = "log-line", value_name = "LINE", value_delimiter = '\n')]
    pub log_lines: Vec<String>,

    /// A JSON rules file to check (repeatable)
    #[arg(
        long = "json-rules",
        value_name = "FILE",
        id = "check_json_rules",
        value_delimiter = '\n'
    )]
    pub json_rules: Vec<PathBuf>,

    /// A file holding a JSON document to show the series of, under each --json-rules file
    /// (repeatable)
    #[arg(long = "json-document", value_name = "FILE", value_delimiter = '\n')]
    pub json_documents: Vec<PathBuf>,
}

/// What `check` shows: each file loaded, and the inputs to put through them.
#[derive(Debug)]
pub struct Check {
    /// `--mapping`, when given.
    pub mapping: Option<Mapper>,
    /// `--line`: through `mapping`, or, without one, with names escaped as the daemon does.
    pub lines: Vec<String>,
    /// Each `--log-rules` file, by name.
    pub log_rules: Vec<(PathBuf, Arc<LogRules>)>,
    pub log_lines: Vec<String>,
    /// The families of every `--json-rules` file, made as the daemon makes them.
    pub json_catalog: Catalog,
    /// Each `--json-rules` file, by name.
    pub json_rules: Vec<(PathBuf, JsonRules)>,
    /// Each `--json-document` file: its document, or why a fetch of it would have failed.
    pub json_documents: Vec<(PathBuf, Result<serde_json::Value, Failure>)>,
}

/// `check`'s files loaded by the daemon's own loaders, so that a file is refused with the same
/// line, and an input given without the file it goes through is refused rather than ignored.
pub fn config(args: CheckArgs) -> Result<Check, UsageError> {
    let mapping = args.mapping.filter(|p| !p.as_os_str().is_empty());
    if mapping.is_none() && args.log_rules.is_empty() && args.json_rules.is_empty() {
        return Err(UsageError::new(
            "check: give the files to check: --mapping, --log-rules or --json-rules",
        ));
    }
    if !args.log_lines.is_empty() && args.log_rules.is_empty() {
        return Err(UsageError::flag("--log-line", "given without --log-rules"));
    }
    if !args.json_documents.is_empty() && args.json_rules.is_empty() {
        return Err(UsageError::flag(
            "--json-document",
            "given without --json-rules",
        ));
    }
    let mapping = mapping.map(|path| load::mapping(&path)).transpose()?;
    let mut log_rules = Vec::with_capacity(args.log_rules.len());
    for path in args.log_rules {
        let rules = Arc::new(load::log_rules(&path)?);
        log_rules.push((path, rules));
    }
    let mut json_catalog = Catalog::default();
    let mut json_rules = Vec::with_capacity(args.json_rules.len());
    for path in args.json_rules {
        let rules = load::json_rules(&mut json_catalog, &path)?;
        json_rules.push((path, rules));
    }
    json_catalog.finish();
    let mut json_documents = Vec::with_capacity(args.json_documents.len());
    for path in args.json_documents {
        let document = load::json_document(&path)?;
        json_documents.push((path, document));
    }
    Ok(Check {
        mapping,
        lines: args.lines,
        log_rules,
        log_lines: args.log_lines,
        json_catalog,
        json_rules,
        json_documents,
    })
}
