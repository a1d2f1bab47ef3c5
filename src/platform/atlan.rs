//! Client for the atlan API (see ../shared/contracts/atlan.md). Stub: to be implemented.

use crate::manifest::{AtlanTarget, Resource};
use crate::model::{DesiredObject, LiveState, WriteOp, WriteOutcome};
use crate::platform::{ClientOptions, ErrorKind, PlatformError, RequestCounts};
use crate::secret::Secret;

pub struct AtlanClient {
    target: String,
}

impl AtlanClient {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        target: &str,
        _settings: &AtlanTarget,
        _base_url: Option<&str>,
        _api_key: Secret,
        _options: &ClientOptions,
    ) -> Result<AtlanClient, PlatformError> {
        Ok(AtlanClient {
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
