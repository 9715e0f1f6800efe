//! Clause 10.2 of ISO/IEC 42001 (nonconformity and corrective action) as the engagement keeps
//! it: audit findings with the evidence they rest on, one corrective action per
//! nonconformity, and the rules that close an action. Pure: the caller passes the time in.
//!
//! - `store`: the findings and actions tables, each change in one immediate transaction.
//! - `register`: the finding and action registers as XLSX/CSV, and the strict import back.
//!
//! Architecture invariant: an action is closed only with evidence of implementation sealed
//! after its finding was recorded and a dated effectiveness review that found it effective;
//! every path that closes one (the command, the register import) goes through [`check_closure`].

pub mod register;
pub mod store;

use evidence_model::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

pub use super::days::utc_date;
use super::evaluate::Finding;

/// Days from a finding to its action's due date unless the auditor gives one.
pub const DEFAULT_DUE_DAYS: u32 = 90;

/// An audit finding (ISO 19011 3.10): a category against a requirement, resting on evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingRecord {
    /// `F-0001`, numbered across the engagement.
    pub id: String,
    /// The audit it was raised in.
    pub audit: String,
    pub category: Finding,
    /// Annex A control or clause ids (`A.6.2.6`, `9.2`), space-separated in the registers.
    pub requirements: Vec<String>,
    pub statement: String,
    pub evidence: Vec<EvidenceRef>,
    pub recorded_by: Option<String>,
    pub recorded_at: Timestamp,
}

impl FindingRecord {
    /// Minor and major nonconformities need a corrective action; the other categories do not.
    pub fn needs_action(&self) -> bool {
        matches!(
            self.category,
            Finding::MinorNonconformity | Finding::MajorNonconformity
        )
    }
}

/// What a finding or a closure rests on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EvidenceRef {
    /// An archive item as ingested: its id, origin, SHA-256 and when its bundle was sealed.
    Item {
        item_id: String,
        origin: String,
        sha256: String,
        sealed_at: Timestamp,
    },
    /// A sampled population and its recorded conclusion.
    Population {
        name: String,
        finding: String,
        supports_reliance: bool,
        concluded_at: Timestamp,
    },
    /// A readiness row as computed when the finding was recorded: the requirement, its status
    /// (current, stale, gap, missing, excluded) and the newest item behind it, if any.
    Readiness {
        requirement: String,
        status: String,
        as_of: Timestamp,
        newest_item: Option<String>,
        newest_sha256: Option<String>,
    },
}

impl EvidenceRef {
    /// One line a person reads: `item ID (origin, sha256 ab12…)` or `population P (…)`.
    pub fn describe(&self) -> String {
        match self {
            Self::Item {
                item_id,
                origin,
                sha256,
                sealed_at,
            } => format!("item {item_id} of {origin}, SHA-256 {sha256}, sealed {sealed_at}"),
            Self::Population {
                name,
                finding,
                supports_reliance,
                concluded_at,
            } => format!(
                "population {name}: concluded {concluded_at} as {finding}{}",
                if *supports_reliance {
                    ""
                } else {
                    ", sample does not support reliance"
                }
            ),
            Self::Readiness {
                requirement,
                status,
                as_of,
                newest_item,
                ..
            } => format!(
                "readiness of {requirement} at {as_of}: {status}{}",
                newest_item
                    .as_ref()
                    .map_or(String::new(), |i| format!(", newest item {i}"))
            ),
        }
    }
}

/// A corrective action (10.2 a–e) for one nonconformity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionRecord {
    /// `CA-0001`.
    pub id: String,
    pub finding: String,
    /// What was done at once to contain the nonconformity (10.2 a).
    pub correction: String,
    /// Why it happened (10.2 b).
    pub root_cause: String,
    /// What is done so that it does not recur (10.2 c).
    pub action: String,
    pub owner: String,
    pub due: Date,
    pub created_at: Timestamp,
    /// Effectiveness reviews in the order recorded (10.2 d); the action is closed by the first
    /// one that found it effective.
    pub reviews: Vec<Review>,
}

/// An effectiveness review with the evidence of implementation it looked at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    /// Evidence of implementation: an archive item sealed after the finding.
    pub evidence: EvidenceRef,
    pub reviewed_on: Date,
    pub conclusion: String,
    pub effective: bool,
    pub recorded_at: Timestamp,
}

/// Where an action stands on a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionStatus {
    Open,
    /// Open past its due date.
    Overdue,
    /// Reviewed and found not effective: still open, a further action is needed.
    NotEffective,
    Closed,
}

impl ActionStatus {
    pub fn label(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Overdue => "overdue",
            Self::NotEffective => "not effective",
            Self::Closed => "closed",
        }
    }
}

impl ActionRecord {
    /// The review that closed the action, if any.
    pub fn closing_review(&self) -> Option<&Review> {
        self.reviews.iter().find(|r| r.effective)
    }

