//! The Jira connector against a mock Jira Cloud whose answers are shaped like Atlassian's
//! documented responses (fixtures under `fixtures/jira/`): paging, changelogs, incremental
//! runs, time zones, rate limits, the removed search API and refused credentials.
#![allow(
    clippy::unwrap_used,
    reason = "all of this crate is test code, which clippy.toml already lets unwrap"
)]

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use evidence_connectors::connector::NoProgress;
use evidence_connectors::http::RetryPolicy;
use evidence_connectors::jira::{Credentials, JiraConfig, JiraConnector};
use evidence_connectors::testing::MemorySink;
use evidence_connectors::{
    CollectContext, Connector, ConnectorError, Cursor, ItemDraft, Progress, Secret,
};
use evidence_model::{GapCategory, PopulationRecord, Timestamp};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use wiremock::matchers::{body_string_contains, header, method, path, path_regex, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const TOKEN: &str = "ATATT3xFfGF0-test-token-never-printed";
const SEARCH: &str = "/rest/api/3/search/jql";

fn fixture(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/jira")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).unwrap()
}

fn ok(name: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(fixture(name), "application/json")
}

fn ok_json(v: &Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(serde_json::to_vec(v).unwrap(), "application/json")
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// The test source: incidents and corrective actions of project AIOPS. `settings` go before
/// the first query (top-level keys of the source).
fn connector(server: &MockServer, settings: &str) -> JiraConnector {
    let text = format!(
        r#"
site = "{}"
email_env = "JIRA_EMAIL"
api_token_env = "JIRA_API_TOKEN"
page_size = 2
changelog_page_size = 2
{settings}

[[query]]
name = "incidents"
jql = "project = AIOPS AND type = Incident"
kind = "incident_ticket"

[[query]]
name = "corrective-actions"
jql = "project = AIOPS AND labels = corrective-action"
kind = "corrective_action_ticket"
"#,
        server.uri()
    );
    let config: JiraConfig = toml::from_str(&text).unwrap();
    JiraConnector::new("jira".parse().unwrap(), &config)
        .unwrap()
        .with_credentials(Credentials::Basic {
            email: "evidence-bot@example.org".into(),
            token: Secret::new(TOKEN),
        })
        .with_retry_policy(RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_secs(5),
            timeout: Duration::from_secs(10),
        })
}

/// Progress that remembers every wait.
#[derive(Default)]
struct Waits(Mutex<Vec<(String, Duration)>>);

impl Progress for Waits {
    fn set_items_total(&self, _: Option<u64>) {}
    fn set_bytes_total(&self, _: Option<u64>) {}
    fn add_items(&self, _: u64) {}
    fn add_bytes(&self, _: u64) {}
    fn status(&self, _: &str) {}
    fn waiting(&self, reason: &str, delay: Duration) {
        self.0.lock().unwrap().push((reason.to_owned(), delay));
    }
}

async fn collect_with(
    c: &JiraConnector,
    cursor: &mut Cursor,
    progress: &dyn Progress,
) -> (MemorySink, Result<(), ConnectorError>) {
    let mut sink = MemorySink::new("jira", ts("2026-02-01T00:00:00Z"));
    let ctx = CollectContext {
        shutdown: CancellationToken::new(),
        progress,
        agent: "evidence-agent test".into(),
    };
    let result = c.collect(cursor, &mut sink, &ctx).await;
    (sink, result)
}

async fn collect(
    c: &JiraConnector,
    cursor: &mut Cursor,
) -> (MemorySink, Result<(), ConnectorError>) {
    collect_with(c, cursor, &NoProgress).await
}

/// Mount the account, both searches, every changelog and the remote links. Their priorities
/// are 2 and lower: a test overrides one answer with a mock of priority 1.
async fn mount_site(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/rest/api/3/myself"))
        .respond_with(ok("myself.json"))
        .mount(server)
        .await;
    mount_searches(server).await;
    mount_changelogs(server).await;
}

async fn mount_searches(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path(SEARCH))
        .and(body_string_contains("type = Incident"))
        .and(body_string_contains("CAEaAggD"))
        .respond_with(ok("search-incidents-page-2.json"))
        .with_priority(2)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path(SEARCH))
        .and(body_string_contains("type = Incident"))
        .respond_with(ok("search-incidents-page-1.json"))
        .with_priority(3)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path(SEARCH))
        .and(body_string_contains("corrective-action"))
        .respond_with(ok("search-corrective-actions.json"))
        .mount(server)
        .await;
}

async fn mount_changelogs(server: &MockServer) {
    let changelog = "/rest/api/3/issue/AIOPS-42/changelog";
    Mock::given(method("GET"))
        .and(path(changelog))
        .and(query_param("startAt", "0"))
        .and(query_param("maxResults", "2"))
        .respond_with(ok("changelog-AIOPS-42-page-1.json"))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(changelog))
        .and(query_param("startAt", "2"))
        .respond_with(ok("changelog-AIOPS-42-page-2.json"))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/rest/api/3/issue/AIOPS-40/changelog"))
        .respond_with(ok("changelog-AIOPS-40.json"))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/rest/api/3/issue/AIOPS-(41|60)/changelog$"))
        .respond_with(ok("changelog-empty.json"))
        .with_priority(3)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/rest/api/3/issue/AIOPS-42/remotelink"))
        .respond_with(ok("remotelink-AIOPS-42.json"))
        .with_priority(2)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/rest/api/3/issue/[A-Z]+-[0-9]+/remotelink$"))
        .respond_with(ok_json(&json!([])))
        .with_priority(4)
        .mount(server)
        .await;
}

