//! Evidence sources behind one trait. A connector walks its source, streams each artefact into
//! an [`ItemSink`] with a draft of its metadata, reports what it walked as population records and
//! what it could not read as gap records, and keeps an incremental cursor. Connectors know nothing
//! about the archive format: the agent's sink stages items and the archive crate seals them.

pub mod config;
pub mod config_error;
pub mod connector;
pub mod front_matter;
pub mod http;
pub mod media_type;
pub mod read_ahead;
pub mod redact;
pub mod redaction;
pub mod rules;
pub mod secret;
pub mod sink;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

#[cfg(feature = "events")]
pub mod events;
#[cfg(feature = "github")]
pub mod github;
#[cfg(feature = "jira")]
pub mod jira;
#[cfg(feature = "local")]
pub mod local;
#[cfg(feature = "mlflow")]
pub mod mlflow;
#[cfg(feature = "s3")]
pub mod s3;

pub use config::{ConnectorConfig, SourceConfig};
pub use config_error::ConfigError;
pub use connector::{
    CollectContext, Connector, ConnectorError, Cursor, CursorState, Health, Progress,
    VersionedCursor,
};
pub use redaction::RedactConfig;
pub use rules::{Rule, RuleConfig, RuleSet, Tagging, TaggingConfig};
pub use secret::Secret;
pub use sink::{ItemDraft, ItemDraftBuilder, ItemSink, Pseudonymiser, SinkError, StagedItem};

/// Version of the connectors, recorded in item provenance.
pub const CONNECTORS_VERSION: &str = env!("CARGO_PKG_VERSION");
