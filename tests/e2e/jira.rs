//! The Jira connector end to end: `evidence-agent collect` against a mock Jira Cloud (the
//! connector tests' fixtures, served only to the right credentials), then
//! `evidence-auditor verify` on the archive; incident tickets arrive as items with their
//! people, a second run seals nothing twice, and refused credentials become a sealed gap.

use std::process::Output;

use evidence_tests::tamper::unpack;
use evidence_tests::{Sandbox, cmd, json, repo_root, run, text};
use serde_json::{Value, json};
use wiremock::matchers::{
    any, basic_auth, body_string_contains, method, path, path_regex, query_param,
};
use wiremock::{Mock, MockServer, ResponseTemplate};

const EPOCH: u64 = 1_770_000_000; // 2026-02-02T02:40:00Z
const EMAIL: &str = "evidence-bot@example.org";
const TOKEN: &str = "ATATT3xFfGF0-e2e-token-never-printed";
const SEARCH: &str = "/rest/api/3/search/jql";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        repo_root()
            .join("connectors/tests/fixtures/jira")
            .join(name),
    )
    .unwrap()
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).unwrap()
}

fn ok(body: Vec<u8>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body, "application/json")
}

/// Serve the account, the search pages (each to searches whose body contains its needle; the
/// first match wins), changelogs and remote links, only to the right credentials. Anything
/// else is refused with 401, as Jira refuses a wrong token.
async fn mount(server: &MockServer, search_pages: &[(&str, Value)]) {
    let auth = || basic_auth(EMAIL, TOKEN);
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(401).set_body_raw(fixture("unauthorized.txt"), "text/plain"),
        )
        .with_priority(u8::MAX)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/rest/api/3/myself"))
        .and(auth())
        .respond_with(ok(fixture("myself.json")))
        .mount(server)
        .await;
    for (i, (needle, page)) in search_pages.iter().enumerate() {
        Mock::given(method("POST"))
            .and(path(SEARCH))
            .and(auth())
            .and(body_string_contains(*needle))
            .respond_with(ok(serde_json::to_vec(page).unwrap()))
            .with_priority(u8::try_from(i + 1).unwrap())
            .mount(server)
            .await;
    }
    let changelog = "/rest/api/3/issue/AIOPS-42/changelog";
    Mock::given(method("GET"))
        .and(path(changelog))
        .and(query_param("startAt", "0"))
        .and(auth())
        .respond_with(ok(fixture("changelog-AIOPS-42-page-1.json")))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(changelog))
        .and(query_param("startAt", "2"))
        .and(auth())
        .respond_with(ok(fixture("changelog-AIOPS-42-page-2.json")))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/rest/api/3/issue/AIOPS-40/changelog"))
        .and(auth())
        .respond_with(ok(fixture("changelog-AIOPS-40.json")))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/rest/api/3/issue/AIOPS-(41|60)/changelog$"))
        .and(auth())
        .respond_with(ok(fixture("changelog-empty.json")))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/rest/api/3/issue/AIOPS-42/remotelink"))
        .and(auth())
        .respond_with(ok(fixture("remotelink-AIOPS-42.json")))
        .with_priority(1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/rest/api/3/issue/AIOPS-[0-9]+/remotelink$"))
        .and(auth())
        .respond_with(ok(b"[]".to_vec()))
        .with_priority(2)
        .mount(server)
        .await;
}

/// Every ticket, as a first run finds them: two incident pages and one corrective action.
fn first_run_pages() -> Vec<(&'static str, Value)> {
    vec![
        ("CAEaAggD", fixture_json("search-incidents-page-2.json")),
        (
            "type = Incident",
            fixture_json("search-incidents-page-1.json"),
        ),
        (
            "corrective-action",
            fixture_json("search-corrective-actions.json"),
        ),
    ]
}

fn sandbox(server: &MockServer) -> Sandbox {
    let s = Sandbox::empty();
    s.write(
        "agent.toml",
        format!(
            r#"
[archive]
path = "evidence"
origin = "example.org/ai"

[[source]]
type = "jira"
name = "jira"
site = "{}"
email_env = "EVIDENCE_E2E_JIRA_EMAIL"
api_token_env = "EVIDENCE_E2E_JIRA_TOKEN"
jql_timezone = "Europe/Berlin"
page_size = 2
changelog_page_size = 2

[[source.query]]
name = "incidents"
jql = "project = AIOPS AND type = Incident"
kind = "incident_ticket"

[[source.query]]
name = "corrective-actions"
jql = "project = AIOPS AND labels = corrective-action"
kind = "corrective_action_ticket"
"#,
            server.uri()
        ),
    );
    s
}

