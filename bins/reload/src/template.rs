//! Templates rendered from the environment before the actions run: `${VAR}` and `$(VAR)` (the
//! Kubernetes spelling) are replaced by the variable's value, `$$` is a literal `$`. An unset
//! variable is an error, not an empty string: a config silently missing its password is worse
//! than a reload that does not happen.

use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Template {
    pub source: PathBuf,
    pub output: PathBuf,
}

/// Why a template was not rendered; names the flag and the file.
#[derive(Debug)]
pub enum TemplateError {
    Read { source: PathBuf, error: io::Error },
    Render { source: PathBuf, error: SyntaxError },
    Write { output: PathBuf, error: io::Error },
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateError::Read { source, error } => {
                write!(f, "--template {}: {error}", source.display())
            }
            TemplateError::Render { source, error } => {
                write!(f, "--template {}: {error}", source.display())
            }
            TemplateError::Write { output, error } => {
                write!(f, "--template-output {}: {error}", output.display())
            }
        }
    }
}

impl std::error::Error for TemplateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TemplateError::Read { error, .. } | TemplateError::Write { error, .. } => Some(error),
            TemplateError::Render { error, .. } => Some(error),
        }
    }
}

/// What is wrong in a template's text, or missing from the environment. Never quotes a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyntaxError {
    /// `${` or `$(` without its closing brace or parenthesis.
    Unclosed(&'static str),
    NotAName(String),
    Unset(String),
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyntaxError::Unclosed(opening) => {
                write!(f, "unclosed {opening:?} in a variable reference")
            }
            SyntaxError::NotAName(name) => write!(f, "{name:?} is not a variable name"),
            SyntaxError::Unset(name) => write!(f, "${{{name}}} is not set"),
        }
    }
}

impl std::error::Error for SyntaxError {}

impl Template {
    /// Reads the source, renders it and replaces the output atomically (a temporary file in the
    /// same directory, then rename), so the app never reads half a file.
    pub fn render(&self) -> Result<(), TemplateError> {
        let text = std::fs::read_to_string(&self.source).map_err(|error| TemplateError::Read {
            source: self.source.clone(),
            error,
        })?;
        let rendered = substitute(&text, |name| std::env::var(name).ok()).map_err(|error| {
            TemplateError::Render {
                source: self.source.clone(),
                error,
            }
        })?;
        write_atomically(&self.output, rendered.as_bytes()).map_err(|error| TemplateError::Write {
            output: self.output.clone(),
            error,
        })
    }
}

impl Template {
    /// The files a render writes: the output, and the temporary file renamed over it. Inside a
    /// watched directory they are the tool's own doing, not a change.
    pub fn written(&self) -> [PathBuf; 2] {
        [self.output.clone(), temporary_for(&self.output)]
    }
}

/// The file written whole next to `path` before it is renamed over it.
fn temporary_for(path: &Path) -> PathBuf {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map_or_else(|| "output".into(), |n| n.to_string_lossy().into_owned());
    dir.join(format!(".{name}.podkit-reload.tmp"))
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temporary = temporary_for(path);
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)
}

/// Replaces `${NAME}` and `$(NAME)` with `lookup(NAME)`; `$$` is `$`; any other `$` stays.
fn substitute(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, SyntaxError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (opening, close) = match after.chars().next() {
            Some('$') => {
                out.push('$');
                rest = &after[1..];
                continue;
            }
            Some('{') => ("${", '}'),
            Some('(') => ("$(", ')'),
            _ => {
                out.push('$');
                rest = after;
                continue;
            }
        };
        let Some(end) = after.find(close) else {
            return Err(SyntaxError::Unclosed(opening));
        };
        let name = &after[1..end];
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(SyntaxError::NotAName(name.to_owned()));
        }
        let value = lookup(name).ok_or_else(|| SyntaxError::Unset(name.to_owned()))?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "USER" => Some("app".into()),
            "PASSWORD" => Some("s3cret".into()),
            _ => None,
        }
    }

    #[test]
    fn both_spellings_are_replaced_and_dollar_dollar_is_a_dollar() {
        let text = "user=${USER} password=$(PASSWORD) price=$$5 plain=$ x";
        assert_eq!(
            substitute(text, env).unwrap(),
            "user=app password=s3cret price=$5 plain=$ x"
        );
    }

    #[test]
    fn an_unset_variable_is_an_error_naming_it() {
        let error = substitute("a=${MISSING}", env).unwrap_err();
        assert_eq!(error, SyntaxError::Unset("MISSING".to_owned()));
        assert_eq!(error.to_string(), "${MISSING} is not set");
    }

    #[test]
    fn malformed_references_are_errors() {
        assert_eq!(
            substitute("${USER", env).unwrap_err().to_string(),
            "unclosed \"${\" in a variable reference"
        );
        for text in ["$(1X)", "${}"] {
            assert!(
                matches!(substitute(text, env), Err(SyntaxError::NotAName(_))),
                "{text}"
            );
        }
    }

    #[test]
    fn the_output_is_replaced_whole() {
        let dir =
            std::env::temp_dir().join(format!("podkit-reload-template-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let source = dir.join("app.conf.tmpl");
        std::fs::write(&source, "home=${HOME}\n").unwrap();
        let template = Template {
            source,
            output: dir.join("app.conf"),
        };
        template.render().unwrap();
        let rendered = std::fs::read_to_string(dir.join("app.conf")).unwrap();
        assert_eq!(
            rendered,
            format!("home={}\n", std::env::var("HOME").unwrap())
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
