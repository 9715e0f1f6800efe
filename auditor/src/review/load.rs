//! Read the facts of a management-review pack from an engagement (the IO edge of `review`).

use evidence_model::Timestamp;
use jiff::civil::Date;

use super::{IMPROVEMENT_KINDS, ISSUE_KINDS, PARTY_KINDS, PackFacts};
use crate::engagement::Result;
use crate::engagement::db::Engagement;

/// Everything the pack of a review on `as_of` reads; evidence after that day is left out.
pub fn facts(e: &Engagement, as_of: Date) -> Result<PackFacts> {
    let end_of_day: Timestamp = as_of
        .tomorrow()
        .ok()
        .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map_or(Timestamp::MAX, |z| {
            z.timestamp() - jiff::SignedDuration::from_secs(1)
        });
    let mut conclusions = Vec::new();
    for p in e.populations()? {
        if let Some(c) = e.conclusion(&p.name)? {
            let supports = c
                .evaluation
                .evaluation
                .get("supports_reliance")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false);
            if c.concluded_at <= end_of_day {
                conclusions.push((p.audit.clone(), p.name.clone(), c.finding.clone(), supports));
            }
        }
    }
    let mut kinds: Vec<&str> = ISSUE_KINDS
        .iter()
        .chain(&PARTY_KINDS)
        .chain(&IMPROVEMENT_KINDS)
        .copied()
        .collect();
    kinds.sort_unstable();
    kinds.dedup();
    Ok(PackFacts {
        reviews: e.reviews()?,
        decisions: e.decisions()?,
        findings: e.findings()?,
        actions: e.actions()?,
        audits: e.audits()?.into_iter().map(|a| a.id).collect(),
        conclusions,
        groups: e.readiness_groups(end_of_day)?,
        gaps: e
            .readiness_gaps()?
            .into_iter()
            .filter(|g| g.occurred_at <= end_of_day)
            .collect(),
        checkpoints: e.readiness_checkpoints()?,
        cited: e.cited_items(&kinds)?,
    })
}
