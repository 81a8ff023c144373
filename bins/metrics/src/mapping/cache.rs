//! What each StatsD name became, remembered: a lookup runs every glob and regex and expands the
//! templates, while a StatsD client sends the same few thousand names over and over, so each
//! (name, type) is looked up once (statsd_exporter keeps such a cache too). A hit borrows the
//! result; nothing is allocated for it.
//!
//! The cache is bounded: when it holds [`CAPACITY`] names it is emptied and fills again with
//! the names in use, which costs one lookup each. A lookup depends only on the name, the type
//! and the file, and the file never changes while the process runs, so an entry never goes
//! stale.

use std::collections::HashMap;

use super::escape::escape_name;
use super::{Mapper, Rule};
use crate::statsd::line::Kind;

/// Names remembered at most: far more than a service sends, few enough that a client sending
/// a new name per event (an id in the name) costs a bounded amount of memory.
pub const CAPACITY: usize = 10_000;

/// A name's result for one type.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved {
    /// A rule matched: the index of the rule, the name and labels it gave.
    Mapped {
        rule: usize,
        name: String,
        labels: Vec<(String, String)>,
    },
    /// No rule matched: the StatsD name, escaped.
    Unmapped { name: Box<str> },
}

impl Resolved {
    /// The rule that matched, if one did.
    pub fn rule<'m>(&self, mapper: &'m Mapper) -> Option<&'m Rule> {
        match self {
            Resolved::Mapped { rule, .. } => mapper.rules.get(*rule),
            Resolved::Unmapped { .. } => None,
        }
    }
}

/// Looked-up names: per name, one slot per type the mapper distinguishes (counter, gauge and
/// set, observer).
#[derive(Debug, Default)]
pub struct MappingCache {
    names: HashMap<Box<str>, [Option<Resolved>; 3]>,
}

impl MappingCache {
    /// What `name` of `kind` becomes under `mapper`, looked up at most once.
    pub fn resolve(&mut self, mapper: &Mapper, name: &str, kind: Kind) -> &Resolved {
        let slot = match kind {
            Kind::Counter => 0,
            Kind::Gauge | Kind::Set => 1,
            Kind::Observer => 2,
        };
        // Two steps, not the entry API: a hit must not allocate the key.
        if self
            .names
            .get(name)
            .is_none_or(|slots| slots[slot].is_none())
        {
            if self.names.len() >= CAPACITY && !self.names.contains_key(name) {
                self.names.clear();
            }
            let resolved = resolve(mapper, name, kind);
            self.names.entry(Box::from(name)).or_default()[slot] = Some(resolved);
        }
        self.names
            .get(name)
            .and_then(|slots| slots[slot].as_ref())
            .expect("resolved just above")
    }

    /// How many names are remembered.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.names.len()
    }
}

/// The uncached lookup.
pub fn resolve(mapper: &Mapper, name: &str, kind: Kind) -> Resolved {
    match mapper.lookup(name, kind) {
        Some(found) => Resolved::Mapped {
            rule: mapper
                .rules
                .iter()
                .position(|rule| std::ptr::eq(rule, found.rule))
                .unwrap_or(usize::MAX),
            name: found.name,
            labels: found.labels,
        },
        None => Resolved::Unmapped {
            name: escape_name(name).into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MAPPING: &str = "mappings:\n\
        - match: api.*.hits\n  name: api_hits_total\n  labels:\n    endpoint: \"$1\"\n\
        - match: timing.*\n  match_metric_type: observer\n  name: timed_$1\n";

    #[test]
    fn a_cached_result_is_the_lookups_for_each_type() {
        let mapper = Mapper::from_yaml(MAPPING).unwrap();
        let mut cache = MappingCache::default();
        for name in ["api.users.hits", "timing.db", "other-name.x", "timing.db"] {
            for kind in [Kind::Counter, Kind::Gauge, Kind::Set, Kind::Observer] {
                let expected = resolve(&mapper, name, kind);
                assert_eq!(
                    cache.resolve(&mapper, name, kind),
                    &expected,
                    "{name} {kind:?}"
                );
                assert_eq!(
                    cache.resolve(&mapper, name, kind),
                    &expected,
                    "{name} again"
                );
            }
        }
        assert_eq!(cache.len(), 3);
        let timed = cache.resolve(&mapper, "timing.db", Kind::Observer).clone();
        assert_eq!(
            timed.rule(&mapper).map(|r| r.pattern.as_str()),
            Some("timing.*")
        );
        assert!(matches!(
            cache.resolve(&mapper, "timing.db", Kind::Counter),
            Resolved::Unmapped { name } if &**name == "timing_db"
        ));
    }

    #[test]
    fn a_full_cache_starts_again_and_stays_bounded() {
        let mapper = Mapper::from_yaml(MAPPING).unwrap();
        let mut cache = MappingCache::default();
        for i in 0..CAPACITY + 10 {
            cache.resolve(&mapper, &format!("api.u{i}.hits"), Kind::Counter);
        }
        assert!(cache.len() <= CAPACITY, "{}", cache.len());
        assert_eq!(
            cache.resolve(&mapper, "api.u3.hits", Kind::Counter),
            &resolve(&mapper, "api.u3.hits", Kind::Counter)
        );
    }

    proptest! {
        /// Whatever names come, in whatever order and repetition, the cache answers what the
        /// mapper answers.
        #[test]
        fn the_cache_answers_as_the_mapper_does(
            names in proptest::collection::vec("(api|timing|x)?[.a-z*-]{0,12}(\\.hits)?", 1..40),
            kinds in proptest::collection::vec(0usize..4, 40),
        ) {
            let mapper = Mapper::from_yaml(MAPPING).unwrap();
            let mut cache = MappingCache::default();
            for (name, kind) in names.iter().zip(&kinds) {
                let kind = [Kind::Counter, Kind::Gauge, Kind::Set, Kind::Observer][*kind];
                prop_assert_eq!(cache.resolve(&mapper, name, kind), &resolve(&mapper, name, kind));
            }
        }
    }
}