fn draft<'a>(sink: &'a MemorySink, key: &str) -> &'a ItemDraft {
    let found: Vec<&ItemDraft> = sink.drafts().filter(|d| d.natural_key == key).collect();
    assert_eq!(found.len(), 1, "{key} sealed {} times", found.len());
    found[0]
}

fn artefact(sink: &MemorySink, key: &str) -> String {
    let (_, _, bytes) = sink
        .items
        .iter()
        .find(|(_, d, _)| d.natural_key == key)
        .unwrap_or_else(|| panic!("{key} was not sealed"));
    String::from_utf8(bytes.clone()).unwrap()
}

fn population<'a>(sink: &'a MemorySink, scope: &str) -> &'a PopulationRecord {
    sink.populations
        .iter()
        .find(|p| p.scope == scope)
        .unwrap_or_else(|| panic!("no population record for {scope}: {:?}", sink.populations))
}

async fn requests(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap_or_default()
}

/// The JQL of every search request, in order.
async fn searched_jql(server: &MockServer) -> Vec<String> {
    requests(server)
        .await
        .iter()
        .filter(|r| r.url.path() == SEARCH)
        .map(|r| {
            r.body_json::<Value>().unwrap()["jql"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

fn roles(d: &ItemDraft) -> Vec<(String, String)> {
    d.actors
        .iter()
        .map(|a| (a.role.clone(), a.name.clone()))
        .collect()
}

#[tokio::test]
async fn a_first_run_walks_every_page_and_seals_each_ticket_with_its_full_changelog() {
    let server = MockServer::start().await;
    mount_site(&server).await;
    let c = connector(&server, "jql_timezone = \"Europe/Berlin\"");
    let mut cursor = Cursor::default();
    let (sink, result) = collect(&c, &mut cursor).await;
    result.unwrap();
    assert!(sink.gaps.is_empty(), "{:?}", sink.gaps);
    let keys: Vec<&str> = sink.drafts().map(|d| d.natural_key.as_str()).collect();
    assert_eq!(keys, ["AIOPS-42", "AIOPS-41", "AIOPS-40", "AIOPS-60"]);

    let d = draft(&sink, "AIOPS-42");
    assert_eq!(d.kind.as_str(), "incident_ticket");
    assert!(d.controls.iter().any(|c| c.as_str() == "A.8.4"));
    assert!(d.controls.iter().any(|c| c.as_str() == "A.6.2.6"));
    assert!(d.clauses.iter().any(|c| c.as_str() == "10.2"));
    assert_eq!(
        roles(d),
        [
            ("reporter".into(), "Ana Reporter".into()),
            ("assignee".into(), "Ben Oncall".into()),
            ("resolver".into(), "Fay Lead".into()),
        ]
    );
    assert_eq!(d.actors[2].id.as_deref(), Some("557058:fay"));
    let period = d.period.clone().unwrap();
    assert_eq!(period.start, Some(ts("2026-01-15T08:12:00Z")));
    assert_eq!(period.end, Some(ts("2026-01-16T10:00:00Z")));
    assert_eq!(d.source_time, Some(ts("2026-01-16T10:05:30Z")));
    assert_eq!(
        d.title,
        "AIOPS-42: Fraud model drift alert not acted on for 3 days"
    );
    assert_eq!(
        d.url.as_deref(),
        Some(format!("{}/browse/AIOPS-42", server.uri()).as_str())
    );
    assert_eq!(d.file_name, "AIOPS-42.json");
    assert_eq!(d.attributes["priority"], json!("High"));
    assert_eq!(d.attributes["resolved"], json!("2026-01-16T10:00:00Z"));
    let transitions = d.attributes["transitions"].as_array().unwrap();
    assert_eq!(transitions.len(), 2);
    assert_eq!(transitions[1]["to"], json!("Done"));
    assert_eq!(transitions[1]["by"]["name"], json!("Fay Lead"));
    assert_eq!(transitions[1]["at"], json!("2026-01-16T10:00:00Z"));
    let reviews = d.attributes["post_incident_reviews"].as_array().unwrap();
    assert_eq!(reviews[0]["key"], json!("AIOPS-50"));
    assert_eq!(
        reviews[1]["url"],
        json!("https://wiki.example.org/pages/4242")
    );

    // The artefact is Jira's JSON as sent: the issue byte for byte, every changelog entry.
    let text = artefact(&sink, "AIOPS-42");
    assert!(text.contains(r#""summary": "Fraud model drift alert not acted on for 3 days""#));
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        doc["issue"],
        fixture_json("search-incidents-page-1.json")["issues"][0]
    );
    let ids: Vec<&str> = doc["changelog"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["20001", "20002", "20003"]);
    assert_eq!(
        doc["remotelinks"][0]["object"]["title"],
        json!("Postmortem: fraud model drift (AIOPS-42)")
    );

    // A workflow without resolutions: moving to Closed names the resolver.
    let d = draft(&sink, "AIOPS-40");
    assert!(roles(d).contains(&("resolver".into(), "Dee Analyst".into())));
    assert_eq!(
        d.period.clone().unwrap().end,
        Some(ts("2026-01-12T14:00:00Z"))
    );
    // Unresolved and unassigned: only the reporter, an open period.
    let d = draft(&sink, "AIOPS-41");
    assert_eq!(roles(d), [("reporter".into(), "Cy Support".into())]);
    assert_eq!(d.period.clone().unwrap().end, None);
    assert_eq!(
        draft(&sink, "AIOPS-60").kind.as_str(),
        "corrective_action_ticket"
    );

    let p = population(&sink, "incidents");
    assert_eq!(
        (
            p.pages_walked,
            p.items_seen,
            p.items_sealed,
            p.items_unchanged
        ),
        (2, 3, 3, 0)
    );
    assert!(p.complete);
    assert_eq!(p.watermark_before, None);
    assert_eq!(p.watermark_after.as_deref(), Some("2026-01-16T10:05:30Z"));
    assert!(p.query.contains("ORDER BY updated DESC"), "{}", p.query);
    assert_eq!(p.attributes["changelog_pages"], json!(4));
    assert_eq!(p.attributes["jql_timezone"], json!("Europe/Berlin"));
    assert_eq!(p.kind.as_ref().map(|k| k.as_str()), Some("incident_ticket"));
    assert_eq!(population(&sink, "corrective-actions").items_sealed, 1);

    let all = requests(&server).await;
    let searches: Vec<Value> = all
        .iter()
        .filter(|r| r.url.path() == SEARCH)
        .map(|r| r.body_json().unwrap())
        .collect();
    assert_eq!(searches.len(), 3);
    assert_eq!(searches[0].get("nextPageToken"), None);
    assert_eq!(searches[1]["nextPageToken"], json!("CAEaAggD"));
    assert_eq!(searches[0]["maxResults"], json!(2));
    let fields = searches[0]["fields"].as_array().unwrap();
    for f in [
        "updated",
        "status",
        "issuelinks",
        "priority",
        "reporter",
        "assignee",
    ] {
        assert!(fields.contains(&json!(f)), "fields lack {f}: {fields:?}");
    }
    assert_eq!(
        searches[0]["jql"],
        json!("project = AIOPS AND type = Incident ORDER BY updated DESC, key DESC")
    );
    assert!(all.iter().all(|r| {
        r.headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("Basic "))
    }));
    assert!(
        cursor.0["queries"]["incidents"]["watermark"].is_string(),
        "{}",
        cursor.0
    );
}

#[tokio::test]
async fn a_second_run_searches_from_the_watermark_less_the_overlap_and_seals_no_version_twice() {
    let server = MockServer::start().await;
    mount_site(&server).await;
    let c = connector(
        &server,
        "jql_timezone = \"Europe/Berlin\"\noverlap_secs = 900",
    );
    let mut cursor = Cursor::default();
    let (first, result) = collect(&c, &mut cursor).await;
    result.unwrap();
    assert_eq!(first.items.len(), 4);
    // Jira now returns what changed since the bound: AIOPS-42 again (inside the overlap
    // window), and the corrective action.
    server.reset().await;
    let newest = fixture_json("search-incidents-page-1.json")["issues"][0].clone();
    Mock::given(method("POST"))
        .and(path(SEARCH))
        .and(body_string_contains("type = Incident"))
        .respond_with(ok_json(&json!({"issues": [newest], "isLast": true})))
        .with_priority(1)
        .mount(&server)
        .await;
    mount_site(&server).await;

    let (second, result) = collect(&c, &mut cursor).await;
    result.unwrap();
    assert!(
        second.items.is_empty(),
        "{:?}",
        second.drafts().collect::<Vec<_>>()
    );
    let p = population(&second, "incidents");
    assert_eq!((p.items_seen, p.items_sealed, p.items_unchanged), (1, 0, 1));
    assert_eq!(p.watermark_before.as_deref(), Some("2026-01-16T10:05:30Z"));
    assert_eq!(p.watermark_after.as_deref(), Some("2026-01-16T10:05:30Z"));
    // 10:05:30 UTC less 15 minutes is 09:50:30 UTC, 10:50 in Berlin (UTC+1 in January).
    let jql = searched_jql(&server).await;
    assert_eq!(
        jql[0],
        "(project = AIOPS AND type = Incident) AND updated >= \"2026-01-16 10:50\" ORDER BY updated DESC, key DESC"
    );
    assert!(
        jql[1].contains("updated >= \"2026-01-20 15:45\""),
        "{}",
        jql[1]
    );
    let changelog_requests = requests(&server)
        .await
        .iter()
        .filter(|r| r.url.path().ends_with("/changelog"))
        .count();
    assert_eq!(
        changelog_requests, 0,
        "unchanged tickets are not fetched again"
    );
}

/// Search pages whose issues are the given `(key, updated, summary)` versions of AIOPS-41.
async fn mount_two_pages(server: &MockServer, first: &[(&str, &str)], second: &[(&str, &str)]) {
    let base = fixture_json("search-incidents-page-1.json")["issues"][1].clone();
    let version = |updated: &str, summary: &str| {
        let mut v = base.clone();
        v["fields"]["updated"] = json!(updated);
        v["fields"]["summary"] = json!(summary);
        v
    };
    let page = |versions: &[(&str, &str)], token: Option<&str>| {
        let issues: Vec<Value> = versions.iter().map(|(u, s)| version(u, s)).collect();
        match token {
            Some(t) => json!({"issues": issues, "nextPageToken": t, "isLast": false}),
            None => json!({"issues": issues, "isLast": true}),
        }
    };
    Mock::given(method("GET"))
        .and(path("/rest/api/3/myself"))
        .respond_with(ok("myself.json"))
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path(SEARCH))
        .and(body_string_contains("page-2"))
        .respond_with(ok_json(&page(second, None)))
        .with_priority(1)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path(SEARCH))
        .and(body_string_contains("type = Incident"))
        .respond_with(ok_json(&page(first, Some("page-2"))))
        .with_priority(2)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path(SEARCH))
        .respond_with(ok_json(&json!({"issues": [], "isLast": true})))
        .with_priority(3)
        .mount(server)
        .await;
    mount_changelogs(server).await;
}

#[tokio::test]
async fn a_ticket_changed_between_pages_is_sealed_once_in_its_newest_version() {
    // Older version first, newer on the next page: the newer replaces the older.
    let server = MockServer::start().await;
    mount_two_pages(
        &server,
        &[("2026-01-15T17:45:00.000+0100", "before the edit")],
        &[("2026-01-15T18:10:00.000+0100", "after the edit")],
    )
    .await;
    let c = connector(&server, "");
    let (sink, result) = collect(&c, &mut Cursor::default()).await;
    result.unwrap();
    let d = draft(&sink, "AIOPS-41");
    assert_eq!(d.source_time, Some(ts("2026-01-15T17:10:00Z")));
    assert!(artefact(&sink, "AIOPS-41").contains("after the edit"));
    let p = population(&sink, "incidents");
    assert_eq!((p.items_seen, p.items_sealed), (1, 1));
    assert_eq!(p.attributes["replaced_by_newer_version"], json!(1));
    assert!(
        p.notes.iter().any(|n| n.contains("more than once")),
        "{:?}",
        p.notes
    );

    // Newer version first (the usual case when paging newest first): the older is skipped.
    let server = MockServer::start().await;
    mount_two_pages(
        &server,
        &[("2026-01-15T18:10:00.000+0100", "after the edit")],
        &[("2026-01-15T17:45:00.000+0100", "before the edit")],
    )
    .await;
    let c = connector(&server, "");
    let (sink, result) = collect(&c, &mut Cursor::default()).await;
    result.unwrap();
    assert_eq!(
        draft(&sink, "AIOPS-41").source_time,
        Some(ts("2026-01-15T17:10:00Z"))
    );
    assert_eq!(
        population(&sink, "incidents").attributes["seen_again_in_run"],
        json!(1)
    );
}

#[tokio::test]
async fn the_removed_search_api_answering_410_is_a_clear_gap_and_other_queries_still_seal() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(SEARCH))
        .and(body_string_contains("type = Incident"))
        .respond_with(
            ResponseTemplate::new(410)
                .set_body_raw(fixture("search-gone.json"), "application/json"),
        )
        .with_priority(1)
        .mount(&server)
        .await;
    mount_site(&server).await;
    let c = connector(&server, "");
    let (sink, result) = collect(&c, &mut Cursor::default()).await;
    result.unwrap();
    assert_eq!(sink.gaps.len(), 1, "{:?}", sink.gaps);
    let gap = &sink.gaps[0];
    assert_eq!(gap.scope, "incidents");
    assert_eq!(gap.category, GapCategory::InvalidResponse);
    for needle in ["410 Gone", "/rest/api/3/search)", "removed", SEARCH] {
        assert!(
            gap.message.contains(needle),
            "{needle:?} not in {}",
            gap.message
        );
    }
    let p = population(&sink, "incidents");
    assert!(!p.complete);
    assert_eq!(p.watermark_after, None);
    let keys: Vec<&str> = sink.drafts().map(|d| d.natural_key.as_str()).collect();
    assert_eq!(keys, ["AIOPS-60"]);
    assert!(population(&sink, "corrective-actions").complete);
}

