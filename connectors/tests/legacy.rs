//! The GitHub and Jira connectors replayed over the project's own fixtures of legacy shapes
//! (`fixtures/legacy/`: 2012–2020 GitHub answers, Jira Server's old search envelope): missing
//! fields, nulls, numbers where strings are expected. Every primary item read is sealed; every
//! secondary failure is one gap that names what is missing. With `EVIDENCE_REAL_API_DIR` set, a
//! second test replays real recordings from that folder and reports what it collected.
#![allow(clippy::unwrap_used)] // Test helpers fail loudly.

use std::path::Path;
use std::time::Duration;

use evidence_connectors::connector::NoProgress;
use evidence_connectors::github::{GithubConfig, GithubConnector};
use evidence_connectors::http::RetryPolicy;
use evidence_connectors::jira::{Credentials, JiraConfig, JiraConnector};
use evidence_connectors::testing::MemorySink;
use evidence_connectors::{CollectContext, Connector, ConnectorError, Cursor, Secret};
use evidence_model::GapCategory;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn fixture(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/legacy")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn answer(status: u16, name: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(fixture(name), "application/json; charset=utf-8")
}

async fn get(server: &MockServer, at: &str, status: u16, name: &str) {
    Mock::given(method("GET"))
        .and(path(at))
        .respond_with(answer(status, name))
        .mount(server)
        .await;
}

async fn collect(c: &dyn Connector) -> (MemorySink, Result<(), ConnectorError>) {
    let mut sink = MemorySink::new("legacy", "2026-04-01T00:00:00Z".parse().unwrap());
    let ctx = CollectContext {
        shutdown: CancellationToken::new(),
        progress: &NoProgress,
        agent: "evidence-agent test".into(),
    };
    let r = c.collect(&mut Cursor::default(), &mut sink, &ctx).await;
    (sink, r)
}

/// A GitHub of 2012–2020: no Checks API, no rulesets, no protection, runs without `path`.
async fn legacy_github() -> MockServer {
    let server = MockServer::start().await;
    let repo = "/repos/acme/legacy";
    get(&server, "/rate_limit", 200, "github/rate-limit-2013.json").await;
    get(&server, repo, 200, "github/repo.json").await;
    get(
        &server,
        &format!("{repo}/pulls"),
        200,
        "github/pulls-closed.json",
    )
    .await;
    get(
        &server,
        &format!("{repo}/pulls/1"),
        200,
        "github/pull-1.json",
    )
    .await;
    get(
        &server,
        &format!("{repo}/pulls/3"),
        200,
        "github/pull-3.json",
    )
    .await;
    get(
        &server,
        &format!("{repo}/pulls/1/reviews"),
        200,
        "github/reviews-1.json",
    )
    .await;
    Mock::given(method("GET"))
        .and(path(format!("{repo}/pulls/3/reviews")))
        .respond_with(ResponseTemplate::new(200).set_body_raw("[]", "application/json"))
        .mount(&server)
        .await;
    let sha1 = "1111111111111111111111111111111111111111";
    get(
        &server,
        &format!("{repo}/commits/{sha1}/status"),
        200,
        "github/status-1.json",
    )
    .await;
    let protection = format!("{repo}/branches/master/protection");
    get(&server, &protection, 404, "github/not-protected.json").await;
    get(
        &server,
        &format!("{repo}/actions/runs"),
        200,
        "github/runs-2020.json",
    )
    .await;
    get(
        &server,
        &format!("{repo}/actions/workflows/train.yml"),
        200,
        "github/workflow-train.json",
    )
    .await;
    get(
        &server,
        &format!("{repo}/actions/runs/110932306/artifacts"),
        200,
        "github/artifacts-empty.json",
    )
    .await;
    // Everything else (check runs, rules, the other commit's status, the logs) is not there.
    Mock::given(method("GET"))
        .respond_with(answer(404, "github/not-found.json"))
        .with_priority(10)
        .mount(&server)
        .await;
    server
}

fn github(server: &MockServer) -> GithubConnector {
    let text = format!(
        "api_url = \"{}\"\nrepos = [\"acme/legacy\"]\n[releases]\nenabled = false\n[[workflow]]\nfile = \"train.yml\"\nkind = \"training_run\"\n[retry]\nmax_attempts = 2\nbase_delay_ms = 5\nmax_delay_secs = 1\n",
        server.uri()
    );
    let config: GithubConfig = toml::from_str(&text).unwrap();
    GithubConnector::new("gh".parse().unwrap(), &config)
        .unwrap()
        .with_token(Secret::new("ghp_LEGACYTEST0123456789"))
}