/// `evidence-agent collect --json` with the credentials in the environment.
fn collect(s: &Sandbox, token: &str, epoch: u64) -> Output {
    run(cmd("evidence-agent")
        .args(["collect", "--json", "--config"])
        .arg(s.config())
        .env("EVIDENCE_E2E_JIRA_EMAIL", EMAIL)
        .env("EVIDENCE_E2E_JIRA_TOKEN", token)
        .env("SOURCE_DATE_EPOCH", epoch.to_string()))
}

fn verified(s: &Sandbox) -> Value {
    let o = s.verify();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let report = json(&o);
    assert_eq!(report["valid"], true, "{report:#}");
    report
}

/// The JSON payload files of bundle `seq` whose path (inside the bag) starts with `prefix`.
fn payload(s: &Sandbox, seq: u64, prefix: &str) -> Vec<(String, Value)> {
    let entries = unpack(&s.archive().join(format!("run-{seq:06}.zip")));
    let top = format!("run-{seq:06}/");
    entries
        .into_iter()
        .filter_map(|(name, bytes)| {
            let rel = name.strip_prefix(&top)?.to_owned();
            (rel.starts_with(prefix) && rel.ends_with(".json"))
                .then(|| (rel, serde_json::from_slice(&bytes).unwrap()))
        })
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn jira_tickets_are_collected_sealed_and_verified_and_a_second_run_seals_nothing_twice() {
    let rt = runtime();
    let server = rt.block_on(MockServer::start());
    rt.block_on(mount(&server, &first_run_pages()));
    let s = sandbox(&server);

    let o = collect(&s, TOKEN, EPOCH);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!text(&o).contains(TOKEN));
    let summary = json(&o);
    assert_eq!(summary["sources"][0]["connector"], "jira");
    assert_eq!(summary["sources"][0]["status"], "ok", "{summary:#}");
    assert_eq!(summary["items"], 4, "{summary:#}");
    let report = verified(&s);
    assert_eq!(report["bundles"][0]["summary"]["items"], 4, "{report:#}");

    let items = payload(&s, 1, "data/items/");
    let incident = items
        .iter()
        .map(|(_, v)| v)
        .find(|m| m["source"]["reference"] == "AIOPS-42")
        .unwrap_or_else(|| panic!("no AIOPS-42 in {items:#?}"));
    assert_eq!(incident["kind"], "incident_ticket");
    assert_eq!(incident["source"]["connector"], "jira");
    assert_eq!(incident["controls"], json!(["A.8.4", "A.6.2.6"]));
    let actors: Vec<(&str, &str)> = incident["actors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["role"].as_str().unwrap(), a["name"].as_str().unwrap()))
        .collect();
    assert!(actors.contains(&("reporter", "Ana Reporter")), "{actors:?}");
    assert!(actors.contains(&("resolver", "Fay Lead")), "{actors:?}");
    assert_eq!(incident["times"]["period"]["end"], "2026-01-16T10:00:00Z");
    assert_eq!(incident["times"]["source"], "2026-01-16T10:05:30Z");
    assert_eq!(incident["artefact"]["media_type"], "application/json");
    let populations = payload(&s, 1, "data/populations/jira/");
    assert_eq!(populations.len(), 2, "{populations:#?}");
    assert_eq!(populations[0].1["scope"], "incidents");
    assert_eq!(populations[0].1["pages_walked"], 2);
    assert_eq!(populations[0].1["watermark_after"], "2026-01-16T10:05:30Z");

    // Jira now returns only what changed since the watermark less the overlap: AIOPS-42
    // (already sealed) and the corrective action. Nothing new is sealed; the chain verifies.
    let since = json!({
        "issues": [fixture_json("search-incidents-page-1.json")["issues"][0]],
        "isLast": true
    });
    rt.block_on(server.reset());
    rt.block_on(mount(
        &server,
        &[
            ("type = Incident", since),
            (
                "corrective-action",
                fixture_json("search-corrective-actions.json"),
            ),
        ],
    ));
    let o = collect(&s, TOKEN, EPOCH + 3600);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(json(&o)["items"], 0, "{}", text(&o));
    let requests = rt.block_on(server.received_requests()).unwrap_or_default();
    let jql: Vec<String> = requests
        .iter()
        .filter(|r| r.url.path() == SEARCH)
        .map(|r| {
            r.body_json::<Value>().unwrap()["jql"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    // 10:05:30 UTC less the default 15-minute overlap, in Berlin (UTC+1 in January).
    assert!(
        jql[0].contains("updated >= \"2026-01-16 10:50\""),
        "{jql:?}"
    );
    let report = verified(&s);
    assert_eq!(report["bundles"].as_array().map(Vec::len), Some(2));
    let populations = payload(&s, 2, "data/populations/jira/");
    assert_eq!(populations[0].1["items_unchanged"], 1);
    assert_eq!(populations[0].1["items_sealed"], 0);
}

#[test]
fn a_refused_token_is_sealed_as_a_gap_that_never_shows_the_token() {
    let rt = runtime();
    let server = rt.block_on(MockServer::start());
    rt.block_on(mount(&server, &first_run_pages()));
    let s = sandbox(&server);
    let wrong = "ATATT3xFfGF0-wrong-token-also-never-printed";

    let o = collect(&s, wrong, EPOCH);
    // Exit 1: the run sealed, but a source recorded gaps.
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(!text(&o).contains(wrong));
    assert_eq!(json(&o)["items"], 0);
    verified(&s);
    let gaps = payload(&s, 1, "data/gaps/jira/");
    assert_eq!(gaps.len(), 2, "{gaps:#?}");
    for (_, gap) in &gaps {
        assert_eq!(gap["category"], "denied");
        let message = gap["message"].as_str().unwrap();
        assert!(message.contains("HTTP 401"), "{message}");
        assert!(message.contains("EVIDENCE_E2E_JIRA_TOKEN"), "{message}");
        assert!(!gap.to_string().contains(wrong));
    }
}

#[test]
fn remote_links_that_answer_404_and_a_field_of_the_wrong_type_lose_no_ticket_and_collect_exits_1() {
    let rt = runtime();
    let server = rt.block_on(MockServer::start());
    // Atlassian's own example has `"updated": 1`: AIOPS-41 comes with it here.
    let mut pages = first_run_pages();
    for (_, page) in &mut pages {
        for issue in page["issues"].as_array_mut().unwrap() {
            if issue["key"] == "AIOPS-41" {
                issue["fields"]["updated"] = json!(1);
            }
        }
    }
    rt.block_on(async {
        Mock::given(method("GET"))
            .and(path_regex(r"^/rest/api/3/issue/AIOPS-[0-9]+/remotelink$"))
            .respond_with(ResponseTemplate::new(404).set_body_json(
                json!({"errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {}}),
            ))
            .with_priority(1)
            .mount(&server)
            .await;
        mount(&server, &pages).await;
    });
    let s = sandbox(&server);
    let o = collect(&s, TOKEN, EPOCH);
    assert_eq!(o.status.code(), Some(1), "degraded: {}", text(&o));
    let summary = json(&o);
    assert_eq!(summary["items"], 4, "no ticket is lost: {summary:#}");
    let report = verified(&s);
    assert_eq!(report["bundles"][0]["summary"]["items"], 4, "{report:#}");
    let gaps = payload(&s, 1, "data/gaps/");
    let scopes: Vec<&str> = gaps
        .iter()
        .map(|(_, g)| g["scope"].as_str().unwrap())
        .collect();
    assert!(scopes.contains(&"incidents (remotelink)"), "{scopes:?}");
    assert!(scopes.contains(&"incidents (fields)"), "{scopes:?}");
    let fields = gaps
        .iter()
        .find(|(_, g)| g["scope"] == "incidents (fields)")
        .unwrap();
    assert!(
        fields.1["message"].as_str().unwrap().contains("AIOPS-41"),
        "the gap names the ticket: {}",
        fields.1["message"]
    );
}
