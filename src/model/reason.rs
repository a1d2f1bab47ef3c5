//! Why a change cannot be applied: [`Reason`], the one vocabulary of conflicts (the plan),
//! staleness and refusals (apply).
//!
//! Decisions are made on the variants: the applier fails an object the credential may not
//! write or whose live state is unreadable, refuses what the manifests do not declare
//! ([`Refused`]), and takes everything else as stale. People read the words, which are the
//! `Display` of a reason: the renderers show them (escaped), and the plan file and the apply
//! report carry them as JSON strings — the same words, byte for byte, that the plan file always
//! carried, so a reason serializes as its `Display`. A reason read back from a plan file is
//! only those words ([`Reason::Recorded`]): a plan file is untrusted, and nothing is decided
//! on what it says.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Address, Values};

/// Why a change is a conflict, stale, or refused.
#[derive(Debug, Clone)]
pub enum Reason {
    /// A reference in the declaration (an API token, a role, an address) names nothing, or
    /// more than one thing, or something unusable; the platform's own words.
    Unresolved(String),
    /// The remote key matches several live objects.
    AmbiguousName { name: String, ids: Vec<String> },
    /// A list field of the live object came back missing, null or malformed, so its value is
    /// unknown (`crate::model::UnreadableField`).
    Unreadable {
        field: String,
        problem: String,
        /// The request whose answer held it, e.g. `GET /api/v1/orgs/{org_id}/apitokens`.
        read_with: String,
    },
    /// The object does not exist, and warrant never creates objects of this kind: `what` is
    /// what the platform calls one (`connection`).
    NeverCreated { what: &'static str, key: String },
    /// Creating the object would give a field more values than the platform allows.
    TooManyValues {
        field: String,
        declared: usize,
        max: usize,
    },
    /// Adding the declared values would give a field more values than the platform allows.
    LimitExceeded {
        field: String,
        adding: usize,
        live: usize,
        max: usize,
    },
    /// A field set once at creation differs from the declaration; `what` is what a new object
    /// of the kind is called (`token`).
    ImmutableField {
        field: String,
        what: &'static str,
        live: Values,
        declared: Values,
    },
    /// The credential can read the Atlan connection but is not one of its admins, so Atlan
    /// refuses it the write.
    NotConnectionAdmin { caller: String, connection: String },
    /// The CONNECT credential is not a Tenant Administrator and lacks these roles (names, or
    /// ids where no name is known), which the create or update would need it to hold: a
    /// non-administrator may only assign roles it holds, and may only change an identity
    /// whose every role it holds.
    RolesNotHeld { roles: Vec<String> },
    /// The Mist token in use holds no write or admin privilege on the org, so Mist refuses
    /// it this `verb` (`create`, `change`) of a token.
    TokenReadOnly { verb: &'static str },
    /// A live token of the declared name exists that someone outside warrant made (`by`,
    /// their email as the server wrote it), and the declaration says `adopt: never`.
    AdoptRefused { by: String },
    /// The object exists only archived (Atlan `status: DELETED`): warrant never writes it,
    /// and a save by its key could create a new one instead.
    Archived { what: &'static str, key: String },
    /// Fresh live state would make apply add values the plan did not review.
    Unreviewed { field: String, values: Vec<String> },
    /// The object is gone, and the plan reviewed an update, not a create.
    GoneSincePlan,
    /// The token the plan creates was created by someone else since, so its key cannot reach
    /// the key sink.
    CreatedElsewhere,
    /// The object's declaration in the manifests changed since the plan was reviewed.
    DeclarationChanged,
    /// The manifests declare the object under another target or remote key than the plan.
    DeclaredAs(Address),
    /// An earlier apply's create of this token is open in the create journal: the token may
    /// exist without its key, and a human decides first.
    KeyMayBeLost(OpenCreate),
    /// The journal record that closes a create could not be written, so its intent stays
    /// open; the journal's error.
    JournalNotWritten(String),
    /// An abandoned run created the object and delivered its key, but stopped before reading
    /// it back.
    CreatedUnverified,
    /// An abandoned run's create failed, and nothing was created.
    NothingCreated,
    /// The plan asks for more than the manifests declare.
    Refused(Refused),
    /// The words of a reason as a plan file recorded them: shown, never decided on.
    Recorded(String),
}

impl Reason {
    /// Whether an applier must fail the object for this reason rather than call it stale:
    /// the credential may not make the write, or the live value is unknown. Neither changes by
    /// planning again.
    pub(crate) fn fails_apply(&self) -> bool {
        matches!(
            self,
            Reason::NotConnectionAdmin { .. }
                | Reason::Unreadable { .. }
                | Reason::Archived { .. }
                | Reason::RolesNotHeld { .. }
                | Reason::TokenReadOnly { .. }
                | Reason::AdoptRefused { .. }
        )
    }
}

/// Two reasons are equal when they say the same: a reason read back from a plan file equals
/// the one it was written from.
impl PartialEq for Reason {
    fn eq(&self, other: &Reason) -> bool {
        self.to_string() == other.to_string()
    }
}

impl Eq for Reason {}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Unresolved(words) | Reason::Recorded(words) => f.write_str(words),
            Reason::AmbiguousName { name, ids } => write!(
                f,
                "{name} matches {} live objects ({}); rename or remove the duplicates by hand",
                ids.len(),
                ids.join(", ")
            ),
            Reason::Unreadable {
                field,
                problem,
                read_with,
            } => write!(
                f,
                "live state unreadable: field {field} {problem} in {read_with}"
            ),
            Reason::NeverCreated { what, key } => {
                write!(f, "{what} {key} not found; warrant never creates {what}s")
            }
            Reason::TooManyValues {
                field,
                declared,
                max,
            } => write!(
                f,
                "{field}: {declared} values declared, at most {max} allowed"
            ),
            Reason::LimitExceeded {
                field,
                adding,
                live,
                max,
            } => write!(
                f,
                "{field}: adding {adding} to the {live} live values would make {}, more than the {max} allowed",
                adding + live
            ),
            Reason::ImmutableField {
                field,
                what,
                live,
                declared,
            } => write!(
                f,
                "{} cannot change after creation; declare a new {what} under a new name (live {field}: [{}], declared: [{}])",
                snake_case(field),
                join(live),
                join(declared),
            ),
            Reason::NotConnectionAdmin { caller, connection } => write!(
                f,
                "the credential ({caller}) is not an admin of connection {connection}, so it cannot add admins; a connection admin must apply this, or run it with `via: workflow` as one (this cannot be used to bypass security)"
            ),
            Reason::Archived { what, key } => write!(
                f,
                "{what} {key} is archived (status DELETED); warrant never writes an archived {what}: restore it in the platform or remove the declaration"
            ),
            Reason::RolesNotHeld { roles } => write!(
                f,
                "the credential is not a Tenant Administrator and does not hold {} {}; CONNECT lets such a caller give only roles it holds, and change only identities whose every role it holds: a Tenant Administrator must apply this",
                if roles.len() == 1 { "role" } else { "roles" },
                roles.join(", ")
            ),
            Reason::TokenReadOnly { verb } => write!(
                f,
                "this token can read but not {verb} tokens: it holds no write or admin privilege on the org; apply with a token that does"
            ),
            Reason::AdoptRefused { by } => write!(
                f,
                "a token with this name exists, created outside warrant (by {by}): its key is not held by warrant, and the declaration says adopt: never; rename the declaration, or delete or rotate the live token by hand, or drop adopt: never to take it over"
            ),
            Reason::Unreviewed { field, values } => write!(
                f,
                "{field}: live state changed since the plan; applying now would also add {}, which the plan did not review",
                values.join(", ")
            ),
            Reason::GoneSincePlan => f.write_str(
                "the object no longer exists live, and the plan did not review creating it",
            ),
            Reason::CreatedElsewhere => f.write_str(
                "the token was created by someone else since the plan, so no new key can reach its key sink",
            ),
            Reason::DeclarationChanged => f.write_str(
                "its declaration in the manifests changed since the plan was reviewed; make and review a new plan",
            ),
            Reason::DeclaredAs(address) => write!(
                f,
                "the manifests now declare it as {address}, not as the plan says; make and review a new plan"
            ),
            Reason::KeyMayBeLost(open) => open.fmt(f),
            Reason::JournalNotWritten(error) => write!(
                f,
                "{error}: its intent stays open, so plans show it as a conflict until `warrant journal resolve`"
            ),
            Reason::CreatedUnverified => f.write_str(
                "created, and its key reached its sink; the run stopped before reading it back (plan again to confirm)",
            ),
            Reason::NothingCreated => {
                f.write_str("its create failed and nothing was created (plan again)")
            }
            Reason::Refused(refused) => refused.fmt(f),
        }
    }
}

