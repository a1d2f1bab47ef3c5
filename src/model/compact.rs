//! Small ordered collections for the object model: [`Values`] (a set of strings) and
//! [`SmallMap`] (a map keyed by strings), both stored as one sorted vector.
//!
//! Every object has a handful of fields with one to a few values each, and a plan of
//! 100,000 objects holds several such collections per object. A `BTreeMap`/`BTreeSet` spends
//! a whole B-tree node (about 300–800 bytes) on even one entry; a sorted vector spends what
//! its entries need. Both types keep the ordering guarantees the rest of warrant relies on
//! (iteration, `Debug`, JSON are sorted, so every output is deterministic), serialize
//! exactly like the `BTreeSet`/`BTreeMap` they replace, and offer the same method names, so
//! code reads as it would with the standard collections.
//!
//! Lookups are binary searches. Inserting is linear in the length, which is fine for the few
//! entries an object's field has; nothing here is meant for large collections.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A set of canonical values, sorted and without duplicates.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Values(Vec<String>);

impl Values {
    pub(crate) const fn new() -> Values {
        Values(Vec::new())
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, String> {
        self.0.iter()
    }

    pub fn contains(&self, value: &str) -> bool {
        self.position(value).is_ok()
    }

    /// Adds `value`; false when it was already there.
    pub fn insert(&mut self, value: String) -> bool {
        match self.position(&value) {
            Ok(_) => false,
            Err(at) => {
                self.0.insert(at, value);
                true
            }
        }
    }

    /// The values of `self` that are not in `other`, in order.
    pub fn difference<'a>(&'a self, other: &'a Values) -> impl Iterator<Item = &'a String> + 'a {
        self.0.iter().filter(move |v| !other.contains(v))
    }

    pub(crate) fn is_subset(&self, other: &Values) -> bool {
        self.0.iter().all(|v| other.contains(v))
    }

    pub fn is_superset(&self, other: &Values) -> bool {
        other.is_subset(self)
    }

    fn position(&self, value: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|v| v.as_str().cmp(value))
    }

    /// Restores the invariant after values were pushed in any order.
    fn normalize(mut values: Vec<String>) -> Values {
        values.sort_unstable();
        values.dedup();
        values.shrink_to_fit();
        Values(values)
    }
}

impl fmt::Debug for Values {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(&self.0).finish()
    }
}

impl FromIterator<String> for Values {
    fn from_iter<I: IntoIterator<Item = String>>(iter: I) -> Values {
        Values::normalize(iter.into_iter().collect())
    }
}

impl<'a> FromIterator<&'a str> for Values {
    fn from_iter<I: IntoIterator<Item = &'a str>>(iter: I) -> Values {
        Values::normalize(iter.into_iter().map(str::to_string).collect())
    }
}

impl<const N: usize> From<[String; N]> for Values {
    fn from(values: [String; N]) -> Values {
        values.into_iter().collect()
    }
}

impl From<BTreeSet<String>> for Values {
    fn from(set: BTreeSet<String>) -> Values {
        // Already sorted and unique.
        Values(set.into_iter().collect())
    }
}

impl Extend<String> for Values {
    fn extend<I: IntoIterator<Item = String>>(&mut self, iter: I) {
        let mut all = std::mem::take(&mut self.0);
        all.extend(iter);
        *self = Values::normalize(all);
    }
}

impl IntoIterator for Values {
    type Item = String;
    type IntoIter = std::vec::IntoIter<String>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Values {
    type Item = &'a String;
    type IntoIter = std::slice::Iter<'a, String>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl Serialize for Values {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Values {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Values, D::Error> {
        Vec::<String>::deserialize(deserializer).map(Values::normalize)
    }
}

impl JsonSchema for Values {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        <BTreeSet<String>>::schema_name()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        <BTreeSet<String>>::json_schema(generator)
    }
}

/// A map from strings (field names, canonical values) to `V`, sorted by key.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SmallMap<V>(Vec<(String, V)>);

impl<V> Default for SmallMap<V> {
    fn default() -> Self {
        SmallMap(Vec::new())
    }
}

impl<V> SmallMap<V> {
    pub const fn new() -> SmallMap<V> {
        SmallMap(Vec::new())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        self.position(key).ok().map(|at| &self.0[at].1)
    }

    pub(crate) fn get_key_value(&self, key: &str) -> Option<(&String, &V)> {
        self.position(key)
            .ok()
            .map(|at| (&self.0[at].0, &self.0[at].1))
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.position(key).ok().map(|at| &mut self.0[at].1)
    }

    /// Sets `key` to `value`, returning the value it replaces.
    pub fn insert(&mut self, key: String, value: V) -> Option<V> {
        match self.position(&key) {
            Ok(at) => Some(std::mem::replace(&mut self.0[at].1, value)),
            Err(at) => {
                self.0.insert(at, (key, value));
                None
            }
        }
    }

    pub(crate) fn remove(&mut self, key: &str) -> Option<V> {
        self.position(key).ok().map(|at| self.0.remove(at).1)
    }

    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }

    /// The slot for `key`, like `BTreeMap::entry`.
    pub fn entry(&mut self, key: String) -> Entry<'_, V> {
        Entry { map: self, key }
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&String, &V)> + ExactSizeIterator {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &String> + ExactSizeIterator {
        self.0.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> + ExactSizeIterator {
        self.0.iter().map(|(_, v)| v)
    }

    fn position(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    /// Sorts by key; for equal keys the last one wins, as with repeated `BTreeMap::insert`.
    fn normalize(mut entries: Vec<(String, V)>) -> SmallMap<V> {
        // A stable sort keeps equal keys in insertion order; keep the last of each run.
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(String, V)> = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            match out.last_mut() {
                Some(last) if last.0 == k => last.1 = v,
                _ => out.push((k, v)),
            }
        }
        SmallMap(out)
    }
}

/// A slot in a [`SmallMap`] that may be empty (see [`SmallMap::entry`]).
pub struct Entry<'a, V> {
    map: &'a mut SmallMap<V>,
    key: String,
}

