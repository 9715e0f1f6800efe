//! What the MLflow connector remembers between runs: per experiment a watermark and the runs
//! sealed within the overlap window, and the fingerprint of every sealed model version.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::connector::CursorState;

/// What the connector remembers between runs.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct MlflowCursor {
    /// Per experiment id.
    #[serde(default)]
    pub(super) experiments: BTreeMap<String, ExperimentCursor>,
    /// `name/version` → fingerprint of the sealed state (see `models::version_fingerprint`).
    #[serde(default)]
    pub(super) model_versions: BTreeMap<String, String>,
}

/// Layout 1; cursors stored before versioning have the same layout.
impl CursorState for MlflowCursor {
    const VERSION: u32 = 1;
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(super) struct ExperimentCursor {
    /// Every finished run with an end time before this (ms) has been sealed.
    #[serde(default)]
    pub(super) watermark_ms: Option<i64>,
    /// Runs sealed within the overlap window, id → end time (ms), for de-duplication.
    #[serde(default)]
    pub(super) runs: BTreeMap<String, i64>,
}

/// The `runs/search` filter for an experiment's increment.
pub(super) fn runs_filter(watermark_ms: Option<i64>, overlap_ms: i64) -> String {
    match watermark_ms {
        Some(w) => format!(
            "attributes.end_time >= {}",
            w.saturating_sub(overlap_ms).max(0)
        ),
        None => String::new(),
    }
}

/// The next watermark: the latest end time sealed, but never past a run that failed (it must
/// be retried next time).
pub(super) fn next_watermark(
    previous: Option<i64>,
    sealed_max: Option<i64>,
    failed_min: Option<i64>,
) -> Option<i64> {
    let advanced = match (previous, sealed_max) {
        (Some(p), Some(s)) => Some(p.max(s)),
        (p, s) => p.or(s),
    };
    match (advanced, failed_min) {
        (Some(a), Some(f)) => Some(a.min(f)),
        (a, None) => a,
        (None, Some(_)) => previous,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_search_has_no_filter_and_later_ones_start_before_the_watermark() {
        assert_eq!(runs_filter(None, 1000), "");
        assert_eq!(runs_filter(Some(5000), 1000), "attributes.end_time >= 4000");
        assert_eq!(runs_filter(Some(500), 1000), "attributes.end_time >= 0");
    }

    #[test]
    fn the_watermark_advances_to_the_latest_sealed_run_but_not_past_a_failed_one() {
        assert_eq!(next_watermark(None, Some(10), None), Some(10));
        assert_eq!(next_watermark(Some(20), Some(10), None), Some(20));
        assert_eq!(next_watermark(Some(5), Some(30), Some(12)), Some(12));
        assert_eq!(next_watermark(None, None, Some(12)), None);
        assert_eq!(next_watermark(Some(5), None, None), Some(5));
    }
}
