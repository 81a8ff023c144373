//! `$1`, `${1}` and `${name}` in a mapping's `name` and `labels`, expanded from the captures of
//! its match, with Go's `Regexp.Expand` rules, which statsd_exporter uses (and imitates for
//! globs): `$1x` is the capture named `1x`, so it is empty, not `$1` then `x`; a capture that
//! does not exist is empty; `$$` is a `$`.

/// A template, split once at load time so that a lookup only concatenates.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pieces: Vec<Piece>,
}

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    /// A capture by number, 1 being the first.
    Index(usize),
    /// A capture by name (regex only; a glob has none, so it expands to nothing).
    Name(String),
}

impl Template {
    pub fn parse(text: &str) -> Template {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(at) = rest.find('$') {
            literal.push_str(&rest[..at]);
            rest = &rest[at + 1..];
            if let Some(after) = rest.strip_prefix('$') {
                literal.push('$');
                rest = after;
                continue;
            }
            let (name, after) = match rest.strip_prefix('{') {
                Some(braced) => match braced.find('}') {
                    Some(end) if is_name(&braced[..end]) => (&braced[..end], &braced[end + 1..]),
                    _ => ("", rest),
                },
                None => {
                    let end = rest
                        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .unwrap_or(rest.len());
                    (&rest[..end], &rest[end..])
                }
            };
            if name.is_empty() {
                // Not a variable: the `$` is text, as in Go.
                literal.push('$');
                continue;
            }
            if !literal.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut literal)));
            }
            pieces.push(match name.parse::<usize>() {
                Ok(index) => Piece::Index(index),
                Err(_) => Piece::Name(name.to_owned()),
            });
            rest = after;
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        Template { pieces }
    }

    /// The text with `capture(i)` for `$i` (1-based) and `named(name)` for `${name}`.
    pub fn expand<'c>(
        &self,
        capture: impl Fn(usize) -> Option<&'c str>,
        named: impl Fn(&str) -> Option<&'c str>,
    ) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Index(index) => out.push_str(capture(*index).unwrap_or_default()),
                Piece::Name(name) => out.push_str(named(name).unwrap_or_default()),
            }
        }
        out
    }
}

fn is_name(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(template: &str, captures: &[&'static str]) -> String {
        Template::parse(template).expand(
            |i| i.checked_sub(1).and_then(|i| captures.get(i)).copied(),
            |_| None,
        )
    }

    #[test]
    fn captures_expand_with_gos_rules() {
        assert_eq!(expand("$1-$2", &["a", "b"]), "a-b");
        assert_eq!(expand("${1}x_${2}", &["a", "b"]), "ax_b");
        assert_eq!(expand("$1x", &["a"]), "", "$1x is the capture named 1x");
        assert_eq!(expand("$3", &["a"]), "");
        assert_eq!(expand("$0", &["a"]), "");
        assert_eq!(expand("cost $$ $", &[]), "cost $ $");
        assert_eq!(expand("${", &[]), "${");
        assert_eq!(expand("plain", &[]), "plain");
    }
}
