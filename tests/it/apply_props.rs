//! Property: whatever a plan file says, every write apply performs is within what the manifests
//! imply — an existing, declared object gains only values its declaration holds, and only a
//! declared object that may be created is created, with declared values only — and within what
//! the (edited) plan reviewed. Random declarations and live states are planned with the real
//! `diff`, then the plan is edited at random (additions, actions, desired objects, declaration
//! digests, addresses, target settings, extra changes) and the manifests may move after the
//! plan, before the real applier runs against the in-memory fake of `apply_executor`.

use proptest::prelude::*;
use warrant::apply::ApplyOptions;
use warrant::model::{CreateRule, DesiredObject, LiveState, SmallMap, Values, WriteOp};
use warrant::plan::{Action, Change, Plan, declaration_digest};
use warrant::platform::TargetPlatform;
use warrant::secret::KeySink;

use crate::apply_executor::{Fake, TARGET, apply_in, connection, identity, live, make_plan, token};

const UNIVERSE: [&str; 5] = ["v0", "v1", "v2", "v3", "v4"];

/// One declared object: its kind, its declared values and what is live.
#[derive(Debug, Clone)]
struct Declared {
    kind: u8,
    declared: Vec<usize>,
    live: Option<Vec<usize>>,
}

/// One edit an attacker (or a careless merge) makes.
#[derive(Debug, Clone)]
enum Edit {
    /// Add a value (from the universe, or "evil") to a change's additions.
    AddAddition { change: usize, value: usize },
    /// Set a change's action.
    SetAction { change: usize, action: u8 },
    /// Add a value to a change's desired object.
    AddDesired { change: usize, value: usize },
    /// Make the declaration digest match the (edited) desired object.
    ForgeDeclaration { change: usize },
    /// A change for an object nobody declared, adding a value.
    Ghost { value: usize, create: bool },
    /// Point a change at another remote object.
    Retarget { change: usize },
    /// Record other target settings in the plan.
    MoveTarget,
    /// Name one object twice.
    Duplicate { change: usize },
    /// After the plan, a merge drops a declared value (the manifests move).
    Undeclare { object: usize, value: usize },
}

fn declared() -> impl Strategy<Value = Declared> {
    (
        0u8..3,
        prop::collection::vec(0usize..5, 1..4),
        prop::option::of(prop::collection::vec(0usize..5, 0..4)),
    )
        .prop_map(|(kind, declared, live)| Declared {
            kind,
            declared,
            live,
        })
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (0usize..8, 0usize..6).prop_map(|(change, value)| Edit::AddAddition { change, value }),
        (0usize..8, 0u8..4).prop_map(|(change, action)| Edit::SetAction { change, action }),
        (0usize..8, 0usize..6).prop_map(|(change, value)| Edit::AddDesired { change, value }),
        (0usize..8).prop_map(|change| Edit::ForgeDeclaration { change }),
        (0usize..6, any::<bool>()).prop_map(|(value, create)| Edit::Ghost { value, create }),
        (0usize..8).prop_map(|change| Edit::Retarget { change }),
        Just(Edit::MoveTarget),
        (0usize..8).prop_map(|change| Edit::Duplicate { change }),
        (0usize..8, 0usize..5).prop_map(|(object, value)| Edit::Undeclare { object, value }),
    ]
}

fn value(i: usize) -> String {
    UNIVERSE
        .get(i)
        .map_or("evil".to_string(), |v| v.to_string())
}

fn names(indices: &[usize]) -> Vec<&'static str> {
    indices.iter().map(|&i| UNIVERSE[i]).collect()
}

/// The declared object and its single managed field.
fn object(i: usize, d: &Declared) -> (DesiredObject, &'static str) {
    let name = format!("o{i}");
    let declared = names(&d.declared);
    match d.kind {
        0 => (connection(&name, &declared), "adminUsers"),
        1 => (identity(&name, &declared, &[]), "roleIds"),
        _ => {
            let sink = KeySink::File(format!("{name}.key").into());
            (token(&name, &declared, sink), "privileges")
        }
    }
}

fn nth(plan: &mut Plan, i: usize) -> Option<&mut Change> {
    let n = plan.changes.len();
    (n > 0).then(|| &mut plan.changes[i % n])
}

