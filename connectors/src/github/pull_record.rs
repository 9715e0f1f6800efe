//! A merged pull request as the facts need it, whichever API it was read through (REST or
//! GraphQL), and the `pr_approval` item drafted from it. Pure: both paths meet here, so the
//! same pull request gives the same item facts.

use std::collections::BTreeMap;

use evidence_model::{Actor, Period};
use serde_json::Value;

use super::approvals::{Review, approval_facts, required_check_results};
use super::config::Tags;
use super::cursor::ProtectionSummary;
use crate::sink::ItemDraft;

/// An account as GitHub names it: its login and numeric id (`None` when not given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Account {
    pub login: String,
    pub id: Option<String>,
}

/// One review with its author's id (the facts need the rest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReviewRecord {
    pub review: Review,
    pub author_id: Option<String>,
}

/// A merged pull request read from GitHub.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PullRecord {
    pub number: u64,
    pub title: Option<String>,
    pub html_url: Option<String>,
    /// `None` for a deleted account ("ghost").
    pub author: Option<Account>,
    pub merged_by: Option<Account>,
    pub created_at: Option<String>,
    pub merged_at: Option<String>,
    pub base: String,
    pub head_sha: String,
    pub merge_commit_sha: Option<String>,
    /// In GitHub's (chronological) order.
    pub reviews: Vec<ReviewRecord>,
    /// The head's check runs in REST's shape (`name`, `id`, `status`, `conclusion`).
    pub check_runs: Vec<Value>,
    /// The head's commit statuses in REST's shape (`context`, `state`).
    pub statuses: Vec<Value>,
    /// Lookups that failed, by endpoint: `unavailable: <why>`.
    pub unavailable: BTreeMap<&'static str, String>,
}

/// A nested account of a REST object (`user`, `merged_by`).
fn rest_account(v: &Value, key: &str) -> Option<Account> {
    Some(Account {
        login: super::login(v, key)?,
        id: super::account_id(v, key),
    })
}