#[tokio::test]
async fn a_rejected_jql_is_a_gap_quoting_jira_and_the_other_query_still_seals() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(SEARCH))
        .and(body_string_contains("type = Incident"))
        .respond_with(ResponseTemplate::new(400).set_body_raw(
            r#"{"errorMessages":["The value 'AIOPS' does not exist for the field 'project'."],"errors":{}}"#,
            "application/json",
        ))
        .with_priority(1)
        .mount(&server)
        .await;
    mount_site(&server).await;
    let (sink, result) = collect(&connector(&server, ""), &mut Cursor::default()).await;
    result.unwrap();
    assert_eq!(sink.gaps.len(), 1);
    assert!(
        sink.gaps[0]
            .message
            .contains("does not exist for the field 'project'"),
        "{}",
        sink.gaps[0].message
    );
    assert_eq!(sink.items.len(), 1);
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out_and_the_walk_continues() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(SEARCH))
        .and(body_string_contains("CAEaAggD"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    mount_site(&server).await;
    let waits = Waits::default();
    let started = Instant::now();
    let (sink, result) =
        collect_with(&connector(&server, ""), &mut Cursor::default(), &waits).await;
    result.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert!(sink.gaps.is_empty(), "{:?}", sink.gaps);
    assert_eq!(sink.items.len(), 4);
    let waits = waits.0.lock().unwrap().clone();
    assert_eq!(waits.len(), 1, "{waits:?}");
    assert_eq!(waits[0].1, Duration::from_secs(1));
    assert!(waits[0].0.contains("429"), "{waits:?}");
}

#[tokio::test]
async fn a_429_with_only_a_reset_time_waits_until_that_time() {
    let server = MockServer::start().await;
    // Jira's format is yyyy-MM-ddTHH:mmZ; a reset already past means retry at once.
    Mock::given(method("GET"))
        .and(path("/rest/api/3/issue/AIOPS-40/changelog"))
        .respond_with(
            ResponseTemplate::new(429).insert_header("X-RateLimit-Reset", "2026-01-01T00:00Z"),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    mount_site(&server).await;
    let waits = Waits::default();
    let (sink, result) =
        collect_with(&connector(&server, ""), &mut Cursor::default(), &waits).await;
    result.unwrap();
    assert_eq!(sink.items.len(), 4);
    assert_eq!(waits.0.lock().unwrap()[0].1, Duration::ZERO);
}

#[tokio::test]
async fn rate_limiting_that_never_ends_is_a_rate_limited_gap() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(SEARCH))
        .and(body_string_contains("corrective-action"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "0"))
        .with_priority(1)
        .mount(&server)
        .await;
    mount_site(&server).await;
    let (sink, result) = collect(&connector(&server, ""), &mut Cursor::default()).await;
    result.unwrap();
    assert_eq!(sink.gaps.len(), 1);
    assert_eq!(sink.gaps[0].category, GapCategory::RateLimited);
    assert!(
        sink.gaps[0].message.contains("3 attempts"),
        "{}",
        sink.gaps[0].message
    );
    assert_eq!(sink.items.len(), 3);
}

