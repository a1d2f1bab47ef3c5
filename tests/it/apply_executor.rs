//! The applier's rules, against an in-memory `LiveTarget` that can simulate foreign writers,
//! lost updates, write failures and state that moved between plan and apply. The fake resolves
//! each declared resource to the desired object the test registered for it: what "the
//! manifests" imply.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use warrant::apply::{
    ApplyOptions, ApplyReport, Declared, Refusal, ReportOutcome, Status, apply_plan,
};
use warrant::commands::Outcome;
use warrant::manifest::{KeySinkSpec, Location};
use warrant::model::{
    Address, CreateRule, DesiredField, DesiredObject, FieldPolicy, Kind, LiveObject, LiveState,
    Reason, Refused, SmallMap, Values, WriteOp, WriteOutcome,
};
use warrant::plan::file::PlanFile;
use warrant::plan::{Action, FORMAT_VERSION, Plan, Summary, diff};
use warrant::platform::{
    AtlanTarget, AutomationIdentitySpec, ConnectionAdminsSpec, ErrorKind, Export, LiveTarget,
    Manifests, Noted, OrgApiTokenSpec, PlatformError, RequestCounts, Resource, ResourceSpec,
    Session, Target, TargetPlatform,
};
use warrant::render::progress::PlainLines;
use warrant::secret::{KeySink, Secret};

use crate::support::acme::{AUTOMATION_IDENTITY, CONNECTION_ADMINS, ORG_API_TOKEN};

pub(crate) const TARGET: &str = "t1";

/// The live state of the fake target, and what happened to it.
#[derive(Default, Debug)]
pub(crate) struct FakeState {
    /// (target, remote key) → live object.
    pub(crate) objects: BTreeMap<(String, String), LiveObject>,
    pub(crate) next_id: u64,
    pub(crate) reads: u64,
    pub(crate) writes: u64,
    /// Objects one write request carries (0 means 1), and the ops of each write call.
    pub(crate) objects_per_write: usize,
    pub(crate) write_calls: Vec<usize>,
    /// Remote keys whose writes are refused.
    pub(crate) refuse_writes: BTreeSet<String>,
    pub(crate) fail_reads: bool,
    /// Remote key → how many of our writes a foreign writer, working from the state our write
    /// was built on, overwrites right after (a lost update).
    pub(crate) lost_updates: BTreeMap<String, u32>,
    pub(crate) foreign_seq: u64,
    /// Answer every write with success without storing anything (a proxy that echoes).
    pub(crate) echo_only: bool,
    /// The key every new token gets.
    pub(crate) key: String,
    /// What each declared resource resolves to, by name: what the manifests imply.
    pub(crate) declared: BTreeMap<String, DesiredObject>,
    /// Every write op received, in order.
    pub(crate) written: Vec<WriteOp>,
    /// Calls of `resolve`.
    pub(crate) resolves: u64,
}

/// The fake target; clones share its state (the session holds one, the test another).
#[derive(Clone, Debug)]
pub(crate) struct Fake(Arc<Mutex<FakeState>>);

impl Fake {
    pub(crate) fn new() -> Fake {
        Fake(Arc::new(Mutex::new(FakeState {
            key: format!("PLANTED-KEY-{}", uuid::Uuid::new_v4().simple()),
            ..FakeState::default()
        })))
    }

    pub(crate) fn world(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.0.lock().unwrap()
    }

    /// A session whose one target, t1, is this fake.
    pub(crate) fn session(&self) -> Session {
        Session::of(BTreeMap::from([(
            TARGET.to_string(),
            Box::new(self.clone()) as Box<dyn LiveTarget>,
        )]))
    }

    pub(crate) fn put(&self, remote_key: &str, object: LiveObject) {
        self.world()
            .objects
            .insert((TARGET.into(), remote_key.into()), object);
    }

    pub(crate) fn get(&self, remote_key: &str) -> Option<LiveObject> {
        self.world()
            .objects
            .get(&(TARGET.to_string(), remote_key.to_string()))
            .cloned()
    }

    pub(crate) fn state(&self, d: &DesiredObject) -> LiveState {
        match self.get(&d.address.remote_key) {
            Some(object) => LiveState::Present { object },
            None => LiveState::Absent,
        }
    }

    fn requests(&self) -> u64 {
        let w = self.world();
        w.reads + w.writes
    }

    fn key(&self) -> String {
        self.world().key.clone()
    }
}

