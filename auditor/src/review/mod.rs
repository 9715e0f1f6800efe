//! The management-review pack (ISO/IEC 42001 9.3): exactly the inputs of 9.3.2 — a) status of
//! actions from previous reviews; b) changes in external and internal issues; c) changes in
//! needs and expectations of interested parties; d) AIMS performance trends in 1)
//! nonconformities and corrective actions, 2) monitoring and measurement results, 3) audit
//! results; e) opportunities for continual improvement — computed from an engagement.
//!
//! - this module: the pack's data and [`compute`] (pure: the facts and the day passed in).
//! - `load`: reading those facts from an engagement.
//! - `render`: the self-contained HTML page (inline SVG charts, prints to PDF) and the XLSX.
//!
//! Architecture invariant: the pack names the checkpoints it was built from and reads no clock,
//! so the same engagement and day give the same bytes.

pub mod load;
pub mod render;

use std::collections::BTreeMap;

use jiff::civil::Date;
use serde::Serialize;

use crate::engagement::evaluate::Finding;
use crate::engagement::improvement::{ActionRecord, FindingRecord, utc_date};
use crate::engagement::review_records::{Decision, ReviewRecord};
use crate::readiness::compute::{CheckpointFact, EvidenceGroup, GapFact};

/// Kinds whose items evidence input b): external and internal issues (4.1), changes (6.3), risks.
pub const ISSUE_KINDS: [&str; 3] = [
    "aims_scope_context",
    "aims_change_plan",
    "risk_register_entry",
];
/// Kinds whose items evidence input c): needs and expectations of interested parties (4.2).
pub const PARTY_KINDS: [&str; 4] = [
    "aims_scope_context",
    "concern_report",
    "external_report",
    "customer_agreement",
];
/// Kinds whose items evidence input e): improvement actions already recorded (10.1).
pub const IMPROVEMENT_KINDS: [&str; 2] = ["corrective_action_ticket", "management_review_minutes"];

/// The monitoring and measurement series of input d2), each a set of kinds.
pub const MONITORING_SERIES: [(&str, &[&str]); 3] = [
    ("Incidents", &["incident_ticket", "post_incident_review"]),
    (
        "Model training and evaluation runs",
        &["training_run", "ci_run", "data_quality_report"],
    ),
    (
        "Monitoring records",
        &["monitoring_alert", "event_log", "human_oversight_record"],
    ),
];

/// An archive item a pack input cites.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CitedItem {
    pub item_id: String,
    pub origin: String,
    pub sha256: String,
    pub kind: String,
    pub title: String,
    /// `YYYY-MM-DD`.
    pub date: String,
}

/// What the engagement holds, read for one pack.
#[derive(Debug, Clone, Default)]
pub struct PackFacts {
    pub reviews: Vec<ReviewRecord>,
    pub decisions: Vec<Decision>,
    pub findings: Vec<FindingRecord>,
    pub actions: Vec<ActionRecord>,
    /// Audit ids in cycle order.
    pub audits: Vec<String>,
    /// Per audit: (population, finding label, supports reliance).
    pub conclusions: Vec<(String, String, String, bool)>,
    pub groups: Vec<EvidenceGroup>,
    pub gaps: Vec<GapFact>,
    pub checkpoints: Vec<CheckpointFact>,
    /// Items of the kinds in [`ISSUE_KINDS`], [`PARTY_KINDS`] and [`IMPROVEMENT_KINDS`].
    pub cited: Vec<CitedItem>,
}

/// a) One decision of an earlier review and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DecisionStatus {
    pub decision: Decision,
    /// `open`, `overdue` or `closed`.
    pub status: String,
}

/// d1) Nonconformities and corrective actions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Nonconformities {
    /// (audit, category label, count), in audit then category order.
    pub by_audit: Vec<(String, String, u64)>,
    /// (action id, finding, status, age in days, due, owner) of every action.
    pub actions: Vec<(String, String, String, i64, String, String)>,
    pub open: u64,
    pub overdue: u64,
    pub closed: u64,
    /// Nonconformities without a planned action.
    pub unplanned: Vec<String>,
}

