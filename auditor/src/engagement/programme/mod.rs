//! The internal audit programme (ISO/IEC 42001 9.2.2) over a certification cycle: which
//! requirements each planned audit covers, how often each must be covered (every cycle; every
//! year when marked high-risk or after a nonconformity), what is uncovered, what is overdue, and
//! the impartiality of each audit's auditors against the SoA's owners. Pure: facts and the day
//! are passed in.
//!
//! - `store`: the programme's settings and planned audits, each change in one transaction.

pub mod store;

use std::collections::BTreeSet;

use evidence_model::{Catalogue, Timestamp};
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

/// The programme's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub cycle_start: Date,
    /// Years in the cycle (3 for ISO/IEC 17021-1 certification).
    pub years: u8,
    /// Requirements audited every year.
    pub high_risk: Vec<String>,
    /// When the programme was last approved as complete, if ever.
    pub approved_on: Option<Date>,
}

impl Settings {
    /// The cycle year (1-based) `day` falls in, if inside the cycle.
    pub fn year_of(&self, day: Date) -> Option<u8> {
        (1..=self.years).find(|y| {
            let start = self.year_start(*y);
            let end = self.year_start(y + 1);
            start <= day && day < end
        })
    }

    fn year_start(&self, year: u8) -> Date {
        self.cycle_start
            .saturating_add(jiff::Span::new().years(i64::from(year) - 1))
    }
}

/// A planned internal audit: objectives, criteria, scope and auditors (9.2.2 b–c).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedAudit {
    pub id: String,
    pub planned_on: Date,
    /// Requirement ids or groups: `A.6.2.6`, `A.6` (every control under it), `9` (clause 9
    /// and its sub-clauses).
    pub covers: Vec<String>,
    pub objectives: String,
    pub criteria: String,
    pub scope: String,
    pub auditors: Vec<String>,
    pub performed_on: Option<Date>,
    pub recorded_at: Timestamp,
}

impl PlannedAudit {
    /// Whether this audit covers requirement `id` (itself or a group it belongs to).
    pub fn covers(&self, id: &str) -> bool {
        self.covers.iter().any(|c| covers(c, id))
    }

    /// Planned before `day` and not recorded as performed.
    pub fn overdue(&self, day: Date) -> bool {
        self.performed_on.is_none() && self.planned_on < day
    }
}

/// Whether entry `entry` (an id or a group) covers requirement `id`.
pub fn covers(entry: &str, id: &str) -> bool {
    id == entry
        || id
            .strip_prefix(entry)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// Every requirement the programme must cover: the applicable Annex A controls and the
/// assessable clauses 4–10.
pub fn requirements(applicable_controls: &BTreeSet<String>) -> Vec<String> {
    let c = Catalogue::iso42001();
    c.controls()
        .map(|x| x.id.clone())
        .filter(|id| applicable_controls.contains(id))
        .chain(c.clauses().filter(|x| x.assessable).map(|x| x.id.clone()))
        .collect()
}

/// Is `entry` a control, a clause, or a group of them?
pub fn known(entry: &str) -> bool {
    let c = Catalogue::iso42001();
    c.controls().any(|x| covers(entry, &x.id)) || c.clauses().any(|x| covers(entry, &x.id))
}

/// One requirement's place in the programme.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequirementPlan {
    pub id: String,
    /// `every-cycle`, `yearly (high-risk)` or `yearly (nonconformity)`.
    pub frequency: String,
    /// The audits covering it, with their cycle year.
    pub audits: Vec<(String, u8)>,
    /// Cycle years in which it must be covered (yearly frequencies) and is not.
    pub missing_years: Vec<u8>,
    /// Covered as its frequency requires: in some year of the cycle, and in every year it must.
    pub satisfied: bool,
}

/// The programme as it stands on a day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProgrammeView {
    pub settings: Settings,
    pub year: Option<u8>,
    pub rows: Vec<RequirementPlan>,
    /// Requirements not covered as their frequency requires.
    pub uncovered: Vec<String>,
    /// Planned audits past their date and not performed.
    pub overdue: Vec<String>,
}

/// Compute the programme: per requirement, the audits covering it and the years it lacks.
/// `nonconformities` are (requirement, date) of nonconformity findings: a requirement with one
/// must be covered in every later year of the cycle.
pub fn view(
    settings: &Settings,
    audits: &[PlannedAudit],
    requirements: &[String],
    nonconformities: &[(String, Date)],
    day: Date,
) -> ProgrammeView {
    let mut rows = Vec::new();
    for id in requirements {
        let covering: Vec<(String, u8)> = audits
            .iter()
            .filter(|a| a.covers(id))
            .filter_map(|a| Some((a.id.clone(), settings.year_of(a.planned_on)?)))
            .collect();
        let high = settings.high_risk.iter().any(|h| covers(h, id));
        let nc_year = nonconformities
            .iter()
            .filter(|(r, _)| covers(r, id) || covers(id, r))
            .filter_map(|(_, d)| settings.year_of(*d))
            .min();
        let (frequency, required): (&str, Vec<u8>) = if high {
            ("yearly (high-risk)", (1..=settings.years).collect())
        } else if let Some(y) = nc_year.filter(|y| *y < settings.years) {
            ("yearly (nonconformity)", (y + 1..=settings.years).collect())
        } else {
            ("every cycle", Vec::new())
        };
        let years: BTreeSet<u8> = covering.iter().map(|(_, y)| *y).collect();
        let missing: Vec<u8> = required
            .into_iter()
            .filter(|y| !years.contains(y))
            .collect();
        rows.push(RequirementPlan {
            id: id.clone(),
            frequency: frequency.to_owned(),
            satisfied: !years.is_empty() && missing.is_empty(),
            audits: covering,
            missing_years: missing,
        });
    }
    ProgrammeView {
        settings: settings.clone(),
        year: settings.year_of(day),
        uncovered: rows
            .iter()
            .filter(|r| !r.satisfied)
            .map(|r| r.id.clone())
            .collect(),
        rows,
        overdue: audits
            .iter()
            .filter(|a| a.overdue(day))
            .map(|a| a.id.clone())
            .collect(),
    }
}

/// Why an auditor may not audit a requirement: they own it in the SoA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conflict {
    pub auditor: String,
    pub requirement: String,
    pub soa_row: usize,
}

/// The auditors of `audit` who own a requirement it covers (owners: control → (owner, row)).
pub fn conflicts(
    audit: &PlannedAudit,
    owners: &std::collections::BTreeMap<String, (String, usize)>,
) -> Vec<Conflict> {
    let norm = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    let mut out = Vec::new();
    for (requirement, (owner, row)) in owners {
        if owner.trim().is_empty() || !audit.covers(requirement) {
            continue;
        }
        for auditor in &audit.auditors {
            if norm(auditor) == norm(owner) {
                out.push(Conflict {
                    auditor: auditor.clone(),
                    requirement: requirement.clone(),
                    soa_row: *row,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
