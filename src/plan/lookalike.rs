//! Names a reviewer could misread: the plan's look-alike warnings.
//!
//! A manifest may declare `аsset-rule-runner` with a Cyrillic `а` next to a live
//! `asset-rule-runner`. Nothing in it is invalid — names in other scripts are legitimate — but a
//! reviewer reading the plan sees one name where there are two, and approves the creation of a
//! second identity. So every name a plan creates or changes is checked, and each finding is a
//! [`NameWarning`] that every rendering shows:
//!
//! - **mixed scripts**: the name uses letters of more than one script (Latin with Cyrillic or
//!   Greek, …), per UTS #39's mixed-script detection (`unicode_security::MixedScript`); Han
//!   with Hiragana/Katakana or Hangul counts as one writing system;
//! - **looks like another name**: its UTS #39 confusable skeleton (`unicode_security::skeleton`)
//!   equals that of a different name, either another declared object's of the same kind or a
//!   live object of the same target that no manifest declares (`0`/`O`, `rn`/`m` and `l`/`1` are
//!   caught too).
//!
//! Checked names: a created or updated object's remote name and `metadata.name`, and the values
//! (with their labels, e.g. a token's display name) it adds. `name_warnings` is pure; the
//! live names come from the platform reads (`gather`).

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use unicode_security::MixedScript;
use unicode_security::mixed_script::AugmentedScriptSet;

use super::{Action, Change};
use crate::model::{Address, Kind};

/// A name in a plan that a reviewer could misread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NameWarning {
    /// The object whose change brings the name.
    pub address: Address,
    /// The name exactly as it is (renderings escape hidden characters).
    pub name: String,
    pub reason: NameReason,
}

/// Why a name is worth a second look.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum NameReason {
    /// Letters of several scripts, e.g. `["Cyrillic", "Latin"]`.
    MixedScripts { scripts: Vec<String> },
    /// Reads like `other` (same confusable skeleton) but is a different name.
    LooksLike {
        other: String,
        /// The declared object named `other`; absent when `other` is a live object of the same
        /// target that no manifest declares.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        declared_by: Option<Address>,
    },
}

/// Every look-alike finding of these changes. `undeclared_live` holds, per target, the names of
/// live objects that no change is about.
pub(crate) fn name_warnings(
    changes: &[Change],
    undeclared_live: &BTreeMap<String, Vec<String>>,
) -> Vec<NameWarning> {
    let changing: Vec<&Change> = changes
        .iter()
        .filter(|c| matches!(c.action, Action::Create | Action::Update))
        .collect();
    if changing.is_empty() {
        return Vec::new();
    }
    let mut warnings = Vec::new();
    for change in &changing {
        for name in names_brought(change) {
            if let Some(scripts) = mixed_scripts(name) {
                warnings.push(NameWarning {
                    address: change.address.clone(),
                    name: name.to_string(),
                    reason: NameReason::MixedScripts { scripts },
                });
            }
        }
    }

    // Every name of each kind, sorted by skeleton hash; a hash match is confirmed on the
    // skeletons themselves. Only hashes are kept, in one sorted vector: at 100,000 objects
    // neither the skeletons nor a map of them would be worth their memory.
    let hashes: Vec<u64> = changes
        .iter()
        .map(|c| skeleton_hash(&c.address.remote_key))
        .collect();
    let mut names: Vec<(Kind, u64, Other)> = changes
        .iter()
        .zip(&hashes)
        .map(|(c, h)| (c.address.kind, *h, Other::Declared(&c.address)))
        .collect();
    for (target, live) in undeclared_live {
        let Some(kind) = changing
            .iter()
            .find(|c| &c.address.target == target)
            .map(|c| c.address.kind)
        else {
            continue;
        };
        names.extend(
            live.iter()
                .map(|name| (kind, skeleton_hash(name), Other::Live { target, name })),
        );
    }
    names.sort_unstable_by_key(|(kind, hash, _)| (*kind, *hash));
    for (change, hash) in changes.iter().zip(&hashes) {
        if !matches!(change.action, Action::Create | Action::Update) {
            continue;
        }
        let name = &change.address.remote_key;
        let key = (change.address.kind, *hash);
        let first = names.partition_point(|(k, h, _)| (*k, *h) < key);
        let others = names[first..]
            .iter()
            .take_while(|(k, h, _)| (*k, *h) == key)
            .map(|(_, _, other)| other);
        let mut seen = BTreeSet::new();
        for other in others {
            let (other_name, declared_by) = match other {
                Other::Declared(a) => (a.remote_key.as_str(), Some(*a)),
                Other::Live { target, name } if *target == &change.address.target => {
                    (name.as_str(), None)
                }
                Other::Live { .. } => continue,
            };
            if other_name == name
                || !seen.insert(other_name)
                || !skeleton(other_name).eq(skeleton(name))
            {
                continue;
            }
            warnings.push(NameWarning {
                address: change.address.clone(),
                name: name.clone(),
                reason: NameReason::LooksLike {
                    other: other_name.to_string(),
                    declared_by: declared_by.cloned(),
                },
            });
        }
    }
    // Grouped by object, in plan order; each object's own findings keep their order.
    warnings.sort_by(|a, b| super::order_key(&a.address).cmp(&super::order_key(&b.address)));
    warnings
}

