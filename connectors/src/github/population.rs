//! Counting what one walk of one repository and kind saw, and turning the count into the
//! population record an auditor reads to judge completeness. Pure: no IO.

use std::collections::BTreeMap;

use evidence_model::{Kind, PopulationRecord, SourceName, Timestamp};

/// What a walk saw, sealed and skipped.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Tally {
    pub pages_walked: u64,
    /// Items in scope the walk saw (new, changed or already sealed).
    pub seen: u64,
    pub sealed: u64,
    pub unchanged: u64,
    /// Items the walk saw that are out of scope (e.g. closed without merging), by reason.
    pub skipped: BTreeMap<&'static str, u64>,
    /// Items that could not be read (each has a gap record).
    pub failed: u64,
    /// GitHub answered 304: nothing changed since the last run.
    pub not_modified: bool,
    /// False when the walk stopped early.
    pub complete: bool,
    pub source_total: Option<u64>,
    pub notes: Vec<String>,
    pub watermark_before: Option<Timestamp>,
    pub watermark_after: Option<Timestamp>,
    pub attributes: BTreeMap<String, serde_json::Value>,
}

impl Tally {
    /// A tally for a walk that has not started yet.
    pub(crate) fn new() -> Self {
        Self {
            complete: true,
            ..Self::default()
        }
    }

    /// Count one item out of scope for `reason`.
    pub(crate) fn skip(&mut self, reason: &'static str) {
        *self.skipped.entry(reason).or_default() += 1;
    }

    /// The walk stopped early, for `why`.
    pub(crate) fn incomplete(&mut self, why: impl Into<String>) {
        self.complete = false;
        self.notes.push(why.into());
    }

    /// The population record of this walk.
    pub(crate) fn record(
        &self,
        source: SourceName,
        scope: &str,
        kind: &Kind,
        query: &str,
    ) -> PopulationRecord {
        let mut r = PopulationRecord::new("github", source, scope, query);
        r.kind = Some(kind.clone());
        r.pages_walked = self.pages_walked;
        r.source_total = self.source_total;
        r.items_seen = self.seen;
        r.items_sealed = self.sealed;
        r.items_unchanged = self.unchanged;
        r.watermark_before = self.watermark_before.map(|t| t.to_string());
        r.watermark_after = self.watermark_after.map(|t| t.to_string());
        r.complete = self.complete && self.failed == 0;
        r.notes = self.notes.clone();
        if self.not_modified {
            r.notes.push(
                "GitHub answered 304 Not Modified: nothing changed since the last run".into(),
            );
        }
        if self.failed > 0 {
            r.notes.push(format!(
                "{} item(s) could not be read; each has a gap record and is fetched again next run",
                self.failed
            ));
        }
        r.attributes = self.attributes.clone();
        r.attributes
            .insert("not_modified".into(), self.not_modified.into());
        r.attributes.insert("failed".into(), self.failed.into());
        for (reason, n) in &self.skipped {
            r.attributes
                .insert(format!("skipped_{reason}"), (*n).into());
            r.skipped.insert((*reason).to_owned(), *n);
        }
        r.items_skipped = self.skipped.values().sum();
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(t: &Tally) -> PopulationRecord {
        t.record(
            "gh".parse().unwrap(),
            "acme/model",
            &"pr_approval".parse().unwrap(),
            "GET /repos/acme/model/pulls",
        )
    }

    #[test]
    fn a_finished_walk_reports_its_counts_and_watermarks() {
        let mut t = Tally::new();
        t.pages_walked = 3;
        t.seen = 250;
        t.sealed = 240;
        t.skip("closed_unmerged");
        t.watermark_after = Some("2026-03-31T12:00:00Z".parse().unwrap());
        let r = record(&t);
        assert!(r.complete);
        assert_eq!(
            (r.pages_walked, r.items_seen, r.items_sealed),
            (3, 250, 240)
        );
        assert_eq!(r.attributes["skipped_closed_unmerged"], 1);
        assert_eq!(r.items_skipped, 1);
        assert_eq!(r.skipped["closed_unmerged"], 1);
        assert_eq!(r.watermark_after.as_deref(), Some("2026-03-31T12:00:00Z"));
        assert_eq!(r.kind.unwrap().as_str(), "pr_approval");
    }

    #[test]
    fn a_failed_item_makes_the_population_incomplete_and_says_so() {
        let mut t = Tally::new();
        t.failed = 1;
        let r = record(&t);
        assert!(!r.complete);
        assert!(r.notes.iter().any(|n| n.contains("gap record")));
    }

    #[test]
    fn an_unchanged_listing_is_complete_and_noted() {
        let mut t = Tally::new();
        t.not_modified = true;
        let r = record(&t);
        assert!(r.complete);
        assert_eq!(r.attributes["not_modified"], true);
    }
}