impl LiveTarget for Fake {
    fn resolve<'a>(
        &'a self,
        resources: &'a [&'a Resource],
    ) -> BoxFuture<'a, Result<Vec<DesiredObject>, PlatformError>> {
        let mut w = self.world();
        w.resolves += 1;
        let result = resources
            .iter()
            .map(|r| {
                w.declared.get(&r.name).cloned().ok_or_else(|| {
                    PlatformError::new(TARGET, ErrorKind::Other, format!("{} unknown", r.name))
                })
            })
            .collect();
        Box::pin(async move { result })
    }

    fn read_noting<'a>(
        &'a self,
        objects: &'a [DesiredObject],
        _note_others: bool,
    ) -> BoxFuture<'a, Result<Noted, PlatformError>> {
        let mut w = self.world();
        w.reads += 1;
        let result = if w.fail_reads {
            Err(PlatformError::new(TARGET, ErrorKind::Unavailable, "read refused").with_status(503))
        } else {
            Ok(objects
                .iter()
                .map(|d| {
                    match w
                        .objects
                        .get(&(TARGET.to_string(), d.address.remote_key.clone()))
                    {
                        Some(o) => LiveState::Present { object: o.clone() },
                        None => LiveState::Absent,
                    }
                })
                .collect())
        };
        Box::pin(async move { result.map(|states| (states, Vec::new())) })
    }

    fn write(&self, ops: Vec<WriteOp>) -> BoxFuture<'_, Vec<Result<WriteOutcome, PlatformError>>> {
        let mut w = self.world();
        w.write_calls.push(ops.len());
        let results: Vec<_> = ops
            .into_iter()
            .map(|op| write_one(&mut w, TARGET, op))
            .collect();
        Box::pin(async move { results })
    }

    fn export(&self) -> BoxFuture<'_, Result<Export, PlatformError>> {
        Box::pin(async { Ok(Export::default()) })
    }

    fn request_counts(&self) -> RequestCounts {
        let w = self.world();
        RequestCounts {
            total: w.reads + w.writes,
            by_endpoint: BTreeMap::from([("read".into(), w.reads), ("write".into(), w.writes)]),
        }
    }

    fn objects_per_write(&self) -> usize {
        self.world().objects_per_write.max(1)
    }
}

fn write_one(w: &mut FakeState, target: &str, op: WriteOp) -> Result<WriteOutcome, PlatformError> {
    w.writes += 1;
    w.written.push(op.clone());
    let key = (target.to_string(), op.address().remote_key.clone());
    if w.refuse_writes.contains(&key.1) {
        return Err(PlatformError::new(
            target,
            ErrorKind::Forbidden,
            "the caller is not an admin of this object",
        )
        .with_status(403));
    }
    if w.echo_only {
        let secret =
            matches!(&op, WriteOp::Create { desired, .. } if desired.address.kind == ORG_API_TOKEN)
                .then(|| Secret::new(w.key.clone()));
        return Ok(WriteOutcome {
            created_id: matches!(op, WriteOp::Create { .. }).then(|| "echoed-id".to_string()),
            secret,
            runs: Vec::new(),
        });
    }
    match op {
        WriteOp::Create { desired, fields } => {
            if w.objects.contains_key(&key) {
                return Err(PlatformError::new(target, ErrorKind::Rejected, "exists"));
            }
            w.next_id += 1;
            let object = LiveObject {
                id: format!("new-{}", w.next_id),
                fields,
                labels: SmallMap::new(),
                write_denied: None,
                extra: SmallMap::new(),
                made_outside_by: None,
            };
            w.objects.insert(key, object.clone());
            let secret =
                (desired.address.kind == ORG_API_TOKEN).then(|| Secret::new(w.key.clone()));
            Ok(WriteOutcome {
                created_id: Some(object.id),
                secret,
                runs: Vec::new(),
            })
        }
        WriteOp::Update {
            live, additions, ..
        } => {
            let Some(object) = w.objects.get_mut(&key) else {
                return Err(PlatformError::new(target, ErrorKind::NotFound, "gone"));
            };
            // What the applier read ∪ the additions, as a platform that writes whole lists
            // from the applier's read would send.
            let fields: SmallMap<Values> = additions
                .iter()
                .map(|(field, add)| {
                    let mut all = live.fields.get(field).cloned().unwrap_or_default();
                    all.extend(add.iter().cloned());
                    (field.clone(), all)
                })
                .collect();
            for (field, values) in &fields {
                object.fields.insert(field.clone(), values.clone());
            }
            let lost = w.lost_updates.get(&key.1).copied().unwrap_or(0);
            if lost > 0 {
                w.lost_updates.insert(key.1.clone(), lost - 1);
                w.foreign_seq += 1;
                let foreign = format!("foreign-{}", w.foreign_seq);
                let object = w.objects.get_mut(&key).expect("present");
                for field in fields.keys() {
                    let mut stale = live.fields.get(field).cloned().unwrap_or_default();
                    stale.insert(foreign.clone());
                    object.fields.insert(field.clone(), stale);
                }
            }
            Ok(WriteOutcome {
                created_id: None,
                secret: None,
                runs: Vec::new(),
            })
        }
    }
}

pub(crate) fn values(vs: &[&str]) -> Values {
    vs.iter().map(|s| s.to_string()).collect()
}

pub(crate) fn address(kind: Kind, name: &str) -> Address {
    Address {
        kind,
        name: name.into(),
        target: TARGET.into(),
        remote_key: format!("{name}-remote"),
    }
}

pub(crate) fn append(vs: &[&str], max_items: Option<usize>) -> DesiredField {
    DesiredField {
        policy: FieldPolicy::Append,
        values: values(vs),
        max_items,
    }
}