#[tokio::test]
async fn a_refused_token_is_a_denied_gap_per_query_that_never_shows_the_token() {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(
            ResponseTemplate::new(401)
                .insert_header("WWW-Authenticate", "Basic realm=\"protected-area\"")
                .set_body_raw(fixture("unauthorized.txt"), "text/plain"),
        )
        .mount(&server)
        .await;
    let (sink, result) = collect(&connector(&server, ""), &mut Cursor::default()).await;
    result.unwrap();
    assert!(sink.items.is_empty());
    assert_eq!(sink.gaps.len(), 2, "{:?}", sink.gaps);
    for gap in &sink.gaps {
        assert_eq!(gap.category, GapCategory::Denied);
        assert!(gap.message.contains("401"), "{}", gap.message);
        assert!(gap.message.contains("JIRA_API_TOKEN"), "{}", gap.message);
    }
    let everything = format!("{:?} {:?}", sink.gaps, sink.populations);
    assert!(!everything.contains(TOKEN));
    assert!(!everything.contains("ATATT"));
    assert!(sink.populations.iter().all(|p| !p.complete));
    assert!(
        population(&sink, "incidents")
            .notes
            .iter()
            .any(|n| n.contains("time zone could not be read")),
        "{:?}",
        population(&sink, "incidents").notes
    );
}

