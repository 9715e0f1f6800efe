//! The GraphQL side of merged pull requests without IO: the queries (a page of merged pull
//! requests with their reviews, merger and the head commit's status check rollup; follow-ups
//! for one pull request's further reviews or check contexts), the page sizes and how they
//! split, and how an answer (with its partial errors) becomes pull request records.

use std::collections::BTreeMap;

use evidence_model::Timestamp;
use serde_json::Value;

use super::approvals::Review;
use super::graphql::{GraphqlError, PathStep};
use super::pull_record::{Account, PullRecord, ReviewRecord};

/// Reviews and check contexts asked per pull request in a page: GitHub's cost counts one
/// request per connection per parent, whatever its size up to 100, so these only bound the
/// node count (`pulls × (2 + reviews + contexts)`, 10,200 for a page of 100).
pub(crate) const REVIEWS_PER_PULL: u32 = 50;
pub(crate) const CONTEXTS_PER_PULL: u32 = 50;
/// Page size of the follow-up queries for one pull request.
pub(crate) const FOLLOW_UP_PAGE: u32 = 100;
/// The endpoint name of the rollup in `unavailable` and in the degradation gap.
pub(crate) const ROLLUP: &str = "status-check-rollup";

/// An account's login and numeric id (`databaseId` lives on the concrete types).
const ACCOUNT: &str = "login ... on User { databaseId } ... on Bot { databaseId }";
/// A review as the facts need it.
const REVIEW: &str = "author { ACCOUNT } state submittedAt commit { oid }";
/// A check context: a check run or a commit status.
const CONTEXT: &str = "__typename ... on CheckRun { databaseId name status conclusion completedAt } ... on StatusContext { context state createdAt }";

/// What every query asks about its own cost.
const RATE_LIMIT: &str = "rateLimit { cost remaining resetAt nodeCount }";

fn expand(template: &str) -> String {
    template
        .replace("REVIEW_FIELDS", &REVIEW.replace("ACCOUNT", ACCOUNT))
        .replace("CONTEXT_FIELDS", CONTEXT)
        .replace("ACCOUNT", ACCOUNT)
        .replace("RATE_LIMIT", RATE_LIMIT)
}

/// A page of merged pull requests, most recently updated first.
pub(crate) fn page_query() -> String {
    expand(
        "query MergedPullRequests($owner: String!, $name: String!, $first: Int!, $after: String, $reviews: Int!, $contexts: Int!) { \
RATE_LIMIT \
repository(owner: $owner, name: $name) { \
pullRequests(states: [MERGED], first: $first, after: $after, orderBy: {field: UPDATED_AT, direction: DESC}) { \
pageInfo { hasNextPage endCursor } \
nodes { number title url createdAt updatedAt mergedAt baseRefName headRefOid \
author { ACCOUNT } mergedBy { ACCOUNT } mergeCommit { oid } \
reviews(first: $reviews) { totalCount pageInfo { hasNextPage endCursor } nodes { REVIEW_FIELDS } } \
commits(last: 1) { nodes { commit { oid statusCheckRollup { state \
contexts(first: $contexts) { totalCount pageInfo { hasNextPage endCursor } nodes { CONTEXT_FIELDS } } } } } } } } } }",
    )
}

/// One pull request's reviews after `$after`.
pub(crate) fn reviews_query() -> String {
    expand(
        "query PullRequestReviews($owner: String!, $name: String!, $number: Int!, $first: Int!, $after: String) { \
RATE_LIMIT \
repository(owner: $owner, name: $name) { pullRequest(number: $number) { \
reviews(first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } nodes { REVIEW_FIELDS } } } } }",
    )
}

/// One pull request's head check contexts after `$after`.
pub(crate) fn contexts_query() -> String {
    expand(
        "query PullRequestCheckContexts($owner: String!, $name: String!, $number: Int!, $first: Int!, $after: String) { \
RATE_LIMIT \
repository(owner: $owner, name: $name) { pullRequest(number: $number) { \
commits(last: 1) { nodes { commit { oid statusCheckRollup { state \
contexts(first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } nodes { CONTEXT_FIELDS } } } } } } } } }",
    )
}

/// The page sizes of one repository's walk; they only shrink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PageSizes {
    pub pulls: u32,
    pub reviews: u32,
    pub contexts: u32,
}

impl PageSizes {
    /// Pages of `per_page` pull requests (1-100).
    pub(crate) fn new(per_page: u32) -> Self {
        Self {
            pulls: per_page.clamp(1, 100),
            reviews: REVIEWS_PER_PULL,
            contexts: CONTEXTS_PER_PULL,
        }
    }

