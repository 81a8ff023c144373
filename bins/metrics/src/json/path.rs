//! The JSON path subset the rules select with, parsed once when the rules file is read and then
//! only walked. It is the part of JSONPath (and of the kubectl form `{.a.b}` that json_exporter
//! writes) that names places in a document, without filters or recursive descent:
//!
//! | written | selects |
//! |---|---|
//! | `$` | the document (`@`: the item a rule is looking at) |
//! | `.name`, `['na.me']`, `["na me"]` | a member of an object |
//! | `[3]`, `[-1]` | an array item, counted from the end when negative |
//! | `.*`, `[*]` | every member of an object, in document order, or every item of an array |
//!
//! Each selected value comes with its key, the member name or index under which it sits, so
//! that a rule can use it as a label value. Walking a path visits each node of the document at
//! most once per step, so no path, however written, costs more than the document's size.

use std::fmt;

use serde_json::Value;

/// A parsed path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    /// Where the walk starts: the document (`$`) or the item in hand (`@`, or a path written
    /// with no root such as json_exporter's `{.name}`).
    pub root: Root,
    steps: Vec<Step>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    Document,
    Item,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Member(String),
    Index(i64),
    Every,
}

/// A selected value and the key it sits under in its parent (none for the root itself).
#[derive(Debug, Clone, PartialEq)]
pub struct Selected<'a> {
    pub value: &'a Value,
    pub key: Option<Key<'a>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key<'a> {
    Member(&'a str),
    Index(usize),
}

impl fmt::Display for Key<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Member(name) => f.write_str(name),
            Key::Index(at) => write!(f, "{at}"),
        }
    }
}

/// Why a path was refused: the character offset and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathError {
    pub at: usize,
    pub expected: &'static str,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at offset {}: expected {}", self.at, self.expected)
    }
}

impl std::error::Error for PathError {}

impl Path {
    /// Parses `$.a.b[*]`, `@.name`, or the kubectl form `{ .a.b[*] }`.
    pub fn parse(text: &str) -> Result<Path, PathError> {
        let start = text.len() - text.trim_start().len();
        let trimmed = text.trim();
        let (inner, mut offset) = match trimmed.strip_prefix('{') {
            Some(rest) => {
                let inner = rest.strip_suffix('}').ok_or(PathError {
                    at: start + trimmed.len(),
                    expected: "a closing `}`",
                })?;
                (inner, start + 1)
            }
            None => (trimmed, start),
        };
        offset += inner.len() - inner.trim_start().len();
        let inner = inner.trim();
        let mut parser = Parser {
            chars: inner.char_indices().peekable(),
            offset,
            end: offset + inner.len(),
        };
        let root = match parser.chars.peek() {
            Some((_, '$')) => {
                parser.chars.next();
                Root::Document
            }
            Some((_, '@')) => {
                parser.chars.next();
                Root::Item
            }
            _ => Root::Item,
        };
        let mut steps = Vec::new();
        while let Some(step) = parser.step()? {
            steps.push(step);
        }
        Ok(Path { root, steps })
    }

    /// Every value the path selects, starting from `start` (the document or the item, as
    /// [`Path::root`] says: the caller passes the right one).
    pub fn select<'a>(&self, start: &'a Value) -> Vec<Selected<'a>> {
        let mut current = vec![Selected {
            value: start,
            key: None,
        }];
        for step in &self.steps {
            let mut next = Vec::new();
            for node in current {
                step.apply(node.value, &mut next);
            }
            if next.is_empty() {
                return next;
            }
            current = next;
        }
        current
    }

    /// The first value selected, if any.
    pub fn first<'a>(&self, start: &'a Value) -> Option<Selected<'a>> {
        self.select(start).into_iter().next()
    }
}

