//! Coverage, frequencies, overdue audits and impartiality on hand-built programmes.

use std::collections::{BTreeMap, BTreeSet};

use super::*;

fn d(s: &str) -> Date {
    s.parse().unwrap()
}

fn settings(high_risk: &[&str]) -> Settings {
    Settings {
        cycle_start: d("2026-01-01"),
        years: 3,
        high_risk: high_risk.iter().map(|s| (*s).to_owned()).collect(),
        approved_on: None,
    }
}

fn audit(id: &str, on: &str, covers: &[&str]) -> PlannedAudit {
    PlannedAudit {
        id: id.into(),
        planned_on: d(on),
        covers: covers.iter().map(|s| (*s).to_owned()).collect(),
        objectives: "o".into(),
        criteria: "c".into(),
        scope: "s".into(),
        auditors: vec!["Jo Auditor".into()],
        performed_on: None,
        recorded_at: "2026-01-01T00:00:00Z".parse().unwrap(),
    }
}

fn reqs(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn groups_cover_their_members_on_dot_boundaries() {
    assert!(covers("A.6", "A.6.2.6"));
    assert!(covers("9", "9.2.1"));
    assert!(covers("9.2", "9.2"));
    assert!(!covers("9", "90"));
    assert!(!covers("A.6.2", "A.6.1.2"));
    assert!(known("A.6") && known("9") && known("A.6.2.8"));
    assert!(!known("A.99") && !known("11"));
}

#[test]
fn the_cycle_has_years_and_a_requirement_needs_one_audit_per_cycle() {
    let s = settings(&[]);
    assert_eq!(s.year_of(d("2026-01-01")), Some(1));
    assert_eq!(s.year_of(d("2027-06-30")), Some(2));
    assert_eq!(s.year_of(d("2028-12-31")), Some(3));
    assert_eq!(s.year_of(d("2029-01-01")), None);
    let v = view(
        &s,
        &[audit("IA-1", "2027-03-01", &["A.6"])],
        &reqs(&["A.6.2.6", "A.2.2"]),
        &[],
        d("2027-01-01"),
    );
    assert_eq!(v.uncovered, ["A.2.2"]);
    assert_eq!(v.rows[0].audits, [("IA-1".to_owned(), 2)]);
    assert!(v.rows[0].satisfied);
}

#[test]
fn high_risk_and_nonconforming_requirements_are_audited_every_year() {
    let audits = [
        audit("IA-1", "2026-03-01", &["A.6.2.6", "A.2.2"]),
        audit("IA-3", "2028-03-01", &["A.6.2.6"]),
    ];
    let high = view(
        &settings(&["A.6.2"]),
        &audits,
        &reqs(&["A.6.2.6"]),
        &[],
        d("2026-01-01"),
    );
    assert_eq!(high.rows[0].frequency, "yearly (high-risk)");
    assert_eq!(high.rows[0].missing_years, [2]);
    assert_eq!(high.uncovered, ["A.6.2.6"]);
    let nc = view(
        &settings(&[]),
        &audits,
        &reqs(&["A.2.2"]),
        &[("A.2.2".into(), d("2026-03-01"))],
        d("2026-01-01"),
    );
    assert_eq!(nc.rows[0].frequency, "yearly (nonconformity)");
    assert_eq!(nc.rows[0].missing_years, [2, 3]);
    let last_year = view(
        &settings(&[]),
        &audits,
        &reqs(&["A.2.2"]),
        &[("A.2.2".into(), d("2028-03-01"))],
        d("2026-01-01"),
    );
    assert!(
        last_year.rows[0].satisfied,
        "a nonconformity in the last year has no later year to require"
    );
}

#[test]
fn an_audit_past_its_day_and_not_performed_is_overdue() {
    let mut a = audit("IA-1", "2026-03-01", &["9"]);
    let v = view(
        &settings(&[]),
        std::slice::from_ref(&a),
        &reqs(&["9.2"]),
        &[],
        d("2026-03-02"),
    );
    assert_eq!(v.overdue, ["IA-1"]);
    a.performed_on = Some(d("2026-03-02"));
    assert!(!a.overdue(d("2026-04-01")));
}

#[test]
fn an_auditor_who_owns_a_covered_control_is_a_conflict() {
    let owners: BTreeMap<String, (String, usize)> = [
        ("A.6.2.6".to_owned(), ("jo  AUDITOR".to_owned(), 7)),
        ("A.2.2".to_owned(), ("Head of AI governance".to_owned(), 2)),
    ]
    .into();
    let c = conflicts(&audit("IA-1", "2026-03-01", &["A.6"]), &owners);
    assert_eq!(c.len(), 1);
    assert_eq!((c[0].requirement.as_str(), c[0].soa_row), ("A.6.2.6", 7));
    assert!(conflicts(&audit("IA-1", "2026-03-01", &["A.2"]), &owners).is_empty());
}

#[test]
fn requirements_are_the_applicable_controls_and_the_assessable_clauses() {
    let applicable: BTreeSet<String> = ["A.2.2".to_owned()].into();
    let r = requirements(&applicable);
    assert!(r.contains(&"A.2.2".to_owned()));
    assert!(!r.contains(&"A.6.2.6".to_owned()));
    assert!(r.contains(&"9.2.2".to_owned()) || r.contains(&"9.2".to_owned()));
}