    /// Halve the page for a query GitHub found too heavy: the pull requests first, then the
    /// reviews and contexts per pull request. False when nothing is left to halve.
    pub(crate) fn split(&mut self) -> bool {
        if self.pulls > 1 {
            self.pulls /= 2;
            true
        } else if self.reviews > 1 || self.contexts > 1 {
            self.reviews = (self.reviews / 2).max(1);
            self.contexts = (self.contexts / 2).max(1);
            true
        } else {
            false
        }
    }

    /// The most nodes a page can return, as GitHub counts them against its 500,000.
    #[cfg(test)]
    pub(crate) fn nodes(&self) -> u64 {
        let pulls = u64::from(self.pulls);
        pulls + pulls * u64::from(self.reviews) + pulls + pulls * u64::from(self.contexts)
    }
}

/// The variables of a page query.
pub(crate) fn page_variables(
    owner: &str,
    name: &str,
    sizes: PageSizes,
    after: Option<&str>,
) -> Value {
    serde_json::json!({
        "owner": owner,
        "name": name,
        "first": sizes.pulls,
        "after": after,
        "reviews": sizes.reviews,
        "contexts": sizes.contexts,
    })
}

/// The variables of a follow-up query for pull request `number`.
pub(crate) fn follow_up_variables(owner: &str, name: &str, number: u64, after: &str) -> Value {
    serde_json::json!({
        "owner": owner,
        "name": name,
        "number": number,
        "first": FOLLOW_UP_PAGE,
        "after": after,
    })
}

/// A merged pull request read from a page.
#[derive(Debug, Clone)]
pub(crate) struct PagePull {
    pub record: PullRecord,
    pub updated_at: Option<Timestamp>,
    /// The node's bytes exactly as GitHub sent them.
    pub raw: Vec<u8>,
    /// Where further reviews start, when the page did not hold them all.
    pub more_reviews: Option<String>,
    /// Where further check contexts start, when the page did not hold them all.
    pub more_contexts: Option<String>,
}

/// One entry of a page.
#[derive(Debug, Clone)]
pub(crate) enum Entry {
    Pull(Box<PagePull>),
    /// GitHub left this pull request out (or unreadable): a gap, fetched again.
    Failed {
        number: Option<u64>,
        position: usize,
        detail: String,
    },
}

/// A page of merged pull requests.
#[derive(Debug, Clone, Default)]
pub(crate) struct Page {
    pub has_next: bool,
    pub end_cursor: Option<String>,
    pub entries: Vec<Entry>,
    /// The repository could not be read (`repository` is null): why.
    pub repository_missing: Option<String>,
    /// Errors not tied to one pull request.
    pub other_errors: Vec<String>,
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn account(v: &Value) -> Option<Account> {
    Some(Account {
        login: text(v, "login")?,
        id: v
            .get("databaseId")
            .and_then(Value::as_u64)
            .map(|id| id.to_string()),
    })
}

fn lower(v: &Value, key: &str) -> Value {
    v.get(key)
        .and_then(Value::as_str)
        .map_or(Value::Null, |s| Value::from(s.to_ascii_lowercase()))
}

/// A review node as a record.
fn review(node: &Value) -> ReviewRecord {
    let author = node.get("author").and_then(account);
    ReviewRecord {
        review: Review {
            login: author.as_ref().map(|a| a.login.clone()),
            state: text(node, "state").unwrap_or_default(),
            commit_id: node.get("commit").and_then(|c| text(c, "oid")),
            submitted_at: text(node, "submittedAt"),
        },
        author_id: author.and_then(|a| a.id),
    }
}

/// A check context in REST's shape: a check run (`name`, `id`, `status`, `conclusion`,
/// lower-case as REST writes them) or a commit status (`context`, `state`).
pub(crate) enum Context {
    CheckRun(Value),
    Status(Value),
}

fn context(node: &Value) -> Option<Context> {
    match node.get("__typename").and_then(Value::as_str)? {
        "CheckRun" => Some(Context::CheckRun(serde_json::json!({
            "name": text(node, "name"),
            "id": node.get("databaseId").and_then(Value::as_u64),
            "status": lower(node, "status"),
            "conclusion": lower(node, "conclusion"),
        }))),
        "StatusContext" => Some(Context::Status(serde_json::json!({
            "context": text(node, "context"),
            "state": lower(node, "state"),
        }))),
        _ => None,
    }
}

/// A connection's nodes and where its next page starts.
pub(crate) struct Connection<'v> {
    pub nodes: Vec<&'v Value>,
    pub next: Option<String>,
}

