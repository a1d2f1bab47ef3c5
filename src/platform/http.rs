//! The one HTTP layer under every platform client: retries with backoff and `Retry-After`,
//! a client-side rate limiter and concurrency bound per target, redacted debug logging and
//! request counting.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Requests made, per `METHOD route` (ids in paths replaced by placeholders).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RequestCounts {
    pub total: u64,
    pub by_endpoint: BTreeMap<String, u64>,
}
