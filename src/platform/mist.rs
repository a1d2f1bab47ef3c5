//! Client for the mist API (see ../shared/contracts/mist.md). Stub: to be implemented.

use crate::manifest::{MistTarget, Resource};
use crate::model::{DesiredObject, LiveState, WriteOp, WriteOutcome};
use crate::platform::{ClientOptions, ErrorKind, PlatformError, RequestCounts};
use crate::secret::Secret;

pub struct MistClient {
    target: String,
}

impl MistClient {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        target: &str,
        _settings: &MistTarget,
        _base_url: Option<&str>,
        _api_token: Secret,
        _options: &ClientOptions,
    ) -> Result<MistClient, PlatformError> {
        Ok(MistClient {
            target: target.to_string(),
        })
    }

    fn unimplemented(&self) -> PlatformError {
        PlatformError::new(&self.target, ErrorKind::Other, "not implemented yet")
    }

    pub async fn resolve(
        &self,
        _resources: &[&Resource],
    ) -> Result<Vec<DesiredObject>, PlatformError> {
        Err(self.unimplemented())
    }

    pub async fn read(&self, _objects: &[DesiredObject]) -> Result<Vec<LiveState>, PlatformError> {
        Err(self.unimplemented())
    }

    pub async fn write(&self, ops: Vec<WriteOp>) -> Vec<Result<WriteOutcome, PlatformError>> {
        ops.iter().map(|_| Err(self.unimplemented())).collect()
    }

    pub fn request_counts(&self) -> RequestCounts {
        RequestCounts::default()
    }
}

/// Mist cloud names accepted by `Target.spec.mist.cloud`, with their API base URLs
/// (contracts/mist.md §4).
pub const CLOUDS: &[(&str, &str)] = &[
    ("global01", "https://api.mist.com"),
    ("global02", "https://api.gc1.mist.com"),
    ("global03", "https://api.ac2.mist.com"),
    ("global04", "https://api.gc2.mist.com"),
    ("global05", "https://api.gc4.mist.com"),
    ("emea01", "https://api.eu.mist.com"),
    ("emea02", "https://api.gc3.mist.com"),
    ("emea03", "https://api.ac6.mist.com"),
    ("emea04", "https://api.gc6.mist.com"),
    ("apac01", "https://api.ac5.mist.com"),
    ("apac02", "https://api.gc5.mist.com"),
    ("apac03", "https://api.gc7.mist.com"),
    ("govcloud", "https://api.us.mist-federal.com"),
];

/// The API base URL of a Mist cloud name.
pub fn cloud_base_url(cloud: &str) -> Option<&'static str> {
    CLOUDS.iter().find(|(n, _)| *n == cloud).map(|(_, u)| *u)
}
