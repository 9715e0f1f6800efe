//! The events source over Langfuse's public API, against a fake Langfuse shaped by its published
//! API description (fixtures in `fixtures/langfuse`, see SOURCE.md): observations paged by
//! `meta.cursor`, trace names, incremental runs (none twice, none lost), a crash between fetch
//! and seal, 429 with `Retry-After`, a 401 that never shows the secret, a malformed page,
//! prompts and responses kept out, silent windows, typed config errors.

// Helpers outside `#[test]` functions are test code too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};

use base64::Engine;
use evidence_connectors::connector::NoProgress;
use evidence_connectors::events::{EventsConfig, EventsConnector};
use evidence_connectors::testing::{MemorySink, test_pseudonymiser};
use evidence_connectors::{
    CollectContext, Connector, ConnectorError, Cursor, Secret, SourceConfig,
};
use evidence_model::Timestamp;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const NOW: &str = "2026-12-03T06:00:00Z";
const PUBLIC_KEY: &str = "pk-lf-test-0001";
const SECRET_KEY: &str = "sk-lf-very-secret-4711";
const OBSERVATIONS: &str = "/api/public/v2/observations";
const TRACES: &str = "/api/public/traces";

fn fixture(name: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/langfuse")
        .join(name);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// What the fake Langfuse holds and how it misbehaves.
#[derive(Default)]
struct State {
    observations: Vec<Value>,
    traces: Vec<Value>,
    /// Answer pages after the first with a body that is not the documented shape.
    malformed_after_first_page: bool,
    /// Every observations request's query, in order.
    queries: Vec<Vec<(String, String)>>,
}

/// The v2 field groups and the fields each brings (`core` always).
const GROUPS: [(&str, &[&str]); 6] = [
    (
        "core",
        &[
            "id",
            "traceId",
            "startTime",
            "endTime",
            "projectId",
            "parentObservationId",
            "type",
        ],
    ),
    (
        "basic",
        &[
            "name",
            "level",
            "statusMessage",
            "version",
            "environment",
            "bookmarked",
            "public",
            "userId",
            "sessionId",
        ],
    ),
    (
        "model",
        &["providedModelName", "internalModelId", "modelParameters"],
    ),
    ("usage", &["usageDetails", "costDetails", "totalCost"]),
    ("prompt", &["promptId", "promptName", "promptVersion"]),
    ("io", &["input", "output"]),
];

#[derive(Clone)]
struct FakeLangfuse(Arc<Mutex<State>>);

impl FakeLangfuse {
    fn authorised(request: &Request) -> bool {
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{PUBLIC_KEY}:{SECRET_KEY}"))
        );
        request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            == Some(expected.as_str())
    }

    fn observations(&self, request: &Request) -> ResponseTemplate {
        let query: Vec<(String, String)> = request
            .url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let get = |k: &str| query.iter().find(|(q, _)| q == k).map(|(_, v)| v.clone());
        let mut state = self.0.lock().unwrap();
        state.queries.push(query.clone());
        if state.malformed_after_first_page && get("cursor").is_some() {
            return ResponseTemplate::new(200).set_body_json(json!({"meta": {}}));
        }
        let time = |s: Option<String>| s.map(|s| s.parse::<Timestamp>().unwrap());
        let (from, to) = (time(get("fromStartTime")), time(get("toStartTime")));
        let kind = get("type");
        let mut matching: Vec<&Value> = state
            .observations
            .iter()
            .filter(|o| {
                let t: Timestamp = o["startTime"].as_str().unwrap().parse().unwrap();
                kind.as_deref().is_none_or(|k| o["type"] == k)
                    && from.is_none_or(|f| t >= f)
                    && to.is_none_or(|u| t < u)
            })
            .collect();
        matching.sort_by_key(|o| (o["startTime"].as_str().unwrap(), o["id"].as_str().unwrap()));
        let limit: usize = get("limit").map_or(50, |l| l.parse().unwrap());
        let offset: usize = get("cursor").map_or(0, |c| {
            let bytes = base64::engine::general_purpose::STANDARD.decode(c).unwrap();
            String::from_utf8(bytes).unwrap()["offset:".len()..]
                .parse()
                .unwrap()
        });
        let groups = get("fields").unwrap_or_else(|| "core,basic".into());
        let fields: BTreeSet<&str> = GROUPS
            .iter()
            .filter(|(g, _)| *g == "core" || groups.split(',').any(|x| x == *g))
            .flat_map(|(_, f)| f.iter().copied())
            .collect();
        let data: Vec<Value> = matching
            .iter()
            .skip(offset)
            .take(limit)
            .map(|o| {
                let object = o.as_object().unwrap();
                Value::Object(
                    object
                        .iter()
                        .filter(|(k, _)| fields.contains(k.as_str()))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                )
            })
            .collect();
        let mut meta = json!({});
        if offset + limit < matching.len() {
            meta["cursor"] = json!(
                base64::engine::general_purpose::STANDARD
                    .encode(format!("offset:{}", offset + limit))
            );
        }
        ResponseTemplate::new(200).set_body_json(json!({"data": data, "meta": meta}))
    }

    fn traces(&self, request: &Request) -> ResponseTemplate {
        let get = |k: &str| {
            request
                .url
                .query_pairs()
                .find(|(q, _)| q == k)
                .map(|(_, v)| v.into_owned())
        };
        let page: usize = get("page").map_or(1, |p| p.parse().unwrap());
        let limit: usize = get("limit").map_or(50, |l| l.parse().unwrap());
        let state = self.0.lock().unwrap();
        let total = state.traces.len();
        let data: Vec<&Value> = state
            .traces
            .iter()
            .skip((page - 1) * limit)
            .take(limit)
            .collect();
        ResponseTemplate::new(200).set_body_json(json!({
            "data": data,
            "meta": {"page": page, "limit": limit, "totalItems": total, "totalPages": total.div_ceil(limit).max(1)},
        }))
    }
}