#[tokio::test]
async fn a_legacy_github_gives_every_merged_pull_request_its_protection_and_the_2020_run() {
    let server = legacy_github().await;
    let c = github(&server);
    let health = c.healthcheck().await.unwrap();
    assert!(health.detail.contains("57 of 60"), "{}", health.detail);

    let (sink, r) = collect(&c).await;
    r.unwrap();
    let refs: Vec<&str> = sink.drafts().map(|d| d.reference.as_str()).collect();
    assert_eq!(
        refs,
        [
            "acme/legacy@master",
            "acme/legacy#3",
            "acme/legacy#1",
            "acme/legacy/actions/runs/110932306"
        ],
        "gaps: {:?}",
        sink.gaps
    );
    let protection = sink.drafts().next().unwrap();
    assert_eq!(protection.attributes["protected"], false);

    let pr1 = sink
        .drafts()
        .find(|d| d.reference == "acme/legacy#1")
        .unwrap();
    assert_eq!(pr1.attributes["approvers"], serde_json::json!(["ben"]));
    assert_eq!(
        pr1.attributes["reviewers"],
        serde_json::json!(["ben", "ghost"])
    );
    assert_eq!(pr1.attributes["merged_by"], Value::Null);
    let pr3 = sink
        .drafts()
        .find(|d| d.reference == "acme/legacy#3")
        .unwrap();
    assert_eq!(pr3.attributes["author"], "ghost");

    // One gap per endpoint that is missing, naming the permission; nothing else.
    let gaps: Vec<(&str, GapCategory)> = sink
        .gaps
        .iter()
        .map(|g| (g.scope.as_str(), g.category))
        .collect();
    assert_eq!(
        gaps,
        [
            ("acme/legacy (check-runs)", GapCategory::NotFound),
            ("acme/legacy (status)", GapCategory::NotFound)
        ]
    );
    assert!(
        sink.gaps[0].message.contains("2 item(s)"),
        "{}",
        sink.gaps[0].message
    );
    assert!(
        sink.gaps[1].message.contains("acme/legacy#3"),
        "{}",
        sink.gaps[1].message
    );

    let runs = sink
        .populations
        .iter()
        .find(|p| p.scope == "acme/legacy workflows")
        .unwrap();
    assert_eq!(runs.items_sealed, 1);
    assert_eq!(runs.skipped["other_workflow"], 1);
    assert_eq!(runs.skipped["not_completed"], 1);
    assert!(runs.complete);
    let pulls = sink
        .populations
        .iter()
        .find(|p| p.kind.as_ref().is_some_and(|k| k.as_str() == "pr_approval"))
        .unwrap();
    assert_eq!(pulls.skipped["closed_unmerged"], 1);
    assert_eq!(pulls.items_sealed, 2);
}

#[tokio::test]
async fn a_github_enterprise_server_without_rate_limiting_is_healthy() {
    let server = MockServer::start().await;
    get(&server, "/api/v3/rate_limit", 404, "github/not-found.json").await;
    let config: GithubConfig = toml::from_str(&format!(
        "api_url = \"{}/api/v3\"\nrepos = [\"acme/legacy\"]\n",
        server.uri()
    ))
    .unwrap();
    let c = GithubConnector::new("gh".parse().unwrap(), &config)
        .unwrap()
        .with_token(Secret::new("ghp_LEGACYTEST0123456789"));
    let health = c.healthcheck().await.unwrap();
    assert!(
        health.detail.contains("rate limiting is disabled"),
        "{}",
        health.detail
    );
}

fn jira(server: &MockServer) -> JiraConnector {
    let text = format!(
        "site = \"{}\"\nemail_env = \"JIRA_EMAIL\"\napi_token_env = \"JIRA_API_TOKEN\"\njql_timezone = \"UTC\"\n[[query]]\nname = \"incidents\"\njql = \"project = OPS\"\nkind = \"incident_ticket\"\n",
        server.uri()
    );
    let config: JiraConfig = toml::from_str(&text).unwrap();
    JiraConnector::new("jira".parse().unwrap(), &config)
        .unwrap()
        .with_credentials(Credentials::Basic {
            email: "evidence-bot@example.org".into(),
            token: Secret::new("legacy-token"),
        })
        .with_retry_policy(RetryPolicy {
            max_attempts: 2,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
        })
}

