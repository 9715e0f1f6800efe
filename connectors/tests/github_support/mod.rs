//! A fake GitHub for the connector tests (and the bench): a model of an organisation whose
//! answers are built from the examples in GitHub's official OpenAPI description, paginated with
//! `Link` headers, tagged with ETags (a matching `If-None-Match` gets a 304), and checked against
//! the endpoint's response schema before they are served. Faults can be injected per path.
#![allow(dead_code, clippy::unwrap_used)]

mod graphql;
pub(crate) use graphql::NODE_LIMIT;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use wiremock::{Request, Respond, ResponseTemplate};

/// GitHub's OpenAPI extract shipped with the tests (MIT licence, see `LICENSE-openapi.md`).
pub(crate) const OPENAPI: &str = include_str!("../fixtures/github/openapi-subset.json");

/// The OpenAPI description, parsed once.
pub(crate) fn api() -> &'static Value {
    static API: OnceLock<Value> = OnceLock::new();
    API.get_or_init(|| serde_json::from_str(OPENAPI).unwrap())
}

/// Make an OpenAPI 3.0 schema a JSON Schema: `nullable: true` becomes a `null` alternative.
fn nullable_to_json_schema(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for child in map.values_mut() {
                nullable_to_json_schema(child);
            }
            if map.remove("nullable") == Some(Value::Bool(true)) {
                if let Some(Value::String(t)) = map.get("type").cloned() {
                    map.insert("type".into(), json!([t, "null"]));
                    if let Some(Value::Array(e)) = map.get_mut("enum") {
                        e.push(Value::Null);
                    }
                } else {
                    let inner = Value::Object(std::mem::take(map));
                    map.insert("anyOf".into(), json!([{"type": "null"}, inner]));
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(nullable_to_json_schema),
        _ => {}
    }
}

/// A JSON Schema document for `schema` with the OpenAPI components it refers to.
fn document(schema: &Value) -> Value {
    let api = api();
    let mut components = serde_json::Map::new();
    for key in ["schemas", "parameters", "responses", "headers"] {
        components.insert(key.into(), api[key].clone());
    }
    let mut doc = json!({"allOf": [schema], "components": components});
    nullable_to_json_schema(&mut doc);
    doc
}

fn validators() -> &'static Mutex<BTreeMap<String, Arc<jsonschema::Validator>>> {
    static V: OnceLock<Mutex<BTreeMap<String, Arc<jsonschema::Validator>>>> = OnceLock::new();
    V.get_or_init(|| Mutex::new(BTreeMap::new()))
}

fn validator(key: &str, schema: impl FnOnce() -> Value) -> Arc<jsonschema::Validator> {
    if let Some(v) = validators().lock().unwrap().get(key) {
        return v.clone();
    }
    let v = Arc::new(
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft4)
            .build(&document(&schema()))
            .unwrap_or_else(|e| panic!("schema for {key} does not compile: {e}")),
    );
    validators().lock().unwrap().insert(key.into(), v.clone());
    v
}

fn check(key: &str, v: &jsonschema::Validator, body: &Value) -> Result<(), String> {
    let errors: Vec<String> = v
        .iter_errors(body)
        .take(5)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("{key}: {}", errors.join("; ")))
    }
}

/// Validate `body` against the 200 response of `GET path_template` (e.g.
/// `/repos/{owner}/{repo}/pulls`).
pub(crate) fn validate_endpoint(path_template: &str, body: &Value) -> Result<(), String> {
    let v = validator(path_template, || {
        let content = &api()["paths"][path_template]["get"]["responses"]["200"]["content"];
        content["application/json"]["schema"].clone()
    });
    check(path_template, &v, body)
}

/// Validate `body` against the component schema `name` (for endpoints outside the extract that
/// GitHub documents with that schema, e.g. `minimal-repository`).
pub(crate) fn validate_schema(name: &str, body: &Value) -> Result<(), String> {
    let v = validator(
        &format!("#{name}"),
        || json!({"$ref": format!("#/components/schemas/{name}")}),
    );
    check(name, &v, body)
}

/// An example response from the OpenAPI description.
pub(crate) fn example(name: &str) -> Value {
    api()["examples"][name]["value"].clone()
}

/// Set `value` at the `.`-separated `path` of `target`.
pub(crate) fn set(target: &mut Value, path: &str, value: Value) {
    let mut v = target;
    let parts: Vec<&str> = path.split('.').collect();
    for p in &parts[..parts.len() - 1] {
        v = &mut v[*p];
    }
    v[parts[parts.len() - 1]] = value;
}

/// A user object for `login`.
pub(crate) fn user(login: &str) -> Value {
    let mut u = example("pull-request")["user"].clone();
    let id = login
        .bytes()
        .fold(7u64, |a, b| a.wrapping_mul(31).wrapping_add(b as u64))
        % 1_000_000;
    set(&mut u, "login", json!(login));
    set(&mut u, "id", json!(id));
    u
}

/// The id the fake gives the workflow at `path` (stable, derived from the path).
pub(crate) fn workflow_id(path: &str) -> u64 {
    path.bytes()
        .fold(11u64, |a, b| a.wrapping_mul(131).wrapping_add(b as u64))
        % 100_000_000
}

/// The SHA-256 of `bytes` in hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