impl Step {
    fn apply<'a>(&self, value: &'a Value, out: &mut Vec<Selected<'a>>) {
        match (self, value) {
            (Step::Member(name), Value::Object(map)) => {
                if let Some((key, value)) = map.get_key_value(name) {
                    out.push(Selected {
                        value,
                        key: Some(Key::Member(key)),
                    });
                }
            }
            (Step::Index(at), Value::Array(items)) => {
                let len = items.len() as i64;
                let at = if *at < 0 { len + at } else { *at };
                if (0..len).contains(&at) {
                    let at = at as usize;
                    out.push(Selected {
                        value: &items[at],
                        key: Some(Key::Index(at)),
                    });
                }
            }
            (Step::Every, Value::Object(map)) => {
                out.extend(map.iter().map(|(key, value)| Selected {
                    value,
                    key: Some(Key::Member(key)),
                }))
            }
            (Step::Every, Value::Array(items)) => {
                out.extend(items.iter().enumerate().map(|(at, value)| Selected {
                    value,
                    key: Some(Key::Index(at)),
                }))
            }
            _ => {}
        }
    }
}

struct Parser<'t> {
    chars: std::iter::Peekable<std::str::CharIndices<'t>>,
    /// Where the path's text starts and ends in what was written, for errors.
    offset: usize,
    end: usize,
}