#[tokio::test]
async fn a_jira_server_search_in_the_old_envelope_seals_every_ticket_it_names() {
    let server = MockServer::start().await;
    get(
        &server,
        "/rest/api/3/myself",
        200,
        "jira/myself-server.json",
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/search/jql"))
        .respond_with(answer(200, "jira/search-v2-envelope.json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/rest/api/3/issue/OPS-[0-9]+/changelog$"))
        .respond_with(answer(200, "jira/changelog-server.json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/rest/api/3/issue/OPS-[0-9]+/remotelink$"))
        .respond_with(answer(404, "jira/not-found.json"))
        .mount(&server)
        .await;
    let c = jira(&server);
    let health = c.healthcheck().await.unwrap();
    assert!(health.detail.contains("Evidence Bot"), "{}", health.detail);

    let (sink, r) = collect(&c).await;
    r.unwrap();
    let keys: Vec<&str> = sink.drafts().map(|d| d.natural_key.as_str()).collect();
    assert_eq!(keys, ["OPS-7", "OPS-8"], "gaps: {:?}", sink.gaps);
    let ops7 = sink.drafts().next().unwrap();
    let ids: Vec<(&str, Option<&str>)> = ops7
        .actors
        .iter()
        .map(|a| (a.role.as_str(), a.id.as_deref()))
        .collect();
    assert_eq!(
        ids,
        [
            ("reporter", Some("admin")),
            ("resolver", Some("JIRAUSER10007"))
        ]
    );
    let ops8 = sink.drafts().nth(1).unwrap();
    assert_eq!(ops8.attributes["issue_id"], "10008");
    assert_eq!(ops8.actors[0].id.as_deref(), Some("JIRAUSER10002"));

    let gaps: Vec<&str> = sink.gaps.iter().map(|g| g.scope.as_str()).collect();
    assert_eq!(
        gaps,
        [
            "incidents/?",
            "incidents (remotelink)",
            "incidents (fields)"
        ]
    );
    assert!(
        sink.gaps[0].message.contains("with id 10009"),
        "{}",
        sink.gaps[0].message
    );
    assert!(
        sink.gaps[2].message.contains("OPS-8 (fields.updated)"),
        "{}",
        sink.gaps[2].message
    );
}

/// One recorded answer of `manifest.json` in the folder `EVIDENCE_REAL_API_DIR` names.
struct Recording {
    kind: String,
    /// The request path without query (placeholders such as `<GITHUB_LOGIN>` made plain).
    path: String,
    status: u16,
    body: Vec<u8>,
}

fn recordings(dir: &Path) -> Vec<Recording> {
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    manifest
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let request = e["request"].as_str().unwrap();
            let target = request.split_whitespace().nth(1).unwrap_or_default();
            let target = target
                .split_once("://")
                .map_or(target, |(_, rest)| &rest[rest.find('/').unwrap_or(0)..]);
            let path = target.split('?').next().unwrap_or_default();
            Recording {
                kind: e["kind"].as_str().unwrap().to_owned(),
                path: path
                    .replace("<GITHUB_LOGIN>", "login")
                    .replace("<GITHUB_TEST_REPOSITORY>", "test-repository"),
                status: e["status"].as_u64().unwrap() as u16,
                body: std::fs::read(dir.join(e["file"].as_str().unwrap())).unwrap(),
            }
        })
        .collect()
}

async fn serve_recordings(server: &MockServer, list: &[&Recording]) {
    for r in list {
        Mock::given(method("GET"))
            .and(path(r.path.as_str()))
            .respond_with(
                ResponseTemplate::new(r.status)
                    .set_body_raw(r.body.clone(), "application/json; charset=utf-8"),
            )
            .mount(server)
            .await;
    }
    Mock::given(method("GET"))
        .respond_with(answer(404, "github/not-found.json"))
        .with_priority(10)
        .mount(server)
        .await;
}

