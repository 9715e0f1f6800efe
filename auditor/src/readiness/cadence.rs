//! How fresh evidence must be: one table of defaults per evidence kind ([`DEFAULTS`]), which
//! `docs/readiness.md` reproduces, overridable per control or clause (the SoA's `cadence`
//! column, the `[cadence]` table of a readiness config) and per kind (`[kind_cadence]`).
//!
//! A cadence is the longest age the newest evidence may have and still be current: `continuous`
//! (31 days: pull requests, CI runs, logs keep coming), `monthly` (31), `quarterly` (92),
//! `half-yearly` (183), `yearly` (366), `Nd` (N days), or `event` (incidents, concerns,
//! corrective actions: they happen when they happen, so evidence of them never goes stale).

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// An expected evidence cadence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cadence {
    /// Never stale: evidence of events.
    Event,
    /// At most this many days old.
    Days(u32),
}

impl Cadence {
    pub const CONTINUOUS: Cadence = Cadence::Days(31);
    pub const QUARTERLY: Cadence = Cadence::Days(92);
    pub const HALF_YEARLY: Cadence = Cadence::Days(183);
    pub const YEARLY: Cadence = Cadence::Days(366);

    /// The longest age in seconds, `None` for event evidence.
    pub fn max_age_secs(self) -> Option<i64> {
        match self {
            Cadence::Event => None,
            Cadence::Days(d) => Some(i64::from(d) * 86_400),
        }
    }

    /// Whether evidence of time `newest` is current at `as_of` (both in seconds).
    pub fn is_current(self, newest: i64, as_of: i64) -> bool {
        self.max_age_secs().is_none_or(|max| as_of - newest <= max)
    }
}

impl fmt::Display for Cadence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cadence::Event => f.write_str("event"),
            Cadence::Days(31) => f.write_str("continuous (31d)"),
            Cadence::Days(92) => f.write_str("quarterly (92d)"),
            Cadence::Days(183) => f.write_str("half-yearly (183d)"),
            Cadence::Days(366) => f.write_str("yearly (366d)"),
            Cadence::Days(d) => write!(f, "{d}d"),
        }
    }
}

impl Serialize for Cadence {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Cadence::Event => s.serialize_str("event"),
            Cadence::Days(d) => s.serialize_str(&format!("{d}d")),
        }
    }
}

/// A cadence that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a cadence: use continuous, monthly, quarterly, half-yearly, yearly, event or a number of days such as 90d"
)]
pub struct CadenceError(pub String);

impl FromStr for Cadence {
    type Err = CadenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase();
        let days = match t.as_str() {
            "event" | "on event" | "event-driven" => return Ok(Cadence::Event),
            "continuous" | "monthly" => 31,
            "quarterly" => 92,
            "half-yearly" | "semiannual" | "semi-annual" => 183,
            "yearly" | "annual" | "annually" | "yearly or on change" => 366,
            other => other
                .strip_suffix('d')
                .or_else(|| other.strip_suffix(" days"))
                .and_then(|n| n.trim().parse::<u32>().ok())
                .filter(|n| (1..=3660).contains(n))
                .ok_or_else(|| CadenceError(s.to_owned()))?,
        };
        Ok(Cadence::Days(days))
    }
}