pub(crate) fn connection(name: &str, users: &[&str]) -> DesiredObject {
    DesiredObject {
        address: address(CONNECTION_ADMINS, name),
        fields: SmallMap::from([("adminUsers".into(), append(users, None))]),
        create: CreateRule::Never(Reason::NeverCreated {
            what: "connection",
            key: format!("{name}-remote"),
        }),
        labels: SmallMap::new(),
        problems: Vec::new(),
        key_sink: None,
        route: None,
        adopt: Default::default(),
    }
}

pub(crate) fn identity(name: &str, roles: &[&str], tags: &[&str]) -> DesiredObject {
    DesiredObject {
        address: address(AUTOMATION_IDENTITY, name),
        fields: SmallMap::from([
            ("roleIds".into(), append(roles, None)),
            ("tags".into(), append(tags, None)),
        ]),
        create: CreateRule::Allowed,
        labels: SmallMap::new(),
        problems: Vec::new(),
        key_sink: None,
        route: None,
        adopt: Default::default(),
    }
}

pub(crate) fn token(name: &str, privileges: &[&str], sink: KeySink) -> DesiredObject {
    DesiredObject {
        address: address(ORG_API_TOKEN, name),
        fields: SmallMap::from([
            ("privileges".into(), append(privileges, Some(10))),
            (
                "srcIps".into(),
                DesiredField {
                    policy: FieldPolicy::Immutable,
                    values: values(&["10.0.0.0/8"]),
                    max_items: None,
                },
            ),
        ]),
        create: CreateRule::Allowed,
        labels: SmallMap::new(),
        problems: Vec::new(),
        key_sink: Some(sink),
        route: None,
        adopt: Default::default(),
    }
}

pub(crate) fn live(id: &str, fields: &[(&str, &[&str])]) -> LiveObject {
    LiveObject {
        id: id.into(),
        fields: fields
            .iter()
            .map(|(f, vs)| (f.to_string(), values(vs)))
            .collect(),
        labels: SmallMap::new(),
        write_denied: None,
        extra: SmallMap::new(),
        made_outside_by: None,
    }
}

fn target_settings() -> TargetPlatform {
    TargetPlatform::Atlan(AtlanTarget {
        read: None,
        base_url: "https://t1.example.com".into(),
        api_key_env: "T1_KEY".into(),
        requests_per_minute: 1800,
        grant_via: Default::default(),
        workspace_admins_may_change_connections: false,
    })
}

/// Declares `desired` (the fake resolves each to itself) and plans it against the fake's
/// live state.
pub(crate) fn make_plan(fake: &Fake, desired: &[DesiredObject]) -> Plan {
    for d in desired {
        fake.world()
            .declared
            .insert(d.address.name.clone(), d.clone());
    }
    let changes: Vec<_> = desired.iter().map(|d| diff(d, &fake.state(d))).collect();
    let plan = Plan {
        plan_id: String::new(),
        format_version: FORMAT_VERSION,
        warrant_version: env!("CARGO_PKG_VERSION").into(),
        created_at: "2025-01-01T00:00:00Z".into(),
        git_commit: None,
        desired_digest: "sha256:test".into(),
        manifests: Vec::new(),
        targets: BTreeMap::from([(TARGET.to_string(), target_settings())]),
        only: Vec::new(),
        warnings: Vec::new(),
        summary: Summary::of(&changes),
        changes,
    };
    PlanFile::new(plan, BTreeMap::new()).plan
}

/// Manifests declaring target t1 and a resource for every object the fake knows, with key
/// files under `root`.
pub(crate) fn manifests(fake: &Fake, root: &std::path::Path) -> Manifests {
    let location = Location {
        file: "test.yaml".into(),
        line: 1,
        column: 1,
    };
    let resources = fake
        .world()
        .declared
        .values()
        .map(|d| {
            let a = &d.address;
            let spec = match a.kind {
                CONNECTION_ADMINS => ResourceSpec::ConnectionAdmins(ConnectionAdminsSpec {
                    target: a.target.clone(),
                    connection: a.remote_key.clone(),
                    api_tokens: Vec::new(),
                    via: None,
                }),
                AUTOMATION_IDENTITY => ResourceSpec::AutomationIdentity(AutomationIdentitySpec {
                    target: a.target.clone(),
                    name: Some(a.remote_key.clone()),
                    roles: Vec::new(),
                    tags: Vec::new(),
                }),
                _ => ResourceSpec::OrgApiToken(OrgApiTokenSpec {
                    target: a.target.clone(),
                    name: Some(a.remote_key.clone()),
                    privileges: Vec::new(),
                    src_ips: Vec::new(),
                    key_sink: KeySinkSpec::default(),

                    adopt: Default::default(),
                }),
            };
            Resource {
                name: a.name.clone(),
                spec,
                location: location.clone(),
            }
        })
        .collect();
    Manifests {
        targets: vec![Target {
            name: TARGET.into(),
            platform: target_settings(),
            location,
        }],
        resources,
        root: root.to_path_buf(),
        paths: Vec::new(),
    }
}

