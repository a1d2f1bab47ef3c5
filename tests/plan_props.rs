//! Properties of the pure diff over arbitrary desired and live objects: append-only,
//! convergent, drift exact, deterministic, and no rendering reveals a credential.

use std::collections::BTreeMap;

use proptest::prelude::*;
use warrant::model::{
    Address, CreateRule, DesiredField, DesiredObject, FieldPolicy, Kind, LiveObject, LiveState,
    Values,
};
use warrant::plan::{Action, Change, Plan, PlanMeta, diff};
use warrant::platform::Credentials;
use warrant::render::markdown::MarkdownOptions;
use warrant::secret::Secret;
use warrant::session::LiveOptions;

/// Few names and values, so desired and live overlap often.
const FIELDS: [&str; 4] = ["adminUsers", "roleIds", "tags", "srcIps"];
const UNMANAGED: &str = "adminGroups";

fn value_set() -> impl Strategy<Value = Values> {
    prop::collection::btree_set(
        prop::sample::select(vec!["v0", "v1", "v2", "v3", "v4", "v5", "ünï-6", "v7"])
            .prop_map(String::from),
        0..6,
    )
}

fn desired_field() -> impl Strategy<Value = DesiredField> {
    (
        prop_oneof![Just(FieldPolicy::Append), Just(FieldPolicy::Immutable)],
        value_set(),
        prop::option::of(1usize..8),
    )
        .prop_map(|(policy, values, max_items)| DesiredField {
            policy,
            values,
            max_items,
        })
}

fn desired_object(index: usize) -> impl Strategy<Value = DesiredObject> {
    (
        prop::collection::btree_map(
            prop::sample::select(FIELDS.to_vec()).prop_map(String::from),
            desired_field(),
            0..4,
        ),
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.1),
        prop::sample::select(vec!["t-a", "t-b"]),
        prop::sample::select(Kind::ALL.to_vec()),
    )
        .prop_map(
            move |(fields, never, problem, target, kind)| DesiredObject {
                address: Address {
                    kind,
                    name: format!("obj-{index}"),
                    target: target.into(),
                    remote_key: format!("key-{index}"),
                },
                labels: fields
                    .values()
                    .flat_map(|f| f.values.iter())
                    .map(|v| (v.clone(), format!("label of {v}")))
                    .collect(),
                fields,
                create: if never {
                    CreateRule::Never("never created".into())
                } else {
                    CreateRule::Allowed
                },
                problems: if problem {
                    vec!["unresolvable reference".into()]
                } else {
                    vec![]
                },
                key_sink: None,
            },
        )
}

fn live_state() -> impl Strategy<Value = LiveState> {
    let fields = prop::collection::btree_map(
        prop::sample::select(vec![FIELDS[0], FIELDS[1], FIELDS[2], FIELDS[3], UNMANAGED])
            .prop_map(String::from),
        value_set(),
        0..5,
    );
    prop_oneof![
        2 => Just(LiveState::Absent),
        1 => prop::collection::vec("[a-f0-9]{4}", 2..4).prop_map(|ids| LiveState::Ambiguous { ids }),
        6 => (fields, prop::bool::weighted(0.15)).prop_map(|(fields, denied)| LiveState::Present {
            object: LiveObject {
                id: "live-id".into(),
                fields,
                labels: BTreeMap::new(),
                write_denied: denied.then(|| "the caller is not an admin of this connection".to_string()),
                extra: BTreeMap::new(),
            },
        }),
    ]
}

fn pairs() -> impl Strategy<Value = Vec<(DesiredObject, LiveState)>> {
    (1usize..12).prop_flat_map(|n| {
        (0..n)
            .map(|i| (desired_object(i), live_state()))
            .collect::<Vec<_>>()
    })
}

/// The live state after performing a change as the applier would: `live ∪ additions`.
fn applied(change: &Change, live: &LiveState) -> LiveState {
    let mut object = match live {
        LiveState::Present { object } => object.clone(),
        _ => LiveObject {
            id: "created".into(),
            fields: BTreeMap::new(),
            labels: BTreeMap::new(),
            write_denied: None,
            extra: BTreeMap::new(),
        },
    };
    for (field, add) in &change.additions {
        object
            .fields
            .entry(field.clone())
            .or_default()
            .extend(add.iter().cloned());
    }
    LiveState::Present { object }
}

