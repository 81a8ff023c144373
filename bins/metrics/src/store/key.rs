//! A series' labels as the key of its family's map, found from an update's labels without
//! building a key: an event for a series that exists (nearly every event) allocates nothing to
//! find it.
//!
//! The map's key is [`SeriesKey`] (boxed, compact, kept); a lookup borrows any label list as
//! `dyn LabelList`. Both hash and compare through [`LabelList::pairs`], so they agree, as
//! `Borrow` requires.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};

use super::Labels;

/// Label pairs, sorted by name, none empty: stored or borrowed alike.
pub trait LabelList {
    /// The `i`th pair, `i < count()`.
    fn pair(&self, i: usize) -> (&str, &str);
    fn count(&self) -> usize;
}

impl LabelList for Vec<(String, String)> {
    fn pair(&self, i: usize) -> (&str, &str) {
        (&self[i].0, &self[i].1)
    }

    fn count(&self) -> usize {
        self.len()
    }
}

/// A stored series' labels.
#[derive(Debug, Clone)]
pub struct SeriesKey(pub Labels);

impl SeriesKey {
    /// A key with names of its own, for tests; the store shares its family's names.
    #[cfg(test)]
    pub fn of(labels: &[(String, String)]) -> SeriesKey {
        SeriesKey(
            labels
                .iter()
                .map(|(k, v)| (std::sync::Arc::from(k.as_str()), Box::from(v.as_str())))
                .collect(),
        )
    }
}

impl std::ops::Deref for SeriesKey {
    type Target = Labels;
    fn deref(&self) -> &Labels {
        &self.0
    }
}

impl LabelList for SeriesKey {
    fn pair(&self, i: usize) -> (&str, &str) {
        (&self.0[i].0, &self.0[i].1)
    }

    fn count(&self) -> usize {
        self.0.len()
    }
}

impl Hash for dyn LabelList + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_usize(self.count());
        for i in 0..self.count() {
            let (k, v) = self.pair(i);
            k.hash(state);
            v.hash(state);
        }
    }
}

impl PartialEq for dyn LabelList + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.count() == other.count() && (0..self.count()).all(|i| self.pair(i) == other.pair(i))
    }
}

impl Eq for dyn LabelList + '_ {}

impl Hash for SeriesKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self as &dyn LabelList).hash(state)
    }
}

impl PartialEq for SeriesKey {
    fn eq(&self, other: &SeriesKey) -> bool {
        self.0 == other.0
    }
}

impl Eq for SeriesKey {}

impl<'a> Borrow<dyn LabelList + 'a> for SeriesKey {
    fn borrow(&self) -> &(dyn LabelList + 'a) {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn an_updates_labels_find_the_stored_series() {
        let labels = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let mut map = HashMap::new();
        map.insert(SeriesKey::of(&labels(&[("a", "1"), ("b", "2")])), 1);
        map.insert(SeriesKey::of(&labels(&[])), 2);
        map.insert(SeriesKey::of(&labels(&[("ab", "12")])), 3);
        let find = |pairs: &[(&str, &str)]| {
            let wanted = labels(pairs);
            map.get(&wanted as &dyn LabelList).copied()
        };
        assert_eq!(find(&[("a", "1"), ("b", "2")]), Some(1));
        assert_eq!(find(&[]), Some(2));
        assert_eq!(find(&[("ab", "12")]), Some(3));
        assert_eq!(find(&[("a", "12")]), None, "pairs, not their concatenation");
        assert_eq!(find(&[("a", "1")]), None);
    }
}