fn edit_plan(plan: &mut Plan, fake: &Fake, edit: &Edit) {
    match edit {
        Edit::AddAddition { change, value: v } => {
            if let Some(c) = nth(plan, *change) {
                let field = c.desired.fields.keys().next().cloned().unwrap_or_default();
                c.additions.entry(field).or_default().insert(value(*v));
            }
        }
        Edit::SetAction { change, action } => {
            if let Some(c) = nth(plan, *change) {
                c.action = [
                    Action::Create,
                    Action::Update,
                    Action::NoOp,
                    Action::Conflict,
                ][*action as usize % 4];
            }
        }
        Edit::AddDesired { change, value: v } => {
            if let Some(c) = nth(plan, *change) {
                let first = c.desired.fields.keys().next().cloned().unwrap_or_default();
                if let Some(field) = c.desired.fields.get_mut(&first) {
                    field.values.insert(value(*v));
                }
            }
        }
        Edit::ForgeDeclaration { change } => {
            if let Some(c) = nth(plan, *change) {
                c.declaration = declaration_digest(&c.desired);
            }
        }
        Edit::Ghost { value: v, create } => {
            let mut ghost = identity("ghost", &["v0"], &[]);
            ghost.address.remote_key = "o0-remote".into();
            let mut change = warrant::plan::diff(&ghost, &LiveState::Absent);
            change.additions = SmallMap::from([("roleIds".to_string(), Values::from([value(*v)]))]);
            change.action = if *create {
                Action::Create
            } else {
                Action::Update
            };
            plan.changes.push(change);
        }
        Edit::Retarget { change } => {
            if let Some(c) = nth(plan, *change) {
                c.address.remote_key = "elsewhere".into();
            }
        }
        Edit::MoveTarget => {
            if let Some(TargetPlatform::Atlan(a)) = plan.targets.get_mut(TARGET) {
                a.base_url = "http://127.0.0.1:9".into();
            }
        }
        Edit::Duplicate { change } => {
            if let Some(c) = nth(plan, *change) {
                let twin = c.clone();
                plan.changes.push(twin);
            }
        }
        Edit::Undeclare { object, value: v } => {
            let mut w = fake.world();
            let n = w.declared.len();
            if let Some(d) = w.declared.values_mut().nth(object % n.max(1)) {
                let first = d.fields.keys().next().cloned().unwrap_or_default();
                if let Some(field) = d.fields.get_mut(&first) {
                    let dropped = value(*v);
                    field.values = field
                        .values
                        .iter()
                        .filter(|x| **x != dropped)
                        .cloned()
                        .collect();
                }
            }
        }
    }
}

/// What the manifests imply for a write, and what the plan reviewed for it: the values the
/// write adds must be within both.
fn check_write(
    op: &WriteOp,
    declared: &std::collections::BTreeMap<String, DesiredObject>,
    plan: &Plan,
) -> Result<(), TestCaseError> {
    let address = op.address();
    let decl = declared
        .get(&address.name)
        .ok_or_else(|| TestCaseError::fail(format!("wrote undeclared {address}")))?;
    prop_assert_eq!(&decl.address, address, "wrote another object than declared");
    let reviewed = plan
        .changes
        .iter()
        .find(|c| c.address == *address)
        .ok_or_else(|| TestCaseError::fail(format!("wrote {address}, which the plan lacks")))?;
    let (added, is_create): (SmallMap<Values>, bool) = match op {
        WriteOp::Create { fields, .. } => (fields.clone(), true),
        WriteOp::Update { additions, .. } => (additions.clone(), false),
    };
    if is_create {
        prop_assert_eq!(&decl.create, &CreateRule::Allowed, "created {}", address);
        prop_assert_eq!(
            reviewed.action,
            Action::Create,
            "unreviewed create {}",
            address
        );
    }
    for (field, values) in &added {
        let implied = decl.fields.get(field).map(|f| &f.values);
        for v in values {
            prop_assert!(
                implied.is_some_and(|i| i.contains(v)),
                "{} gained {} in {}, not declared",
                address,
                v,
                field
            );
            let planned = reviewed.additions.get(field);
            // A create writes every declared value of a field that is not managed by
            // additions (an immutable field with no values adds nothing).
            prop_assert!(
                planned.is_some_and(|p| p.contains(v)),
                "{} gained {} in {}, not reviewed",
                address,
                v,
                field
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn writes_stay_within_the_manifests_whatever_the_plan_says(
        objects in prop::collection::vec(declared(), 1..5),
        edits in prop::collection::vec(edit(), 0..5),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let fake = Fake::new();
        let mut desired = Vec::new();
        for (i, d) in objects.iter().enumerate() {
            let (object, field) = object(i, d);
            if let Some(values) = &d.live {
                let mut fields: Vec<(&str, &[&str])> = Vec::new();
                let live_values = names(values);
                fields.push((field, &live_values));
                if d.kind == 2 {
                    // The token's immutable srcIps as declared, so it can be updated.
                    fields.push(("srcIps", &["10.0.0.0/8"]));
                }
                fake.put(&object.address.remote_key, live(&format!("id{i}"), &fields));
            }
            desired.push(object);
        }
        let mut plan = make_plan(&fake, &desired);
        for e in &edits {
            edit_plan(&mut plan, &fake, e);
        }
        plan.summary = warrant::plan::Summary::of(&plan.changes);

        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let report = runtime.block_on(apply_in(
            &plan,
            &fake,
            dir.path(),
            &ApplyOptions::default(),
            &warrant::apply::Silent,
        ));
        prop_assert!(report.is_ok(), "{:?}", report.err());

        let w = fake.world();
        let mut created = std::collections::BTreeSet::new();
        for op in &w.written {
            check_write(op, &w.declared, &plan)?;
            if let WriteOp::Create { desired, .. } = op {
                prop_assert!(
                    created.insert(desired.address.clone()),
                    "{} created twice",
                    desired.address
                );
            }
        }
        // A created token's key reached only its declared sink.
        for op in &w.written {
            if let WriteOp::Create { desired, .. } = op
                && desired.address.kind == crate::support::acme::ORG_API_TOKEN
            {
                prop_assert_eq!(
                    &desired.key_sink,
                    &w.declared[&desired.address.name].key_sink
                );
            }
        }
    }
}
