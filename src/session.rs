//! A live session: one platform client per target, opened from target settings, credentials
//! (from the environment unless given) and `--endpoint` overrides. `plan`, `drift`, `apply`,
//! `export`, the demo and the benchmarks all reach live systems through a `Session`.

use std::collections::BTreeMap;

use crate::manifest::{Location, Manifests, Target, TargetPlatform};
use crate::platform::{
    Client, ClientOptions, Credentials, ErrorKind, PlatformError, RequestCounts,
};

/// How to reach live systems.
#[derive(Debug, Clone, Default)]
pub struct LiveOptions {
    /// Target name → base URL override (`--endpoint TARGET=URL`).
    pub endpoints: BTreeMap<String, String>,
    /// Target name → credentials; targets not listed read theirs from the environment.
    pub credentials: BTreeMap<String, Credentials>,
    pub client: ClientOptions,
}

impl LiveOptions {
    /// Parses `TARGET=URL` pairs. An endpoint receives credentials like a Target's `baseUrl`,
    /// so it follows the same rule: https, or plain http to a loopback host only.
    pub fn parse_endpoints(pairs: &[String]) -> Result<BTreeMap<String, String>, String> {
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
    pub fn for_targets(
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

/// One client per target.
pub struct Session {
    pub clients: BTreeMap<String, Client>,
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
            let target = Target {
                name: name.clone(),
                platform: platform.clone(),
                location: Location {
                    file: "<targets>".into(),
                    line: 0,
                    column: 0,
                },
            };
            let creds = match options.credentials.get(name) {
                Some(c) => Ok(c.clone()),
                None => Credentials::from_env(&target),
            };
            let client = creds.and_then(|c| {
                Client::new(
                    &target,
                    options.endpoints.get(name).map(String::as_str),
                    c,
                    &options.client,
                )
            });
            match client {
                Ok(c) => {
                    clients.insert(name.clone(), c);
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

    pub fn client(&self, target: &str) -> Option<&Client> {
        self.clients.get(target)
    }

    pub fn request_counts(&self) -> BTreeMap<String, RequestCounts> {
        self.clients
            .iter()
            .map(|(n, c)| (n.clone(), c.request_counts()))
            .collect()
    }
}