/// d2) Monitoring and measurement: a count per month for each series, and collection gaps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Monitoring {
    /// `YYYY-MM`, oldest first.
    pub months: Vec<String>,
    /// (series name, count per month).
    pub series: Vec<(String, Vec<u64>)>,
    pub gaps: Vec<u64>,
}

/// d3) One audit's results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditResult {
    pub audit: String,
    pub populations: u64,
    pub supported: u64,
    /// (category label, count) for every category.
    pub findings: Vec<(String, u64)>,
}

/// The pack: the period it covers and the five inputs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pack {
    pub review: String,
    pub as_of: Date,
    /// The day after the previous review, or the first evidence month.
    pub since: Option<Date>,
    pub a_previous_decisions: Vec<DecisionStatus>,
    pub b_issues: Vec<CitedItem>,
    pub c_interested_parties: Vec<CitedItem>,
    pub d1_nonconformities: Nonconformities,
    pub d2_monitoring: Monitoring,
    pub d3_audits: Vec<AuditResult>,
    pub e_improvement_findings: Vec<(String, String, String)>,
    pub e_improvement_items: Vec<CitedItem>,
    pub checkpoints: Vec<CheckpointFact>,
}

/// Compute the pack of review `review` on `as_of` (pure).
pub fn compute(review: &str, as_of: Date, f: &PackFacts) -> Pack {
    let since = f
        .reviews
        .iter()
        .filter(|r| r.id != review && r.held_on < as_of)
        .map(|r| r.held_on)
        .max()
        .map(|d| d.tomorrow().unwrap_or(d));
    let in_period = |date: &str| {
        date.parse::<Date>()
            .is_ok_and(|d| d <= as_of && since.is_none_or(|s| d >= s))
    };
    let cite = |kinds: &[&str]| -> Vec<CitedItem> {
        f.cited
            .iter()
            .filter(|c| kinds.contains(&c.kind.as_str()) && in_period(&c.date))
            .cloned()
            .collect()
    };
    Pack {
        review: review.to_owned(),
        as_of,
        since,
        a_previous_decisions: previous_decisions(review, as_of, f),
        b_issues: cite(&ISSUE_KINDS),
        c_interested_parties: cite(&PARTY_KINDS),
        d1_nonconformities: nonconformities(f, as_of),
        d2_monitoring: monitoring(f, as_of, since),
        d3_audits: audit_results(f, as_of),
        e_improvement_findings: f
            .findings
            .iter()
            .filter(|x| {
                matches!(
                    x.category,
                    Finding::OpportunityForImprovement | Finding::Observation
                ) && utc_date(x.recorded_at) <= as_of
            })
            .map(|x| {
                (
                    x.id.clone(),
                    x.category.label().to_owned(),
                    x.statement.clone(),
                )
            })
            .collect(),
        e_improvement_items: cite(&IMPROVEMENT_KINDS),
        checkpoints: f.checkpoints.clone(),
    }
}

fn previous_decisions(review: &str, as_of: Date, f: &PackFacts) -> Vec<DecisionStatus> {
    let earlier: Vec<&str> = f
        .reviews
        .iter()
        .filter(|r| r.id != review && r.held_on <= as_of)
        .map(|r| r.id.as_str())
        .collect();
    f.decisions
        .iter()
        .filter(|d| earlier.contains(&d.review.as_str()))
        .map(|d| DecisionStatus {
            decision: d.clone(),
            status: d.status(as_of).to_owned(),
        })
        .collect()
}