impl Respond for FakeLangfuse {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if !Self::authorised(request) {
            return ResponseTemplate::new(401)
                .set_body_json(json!({"message": "Invalid credentials. Confirm that you've configured the correct host."}));
        }
        match request.url.path() {
            OBSERVATIONS => self.observations(request),
            TRACES => self.traces(request),
            _ => ResponseTemplate::new(404),
        }
    }
}

struct Fake {
    server: MockServer,
    state: Arc<Mutex<State>>,
}

impl Fake {
    async fn start() -> Self {
        let state = Arc::new(Mutex::new(State {
            observations: fixture("observations.json"),
            traces: fixture("traces.json"),
            ..State::default()
        }));
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(FakeLangfuse(Arc::clone(&state)))
            .with_priority(10)
            .mount(&server)
            .await;
        Self { server, state }
    }

    fn connector(&self, extra: &str) -> EventsConnector {
        self.connector_with_secret(extra, SECRET_KEY)
    }

    fn connector_with_secret(&self, extra: &str, secret: &str) -> EventsConnector {
        let text = format!(
            "langfuse_url = {:?}\npage_size = 2\npublic_key_env = \"EVIDENCE_TEST_UNSET_LANGFUSE_PK\"\nsecret_key_env = \"EVIDENCE_TEST_UNSET_LANGFUSE_SK\"\n{extra}",
            self.server.uri()
        );
        let config: EventsConfig = toml::from_str(&text).unwrap();
        EventsConnector::new("ai-events".parse().unwrap(), &config, Path::new("."))
            .unwrap()
            .with_langfuse_keys(PUBLIC_KEY, Secret::new(secret))
    }

