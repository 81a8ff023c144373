//! statsd_exporter's glob matches: `a.*.c`, where `*` is one whole dot-separated segment (any
//! text without a dot, even none) and is captured as `$1`, `$2`...

/// A glob split into its segments once, at load time.
#[derive(Debug, Clone)]
pub struct Glob {
    segments: Vec<Segment>,
}

#[derive(Debug, Clone)]
enum Segment {
    Any,
    Exact(String),
}

impl Glob {
    pub fn new(pattern: &str) -> Glob {
        Glob {
            segments: pattern
                .split('.')
                .map(|s| match s {
                    "*" => Segment::Any,
                    exact => Segment::Exact(exact.to_owned()),
                })
                .collect(),
        }
    }

    /// Where a `*` stands, segment by segment: statsd_exporter's matcher without ordering
    /// tries an exact segment before a `*`, so of two matching globs the one whose first `*`
    /// comes later wins (`a.*.b` over `a.*.*`, `a.b.c` over both).
    pub fn specificity(&self) -> impl Iterator<Item = bool> + '_ {
        self.segments.iter().map(|s| matches!(s, Segment::Any))
    }

    /// The segments `*` stood for, in order, if `name` matches.
    pub fn captures<'n>(&self, name: &'n str) -> Option<Vec<&'n str>> {
        let mut captures = Vec::new();
        let mut fields = name.split('.');
        for segment in &self.segments {
            let field = fields.next()?;
            match segment {
                Segment::Any => captures.push(field),
                Segment::Exact(exact) if exact == field => {}
                Segment::Exact(_) => return None,
            }
        }
        fields.next().is_none().then_some(captures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_star_is_one_whole_segment() {
        let glob = Glob::new("a.*.c.*");
        assert_eq!(glob.captures("a.b.c.d"), Some(vec!["b", "d"]));
        assert_eq!(glob.captures("a..c."), Some(vec!["", ""]));
        assert_eq!(glob.captures("a.b.c"), None);
        assert_eq!(glob.captures("a.b.c.d.e"), None);
        assert_eq!(glob.captures("a.b.x.d"), None);
    }
}