// ---------------------------------------------------------------------------------------------
// The model.

#[derive(Debug, Clone)]
pub(crate) struct ReviewSpec {
    pub login: String,
    pub state: String,
    pub commit_id: String,
}

#[derive(Debug, Clone)]
pub(crate) struct PullSpec {
    pub number: u64,
    pub title: String,
    pub author: String,
    pub merged_by: Option<String>,
    pub head_sha: String,
    pub base: String,
    pub created_at: String,
    pub updated_at: String,
    pub merged_at: Option<String>,
    pub reviews: Vec<ReviewSpec>,
    /// Check runs on the head: (name, conclusion).
    pub checks: Vec<(String, String)>,
}

impl PullSpec {
    /// A merged pull request approved by `approver` at its head.
    pub(crate) fn merged(number: u64, author: &str, approver: &str, updated_at: &str) -> Self {
        let head = format!("{:040x}", number * 7919 + 1);
        Self {
            number,
            title: format!("Change {number}"),
            author: author.into(),
            merged_by: Some("release-bot".into()),
            head_sha: head.clone(),
            base: "main".into(),
            created_at: "2026-01-01T09:00:00Z".into(),
            updated_at: updated_at.into(),
            merged_at: Some(updated_at.into()),
            reviews: vec![ReviewSpec {
                login: approver.into(),
                state: "APPROVED".into(),
                commit_id: head,
            }],
            checks: vec![("test".into(), "success".into())],
        }
    }
}

/// Bytes served for an artifact or log download.
#[derive(Debug, Clone)]
pub(crate) enum Blob {
    Bytes(Vec<u8>),
    /// `size` bytes generated from `seed` (served by a streaming blob server).
    Generated {
        size: u64,
        seed: u8,
        sha256: String,
    },
}