#[tokio::test]
async fn missing_credentials_fail_the_source_naming_the_variable_not_a_value() {
    let server = MockServer::start().await;
    let text = format!(
        "site = \"{}\"\nbearer_token_env = \"EVIDENCE_TEST_UNSET_JIRA_TOKEN_7F3A\"\n[[query]]\njql = \"project = AIOPS\"\nkind = \"incident_ticket\"\n",
        server.uri()
    );
    let config: JiraConfig = toml::from_str(&text).unwrap();
    let c = JiraConnector::new("jira".parse().unwrap(), &config).unwrap();
    let (_, result) = collect(&c, &mut Cursor::default()).await;
    let err = result.unwrap_err();
    assert!(matches!(err, ConnectorError::Denied { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("EVIDENCE_TEST_UNSET_JIRA_TOKEN_7F3A"),
        "{err}"
    );
    assert!(requests(&server).await.is_empty());
}

#[tokio::test]
async fn bearer_tokens_are_sent_as_bearer_authorization() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/rest/api/3/myself"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(ok("myself.json"))
        .mount(&server)
        .await;
    let c = connector(&server, "").with_credentials(Credentials::Bearer {
        token: Secret::new(TOKEN),
    });
    let health = c.healthcheck().await;
    // The account's zone (Europe/Berlin) differs from the default jql_timezone (UTC).
    let err = health.unwrap_err().to_string();
    assert!(err.contains("jql_timezone = \"Europe/Berlin\""), "{err}");
    let c = connector(&server, "jql_timezone = \"Europe/Berlin\"").with_credentials(
        Credentials::Bearer {
            token: Secret::new(TOKEN),
        },
    );
    let health = c.healthcheck().await.unwrap();
    assert!(health.detail.contains("Evidence Bot"), "{}", health.detail);
}

#[tokio::test]
async fn a_ticket_whose_changelog_fails_is_a_gap_and_is_collected_by_the_next_run() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/rest/api/3/issue/AIOPS-41/changelog"))
        .respond_with(ResponseTemplate::new(503))
        .with_priority(1)
        .mount(&server)
        .await;
    mount_site(&server).await;
    let c = connector(&server, "");
    let mut cursor = Cursor::default();
    let (sink, result) = collect(&c, &mut cursor).await;
    result.unwrap();
    assert_eq!(sink.gaps.len(), 1);
    assert_eq!(sink.gaps[0].scope, "incidents/AIOPS-41");
    assert_eq!(sink.gaps[0].category, GapCategory::Unreachable);
    let keys: Vec<&str> = sink.drafts().map(|d| d.natural_key.as_str()).collect();
    assert_eq!(keys, ["AIOPS-42", "AIOPS-40", "AIOPS-60"]);
    let p = population(&sink, "incidents");
    assert!(!p.complete);
    // Held at the failed ticket's update time, so the next search finds it again.
    assert_eq!(p.watermark_after.as_deref(), Some("2026-01-15T16:45:00Z"));

    // The next search starts 15 minutes before AIOPS-41's update: Jira returns the first
    // page's two tickets; AIOPS-42 is already sealed.
    server.reset().await;
    let mut since = fixture_json("search-incidents-page-1.json");
    since["isLast"] = json!(true);
    since.as_object_mut().unwrap().remove("nextPageToken");
    Mock::given(method("POST"))
        .and(path(SEARCH))
        .and(body_string_contains("type = Incident"))
        .respond_with(ok_json(&since))
        .with_priority(1)
        .mount(&server)
        .await;
    mount_site(&server).await;
    let (sink, result) = collect(&c, &mut cursor).await;
    result.unwrap();
    assert!(sink.gaps.is_empty());
    assert!(searched_jql(&server).await[0].contains("updated >= \"2026-01-15 17:30\""));
    let keys: Vec<&str> = sink.drafts().map(|d| d.natural_key.as_str()).collect();
    assert_eq!(keys, ["AIOPS-41"]);
    assert_eq!(
        population(&sink, "incidents").watermark_after.as_deref(),
        Some("2026-01-16T10:05:30Z")
    );
}

