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
