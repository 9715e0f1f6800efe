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

use crate::rules::Tagging;

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

impl ItemDraft {
    /// Start the draft of an item tagged by `tagging`, unique in its source as `natural_key`,
    /// stored as `file_name` of `media_type`. The title and the reference default to the
    /// natural key; everything else is empty until set.
    pub fn builder(
        tagging: &Tagging,
        natural_key: impl Into<String>,
        file_name: impl Into<String>,
        media_type: impl Into<String>,
    ) -> ItemDraftBuilder {
        let natural_key = natural_key.into();
        ItemDraftBuilder {
            draft: ItemDraft {
                title: natural_key.clone(),
                reference: natural_key.clone(),
                natural_key,
                kind: tagging.kind.clone(),
                url: None,
                controls: tagging.controls.clone(),
                clauses: tagging.clauses.clone(),
                phase: tagging.phase,
                actors: Vec::new(),
                period: None,
                source_time: None,
                file_name: file_name.into(),
                media_type: media_type.into(),
                redactions: Vec::new(),
                endpoint: None,
                query: None,
                attributes: BTreeMap::new(),
                expected_sha256: None,
                expected_size: None,
            },
        }
    }
}

/// Builds an [`ItemDraft`]: `ItemDraft::builder(..).title(..).url(..).build()`.
#[derive(Debug, Clone)]
#[must_use]
pub struct ItemDraftBuilder {
    draft: ItemDraft,
}

impl ItemDraftBuilder {
    /// A short human label (default: the natural key).
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.draft.title = title.into();
        self
    }

    /// The item's reference in the source (default: the natural key).
    pub fn reference(mut self, reference: impl Into<String>) -> Self {
        self.draft.reference = reference.into();
        self
    }

    pub fn url(mut self, url: impl Into<Option<String>>) -> Self {
        self.draft.url = url.into();
        self
    }

    pub fn actors(mut self, actors: Vec<Actor>) -> Self {
        self.draft.actors = actors;
        self
    }

    pub fn period(mut self, period: impl Into<Option<Period>>) -> Self {
        self.draft.period = period.into();
        self
    }

    /// The source system's timestamp for this version.
    pub fn source_time(mut self, time: impl Into<Option<Timestamp>>) -> Self {
        self.draft.source_time = time.into();
        self
    }

    pub fn redactions(mut self, redactions: Vec<Redaction>) -> Self {
        self.draft.redactions = redactions;
        self
    }

    pub fn endpoint(mut self, endpoint: impl Into<Option<String>>) -> Self {
        self.draft.endpoint = endpoint.into();
        self
    }

    pub fn query(mut self, query: impl Into<Option<String>>) -> Self {
        self.draft.query = query.into();
        self
    }

    /// Replace the attributes.
    pub fn attributes(mut self, attributes: BTreeMap<String, serde_json::Value>) -> Self {
        self.draft.attributes = attributes;
        self
    }

    /// Add one attribute.
    pub fn attribute(
        mut self,
        key: impl Into<String>,
        value: impl Into<serde_json::Value>,
    ) -> Self {
        self.draft.attributes.insert(key.into(), value.into());
        self
    }

    /// The SHA-256 the source states for the content.
    pub fn expected_sha256(mut self, digest: impl Into<Option<Sha256Digest>>) -> Self {
        self.draft.expected_sha256 = digest.into();
        self
    }

    /// The length the source states for the content.
    pub fn expected_size(mut self, size: impl Into<Option<u64>>) -> Self {
        self.draft.expected_size = size.into();
        self
    }

    pub fn build(self) -> ItemDraft {
        self.draft
    }
}

/// End a scope (a query, an experiment, a folder, a listing) the one way every connector does:
/// the gap record of what stopped it early, if anything did, then its population record, then
/// `stop` as the scope's result (an interruption or a failure that ends the source), so the
/// records are in the sink before the error leaves the connector.
pub(crate) async fn end_scope(
    sink: &mut dyn ItemSink,
    stopped_by: Option<GapRecord>,
    population: PopulationRecord,
    stop: Option<crate::connector::ConnectorError>,
) -> Result<(), crate::connector::ConnectorError> {
    if let Some(gap) = stopped_by {
        sink.gap(gap).await?;
    }
    sink.population(population).await?;
    match stop {
        Some(e) => Err(e),
        None => Ok(()),
    }
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
    /// The artefact could not be scanned for secrets, so it was not staged: sealing it unscanned
    /// could put a secret into an archive that cannot be changed.
    #[error("{reference} could not be scanned for secrets: {reason}")]
    Unscannable { reference: String, reason: String },
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

    /// The run's keyed pseudonyms (the agent's redaction key), for connectors that must
    /// pseudonymise identities inside what they read (users in event logs).
    fn pseudonymiser(&self) -> Pseudonymiser;
}

/// Turns an identity into its keyed pseudonym (`pseudonym-<16 hex>`) with the agent's
/// redaction key, the same pseudonym `[source.redact] pseudonymise_actors` gives. Cheap to
/// clone and `Send`, so a blocking reader can carry it; never shows the key.
#[derive(Clone, Debug)]
pub struct Pseudonymiser {
    key: evidence_redact::RedactionKey,
}

impl Pseudonymiser {
    /// Pseudonyms under `key`.
    pub fn new(key: evidence_redact::RedactionKey) -> Self {
        Self { key }
    }

    /// The pseudonym of `identity`.
    pub fn pseudonym(&self, identity: &str) -> String {
        self.key.pseudonym(identity)
    }
}