/// Run one collection from a saved watermark against an empty site; return the incidents JQL.
async fn jql_from_watermark(settings: &str, watermark: &str) -> (String, PopulationRecord) {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/rest/api/3/myself"))
        .respond_with(ok("myself.json"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(SEARCH))
        .respond_with(ok_json(&json!({"issues": [], "isLast": true})))
        .mount(&server)
        .await;
    let mut cursor = Cursor(json!({
        "version": 1,
        "queries": {"incidents": {
            "jql": "project = AIOPS AND type = Incident",
            "watermark": watermark,
            "sealed": {}
        }}
    }));
    let (sink, result) = collect(&connector(&server, settings), &mut cursor).await;
    result.unwrap();
    let jql = searched_jql(&server).await.remove(0);
    (jql, population(&sink, "incidents").clone())
}

#[tokio::test]
async fn jql_times_are_written_in_the_account_time_zone_across_the_autumn_clock_change() {
    let berlin = "jql_timezone = \"Europe/Berlin\"\noverlap_secs = 900";
    // Summer time: 12:00 UTC is 14:00 in Berlin.
    let (jql, _) = jql_from_watermark(berlin, "2026-07-01T12:15:00Z").await;
    assert!(jql.contains("updated >= \"2026-07-01 14:00\""), "{jql}");
    // Clocks go back at 01:00 UTC on 2026-10-25, so 02:00-02:59 happens twice. 00:30 UTC is
    // the first 02:30; Jira may read "02:30" as the second (01:30 UTC), an hour too late, so
    // the literal steps back out of the repeated hour.
    let (jql, p) = jql_from_watermark(berlin, "2026-10-25T00:45:00Z").await;
    assert!(jql.contains("updated >= \"2026-10-25 01:30\""), "{jql}");
    assert_eq!(p.attributes["updated_from"], json!("2026-10-25T00:30:00Z"));
    // 01:30 UTC is the second 02:30: either reading of "02:30" is at or before it.
    let (jql, _) = jql_from_watermark(berlin, "2026-10-25T01:45:00Z").await;
    assert!(jql.contains("updated >= \"2026-10-25 02:30\""), "{jql}");
    // After the change Berlin is UTC+1.
    let (jql, _) = jql_from_watermark(berlin, "2026-10-25T03:15:00Z").await;
    assert!(jql.contains("updated >= \"2026-10-25 04:00\""), "{jql}");
}

#[tokio::test]
async fn the_account_time_zone_wins_over_a_different_jql_timezone_with_a_note() {
    // jql_timezone says UTC, but the account's profile (myself.json) says Europe/Berlin, which
    // is the zone Jira reads JQL times in.
    let (jql, p) = jql_from_watermark(
        "jql_timezone = \"UTC\"\noverlap_secs = 0",
        "2026-01-16T10:05:30Z",
    )
    .await;
    assert!(jql.contains("updated >= \"2026-01-16 11:05\""), "{jql}");
    assert_eq!(p.attributes["jql_timezone"], json!("Europe/Berlin"));
    assert_eq!(p.attributes["account_time_zone"], json!("Europe/Berlin"));
    assert!(
        p.notes.iter().any(|n| n.contains("jql_timezone is UTC")),
        "{:?}",
        p.notes
    );
}

#[test]
fn the_shipped_example_configures_a_valid_jira_source() {
    #[derive(serde::Deserialize)]
    struct Example {
        source: Vec<evidence_connectors::SourceConfig>,
    }
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let text = std::fs::read_to_string(examples.join("jira.toml")).unwrap();
    let example: Example = toml::from_str(&text).unwrap();
    let connector = example.source[0].build(&examples).unwrap();
    assert_eq!(connector.connector_type(), "jira");
    assert_eq!(connector.name().as_str(), "jira");
}

#[tokio::test]
async fn a_shutdown_during_a_rate_limit_wait_stops_at_once_and_keeps_what_was_sealed() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(SEARCH))
        .and(body_string_contains("CAEaAggD"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "30"))
        .with_priority(1)
        .mount(&server)
        .await;
    mount_site(&server).await;
    let c = connector(&server, "");
    let shutdown = CancellationToken::new();
    let cancel = shutdown.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        cancel.cancel();
    });
    let mut sink = MemorySink::new("jira", ts("2026-02-01T00:00:00Z"));
    let ctx = CollectContext {
        shutdown,
        progress: &NoProgress,
        agent: "evidence-agent test".into(),
    };
    let mut cursor = Cursor::default();
    let started = Instant::now();
    let err = c.collect(&mut cursor, &mut sink, &ctx).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(matches!(err, ConnectorError::Interrupted { .. }), "{err}");
    // The first page was sealed and the cursor says so; the watermark did not move.
    let keys: Vec<&str> = sink.drafts().map(|d| d.natural_key.as_str()).collect();
    assert_eq!(keys, ["AIOPS-42", "AIOPS-41"]);
    let p = population(&sink, "incidents");
    assert!(!p.complete);
    assert_eq!(p.watermark_after, None);
    let incidents = &cursor.0["queries"]["incidents"];
    assert_eq!(incidents["watermark"], Value::Null);
    assert_eq!(
        incidents["sealed"]["AIOPS-42"],
        json!("2026-01-16T10:05:30Z")
    );
    assert_eq!(
        incidents["sealed"]["AIOPS-41"],
        json!("2026-01-15T16:45:00Z")
    );
}