    fn add(&self, id: &str, trace: &str, start: &str) {
        self.state.lock().unwrap().observations.push(json!({
            "id": id, "traceId": trace, "type": "GENERATION", "name": "chat-completion",
            "startTime": start, "endTime": start, "level": "DEFAULT", "userId": "dave@example.com",
            "providedModelName": "gpt-4o-2024-08-06", "usageDetails": {"input": 1, "output": 1},
            "input": "secret-prompt-text", "output": "secret-response-text",
        }));
    }
}

async fn collect_at(
    c: &dyn Connector,
    cursor: &mut Cursor,
    now: &str,
) -> (MemorySink, Result<(), ConnectorError>) {
    let mut sink = MemorySink::new("ai-events", now.parse().unwrap());
    let progress = NoProgress;
    let ctx = CollectContext {
        shutdown: tokio_util::sync::CancellationToken::new(),
        progress: &progress,
        agent: "evidence-agent test".into(),
    };
    let result = c.collect(cursor, &mut sink, &ctx).await;
    (sink, result)
}

async fn collect(c: &dyn Connector, cursor: &mut Cursor, now: &str) -> MemorySink {
    let (sink, result) = collect_at(c, cursor, now).await;
    result.unwrap();
    sink
}

/// Every event of every artefact, as JSON.
fn events(sink: &MemorySink) -> Vec<Value> {
    sink.items
        .iter()
        .flat_map(|(_, _, bytes)| {
            String::from_utf8(bytes.clone())
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<Value>>()
        })
        .collect()
}

fn ids(sink: &MemorySink) -> Vec<String> {
    let mut ids: Vec<String> = events(sink)
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

/// Everything a run handed over, as text: artefacts, metadata, gaps, population.
fn everything(sink: &MemorySink) -> String {
    let mut text = String::new();
    for (_, draft, bytes) in &sink.items {
        text.push_str(&String::from_utf8_lossy(bytes));
        text.push_str(&format!("{draft:?}"));
    }
    text.push_str(&format!("{:?}{:?}", sink.gaps, sink.populations));
    text
}

fn gaps_text(sink: &MemorySink) -> String {
    sink.gaps
        .iter()
        .map(|g| format!("{} | {}", g.scope, g.message))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn observations_paged_by_cursor_become_one_item_per_trace_name_and_day() {
    let fake = Fake::start().await;
    let c = fake.connector("");
    let mut cursor = Cursor::default();
    let sink = collect(&c, &mut cursor, NOW).await;

    // Generations and embeddings only: the span and the event are not model calls.
    assert_eq!(
        ids(&sink),
        ["obs-0001", "obs-0003", "obs-0004", "obs-0005", "obs-0007"]
    );
    assert!(sink.gaps.is_empty(), "{}", gaps_text(&sink));
    let keys: Vec<&str> = sink.drafts().map(|d| d.natural_key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "claims-assistant/2026-11-30T00:00:00Z",
            "claims-assistant/2026-12-02T00:00:00Z",
            "claims-summariser/2026-12-01T00:00:00Z",
        ]
    );
    let day1 = sink.drafts().next().unwrap();
    assert_eq!(day1.kind.as_str(), "event_log");
    assert_eq!(day1.file_name, "claims-assistant-2026-11-30.jsonl");
    let a = &day1.attributes;
    assert_eq!(a["events"], 2);
    assert_eq!(a["errors"], 1);
    assert_eq!(a["first_event"], "2026-11-30T09:00:00Z");
    assert_eq!(a["last_event"], "2026-11-30T14:30:00Z");
    assert_eq!(a["models"]["gpt-4o-2024-08-06"], 2);
    assert_eq!(a["operations"]["chat-completion"], 2);
    assert_eq!(a["input_tokens"], 200);
    assert_eq!(a["output_tokens"], 40);
    let p = test_pseudonymiser();
    assert_eq!(
        a["users"],
        json!(
            [
                p.pseudonym("alice@example.com"),
                p.pseudonym("bob@example.com")
            ]
            .iter()
            .collect::<BTreeSet<_>>()
        )
    );
    let all = everything(&sink);
    assert!(
        !all.contains("alice@example.com"),
        "users are pseudonymised"
    );

    // Several pages per type, each asking for the documented field groups without `io`.
    let queries = fake.state.lock().unwrap().queries.clone();
    let generation_pages = queries
        .iter()
        .filter(|q| q.contains(&("type".into(), "GENERATION".into())))
        .count();
    assert_eq!(generation_pages, 2, "4 generations, 2 per page");
    assert!(
        queries
            .iter()
            .all(|q| q.contains(&("fields".into(), "core,basic,model,usage,prompt".into())))
    );
    assert!(
        queries
            .iter()
            .all(|q| q.contains(&("toStartTime".into(), "2026-12-03T05:30:00Z".into())))
    );
    let pop = &sink.populations[0];
    assert!(pop.complete);
    assert_eq!(pop.attributes["events"], 5);
    assert_eq!(pop.pages_walked, 3);
}

#[tokio::test]
async fn a_second_run_gets_only_what_started_since_none_twice_none_lost() {
    let fake = Fake::start().await;
    // Started 10 minutes before the first run: within the lag, left for the next run.
    fake.add("obs-late", "trace-d", "2026-12-03T05:50:00Z");
    let c = fake.connector("");
    let mut cursor = Cursor::default();
    let first = collect(&c, &mut cursor, NOW).await;
    assert_eq!(ids(&first).len(), 5);
    assert!(!ids(&first).contains(&"obs-late".to_owned()));

    fake.add("obs-new", "trace-d", "2026-12-03T07:00:00Z");
    let second = collect(&c, &mut cursor, "2026-12-03T09:00:00Z").await;
    assert_eq!(ids(&second), ["obs-late", "obs-new"]);
    let last = fake.state.lock().unwrap().queries.last().cloned().unwrap();
    assert!(
        last.contains(&("fromStartTime".into(), "2026-12-03T05:30:00Z".into())),
        "{last:?}"
    );
    let d = sink_draft(&second, "claims-assistant/2026-12-03T00:00:00Z");
    assert_eq!(d.attributes["events"], 2);

    let third = collect(&c, &mut cursor, "2026-12-03T09:05:00Z").await;
    assert!(third.items.is_empty(), "nothing new, nothing twice");
}

fn sink_draft<'a>(sink: &'a MemorySink, key: &str) -> &'a evidence_connectors::ItemDraft {
    sink.drafts()
        .find(|d| d.natural_key == key)
        .unwrap_or_else(|| panic!("no item {key}"))
}

