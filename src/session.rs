//! A live session: one platform client per target, opened from target settings, credentials
//! (from the environment unless given) and `--endpoint` overrides. `plan`, `drift`, `apply`,
//! `export`, the demo and the benchmarks all reach live systems through a `Session`.

use std::collections::BTreeMap;

use crate::manifest::{Location, Target, TargetPlatform};
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
    /// Parses `TARGET=URL` pairs.
    pub fn parse_endpoints(pairs: &[String]) -> Result<BTreeMap<String, String>, String> {
        pairs
            .iter()
            .map(|p| match p.split_once('=') {
                Some((t, u)) if !t.is_empty() && !u.is_empty() => {
                    Ok((t.to_string(), u.trim_end_matches('/').to_string()))
                }
                _ => Err(format!("--endpoint expects TARGET=URL, got {p:?}")),
            })
            .collect()
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
