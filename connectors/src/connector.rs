//! The connector interface every source implements, its error categories, the opaque
//! incremental cursor, and the context (shutdown, progress) a collection runs in.

use std::time::Duration;

use async_trait::async_trait;
use evidence_model::{GapCategory, SourceName};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use crate::sink::{ItemSink, SinkError};

/// A source failed as a whole. Variants are failure categories; messages name the resource and
/// never contain a credential.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectorError {
    #[error("{resource} is unreachable: {detail}")]
    Unreachable { resource: String, detail: String },
    #[error("access to {resource} was denied: {detail}")]
    Denied { resource: String, detail: String },
    #[error("{resource} was not found")]
    NotFound { resource: String },
    #[error("{resource} kept rate limiting after {attempts} attempts")]
    RateLimited { resource: String, attempts: u32 },
    #[error("{resource} did not answer within {timeout:?}")]
    Timeout { resource: String, timeout: Duration },
    #[error("{resource} answered with something unusable: {detail}")]
    InvalidResponse { resource: String, detail: String },
    #[error("{resource}: {source}")]
    Io {
        resource: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the run was interrupted while collecting {resource}")]
    Interrupted { resource: String },
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The cursor the agent saved for this source cannot be decoded (the state file was
    /// edited or damaged): not a configuration problem.
    #[error("the saved cursor is unreadable ({detail})")]
    UnreadableCursor { detail: String },
    #[error(transparent)]
    Sink(#[from] SinkError),
}

impl ConnectorError {
    /// The gap category this failure is recorded under.
    pub fn gap_category(&self) -> GapCategory {
        match self {
            ConnectorError::Unreachable { .. } => GapCategory::Unreachable,
            ConnectorError::Denied { .. } => GapCategory::Denied,
            ConnectorError::NotFound { .. } => GapCategory::NotFound,
            ConnectorError::RateLimited { .. } => GapCategory::RateLimited,
            ConnectorError::Timeout { .. } => GapCategory::Timeout,
            ConnectorError::InvalidResponse { .. } => GapCategory::InvalidResponse,
            ConnectorError::Io { .. } => GapCategory::Io,
            ConnectorError::Interrupted { .. } => GapCategory::Interrupted,
            ConnectorError::Config(_)
            | ConnectorError::UnreadableCursor { .. }
            | ConnectorError::Sink(_) => GapCategory::Other,
        }
    }

    /// True when the run cannot continue at all (the staging area failed).
    pub fn is_fatal(&self) -> bool {
        matches!(self, ConnectorError::Sink(e) if !e.is_item_level())
    }
}

/// A connector's incremental state between runs, stored by the agent as JSON. A connector must
/// only record in it what it has already handed to the sink: the agent saves the cursor after
/// the run's bundle is sealed, whether the connector finished or failed part-way.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Cursor(pub serde_json::Value);

impl Cursor {
    /// Decode the connector's own cursor type; an empty cursor decodes to `T::default()`.
    pub fn load<T: DeserializeOwned + Default>(&self) -> Result<T, ConnectorError> {
        if self.0.is_null() {
            return Ok(T::default());
        }
        serde_json::from_value(self.0.clone()).map_err(|e| ConnectorError::UnreadableCursor {
            detail: e.to_string(),
        })
    }

    /// Replace the cursor with `value`.
    pub fn store<T: Serialize>(&mut self, value: &T) -> Result<(), ConnectorError> {
        self.0 = serde_json::to_value(value)
            .map_err(|e| ConnectorError::Config(format!("cannot save the cursor: {e}")))?;
        Ok(())
    }
}

/// What a healthcheck found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// One line for a person: what was reached and as whom.
    pub detail: String,
}

/// Progress reporting for long collections; the agent draws it as progress bars.
pub trait Progress: Send + Sync {
    /// The number of items (or bytes, see `set_bytes_total`) expected, when known.
    fn set_items_total(&self, total: Option<u64>);
    fn set_bytes_total(&self, total: Option<u64>);
    fn add_items(&self, n: u64);
    fn add_bytes(&self, n: u64);
    /// What the connector is doing now (a repository, a page, a file).
    fn status(&self, message: &str);
    /// The connector is waiting (a rate limit reset, a retry backoff) for `delay`.
    fn waiting(&self, reason: &str, delay: Duration);
}

/// Progress that goes nowhere, for tests and quiet runs.
#[derive(Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn set_items_total(&self, _: Option<u64>) {}
    fn set_bytes_total(&self, _: Option<u64>) {}
    fn add_items(&self, _: u64) {}
    fn add_bytes(&self, _: u64) {}
    fn status(&self, _: &str) {}
    fn waiting(&self, _: &str, _: Duration) {}
}

/// What a collection runs in.
pub struct CollectContext<'a> {
    /// Cancelled when the agent is asked to stop; long loops check it.
    pub shutdown: CancellationToken,
    pub progress: &'a dyn Progress,
    /// `evidence-agent <version>`, for provenance.
    pub agent: String,
}

/// One evidence source.
#[async_trait]
pub trait Connector: Send + Sync {
    /// Connector type: `local`, `github`, `s3`, `jira`, `mlflow`.
    fn connector_type(&self) -> &'static str;

    /// The configured source name.
    fn name(&self) -> &SourceName;

    /// Check credentials and reachability without collecting anything.
    async fn healthcheck(&self) -> Result<Health, ConnectorError>;

    /// Collect new or changed items since `cursor` into `sink`, updating `cursor` as items are
    /// staged. Scopes that fail are recorded with `sink.gap` and the rest continue; an error
    /// return means the source as a whole failed after staging whatever `cursor` now covers.
    async fn collect(
        &self,
        cursor: &mut Cursor,
        sink: &mut dyn ItemSink,
        ctx: &CollectContext<'_>,
    ) -> Result<(), ConnectorError>;
}
