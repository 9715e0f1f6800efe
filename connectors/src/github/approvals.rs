//! The facts auditors test on a merged pull request, derived from its reviews and checks
//! without IO: who approved, whether an approval was stale (given on a commit other than the
//! merged head), whether the author approved their own change, and how the required checks
//! ended on the merged head.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

/// Review states GitHub documents; any other state is reported, never fatal.
const KNOWN_STATES: &[&str] = &[
    "APPROVED",
    "CHANGES_REQUESTED",
    "COMMENTED",
    "DISMISSED",
    "PENDING",
];

/// Conclusions and states that let a required check pass.
const PASSING: &[&str] = &["success", "neutral", "skipped"];

/// One review as the facts need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Review {
    /// `None` for a deleted account.
    pub login: Option<String>,
    pub state: String,
    pub commit_id: Option<String>,
    pub submitted_at: Option<String>,
}

impl Review {
    /// Read a review object of `/pulls/{n}/reviews`; missing fields stay empty.
    pub(crate) fn from_json(v: &Value) -> Self {
        let s = |key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
        Self {
            login: v
                .get("user")
                .and_then(|u| u.get("login"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            state: s("state").unwrap_or_default(),
            commit_id: s("commit_id"),
            submitted_at: s("submitted_at"),
        }
    }

    fn reviewer(&self) -> &str {
        self.login.as_deref().unwrap_or("ghost")
    }
}

/// An approval given on a commit other than the merged head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct StaleApproval {
    pub reviewer: String,
    /// The commit approved; `None` when GitHub no longer knows it.
    pub commit_id: Option<String>,
}

/// What the reviews of one pull request show.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ApprovalFacts {
    /// Everyone who submitted a review, in order of their first review.
    pub reviewers: Vec<String>,
    /// Reviewers whose last approving, rejecting or dismissed review is an approval.
    pub approvers: Vec<String>,
    pub stale_approvals: Vec<StaleApproval>,
    /// The author is among the approvers.
    pub self_approved: bool,
    /// Someone other than the author approved the merged head commit.
    pub approved_at_head: bool,
    /// Approvers other than the author.
    pub independent_approvers: Vec<String>,
    /// Reviewers whose last decisive review requested changes.
    pub changes_requested: Vec<String>,
    /// States GitHub sent that this version does not know, with their count.
    pub unknown_states: BTreeMap<String, u64>,
}

/// Derive the approval facts of a pull request by `author` merged at `head_sha` from its
/// `reviews` in the order GitHub lists them (chronological).
pub(crate) fn approval_facts(author: &str, head_sha: &str, reviews: &[Review]) -> ApprovalFacts {
    let mut facts = ApprovalFacts::default();
    let mut decisive: BTreeMap<&str, &Review> = BTreeMap::new();
    for r in reviews {
        let who = r.reviewer();
        if r.state != "PENDING" && !facts.reviewers.iter().any(|x| x == who) {
            facts.reviewers.push(who.to_owned());
        }
        match r.state.as_str() {
            "APPROVED" | "CHANGES_REQUESTED" | "DISMISSED" => {
                decisive.insert(who, r);
            }
            s if KNOWN_STATES.contains(&s) => {}
            other => *facts.unknown_states.entry(other.to_owned()).or_default() += 1,
        }
    }
    for who in &facts.reviewers {
        let Some(r) = decisive.get(who.as_str()) else {
            continue;
        };
        match r.state.as_str() {
            "APPROVED" => {
                facts.approvers.push(who.clone());
                let at_head = r.commit_id.as_deref() == Some(head_sha);
                if !at_head {
                    facts.stale_approvals.push(StaleApproval {
                        reviewer: who.clone(),
                        commit_id: r.commit_id.clone(),
                    });
                }
                if who == author {
                    facts.self_approved = true;
                } else {
                    facts.independent_approvers.push(who.clone());
                    facts.approved_at_head |= at_head;
                }
            }
            "CHANGES_REQUESTED" => facts.changes_requested.push(who.clone()),
            _ => {}
        }
    }
    facts
}

/// How one required check ended on the merged head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct CheckResult {
    pub context: String,
    /// A check run's conclusion or a commit status's state; `missing` when neither reported.
    pub result: String,
    pub passed: bool,
}

