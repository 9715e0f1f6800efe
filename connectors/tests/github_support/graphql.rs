//! The fake GitHub's GraphQL endpoint (`POST /graphql`): the connector's three operations
//! answered from the same model as the REST answers, shaped as GitHub's GraphQL reference
//! documents the types (`PullRequest`, `PullRequestReview`, `StatusCheckRollup`, `CheckRun`,
//! `StatusContext`, `PageInfo`, `RateLimit`), with `rateLimit.cost` and `nodeCount` computed
//! from the query text the way GitHub documents it (one request per connection per parent,
//! divided by 100 and rounded, at least 1), and its node limit enforced.

use std::sync::atomic::Ordering;

use base64::Engine;
use serde_json::{Value, json};
use wiremock::ResponseTemplate;

use super::{FakeGithub, FaultAction, PullSpec, RepoSpec, example, user};

/// GitHub's documented limit of nodes per query.
pub(crate) const NODE_LIMIT: u64 = 500_000;

/// The tokens of a GraphQL document (names, variables, numbers, punctuation, strings).
fn tokens(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() || c == ',' {
            i += 1;
        } else if c == '#' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '"' {
            let start = i;
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push(chars[start..i.min(chars.len())].iter().collect());
        } else if c == '.' {
            out.push("...".into());
            i += 3;
        } else if c == '$' || c.is_alphanumeric() || c == '_' || c == '-' {
            let start = i;
            i += 1;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(chars[start..i].iter().collect());
        } else {
            out.push(c.to_string());
            i += 1;
        }
    }
    out
}

/// What a query costs as GitHub documents it: the requests needed to fill every connection
/// (one per connection per parent node) and the nodes it may return.
pub(crate) fn cost_of(query: &str, variables: &Value) -> (u64, u64) {
    let tokens = tokens(query);
    let mut stack: Vec<u64> = vec![1];
    let mut pending: Option<u64> = None;
    let mut requests = 0u64;
    let mut nodes = 0u64;
    let mut i = 0;
    while i < tokens.len() {
        match tokens[i].as_str() {
            "(" => {
                let mut depth = 0;
                let start = i;
                while i < tokens.len() {
                    match tokens[i].as_str() {
                        "(" => depth += 1,
                        ")" => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
                let args = &tokens[start..i];
                for w in args.windows(3) {
                    if (w[0] == "first" || w[0] == "last") && w[1] == ":" {
                        let n = match w[2].strip_prefix('$') {
                            Some(var) => variables[var].as_u64(),
                            None => w[2].parse().ok(),
                        };
                        pending = n;
                    }
                }
            }
            "{" => {
                let parent = *stack.last().unwrap_or(&1);
                match pending.take() {
                    Some(n) => {
                        requests += parent;
                        nodes += parent * n;
                        stack.push(parent * n);
                    }
                    None => stack.push(parent),
                }
            }
            "}" => {
                stack.pop();
            }
            _ => pending = None,
        }
        i += 1;
    }
    let cost = ((requests + 50) / 100).max(1);
    (cost, nodes)
}

fn cursor(offset: usize) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("cursor:v2:{offset}"))
}

fn offset(after: &Value) -> usize {
    after
        .as_str()
        .and_then(|c| base64::engine::general_purpose::STANDARD.decode(c).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("cursor:v2:").and_then(|n| n.parse().ok()))
        .map_or(0, |n: usize| n + 1)
}

/// A `first`/`after` slice of `items` as a connection.
fn connection(items: Vec<Value>, first: usize, after: &Value) -> Value {
    let start = offset(after).min(items.len());
    let end = (start + first).min(items.len());
    json!({
        "totalCount": items.len(),
        "pageInfo": {
            "hasNextPage": end < items.len(),
            "endCursor": if end > start { Value::from(cursor(end - 1)) } else { Value::Null },
        },
        "nodes": items[start..end].to_vec(),
    })
}

/// An `Actor` with the `databaseId` of `User`.
fn actor(login: &str) -> Value {
    json!({"login": login, "databaseId": user(login)["id"]})
}

impl FakeGithub {
    fn review_nodes(&self, p: &PullSpec) -> Vec<Value> {
        let submitted = example("pull-request-review-items")[0]["submitted_at"].clone();
        p.reviews
            .iter()
            .map(|r| {
                json!({
                    "author": actor(&r.login),
                    "state": r.state,
                    "submittedAt": submitted,
                    "commit": {"oid": r.commit_id},
                })
            })
            .collect()
    }