/// Something a reviewer should know about a change that does not block it: shown in every
/// rendering, decided on nowhere. Like a reason it is written as its words, and one read back
/// from a plan file is only those words ([`Note::Recorded`]).
#[derive(Debug, Clone)]
pub enum Note {
    /// The declaration takes over a live token that someone outside warrant made (`by`, their
    /// email as the server wrote it): warrant never had its key, so nothing reaches the key
    /// sink.
    Adopts { by: String },
    /// The words of a note as a plan file recorded them.
    Recorded(String),
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Note::Adopts { by } => write!(
                f,
                "adopts an existing token created outside warrant (by {by}): its key is not held by warrant and keySink will not be written"
            ),
            Note::Recorded(words) => f.write_str(words),
        }
    }
}

/// Two notes are equal when they say the same.
impl PartialEq for Note {
    fn eq(&self, other: &Note) -> bool {
        self.to_string() == other.to_string()
    }
}

impl Eq for Note {}

/// A reason or a note is written as its words, read back as only its words (`Recorded`:
/// nothing is decided on words from a file), and in schemas is the string it is written as.
macro_rules! written_as_words {
    ($t:ident) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<$t, D::Error> {
                String::deserialize(deserializer).map($t::Recorded)
            }
        }

        impl JsonSchema for $t {
            fn inline_schema() -> bool {
                true
            }

            fn schema_name() -> Cow<'static, str> {
                String::schema_name()
            }

            fn json_schema(generator: &mut SchemaGenerator) -> Schema {
                String::json_schema(generator)
            }
        }
    };
}