#[tokio::test]
async fn a_crash_between_fetch_and_seal_repeats_the_pass_once() {
    let fake = Fake::start().await;
    let c = fake.connector("");
    let saved = Cursor::default();
    // The run fetched and staged, then the agent died before sealing: its cursor is lost.
    let mut unsaved = saved.clone();
    let crashed = collect(&c, &mut unsaved, NOW).await;
    assert_eq!(ids(&crashed).len(), 5);
    assert_ne!(unsaved, saved);

    let mut cursor = saved;
    let again = collect(&c, &mut cursor, NOW).await;
    assert_eq!(ids(&again), ids(&crashed), "everything, once");
    let after = collect(&c, &mut cursor, "2026-12-03T07:00:00Z").await;
    assert!(after.items.is_empty());
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out() {
    let fake = Fake::start().await;
    Mock::given(method("GET"))
        .and(path(OBSERVATIONS))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&fake.server)
        .await;
    let c = fake.connector("system = \"claims\"");
    let mut cursor = Cursor::default();
    let started = std::time::Instant::now();
    let sink = collect(&c, &mut cursor, NOW).await;
    assert!(started.elapsed() >= std::time::Duration::from_millis(900));
    assert_eq!(ids(&sink).len(), 5);
    assert!(sink.gaps.is_empty(), "{}", gaps_text(&sink));
    // A configured system takes every observation; no trace is looked up.
    assert!(sink.drafts().all(|d| d.natural_key.starts_with("claims/")));
    let requests = fake.server.received_requests().await.unwrap();
    assert!(requests.iter().all(|r| r.url.path() != TRACES));
}