    fn context_nodes(&self, p: &PullSpec) -> Vec<Value> {
        p.checks
            .iter()
            .enumerate()
            .map(|(i, (name, conclusion))| {
                json!({
                    "__typename": "CheckRun",
                    "databaseId": 4 + i as u64,
                    "name": name,
                    "status": "COMPLETED",
                    "conclusion": conclusion.to_ascii_uppercase(),
                    "completedAt": p.updated_at,
                })
            })
            .collect()
    }

    fn head_commit(&self, p: &PullSpec, contexts: usize, after: &Value) -> Value {
        let nodes = self.context_nodes(p);
        let rollup = if nodes.is_empty() {
            Value::Null
        } else {
            let failing = p.checks.iter().any(|(_, c)| c != "success");
            json!({
                "state": if failing { "FAILURE" } else { "SUCCESS" },
                "contexts": connection(nodes, contexts, after),
            })
        };
        json!({"nodes": [{"commit": {"oid": p.head_sha, "statusCheckRollup": rollup}}]})
    }

    /// A `PullRequest` node with the fields the connector asks for.
    pub(crate) fn pull_node(
        &self,
        repo: &RepoSpec,
        p: &PullSpec,
        reviews: usize,
        contexts: usize,
    ) -> Value {
        json!({
            "number": p.number,
            "title": p.title,
            "url": format!("https://github.com/{}/{}/pull/{}", self.org, repo.name, p.number),
            "createdAt": p.created_at,
            "updatedAt": p.updated_at,
            "mergedAt": p.merged_at,
            "baseRefName": p.base,
            "headRefOid": p.head_sha,
            "author": actor(&p.author),
            "mergedBy": p.merged_by.as_deref().map_or(Value::Null, actor),
            "mergeCommit": {"oid": format!("{:040x}", p.number * 104_729)},
            "reviews": connection(self.review_nodes(p), reviews, &Value::Null),
            "commits": self.head_commit(p, contexts, &Value::Null),
        })
    }

    fn graphql_data(&self, operation: &str, v: &Value) -> Value {
        let repos = self.repos.lock().unwrap();
        let owner = v["owner"].as_str().unwrap_or("");
        let name = v["name"].as_str().unwrap_or("");
        let Some(repo) = repos.iter().find(|r| owner == self.org && r.name == name) else {
            return Value::Null;
        };
        let size = |key: &str| v[key].as_u64().unwrap_or(0) as usize;
        let pull = || {
            repo.pulls
                .iter()
                .find(|p| Some(p.number) == v["number"].as_u64())
        };
        match operation {
            "MergedPullRequests" => {
                let mut merged: Vec<&PullSpec> = repo
                    .pulls
                    .iter()
                    .filter(|p| p.merged_at.is_some())
                    .collect();
                merged.sort_by(|a, b| {
                    b.updated_at
                        .cmp(&a.updated_at)
                        .then(b.number.cmp(&a.number))
                });
                let nodes = merged
                    .iter()
                    .map(|p| self.pull_node(repo, p, size("reviews"), size("contexts")))
                    .collect();
                json!({"pullRequests": connection(nodes, size("first"), &v["after"])})
            }
            "PullRequestReviews" => match pull() {
                Some(p) => json!({"pullRequest": {
                    "reviews": connection(self.review_nodes(p), size("first"), &v["after"])
                }}),
                None => json!({"pullRequest": null}),
            },
            "PullRequestCheckContexts" => match pull() {
                Some(p) => json!({"pullRequest": {
                    "commits": self.head_commit(p, size("first"), &v["after"])
                }}),
                None => json!({"pullRequest": null}),
            },
            _ => Value::Null,
        }
    }