/// The default cadence of each evidence kind of the catalogue, with why. Kinds not listed are
/// yearly ([`FALLBACK`]).
pub const DEFAULTS: &[(&str, &str, &str)] = &[
    (
        "pr_approval",
        "continuous",
        "code review happens with every change",
    ),
    ("ci_run", "continuous", "every change is verified"),
    (
        "event_log",
        "continuous",
        "logs are produced while the system runs",
    ),
    (
        "human_oversight_record",
        "continuous",
        "oversight happens in operation",
    ),
    (
        "branch_protection",
        "quarterly",
        "configuration reviewed each quarter",
    ),
    (
        "training_run",
        "quarterly",
        "models are retrained or re-evaluated",
    ),
    (
        "data_quality_report",
        "quarterly",
        "data quality is re-checked",
    ),
    ("deployment_record", "quarterly", "releases"),
    (
        "ai_policy",
        "yearly",
        "reviewed at planned intervals (A.2.4)",
    ),
    (
        "roles_responsibilities_doc",
        "yearly",
        "reviewed with the policy",
    ),
    (
        "policy_alignment_record",
        "yearly",
        "reviewed with the policy",
    ),
    (
        "risk_register_entry",
        "yearly",
        "yearly or on change (6.1.2, 8.2)",
    ),
    (
        "risk_treatment_plan",
        "yearly",
        "yearly or on change (6.1.3, 8.3)",
    ),
    (
        "statement_of_applicability",
        "yearly",
        "yearly or on change (6.1.3)",
    ),
    (
        "impact_assessment",
        "yearly",
        "yearly or on change (6.1.4, 8.4)",
    ),
    (
        "impact_assessment_procedure",
        "yearly",
        "documented procedure",
    ),
    (
        "internal_audit_report",
        "yearly",
        "audit programme of planned intervals (9.2)",
    ),
    (
        "management_review_minutes",
        "yearly",
        "management review at planned intervals (9.3)",
    ),
    (
        "training_record",
        "yearly",
        "competence and awareness (7.2, 7.3)",
    ),
    (
        "ai_objectives_register",
        "yearly",
        "objectives planned and reviewed (6.2)",
    ),
    (
        "aims_scope_context",
        "yearly",
        "scope and context reviewed (4.1–4.4)",
    ),
    ("aims_change_plan", "yearly", "planning of changes (6.3)"),
    ("dataset_datasheet", "yearly", "documentation kept current"),
    ("model_card", "yearly", "documentation kept current"),
    ("requirements_spec", "yearly", "documentation kept current"),
    (
        "ai_resource_inventory",
        "yearly",
        "documentation kept current",
    ),
    ("user_documentation", "yearly", "documentation kept current"),
    ("dev_process_procedure", "yearly", "documented procedure"),
    ("supplier_assessment", "yearly", "suppliers re-assessed"),
    ("customer_agreement", "yearly", "agreements reviewed"),
    (
        "incident_ticket",
        "event",
        "incidents happen when they happen",
    ),
    ("post_incident_review", "event", "follows an incident"),
    ("monitoring_alert", "event", "alerts fire when they fire"),
    (
        "corrective_action_ticket",
        "event",
        "follows a nonconformity",
    ),
    (
        "concern_report",
        "event",
        "concerns are raised when they are",
    ),
    ("external_report", "event", "reports follow events"),
];

/// The cadence of a kind the table does not list.
pub const FALLBACK: Cadence = Cadence::YEARLY;

/// The default cadence of `kind`.
pub fn default_for(kind: &str) -> Cadence {
    DEFAULTS
        .iter()
        .find(|(k, _, _)| *k == kind)
        .and_then(|(_, c, _)| c.parse().ok())
        .unwrap_or(FALLBACK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use evidence_model::Catalogue;

    #[test]
    fn the_table_parses_and_covers_every_catalogue_kind() {
        for (kind, c, _) in DEFAULTS {
            assert!(c.parse::<Cadence>().is_ok(), "{kind}: {c}");
            assert!(Catalogue::iso42001().kind(kind).is_some(), "{kind}");
        }
        for k in Catalogue::iso42001().kinds() {
            assert!(
                DEFAULTS.iter().any(|(d, _, _)| *d == k.kind),
                "no default cadence for {}",
                k.kind
            );
        }
        assert_eq!(default_for("management_review_minutes"), Cadence::YEARLY);
        assert_eq!(default_for("pr_approval"), Cadence::CONTINUOUS);
        assert_eq!(default_for("incident_ticket"), Cadence::Event);
        assert_eq!(default_for("something_else"), FALLBACK);
    }

    #[test]
    fn cadences_parse_and_decide_currency() {
        assert_eq!("90d".parse::<Cadence>().unwrap(), Cadence::Days(90));
        assert_eq!("Quarterly".parse::<Cadence>().unwrap(), Cadence::QUARTERLY);
        assert!("0d".parse::<Cadence>().is_err());
        assert!("often".parse::<Cadence>().is_err());
        let day = 86_400;
        assert!(Cadence::Days(10).is_current(0, 10 * day));
        assert!(!Cadence::Days(10).is_current(0, 10 * day + 1));
        assert!(Cadence::Event.is_current(0, 1_000_000 * day));
    }
}