/// Applies with the manifests the fake declares, key files under `root`.
pub(crate) async fn apply_in(
    plan: &Plan,
    fake: &Fake,
    root: &std::path::Path,
    options: &ApplyOptions,
    progress: &dyn warrant::apply::Progress,
) -> Result<ApplyReport, Refusal> {
    let manifests = manifests(fake, root);
    let declared = Declared::new(&manifests, &BTreeMap::new());
    apply_plan(plan, &declared, &fake.session(), options, progress).await
}

/// Applies and returns the report and the progress lines.
async fn run(
    plan: &Plan,
    fake: &Fake,
    root: &std::path::Path,
    options: &ApplyOptions,
) -> (ApplyReport, String) {
    let lines = PlainLines::new(Vec::new());
    let report = apply_in(plan, fake, root, options, &lines)
        .await
        .expect("not refused");
    (report, String::from_utf8(lines.into_inner()).unwrap())
}

fn status_of(report: &ApplyReport, name: &str) -> Status {
    report
        .objects
        .iter()
        .find(|o| o.address.name == name)
        .map(|o| o.status)
        .unwrap_or_else(|| panic!("{name} not in report"))
}

fn object_report<'a>(report: &'a ApplyReport, name: &str) -> &'a warrant::apply::ObjectReport {
    report
        .objects
        .iter()
        .find(|o| o.address.name == name)
        .unwrap()
}

#[tokio::test]
async fn apply_then_rediff_is_a_no_op_for_all_three_kinds() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    fake.put(
        "conn-remote",
        live("c1", &[("adminUsers", &["u1"]), ("adminGroups", &["g1"])]),
    );
    fake.put(
        "old-id-remote",
        live("i1", &[("roleIds", &["r1"]), ("tags", &["keep"])]),
    );
    let desired = vec![
        connection("conn", &["u1", "u2", "u3"]),
        identity("new-id", &["r1", "r2"], &["t1"]),
        identity("old-id", &["r1", "r3"], &["t2"]),
        token("tok", &["admin:org"], KeySink::File("tok.key".into())),
    ];
    let plan = make_plan(&fake, &desired);
    assert_eq!(plan.summary.create, 2);
    assert_eq!(plan.summary.update, 2);

    let (report, lines) = run(&plan, &fake, dir.path(), &ApplyOptions::default()).await;

    assert_eq!(report.outcome, ReportOutcome::Success, "{report:#?}");
    assert_eq!(Outcome::from(report.outcome), Outcome::Success);
    for d in &desired {
        assert_eq!(status_of(&report, &d.address.name), Status::Applied);
        let again = diff(d, &fake.state(d));
        assert_eq!(again.action, Action::NoOp, "{}: {again:#?}", d.address);
    }
    // Nothing pre-existing lost, managed or not.
    let conn = fake.get("conn-remote").unwrap();
    assert_eq!(conn.fields["adminUsers"], values(&["u1", "u2", "u3"]));
    assert_eq!(conn.fields["adminGroups"], values(&["g1"]));
    assert!(fake.get("old-id-remote").unwrap().fields["tags"].contains("keep"));
    assert_eq!(
        object_report(&report, "conn").added["adminUsers"],
        values(&["u2", "u3"])
    );
    assert!(
        lines.contains("applied  ConnectionAdmins/conn (t1: conn-remote): +2 adminUsers"),
        "{lines}"
    );
    assert_eq!(lines.lines().count(), 4, "{lines}");

    // The key went to its sink, mode 0600, and nowhere else.
    let key = fake.key();
    let key_file = dir.path().join("tok.key");
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), key);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let json = serde_json::to_string_pretty(&report).unwrap();
    assert!(json.contains("new-"), "the report names the created ids");
    assert!(!json.contains(&key));
    assert!(!warrant::render::report::summary_line(&report).contains(&key));
    assert!(!lines.contains(&key));
    assert!(!format!("{report:?}").contains(&key));
}

#[tokio::test]
async fn a_compatible_change_since_the_plan_is_rebased() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    fake.put("a-remote", live("c1", &[("adminUsers", &["u1"])]));
    fake.put("b-remote", live("c2", &[("adminUsers", &["u1"])]));
    let desired = vec![
        connection("a", &["u1", "u2", "u3"]),
        connection("b", &["u1", "u2"]),
    ];
    let plan = make_plan(&fake, &desired);
    // Someone else adds part of a's additions (and a foreign admin), and all of b's.
    fake.put(
        "a-remote",
        live("c1", &[("adminUsers", &["u1", "u2", "x"])]),
    );
    fake.put("b-remote", live("c2", &[("adminUsers", &["u1", "u2"])]));

    let (report, lines) = run(&plan, &fake, dir.path(), &ApplyOptions::default()).await;

    assert_eq!(report.outcome, ReportOutcome::Success);
    assert_eq!(status_of(&report, "a"), Status::Rebased);
    assert_eq!(
        object_report(&report, "a").added["adminUsers"],
        values(&["u3"])
    );
    assert_eq!(status_of(&report, "b"), Status::AlreadySatisfied);
    assert_eq!(
        fake.get("a-remote").unwrap().fields["adminUsers"],
        values(&["u1", "u2", "u3", "x"])
    );
    assert!(lines.contains("rebased  ConnectionAdmins/a"), "{lines}");
    assert!(
        lines.contains("already-satisfied  ConnectionAdmins/b"),
        "{lines}"
    );
}