fn plan_of(pairs: &[(DesiredObject, LiveState)]) -> Plan {
    let meta = PlanMeta {
        created_at: "2025-01-01T00:00:00Z".into(),
        desired_digest: "sha256:00".into(),
        ..PlanMeta::default()
    };
    Plan::new(
        meta,
        pairs.iter().map(|(d, l)| diff(d, l)).collect(),
        BTreeMap::new(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn no_change_removes_a_live_value((d, l) in (desired_object(0), live_state())) {
        let change = diff(&d, &l);
        if let LiveState::Present { object } = &l {
            let after = change.after();
            for (field, live_values) in &object.fields {
                let kept = after.get(field).cloned().unwrap_or_default();
                prop_assert!(kept.is_superset(live_values), "{field}: {live_values:?} not in {kept:?}");
            }
        }
        // Only creates and updates carry additions (a create may have none: an object with
        // empty fields); an update always adds something; conflicts and no-ops change nothing.
        match change.action {
            Action::Update => prop_assert!(!change.additions.is_empty()),
            Action::Create => prop_assert!(matches!(l, LiveState::Absent)),
            Action::NoOp | Action::Conflict => prop_assert!(change.additions.is_empty()),
        }
    }

    #[test]
    fn applying_the_changes_then_planning_again_gives_only_no_ops(pairs in pairs()) {
        for (d, l) in &pairs {
            let change = diff(d, l);
            if change.action == Action::Conflict {
                continue;
            }
            let again = diff(d, &applied(&change, l));
            prop_assert_eq!(again.action, Action::NoOp, "{:?} then {:?}", change, again);
            prop_assert!(again.additions.is_empty());
        }
    }

    #[test]
    fn drift_is_exactly_the_undeclared_live_values((d, l) in (desired_object(0), live_state())) {
        let change = diff(&d, &l);
        let mut expected: BTreeMap<String, Values> = BTreeMap::new();
        if let LiveState::Present { object } = &l {
            for (field, live_values) in &object.fields {
                let extra: Values = match d.fields.get(field) {
                    Some(f) if f.policy == FieldPolicy::Append => live_values.difference(&f.values).cloned().collect(),
                    Some(_) => Values::new(),
                    None => live_values.clone(),
                };
                if !extra.is_empty() {
                    expected.insert(field.clone(), extra);
                }
            }
        }
        prop_assert_eq!(&change.drift, &expected);
        prop_assert_eq!(change.has_drift(), !expected.is_empty());
    }

    #[test]
    fn same_inputs_in_any_order_give_byte_identical_json(pairs in pairs(), seed in any::<u64>()) {
        let first = warrant::render::json::plan(&plan_of(&pairs));
        prop_assert_eq!(&first, &warrant::render::json::plan(&plan_of(&pairs)));
        let mut shuffled = pairs.clone();
        // A deterministic shuffle driven by the generated seed.
        let n = shuffled.len();
        for i in (1..n).rev() {
            let j = (seed.wrapping_mul(6364136223846793005).wrapping_add(i as u64) % (i as u64 + 1)) as usize;
            shuffled.swap(i, j);
        }
        prop_assert_eq!(&first, &warrant::render::json::plan(&plan_of(&shuffled)));
    }

    #[test]
    fn renderings_never_show_a_removal(pairs in pairs()) {
        let plan = plan_of(&pairs);
        for line in warrant::render::text::plan(&plan, false).lines() {
            prop_assert!(!line.trim_start().starts_with('-'), "{line}");
        }
    }

    #[test]
    fn no_rendering_reveals_a_credential(
        pairs in pairs(),
        secrets in prop::collection::vec("[A-Za-z0-9]{24,40}", 3),
    ) {
        // The credentials a session would be opened with, planted alongside the plan.
        let mut live = LiveOptions::default();
        live.credentials.insert("t-a".into(), Credentials::Atlan { api_key: Secret::new(secrets[0].clone()) });
        live.credentials.insert("t-b".into(), Credentials::Connect {
            client_id: "client-id".into(),
            client_secret: Secret::new(secrets[1].clone()),
        });
        live.credentials.insert("t-c".into(), Credentials::Mist { api_token: Secret::new(secrets[2].clone()) });
        let plan = plan_of(&pairs);
        let md = MarkdownOptions::default();
        let outputs = [
            warrant::render::text::plan(&plan, true),
            warrant::render::text::plan(&plan, false),
            warrant::render::text::drift(&plan, false),
            warrant::render::markdown::plan(&plan, &md),
            warrant::render::markdown::drift(&plan, &md),
            warrant::render::json::plan(&plan),
            warrant::render::json::drift(&plan),
            format!("{plan:?}"),
            format!("{live:?}"),
        ];
        for out in &outputs {
            for s in &secrets {
                prop_assert!(!out.contains(s.as_str()), "secret revealed");
            }
        }
    }
}