impl<'a, V> Entry<'a, V> {
    pub(crate) fn or_insert_with(self, make: impl FnOnce() -> V) -> &'a mut V {
        let at = match self.map.position(&self.key) {
            Ok(at) => at,
            Err(at) => {
                self.map.0.insert(at, (self.key, make()));
                at
            }
        };
        &mut self.map.0[at].1
    }

    pub fn or_default(self) -> &'a mut V
    where
        V: Default,
    {
        self.or_insert_with(V::default)
    }
}

/// `map["key"]`, like `BTreeMap`: panics when the key is absent, so only for keys known to exist.
impl<V> std::ops::Index<&str> for SmallMap<V> {
    type Output = V;
    fn index(&self, key: &str) -> &V {
        match self.get(key) {
            Some(v) => v,
            None => panic!("no entry for key {key:?}"),
        }
    }
}

impl<V: fmt::Debug> fmt::Debug for SmallMap<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<V> FromIterator<(String, V)> for SmallMap<V> {
    fn from_iter<I: IntoIterator<Item = (String, V)>>(iter: I) -> SmallMap<V> {
        SmallMap::normalize(iter.into_iter().collect())
    }
}

impl<V, const N: usize> From<[(String, V); N]> for SmallMap<V> {
    fn from(entries: [(String, V); N]) -> SmallMap<V> {
        entries.into_iter().collect()
    }
}

impl<V> From<BTreeMap<String, V>> for SmallMap<V> {
    fn from(map: BTreeMap<String, V>) -> SmallMap<V> {
        // Already sorted and unique.
        SmallMap(map.into_iter().collect())
    }
}

impl<V> Extend<(String, V)> for SmallMap<V> {
    fn extend<I: IntoIterator<Item = (String, V)>>(&mut self, iter: I) {
        let mut all = std::mem::take(&mut self.0);
        all.extend(iter);
        *self = SmallMap::normalize(all);
    }
}

impl<V> IntoIterator for SmallMap<V> {
    type Item = (String, V);
    type IntoIter = std::vec::IntoIter<(String, V)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a, V> IntoIterator for &'a SmallMap<V> {
    type Item = (&'a String, &'a V);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, V)>,
        fn(&'a (String, V)) -> (&'a String, &'a V),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl<V: Serialize> Serialize for SmallMap<V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for SmallMap<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<SmallMap<V>, D::Error> {
        BTreeMap::<String, V>::deserialize(deserializer).map(SmallMap::from)
    }
}

impl<V: JsonSchema> JsonSchema for SmallMap<V> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        <BTreeMap<String, V>>::schema_name()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        <BTreeMap<String, V>>::json_schema(generator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// `Values` behaves exactly like the `BTreeSet` it replaces.
        #[test]
        fn values_match_a_btreeset(
            a in proptest::collection::vec("[a-d]{0,2}", 0..8),
            b in proptest::collection::vec("[a-d]{0,2}", 0..8),
        ) {
            let (va, vb): (Values, Values) = (a.iter().cloned().collect(), b.iter().cloned().collect());
            let (sa, sb): (BTreeSet<String>, BTreeSet<String>) = (a.iter().cloned().collect(), b.iter().cloned().collect());
            prop_assert_eq!(va.iter().collect::<Vec<_>>(), sa.iter().collect::<Vec<_>>());
            prop_assert_eq!(va.difference(&vb).collect::<Vec<_>>(), sa.difference(&sb).collect::<Vec<_>>());
            prop_assert_eq!(va.is_subset(&vb), sa.is_subset(&sb));
            prop_assert_eq!(serde_json::to_string(&va).unwrap(), serde_json::to_string(&sa).unwrap());
            let mut grown = va.clone();
            let mut grown_set = sa.clone();
            for v in &b {
                prop_assert_eq!(grown.insert(v.clone()), grown_set.insert(v.clone()));
            }
            prop_assert_eq!(grown.iter().collect::<Vec<_>>(), grown_set.iter().collect::<Vec<_>>());
            let mut extended = va.clone();
            extended.extend(b.iter().cloned());
            prop_assert_eq!(extended, grown);
        }

        /// `SmallMap` behaves like the `BTreeMap` it replaces, including last-insert-wins.
        #[test]
        fn small_map_matches_a_btreemap(entries in proptest::collection::vec(("[a-d]{0,2}", 0u8..4), 0..10)) {
            let owned = || entries.iter().map(|(k, v)| (k.clone(), *v));
            let map: SmallMap<u8> = owned().collect();
            let tree: BTreeMap<String, u8> = owned().collect();
            prop_assert_eq!(map.iter().collect::<Vec<_>>(), tree.iter().collect::<Vec<_>>());
            let mut inserted = SmallMap::new();
            for (k, v) in owned() {
                inserted.insert(k, v);
            }
            prop_assert_eq!(&inserted, &map);
            prop_assert_eq!(serde_json::to_string(&map).unwrap(), serde_json::to_string(&tree).unwrap());
            for (k, _) in &entries {
                prop_assert_eq!(map.get(k), tree.get(k));
            }
            let back: SmallMap<u8> = serde_json::from_str(&serde_json::to_string(&map).unwrap()).unwrap();
            prop_assert_eq!(back, map);
        }
    }

    #[test]
    fn deserializing_sorts_and_deduplicates_values() {
        let v: Values = serde_json::from_str(r#"["b","a","b"]"#).unwrap();
        assert_eq!(v.iter().collect::<Vec<_>>(), ["a", "b"]);
    }
}