/// Match `required` contexts against the head's check runs (by name; the latest run wins) and
/// commit statuses (by context).
pub(crate) fn required_check_results(
    required: &[String],
    check_runs: &[Value],
    statuses: &[Value],
) -> Vec<CheckResult> {
    required
        .iter()
        .map(|context| {
            let run = check_runs
                .iter()
                .filter(|r| r.get("name").and_then(Value::as_str) == Some(context))
                .max_by_key(|r| r.get("id").and_then(Value::as_u64).unwrap_or(0))
                .map(|r| {
                    r.get("conclusion")
                        .and_then(Value::as_str)
                        .or_else(|| r.get("status").and_then(Value::as_str))
                        .unwrap_or("pending")
                        .to_owned()
                });
            let status = || {
                statuses
                    .iter()
                    .find(|s| s.get("context").and_then(Value::as_str) == Some(context))
                    .and_then(|s| s.get("state").and_then(Value::as_str))
                    .map(str::to_owned)
            };
            let result = run.or_else(status).unwrap_or_else(|| "missing".into());
            CheckResult {
                context: context.clone(),
                passed: PASSING.contains(&result.as_str()),
                result,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "headsha";

    fn review(who: &str, state: &str, commit: &str) -> Review {
        Review {
            login: Some(who.into()),
            state: state.into(),
            commit_id: Some(commit.into()),
            submitted_at: None,
        }
    }

    fn facts(reviews: &[Review]) -> ApprovalFacts {
        approval_facts("ana", HEAD, reviews)
    }

    #[test]
    fn an_approval_of_the_merged_head_by_someone_else_is_clean() {
        let f = facts(&[review("ben", "APPROVED", HEAD)]);
        assert_eq!(f.approvers, ["ben"]);
        assert!(f.approved_at_head && !f.self_approved && f.stale_approvals.is_empty());
    }

    #[test]
    fn an_approval_of_an_earlier_commit_is_stale() {
        let f = facts(&[review("ben", "APPROVED", "oldsha")]);
        assert_eq!(
            f.stale_approvals,
            [StaleApproval {
                reviewer: "ben".into(),
                commit_id: Some("oldsha".into())
            }]
        );
        assert!(!f.approved_at_head);
    }

    #[test]
    fn approving_again_at_the_head_makes_an_earlier_approval_current() {
        let f = facts(&[
            review("ben", "APPROVED", "oldsha"),
            review("ben", "APPROVED", HEAD),
        ]);
        assert!(f.stale_approvals.is_empty() && f.approved_at_head);
    }

    #[test]
    fn the_author_approving_their_own_change_is_self_approval_and_not_independent() {
        let f = facts(&[review("ana", "APPROVED", HEAD)]);
        assert!(f.self_approved);
        assert!(!f.approved_at_head, "only someone else's approval counts");
        assert!(f.independent_approvers.is_empty());
    }

    #[test]
    fn a_later_change_request_or_dismissal_withdraws_an_approval_but_a_comment_does_not() {
        let f = facts(&[
            review("ben", "APPROVED", HEAD),
            review("ben", "CHANGES_REQUESTED", HEAD),
            review("cy", "APPROVED", HEAD),
            review("cy", "COMMENTED", HEAD),
            review("di", "DISMISSED", HEAD),
        ]);
        assert_eq!(f.approvers, ["cy"]);
        assert_eq!(f.changes_requested, ["ben"]);
        assert_eq!(f.reviewers, ["ben", "cy", "di"]);
    }

    #[test]
    fn an_unknown_review_state_is_counted_and_changes_nothing_else() {
        let f = facts(&[
            review("ben", "APPROVED", HEAD),
            review("ben", "SUPER_APPROVED", HEAD),
        ]);
        assert_eq!(f.approvers, ["ben"]);
        assert_eq!(f.unknown_states.get("SUPER_APPROVED"), Some(&1));
    }

    #[test]
    fn a_deleted_reviewer_is_named_ghost_and_an_unknown_commit_is_stale() {
        let f = facts(&[Review {
            login: None,
            state: "APPROVED".into(),
            commit_id: None,
            submitted_at: None,
        }]);
        assert_eq!(f.approvers, ["ghost"]);
        assert_eq!(f.stale_approvals[0].commit_id, None);
    }

    #[test]
    fn required_checks_pass_on_success_and_are_missing_when_nothing_reported() {
        let runs = vec![
            serde_json::json!({"id": 1, "name": "test", "status": "completed", "conclusion": "failure"}),
            serde_json::json!({"id": 2, "name": "test", "status": "completed", "conclusion": "success"}),
        ];
        let statuses = vec![serde_json::json!({"context": "ci/lint", "state": "failure"})];
        let r = required_check_results(
            &["test".into(), "ci/lint".into(), "eval".into()],
            &runs,
            &statuses,
        );
        let got: Vec<_> = r.iter().map(|c| (c.result.as_str(), c.passed)).collect();
        assert_eq!(
            got,
            [("success", true), ("failure", false), ("missing", false)]
        );
    }
}
