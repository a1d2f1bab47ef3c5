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