    /// The action's status on `day`.
    pub fn status(&self, day: Date) -> ActionStatus {
        match self.closing_review() {
            Some(r) if r.reviewed_on <= day => ActionStatus::Closed,
            _ if self.due < day => ActionStatus::Overdue,
            _ if self.reviews.iter().any(|r| !r.effective) => ActionStatus::NotEffective,
            _ => ActionStatus::Open,
        }
    }

    /// Days the action has been open on `day` (ageing).
    pub fn age_days(&self, day: Date) -> i64 {
        let end = self
            .closing_review()
            .map_or(day, |r| r.reviewed_on.min(day));
        (end - utc_date(self.created_at)).get_days().max(0).into()
    }
}

/// The default due date: `days` after the finding was recorded.
pub fn default_due(recorded_at: Timestamp, days: u32) -> Date {
    utc_date(recorded_at).saturating_add(jiff::Span::new().days(i64::from(days)))
}

/// Why an action cannot be planned or closed as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "finding {finding} is a {category}: only minor and major nonconformities take a corrective action"
    )]
    NotANonconformity { finding: String, category: String },
    #[error("finding {finding} already has corrective action {action}")]
    ActionExists { finding: String, action: String },
    #[error("due date {due} is before finding {finding} was recorded ({recorded})")]
    DueBeforeFinding {
        due: Date,
        finding: String,
        recorded: Date,
    },
    #[error("action {action} was closed on {on}; nothing was recorded")]
    AlreadyClosed { action: String, on: Date },
    #[error(
        "item {item} was sealed at {sealed_at}, before finding {finding} was recorded ({recorded_at}): evidence of implementation must be sealed after the finding; collect it in a later run and ingest that run"
    )]
    EvidenceBeforeFinding {
        item: String,
        sealed_at: Timestamp,
        finding: String,
        recorded_at: Timestamp,
    },
    #[error("evidence of implementation must be an archive item (--evidence ITEM-ID)")]
    EvidenceNotAnItem,
    #[error(
        "the effectiveness review ({reviewed_on}) is dated before the evidence it reviews was sealed ({sealed_on})"
    )]
    ReviewBeforeEvidence { reviewed_on: Date, sealed_on: Date },
    #[error("the effectiveness review is dated {reviewed_on}, after today ({today})")]
    ReviewInFuture { reviewed_on: Date, today: Date },
    #[error("an effectiveness review needs its conclusion in words")]
    NoConclusion,
}

/// Check that `action` (for `finding`) may take the effectiveness review `review` on `today`.
pub fn check_closure(
    finding: &FindingRecord,
    action: &ActionRecord,
    review: &Review,
    today: Date,
) -> Result<(), Refusal> {
    if let Some(closed) = action.closing_review() {
        return Err(Refusal::AlreadyClosed {
            action: action.id.clone(),
            on: closed.reviewed_on,
        });
    }
    let EvidenceRef::Item {
        item_id, sealed_at, ..
    } = &review.evidence
    else {
        return Err(Refusal::EvidenceNotAnItem);
    };
    if *sealed_at <= finding.recorded_at {
        return Err(Refusal::EvidenceBeforeFinding {
            item: item_id.clone(),
            sealed_at: *sealed_at,
            finding: finding.id.clone(),
            recorded_at: finding.recorded_at,
        });
    }
    let sealed_on = utc_date(*sealed_at);
    if review.reviewed_on < sealed_on {
        return Err(Refusal::ReviewBeforeEvidence {
            reviewed_on: review.reviewed_on,
            sealed_on,
        });
    }
    if review.reviewed_on > today {
        return Err(Refusal::ReviewInFuture {
            reviewed_on: review.reviewed_on,
            today,
        });
    }
    if review.conclusion.trim().is_empty() {
        return Err(Refusal::NoConclusion);
    }
    Ok(())
}

/// A major nonconformity still open at `at` (a certification audit's date): certification
/// cannot be recommended while it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blocker {
    pub finding: String,
    pub action: Option<String>,
    pub requirements: Vec<String>,
    pub statement: String,
}

/// The major nonconformities recorded by `at` whose action was not closed by then.
pub fn blockers(findings: &[FindingRecord], actions: &[ActionRecord], at: Date) -> Vec<Blocker> {
    findings
        .iter()
        .filter(|f| f.category == Finding::MajorNonconformity && utc_date(f.recorded_at) <= at)
        .filter_map(|f| {
            let action = actions.iter().find(|a| a.finding == f.id);
            let closed = action.is_some_and(|a| a.status(at) == ActionStatus::Closed);
            (!closed).then(|| Blocker {
                finding: f.id.clone(),
                action: action.map(|a| a.id.clone()),
                requirements: f.requirements.clone(),
                statement: f.statement.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