/// Read a connection (`nodes`, `pageInfo`); `None` when it is not one.
pub(crate) fn connection(v: &Value) -> Option<Connection<'_>> {
    let nodes = v.get("nodes")?.as_array()?.iter().collect();
    let info = v.get("pageInfo");
    let has_next = info
        .and_then(|i| i.get("hasNextPage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let next = if has_next {
        info.and_then(|i| text(i, "endCursor"))
    } else {
        None
    };
    Some(Connection { nodes, next })
}

/// Add review nodes to `record`.
pub(crate) fn add_reviews(record: &mut PullRecord, nodes: &[&Value]) {
    record.reviews.extend(nodes.iter().map(|n| review(n)));
}

/// Add check context nodes to `record`.
pub(crate) fn add_contexts(record: &mut PullRecord, nodes: &[&Value]) {
    for c in nodes.iter().filter_map(|n| context(n)) {
        match c {
            Context::CheckRun(v) => record.check_runs.push(v),
            Context::Status(v) => record.statuses.push(v),
        }
    }
}

/// The head commit of a pull request node (`commits(last: 1)`).
fn head_commit(node: &Value) -> Option<&Value> {
    node.get("commits")?
        .get("nodes")?
        .as_array()?
        .first()?
        .get("commit")
}

/// A pull request node as a record, or why it cannot be one.
fn page_pull(node: &Value, raw: &[u8], rollup_error: Option<&str>) -> Result<PagePull, String> {
    let number = node
        .get("number")
        .and_then(Value::as_u64)
        .ok_or("the pull request has no number")?;
    let head_sha = text(node, "headRefOid").ok_or("the pull request has no headRefOid")?;
    let reviews = node
        .get("reviews")
        .and_then(connection)
        .ok_or("the pull request's reviews are missing")?;
    let mut record = PullRecord {
        number,
        title: text(node, "title"),
        html_url: text(node, "url"),
        author: node.get("author").and_then(account),
        merged_by: node.get("mergedBy").and_then(account),
        created_at: text(node, "createdAt"),
        merged_at: text(node, "mergedAt"),
        base: text(node, "baseRefName").unwrap_or_default(),
        head_sha,
        merge_commit_sha: node.get("mergeCommit").and_then(|c| text(c, "oid")),
        reviews: Vec::new(),
        check_runs: Vec::new(),
        statuses: Vec::new(),
        unavailable: BTreeMap::new(),
    };
    add_reviews(&mut record, &reviews.nodes);
    let mut more_contexts = None;
    match (rollup_error, head_commit(node)) {
        (Some(why), _) => {
            record.unavailable.insert(
                ROLLUP,
                format!("unavailable: statusCheckRollup of the head commit: {why}"),
            );
        }
        (None, Some(commit)) if text(commit, "oid").as_deref() == Some(&record.head_sha) => {
            let rollup = commit.get("statusCheckRollup").unwrap_or(&Value::Null);
            if let Some(contexts) = rollup.get("contexts").and_then(connection) {
                add_contexts(&mut record, &contexts.nodes);
                more_contexts = contexts.next;
            }
        }
        (None, _) => {
            record.unavailable.insert(
                ROLLUP,
                "unavailable: statusCheckRollup: the pull request's last commit is not its head"
                    .to_owned(),
            );
        }
    }
    Ok(PagePull {
        updated_at: text(node, "updatedAt").and_then(|t| t.parse().ok()),
        raw: raw.to_vec(),
        more_reviews: reviews.next,
        more_contexts,
        record,
    })
}

/// Where an error points inside the page: the position of the pull request and the field
/// under it (`None` when it is not under one pull request).
fn error_target(e: &GraphqlError) -> Option<(usize, Option<&str>)> {
    match e.path.as_slice() {
        [
            PathStep::Field(r),
            PathStep::Field(p),
            PathStep::Field(n),
            PathStep::Index(i),
            rest @ ..,
        ] if r == "repository" && p == "pullRequests" && n == "nodes" => {
            let field = match rest.first() {
                Some(PathStep::Field(f)) => Some(f.as_str()),
                _ => None,
            };
            Some((*i, field))
        }
        _ => None,
    }
}