#[tokio::test]
async fn a_ticket_whose_remote_links_answer_404_is_sealed_and_one_gap_per_query_says_so() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/rest/api/3/issue/[A-Z]+-[0-9]+/remotelink$"))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(json!({"errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {}})),
        )
        .with_priority(1)
        .mount(&server)
        .await;
    mount_site(&server).await;
    let c = connector(&server, "");
    let (sink, result) = collect(&c, &mut Cursor::default()).await;
    result.unwrap();
    let keys: Vec<&str> = sink.drafts().map(|d| d.natural_key.as_str()).collect();
    assert_eq!(keys, ["AIOPS-42", "AIOPS-41", "AIOPS-40", "AIOPS-60"]);
    let d = draft(&sink, "AIOPS-42");
    assert_eq!(d.actors[2].id.as_deref(), Some("557058:fay"));
    let links = d.attributes["remote_links"].as_str().unwrap();
    assert!(links.starts_with("unavailable"), "{links}");
    let scopes: Vec<(&str, GapCategory)> = sink
        .gaps
        .iter()
        .map(|g| (g.scope.as_str(), g.category))
        .collect();
    assert_eq!(
        scopes,
        [
            ("incidents (remotelink)", GapCategory::NotFound),
            ("corrective-actions (remotelink)", GapCategory::NotFound)
        ]
    );
    assert!(
        sink.gaps[0].message.contains("AIOPS-42"),
        "{}",
        sink.gaps[0].message
    );
    assert_eq!(
        population(&sink, "incidents").attributes["remote_links_unavailable"],
        json!(3)
    );
}

