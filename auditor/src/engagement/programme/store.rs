//! The programme's settings and planned internal audits in the engagement file: each change
//! checked (known requirements, impartiality against the SoA's owners) and written in one
//! immediate transaction.

use std::collections::BTreeMap;

use evidence_model::Timestamp;
use jiff::civil::Date;
use rusqlite::params;

use super::{Conflict, PlannedAudit, Settings, conflicts, known};
use crate::engagement::db::Engagement;
use crate::engagement::improvement::store::stored;
use crate::engagement::{EngagementError, Result};

/// What the latest sealed SoA says for the programme: the applicable controls and their owners.
#[derive(Debug, Clone, Default)]
pub struct SoaFacts {
    pub applicable: std::collections::BTreeSet<String>,
    /// Control → (owner, SoA row).
    pub owners: BTreeMap<String, (String, usize)>,
    /// Why the SoA could not be used, when it could not: every control is then taken as
    /// applicable and impartiality cannot be checked against owners.
    pub unavailable: Option<String>,
}

/// What `programme plan` asks for.
#[derive(Debug, Clone)]
pub struct PlanRequest {
    pub id: String,
    pub planned_on: Date,
    pub covers: Vec<String>,
    pub objectives: String,
    pub criteria: String,
    pub scope: String,
    pub auditors: Vec<String>,
}

fn invalid(message: String) -> EngagementError {
    EngagementError::Invalid(message)
}

/// The refusal of an audit whose auditor owns an area it covers.
fn impartiality(id: &str, c: &[Conflict]) -> EngagementError {
    let lines: Vec<String> = c
        .iter()
        .map(|x| {
            format!(
                "{} owns {} (SoA row {})",
                x.auditor, x.requirement, x.soa_row
            )
        })
        .collect();
    invalid(format!(
        "audit {id} is refused: an auditor must not audit their own area (ISO/IEC 42001 9.2.2 c, objectivity and impartiality): {}; nothing was stored",
        lines.join("; ")
    ))
}

impl Engagement {
    /// The applicable controls and owners of the latest SoA sealed by `as_of`.
    pub fn programme_soa(&self, as_of: Timestamp) -> Result<SoaFacts> {
        use crate::readiness::compute::SoaInput;
        let all = || {
            evidence_model::Catalogue::iso42001()
                .controls()
                .map(|c| c.id.clone())
                .collect()
        };
        let source = crate::readiness::load::SoaSource::Archive;
        Ok(
            match crate::readiness::load::latest_soa(self, as_of, &source)? {
                SoaInput::Parsed { soa, .. } => SoaFacts {
                    applicable: soa
                        .rows
                        .values()
                        .filter(|r| r.applicable)
                        .map(|r| r.control.clone())
                        .collect(),
                    owners: soa
                        .rows
                        .values()
                        .map(|r| (r.control.clone(), (r.owner.clone(), r.row)))
                        .collect(),
                    unavailable: None,
                },
                SoaInput::Absent => SoaFacts {
                    applicable: all(),
                    owners: BTreeMap::new(),
                    unavailable: Some(
                        "no Statement of Applicability is sealed in the archive".into(),
                    ),
                },
                SoaInput::Unreadable { reason, .. } => SoaFacts {
                    applicable: all(),
                    owners: BTreeMap::new(),
                    unavailable: Some(format!("the latest SoA cannot be read: {reason}")),
                },
                SoaInput::Malformed { problems, .. } => SoaFacts {
                    applicable: all(),
                    owners: BTreeMap::new(),
                    unavailable: Some(format!(
                        "the latest SoA has {} problem(s) (see `evidence-auditor readiness`)",
                        problems.len()
                    )),
                },
            },
        )
    }

    /// The programme's settings, if set.
    pub fn programme(&self) -> Result<Option<Settings>> {
        Ok(self
            .documents("SELECT record FROM programme WHERE id = 1")?
            .into_iter()
            .next())
    }

    /// Set (or replace) the programme's cycle and high-risk requirements.
    pub fn set_programme(&self, settings: &Settings) -> Result<()> {
        let tx = self.immediate()?;
        if !(1..=6).contains(&settings.years) {
            return Err(invalid(format!(
                "--years {}: a certification cycle is 1 to 6 years (3 under ISO/IEC 17021-1)",
                settings.years
            )));
        }
        for h in &settings.high_risk {
            if !known(h) {
                return Err(invalid(format!(
                    "--high-risk {h:?} is neither an Annex A control nor a clause (or a group of them)"
                )));
            }
        }
        self.conn
            .execute(
                "INSERT INTO programme (id, record) VALUES (1, ?1)
                 ON CONFLICT (id) DO UPDATE SET record = excluded.record",
                [stored(settings)?],
            )
            .map_err(self.db())?;
        tx.commit().map_err(self.db())?;
        Ok(())
    }