/// Read a page answer. `body` is the answer's bytes (each node's bytes are kept as sent).
/// Errors under one pull request's `commits` leave its checks unavailable; any other error
/// under it leaves the pull request out (a gap, fetched again); other errors are the page's.
pub(crate) fn read_page(json: &Value, body: &[u8], errors: &[GraphqlError]) -> Page {
    let mut page = Page::default();
    let repository = &json["data"]["repository"];
    let mut per_pull: BTreeMap<usize, (bool, Vec<String>)> = BTreeMap::new();
    for e in errors {
        match error_target(e) {
            Some((i, field)) => {
                let entry = per_pull.entry(i).or_default();
                entry.0 |= field != Some("commits");
                entry.1.push(e.message.clone());
            }
            None => page.other_errors.push(match &e.kind {
                Some(kind) => format!("{kind}: {}", e.message),
                None => e.message.clone(),
            }),
        }
    }
    if repository.is_null() {
        page.repository_missing = Some(if page.other_errors.is_empty() {
            "GitHub answered no repository".to_owned()
        } else {
            page.other_errors.join("; ")
        });
        return page;
    }
    let Some(pulls) = repository.get("pullRequests").and_then(connection) else {
        page.repository_missing = Some("the answer has no pullRequests connection".to_owned());
        return page;
    };
    page.has_next = pulls.next.is_some();
    page.end_cursor = pulls.next;
    let raws = raw_nodes(body).unwrap_or_default();
    for (position, node) in pulls.nodes.iter().enumerate() {
        let number = node.get("number").and_then(Value::as_u64);
        let (fails, messages) = per_pull.remove(&position).unwrap_or_default();
        if node.is_null() || fails {
            page.entries.push(Entry::Failed {
                number,
                position,
                detail: if messages.is_empty() {
                    "GitHub answered null for it".to_owned()
                } else {
                    messages.join("; ")
                },
            });
            continue;
        }
        let raw = raws
            .get(position)
            .map(|r| r.as_bytes().to_vec())
            .unwrap_or_else(|| node.to_string().into_bytes());
        let rollup_error = (!messages.is_empty()).then(|| messages.join("; "));
        page.entries
            .push(match page_pull(node, &raw, rollup_error.as_deref()) {
                Ok(pull) => Entry::Pull(Box::new(pull)),
                Err(detail) => Entry::Failed {
                    number,
                    position,
                    detail: detail.to_owned(),
                },
            });
    }
    page
}

/// Each pull request node's bytes as sent.
fn raw_nodes(body: &[u8]) -> Option<Vec<String>> {
    #[derive(serde::Deserialize)]
    struct Envelope<'a> {
        #[serde(borrow)]
        data: Data<'a>,
    }
    #[derive(serde::Deserialize)]
    struct Data<'a> {
        #[serde(borrow)]
        repository: Repository<'a>,
    }
    #[derive(serde::Deserialize)]
    struct Repository<'a> {
        #[serde(borrow, rename = "pullRequests")]
        pull_requests: Nodes<'a>,
    }
    #[derive(serde::Deserialize)]
    struct Nodes<'a> {
        #[serde(borrow)]
        nodes: Vec<&'a serde_json::value::RawValue>,
    }
    let envelope: Envelope<'_> = serde_json::from_slice(body).ok()?;
    Some(
        envelope
            .data
            .repository
            .pull_requests
            .nodes
            .iter()
            .map(|r| r.get().to_owned())
            .collect(),
    )
}

/// The reviews connection of a follow-up answer.
pub(crate) fn follow_up_reviews(json: &Value) -> Option<Connection<'_>> {
    connection(&json["data"]["repository"]["pullRequest"]["reviews"])
}

