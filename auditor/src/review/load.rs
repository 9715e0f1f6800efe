//! Read the facts of a management-review pack from an engagement (the IO edge of `review`).

use jiff::civil::Date;

use super::{IMPROVEMENT_KINDS, ISSUE_KINDS, PARTY_KINDS, PackFacts};
use crate::engagement::Result;
use crate::engagement::db::Engagement;

/// Everything the pack of a review on `as_of` reads; evidence after that day is left out.
pub fn facts(e: &Engagement, as_of: Date) -> Result<PackFacts> {
    let end_of_day = crate::engagement::days::end_of_day(as_of);
    let mut conclusions = Vec::new();
    for p in e.populations()? {
        if let Some(c) = e.conclusion(&p.name)? {
            let supports = c.supports_reliance();
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