/// A name a change could be confused with.
enum Other<'a> {
    Declared(&'a Address),
    Live {
        target: &'a String,
        name: &'a String,
    },
}

/// The names a change brings into the live system: its remote name and `metadata.name`, and
/// each added value with its label.
fn names_brought(change: &Change) -> BTreeSet<&str> {
    let mut names = BTreeSet::from([
        change.address.remote_key.as_str(),
        change.address.name.as_str(),
    ]);
    for value in change.additions.values().flat_map(|v| v.iter()) {
        names.insert(value);
        if let Some(label) = change.labels.get(value) {
            names.insert(label);
        }
    }
    names
}

/// The scripts of `name`'s letters, when they are more than one writing system.
pub(crate) fn mixed_scripts(name: &str) -> Option<Vec<String>> {
    if name.is_ascii() || name.is_single_script() {
        return None;
    }
    let scripts: BTreeSet<String> = name
        .chars()
        .map(AugmentedScriptSet::for_char)
        .filter(|set| !set.is_all())
        .flat_map(|set| {
            set.base
                .iter()
                .map(|s| s.full_name().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    Some(scripts.into_iter().collect())
}

/// The UTS #39 skeleton of `name`. For ASCII (nearly every name) it is the concatenation of
/// each character's skeleton, taken from a table made once: the general path normalizes twice
/// and would cost a noticeable part of planning 100,000 objects.
fn skeleton(name: &str) -> Box<dyn Iterator<Item = char> + '_> {
    if name.is_ascii() {
        let table = ascii_skeletons();
        Box::new(name.bytes().flat_map(|b| table[usize::from(b)].chars()))
    } else {
        Box::new(unicode_security::skeleton(name))
    }
}

fn ascii_skeletons() -> &'static [String; 128] {
    static TABLE: std::sync::OnceLock<[String; 128]> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        std::array::from_fn(|b| {
            let c = char::from(u8::try_from(b).unwrap_or(b'?'));
            unicode_security::skeleton(c.encode_utf8(&mut [0; 4])).collect()
        })
    })
}

fn skeleton_hash(name: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for c in skeleton(name) {
        c.hash(&mut h);
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed_scripts_are_named_and_single_scripts_pass() {
        assert_eq!(
            mixed_scripts("\u{0430}sset-rule-runner"),
            Some(vec!["Cyrillic".to_string(), "Latin".to_string()])
        );
        assert_eq!(
            mixed_scripts("ci-\u{03bf}ps"),
            Some(vec!["Greek".to_string(), "Latin".to_string()])
        );
        for single in [
            "asset-rule-runner",
            "сервис-бот",
            "データ連携",
            "Überwachung-2",
            "tag:env/prod",
        ] {
            assert_eq!(mixed_scripts(single), None, "{single}");
        }
    }

    #[test]
    fn the_ascii_table_gives_the_general_skeleton() {
        let all: String = (0u8..128).map(char::from).collect();
        for name in [all.as_str(), "admin-rn", "ci-bot-1", "O0Il|"] {
            assert!(
                skeleton(name).eq(unicode_security::skeleton(name)),
                "{name:?}"
            );
        }
    }

    #[test]
    fn skeletons_match_look_alikes_only() {
        let same = |a: &str, b: &str| skeleton(a).eq(skeleton(b));
        assert!(same("\u{0430}sset-rule-runner", "asset-rule-runner"));
        assert!(same("ci-bot-1", "ci-bot-l"));
        assert!(same("admin-rn", "admin-m"));
        assert!(!same("asset-rule-runner", "asset-rule-runners"));
        assert!(!same("prod", "dev"));
    }
}
