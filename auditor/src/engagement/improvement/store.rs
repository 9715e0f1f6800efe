//! The findings and corrective actions of an engagement: each change checked and written in
//! one immediate transaction, evidence resolved against the ingested archive items and the
//! recorded conclusions.

use evidence_model::{Catalogue, Timestamp};
use jiff::civil::Date;
use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::{
    ActionRecord, DEFAULT_DUE_DAYS, EvidenceRef, FindingRecord, Refusal, Review, check_closure,
    default_due, utc_date,
};
use crate::engagement::db::Engagement;
use crate::engagement::evaluate::Finding;
use crate::engagement::{EngagementError, Result};

/// The version of the finding and action documents stored in the engagement.
const RECORD_VERSION: u32 = 1;

/// A stored document with its version, so that a later release can read it or refuse it.
#[derive(Serialize, Deserialize)]
struct Stored<T> {
    version: u32,
    #[serde(flatten)]
    record: T,
}

/// What `finding add` asks for.
#[derive(Debug, Clone, Default)]
pub struct FindingRequest {
    pub audit: String,
    pub category: String,
    pub requirements: Vec<String>,
    pub statement: String,
    /// Archive items: `ITEM-ID`, or `ITEM-ID@ORIGIN` when several origins hold the id.
    pub items: Vec<String>,
    /// Concluded populations.
    pub populations: Vec<String>,
    /// Readiness rows (requirement ids), computed as the finding is recorded.
    pub readiness: Vec<String>,
    pub recorded_by: Option<String>,
}

/// What `action add` asks for.
#[derive(Debug, Clone, Default)]
pub struct ActionRequest {
    pub finding: String,
    pub correction: String,
    pub root_cause: String,
    pub action: String,
    pub owner: String,
    /// The due date; else `due_days` after the finding; else `DEFAULT_DUE_DAYS` after it.
    pub due: Option<Date>,
    pub due_days: Option<u32>,
}

/// What `action close` (or a register row) asks for.
#[derive(Debug, Clone)]
pub struct ReviewRequest {
    /// The evidence of implementation: `ITEM-ID` or `ITEM-ID@ORIGIN`.
    pub evidence: String,
    pub reviewed_on: Date,
    pub conclusion: String,
    pub effective: bool,
}

fn refused(e: Refusal) -> EngagementError {
    EngagementError::Improvement(e)
}

/// Every requirement id must name an Annex A control or a clause of ISO/IEC 42001.
fn check_requirements(ids: &[String]) -> Result<()> {
    if ids.is_empty() {
        return Err(EngagementError::Invalid(
            "a finding is against a requirement: give --against (an Annex A control such as A.6.2.6 or a clause such as 9.2)".into(),
        ));
    }
    let catalogue = Catalogue::iso42001();
    for id in ids {
        if catalogue.control(id).is_none() && catalogue.clause(id).is_none() {
            return Err(EngagementError::Invalid(format!(
                "--against {id:?} is neither an Annex A control (A.2.2 … A.10.4) nor a clause (4 … 10.2) of ISO/IEC 42001"
            )));
        }
    }
    Ok(())
}

fn non_empty(value: &str, what: &str) -> Result<()> {
    if value.trim().is_empty() {
        return Err(EngagementError::Invalid(format!(
            "{what} must not be empty"
        )));
    }
    Ok(())
}

impl Engagement {
    /// Record a finding of `r.audit`; its evidence must resolve to ingested items or concluded
    /// populations.
    pub fn add_finding(&self, r: &FindingRequest, now: Timestamp) -> Result<FindingRecord> {
        let tx = self.immediate()?;
        let f = self.add_finding_in_tx(r, now)?;
        tx.commit().map_err(self.db())?;
        Ok(f)
    }

