//! The run record (`data/run.json`): which sources a run asked, how each fared, and what it
//! sealed. Present in every bundle, so a run that found nothing new still shows the agent ran.

use evidence_model::{SourceName, Timestamp};
use serde::{Deserialize, Serialize};

/// Schema tag of run records.
pub const RUN_SCHEMA: &str = "evidence-run/1";

/// How one source fared in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceStatus {
    /// Everything in scope was read.
    Ok,
    /// Some scopes were read, others are recorded as gaps.
    Partial,
    /// Nothing could be read; a gap record says why.
    Failed,
}

/// One source's line in the run record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSummary {
    pub name: SourceName,
    pub connector: String,
    pub status: SourceStatus,
    /// Items sealed in this run.
    pub items: u64,
    /// Artefact bytes sealed in this run.
    pub bytes: u64,
    /// Gap records written for this source.
    pub gaps: u64,
    /// The redaction policy applied to this source's items (absent in runs sealed before
    /// redaction existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redaction: Option<RedactionPolicy>,
}

/// What a run recorded about the redaction applied to one source: an auditor can see that it
/// was on, which rules at which versions, and what it did, not only that it was configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactionPolicy {
    /// Version of this description's meaning.
    pub format: u32,
    /// Whether the secret rules were on (they are unless the source turned them off).
    pub secrets: bool,
    /// Whether the personal-data rules were on.
    pub personal: bool,
    /// The rules applied, as `id@version`.
    pub rules: Vec<String>,
    /// How many allow-listed values there were (the values are not recorded).
    pub allowed_values: u64,
    /// Whether actor identities were replaced by keyed pseudonyms.
    pub pseudonymise_actors: bool,
    /// Values replaced in this run's items.
    pub replaced: u64,
    /// Items whose artefact was left unscanned because its media type is binary.
    pub binary_items: u64,
}

/// The run record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRecord {
    pub schema: String,
    pub origin: String,
    pub seq: u64,
    /// When the run started; also the `collected` time of every item it sealed.
    pub started_at: Timestamp,
    /// When the sources had all been read, just before sealing.
    pub finished_at: Timestamp,
    /// `evidence-agent <version>`.
    pub agent: String,
    pub sources: Vec<SourceSummary>,
}