fn nonconformities(f: &PackFacts, as_of: Date) -> Nonconformities {
    let mut n = Nonconformities::default();
    let mut counts: BTreeMap<(usize, String), u64> = BTreeMap::new();
    for x in f
        .findings
        .iter()
        .filter(|x| utc_date(x.recorded_at) <= as_of)
    {
        let order = f
            .audits
            .iter()
            .position(|a| *a == x.audit)
            .unwrap_or(usize::MAX);
        *counts
            .entry((order, x.category.label().to_owned()))
            .or_default() += 1;
        if x.needs_action() && !f.actions.iter().any(|a| a.finding == x.id) {
            n.unplanned.push(x.id.clone());
        }
    }
    n.by_audit = counts
        .into_iter()
        .map(|((order, category), count)| {
            let audit = f.audits.get(order).cloned().unwrap_or_default();
            (audit, category, count)
        })
        .collect();
    for a in f.actions.iter().filter(|a| utc_date(a.created_at) <= as_of) {
        let status = a.status(as_of);
        match status {
            crate::engagement::improvement::ActionStatus::Closed => n.closed += 1,
            crate::engagement::improvement::ActionStatus::Overdue => n.overdue += 1,
            _ => n.open += 1,
        }
        n.actions.push((
            a.id.clone(),
            a.finding.clone(),
            status.label().to_owned(),
            a.age_days(as_of),
            a.due.to_string(),
            a.owner.clone(),
        ));
    }
    n
}

/// The months from `since` (or the first evidence month) to `as_of`, at most 24.
fn months(f: &PackFacts, as_of: Date, since: Option<Date>) -> Vec<String> {
    let last = format!("{:04}-{:02}", as_of.year(), as_of.month());
    let first = since
        .map(|s| format!("{:04}-{:02}", s.year(), s.month()))
        .or_else(|| f.groups.iter().map(|g| g.month.clone()).min())
        .unwrap_or_else(|| last.clone());
    let mut out = Vec::new();
    let mut day = format!("{first}-01").parse::<Date>().unwrap_or(as_of);
    while out.len() < 240 {
        let m = format!("{:04}-{:02}", day.year(), day.month());
        if m > last {
            break;
        }
        out.push(m);
        day = day
            .checked_add(jiff::Span::new().months(1))
            .unwrap_or(as_of.last_of_month());
    }
    let keep = out.len().saturating_sub(24);
    out.split_off(keep)
}

fn monitoring(f: &PackFacts, as_of: Date, since: Option<Date>) -> Monitoring {
    let months = months(f, as_of, since);
    let index = |m: &str| months.iter().position(|x| x == m);
    let series = MONITORING_SERIES
        .iter()
        .map(|(name, kinds)| {
            let mut counts = vec![0; months.len()];
            for g in f.groups.iter().filter(|g| kinds.contains(&g.kind.as_str())) {
                if let Some(i) = index(&g.month) {
                    counts[i] += g.count;
                }
            }
            ((*name).to_owned(), counts)
        })
        .collect();
    let mut gaps = vec![0; months.len()];
    for g in &f.gaps {
        let d = utc_date(g.occurred_at);
        if let Some(i) = index(&format!("{:04}-{:02}", d.year(), d.month())) {
            gaps[i] += 1;
        }
    }
    Monitoring {
        months,
        series,
        gaps,
    }
}

fn audit_results(f: &PackFacts, as_of: Date) -> Vec<AuditResult> {
    f.audits
        .iter()
        .map(|audit| {
            let concluded: Vec<_> = f.conclusions.iter().filter(|c| c.0 == *audit).collect();
            AuditResult {
                audit: audit.clone(),
                populations: concluded.len() as u64,
                supported: concluded.iter().filter(|c| c.3).count() as u64,
                findings: Finding::ALL
                    .iter()
                    .map(|(label, category)| {
                        let n = f
                            .findings
                            .iter()
                            .filter(|x| {
                                x.audit == *audit
                                    && x.category == *category
                                    && utc_date(x.recorded_at) <= as_of
                            })
                            .count();
                        ((*label).to_owned(), n as u64)
                    })
                    .collect(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