/// The check contexts connection of a follow-up answer.
pub(crate) fn follow_up_contexts(json: &Value) -> Option<Connection<'_>> {
    let commit = head_commit(&json["data"]["repository"]["pullRequest"])?;
    connection(commit.get("statusCheckRollup")?.get("contexts")?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(number: u64) -> Value {
        json!({
            "number": number, "title": "Add gate", "url": "https://github.com/acme/model/pull/1",
            "createdAt": "2026-01-01T09:00:00Z", "updatedAt": "2026-03-01T10:00:00Z",
            "mergedAt": "2026-03-01T10:00:00Z", "baseRefName": "main", "headRefOid": "abc",
            "author": {"login": "ana", "databaseId": 7}, "mergedBy": {"login": "bot"},
            "mergeCommit": {"oid": "def"},
            "reviews": {"totalCount": 2, "pageInfo": {"hasNextPage": true, "endCursor": "R1"},
                "nodes": [{"author": {"login": "ben", "databaseId": 8}, "state": "APPROVED",
                    "submittedAt": "2026-03-01T09:00:00Z", "commit": {"oid": "abc"}}]},
            "commits": {"nodes": [{"commit": {"oid": "abc", "statusCheckRollup": {"state": "SUCCESS",
                "contexts": {"totalCount": 2, "pageInfo": {"hasNextPage": false, "endCursor": "C2"},
                    "nodes": [
                        {"__typename": "CheckRun", "databaseId": 4, "name": "test", "status": "COMPLETED", "conclusion": "SUCCESS", "completedAt": "2026-03-01T09:30:00Z"},
                        {"__typename": "StatusContext", "context": "ci/lint", "state": "FAILURE", "createdAt": "2026-03-01T09:30:00Z"}
                    ]}}}}]}
        })
    }

    fn answer(nodes: Vec<Value>) -> (Value, Vec<u8>) {
        let json = json!({"data": {"repository": {"pullRequests": {
            "pageInfo": {"hasNextPage": true, "endCursor": "P1"}, "nodes": nodes}}}});
        let body = serde_json::to_vec(&json).unwrap();
        (json, body)
    }

    #[test]
    fn a_node_becomes_a_record_in_rest_terms_with_its_follow_up_cursors() {
        let (json, body) = answer(vec![node(1)]);
        let page = read_page(&json, &body, &[]);
        assert!(page.has_next);
        assert_eq!(page.end_cursor.as_deref(), Some("P1"));
        let Entry::Pull(p) = &page.entries[0] else {
            panic!("not a pull request")
        };
        assert_eq!(p.record.author.as_ref().unwrap().id.as_deref(), Some("7"));
        assert_eq!(p.record.reviews[0].review.commit_id.as_deref(), Some("abc"));
        assert_eq!(p.record.check_runs[0]["conclusion"], "success");
        assert_eq!(p.record.statuses[0]["state"], "failure");
        assert_eq!(p.more_reviews.as_deref(), Some("R1"));
        assert_eq!(p.more_contexts, None);
        let kept: Value = serde_json::from_slice(&p.raw).unwrap();
        assert_eq!(kept, node(1));
    }

    #[test]
    fn an_error_under_commits_degrades_the_checks_and_any_other_leaves_the_pull_out() {
        let (json, body) = answer(vec![node(1), node(2), Value::Null]);
        let error = |path: Value| GraphqlError {
            kind: Some("FORBIDDEN".into()),
            message: "Resource not accessible by integration".into(),
            path: path
                .as_array()
                .unwrap()
                .iter()
                .map(|s| match s {
                    Value::String(f) => PathStep::Field(f.clone()),
                    n => PathStep::Index(n.as_u64().unwrap() as usize),
                })
                .collect(),
        };
        let errors = [
            error(json!(["repository", "pullRequests", "nodes", 0, "commits"])),
            error(json!(["repository", "pullRequests", "nodes", 1, "reviews"])),
            error(json!(["repository", "pullRequests", "nodes", 2])),
        ];
        let page = read_page(&json, &body, &errors);
        let Entry::Pull(first) = &page.entries[0] else {
            panic!("the first pull request is kept")
        };
        assert!(first.record.unavailable[ROLLUP].contains("not accessible"));
        assert!(first.record.check_runs.is_empty());
        assert!(matches!(
            page.entries[1],
            Entry::Failed {
                number: Some(2),
                ..
            }
        ));
        assert!(matches!(
            page.entries[2],
            Entry::Failed {
                number: None,
                position: 2,
                ..
            }
        ));
    }

    #[test]
    fn a_page_splits_the_pull_requests_first_then_the_nested_connections() {
        let mut sizes = PageSizes::new(100);
        assert_eq!(sizes.nodes(), 10_200);
        let mut steps = 0;
        while sizes.split() {
            steps += 1;
        }
        assert_eq!(
            sizes,
            PageSizes {
                pulls: 1,
                reviews: 1,
                contexts: 1
            }
        );
        assert_eq!(steps, 6 + 5);
    }

    #[test]
    fn the_queries_ask_their_cost_and_name_the_documented_fields() {
        let q = page_query();
        for field in [
            "rateLimit { cost remaining resetAt nodeCount }",
            "pullRequests(states: [MERGED]",
            "orderBy: {field: UPDATED_AT, direction: DESC}",
            "mergedBy { login",
            "headRefOid",
            "statusCheckRollup",
            "... on CheckRun { databaseId name status conclusion completedAt }",
            "... on StatusContext { context state createdAt }",
        ] {
            assert!(q.contains(field), "{field} missing from {q}");
        }
        assert!(!q.contains("ACCOUNT") && !q.contains("_FIELDS"));
        assert!(reviews_query().contains("pullRequest(number: $number)"));
        assert!(contexts_query().contains("contexts(first: $first, after: $after)"));
    }
}