impl Parser<'_> {
    fn fail(&mut self, expected: &'static str) -> PathError {
        let at = self
            .chars
            .peek()
            .map_or(self.end, |(at, _)| self.offset + at);
        PathError { at, expected }
    }

    /// The next step, or none at the end.
    fn step(&mut self) -> Result<Option<Step>, PathError> {
        match self.chars.next() {
            None => Ok(None),
            Some((_, '.')) => {
                if self.chars.next_if(|(_, c)| *c == '*').is_some() {
                    return Ok(Some(Step::Every));
                }
                let mut name = String::new();
                while let Some((_, c)) = self.chars.next_if(|(_, c)| !matches!(c, '.' | '[')) {
                    name.push(c);
                }
                if name.is_empty() {
                    return Err(self.fail("a member name or `*` after `.`"));
                }
                Ok(Some(Step::Member(name)))
            }
            Some((_, '[')) => {
                let step = match self.chars.peek().map(|(_, c)| *c) {
                    Some('*') => {
                        self.chars.next();
                        Step::Every
                    }
                    Some(quote @ ('\'' | '"')) => {
                        self.chars.next();
                        Step::Member(self.quoted(quote)?)
                    }
                    Some('-' | '0'..='9') => Step::Index(self.index()?),
                    _ => return Err(self.fail("`*`, an index or a quoted name after `[`")),
                };
                if self.chars.next_if(|(_, c)| *c == ']').is_none() {
                    return Err(self.fail("`]`"));
                }
                Ok(Some(step))
            }
            Some((at, _)) => Err(PathError {
                at: self.offset + at,
                expected: "`.` or `[`",
            }),
        }
    }

    /// A name up to `quote`, with `\` escaping the next character.
    fn quoted(&mut self, quote: char) -> Result<String, PathError> {
        let mut name = String::new();
        loop {
            match self.chars.next() {
                None => return Err(self.fail("a closing quote")),
                Some((_, c)) if c == quote => return Ok(name),
                Some((_, '\\')) => match self.chars.next() {
                    Some((_, c)) => name.push(c),
                    None => return Err(self.fail("a character after `\\`")),
                },
                Some((_, c)) => name.push(c),
            }
        }
    }

    fn index(&mut self) -> Result<i64, PathError> {
        let mut digits = String::new();
        if self.chars.next_if(|(_, c)| *c == '-').is_some() {
            digits.push('-');
        }
        while let Some((_, c)) = self.chars.next_if(|(_, c)| c.is_ascii_digit()) {
            digits.push(c);
        }
        digits
            .parse()
            .map_err(|_| self.fail("an index that fits in 64 bits"))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn values(path: &str, document: &Value) -> Vec<(Value, Option<String>)> {
        Path::parse(path)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .select(document)
            .into_iter()
            .map(|s| (s.value.clone(), s.key.map(|k| k.to_string())))
            .collect()
    }

    #[test]
    fn members_indexes_and_wildcards_select_with_their_keys() {
        let doc = json!({
            "a": {"b": 1, "c.d": 2},
            "items": [{"name": "x", "v": 10}, {"name": "y", "v": 20}],
            "map": {"q1": 3, "q2": 4}
        });
        assert_eq!(values("$.a.b", &doc), [(json!(1), Some("b".into()))]);
        assert_eq!(values("$.a['c.d']", &doc), [(json!(2), Some("c.d".into()))]);
        assert_eq!(
            values("$.items[*].v", &doc),
            [(json!(10), Some("v".into())), (json!(20), Some("v".into()))]
        );
        assert_eq!(
            values("$.map.*", &doc),
            [(json!(3), Some("q1".into())), (json!(4), Some("q2".into()))]
        );
        assert_eq!(
            values("$.items[*]", &doc)
                .into_iter()
                .map(|(_, k)| k.unwrap())
                .collect::<Vec<_>>(),
            ["0", "1"]
        );
        assert_eq!(
            values("$.items[-1].name", &doc),
            [(json!("y"), Some("name".into()))]
        );
        assert_eq!(
            values("{ .items[0].v }", &doc),
            [(json!(10), Some("v".into()))]
        );
        assert_eq!(values("$", &doc), [(doc.clone(), None)]);
        assert!(values("$.items[2]", &doc).is_empty());
        assert!(values("$.a.b.c", &doc).is_empty());
        assert!(values("$.nothing[*]", &doc).is_empty());
    }

    #[test]
    fn roots_say_where_the_walk_starts() {
        assert_eq!(Path::parse("$.a").unwrap().root, Root::Document);
        assert_eq!(Path::parse("@.a").unwrap().root, Root::Item);
        assert_eq!(Path::parse("{.a}").unwrap().root, Root::Item);
        assert_eq!(Path::parse("{$.a}").unwrap().root, Root::Document);
    }

    #[test]
    fn malformed_paths_are_refused_with_a_place() {
        for bad in [
            "$.",
            "$..a",
            "$[",
            "$[x]",
            "$['a'",
            "$[1",
            "{.a",
            "$a",
            "$[99999999999999999999]",
        ] {
            assert!(Path::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Path::parse("$.a[x]").unwrap_err().to_string(),
            "at offset 4: expected `*`, an index or a quoted name after `[`"
        );
    }

    /// Arbitrary JSON, a few levels deep.
    pub(crate) fn document() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<f64>().prop_map(|f| json!(f)),
            any::<i64>().prop_map(|i| json!(i)),
            "[a-c.]{0,3}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map("[a-c.*]{0,2}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn no_path_or_document_panics(path in "[{}$@.\\[\\]*'\"\\\\a-c0-9 -]{0,24}", doc in document()) {
            if let Ok(parsed) = Path::parse(&path) {
                let selected = parsed.select(&doc);
                let _ = parsed.first(&doc);
                // A walk selects no more values than the document has nodes.
                let nodes = serde_json::to_string(&doc).unwrap().len() + 1;
                prop_assert!(selected.len() <= nodes);
            }
        }

        #[test]
        fn arbitrary_text_never_panics_the_parser(path in "\\PC{0,40}") {
            let _ = Path::parse(&path);
        }

        #[test]
        fn every_member_of_an_object_is_reached_by_its_quoted_name(doc in document()) {
            if let Value::Object(map) = &doc {
                for (key, value) in map {
                    let quoted = key.replace('\\', "\\\\").replace('\'', "\\'");
                    let path = Path::parse(&format!("$['{quoted}']")).unwrap();
                    prop_assert_eq!(path.first(&doc).map(|s| s.value), Some(value));
                }
            }
        }
    }
}