#[tokio::test]
async fn an_incompatible_change_is_refused_as_stale_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    fake.put("a-remote", live("c1", &[("adminUsers", &["u1"])]));
    fake.put("b-remote", live("c2", &[("adminUsers", &["u1"])]));
    fake.put("gone-remote", live("i9", &[("roleIds", &["r1"])]));
    let desired = vec![
        connection("a", &["u1", "u2"]),
        connection("b", &["u1", "u2"]),
        identity("gone", &["r1", "r2"], &[]),
    ];
    let plan = make_plan(&fake, &desired);
    // u1 was removed from a: applying now would re-add u1, which nobody reviewed.
    fake.put("a-remote", live("c1", &[("adminUsers", &["z"])]));
    // The identity was deleted: the plan reviewed an update, not a create.
    fake.world()
        .objects
        .remove(&(TARGET.to_string(), "gone-remote".to_string()));

    let (report, _) = run(&plan, &fake, dir.path(), &ApplyOptions::default()).await;

    assert_eq!(report.outcome, ReportOutcome::Stale);
    assert_eq!(Outcome::from(report.outcome), Outcome::Stale);
    assert_eq!(Outcome::from(report.outcome).code(), 3);
    assert_eq!(status_of(&report, "a"), Status::Stale);
    assert!(
        object_report(&report, "a").reasons[0]
            .to_string()
            .contains("u1")
    );
    assert_eq!(
        fake.get("a-remote").unwrap().fields["adminUsers"],
        values(&["z"])
    );
    assert_eq!(status_of(&report, "b"), Status::Applied);
    assert_eq!(status_of(&report, "gone"), Status::Stale);
    assert!(fake.get("gone-remote").is_none(), "never re-created");
}

#[tokio::test]
async fn lost_updates_are_redone_and_nothing_foreign_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    fake.put("a-remote", live("c1", &[("adminUsers", &["u1"])]));
    let desired = vec![connection("a", &["u1", "u2"])];
    let plan = make_plan(&fake, &desired);
    fake.world().lost_updates.insert("a-remote".into(), 2);

    let (report, lines) = run(&plan, &fake, dir.path(), &ApplyOptions::default()).await;

    assert_eq!(report.outcome, ReportOutcome::Success, "{report:#?}");
    let a = object_report(&report, "a");
    assert_eq!(a.status, Status::Applied);
    assert_eq!(a.retries, 2);
    assert!(lines.contains("(retried 2 times)"), "{lines}");
    assert_eq!(
        fake.get("a-remote").unwrap().fields["adminUsers"],
        values(&["foreign-1", "foreign-2", "u1", "u2"])
    );
    assert_eq!(
        diff(&desired[0], &fake.state(&desired[0])).action,
        Action::NoOp
    );
}

#[tokio::test]
async fn a_writer_that_keeps_dropping_additions_fails_after_three_retries() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    fake.put("a-remote", live("c1", &[("adminUsers", &["u1"])]));
    let plan = make_plan(&fake, &[connection("a", &["u1", "u2"])]);
    fake.world().lost_updates.insert("a-remote".into(), 100);

    let (report, _) = run(&plan, &fake, dir.path(), &ApplyOptions::default()).await;

    let a = object_report(&report, "a");
    assert_eq!(a.status, Status::Failed);
    assert_eq!(a.retries, warrant::apply::MAX_REDO);
    assert!(a.error.as_deref().unwrap().contains("u2"), "{a:?}");
    assert_eq!(fake.world().writes, u64::from(warrant::apply::MAX_REDO) + 1);
    assert_eq!(Outcome::from(report.outcome), Outcome::Failure);
}

#[tokio::test]
async fn one_refused_write_fails_that_object_only() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    for name in ["a", "b", "c"] {
        fake.put(
            &format!("{name}-remote"),
            live(name, &[("adminUsers", &["u1"])]),
        );
    }
    let desired: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|n| connection(n, &["u1", "u2"]))
        .collect();
    let plan = make_plan(&fake, &desired);
    fake.world().refuse_writes.insert("b-remote".into());

    let (report, lines) = run(&plan, &fake, dir.path(), &ApplyOptions::default()).await;

    assert_eq!(Outcome::from(report.outcome), Outcome::Failure);
    assert_eq!(status_of(&report, "a"), Status::Applied);
    assert_eq!(status_of(&report, "c"), Status::Applied);
    let b = object_report(&report, "b");
    assert_eq!(b.status, Status::Failed);
    assert!(b.error.as_deref().unwrap().contains("not an admin"));
    assert!(lines.contains("failed  ConnectionAdmins/b"), "{lines}");
    assert_eq!(
        fake.get("b-remote").unwrap().fields["adminUsers"],
        values(&["u1"])
    );
    // One read for the batch and one verifying read of what was written.
    assert_eq!(fake.world().reads, 2);
}

