//! A live session: one [`LiveTarget`] per target, opened from target settings, credentials
//! (the environment variables the Target names, from the process or given) and `--endpoint`
//! overrides. `plan`, `drift`, `apply`, `export`, the demo and the benchmarks all reach live
//! systems through a `Session`.

use std::collections::BTreeMap;

use super::{
    ClientOptions, ErrorKind, LiveTarget, Manifests, PlatformError, RequestCounts, TargetPlatform,
};
use crate::secret::Secret;

/// Where credentials are read from: the environment variables a Target names.
#[derive(Debug, Clone, Default)]
pub enum Environment {
    /// The process's environment.
    #[default]
    Process,
    /// These variables only (tests, the demo): what the process would have had.
    Given(BTreeMap<String, Secret>),
}

impl Environment {
    /// These variables only.
    pub fn given<'a>(variables: impl IntoIterator<Item = (&'a str, &'a str)>) -> Environment {
        Environment::Given(
            variables
                .into_iter()
                .map(|(name, value)| (name.to_string(), Secret::new(value)))
                .collect(),
        )
    }

    /// The variable `name` that a Target `target` names; a missing or empty one is an error
    /// naming the variable and the target, reported before any request. The value is not yet
    /// masked: the platform decides which of its variables are secrets ([`Secret::in_use`]).
    pub(crate) fn variable(&self, target: &str, name: &str) -> Result<Secret, PlatformError> {
        let value = match self {
            Environment::Process => std::env::var(name).ok().map(Secret::new),
            Environment::Given(variables) => variables.get(name).cloned(),
        };
        let missing = || {
            PlatformError::new(
                target,
                ErrorKind::Credentials,
                format!("environment variable {name} is not set"),
            )
            .with_hint(format!(
                "export {name} with the credential for target {target}"
            ))
        };
        let value = value.ok_or_else(missing)?;
        // A credential pasted from a file or `echo` often ends in a newline, which no HTTP
        // header may carry: surrounding whitespace is never part of a credential, so it is
        // trimmed. What is left must be one line of visible text; anything else is refused
        // here, naming the variable and never its value.
        let trimmed = value.expose().trim();
        if trimmed.is_empty() {
            return Err(missing());
        }
        if trimmed.chars().any(char::is_control) {
            return Err(PlatformError::new(
                target,
                ErrorKind::Credentials,
                format!("environment variable {name} holds a control character (such as a line break) inside the credential"),
            )
            .with_hint(format!("set {name} to the credential alone, on one line")));
        }
        if trimmed.len() == value.expose().len() {
            Ok(value)
        } else {
            Ok(Secret::new(trimmed))
        }
    }
}

/// How to reach live systems.
#[derive(Debug, Clone, Default)]
pub struct LiveOptions {
    /// Target name → base URL override (`--endpoint TARGET=URL`).
    pub endpoints: BTreeMap<String, String>,
    /// Where the credentials come from.
    pub environment: Environment,
    pub client: ClientOptions,
}

impl LiveOptions {
    /// Parses `TARGET=URL` pairs. An endpoint receives credentials like a Target's `baseUrl`,
    /// so it follows the same rule: https, or plain http to a loopback host only.
    pub(crate) fn parse_endpoints(pairs: &[String]) -> Result<BTreeMap<String, String>, String> {
        pairs
            .iter()
            .map(|p| match p.split_once('=') {
                Some((t, u)) if !t.is_empty() && !u.is_empty() => {
                    let url = u.trim_end_matches('/');
                    match crate::manifest::base_url_problems(url).first() {
                        None => Ok((t.to_string(), url.to_string())),
                        // A URL with a user part is not quoted: that part is a secret.
                        Some(problem @ crate::manifest::BaseUrlProblem::UserInfo) => Err(format!(
                            "--endpoint {t}=…: the URL {problem}; {}",
                            problem.hint()
                        )),
                        Some(problem) => Err(format!(
                            "--endpoint {t}={url}: the URL {problem}; {}",
                            problem.hint()
                        )),
                    }
                }
                _ => Err(format!("--endpoint expects TARGET=URL, got {p:?}")),
            })
            .collect()
    }

    /// These options for a session of the targets `in_use`: an `--endpoint` for a declared
    /// target not in use is dropped (CI passes the same endpoints to every run), while one
    /// naming no declared target stays, so [`Session::open`] reports the typo.
    pub(crate) fn for_targets(
        &self,
        in_use: &BTreeMap<String, TargetPlatform>,
        manifests: &Manifests,
    ) -> LiveOptions {
        let mut narrowed = self.clone();
        narrowed
            .endpoints
            .retain(|name, _| in_use.contains_key(name) || manifests.target(name).is_none());
        narrowed
    }
}

/// One live target per target name.
pub struct Session {
    clients: BTreeMap<String, Box<dyn LiveTarget>>,
    /// The `--endpoint` overrides the clients were opened with (target → base URL), so a plan
    /// can record the base URL actually used.
    pub endpoints: BTreeMap<String, String>,
}

impl Session {
    /// Opens a client for each target. Every missing credential is reported (all of them)
    /// before any request is made.
    pub fn open(
        targets: &BTreeMap<String, TargetPlatform>,
        options: &LiveOptions,
    ) -> Result<Session, Vec<PlatformError>> {
        let mut clients = BTreeMap::new();
        let mut errors = Vec::new();
        for (name, platform) in targets {
            let endpoint = options.endpoints.get(name).map(String::as_str);
            match platform.open(name, endpoint, &options.environment, &options.client) {
                Ok(client) => {
                    clients.insert(name.clone(), client);
                }
                Err(e) => errors.push(e),
            }
        }
        for unknown in options
            .endpoints
            .keys()
            .filter(|k| !targets.contains_key(*k))
        {
            errors.push(PlatformError::new(
                unknown,
                ErrorKind::Other,
                "--endpoint names a target that is not in use",
            ));
        }
        if errors.is_empty() {
            Ok(Session {
                clients,
                endpoints: options.endpoints.clone(),
            })
        } else {
            Err(errors)
        }
    }

    /// A session of these live targets (target name → target): tests plan and apply against
    /// targets of their own this way.
    pub fn of(clients: BTreeMap<String, Box<dyn LiveTarget>>) -> Session {
        Session {
            clients,
            endpoints: BTreeMap::new(),
        }
    }

    pub fn client(&self, target: &str) -> Option<&dyn LiveTarget> {
        self.clients.get(target).map(|c| c.as_ref())
    }

    /// The live target `target`, or the error that no client is open for it.
    pub(crate) fn live(&self, target: &str) -> Result<&dyn LiveTarget, PlatformError> {
        self.client(target).ok_or_else(|| {
            PlatformError::new(
                target,
                ErrorKind::Other,
                "no client is open for this target",
            )
        })
    }

    pub(crate) fn request_counts(&self) -> BTreeMap<String, RequestCounts> {
        self.clients
            .iter()
            .map(|(n, c)| (n.clone(), c.request_counts()))
            .collect()
    }
}