    /// Answer one `POST /graphql` with `body`: faults first (matched against
    /// `/graphql?op=<operation>`), then the node limit, then the model.
    pub(crate) fn graphql(&self, body: &[u8]) -> ResponseTemplate {
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        self.counters
            .graphql_requests
            .fetch_add(1, Ordering::Relaxed);
        let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let text = request["query"].as_str().unwrap_or("");
        let variables = &request["variables"];
        let operation = tokens(text)
            .windows(2)
            .find(|w| w[0] == "query")
            .map(|w| w[1].clone())
            .unwrap_or_default();
        let matching = format!("/graphql?op={operation}");
        let mut partial = None;
        let mut delay = None;
        {
            let mut faults = self.faults.lock().unwrap();
            if let Some(f) = faults
                .iter_mut()
                .find(|f| f.times > 0 && super::fault_matches(&f.matching, "/graphql", &matching))
            {
                f.times -= 1;
                match f.action.clone() {
                    FaultAction::Status(status, headers, body) => {
                        let mut t =
                            ResponseTemplate::new(status).set_body_raw(body, "application/json");
                        for (k, v) in headers {
                            t = t.insert_header(k.as_str(), v.as_str());
                        }
                        return t;
                    }
                    FaultAction::GraphqlError {
                        path,
                        kind,
                        message,
                    } => {
                        partial = Some((path, kind, message));
                    }
                    FaultAction::Delay(d) => delay = Some(d),
                    FaultAction::Truncate => {}
                }
            }
        }
        let (cost, nodes) = cost_of(text, variables);
        let max_nodes = self.max_nodes.load(Ordering::Relaxed);
        if nodes > max_nodes {
            return ResponseTemplate::new(200).set_body_json(json!({"errors": [{
                "type": "MAX_NODE_LIMIT_EXCEEDED",
                "message": format!("This query requests up to {nodes} possible nodes which exceeds the maximum limit of {max_nodes}."),
            }]}));
        }
        self.counters
            .graphql_cost
            .fetch_add(cost, Ordering::Relaxed);
        let used = self.counters.graphql_cost.load(Ordering::Relaxed);
        let reset = jiff::Timestamp::now().as_second() + 3600;
        let reset_at = jiff::Timestamp::from_second(reset)
            .map(|t| t.to_string())
            .unwrap_or_default();
        let mut data = json!({
            "rateLimit": {
                "cost": cost,
                "remaining": 5000u64.saturating_sub(used),
                "resetAt": reset_at,
                "nodeCount": nodes,
            },
            "repository": self.graphql_data(&operation, variables),
        });
        let mut answer = json!({});
        if data["repository"].is_null() {
            answer["errors"] = json!([{
                "type": "NOT_FOUND",
                "path": ["repository"],
                "message": format!("Could not resolve to a Repository with the name '{}/{}'.",
                    variables["owner"].as_str().unwrap_or(""), variables["name"].as_str().unwrap_or("")),
            }]);
        }
        if let Some((path, kind, message)) = partial {
            let mut at = &mut data;
            for step in &path[..path.len().saturating_sub(1)] {
                at = match step {
                    Value::Number(n) => &mut at[n.as_u64().unwrap_or(0) as usize],
                    s => &mut at[s.as_str().unwrap_or("")],
                };
            }
            match path.last() {
                Some(Value::Number(n)) => at[n.as_u64().unwrap_or(0) as usize] = Value::Null,
                Some(s) => at[s.as_str().unwrap_or("")] = Value::Null,
                None => {}
            }
            answer["errors"] = json!([{"type": kind, "path": path, "message": message}]);
        }
        answer["data"] = data;
        let t = ResponseTemplate::new(200)
            .insert_header("x-ratelimit-limit", "5000")
            .insert_header(
                "x-ratelimit-remaining",
                5000u64.saturating_sub(used).max(1000).to_string().as_str(),
            )
            .insert_header("x-ratelimit-reset", reset.to_string().as_str())
            .insert_header("x-ratelimit-resource", "graphql")
            .set_body_raw(
                serde_json::to_vec(&answer).unwrap(),
                "application/json; charset=utf-8",
            );
        match delay {
            Some(d) => t.set_delay(d),
            None => t,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_cost_examples_come_out_as_github_says() {
        // GitHub's two worked examples: 50 repositories with 10 issues each is 51 requests
        // (cost 1, 550 nodes); 50 repositories × 20 pull requests × 10 comments plus 20 issues
        // × 10 comments and 10 followers... is 2,102 requests (cost 21) and 22,060 nodes.
        let simple = "query { viewer { repositories(first: 50) { edges { repository:node { name issues(first: 10) { totalCount edges { node { title bodyHTML } } } } } } } }";
        assert_eq!(cost_of(simple, &Value::Null), (1, 550));
        let complex = "query { viewer { repositories(first: 50) { edges { repository:node { name pullRequests(first: 20) { edges { pullRequest:node { title comments(first: 10) { edges { comment:node { bodyHTML } } } } } } issues(first: 20) { totalCount edges { issue:node { title bodyHTML comments(first: 10) { edges { comment:node { bodyHTML } } } } } } } } } followers(first: 10) { edges { follower:node { login } } } } }";
        assert_eq!(cost_of(complex, &Value::Null), (21, 22_060));
    }
}