    /// Plan an internal audit; refused when a covered entry is unknown, the date is outside the
    /// cycle, or an auditor owns a covered requirement in `owners` (from the latest SoA).
    pub fn plan_internal_audit(
        &self,
        r: &PlanRequest,
        owners: &BTreeMap<String, (String, usize)>,
        now: Timestamp,
    ) -> Result<PlannedAudit> {
        let tx = self.immediate()?;
        let settings = self.programme()?.ok_or_else(|| {
            invalid(
                "no programme yet: `evidence-auditor programme set --cycle-start DATE` first"
                    .into(),
            )
        })?;
        if settings.year_of(r.planned_on).is_none() {
            return Err(invalid(format!(
                "{} is outside the programme's cycle ({} for {} year(s))",
                r.planned_on, settings.cycle_start, settings.years
            )));
        }
        if self.planned_audits()?.iter().any(|a| a.id == r.id) {
            return Err(EngagementError::Exists {
                what: "planned audit",
                name: r.id.clone(),
            });
        }
        if r.covers.is_empty() || r.auditors.is_empty() {
            return Err(invalid("an audit covers at least one requirement (--covers) and has at least one auditor (--auditor)".into()));
        }
        for c in &r.covers {
            if !known(c) {
                return Err(invalid(format!(
                    "--covers {c:?} is neither an Annex A control nor a clause of ISO/IEC 42001 (nor a group such as A.6 or 9)"
                )));
            }
        }
        for (value, what) in [
            (&r.objectives, "--objectives"),
            (&r.criteria, "--criteria"),
            (&r.scope, "--scope"),
        ] {
            if value.trim().is_empty() {
                return Err(invalid(format!("{what} must not be empty (9.2.2 b)")));
            }
        }
        let a = PlannedAudit {
            id: r.id.clone(),
            planned_on: r.planned_on,
            covers: r.covers.clone(),
            objectives: r.objectives.trim().to_owned(),
            criteria: r.criteria.trim().to_owned(),
            scope: r.scope.trim().to_owned(),
            auditors: r.auditors.iter().map(|x| x.trim().to_owned()).collect(),
            performed_on: None,
            recorded_at: now,
        };
        let found = conflicts(&a, owners);
        if !found.is_empty() {
            return Err(impartiality(&a.id, &found));
        }
        let ordinal = self.next_ordinal("planned_audits")?;
        self.conn
            .execute(
                "INSERT INTO planned_audits (id, ordinal, record) VALUES (?1, ?2, ?3)",
                params![a.id, ordinal, stored(&a)?],
            )
            .map_err(self.db())?;
        tx.commit().map_err(self.db())?;
        Ok(a)
    }

    /// Every planned internal audit, in the order planned.
    pub fn planned_audits(&self) -> Result<Vec<PlannedAudit>> {
        self.documents("SELECT record FROM planned_audits ORDER BY ordinal")
    }

    /// Record that planned audit `id` was performed on `on`.
    pub fn audit_performed(&self, id: &str, on: Date, now: Timestamp) -> Result<PlannedAudit> {
        let tx = self.immediate()?;
        let mut a = self
            .planned_audits()?
            .into_iter()
            .find(|a| a.id == id)
            .ok_or_else(|| EngagementError::NotFound {
                what: "planned audit",
                name: id.to_owned(),
                hint: " (`evidence-auditor programme show` lists them)".into(),
            })?;
        if let Some(done) = a.performed_on {
            return Err(invalid(format!(
                "audit {id} was recorded as performed on {done}"
            )));
        }
        let today = crate::engagement::improvement::utc_date(now);
        if on > today {
            return Err(invalid(format!("--on {on} is after today ({today})")));
        }
        a.performed_on = Some(on);
        self.conn
            .execute(
                "UPDATE planned_audits SET record = ?2 WHERE id = ?1",
                params![a.id, stored(&a)?],
            )
            .map_err(self.db())?;
        tx.commit().map_err(self.db())?;
        Ok(a)
    }

    /// The programme on `day`: coverage of every applicable requirement (per the latest SoA),
    /// with the nonconformities recorded so far raising their requirements to yearly.
    pub fn programme_view(&self, day: Date) -> Result<(super::ProgrammeView, SoaFacts)> {
        let settings = self.programme()?.ok_or_else(|| {
            invalid(
                "no programme yet: `evidence-auditor programme set --cycle-start DATE` first"
                    .into(),
            )
        })?;
        let end = crate::engagement::days::end_of_day(day);
        let soa = self.programme_soa(end)?;
        let nonconformities: Vec<(String, Date)> = self
            .findings()?
            .iter()
            .filter(|f| f.needs_action())
            .flat_map(|f| {
                let on = crate::engagement::improvement::utc_date(f.recorded_at);
                f.requirements.iter().map(move |r| (r.clone(), on))
            })
            .collect();
        let view = super::view(
            &settings,
            &self.planned_audits()?,
            &super::requirements(&soa.applicable),
            &nonconformities,
            day,
        );
        Ok((view, soa))
    }

    /// Approve the programme on `on`: refused while an applicable requirement is not covered as
    /// its frequency requires.
    pub fn approve_programme(&self, on: Date) -> Result<Settings> {
        let tx = self.immediate()?;
        let (view, _) = self.programme_view(on)?;
        if !view.uncovered.is_empty() {
            return Err(invalid(format!(
                "the programme leaves {} applicable requirement(s) uncovered in the cycle: {}; plan audits covering them (`programme plan … --covers ID`); nothing was approved",
                view.uncovered.len(),
                view.uncovered.join(", ")
            )));
        }
        let mut s = self
            .programme()?
            .ok_or_else(|| invalid("no programme to approve".into()))?;
        s.approved_on = Some(on);
        self.conn
            .execute(
                "UPDATE programme SET record = ?1 WHERE id = 1",
                [stored(&s)?],
            )
            .map_err(self.db())?;
        tx.commit().map_err(self.db())?;
        Ok(s)
    }
}