    /// [`Self::add_finding`] inside the caller's transaction (the register import).
    pub(crate) fn add_finding_in_tx(
        &self,
        r: &FindingRequest,
        now: Timestamp,
    ) -> Result<FindingRecord> {
        let category = Finding::parse(&r.category).ok_or_else(|| {
            EngagementError::Invalid(format!(
                "--category {:?} is not one of {}",
                r.category,
                Finding::choices()
            ))
        })?;
        non_empty(&r.statement, "the finding's statement (--statement)")?;
        let mut evidence = Vec::new();
        for item in &r.items {
            evidence.push(self.item_evidence(item)?);
        }
        for population in &r.populations {
            evidence.push(self.population_evidence(population)?);
        }
        if !r.readiness.is_empty() {
            evidence.extend(self.readiness_evidence(&r.readiness, now)?);
        }
        if evidence.is_empty() {
            return Err(EngagementError::Invalid(
                "a finding rests on evidence: give --item ITEM-ID, --population NAME or --readiness REQUIREMENT"
                    .into(),
            ));
        }
        self.insert_finding(
            &r.audit,
            category,
            r.requirements.clone(),
            r.statement.trim().to_owned(),
            evidence,
            r.recorded_by.clone(),
            now,
        )
    }

    /// Insert a finding (inside the caller's transaction), numbered after the last one.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn insert_finding(
        &self,
        audit: &str,
        category: Finding,
        requirements: Vec<String>,
        statement: String,
        evidence: Vec<EvidenceRef>,
        recorded_by: Option<String>,
        now: Timestamp,
    ) -> Result<FindingRecord> {
        if self.audit(audit)?.is_none() {
            return Err(EngagementError::NotFound {
                what: "audit",
                name: audit.to_owned(),
                hint: " (`evidence-auditor audit list` shows the audits)".into(),
            });
        }
        check_requirements(&requirements)?;
        let ordinal = self.next_ordinal("findings")?;
        let f = FindingRecord {
            id: format!("F-{ordinal:04}"),
            audit: audit.to_owned(),
            category,
            requirements,
            statement,
            evidence,
            recorded_by,
            recorded_at: now,
        };
        self.conn
            .execute(
                "INSERT INTO findings (id, ordinal, audit, category, record) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![f.id, ordinal, f.audit, f.category.label(), stored(&f)?],
            )
            .map_err(self.db())?;
        Ok(f)
    }

    pub(crate) fn next_ordinal(&self, table: &str) -> Result<i64> {
        self.conn
            .query_row(
                &format!("SELECT coalesce(max(ordinal), 0) + 1 FROM {table}"),
                [],
                |r| r.get(0),
            )
            .map_err(self.db())
    }

    /// Every finding, in the order recorded.
    pub fn findings(&self) -> Result<Vec<FindingRecord>> {
        self.documents("SELECT record FROM findings ORDER BY ordinal")
    }

    /// One finding, or an error naming it.
    pub fn finding(&self, id: &str) -> Result<FindingRecord> {
        self.findings()?
            .into_iter()
            .find(|f| f.id == id)
            .ok_or_else(|| EngagementError::NotFound {
                what: "finding",
                name: id.to_owned(),
                hint: " (`evidence-auditor finding list` shows the findings)".into(),
            })
    }

    /// Plan the corrective action of a nonconformity.
    pub fn add_action(&self, r: &ActionRequest, now: Timestamp) -> Result<ActionRecord> {
        let tx = self.immediate()?;
        let finding = self.finding(&r.finding)?;
        if !finding.needs_action() {
            return Err(refused(Refusal::NotANonconformity {
                finding: finding.id,
                category: finding.category.label().to_owned(),
            }));
        }
        if let Some(existing) = self.actions()?.into_iter().find(|a| a.finding == r.finding) {
            return Err(refused(Refusal::ActionExists {
                finding: finding.id,
                action: existing.id,
            }));
        }
        for (value, what) in [
            (&r.correction, "the correction (--correction)"),
            (&r.root_cause, "the root cause (--root-cause)"),
            (&r.action, "the corrective action (--action)"),
            (&r.owner, "the owner (--owner)"),
        ] {
            non_empty(value, what)?;
        }
        let due = r.due.unwrap_or_else(|| {
            default_due(finding.recorded_at, r.due_days.unwrap_or(DEFAULT_DUE_DAYS))
        });
        let recorded = utc_date(finding.recorded_at);
        if due < recorded {
            return Err(refused(Refusal::DueBeforeFinding {
                due,
                finding: finding.id,
                recorded,
            }));
        }
        let ordinal = self.next_ordinal("actions")?;
        let a = ActionRecord {
            id: format!("CA-{ordinal:04}"),
            finding: finding.id,
            correction: r.correction.trim().to_owned(),
            root_cause: r.root_cause.trim().to_owned(),
            action: r.action.trim().to_owned(),
            owner: r.owner.trim().to_owned(),
            due,
            created_at: now,
            reviews: Vec::new(),
        };
        self.conn
            .execute(
                "INSERT INTO actions (id, ordinal, finding, record) VALUES (?1, ?2, ?3, ?4)",
                params![a.id, ordinal, a.finding, stored(&a)?],
            )
            .map_err(self.db())?;
        tx.commit().map_err(self.db())?;
        Ok(a)
    }

    /// Every corrective action, in the order planned.
    pub fn actions(&self) -> Result<Vec<ActionRecord>> {
        self.documents("SELECT record FROM actions ORDER BY ordinal")
    }

    /// One action, or an error naming it.
    pub fn action(&self, id: &str) -> Result<ActionRecord> {
        self.actions()?
            .into_iter()
            .find(|a| a.id == id)
            .ok_or_else(|| EngagementError::NotFound {
                what: "corrective action",
                name: id.to_owned(),
                hint: " (`evidence-auditor action list` shows the actions)".into(),
            })
    }

    /// Record an effectiveness review of `action` with its evidence of implementation; an
    /// effective one closes the action. Refused (nothing stored) unless [`check_closure`]
    /// accepts it.
    pub fn review_action(
        &self,
        action: &str,
        r: &ReviewRequest,
        now: Timestamp,
    ) -> Result<ActionRecord> {
        let tx = self.immediate()?;
        let updated = self.review_in_tx(action, r, now)?;
        tx.commit().map_err(self.db())?;
        Ok(updated)
    }

    /// [`Self::review_action`] inside the caller's transaction (the register import).
    pub(crate) fn review_in_tx(
        &self,
        action: &str,
        r: &ReviewRequest,
        now: Timestamp,
    ) -> Result<ActionRecord> {
        let mut a = self.action(action)?;
        let finding = self.finding(&a.finding)?;
        let review = Review {
            evidence: self.item_evidence(&r.evidence)?,
            reviewed_on: r.reviewed_on,
            conclusion: r.conclusion.trim().to_owned(),
            effective: r.effective,
            recorded_at: now,
        };
        check_closure(&finding, &a, &review, utc_date(now)).map_err(refused)?;
        a.reviews.push(review);
        self.replace_action(&a)?;
        Ok(a)
    }

    /// Overwrite a stored action (inside the caller's transaction).
    pub(crate) fn replace_action(&self, a: &ActionRecord) -> Result<()> {
        self.conn
            .execute(
                "UPDATE actions SET record = ?2 WHERE id = ?1",
                params![a.id, stored(a)?],
            )
            .map_err(self.db())?;
        Ok(())
    }

    /// Resolve `ITEM-ID` or `ITEM-ID@ORIGIN` to an ingested item and its bundle's seal time.
    pub(crate) fn item_evidence(&self, spec: &str) -> Result<EvidenceRef> {
        let (item, origin) = match spec.rsplit_once('@') {
            Some((i, o)) => (i, Some(o)),
            None => (spec, None),
        };
        let mut st = self
            .conn
            .prepare(
                "SELECT items.origin, items.sha256, bundles.collected_at
                   FROM items JOIN item_details ON item_details.id = items.id
                   JOIN bundles ON bundles.origin = items.origin AND bundles.seq = item_details.bundle_seq
                  WHERE items.item_id = ?1 AND (?2 IS NULL OR items.origin = ?2)
                  ORDER BY items.origin",
            )
            .map_err(self.db())?;
        let rows = st
            .query_map(params![item, origin], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    hex::encode(r.get_ref(1)?.as_blob()?),
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(self.db())?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.db())?;
        match rows.as_slice() {
            [] => Err(EngagementError::NotFound {
                what: "archive item",
                name: spec.to_owned(),
                hint: " in the ingested archives (ingest the run that sealed it first)".into(),
            }),
            [(origin, sha256, sealed)] => Ok(EvidenceRef::Item {
                item_id: item.to_owned(),
                origin: origin.clone(),
                sha256: sha256.clone(),
                sealed_at: sealed.parse().map_err(|e| {
                    EngagementError::Invalid(format!("bundle time {sealed:?} of {origin}: {e}"))
                })?,
            }),
            several => Err(EngagementError::Invalid(format!(
                "item {item} is held by {} origins ({}): write it as {item}@ORIGIN",
                several.len(),
                several
                    .iter()
                    .map(|(o, _, _)| o.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// A concluded population as evidence.
    fn population_evidence(&self, name: &str) -> Result<EvidenceRef> {
        self.population(name)?;
        let c = self.conclusion(name)?.ok_or_else(|| {
            EngagementError::Invalid(format!(
                "population {name} is not concluded: a finding rests on a sampling conclusion (`evidence-auditor conclude {name}`)"
            ))
        })?;
        Ok(population_ref(name, &c))
    }

    /// Readiness rows of `requirements` at `now`, over this engagement's evidence and its latest
    /// sealed SoA.
    fn readiness_evidence(
        &self,
        requirements: &[String],
        now: Timestamp,
    ) -> Result<Vec<EvidenceRef>> {
        use crate::readiness::{compute, load};
        let inputs = load::inputs(
            self,
            now,
            &compute::Overrides::default(),
            &load::SoaSource::Archive,
        )?;
        let readiness = compute::compute(&inputs, now);
        requirements
            .iter()
            .map(|id| {
                let row = readiness.rows.iter().find(|r| r.id == *id).ok_or_else(|| {
                    EngagementError::Invalid(format!(
                        "--readiness {id:?} is not a readiness row (an Annex A control or a requirement of clauses 4–10)"
                    ))
                })?;
                let status = serde_json::to_value(row.status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                Ok(EvidenceRef::Readiness {
                    requirement: id.clone(),
                    status,
                    as_of: now,
                    newest_item: row.newest_item.as_ref().map(|i| i.item_id.clone()),
                    newest_sha256: row.newest_item.as_ref().map(|i| i.sha256.clone()),
                })
            })
            .collect()
    }

    /// Every `SELECT record` row of a versioned document table.
    pub(crate) fn documents<T: serde::de::DeserializeOwned>(&self, sql: &str) -> Result<Vec<T>> {
        let mut st = self.conn.prepare(sql).map_err(self.db())?;
        let texts = st
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(self.db())?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.db())?;
        texts
            .iter()
            .map(|t| {
                let s: Stored<T> = serde_json::from_str(t).map_err(|e| {
                    EngagementError::Invalid(format!("a stored record cannot be read: {e}"))
                })?;
                if s.version > RECORD_VERSION {
                    return Err(EngagementError::Invalid(format!(
                        "a stored record has version {}; this evidence-auditor reads up to {RECORD_VERSION}: upgrade it",
                        s.version
                    )));
                }
                Ok(s.record)
            })
            .collect()
    }

    /// Tie a finding to the population whose conclusion raised it (inside a transaction).
    pub(crate) fn link_population(&self, finding: &str, population: &str) -> Result<()> {
        self.conn
            .execute(
                "UPDATE findings SET population = ?2 WHERE id = ?1",
                params![finding, population],
            )
            .map_err(self.db())?;
        Ok(())
    }
}

/// A recorded conclusion as finding evidence.
pub(crate) fn population_ref(name: &str, c: &crate::engagement::db::ConclusionRow) -> EvidenceRef {
    EvidenceRef::Population {
        name: name.to_owned(),
        finding: c.finding.clone(),
        supports_reliance: c.supports_reliance(),
        concluded_at: c.concluded_at,
    }
}

pub(crate) fn stored<T: Serialize>(record: &T) -> Result<String> {
    serde_json::to_string(&Stored {
        version: RECORD_VERSION,
        record,
    })
    .map_err(|e| EngagementError::Invalid(format!("a record cannot be stored: {e}")))
}