#[tokio::test]
async fn a_write_answered_with_an_echo_is_never_taken_as_applied() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    fake.put("a-remote", live("c1", &[("adminUsers", &["u1"])]));
    let mut desired = vec![connection("a", &["u1", "u2"])];
    desired.push(token("t", &["read:org"], KeySink::File("t.key".into())));
    let plan = make_plan(&fake, &desired);
    fake.world().echo_only = true;

    let (report, _) = run(&plan, &fake, dir.path(), &ApplyOptions::default()).await;

    assert_eq!(Outcome::from(report.outcome), Outcome::Failure);
    let a = object_report(&report, "a");
    assert_eq!(a.status, Status::Failed, "{a:?}");
    assert!(a.error.as_deref().unwrap().contains("missing"), "{a:?}");
    let t = object_report(&report, "t");
    assert_eq!(t.status, Status::Failed, "{t:?}");
    assert!(
        t.error
            .as_deref()
            .unwrap()
            .contains("reading it back does not show it"),
        "{t:?}"
    );
    // Nothing was stored, and the token was not created a second time.
    assert_eq!(
        fake.get("a-remote").unwrap().fields["adminUsers"],
        values(&["u1"])
    );
    assert!(fake.get("t-remote").is_none());
    // The update is redone MAX_REDO times (each echoed, none stored); the create is sent once.
    assert_eq!(fake.world().writes, 1 + warrant::apply::MAX_REDO as u64 + 1);
}

#[tokio::test]
async fn a_failed_read_fails_the_batch_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    fake.put("a-remote", live("c1", &[("adminUsers", &["u1"])]));
    let plan = make_plan(&fake, &[connection("a", &["u1", "u2"])]);
    fake.world().fail_reads = true;

    let (report, _) = run(&plan, &fake, dir.path(), &ApplyOptions::default()).await;

    assert_eq!(status_of(&report, "a"), Status::Failed);
    assert_eq!(fake.world().writes, 0);
    assert_eq!(Outcome::from(report.outcome), Outcome::Failure);
}

#[tokio::test]
async fn conflicts_and_no_ops_are_never_written() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    fake.put("same-remote", live("c1", &[("adminUsers", &["u1"])]));
    fake.put("a-remote", live("c2", &[("adminUsers", &[])]));
    let desired = vec![
        connection("missing", &["u1"]),
        connection("same", &["u1"]),
        connection("a", &["u1"]),
    ];
    let plan = make_plan(&fake, &desired);
    assert_eq!(plan.changes[0].action, Action::Conflict);
    assert_eq!(plan.changes[1].action, Action::NoOp);

    let (report, lines) = run(&plan, &fake, dir.path(), &ApplyOptions::default()).await;

    assert_eq!(status_of(&report, "missing"), Status::ConflictSkipped);
    assert_eq!(status_of(&report, "same"), Status::NoOp);
    assert_eq!(status_of(&report, "a"), Status::Applied);
    assert_eq!(fake.world().writes, 1);
    assert!(fake.get("missing-remote").is_none());
    assert!(
        lines.contains("conflict-skipped  ConnectionAdmins/missing"),
        "{lines}"
    );
    assert!(!lines.contains("ConnectionAdmins/same"), "{lines}");
    // A conflict left undone is not success.
    assert_eq!(Outcome::from(report.outcome), Outcome::Failure);
}

/// The plan's `desired` is never used: editing it to hold more changes nothing.
#[tokio::test]
async fn a_desired_object_edited_in_the_plan_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    fake.put("a-remote", live("c1", &[("adminUsers", &["u1"])]));
    let mut plan = make_plan(&fake, &[connection("a", &["u1", "u2"])]);
    plan.changes[0]
        .desired
        .fields
        .get_mut("adminUsers")
        .unwrap()
        .values
        .insert("intruder".into());

    let (report, _) = run(&plan, &fake, dir.path(), &ApplyOptions::default()).await;

    assert_eq!(status_of(&report, "a"), Status::Applied);
    assert_eq!(
        fake.get("a-remote").unwrap().fields["adminUsers"],
        values(&["u1", "u2"])
    );
}