/// Replays the real recordings of `EVIDENCE_REAL_API_DIR` (not part of the project: run with
/// `EVIDENCE_REAL_API_DIR=../shared/real_api cargo test -p evidence-connectors --test legacy
/// -- --nocapture real`) and prints, per repository and search, items collected against
/// items in the recordings. Skipped, saying so, when the variable is not set.
#[tokio::test]
async fn real_recordings_replayed() {
    let Ok(dir) = std::env::var("EVIDENCE_REAL_API_DIR") else {
        eprintln!("skipped: EVIDENCE_REAL_API_DIR is not set");
        return;
    };
    let all = recordings(Path::new(&dir));
    let mut total_in = 0u64;
    let mut total_out = 0u64;

    // GitHub, one repository at a time.
    let mut repos: Vec<String> = all
        .iter()
        .filter_map(|r| {
            let parts: Vec<&str> = r.path.trim_matches('/').split('/').collect();
            (parts.len() >= 3 && parts[0] == "repos").then(|| format!("{}/{}", parts[1], parts[2]))
        })
        .collect();
    repos.sort();
    repos.dedup();
    for repo in &repos {
        let prefix = format!("/repos/{repo}");
        let mine: Vec<&Recording> = all
            .iter()
            .filter(|r| r.path == prefix || r.path.starts_with(&format!("{prefix}/")))
            .collect();
        let server = MockServer::start().await;
        serve_recordings(&server, &mine).await;
        let json = |r: &Recording| serde_json::from_slice::<Value>(&r.body).unwrap_or(Value::Null);
        let mut expected = 0u64;
        let mut workflow = "ci.yml".to_owned();
        for r in &mine {
            let v = json(r);
            match r.kind.as_str() {
                "pulls" => {
                    expected += v.as_array().map_or(0, |a| {
                        a.iter().filter(|p| !p["merged_at"].is_null()).count()
                    }) as u64
                }
                "protection" => expected += 1,
                "runs" => {
                    let runs = v["workflow_runs"].as_array().cloned().unwrap_or_default();
                    if let Some(p) = runs.iter().find_map(|r| r["path"].as_str()) {
                        workflow = p.rsplit('/').next().unwrap_or(p).to_owned();
                    }
                    expected += runs.iter().filter(|r| r["status"] == "completed").count() as u64;
                }
                "releases" if r.path.starts_with("/repos/") => {
                    expected += v.as_array().map_or(0, |a| a.len()) as u64
                }
                _ => {}
            }
        }
        let text = format!(
            "api_url = \"{}\"\nrepos = [\"{repo}\"]\n[[workflow]]\nfile = \"{workflow}\"\nkind = \"ci_run\"\nartifacts = false\nlogs = false\n[retry]\nmax_attempts = 1\nbase_delay_ms = 5\nmax_delay_secs = 1\n",
            server.uri()
        );
        let config: GithubConfig = toml::from_str(&text).unwrap();
        let c = GithubConnector::new("gh".parse().unwrap(), &config)
            .unwrap()
            .with_token(Secret::new("ghp_REPLAY0123456789"));
        let (sink, r) = collect(&c).await;
        let sealed = sink.items.len() as u64;
        let mut by_kind = std::collections::BTreeMap::<String, u64>::new();
        for d in sink.drafts() {
            *by_kind.entry(d.kind.as_str().to_owned()).or_default() += 1;
        }
        let mut gaps = std::collections::BTreeMap::<String, u64>::new();
        for g in &sink.gaps {
            *gaps.entry(format!("{:?}", g.category)).or_default() += 1;
        }
        eprintln!(
            "github {repo}: {sealed} item(s) sealed of {expected} in the recordings {by_kind:?}; gaps {gaps:?}; result {r:?}"
        );
        for p in &sink.populations {
            eprintln!(
                "  population {} {:?}: seen {} sealed {} skipped {:?} complete {}",
                p.scope, p.kind, p.items_seen, p.items_sealed, p.skipped, p.complete
            );
        }
        total_in += expected;
        total_out += sealed.min(expected);
    }
    // The recorded single pull requests, listed as one page (a pull request object carries
    // every field of a listing entry): how many of them seal with what was recorded.
    for repo in &repos {
        let prefix = format!("/repos/{repo}");
        let mine: Vec<&Recording> = all
            .iter()
            .filter(|r| r.path == prefix || r.path.starts_with(&format!("{prefix}/")))
            .collect();
        let mut pulls: Vec<Value> = mine
            .iter()
            .filter(|r| r.kind == "pull")
            .filter_map(|r| serde_json::from_slice::<Value>(&r.body).ok())
            .collect();
        if pulls.is_empty() {
            continue;
        }
        pulls.sort_by(|a, b| b["updated_at"].as_str().cmp(&a["updated_at"].as_str()));
        let expected = pulls.iter().filter(|p| !p["merged_at"].is_null()).count() as u64;
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(format!("{prefix}/pulls")))
            .respond_with(ResponseTemplate::new(200).set_body_json(Value::Array(pulls)))
            .with_priority(1)
            .mount(&server)
            .await;
        serve_recordings(&server, &mine).await;
        let text = format!(
            "api_url = \"{}\"\nrepos = [\"{repo}\"]\n[protection]\nenabled = false\n[releases]\nenabled = false\n[retry]\nmax_attempts = 1\nbase_delay_ms = 5\n",
            server.uri()
        );
        let config: GithubConfig = toml::from_str(&text).unwrap();
        let c = GithubConnector::new("gh".parse().unwrap(), &config)
            .unwrap()
            .with_token(Secret::new("ghp_REPLAY0123456789"));
        let (sink, r) = collect(&c).await;
        let sealed = sink.items.len() as u64;
        let gaps: Vec<String> = sink
            .gaps
            .iter()
            .map(|g| format!("{} {:?}", g.scope, g.category))
            .collect();
        eprintln!(
            "github {repo} recorded pulls: {sealed} pr_approval sealed of {expected} merged; gaps {gaps:?}; result {r:?}"
        );
        total_in += expected;
        total_out += sealed.min(expected);
    }
    for r in all.iter().filter(|r| r.kind == "rate_limit") {
        let server = MockServer::start().await;
        Mock::given(path("/rate_limit"))
            .respond_with(
                ResponseTemplate::new(r.status).set_body_raw(r.body.clone(), "application/json"),
            )
            .mount(&server)
            .await;
        let config: GithubConfig = toml::from_str(&format!(
            "api_url = \"{}\"\nrepos = [\"a/b\"]\n",
            server.uri()
        ))
        .unwrap();
        let c = GithubConnector::new("gh".parse().unwrap(), &config).unwrap();
        eprintln!(
            "github /rate_limit {}: {:?}",
            r.status,
            c.healthcheck().await.map(|h| h.detail)
        );
    }

    // Jira: each recorded search as the answer to the connector's search, with Atlassian's
    // example changelog, remote links and account.
    let example = |kind: &str, p: &str| {
        all.iter()
            .find(|r| r.kind == kind && r.path.ends_with(p))
            .map(|r| r.body.clone())
    };
    for search in all
        .iter()
        .filter(|r| r.kind.contains("search") || r.path.ends_with("/search/jql"))
    {
        let server = MockServer::start().await;
        let body = |b: Option<Vec<u8>>| {
            ResponseTemplate::new(200).set_body_raw(b.unwrap_or_default(), "application/json")
        };
        Mock::given(method("POST"))
            .and(path("/rest/api/3/search/jql"))
            .respond_with(
                ResponseTemplate::new(200).set_body_raw(search.body.clone(), "application/json"),
            )
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/rest/api/3/myself"))
            .respond_with(body(example("jira-example", "/myself")))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path_regex(r"/changelog$"))
            .respond_with(body(example("jira-example", "/changelog")))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path_regex(r"/remotelink$"))
            .respond_with(body(example("jira-example", "/remotelink")))
            .mount(&server)
            .await;
        let expected = serde_json::from_slice::<Value>(&search.body).unwrap()["issues"]
            .as_array()
            .map_or(0, |a| a.len()) as u64;
        let (sink, r) = collect(&jira(&server)).await;
        let sealed = sink.items.len() as u64;
        let gaps: Vec<String> = sink
            .gaps
            .iter()
            .map(|g| g.message.chars().take(160).collect())
            .collect();
        for p in &sink.populations {
            eprintln!(
                "  population {}: seen {} sealed {} attributes {:?}",
                p.scope, p.items_seen, p.items_sealed, p.attributes
            );
        }
        eprintln!(
            "jira {}: {sealed} ticket(s) sealed of {expected} in the recording; result {r:?}; gaps {gaps:?}",
            search.path
        );
        total_in += expected;
        total_out += sealed.min(expected);
    }
    eprintln!("total: {total_out} item(s) collected of {total_in} in the recordings");
}
