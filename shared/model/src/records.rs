//! Population records (what a source was asked and how much of it was walked, so an auditor can
//! judge completeness) and gap records (a source or scope that could not be read).

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::ids::{Kind, SourceName};

/// Schema tag of population records.
pub const POPULATION_SCHEMA: &str = "evidence-population/1";
/// Schema tag of gap records.
pub const GAP_SCHEMA: &str = "evidence-gap/1";

/// What one source (or one scope of it: a repository and kind, a prefix) was asked in one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PopulationRecord {
    pub schema: String,
    pub connector: String,
    pub source: SourceName,
    /// The scope this record covers: `.` for a whole folder, `acme/model`, a prefix.
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<Kind>,
    /// The query or listing as sent (URL path and parameters, JQL, glob rules).
    pub query: String,
    /// Pages or directory entries walked.
    pub pages_walked: u64,
    /// A total the source reported, where it reports one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_total: Option<u64>,
    /// Items the walk saw in scope.
    pub items_seen: u64,
    /// Items sealed in this run (new or changed).
    pub items_sealed: u64,
    /// Items seen but already sealed by an earlier run.
    pub items_unchanged: u64,
    /// Items the walk met but neither sealed nor counted as seen (out of scope, unreadable, not
    /// finished yet): the sum of `skipped`. Absent (0) in records written before it was kept.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub items_skipped: u64,
    /// `items_skipped` by reason (`other_workflow`, `closed_unmerged`, `workflow_unresolved`, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub skipped: BTreeMap<String, u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark_before: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark_after: Option<String>,
    /// False when the walk stopped early (then a gap record says why).
    pub complete: bool,
    /// Things an auditor should know, e.g. files no rule matched.
    #[serde(default)]
    pub notes: Vec<String>,
    #[serde(default)]
    pub attributes: BTreeMap<String, serde_json::Value>,
}

impl PopulationRecord {
    /// A record for `scope` with zero counts, ready to be filled in by a connector.
    pub fn new(connector: &str, source: SourceName, scope: &str, query: &str) -> Self {
        Self {
            schema: POPULATION_SCHEMA.to_owned(),
            connector: connector.to_owned(),
            source,
            scope: scope.to_owned(),
            kind: None,
            query: query.to_owned(),
            pages_walked: 0,
            source_total: None,
            items_seen: 0,
            items_sealed: 0,
            items_unchanged: 0,
            items_skipped: 0,
            skipped: BTreeMap::new(),
            watermark_before: None,
            watermark_after: None,
            complete: true,
            notes: Vec::new(),
            attributes: BTreeMap::new(),
        }
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Why a source or scope could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GapCategory {
    /// Network failure, DNS, connection refused or reset.
    Unreachable,
    /// 401/403, access denied, missing credentials.
    Denied,
    /// 404 or a missing folder or bucket.
    NotFound,
    /// Retries exhausted on rate limiting.
    RateLimited,
    /// The source answered with something we could not accept (truncated, malformed, bad digest).
    InvalidResponse,
    /// The source did not answer in time.
    Timeout,
    /// A local IO failure.
    Io,
    /// The run was interrupted before this scope finished.
    Interrupted,
    /// A trusted time stamp could not be obtained.
    Untimestamped,
    Other,
}

/// A failure recorded as evidence: the source or scope was not (fully) read in this run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GapRecord {
    pub schema: String,
    pub connector: String,
    pub source: SourceName,
    pub scope: String,
    pub category: GapCategory,
    /// What went wrong, naming the resource; never a secret.
    pub message: String,
    pub occurred_at: Timestamp,
    /// Attempts made before giving up.
    pub attempts: u32,
}

impl GapRecord {
    /// A gap for `scope` of `source`.
    pub fn new(
        connector: &str,
        source: SourceName,
        scope: &str,
        category: GapCategory,
        message: impl Into<String>,
        occurred_at: Timestamp,
    ) -> Self {
        Self {
            schema: GAP_SCHEMA.to_owned(),
            connector: connector.to_owned(),
            source,
            scope: scope.to_owned(),
            category,
            message: message.into(),
            occurred_at,
            attempts: 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_written_before_the_skipped_count_still_reads_and_new_ones_round_trip() {
        let old = r#"{"schema":"evidence-population/1","connector":"github","source":"gh","scope":"acme/model workflows","query":"GET /repos/acme/model/actions/runs","pages_walked":1,"items_seen":0,"items_sealed":0,"items_unchanged":0,"complete":true}"#;
        let r: PopulationRecord = serde_json::from_str(old).unwrap();
        assert_eq!(r.items_skipped, 0);
        assert!(r.skipped.is_empty());
        assert!(
            !serde_json::to_string(&r).unwrap().contains("skipped"),
            "records without skips are written as before"
        );
        let mut r = r;
        r.items_skipped = 3;
        r.skipped.insert("other_workflow".into(), 3);
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<PopulationRecord>(&text).unwrap(), r);
    }
}
