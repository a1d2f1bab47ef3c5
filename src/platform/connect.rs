//! Client for the connect API (see ../shared/contracts/connect.md). Stub: to be implemented.

use crate::manifest::{ConnectTarget, Resource};
use crate::model::{DesiredObject, LiveState, WriteOp, WriteOutcome};
use crate::platform::{ClientOptions, ErrorKind, PlatformError, RequestCounts};
use crate::secret::Secret;

pub struct ConnectClient {
    target: String,
}

impl ConnectClient {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        target: &str,
        _settings: &ConnectTarget,
        _base_url: Option<&str>,
        _client_id: String,
        _client_secret: Secret,
        _options: &ClientOptions,
    ) -> Result<ConnectClient, PlatformError> {
        Ok(ConnectClient {
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