/// Additions the declaration does not hold are refused, whatever the plan's `desired` says.
#[tokio::test]
async fn an_addition_the_manifests_do_not_declare_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    fake.put("a-remote", live("c1", &[("adminUsers", &["u1"])]));
    fake.put("b-remote", live("c2", &[("adminUsers", &["u1"])]));
    let mut plan = make_plan(
        &fake,
        &[
            connection("a", &["u1", "u2"]),
            connection("b", &["u1", "u2"]),
        ],
    );
    plan.changes[0]
        .additions
        .get_mut("adminUsers")
        .unwrap()
        .insert("intruder".into());

    let (report, _) = run(&plan, &fake, dir.path(), &ApplyOptions::default()).await;

    let a = object_report(&report, "a");
    assert_eq!(a.status, Status::Refused, "{a:#?}");
    assert_eq!(
        a.refused,
        Some(Refused::UndeclaredAdditions {
            field: "adminUsers".into(),
            values: vec!["intruder".into()],
        })
    );
    assert_eq!(
        fake.get("a-remote").unwrap().fields["adminUsers"],
        values(&["u1"])
    );
    // The other object still applies; the run fails (exit 1), it is not merely stale.
    assert_eq!(status_of(&report, "b"), Status::Applied);
    assert_eq!(Outcome::from(report.outcome), Outcome::Failure);
}

#[tokio::test]
async fn a_token_created_by_someone_else_since_the_plan_is_stale() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let desired = vec![token("tok", &["read:org"], KeySink::File("tok.key".into()))];
    let plan = make_plan(&fake, &desired);
    fake.put(
        "tok-remote",
        live("other", &[("privileges", &[]), ("srcIps", &["10.0.0.0/8"])]),
    );

    let (report, _) = run(&plan, &fake, dir.path(), &ApplyOptions::default()).await;

    assert_eq!(status_of(&report, "tok"), Status::Stale);
    assert!(!dir.path().join("tok.key").exists());
    assert_eq!(fake.world().writes, 0);
}

#[tokio::test]
async fn a_token_whose_key_file_exists_is_not_created() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tok.key"), "old key").unwrap();
    let fake = Fake::new();
    let plan = make_plan(
        &fake,
        &[token("tok", &["read:org"], KeySink::File("tok.key".into()))],
    );

    let (report, _) = run(&plan, &fake, dir.path(), &ApplyOptions::default()).await;

    let tok = object_report(&report, "tok");
    assert_eq!(tok.status, Status::Failed);
    assert!(
        tok.error.as_deref().unwrap().contains("already exists"),
        "{tok:?}"
    );
    assert!(fake.get("tok-remote").is_none());
    assert_eq!(fake.world().writes, 0);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("tok.key")).unwrap(),
        "old key"
    );
}

#[tokio::test]
async fn a_token_whose_sink_program_is_missing_is_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let missing = KeySink::Command {
        argv: vec!["warrant-no-such-program-xyz".into(), "set".into()],
        env: Vec::new(),
    };
    let plan = make_plan(&fake, &[token("tok", &["read:org"], missing)]);

    let (report, _) = run(&plan, &fake, dir.path(), &ApplyOptions::default()).await;

    let tok = object_report(&report, "tok");
    assert_eq!(tok.status, Status::Failed);
    assert!(
        tok.error.as_deref().unwrap().contains("is not found"),
        "{tok:?}"
    );
    assert!(fake.get("tok-remote").is_none());
    assert_eq!(fake.world().writes, 0);
}

#[tokio::test]
async fn a_failing_command_sink_is_reported_without_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let echo_and_fail = KeySink::Command {
        argv: vec![
            "sh".into(),
            "-c".into(),
            "echo \"vault refused $(cat)\" >&2; exit 7".into(),
        ],
        env: Vec::new(),
    };
    let plan = make_plan(&fake, &[token("tok", &["read:org"], echo_and_fail)]);

    let (report, lines) = run(&plan, &fake, dir.path(), &ApplyOptions::default()).await;

    let key = fake.key();
    let tok = object_report(&report, "tok");
    assert_eq!(tok.status, Status::Failed);
    let error = tok.error.as_deref().unwrap();
    assert!(error.contains("vault refused <redacted>"), "{error}");
    assert!(error.contains('7'), "{error}");
    assert!(
        error.contains("token created, key NOT delivered: rotate it (token tok-remote, id new-1)"),
        "{error}"
    );
    assert!(
        tok.action_required
            .as_deref()
            .unwrap()
            .contains("its key was not delivered")
    );
    assert!(fake.get("tok-remote").is_some(), "the token was created");
    let json = serde_json::to_string(&report).unwrap();
    assert!(json.contains("key NOT delivered"));
    assert!(!json.contains(&key));
    assert!(!lines.contains(&key));
    assert!(lines.contains("key NOT delivered: rotate it"), "{lines}");
    assert_eq!(Outcome::from(report.outcome), Outcome::Failure);
}

#[tokio::test]
async fn max_changes_refuses_before_any_request() {
    let fake = Fake::new();
    fake.put("a-remote", live("c1", &[("adminUsers", &["u1"])]));
    let plan = make_plan(
        &fake,
        &[
            connection("a", &["u1", "u2"]),
            identity("x", &["r1"], &[]),
            identity("y", &["r1"], &[]),
        ],
    );
    let options = ApplyOptions {
        max_changes: Some(2),
        ..ApplyOptions::default()
    };
    let refused = apply_in(
        &plan,
        &fake,
        std::path::Path::new("."),
        &options,
        &warrant::apply::Silent,
    )
    .await;
    assert_eq!(
        refused.unwrap_err(),
        Refusal::TooManyChanges { changes: 3, max: 2 }
    );
    assert_eq!(fake.requests(), 0);

    let options = ApplyOptions {
        max_changes: Some(3),
        ..ApplyOptions::default()
    };
    assert!(
        apply_in(
            &plan,
            &fake,
            std::path::Path::new("."),
            &options,
            &warrant::apply::Silent
        )
        .await
        .is_ok()
    );
}