written_as_words!(Note);

/// A create of a token that the create journal holds open (`crate::apply::journal`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenCreate {
    /// The token's name on the server.
    pub token: String,
    /// `TARGET/NAME`, what `warrant journal resolve` takes.
    pub handle: String,
    /// The first 12 characters of the id of the plan whose apply made the create.
    pub plan: String,
    /// When the create's intent was written (RFC 3339).
    pub at: String,
    pub ended: CreateEnded,
}

/// How a journalled create that needs a human ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateEnded {
    /// The apply stopped before the create said how it ended.
    Interrupted,
    /// The create failed in a way that may have created the token, and no read settled it.
    Failed,
    /// The token was created (with this id, when known) but its key did not reach its sink.
    KeyNotDelivered { id: Option<String> },
}

impl fmt::Display for OpenCreate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let OpenCreate {
            token,
            handle,
            plan,
            at,
            ended,
        } = self;
        let when = format!("plan {plan}, {at}");
        let then = format!(
            "then run `warrant journal resolve {handle}` (the create journal keeps it open until then)"
        );
        match ended {
            CreateEnded::KeyNotDelivered { id } => write!(
                f,
                "token {token}{} was created by an apply ({when}) but its key did not reach its sink; rotate it, {then}",
                id.as_ref()
                    .map(|i| format!(" (id {i})"))
                    .unwrap_or_default()
            ),
            CreateEnded::Failed => write!(
                f,
                "a token named {token} may have been created by an apply whose create failed ({when}); its key was not captured; rotate it, {then}"
            ),
            CreateEnded::Interrupted => write!(
                f,
                "a token named {token} may have been created by an interrupted apply ({when}); its key was not captured; rotate it, {then}"
            ),
        }
    }
}

/// How an immutable-field conflict names the field: in snake_case, the spelling the API
/// documentation readers will search for uses (`srcIps` is documented as `src_ips`).
fn snake_case(field: &str) -> String {
    let mut out = String::with_capacity(field.len() + 4);
    for c in field.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn join(values: &Values) -> String {
    values.iter().cloned().collect::<Vec<_>>().join(", ")
}

written_as_words!(Reason);

/// Why apply refused a change of the plan: it asked for more than the merged manifests
/// declare (the plan file is untrusted; these are what an edited or foreign plan looks like),
/// or the create journal holds an earlier create of the object that nobody resolved. The
/// apply report records the refusal as data (`refused`) besides its words.
#[derive(
    Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case", tag = "reason")]
pub enum Refused {
    #[error("no manifest declares this object")]
    NotDeclared,
    #[error("the plan names this object more than once")]
    Duplicated,
    #[error("no manifest declares target {target}")]
    TargetNotDeclared { target: String },
    #[error(
        "the plan's settings for target {target} differ from the manifests' ({}); only the manifests and --endpoint decide where requests go",
        differences.join("; ")
    )]
    TargetSettings {
        target: String,
        differences: Vec<String>,
    },
    #[error(
        "the plan adds {} to {field}, which the manifests do not declare",
        values.join(", ")
    )]
    UndeclaredAdditions { field: String, values: Vec<String> },
    #[error("the plan creates the object, which the manifests never create")]
    CreateNotDeclared,
    #[error("{record}")]
    JournalOpen { record: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_is_written_and_read_back_as_its_words() {
        let reason = Reason::LimitExceeded {
            field: "privileges".into(),
            adding: 4,
            live: 7,
            max: 10,
        };
        let json = serde_json::to_string(&reason).unwrap();
        assert_eq!(
            json,
            "\"privileges: adding 4 to the 7 live values would make 11, more than the 10 allowed\""
        );
        let back: Reason = serde_json::from_str(&json).unwrap();
        assert_eq!(back, reason, "equal: they say the same");
        assert!(matches!(back, Reason::Recorded(_)), "{back:?}");
        assert!(!back.fails_apply(), "words from a plan file decide nothing");
    }

    #[test]
    fn a_refused_adoption_fails_apply_and_a_note_read_back_is_only_words() {
        let refused = Reason::AdoptRefused {
            by: "netops@acme.example".into(),
        };
        assert!(refused.fails_apply());
        let note = Note::Adopts {
            by: "netops@acme.example".into(),
        };
        let json = serde_json::to_string(&note).unwrap();
        let back: Note = serde_json::from_str(&json).unwrap();
        assert_eq!(back, note);
        assert!(matches!(back, Note::Recorded(_)), "{back:?}");
    }

    #[test]
    fn immutable_fields_are_named_as_the_api_documents_them() {
        let reason = Reason::ImmutableField {
            field: "srcIps".into(),
            what: "token",
            live: Values::from(["10.0.0.1".to_string()]),
            declared: Values::new(),
        };
        assert_eq!(
            reason.to_string(),
            "src_ips cannot change after creation; declare a new token under a new name (live srcIps: [10.0.0.1], declared: [])"
        );
    }
}