/// The incidents search answering one page of `issues`.
async fn mount_search_of(server: &MockServer, issues: Value) {
    Mock::given(method("POST"))
        .and(path(SEARCH))
        .and(body_string_contains("type = Incident"))
        .respond_with(ok_json(&json!({"issues": issues, "isLast": true})))
        .with_priority(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_field_of_an_unexpected_type_keeps_the_ticket_and_the_gap_names_its_key() {
    // Atlassian's own example for /rest/api/3/search/jql has `"updated": 1`, and an `id`
    // that is a number; a Data Center reporter has `name` and `key` but no `accountId`.
    let server = MockServer::start().await;
    mount_search_of(
        &server,
        json!([
            {"id": 10002, "key": "AIOPS-41", "fields": {"summary": "Drift", "updated": 1, "created": "2026-01-15T08:12:00.000+0000", "labels": "incident", "reporter": {"name": "admin", "key": "JIRAUSER10000", "displayName": "Ada Admin"}}},
            {"id": "10003", "key": "AIOPS-40", "fields": {"summary": "Fine", "updated": "2026-01-15T09:00:00.000+0000"}},
            {"id": "10004", "fields": {"summary": "No key"}}
        ]),
    )
    .await;
    mount_site(&server).await;
    let c = connector(&server, "");
    let (sink, result) = collect(&c, &mut Cursor::default()).await;
    result.unwrap();
    let incidents: Vec<&str> = sink
        .drafts()
        .filter(|d| d.kind.as_str() == "incident_ticket")
        .map(|d| d.natural_key.as_str())
        .collect();
    assert_eq!(incidents, ["AIOPS-41", "AIOPS-40"]);
    let d = draft(&sink, "AIOPS-41");
    assert_eq!(d.source_time, None);
    assert_eq!(
        d.attributes["unparsed_fields"],
        json!(["fields.labels", "fields.updated"])
    );
    assert_eq!(d.attributes["issue_id"], json!("10002"));
    assert_eq!(d.actors[0].id.as_deref(), Some("JIRAUSER10000"));
    assert!(artefact(&sink, "AIOPS-41").contains("\"updated\":1"));
    let messages: Vec<(&str, &str)> = sink
        .gaps
        .iter()
        .map(|g| (g.scope.as_str(), g.message.as_str()))
        .collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(messages[0].0, "incidents/?");
    assert!(messages[0].1.contains("with id 10004"), "{}", messages[0].1);
    assert_eq!(messages[1].0, "incidents (fields)");
    assert!(
        messages[1]
            .1
            .contains("AIOPS-41 (fields.labels, fields.updated)"),
        "{}",
        messages[1].1
    );
    // The watermark moved only with the ticket whose time did read.
    assert_eq!(
        population(&sink, "incidents").watermark_after.as_deref(),
        Some("2026-01-15T09:00:00Z")
    );
}

/// Every ticket key the searches of [`mount_site`] return.
fn searched_keys() -> Vec<String> {
    let mut keys = Vec::new();
    for f in [
        "search-incidents-page-1.json",
        "search-incidents-page-2.json",
        "search-corrective-actions.json",
    ] {
        for issue in fixture_json(f)["issues"].as_array().unwrap() {
            keys.push(issue["key"].as_str().unwrap().to_owned());
        }
    }
    keys.sort();
    keys.dedup();
    keys
}

/// The fault matrix: the secondary endpoints of a ticket (remote links, changelog) answering
/// 403, 404, 500 (every retry) and a cut-off body; the primary search answering a field of the
/// wrong type. Every case: each ticket is sealed or named by a gap, and the degradation is
/// recorded as a gap (so `collect` exits 1).
#[tokio::test]
async fn the_fault_matrix_loses_no_ticket_and_records_every_degradation() {
    let keys = searched_keys();
    assert!(keys.len() >= 4, "{keys:?}");
    let mut run = 0;
    let mut failures = Vec::new();
    let faults: Vec<(&str, &str, ResponseTemplate)> = vec![
        (
            "remotelink",
            "403",
            ResponseTemplate::new(403).set_body_string("{}"),
        ),
        (
            "remotelink",
            "404",
            ResponseTemplate::new(404).set_body_string("{}"),
        ),
        (
            "remotelink",
            "500",
            ResponseTemplate::new(500).set_body_string("{}"),
        ),
        (
            "remotelink",
            "cut-off body",
            ResponseTemplate::new(200).set_body_raw("[{\"id\": 1, \"obj", "application/json"),
        ),
        (
            "changelog",
            "403",
            ResponseTemplate::new(403).set_body_string("{}"),
        ),
        (
            "changelog",
            "404",
            ResponseTemplate::new(404).set_body_string("{}"),
        ),
        (
            "changelog",
            "500",
            ResponseTemplate::new(500).set_body_string("{}"),
        ),
        (
            "changelog",
            "cut-off body",
            ResponseTemplate::new(200).set_body_raw("{\"values\": [{\"id\"", "application/json"),
        ),
    ];
    for (endpoint, name, answer) in faults {
        run += 1;
        let server = MockServer::start().await;
        mount_site(&server).await;
        Mock::given(method("GET"))
            .and(path_regex(format!(
                r"^/rest/api/3/issue/AIOPS-42/{endpoint}$"
            )))
            .respond_with(answer)
            .with_priority(1)
            .mount(&server)
            .await;
        let (sink, r) = collect(&connector(&server, ""), &mut Cursor::default()).await;
        if let Err(e) = check_case(&keys, &sink, r) {
            failures.push(format!("{endpoint} answering {name}: {e}"));
        }
    }
    // The primary: one search result whose `updated` is a number and `summary` an object.
    run += 1;
    let server = MockServer::start().await;
    mount_site(&server).await;
    let mut page = fixture_json("search-corrective-actions.json");
    page["issues"][0]["fields"]["updated"] = json!(1);
    page["issues"][0]["fields"]["summary"] = json!({"unexpected": true});
    Mock::given(method("POST"))
        .and(path(SEARCH))
        .and(body_string_contains("corrective-action"))
        .respond_with(ok_json(&page))
        .with_priority(1)
        .mount(&server)
        .await;
    let (sink, r) = collect(&connector(&server, ""), &mut Cursor::default()).await;
    if let Err(e) = check_case(&keys, &sink, r) {
        failures.push(format!(
            "a search result with fields of the wrong type: {e}"
        ));
    }
    println!(
        "jira fault matrix: {} of {run} cases passed",
        run - failures.len()
    );
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Each key sealed or named by a gap, and at least one gap.
fn check_case(
    keys: &[String],
    sink: &MemorySink,
    result: Result<(), ConnectorError>,
) -> Result<(), String> {
    result.map_err(|e| format!("the run failed: {e}"))?;
    let lost: Vec<&String> = keys
        .iter()
        .filter(|k| {
            !sink.drafts().any(|d| &d.natural_key == *k)
                && !sink
                    .gaps
                    .iter()
                    .any(|g| g.scope.contains(k.as_str()) || g.message.contains(k.as_str()))
        })
        .collect();
    if !lost.is_empty() {
        return Err(format!("lost without a gap: {lost:?}"));
    }
    if sink.gaps.is_empty() {
        return Err("degraded, yet no gap recorded (collect would exit 0)".into());
    }
    Ok(())
}
