//! The OSCAL documents from hand-built facts: statuses, categories, evidence links, stable
//! UUIDs of the right form, and no plan of action when nothing is open.

use super::*;
use crate::engagement::improvement::Review;

fn t(s: &str) -> evidence_model::Timestamp {
    s.parse().unwrap()
}

fn facts() -> OscalFacts {
    let audit = AuditRow {
        id: "ia-1".into(),
        ordinal: 1,
        audit_type: "initial".into(),
        period_from: Some(t("2026-01-01T00:00:00Z")),
        period_to: None,
        confidence: "0.95".into(),
        tolerable: "0.05".into(),
        expected: "0".into(),
        created_at: t("2026-01-01T00:00:00Z"),
    };
    let finding = FindingRecord {
        id: "F-0001".into(),
        audit: "ia-1".into(),
        category: Finding::MinorNonconformity,
        requirements: vec!["A.6.2.6".into(), "9.2".into()],
        statement: "two post-mortems without root cause".into(),
        evidence: vec![EvidenceRef::Item {
            item_id: "pm-1".into(),
            origin: "example.org/ai".into(),
            sha256: "ab".repeat(32),
            sealed_at: t("2026-02-01T00:00:00Z"),
        }],
        recorded_by: None,
        recorded_at: t("2026-03-01T00:00:00Z"),
    };
    let action = ActionRecord {
        id: "CA-0001".into(),
        finding: "F-0001".into(),
        correction: "c".into(),
        root_cause: "r".into(),
        action: "template changed".into(),
        owner: "Quality".into(),
        due: "2026-05-30".parse().unwrap(),
        created_at: t("2026-03-02T00:00:00Z"),
        reviews: vec![],
    };
    let mut items = std::collections::BTreeMap::new();
    items.insert(
        ("example.org/ai".to_owned(), "pm-1".to_owned()),
        ItemLocation {
            bundle_seq: 3,
            artefact_path: "data/items/pm-1/artefact/pm.md".into(),
        },
    );
    OscalFacts {
        engagement_id: "2026-01-01T00:00:00Z".into(),
        last_modified: "2026-03-02T00:00:00Z".into(),
        audits: vec![audit],
        findings: vec![finding],
        actions: vec![action],
        items,
        populations: vec![],
        as_of: "2026-04-01".parse().unwrap(),
    }
}

#[test]
fn a_nonconformity_is_not_satisfied_with_its_category_and_evidence() {
    let ar = assessment_results(&facts());
    let r = &ar["assessment-results"]["results"][0];
    let f = &r["findings"][0];
    assert_eq!(f["target"]["status"]["state"], "not-satisfied");
    assert_eq!(f["target"]["target-id"], "A.6.2.6");
    assert!(
        f["props"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "finding-category"
                && p["value"] == "minor-nonconformity"
                && p["ns"] == NS)
    );
    let o = &r["observations"][0];
    assert_eq!(f["related-observations"][0]["observation-uuid"], o["uuid"]);
    let ev = &o["relevant-evidence"][0];
    assert_eq!(ev["href"], "run-000003.zip#data/items/pm-1/artefact/pm.md");
    assert_eq!(ev["props"][0]["value"], "ab".repeat(32));
    let controls = &r["reviewed-controls"]["control-selections"][0]["include-controls"];
    assert_eq!(controls[1]["control-id"], "clause-9.2");
}

#[test]
fn uuids_are_version_5_and_stable_per_engagement() {
    let a = assessment_results(&facts());
    assert_eq!(a, assessment_results(&facts()));
    let u = a["assessment-results"]["uuid"].as_str().unwrap();
    assert_eq!(u.len(), 36);
    assert_eq!(&u[14..15], "5");
    let mut other = facts();
    other.engagement_id = "2027-01-01T00:00:00Z".into();
    assert_ne!(assessment_results(&other)["assessment-results"]["uuid"], u);
}

#[test]
fn the_plan_of_action_lists_open_actions_only() {
    let p = poam(&facts()).unwrap();
    let items = &p["plan-of-action-and-milestones"]["poam-items"];
    assert_eq!(items.as_array().unwrap().len(), 1);
    assert_eq!(
        items[0]["related-findings"][0]["finding-uuid"],
        p["plan-of-action-and-milestones"]["findings"][0]["uuid"]
    );
    let mut closed = facts();
    closed.actions[0].reviews.push(Review {
        evidence: closed.findings[0].evidence[0].clone(),
        reviewed_on: "2026-03-20".parse().unwrap(),
        conclusion: "effective".into(),
        effective: true,
        recorded_at: t("2026-03-20T00:00:00Z"),
    });
    assert!(poam(&closed).is_none());
}