impl PullRecord {
    /// The record of a REST pull request (`/pulls/{n}`), its review pages, check-run pages and
    /// combined status; `unavailable` names the lookups that failed.
    pub(crate) fn from_rest(
        number: u64,
        pull: &Value,
        review_pages: &[&Value],
        check_run_pages: &[&Value],
        status: Option<&Value>,
        unavailable: BTreeMap<&'static str, String>,
    ) -> Self {
        let reviews = review_pages
            .iter()
            .flat_map(|p| p.as_array().cloned().unwrap_or_default())
            .map(|r| ReviewRecord {
                review: Review::from_json(&r),
                author_id: super::account_id(&r, "user"),
            })
            .collect();
        let check_runs = check_run_pages
            .iter()
            .flat_map(|p| {
                p.get("check_runs")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            })
            .collect();
        let statuses = status
            .and_then(|s| s.get("statuses"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        Self {
            number,
            title: super::text(pull, "title").map(str::to_owned),
            html_url: super::text(pull, "html_url").map(str::to_owned),
            author: rest_account(pull, "user"),
            merged_by: rest_account(pull, "merged_by"),
            created_at: super::text(pull, "created_at").map(str::to_owned),
            merged_at: super::text(pull, "merged_at").map(str::to_owned),
            base: pull
                .get("base")
                .and_then(|b| super::text(b, "ref"))
                .unwrap_or_default()
                .to_owned(),
            head_sha: pull
                .get("head")
                .and_then(|h| super::text(h, "sha"))
                .unwrap_or_default()
                .to_owned(),
            merge_commit_sha: super::text(pull, "merge_commit_sha").map(str::to_owned),
            reviews,
            check_runs,
            statuses,
            unavailable,
        }
    }

    fn author_login(&self) -> String {
        self.author
            .as_ref()
            .map_or_else(|| "ghost".to_owned(), |a| a.login.clone())
    }
}

/// Build the `pr_approval` item of `record` in `repo`: the artefact's bytes are the caller's,
/// `query` says how they were read.
pub(crate) fn draft(
    repo: &str,
    record: &PullRecord,
    tags: &Tags,
    required: Option<&ProtectionSummary>,
    endpoint: Option<String>,
    query: String,
) -> ItemDraft {
    let author = record.author_login();
    let head = record.head_sha.as_str();
    let parsed: Vec<Review> = record.reviews.iter().map(|r| r.review.clone()).collect();
    let facts = approval_facts(&author, head, &parsed);
    let unavailable = &record.unavailable;
    let required_checks = required
        .map(|s| required_check_results(&s.required_checks, &record.check_runs, &record.statuses))
        .unwrap_or_default();

    let mut actors = vec![Actor {
        role: "author".into(),
        name: author.clone(),
        id: record.author.as_ref().and_then(|a| a.id.clone()),
    }];
    for who in &facts.approvers {
        actors.push(Actor {
            role: "approver".into(),
            name: who.clone(),
            id: None,
        });
    }
    for who in &facts.reviewers {
        actors.push(Actor {
            role: "reviewer".into(),
            name: who.clone(),
            id: None,
        });
    }
    if let Some(merger) = &record.merged_by {
        actors.push(Actor {
            role: "merger".into(),
            name: merger.login.clone(),
            id: merger.id.clone(),
        });
    }
    let review_ids: BTreeMap<String, String> = record
        .reviews
        .iter()
        .filter_map(|r| Some((r.review.login.clone()?, r.author_id.clone()?)))
        .collect();
    for a in &mut actors {
        if a.id.is_none() {
            a.id = review_ids.get(&a.name).cloned();
        }
    }

    let merged_at = record.merged_at.as_deref().and_then(|t| t.parse().ok());
    let created_at = record.created_at.as_deref().and_then(|t| t.parse().ok());
    let reference = format!("{repo}#{}", record.number);
    let title = record.title.as_deref().unwrap_or("(untitled)");
    let text_or_null = |v: &Option<String>| v.as_deref().map_or(Value::Null, Value::from);
    let mut attributes = BTreeMap::from([
        ("repository".to_owned(), Value::from(repo)),
        ("number".to_owned(), Value::from(record.number)),
        ("base".to_owned(), Value::from(record.base.as_str())),
        ("head_sha".to_owned(), Value::from(head)),
        (
            "merge_commit_sha".to_owned(),
            text_or_null(&record.merge_commit_sha),
        ),
        ("merged_at".to_owned(), text_or_null(&record.merged_at)),
        ("author".to_owned(), Value::from(author.as_str())),
        (
            "merged_by".to_owned(),
            record
                .merged_by
                .as_ref()
                .map_or(Value::Null, |m| Value::from(m.login.as_str())),
        ),
        ("approvers".to_owned(), Value::from(facts.approvers.clone())),
        (
            "independent_approvers".to_owned(),
            Value::from(facts.independent_approvers.clone()),
        ),
        ("reviewers".to_owned(), Value::from(facts.reviewers.clone())),
        (
            "stale_approvals".to_owned(),
            serde_json::to_value(&facts.stale_approvals).unwrap_or(Value::Null),
        ),
        ("self_approved".to_owned(), Value::from(facts.self_approved)),
        (
            "approved_at_head".to_owned(),
            Value::from(facts.approved_at_head),
        ),
        (
            "changes_requested".to_owned(),
            Value::from(facts.changes_requested.clone()),
        ),
    ]);
    if !facts.unknown_states.is_empty() {
        attributes.insert(
            "unknown_review_states".to_owned(),
            serde_json::to_value(&facts.unknown_states).unwrap_or(Value::Null),
        );
    }
    if !unavailable.is_empty() {
        attributes.insert(
            "unavailable".to_owned(),
            serde_json::to_value(unavailable).unwrap_or(Value::Null),
        );
    }
    match required {
        Some(s) if !unavailable.is_empty() && !s.required_checks.is_empty() => {
            let reasons: Vec<&str> = unavailable.values().map(String::as_str).collect();
            attributes.insert(
                "required_checks".to_owned(),
                Value::from(reasons.join("; ")),
            );
            attributes.insert("required_checks_passed".to_owned(), Value::Null);
            attributes.insert(
                "required_approving_review_count".to_owned(),
                s.required_approving_review_count
                    .map_or(Value::Null, Value::from),
            );
        }
        Some(s) => {
            attributes.insert(
                "required_checks".to_owned(),
                serde_json::to_value(&required_checks).unwrap_or(Value::Null),
            );
            attributes.insert(
                "required_checks_passed".to_owned(),
                Value::from(required_checks.iter().all(|c| c.passed)),
            );
            attributes.insert(
                "required_approving_review_count".to_owned(),
                s.required_approving_review_count
                    .map_or(Value::Null, Value::from),
            );
        }
        None => {
            attributes.insert(
                "required_checks".to_owned(),
                Value::from("unknown: the base branch's protection could not be read"),
            );
        }
    }
    ItemDraft::builder(
        tags,
        reference.clone(),
        format!("pull-{}.json", record.number),
        "application/json",
    )
    .title(format!("{reference}: {title}"))
    .url(record.html_url.clone())
    .actors(actors)
    .period(Period {
        start: created_at,
        end: merged_at,
    })
    .source_time(merged_at)
    .endpoint(endpoint)
    .query(query)
    .attributes(attributes)
    .build()
}