#[tokio::test]
async fn a_401_names_the_source_and_url_and_never_the_secret() {
    let fake = Fake::start().await;
    let wrong = "sk-lf-wrong-secret-0815";
    let c = fake.connector_with_secret("", wrong);
    let mut cursor = Cursor::default();
    let (sink, result) = collect_at(&c, &mut cursor, NOW).await;
    let err = result.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ConnectorError::Denied { .. }), "{text}");
    assert!(
        text.contains("ai-events") && text.contains(&fake.server.uri()),
        "{text}"
    );
    assert!(
        text.contains("HTTP 401") && text.contains("EVIDENCE_TEST_UNSET_LANGFUSE_SK"),
        "{text}"
    );
    let all = format!("{text}{err:?}{}", everything(&sink));
    for secret in [wrong, SECRET_KEY] {
        assert!(!all.contains(secret), "{all}");
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{PUBLIC_KEY}:{wrong}"));
    assert!(!all.contains(&encoded));
    assert!(sink.items.is_empty());
    assert_eq!(cursor, Cursor::default());
}

#[tokio::test]
async fn keys_missing_from_the_environment_are_named_not_guessed() {
    let fake = Fake::start().await;
    let text = format!(
        "langfuse_url = {:?}\npublic_key_env = \"EVIDENCE_TEST_UNSET_LANGFUSE_PK\"\nsecret_key_env = \"EVIDENCE_TEST_UNSET_LANGFUSE_SK\"",
        fake.server.uri()
    );
    let config: EventsConfig = toml::from_str(&text).unwrap();
    let c = EventsConnector::new("ai-events".parse().unwrap(), &config, Path::new(".")).unwrap();
    let (_, result) = collect_at(&c, &mut Cursor::default(), NOW).await;
    let text = result.unwrap_err().to_string();
    assert!(
        text.contains("EVIDENCE_TEST_UNSET_LANGFUSE_PK")
            && text.contains("EVIDENCE_TEST_UNSET_LANGFUSE_SK"),
        "{text}"
    );
}

#[tokio::test]
async fn a_malformed_page_fails_the_pass_naming_the_url_and_page_and_stages_nothing() {
    let fake = Fake::start().await;
    fake.state.lock().unwrap().malformed_after_first_page = true;
    let c = fake.connector("");
    let mut cursor = Cursor::default();
    let (sink, result) = collect_at(&c, &mut cursor, NOW).await;
    let text = result.unwrap_err().to_string();
    assert!(
        text.contains(&format!("{}{OBSERVATIONS}", fake.server.uri()))
            && text.contains("GENERATION page 2")
            && text.contains("no data"),
        "{text}"
    );
    assert!(sink.items.is_empty(), "nothing of the pass is sealed");
    assert!(!sink.populations[0].complete);
    assert_eq!(cursor, Cursor::default(), "the cursor did not move");

    fake.state.lock().unwrap().malformed_after_first_page = false;
    let sink = collect(&c, &mut cursor, NOW).await;
    assert_eq!(ids(&sink).len(), 5, "the next run reads it all, once");
}

#[tokio::test]
async fn prompts_and_responses_are_neither_asked_for_nor_sealed_unless_kept() {
    let fake = Fake::start().await;
    let c = fake.connector("");
    let sink = collect(&c, &mut Cursor::default(), NOW).await;
    let all = everything(&sink);
    assert!(!all.contains("secret-prompt-text") && !all.contains("secret-response-text"));
    assert!(
        events(&sink)
            .iter()
            .all(|e| e.get("input").is_none() && e.get("output").is_none())
    );

    let kept = fake.connector("include_content = true");
    let sink = collect(&kept, &mut Cursor::default(), NOW).await;
    assert!(everything(&sink).contains("secret-prompt-text"));
    assert!(
        sink.drafts()
            .all(|d| d.attributes["content_included"] == true)
    );
    let last = fake.state.lock().unwrap().queries.last().cloned().unwrap();
    assert!(last.contains(&("fields".into(), "core,basic,model,usage,prompt,io".into())));
}