impl Blob {
    pub(crate) fn size(&self) -> u64 {
        match self {
            Blob::Bytes(b) => b.len() as u64,
            Blob::Generated { size, .. } => *size,
        }
    }
    pub(crate) fn sha256(&self) -> String {
        match self {
            Blob::Bytes(b) => sha256_hex(b),
            Blob::Generated { sha256, .. } => sha256.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ArtifactSpec {
    pub id: u64,
    pub name: String,
    pub blob: Blob,
    /// Override of the digest GitHub reports (to simulate corruption).
    pub digest: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct RunSpec {
    pub id: u64,
    pub path: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub created_at: String,
    pub artifacts: Vec<ArtifactSpec>,
    pub logs: Blob,
}

#[derive(Debug, Clone)]
pub(crate) struct IssueSpec {
    pub number: u64,
    pub title: String,
    pub labels: Vec<String>,
    pub author: String,
    pub state: String,
    pub created_at: String,
    pub updated_at: String,
    pub closed_at: Option<String>,
    pub closed_by: Option<String>,
    /// Timeline events: (event, actor login).
    pub events: Vec<(String, String)>,
    pub is_pull_request: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct ReleaseSpec {
    pub id: u64,
    pub tag: String,
    pub author: String,
    pub published_at: String,
    pub draft: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct RepoSpec {
    pub name: String,
    pub default_branch: String,
    pub protected: bool,
    pub required_checks: Vec<String>,
    pub pulls: Vec<PullSpec>,
    pub runs: Vec<RunSpec>,
    pub cards: BTreeMap<String, String>,
    pub issues: Vec<IssueSpec>,
    pub releases: Vec<ReleaseSpec>,
}

impl RepoSpec {
    pub(crate) fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            default_branch: "main".into(),
            protected: true,
            required_checks: vec!["test".into()],
            pulls: Vec::new(),
            runs: Vec::new(),
            cards: BTreeMap::new(),
            issues: Vec::new(),
            releases: Vec::new(),
        }
    }
}

/// Whether a fault's `matching` applies: a text ending in `$` matches paths ending with the
/// rest (query ignored); any other text matches paths and queries containing it.
fn fault_matches(matching: &str, path: &str, path_and_query: &str) -> bool {
    match matching.strip_suffix('$') {
        Some(end) => path.ends_with(end),
        None => path_and_query.contains(matching),
    }
}

/// What to do to a matching request instead of answering it.
#[derive(Debug, Clone)]
pub(crate) enum FaultAction {
    /// Answer with this status, headers and body.
    Status(u16, Vec<(String, String)>, String),
    /// Answer correctly, but only after this delay.
    Delay(Duration),
    /// Answer 200 with a body cut short (the JSON breaks off).
    Truncate,
    /// GraphQL only: answer, but with the value at `path` (from `data`) null and an error of
    /// type `kind` naming that path: a partial answer.
    GraphqlError {
        path: Vec<Value>,
        kind: String,
        message: String,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Fault {
    /// Applies to requests whose path and query contain this (or, ending in `$`, whose path
    /// ends with the rest).
    pub matching: String,
    pub times: u32,
    pub action: FaultAction,
}

/// Counters of what the fake answered.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub requests: AtomicU64,
    pub not_modified: AtomicU64,
    pub conditional: AtomicU64,
    /// GraphQL queries among the requests, and their summed `rateLimit.cost`.
    pub graphql_requests: AtomicU64,
    pub graphql_cost: AtomicU64,
}

/// The fake GitHub: a model and a responder.
#[derive(Clone)]
pub(crate) struct FakeGithub {
    pub org: String,
    pub repos: Arc<Mutex<Vec<RepoSpec>>>,
    /// Base URL written into `Link` headers (the server's, or a proxy's in front of it).
    pub base: Arc<Mutex<String>>,
    /// Base URL of the blob storage downloads redirect to.
    pub blob_base: Arc<Mutex<String>>,
    /// Path prefix of the API (e.g. `/api/v3` for GitHub Enterprise Server).
    pub prefix: String,
    pub faults: Arc<Mutex<Vec<Fault>>>,
    pub counters: Arc<Counters>,
    /// Validate every answer against its schema (off in the bench for speed).
    pub validate: bool,
    /// `x-ratelimit-remaining` to report.
    pub remaining: Arc<AtomicU64>,
    /// Answers by path and query, kept when the model never changes (the bench) so that
    /// revalidating costs the fake nothing.
    pub cache: Option<Arc<Mutex<BTreeMap<String, Cached>>>>,
    /// Serve workflow runs as older API versions and GitHub Enterprise Server did: without
    /// `path`, `name` and `run_attempt` (real 2020 github.com runs lack all three).
    pub legacy_runs: bool,
    /// The most nodes a GraphQL query may ask for (GitHub's limit unless a test lowers it).
    pub max_nodes: Arc<AtomicU64>,
}

/// A generated answer: status, body, extra headers, ETag.
#[derive(Clone)]
pub(crate) struct Cached {
    status: u16,
    body: Arc<Vec<u8>>,
    headers: Vec<(String, String)>,
    etag: String,
}

impl FakeGithub {
    pub(crate) fn new(org: &str, repos: Vec<RepoSpec>) -> Self {
        Self {
            org: org.into(),
            repos: Arc::new(Mutex::new(repos)),
            base: Arc::new(Mutex::new(String::new())),
            blob_base: Arc::new(Mutex::new(String::new())),
            prefix: String::new(),
            faults: Arc::new(Mutex::new(Vec::new())),
            counters: Arc::new(Counters::default()),
            validate: true,
            remaining: Arc::new(AtomicU64::new(4999)),
            cache: None,
            legacy_runs: false,
            max_nodes: Arc::new(AtomicU64::new(NODE_LIMIT)),
        }
    }

    pub(crate) fn fault(&self, matching: &str, times: u32, action: FaultAction) {
        self.faults.lock().unwrap().push(Fault {
            matching: matching.into(),
            times,
            action,
        });
    }

    fn base(&self) -> String {
        self.base.lock().unwrap().clone()
    }

    fn page_of<'a, T>(
        &self,
        items: &'a [T],
        query: &BTreeMap<String, String>,
    ) -> (&'a [T], Option<u64>, u64) {
        let per_page: usize = query
            .get("per_page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(30);
        let page: usize = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
        let start = (page - 1) * per_page;
        let end = (start + per_page).min(items.len());
        let slice = if start < items.len() {
            &items[start..end]
        } else {
            &[]
        };
        let next = (end < items.len()).then_some(page as u64 + 1);
        (slice, next, page as u64)
    }

    fn link(&self, path: &str, query: &BTreeMap<String, String>, page: u64) -> String {
        let mut q = query.clone();
        q.insert("page".into(), page.to_string());
        let qs: Vec<String> = q
            .iter()
            .map(|(k, v)| format!("{k}={}", v.replace(':', "%3A").replace('+', "%2B")))
            .collect();
        format!("<{}{path}?{}>; rel=\"next\"", self.base(), qs.join("&"))
    }

    // --- JSON builders, all from the OpenAPI examples -----------------------------------------

    pub(crate) fn repo_json(&self, repo: &RepoSpec) -> Value {
        let mut r = example("pull-request")["base"]["repo"].clone();
        let full = format!("{}/{}", self.org, repo.name);
        set(&mut r, "name", json!(repo.name));
        set(&mut r, "full_name", json!(full));
        set(&mut r, "default_branch", json!(repo.default_branch));
        set(&mut r, "archived", json!(false));
        set(&mut r, "owner", user(&self.org));
        r
    }

    pub(crate) fn pull_simple_json(&self, repo: &RepoSpec, p: &PullSpec) -> Value {
        let mut v = example("pull-request-simple-items")[0].clone();
        self.patch_pull(&mut v, repo, p);
        v
    }

    pub(crate) fn pull_json(&self, repo: &RepoSpec, p: &PullSpec) -> Value {
        let mut v = example("pull-request");
        self.patch_pull(&mut v, repo, p);
        set(&mut v, "merged", json!(p.merged_at.is_some()));
        set(
            &mut v,
            "merged_by",
            p.merged_by.as_deref().map_or(Value::Null, user),
        );
        v
    }

    fn patch_pull(&self, v: &mut Value, repo: &RepoSpec, p: &PullSpec) {
        let full = format!("{}/{}", self.org, repo.name);
        set(v, "number", json!(p.number));
        set(v, "id", json!(1_000_000 + p.number));
        set(v, "title", json!(p.title));
        set(v, "state", json!("closed"));
        set(v, "user", user(&p.author));
        set(v, "created_at", json!(p.created_at));
        set(v, "updated_at", json!(p.updated_at));
        set(v, "closed_at", json!(p.updated_at));
        set(v, "merged_at", json!(p.merged_at));
        set(
            v,
            "merge_commit_sha",
            json!(format!("{:040x}", p.number * 104_729)),
        );
        set(v, "head.sha", json!(p.head_sha));
        set(v, "base.ref", json!(p.base));
        set(v, "requested_teams", json!([]));
        set(
            v,
            "html_url",
            json!(format!("https://github.com/{full}/pull/{}", p.number)),
        );
    }

    pub(crate) fn review_json(&self, i: usize, r: &ReviewSpec) -> Value {
        let mut v = example("pull-request-review-items")[0].clone();
        set(&mut v, "id", json!(80 + i as u64));
        set(&mut v, "user", user(&r.login));
        set(&mut v, "state", json!(r.state));
        set(&mut v, "commit_id", json!(r.commit_id));
        v
    }

    pub(crate) fn check_runs_json(&self, p: &PullSpec) -> Value {
        let mut page = example("check-run-paginated");
        let template = page["check_runs"][0].clone();
        let runs: Vec<Value> = p
            .checks
            .iter()
            .enumerate()
            .map(|(i, (name, conclusion))| {
                let mut c = template.clone();
                set(&mut c, "id", json!(4 + i as u64));
                set(&mut c, "name", json!(name));
                set(&mut c, "status", json!("completed"));
                set(&mut c, "conclusion", json!(conclusion));
                set(&mut c, "head_sha", json!(p.head_sha));
                c
            })
            .collect();
        set(&mut page, "total_count", json!(runs.len()));
        set(&mut page, "check_runs", json!(runs));
        page
    }

    pub(crate) fn status_json(&self, p: &PullSpec) -> Value {
        let mut s = example("combined-commit-status");
        set(&mut s, "sha", json!(p.head_sha));
        set(&mut s, "state", json!("success"));
        set(&mut s, "statuses", json!([]));
        set(&mut s, "total_count", json!(0));
        s
    }

    pub(crate) fn protection_json(&self, repo: &RepoSpec) -> Value {
        let mut p = example("branch-protection");
        set(
            &mut p,
            "required_status_checks.contexts",
            json!(repo.required_checks),
        );
        set(&mut p, "required_status_checks.checks", json!([]));
        // The published example predates the schema's team and app shapes; leave them out.
        if let Some(o) = p.as_object_mut() {
            o.remove("restrictions");
        }
        for key in ["dismissal_restrictions", "bypass_pull_request_allowances"] {
            if let Some(o) = p["required_pull_request_reviews"].as_object_mut() {
                o.remove(key);
            }
        }
        set(
            &mut p,
            "required_pull_request_reviews.dismiss_stale_reviews",
            json!(true),
        );
        set(
            &mut p,
            "required_pull_request_reviews.required_approving_review_count",
            json!(1),
        );
        p
    }

    pub(crate) fn rules_json(&self, _repo: &RepoSpec) -> Value {
        example("repository-rule-items")
    }

    pub(crate) fn run_json(&self, repo: &RepoSpec, r: &RunSpec) -> Value {
        let mut v = example("workflow-run");
        set(&mut v, "id", json!(r.id));
        set(&mut v, "run_number", json!(r.id % 1000));
        set(&mut v, "path", json!(r.path));
        set(&mut v, "workflow_id", json!(workflow_id(&r.path)));
        set(&mut v, "status", json!(r.status));
        set(&mut v, "conclusion", json!(r.conclusion));
        set(&mut v, "created_at", json!(r.created_at));
        set(&mut v, "updated_at", json!(r.created_at));
        set(&mut v, "run_started_at", json!(r.created_at));
        set(&mut v, "actor", user("ml-engineer"));
        set(&mut v, "triggering_actor", user("ml-engineer"));
        if self.legacy_runs {
            let run = v.as_object_mut().unwrap();
            for field in ["path", "name", "run_attempt", "display_title"] {
                run.remove(field);
            }
        }
        let _ = repo;
        v
    }

    /// `GET /repos/{owner}/{repo}/actions/workflows/{file}` as GitHub documents its answer
    /// (the `workflow` schema: id, node_id, name, path, state, times, urls).
    pub(crate) fn workflow_json(&self, repo: &RepoSpec, path: &str) -> Value {
        let id = workflow_id(path);
        let base = format!("https://api.github.com/repos/{}/{}", self.org, repo.name);
        json!({
            "id": id,
            "node_id": format!("W_{id}"),
            "name": path.rsplit('/').next().unwrap_or(path),
            "path": path,
            "state": "active",
            "created_at": "2026-01-01T00:00:00.000Z",
            "updated_at": "2026-01-01T00:00:00.000Z",
            "url": format!("{base}/actions/workflows/{id}"),
            "html_url": format!("https://github.com/{}/{}/blob/main/{path}", self.org, repo.name),
            "badge_url": format!("https://github.com/{}/{}/workflows/x/badge.svg", self.org, repo.name),
        })
    }

    pub(crate) fn artifact_json(&self, repo: &RepoSpec, r: &RunSpec, a: &ArtifactSpec) -> Value {
        let mut v = example("artifact-paginated")["artifacts"][0].clone();
        set(&mut v, "id", json!(a.id));
        set(&mut v, "name", json!(a.name));
        set(&mut v, "size_in_bytes", json!(a.blob.size()));
        set(
            &mut v,
            "digest",
            json!(
                a.digest
                    .clone()
                    .unwrap_or_else(|| format!("sha256:{}", a.blob.sha256()))
            ),
        );
        set(&mut v, "expired", json!(false));
        set(
            &mut v,
            "archive_download_url",
            json!(format!(
                "{}/repos/{}/{}/actions/artifacts/{}/zip",
                self.base(),
                self.org,
                repo.name,
                a.id
            )),
        );
        set(&mut v, "workflow_run.id", json!(r.id));
        v
    }

    pub(crate) fn content_json(&self, repo: &RepoSpec, path: &str, text: &str) -> Value {
        use base64::Engine;
        let mut v = example("content-file-response-if-content-is-a-file");
        let blob = {
            let mut h = sha1_like(text.as_bytes());
            h.truncate(40);
            h
        };
        set(
            &mut v,
            "name",
            json!(path.rsplit('/').next().unwrap_or(path)),
        );
        set(&mut v, "path", json!(path));
        set(&mut v, "sha", json!(blob));
        set(&mut v, "size", json!(text.len()));
        set(&mut v, "encoding", json!("base64"));
        let encoded = base64::engine::general_purpose::STANDARD.encode(text);
        let wrapped: Vec<String> = encoded
            .as_bytes()
            .chunks(60)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        set(&mut v, "content", json!(wrapped.join("\n") + "\n"));
        set(
            &mut v,
            "html_url",
            json!(format!(
                "https://github.com/{}/{}/blob/main/{path}",
                self.org, repo.name
            )),
        );
        v
    }

    pub(crate) fn issue_json(&self, repo: &RepoSpec, i: &IssueSpec) -> Value {
        let mut v = example("issue-items")[0].clone();
        set(&mut v, "number", json!(i.number));
        set(&mut v, "id", json!(2_000_000 + i.number));
        set(&mut v, "title", json!(i.title));
        set(&mut v, "user", user(&i.author));
        set(&mut v, "state", json!(i.state));
        set(&mut v, "created_at", json!(i.created_at));
        set(&mut v, "updated_at", json!(i.updated_at));
        set(&mut v, "closed_at", json!(i.closed_at));
        set(
            &mut v,
            "closed_by",
            i.closed_by.as_deref().map_or(Value::Null, user),
        );
        let mut label = v["labels"][0].clone();
        let labels: Vec<Value> = i
            .labels
            .iter()
            .map(|l| {
                set(&mut label, "name", json!(l));
                label.clone()
            })
            .collect();
        set(&mut v, "labels", json!(labels));
        if !i.is_pull_request
            && let Some(o) = v.as_object_mut()
        {
            o.remove("pull_request");
        }
        set(
            &mut v,
            "html_url",
            json!(format!(
                "https://github.com/{}/{}/issues/{}",
                self.org, repo.name, i.number
            )),
        );
        v
    }

    pub(crate) fn timeline_json(&self, i: &IssueSpec) -> Value {
        let examples = example("timeline-issue-events");
        let events: Vec<Value> = i
            .events
            .iter()
            .map(|(event, actor)| {
                let mut e = examples
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|x| x["event"] == json!(event))
                    .cloned()
                    .unwrap_or_else(|| examples[0].clone());
                set(&mut e, "event", json!(event));
                if e.get("actor").is_some() {
                    set(&mut e, "actor", user(actor));
                }
                if e.get("user").is_some() {
                    set(&mut e, "user", user(actor));
                }
                e
            })
            .collect();
        json!(events)
    }

    pub(crate) fn release_json(&self, repo: &RepoSpec, r: &ReleaseSpec) -> Value {
        let mut v = example("release-items")[0].clone();
        set(&mut v, "id", json!(r.id));
        set(&mut v, "tag_name", json!(r.tag));
        set(&mut v, "name", json!(format!("Release {}", r.tag)));
        set(&mut v, "author", user(&r.author));
        set(&mut v, "published_at", json!(r.published_at));
        set(&mut v, "created_at", json!(r.published_at));
        set(&mut v, "draft", json!(r.draft));
        set(
            &mut v,
            "html_url",
            json!(format!(
                "https://github.com/{}/{}/releases/{}",
                self.org, repo.name, r.tag
            )),
        );
        v
    }

    // --- Routing ------------------------------------------------------------------------------

    /// The answer for `path` (without the API prefix) and `query`: (endpoint template, status,
    /// body, extra headers).
    pub(crate) fn route(
        &self,
        path: &str,
        query: &BTreeMap<String, String>,
    ) -> (String, u16, Value, Vec<(String, String)>) {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let repos = self.repos.lock().unwrap();
        let not_found = |t: &str| {
            (
                t.to_owned(),
                404,
                json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest", "status": "404"}),
                vec![],
            )
        };
        let paged = |t: &str, items: Vec<Value>| {
            let (slice, next, _) = self.page_of(&items, query);
            let headers = next
                .map(|n| vec![("link".to_owned(), self.link(path, query, n))])
                .unwrap_or_default();
            (t.to_owned(), 200, json!(slice), headers)
        };
        match parts.as_slice() {
            ["rate_limit"] => (
                "/rate_limit".into(),
                200,
                example("rate-limit-overview"),
                vec![],
            ),
            ["orgs", org, "repos"] if *org == self.org => paged(
                "#minimal-repository[]",
                repos.iter().map(|r| self.repo_json(r)).collect(),
            ),
            ["repos", owner, name, rest @ ..] if *owner == self.org => {
                let Some(repo) = repos.iter().find(|r| r.name == *name) else {
                    return not_found("/repos/{owner}/{repo}");
                };
                match rest {
                    [] => (
                        "#minimal-repository".into(),
                        200,
                        self.repo_json(repo),
                        vec![],
                    ),
                    ["pulls"] => {
                        let mut pulls: Vec<&PullSpec> = repo.pulls.iter().collect();
                        pulls.sort_by(|a, b| {
                            b.updated_at
                                .cmp(&a.updated_at)
                                .then(b.number.cmp(&a.number))
                        });
                        paged(
                            "/repos/{owner}/{repo}/pulls",
                            pulls
                                .iter()
                                .map(|p| self.pull_simple_json(repo, p))
                                .collect(),
                        )
                    }
                    ["pulls", n] | ["pulls", n, _] => {
                        let Some(p) = repo.pulls.iter().find(|p| p.number.to_string() == *n) else {
                            return not_found("/repos/{owner}/{repo}/pulls/{pull_number}");
                        };
                        if rest.len() == 3 {
                            paged(
                                "/repos/{owner}/{repo}/pulls/{pull_number}/reviews",
                                p.reviews
                                    .iter()
                                    .enumerate()
                                    .map(|(i, r)| self.review_json(i, r))
                                    .collect(),
                            )
                        } else {
                            (
                                "/repos/{owner}/{repo}/pulls/{pull_number}".into(),
                                200,
                                self.pull_json(repo, p),
                                vec![],
                            )
                        }
                    }
                    ["commits", sha, what] => {
                        let Some(p) = repo.pulls.iter().find(|p| p.head_sha == *sha) else {
                            return not_found("/repos/{owner}/{repo}/commits/{ref}/status");
                        };
                        if *what == "check-runs" {
                            (
                                "/repos/{owner}/{repo}/commits/{ref}/check-runs".into(),
                                200,
                                self.check_runs_json(p),
                                vec![],
                            )
                        } else {
                            (
                                "/repos/{owner}/{repo}/commits/{ref}/status".into(),
                                200,
                                self.status_json(p),
                                vec![],
                            )
                        }
                    }
                    ["branches", _branch, "protection"] => {
                        if repo.protected {
                            (
                                "/repos/{owner}/{repo}/branches/{branch}/protection".into(),
                                200,
                                self.protection_json(repo),
                                vec![],
                            )
                        } else {
                            (
                                "/repos/{owner}/{repo}/branches/{branch}/protection".into(),
                                404,
                                json!({"message": "Branch not protected", "documentation_url": "https://docs.github.com/rest", "status": "404"}),
                                vec![],
                            )
                        }
                    }
                    ["rules", "branches", _branch] => (
                        "/repos/{owner}/{repo}/rules/branches/{branch}".into(),
                        200,
                        if repo.protected {
                            self.rules_json(repo)
                        } else {
                            json!([])
                        },
                        vec![],
                    ),
                    ["actions", "runs"] => {
                        let mut runs: Vec<&RunSpec> = repo.runs.iter().collect();
                        runs.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
                        let all: Vec<Value> = runs.iter().map(|r| self.run_json(repo, r)).collect();
                        let (slice, next, _) = self.page_of(&all, query);
                        let headers = next
                            .map(|n| vec![("link".to_owned(), self.link(path, query, n))])
                            .unwrap_or_default();
                        let endpoint = if self.legacy_runs {
                            "~/repos/{owner}/{repo}/actions/runs without path, name, run_attempt"
                        } else {
                            "/repos/{owner}/{repo}/actions/runs"
                        };
                        (
                            endpoint.into(),
                            200,
                            json!({"total_count": all.len(), "workflow_runs": slice}),
                            headers,
                        )
                    }
                    ["actions", "workflows", file] => {
                        let path = format!(".github/workflows/{file}");
                        if repo.runs.iter().any(|r| r.path == path) {
                            (
                                "~workflow (documented schema not in the extract)".into(),
                                200,
                                self.workflow_json(repo, &path),
                                vec![],
                            )
                        } else {
                            not_found("/repos/{owner}/{repo}/actions/workflows/{workflow_id}")
                        }
                    }
                    ["actions", "runs", id, "artifacts"] => {
                        let Some(r) = repo.runs.iter().find(|r| r.id.to_string() == *id) else {
                            return not_found(
                                "/repos/{owner}/{repo}/actions/runs/{run_id}/artifacts",
                            );
                        };
                        let items: Vec<Value> = r
                            .artifacts
                            .iter()
                            .map(|a| self.artifact_json(repo, r, a))
                            .collect();
                        (
                            "/repos/{owner}/{repo}/actions/runs/{run_id}/artifacts".into(),
                            200,
                            json!({"total_count": items.len(), "artifacts": items}),
                            vec![],
                        )
                    }
                    ["actions", "artifacts", id, "zip"] => (
                        "redirect".into(),
                        302,
                        Value::Null,
                        vec![(
                            "location".into(),
                            format!(
                                "{}/blobs/{}/{}/artifact/{id}",
                                self.blob_base.lock().unwrap(),
                                self.org,
                                repo.name
                            ),
                        )],
                    ),
                    ["actions", "runs", id, "logs"] => (
                        "redirect".into(),
                        302,
                        Value::Null,
                        vec![(
                            "location".into(),
                            format!(
                                "{}/blobs/{}/{}/logs/{id}",
                                self.blob_base.lock().unwrap(),
                                self.org,
                                repo.name
                            ),
                        )],
                    ),
                    ["contents", file @ ..] => {
                        let file = file.join("/");
                        match repo.cards.get(&file) {
                            Some(text) => (
                                "/repos/{owner}/{repo}/contents/{path}".into(),
                                200,
                                self.content_json(repo, &file, text),
                                vec![],
                            ),
                            None => not_found("/repos/{owner}/{repo}/contents/{path}"),
                        }
                    }
                    ["issues"] => {
                        let label = query.get("labels").cloned().unwrap_or_default();
                        let since = query.get("since").cloned().unwrap_or_default();
                        let mut issues: Vec<&IssueSpec> = repo
                            .issues
                            .iter()
                            .filter(|i| label.is_empty() || i.labels.contains(&label))
                            .filter(|i| i.updated_at >= since)
                            .collect();
                        issues.sort_by(|a, b| {
                            a.updated_at
                                .cmp(&b.updated_at)
                                .then(a.number.cmp(&b.number))
                        });
                        paged(
                            "/repos/{owner}/{repo}/issues",
                            issues.iter().map(|i| self.issue_json(repo, i)).collect(),
                        )
                    }
                    ["issues", n, "timeline"] => {
                        let Some(i) = repo.issues.iter().find(|i| i.number.to_string() == *n)
                        else {
                            return not_found(
                                "/repos/{owner}/{repo}/issues/{issue_number}/timeline",
                            );
                        };
                        let events = self.timeline_json(i);
                        paged(
                            "/repos/{owner}/{repo}/issues/{issue_number}/timeline",
                            events.as_array().cloned().unwrap_or_default(),
                        )
                    }
                    ["releases"] => {
                        let mut rel: Vec<&ReleaseSpec> = repo.releases.iter().collect();
                        rel.sort_by_key(|r| std::cmp::Reverse(r.id));
                        paged(
                            "/repos/{owner}/{repo}/releases",
                            rel.iter().map(|r| self.release_json(repo, r)).collect(),
                        )
                    }
                    _ => not_found("/repos/{owner}/{repo}"),
                }
            }
            _ => not_found("/"),
        }
    }

    /// The bytes of a blob path (`/blobs/{org}/{repo}/artifact/{id}` or `.../logs/{id}`).
    pub(crate) fn blob(&self, path: &str) -> Option<Blob> {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let ["blobs", _org, name, what, id] = parts.as_slice() else {
            return None;
        };
        let repos = self.repos.lock().unwrap();
        let repo = repos.iter().find(|r| r.name == *name)?;
        match *what {
            "artifact" => repo
                .runs
                .iter()
                .flat_map(|r| &r.artifacts)
                .find(|a| a.id.to_string() == *id)
                .map(|a| a.blob.clone()),
            "logs" => repo
                .runs
                .iter()
                .find(|r| r.id.to_string() == *id)
                .map(|r| r.logs.clone()),
            _ => None,
        }
    }

    /// Answer one API request: faults first, then the model, with ETags and rate headers.
    pub(crate) fn answer(
        &self,
        path_and_query: &str,
        path: &str,
        query: &BTreeMap<String, String>,
        if_none_match: Option<&str>,
    ) -> ResponseTemplate {
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        let mut delay = None;
        {
            let mut faults = self.faults.lock().unwrap();
            if let Some(f) = faults
                .iter_mut()
                .find(|f| f.times > 0 && fault_matches(&f.matching, path, path_and_query))
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
                    FaultAction::Delay(d) => delay = Some(d),
                    FaultAction::GraphqlError { .. } => {}
                    FaultAction::Truncate => {
                        let (_, _, body, _) = self.route(path, query);
                        let text = body.to_string();
                        let cut = &text[..text.len() / 2];
                        return ResponseTemplate::new(200)
                            .set_body_raw(cut.to_owned(), "application/json");
                    }
                }
            }
        }
        if let Some(cache) = &self.cache {
            let hit = cache.lock().unwrap().get(path_and_query).cloned();
            let c = match hit {
                Some(c) => c,
                None => {
                    let (_, status, body, headers) = self.route(path, query);
                    let bytes = serde_json::to_vec(&body).unwrap();
                    let c = Cached {
                        status,
                        etag: format!("W/\"{}\"", &sha256_hex(&bytes)[..20]),
                        body: Arc::new(bytes),
                        headers,
                    };
                    cache
                        .lock()
                        .unwrap()
                        .insert(path_and_query.to_owned(), c.clone());
                    c
                }
            };
            let mut t = ResponseTemplate::new(c.status)
                .insert_header("x-ratelimit-limit", "5000")
                .insert_header("x-ratelimit-remaining", "4000");
            for (k, v) in &c.headers {
                t = t.insert_header(k.as_str(), v.as_str());
            }
            if c.status == 200 {
                if let Some(inm) = if_none_match {
                    self.counters.conditional.fetch_add(1, Ordering::Relaxed);
                    if inm == c.etag {
                        self.counters.not_modified.fetch_add(1, Ordering::Relaxed);
                        return ResponseTemplate::new(304).insert_header("etag", c.etag.as_str());
                    }
                }
                t = t.insert_header("etag", c.etag.as_str());
            }
            return t.set_body_raw(c.body.to_vec(), "application/json; charset=utf-8");
        }
        let (endpoint, status, body, headers) = self.route(path, query);
        let mut t = ResponseTemplate::new(status);
        // `~…` answers are shapes outside today's schema on purpose (legacy answers) or of
        // schemas the extract does not hold; they are not validated.
        if status == 200 && self.validate && !endpoint.starts_with('~') {
            let checked = if let Some(schema) = endpoint.strip_prefix('#') {
                match schema.strip_suffix("[]") {
                    Some(s) => body
                        .as_array()
                        .unwrap()
                        .iter()
                        .try_for_each(|b| validate_schema(s, b)),
                    None => validate_schema(schema, &body),
                }
            } else {
                validate_endpoint(&endpoint, &body)
            };
            if let Err(e) = checked {
                panic!("the fake would serve a body that is not schema-valid: {e}");
            }
        }
        let remaining = self.remaining.fetch_sub(1, Ordering::Relaxed).max(1) - 1;
        if remaining < 100 {
            // A nearly used-up window is reported once; then the window resets.
            self.remaining.store(5000, Ordering::Relaxed);
        }
        let reset = jiff::Timestamp::now().as_second() + 3600;
        t = t
            .insert_header("x-ratelimit-limit", "5000")
            .insert_header("x-ratelimit-remaining", remaining.to_string().as_str())
            .insert_header("x-ratelimit-reset", reset.to_string().as_str())
            .insert_header("x-ratelimit-resource", "core");
        for (k, v) in &headers {
            t = t.insert_header(k.as_str(), v.as_str());
        }
        if status == 200 {
            let bytes = serde_json::to_vec_pretty(&body).unwrap();
            let etag = format!("W/\"{}\"", &sha256_hex(&bytes)[..20]);
            if let Some(inm) = if_none_match {
                self.counters.conditional.fetch_add(1, Ordering::Relaxed);
                if inm == etag {
                    self.counters.not_modified.fetch_add(1, Ordering::Relaxed);
                    return ResponseTemplate::new(304)
                        .insert_header("etag", etag.as_str())
                        .insert_header("x-ratelimit-remaining", remaining.to_string().as_str());
                }
            }
            t = t
                .insert_header("etag", etag.as_str())
                .set_body_raw(bytes, "application/json; charset=utf-8");
        } else if !body.is_null() {
            t = t.set_body_raw(body.to_string(), "application/json; charset=utf-8");
        }
        if let Some(d) = delay {
            t = t.set_delay(d);
        }
        t
    }
}

/// A stable 40-hex blob id for `bytes` (a stand-in for git's SHA-1 blob id).
fn sha1_like(bytes: &[u8]) -> String {
    sha256_hex(bytes)
}

impl Respond for FakeGithub {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let full_path = request.url.path();
        let path = full_path.strip_prefix(&self.prefix).unwrap_or(full_path);
        if path == "/__stats" {
            let c = &self.counters;
            return ResponseTemplate::new(200).set_body_json(json!({
                "requests": c.requests.load(Ordering::Relaxed),
                "conditional": c.conditional.load(Ordering::Relaxed),
                "not_modified": c.not_modified.load(Ordering::Relaxed),
                "graphql_requests": c.graphql_requests.load(Ordering::Relaxed),
                "graphql_cost": c.graphql_cost.load(Ordering::Relaxed),
            }));
        }
        if path.ends_with("/graphql") && request.method.as_str() == "POST" {
            return self.graphql(&request.body);
        }
        if path.starts_with("/blobs/") {
            return match self.blob(path) {
                Some(Blob::Bytes(b)) => {
                    ResponseTemplate::new(200).set_body_raw(b, "application/zip")
                }
                _ => ResponseTemplate::new(404),
            };
        }
        let query: BTreeMap<String, String> = request.url.query_pairs().into_owned().collect();
        let pq = match request.url.query() {
            Some(q) => format!("{path}?{q}"),
            None => path.to_owned(),
        };
        let inm = request
            .headers
            .get("if-none-match")
            .and_then(|v| v.to_str().ok());
        self.answer(&pq, path, &query, inm)
    }
}

/// Start a wiremock server answering as `fake` (API under `fake.prefix`), with blobs on the
/// same server unless `blob_base` was set.
pub(crate) async fn serve(fake: &FakeGithub) -> wiremock::MockServer {
    let server = wiremock::MockServer::start().await;
    *fake.base.lock().unwrap() = format!("{}{}", server.uri(), fake.prefix);
    if fake.blob_base.lock().unwrap().is_empty() {
        *fake.blob_base.lock().unwrap() = server.uri();
    }
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(fake.clone())
        .mount(&server)
        .await;
    server
}
