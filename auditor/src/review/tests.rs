//! The pack's inputs from hand-built facts: the period since the previous review, decisions
//! followed to closure, action statuses, monthly series, "none recorded", and the same bytes
//! for the same pack.

use evidence_model::Timestamp;

use super::*;
use crate::engagement::improvement::{EvidenceRef, Review};
use crate::readiness::compute::ItemRef;

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn d(s: &str) -> Date {
    s.parse().unwrap()
}

fn finding(id: &str, audit: &str, category: Finding, at: &str) -> FindingRecord {
    FindingRecord {
        id: id.into(),
        audit: audit.into(),
        category,
        requirements: vec!["A.6.2.6".into()],
        statement: format!("statement of {id}"),
        evidence: vec![],
        recorded_by: None,
        recorded_at: t(at),
    }
}

fn group(kind: &str, month: &str, count: u64) -> EvidenceGroup {
    EvidenceGroup {
        kind: kind.into(),
        source: "s".into(),
        controls: String::new(),
        clauses: String::new(),
        month: month.into(),
        count,
        newest: ItemRef {
            item_id: "i".into(),
            origin: "o".into(),
            sha256: String::new(),
            bundle_seq: 1,
            kind: kind.into(),
            title: String::new(),
            time: 0,
        },
    }
}

fn facts() -> PackFacts {
    let closed = ActionRecord {
        id: "CA-0001".into(),
        finding: "F-0001".into(),
        correction: "c".into(),
        root_cause: "r".into(),
        action: "a".into(),
        owner: "o".into(),
        due: d("2027-04-01"),
        created_at: t("2027-01-05T00:00:00Z"),
        reviews: vec![Review {
            evidence: EvidenceRef::Item {
                item_id: "x".into(),
                origin: "o".into(),
                sha256: "ab".into(),
                sealed_at: t("2027-02-01T00:00:00Z"),
            },
            reviewed_on: d("2027-02-10"),
            conclusion: "effective".into(),
            effective: true,
            recorded_at: t("2027-02-10T00:00:00Z"),
        }],
    };
    let overdue = ActionRecord {
        id: "CA-0002".into(),
        finding: "F-0002".into(),
        due: d("2027-02-01"),
        reviews: vec![],
        ..closed.clone()
    };
    PackFacts {
        reviews: vec![ReviewRecord {
            id: "MR-2026".into(),
            held_on: d("2026-12-15"),
            recorded_at: t("2026-12-15T00:00:00Z"),
        }],
        decisions: vec![Decision {
            id: "D-0001".into(),
            review: "MR-2026".into(),
            decision: "add drift monitoring".into(),
            owner: "ML lead".into(),
            due: d("2027-02-28"),
            recorded_at: t("2026-12-15T00:00:00Z"),
            closed_on: Some(d("2027-02-20")),
            closure_note: Some("live".into()),
        }],
        findings: vec![
            finding(
                "F-0001",
                "ia-1",
                Finding::MinorNonconformity,
                "2027-01-04T00:00:00Z",
            ),
            finding(
                "F-0002",
                "ia-1",
                Finding::MajorNonconformity,
                "2027-01-04T00:00:00Z",
            ),
            finding(
                "F-0003",
                "ia-2",
                Finding::OpportunityForImprovement,
                "2027-02-04T00:00:00Z",
            ),
            finding(
                "F-0004",
                "ia-2",
                Finding::MinorNonconformity,
                "2027-02-05T00:00:00Z",
            ),
        ],
        actions: vec![closed, overdue],
        audits: vec!["ia-1".into(), "ia-2".into()],
        conclusions: vec![
            (
                "ia-1".into(),
                "p1".into(),
                "minor nonconformity".into(),
                false,
            ),
            ("ia-2".into(), "p2".into(), "conformity".into(), true),
        ],
        groups: vec![
            group("incident_ticket", "2026-12", 5),
            group("incident_ticket", "2027-01", 3),
            group("event_log", "2027-02", 28),
            group("training_run", "2025-01", 9),
        ],
        gaps: vec![],
        checkpoints: vec![],
        cited: vec![CitedItem {
            item_id: "risk-1".into(),
            origin: "o".into(),
            sha256: "cd".into(),
            kind: "risk_register_entry".into(),
            title: "AI risk register".into(),
            date: "2027-01-20".into(),
        }],
    }
}

#[test]
fn the_pack_covers_the_period_since_the_previous_review() {
    let p = compute("MR-2027", d("2027-03-01"), &facts());
    assert_eq!(p.since, Some(d("2026-12-16")));
    assert_eq!(
        p.d2_monitoring.months,
        ["2026-12", "2027-01", "2027-02", "2027-03"]
    );
    let incidents = &p.d2_monitoring.series[0];
    assert_eq!(incidents.0, "Incidents");
    assert_eq!(incidents.1, [5, 3, 0, 0]);
    assert_eq!(p.d2_monitoring.series[2].1, [0, 0, 28, 0]);
    assert_eq!(p.b_issues.len(), 1);
    assert!(p.c_interested_parties.is_empty());
}

#[test]
fn decisions_of_earlier_reviews_are_followed_to_closure() {
    let p = compute("MR-2027", d("2027-03-01"), &facts());
    assert_eq!(p.a_previous_decisions.len(), 1);
    assert_eq!(p.a_previous_decisions[0].status, "closed");
    let early = compute("MR-2027", d("2027-02-01"), &facts());
    assert_eq!(early.a_previous_decisions[0].status, "open");
    let own = compute("MR-2026", d("2027-03-01"), &facts());
    assert!(
        own.a_previous_decisions.is_empty(),
        "a review's own decisions are its output"
    );
}

#[test]
fn nonconformities_and_audits_are_counted_by_audit_and_category() {
    let p = compute("MR-2027", d("2027-03-01"), &facts());
    let n = &p.d1_nonconformities;
    assert_eq!((n.open, n.overdue, n.closed), (0, 1, 1));
    assert_eq!(n.unplanned, ["F-0004"]);
    assert_eq!(
        n.by_audit,
        [
            ("ia-1".to_owned(), "major nonconformity".to_owned(), 1),
            ("ia-1".to_owned(), "minor nonconformity".to_owned(), 1),
            ("ia-2".to_owned(), "minor nonconformity".to_owned(), 1),
            (
                "ia-2".to_owned(),
                "opportunity for improvement".to_owned(),
                1
            ),
        ]
    );
    assert_eq!(p.d3_audits[0].populations, 1);
    assert_eq!(p.d3_audits[0].supported, 0);
    assert_eq!(p.d3_audits[1].supported, 1);
    assert_eq!(p.e_improvement_findings.len(), 1);
}

#[test]
fn an_empty_engagement_says_none_recorded_and_renders_the_same_bytes_twice() {
    let p = compute("MR-1", d("2027-03-01"), &PackFacts::default());
    let a = render::html(&p).unwrap();
    assert!(a.contains("None recorded"), "{a}");
    assert_eq!(a, render::html(&p).unwrap());
    let full = compute("MR-2027", d("2027-03-01"), &facts());
    let x = render::xlsx_bytes(&full).unwrap();
    assert_eq!(x, render::xlsx_bytes(&full).unwrap());
    let html = render::html(&full).unwrap();
    for section in [
        "a) Status",
        "b) Changes",
        "c) Changes",
        "d1)",
        "d2)",
        "d3)",
        "e) Opportunities",
    ] {
        assert!(html.contains(section), "{section}");
    }
}
