//! The closure rules, statuses and blockers of clause 10.2, on hand-built records.

use super::*;

fn t(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn d(text: &str) -> Date {
    text.parse().unwrap()
}

fn finding(category: Finding) -> FindingRecord {
    FindingRecord {
        id: "F-0001".into(),
        audit: "stage2".into(),
        category,
        requirements: vec!["A.6.2.6".into()],
        statement: "two releases without approval".into(),
        evidence: vec![],
        recorded_by: None,
        recorded_at: t("2027-01-10T12:00:00Z"),
    }
}

fn action() -> ActionRecord {
    ActionRecord {
        id: "CA-0001".into(),
        finding: "F-0001".into(),
        correction: "c".into(),
        root_cause: "r".into(),
        action: "a".into(),
        owner: "o".into(),
        due: default_due(t("2027-01-10T12:00:00Z"), DEFAULT_DUE_DAYS),
        created_at: t("2027-01-11T09:00:00Z"),
        reviews: vec![],
    }
}

fn review(sealed_at: &str, on: &str, effective: bool) -> Review {
    Review {
        evidence: EvidenceRef::Item {
            item_id: "policy-v2".into(),
            origin: "example.org/ai".into(),
            sha256: "ab".repeat(32),
            sealed_at: t(sealed_at),
        },
        reviewed_on: d(on),
        conclusion: "no unapproved release since".into(),
        effective,
        recorded_at: t("2027-03-01T00:00:00Z"),
    }
}

#[test]
fn the_default_due_date_is_ninety_days_after_the_finding() {
    assert_eq!(action().due, d("2027-04-10"));
}

#[test]
fn closure_needs_evidence_sealed_after_the_finding() {
    let f = finding(Finding::MinorNonconformity);
    let before = review("2027-01-09T00:00:00Z", "2027-02-01", true);
    assert!(matches!(
        check_closure(&f, &action(), &before, d("2027-03-01")),
        Err(Refusal::EvidenceBeforeFinding { .. })
    ));
    let same_instant = review("2027-01-10T12:00:00Z", "2027-02-01", true);
    assert!(check_closure(&f, &action(), &same_instant, d("2027-03-01")).is_err());
    let after = review("2027-01-20T00:00:00Z", "2027-02-01", true);
    assert_eq!(
        check_closure(&f, &action(), &after, d("2027-03-01")),
        Ok(())
    );
}

#[test]
fn the_review_is_dated_between_the_evidence_and_today_and_says_something() {
    let f = finding(Finding::MinorNonconformity);
    let early = review("2027-01-20T00:00:00Z", "2027-01-19", true);
    assert!(matches!(
        check_closure(&f, &action(), &early, d("2027-03-01")),
        Err(Refusal::ReviewBeforeEvidence { .. })
    ));
    let future = review("2027-01-20T00:00:00Z", "2027-04-01", true);
    assert!(matches!(
        check_closure(&f, &action(), &future, d("2027-03-01")),
        Err(Refusal::ReviewInFuture { .. })
    ));
    let mut silent = review("2027-01-20T00:00:00Z", "2027-02-01", true);
    silent.conclusion = "  ".into();
    assert_eq!(
        check_closure(&f, &action(), &silent, d("2027-03-01")),
        Err(Refusal::NoConclusion)
    );
    let population = Review {
        evidence: EvidenceRef::Population {
            name: "p".into(),
            finding: "conformity".into(),
            supports_reliance: true,
            concluded_at: t("2027-02-01T00:00:00Z"),
        },
        ..review("2027-01-20T00:00:00Z", "2027-02-01", true)
    };
    assert_eq!(
        check_closure(&f, &action(), &population, d("2027-03-01")),
        Err(Refusal::EvidenceNotAnItem)
    );
}

#[test]
fn a_closed_action_takes_no_further_review_and_a_not_effective_one_stays_open() {
    let f = finding(Finding::MajorNonconformity);
    let mut a = action();
    a.reviews
        .push(review("2027-01-20T00:00:00Z", "2027-02-01", false));
    assert_eq!(a.status(d("2027-02-02")), ActionStatus::NotEffective);
    assert_eq!(a.status(d("2027-05-01")), ActionStatus::Overdue);
    let again = review("2027-02-20T00:00:00Z", "2027-02-25", true);
    assert_eq!(check_closure(&f, &a, &again, d("2027-03-01")), Ok(()));
    a.reviews.push(again.clone());
    assert_eq!(a.status(d("2027-02-24")), ActionStatus::NotEffective);
    assert_eq!(a.status(d("2027-02-25")), ActionStatus::Closed);
    assert_eq!(a.status(d("2028-01-01")), ActionStatus::Closed);
    assert_eq!(a.age_days(d("2028-01-01")), 45);
    assert!(matches!(
        check_closure(&f, &a, &again, d("2027-03-01")),
        Err(Refusal::AlreadyClosed { .. })
    ));
}

#[test]
fn an_open_major_nonconformity_blocks_certification_until_its_action_closes() {
    let major = finding(Finding::MajorNonconformity);
    let minor = FindingRecord {
        id: "F-0002".into(),
        ..finding(Finding::MinorNonconformity)
    };
    let findings = [major.clone(), minor];
    assert!(blockers(&findings, &[], d("2027-01-09")).is_empty());
    let open = blockers(&findings, &[], d("2027-01-10"));
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].finding, "F-0001");
    assert_eq!(open[0].action, None);
    let mut a = action();
    a.reviews
        .push(review("2027-01-20T00:00:00Z", "2027-02-01", true));
    let actions = [a];
    assert_eq!(blockers(&findings, &actions, d("2027-01-31")).len(), 1);
    assert!(blockers(&findings, &actions, d("2027-02-01")).is_empty());
}

#[test]
fn only_nonconformities_need_an_action() {
    for (category, needs) in [
        (Finding::Conformity, false),
        (Finding::Observation, false),
        (Finding::OpportunityForImprovement, false),
        (Finding::MinorNonconformity, true),
        (Finding::MajorNonconformity, true),
    ] {
        assert_eq!(finding(category).needs_action(), needs, "{category:?}");
    }
}