#[tokio::test]
async fn a_plan_of_another_version_is_refused_before_any_request() {
    let fake = Fake::new();
    let mut plan = make_plan(&fake, &[identity("x", &["r1"], &[])]);
    plan.format_version = FORMAT_VERSION + 1;
    let err = apply_in(
        &plan,
        &fake,
        std::path::Path::new("."),
        &ApplyOptions::default(),
        &warrant::apply::Silent,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Refusal::FormatVersion { .. }));
    assert!(err.to_string().contains("make the plan again"), "{err}");

    plan.format_version = FORMAT_VERSION;
    plan.warrant_version = "0.0.0-elsewhere".into();
    let err = apply_in(
        &plan,
        &fake,
        std::path::Path::new("."),
        &ApplyOptions::default(),
        &warrant::apply::Silent,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("0.0.0-elsewhere"), "{err}");
    assert_eq!(fake.requests(), 0);
}

#[tokio::test]
async fn a_cancelled_run_starts_nothing_and_reports_every_object() {
    let fake = Fake::new();
    let plan = make_plan(
        &fake,
        &[identity("x", &["r1"], &[]), identity("y", &["r1"], &[])],
    );
    let options = ApplyOptions::default();
    options.cancel.cancel();
    let dir = tempfile::tempdir().unwrap();

    let (report, lines) = run(&plan, &fake, dir.path(), &options).await;

    assert!(report.interrupted);
    assert_eq!(report.counts.get(&Status::NotAttempted), Some(&2));
    assert_eq!(fake.requests(), 0);
    assert_eq!(Outcome::from(report.outcome), Outcome::Failure);
    assert_eq!(lines.lines().count(), 2, "{lines}");
}

#[tokio::test]
async fn batches_read_and_write_once_each_and_count_requests() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let desired: Vec<_> = (0..5)
        .map(|i| identity(&format!("id{i}"), &["r1"], &[]))
        .collect();
    let plan = make_plan(&fake, &desired);
    let options = ApplyOptions {
        batch_size: 2,
        ..ApplyOptions::default()
    };

    let (report, _) = run(&plan, &fake, dir.path(), &options).await;

    assert_eq!(report.counts.get(&Status::Applied), Some(&5));
    // The declarations are resolved once for the target, whatever the batches.
    assert_eq!(fake.world().resolves, 1);
    // 3 batches: one read and one verifying read each; one write per object.
    assert_eq!(fake.world().reads, 6);
    assert_eq!(fake.world().writes, 5);
    assert_eq!(report.requests[TARGET].total, 11);
    assert!(
        warrant::render::report::summary_line(&report).contains("5 applied"),
        "{}",
        warrant::render::report::summary_line(&report)
    );
    assert!(
        warrant::render::report::summary_line(&report).contains("11 requests"),
        "{}",
        warrant::render::report::summary_line(&report)
    );
}

#[tokio::test]
async fn large_plans_are_cut_into_at_most_eight_batches_per_target() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let desired: Vec<_> = (0..100)
        .map(|i| identity(&format!("id{i}"), &["r1"], &[]))
        .collect();
    let plan = make_plan(&fake, &desired);
    let options = ApplyOptions {
        batch_size: 2,
        ..ApplyOptions::default()
    };

    let (report, _) = run(&plan, &fake, dir.path(), &options).await;

    assert_eq!(report.counts.get(&Status::Applied), Some(&100));
    // 100 objects in batches of ceil(100 / 8) = 13: 8 batches, each one read before writing
    // and one verifying read, instead of 50 batches of 2.
    assert_eq!(
        fake.world().reads,
        2 * warrant::apply::MAX_BATCHES_PER_TARGET as u64
    );
    assert_eq!(fake.world().writes, 100);
}

#[tokio::test]
async fn batches_are_whole_multiples_of_what_one_write_request_carries() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    fake.world().objects_per_write = 20;
    let desired: Vec<_> = (0..100)
        .map(|i| identity(&format!("id{i}"), &["r1"], &[]))
        .collect();
    let plan = make_plan(&fake, &desired);
    let options = ApplyOptions {
        batch_size: 2,
        ..ApplyOptions::default()
    };

    let (report, _) = run(&plan, &fake, dir.path(), &options).await;

    assert_eq!(report.counts.get(&Status::Applied), Some(&100));
    // Batches of ceil(100 / 8) = 13 would send 8 bulk requests of 13 where 5 full ones of
    // 20 do: the batch size is rounded up to a whole number of requests.
    assert_eq!(fake.world().write_calls, vec![20; 5]);
}
