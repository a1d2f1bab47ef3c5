//! One Mist privilege as warrant handles it: what it grants (role, scope, and the site or
//! sitegroup a `site` or `sitegroup` scope names) and every other attribute Mist keeps on it
//! (`views`, …), so that writing a live privilege back changes nothing about it.
//!
//! Two privileges are the same grant when role, scope and place match, the place id compared
//! without case. The text form `role:scope[:id]` (`read:org`, `write:site:d96e…`) is what the
//! object model, plans and plan files hold; it exists only at that edge ([`Privilege::parse`]
//! and `Display`).

use std::fmt;

use serde_json::{Map, Value, json};

use super::{MistRole, MistScope, PrivilegeSpec};

/// A privilege of an org API token.
#[derive(Debug, Clone)]
pub(super) struct Privilege {
    role: String,
    scope: String,
    /// The site or sitegroup id of a `site` or `sitegroup` scope, as written.
    place: Option<String>,
    /// Every other attribute, as read.
    rest: Map<String, Value>,
}

impl PartialEq for Privilege {
    /// The same grant: role, scope and place, the place without case.
    fn eq(&self, other: &Privilege) -> bool {
        self.role == other.role
            && self.scope == other.scope
            && self.place.as_deref().map(str::to_ascii_lowercase)
                == other.place.as_deref().map(str::to_ascii_lowercase)
    }
}

/// The attribute holding the place a scope names.
fn place_key(scope: &str) -> Option<&'static str> {
    match scope {
        "site" => Some("site_id"),
        "sitegroup" => Some("sitegroup_id"),
        _ => None,
    }
}

impl Privilege {
    /// A privilege object as Mist sends it; `None` without a role or a scope.
    pub(super) fn from_wire(object: &Map<String, Value>) -> Option<Privilege> {
        let text = |k: &str| {
            object
                .get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let role = text("role")?.to_string();
        let scope = text("scope")?.to_string();
        let key = place_key(&scope);
        let place = key.and_then(text).map(str::to_string);
        let rest = object
            .iter()
            .filter(|(k, _)| {
                *k != "role" && *k != "scope" && !(place.is_some() && Some(k.as_str()) == key)
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Some(Privilege {
            role,
            scope,
            place,
            rest,
        })
    }

    /// The privilege object Mist is sent: role, scope, place, then the other attributes.
    pub(super) fn to_wire(&self) -> Map<String, Value> {
        let mut object = Map::new();
        object.insert("role".into(), json!(self.role));
        object.insert("scope".into(), json!(self.scope));
        if let (Some(key), Some(place)) = (place_key(&self.scope), &self.place) {
            object.insert(key.into(), json!(place));
        }
        object.extend(self.rest.iter().map(|(k, v)| (k.clone(), v.clone())));
        object
    }

    /// The privilege a manifest declares.
    pub(super) fn from_spec(spec: &PrivilegeSpec) -> Privilege {
        let word = |v: Value| v.as_str().unwrap_or_default().to_string();
        Privilege {
            role: word(json!(spec.role)),
            scope: word(json!(spec.scope)),
            place: spec.site_id.clone().or_else(|| spec.sitegroup_id.clone()),
            rest: Map::new(),
        }
    }

    /// The manifest form; `None` for a role or scope the manifest format does not know, or a
    /// site/sitegroup scope without its id.
    pub(super) fn to_spec(&self) -> Option<PrivilegeSpec> {
        let role: MistRole = serde_json::from_value(json!(self.role)).ok()?;
        let scope: MistScope = serde_json::from_value(json!(self.scope)).ok()?;
        let (site_id, sitegroup_id) = match scope {
            MistScope::Site => (Some(self.place.clone()?), None),
            MistScope::Sitegroup => (None, Some(self.place.clone()?)),
            MistScope::Org | MistScope::Orgsites => (None, None),
        };
        Some(PrivilegeSpec {
            role,
            scope,
            site_id,
            sitegroup_id,
        })
    }

    /// The privilege of the text form `role:scope[:id]`; `None` when it is not one (an id is
    /// only for a `site` or `sitegroup` scope).
    pub(super) fn parse(text: &str) -> Option<Privilege> {
        let mut parts = text.splitn(3, ':');
        let role = parts.next().filter(|s| !s.is_empty())?;
        let scope = parts.next().filter(|s| !s.is_empty())?;
        let place = parts.next();
        if place.is_some() && place_key(scope).is_none() {
            return None;
        }
        Some(Privilege {
            role: role.to_string(),
            scope: scope.to_string(),
            place: place.map(str::to_string),
            rest: Map::new(),
        })
    }
}

/// The text form, `role:scope[:id]`, the id in lowercase.
impl fmt::Display for Privilege {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.role, self.scope)?;
        match &self.place {
            Some(place) => write!(f, ":{}", place.to_ascii_lowercase()),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn privileges_round_trip_between_text_and_wire_forms() {
        for text in [
            "read:org",
            "write:site:d96e3952",
            "read:sitegroup:581328b6",
            "installer:orgsites",
        ] {
            let privilege = Privilege::parse(text).expect("valid text");
            let back = Privilege::from_wire(&privilege.to_wire()).unwrap();
            assert_eq!(back.to_string(), text);
        }
        assert!(Privilege::parse("read").is_none());
        assert!(Privilege::parse("read:org:extra").is_none());
    }

    #[test]
    fn a_live_privilege_keeps_its_other_attributes_and_is_compared_by_grant() {
        let live = object(
            json!({"role": "write", "scope": "site", "site_id": "S1", "views": ["reporting"]}),
        );
        let privilege = Privilege::from_wire(&live).unwrap();
        assert_eq!(privilege.to_wire(), live);
        assert_eq!(privilege.to_string(), "write:site:s1");
        assert_eq!(privilege, Privilege::parse("write:site:s1").unwrap());
        assert_ne!(privilege, Privilege::parse("write:site:s2").unwrap());
        // An id under a scope that takes none is an attribute like any other.
        let org = object(json!({"role": "read", "scope": "org", "site_id": "x"}));
        let privilege = Privilege::from_wire(&org).unwrap();
        assert_eq!(privilege.to_string(), "read:org");
        assert_eq!(privilege.to_wire(), org);
        assert!(Privilege::from_wire(&object(json!({"role": "admin"}))).is_none());
    }
}
