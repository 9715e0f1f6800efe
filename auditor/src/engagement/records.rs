//! The typed records the engagement stores as JSON text and returns. Stored records are
//! versioned: a field `version` (absent in files written before it existed, read as 1) and
//! `deny_unknown_fields`, so a record written by a newer tool is refused rather than misread.
//! The JSON field names are the ones earlier versions wrote; files they wrote open unchanged.

use evidence_model::Timestamp;
use serde::{Deserialize, Serialize};

use super::evaluate::{PlanSettings, Tally};

/// The version of [`StoredPlan`] and [`StoredEvaluation`] this build writes.
pub const RECORD_VERSION: u32 = 1;

fn version_1() -> u32 {
    1
}

/// A population's plan: the sample size and how it was reached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredPlan {
    #[serde(default = "version_1")]
    pub version: u32,
    /// What the evaluation is later computed with.
    pub settings: PlanSettings,
    /// `n`, at most the population size.
    pub sample_size: u64,
    /// Whether every member is tested (`n = N`).
    pub test_all: bool,
    /// Why this likelihood.
    pub likelihood_reason: String,
    /// Where the settings came from (the audit's, or options given).
    pub settings_source: String,
    /// The statistics' own explanation of the size.
    pub rationale: String,
    /// Per stratum, its share of `n` (empty when not stratified).
    pub allocation: Vec<PlannedStratum>,
    /// The statistics library's plan, in its JSON contract (`evidence-auditor plan --json`).
    pub plan: serde_json::Value,
}

/// One stratum's share of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannedStratum {
    pub stratum: String,
    pub size: u64,
    pub allocated: u64,
}

/// A stored plan with the time it was made (as the sampling record shows it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanView {
    #[serde(flatten)]
    pub plan: StoredPlan,
    pub planned_at: Timestamp,
}

/// The evaluation stored with a conclusion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredEvaluation {
    #[serde(default = "version_1")]
    pub version: u32,
    pub tally: Tally,
    /// The statistics library's evaluation, in its JSON contract (`evaluate --json`).
    pub evaluation: serde_json::Value,
    /// Where the finding reads against the evaluation.
    pub warnings: Vec<String>,
}

/// An evaluation computed from a population's results (not stored as such).
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluated {
    pub population_size: u64,
    pub tally: Tally,
    pub evaluation: evidence_sampling::Evaluation,
    pub supports_reliance: bool,
}

/// One ingest of an archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestRow {
    pub origin: String,
    pub archive: String,
    pub from_run: i64,
    pub to_run: i64,
    pub checkpoint: String,
    pub items_added: i64,
    pub items_already_held: i64,
    pub ingested_at: String,
}

/// A gap the agent recorded (a source it could not read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GapRow {
    pub origin: String,
    pub run: i64,
    pub source: String,
    pub scope: String,
    pub category: String,
    pub message: String,
    pub occurred_at: String,
}

/// A seed commitment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommitmentRow {
    pub commitment: String,
    pub committed_at: Timestamp,
}

/// A revealed seed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeedRow {
    pub secret: String,
    pub beacon: Option<super::seed::Beacon>,
    pub seed: String,
    pub revealed_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plan as the previous version stored it (no `version` field).
    const OLD_PLAN: &str = r#"{"allocation":[],"likelihood_reason":"chosen by the auditor","plan":{"sample_size":59},"rationale":"r","sample_size":59,"settings":{"confidence":"0.95","likelihood":"binomial","population":100,"tolerable":"0.05"},"settings_source":"s","test_all":false}"#;

    #[test]
    fn a_plan_written_by_the_previous_version_reads_as_version_1() {
        let p: StoredPlan = serde_json::from_str(OLD_PLAN).unwrap();
        assert_eq!(p.version, 1);
        assert_eq!(p.sample_size, 59);
        assert_eq!(p.settings.population, 100);
        let again: StoredPlan = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        assert_eq!(again, p);
    }

    #[test]
    fn a_plan_with_a_field_this_version_does_not_know_is_refused() {
        let newer = OLD_PLAN.replacen('{', r#"{"replacement":true,"#, 1);
        assert!(serde_json::from_str::<StoredPlan>(&newer).is_err());
    }

    #[test]
    fn an_evaluation_written_by_the_previous_version_reads() {
        let old = r#"{"evaluation":{"x":1},"tally":{"deviations":0,"not_testable":0,"passed":3,"tested":3},"warnings":[]}"#;
        let e: StoredEvaluation = serde_json::from_str(old).unwrap();
        assert_eq!(e.version, 1);
        assert_eq!(e.tally.passed, 3);
    }
}
