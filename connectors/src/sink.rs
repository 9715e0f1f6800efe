//! The sink a connector streams items into, and the draft metadata it hands over with each one.
//! The sink computes the digest while it stages the bytes, derives the item id from it, and
//! completes the metadata record; a connector never writes the archive itself.

use std::collections::BTreeMap;

use async_trait::async_trait;
use evidence_model::{
    Actor, ClauseId, ControlId, GapRecord, ItemId, Kind, Period, Phase, PopulationRecord,
    Redaction, Sha256Digest, Timestamp,
};
use tokio::io::AsyncRead;

/// What a connector knows about an item before its bytes are staged.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemDraft {
    /// Unique within the source across versions: a relative path, `owner/repo#123`, `AIOPS-42`.
    pub natural_key: String,
    pub kind: Kind,
    /// A short human label.
    pub title: String,
    /// The item's reference in the source (often the natural key).
    pub reference: String,
    pub url: Option<String>,
    pub controls: Vec<ControlId>,
    pub clauses: Vec<ClauseId>,
    pub phase: Phase,
    pub actors: Vec<Actor>,
    pub period: Option<Period>,
    /// The source system's timestamp for this version.
    pub source_time: Option<Timestamp>,
    /// File name for the artefact inside the item (sanitised by the sink).
    pub file_name: String,
    pub media_type: String,
    pub redactions: Vec<Redaction>,
    pub endpoint: Option<String>,
    pub query: Option<String>,
    pub attributes: BTreeMap<String, serde_json::Value>,
    /// When the source states the content's SHA-256 (an artifact digest, a checksum header),
    /// the sink refuses bytes that do not match it.
    pub expected_sha256: Option<Sha256Digest>,
    /// When the source states the content length, the sink refuses a shorter or longer body.
    pub expected_size: Option<u64>,
}

/// An item the sink has staged for this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedItem {
    pub id: ItemId,
    pub sha256: Sha256Digest,
    pub size: u64,
}

/// The sink could not take an item.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// The body did not match the digest or length the source stated (a truncated or corrupted
    /// transfer). Nothing was staged.
    #[error(
        "{what} of {reference} does not match the source: expected {expected}, received {actual}"
    )]
    TransferMismatch {
        reference: String,
        what: &'static str,
        expected: String,
        actual: String,
    },
    /// Reading the body failed part-way. Nothing was staged.
    #[error("reading {reference} failed after {bytes} bytes: {source}")]
    Body {
        reference: String,
        bytes: u64,
        #[source]
        source: std::io::Error,
    },
    /// The item could not be described (e.g. a float in its attributes).
    #[error("item {reference} has invalid metadata: {reason}")]
    InvalidMetadata { reference: String, reason: String },
    /// The staging area failed (disk full, permissions). The run cannot continue.
    #[error("staging area: {0}")]
    Staging(String),
}

impl SinkError {
    /// True when the failure concerns this one item (record a gap, carry on); false when the
    /// staging area itself failed and the run must stop.
    pub fn is_item_level(&self) -> bool {
        !matches!(self, SinkError::Staging(_))
    }
}

/// Where a connector puts what it collects. Implemented by the agent's staging area.
#[async_trait]
pub trait ItemSink: Send {
    /// Stream `body` into the run's staging area with its metadata. Returns the staged item's id
    /// and digest. Memory use does not depend on the body's size.
    async fn put(
        &mut self,
        draft: ItemDraft,
        body: &mut (dyn AsyncRead + Unpin + Send),
    ) -> Result<StagedItem, SinkError>;

    /// Remove an item staged earlier in this run, e.g. because it turned out to be unchanged.
    async fn discard(&mut self, id: &ItemId) -> Result<(), SinkError>;

    /// Record what a source or scope was asked and how much of it was walked.
    async fn population(&mut self, record: PopulationRecord) -> Result<(), SinkError>;

    /// Record a source or scope that could not be read.
    async fn gap(&mut self, record: GapRecord) -> Result<(), SinkError>;

    /// The run's collection time (pinned by `SOURCE_DATE_EPOCH` when set).
    fn collected_at(&self) -> Timestamp;
}