#[tokio::test]
async fn a_declared_system_silent_for_a_day_is_a_gap() {
    let fake = Fake::start().await;
    let c = fake.connector("systems_in_use = [\"claims-summariser\"]");
    let mut cursor = Cursor::default();
    let sink = collect(&c, &mut cursor, NOW).await;
    let text = gaps_text(&sink);
    // It logged on 1 December only; 2 December is silent; 3 December has not been collected.
    assert!(
        text.contains("claims-summariser/2026-12-02T00:00:00Z")
            && text.contains("logged no event from 2026-12-02T00:00:00Z"),
        "{text}"
    );
    assert_eq!(sink.gaps.len(), 1, "{text}");
}

#[tokio::test]
async fn a_failing_trace_lookup_files_the_observations_under_the_default_system_with_a_gap() {
    let fake = Fake::start().await;
    Mock::given(method("GET"))
        .and(path(TRACES))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>maintenance</html>"))
        .with_priority(1)
        .mount(&fake.server)
        .await;
    let c = fake.connector("");
    let sink = collect(&c, &mut Cursor::default(), NOW).await;
    assert_eq!(ids(&sink).len(), 5, "degraded, never dropped");
    assert!(
        sink.drafts()
            .all(|d| d.natural_key.starts_with("ai-events/"))
    );
    let text = gaps_text(&sink);
    assert!(
        text.contains("trace names could not be read") && text.contains(TRACES),
        "{text}"
    );
}

#[test]
fn langfuse_config_errors_are_typed_and_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for (location, key) in [
        (
            "path = \"logs\"\nlangfuse_url = \"https://cloud.langfuse.com\"",
            "langfuse_url",
        ),
        (
            "bucket = \"b\"\nlangfuse_url = \"https://cloud.langfuse.com\"",
            "langfuse_url",
        ),
        ("", "path"),
        ("langfuse_url = \"cloud.langfuse.com\"", "langfuse_url"),
        (
            "langfuse_url = \"ftp://cloud.langfuse.com\"",
            "langfuse_url",
        ),
        (
            "langfuse_url = \"https://pk:sk-lf-in-url@cloud.langfuse.com\"",
            "langfuse_url",
        ),
        (
            "langfuse_url = \"https://cloud.langfuse.com\"\nfiles = \"*.jsonl\"",
            "files",
        ),
        (
            "langfuse_url = \"https://cloud.langfuse.com\"\nprefix = \"p/\"",
            "prefix",
        ),
        (
            "langfuse_url = \"https://cloud.langfuse.com\"\npage_size = 0",
            "page_size",
        ),
        (
            "langfuse_url = \"https://cloud.langfuse.com\"\nlag_minutes = 2000",
            "lag_minutes",
        ),
        (
            "langfuse_url = \"https://cloud.langfuse.com\"\nobservation_types = []",
            "observation_types",
        ),
        ("path = \"logs\"\nsecret_key_env = \"X\"", "secret_key_env"),
    ] {
        let text = format!("name = \"ai-events\"\ntype = \"events\"\n{location}");
        let config: SourceConfig = toml::from_str(&text).unwrap();
        let Err(e) = config.build(dir.path()) else {
            panic!("{location} was accepted");
        };
        assert_eq!(e.key.as_deref(), Some(key), "{location}: {e}");
        assert!(!e.to_string().contains("sk-lf-in-url"), "{e}");
    }
    let good =
        "name = \"ai-events\"\ntype = \"events\"\nlangfuse_url = \"https://cloud.langfuse.com/\"";
    let config: SourceConfig = toml::from_str(good).unwrap();
    assert!(config.build(dir.path()).is_ok());
}
