//! The GitHub connector's GraphQL backfill against the fake GitHub, which answers REST and
//! GraphQL from one model: the same items as the REST path, fact for fact; paging through
//! `pageInfo`; follow-ups for long review and check lists; partial answers, `RATE_LIMITED`,
//! the node limit, 502s, secondary limits and a refused token; and the switch to REST with
//! ETags once a repository has its watermark.
#![allow(clippy::unwrap_used)] // Test helpers fail loudly.

mod github_support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use evidence_connectors::connector::{CollectContext, NoProgress};
use evidence_connectors::github::{GithubConfig, GithubConnector};
use evidence_connectors::testing::MemorySink;
use evidence_connectors::{Connector, ConnectorError, Cursor, ItemDraft, Secret};
use evidence_model::GapCategory;
use github_support::*;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "ghp_TESTTOKEN0123456789abcdefghijklmnopq";

/// A connector for `acme/model`'s pull requests through `api`.
fn connector(server_uri: &str, api: &str, per_page: u32) -> GithubConnector {
    let text = format!(
        "api_url = \"{server_uri}\"\nrepos = [\"acme/model\"]\nper_page = {per_page}\napi = \"{api}\"\n[protection]\nenabled = false\n[releases]\nenabled = false\n[retry]\nmax_attempts = 4\nbase_delay_ms = 5\nmax_delay_secs = 1\ntimeout_secs = 2\n"
    );
    let config: GithubConfig = toml::from_str(&text).unwrap();
    GithubConnector::new("gh".parse().unwrap(), &config)
        .unwrap()
        .with_token(Secret::new(TOKEN))
}

async fn collect(
    c: &GithubConnector,
    cursor: &mut Cursor,
) -> (MemorySink, Result<(), ConnectorError>) {
    let mut sink = MemorySink::new("gh", "2026-04-01T00:00:00Z".parse().unwrap());
    let ctx = CollectContext {
        shutdown: CancellationToken::new(),
        progress: &NoProgress,
        agent: "evidence-agent test".into(),
    };
    let r = c.collect(cursor, &mut sink, &ctx).await;
    (sink, r)
}

fn draft_for<'a>(sink: &'a MemorySink, reference: &str) -> &'a ItemDraft {
    sink.drafts()
        .find(|d| d.reference == reference)
        .unwrap_or_else(|| panic!("no item {reference}"))
}

/// Merged pull requests covering every fact: a clean approval, a stale one, a self-approval
/// with a failing check, an unknown review state, a deleted merger, 120 reviews and 70 checks
/// (more than one page of each), and one closed without merging.
fn model_repo() -> RepoSpec {
    let mut repo = RepoSpec::new("model");
    let clean = PullSpec::merged(1, "ana", "ben", "2026-03-01T10:00:00Z");
    let mut stale = PullSpec::merged(2, "ana", "ben", "2026-03-02T10:00:00Z");
    stale.reviews[0].commit_id = "0".repeat(40);
    let mut selfish = PullSpec::merged(3, "cy", "cy", "2026-03-03T10:00:00Z");
    selfish.checks = vec![("test".into(), "failure".into())];
    let mut odd = PullSpec::merged(4, "ana", "ben", "2026-03-04T10:00:00Z");
    odd.reviews.push(ReviewSpec {
        login: "di".into(),
        state: "SUPER_APPROVED".into(),
        commit_id: odd.head_sha.clone(),
    });
    odd.reviews.push(ReviewSpec {
        login: "ben".into(),
        state: "CHANGES_REQUESTED".into(),
        commit_id: odd.head_sha.clone(),
    });
    let mut unmerged_by = PullSpec::merged(5, "ben", "ana", "2026-03-05T10:00:00Z");
    unmerged_by.merged_by = None;
    let mut crowded = PullSpec::merged(7, "ana", "ben", "2026-03-07T10:00:00Z");
    crowded.reviews = (0..120)
        .map(|i| ReviewSpec {
            login: format!("reviewer-{i:03}"),
            state: if i % 3 == 0 { "APPROVED" } else { "COMMENTED" }.into(),
            commit_id: crowded.head_sha.clone(),
        })
        .collect();
    crowded.checks = (0..70)
        .map(|i| (format!("check-{i:02}"), "success".to_owned()))
        .collect();
    crowded.checks.push(("test".into(), "success".into()));
    let mut closed = PullSpec::merged(6, "eve", "ben", "2026-03-06T10:00:00Z");
    closed.merged_at = None;
    repo.pulls = vec![clean, stale, selfish, odd, unmerged_by, closed, crowded];
    repo
}

/// Item fields that legitimately differ between the two paths: how the artefact was read
/// (`endpoint` is the same API base; `query` names the REST requests or the GraphQL
/// operation) and the artefact's bytes (REST's answers joined, or the GraphQL node).
const PROVENANCE_ONLY: &[&str] = &["query"];

/// An item's facts: every draft field but those in [`PROVENANCE_ONLY`].
fn facts(d: &ItemDraft) -> Value {
    let mut v = json!({
        "natural_key": d.natural_key,
        "kind": d.kind.as_str(),
        "title": d.title,
        "reference": d.reference,
        "url": d.url,
        "controls": d.controls.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        "clauses": d.clauses.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        "phase": d.phase.as_str(),
        "actors": d.actors.iter().map(|a| json!([a.role, a.name, a.id])).collect::<Vec<_>>(),
        "period": d.period.as_ref().map(|p| json!([p.start.map(|t| t.to_string()), p.end.map(|t| t.to_string())])),
        "source_time": d.source_time.map(|t| t.to_string()),
        "file_name": d.file_name,
        "media_type": d.media_type,
        "endpoint": d.endpoint,
        "query": d.query,
        "attributes": d.attributes,
        "expected_size": d.expected_size,
        "redactions": d.redactions.len(),
    });
    for field in PROVENANCE_ONLY {
        v.as_object_mut().unwrap().remove(*field);
    }
    v
}

#[tokio::test]
async fn the_graphql_backfill_seals_the_same_items_as_rest_fact_for_fact() {
    let mut repo = model_repo();
    repo.protected = true;
    let fake = FakeGithub::new("acme", vec![repo]);
    let server = serve(&fake).await;
    let with_protection = |api: &str| {
        let text = format!(
            "api_url = \"{}\"\nrepos = [\"acme/model\"]\nper_page = 3\napi = \"{api}\"\n[releases]\nenabled = false\n",
            server.uri()
        );
        GithubConnector::new(
            "gh".parse().unwrap(),
            &toml::from_str::<GithubConfig>(&text).unwrap(),
        )
        .unwrap()
        .with_token(Secret::new(TOKEN))
    };
    let (rest, r) = collect(&with_protection("rest"), &mut Cursor::default()).await;
    r.unwrap();
    let rest_graphql = fake.counters.graphql_requests.load(Ordering::Relaxed);
    let (graphql, r) = collect(&with_protection("graphql"), &mut Cursor::default()).await;
    r.unwrap();
    assert_eq!(rest_graphql, 0, "the REST path asks no GraphQL");
    assert!(fake.counters.graphql_requests.load(Ordering::Relaxed) > 0);
    assert!(
        rest.gaps.is_empty() && graphql.gaps.is_empty(),
        "{:?} {:?}",
        rest.gaps,
        graphql.gaps
    );

    let pulls = |sink: &MemorySink| {
        let mut refs: Vec<String> = sink
            .drafts()
            .filter(|d| d.kind.as_str() == "pr_approval")
            .map(|d| d.reference.clone())
            .collect();
        refs.sort();
        refs
    };
    assert_eq!(pulls(&rest), pulls(&graphql));
    assert_eq!(pulls(&rest).len(), 6, "six merged pull requests");
    for reference in pulls(&rest) {
        let (a, b) = (
            draft_for(&rest, &reference),
            draft_for(&graphql, &reference),
        );
        assert_eq!(
            facts(a),
            facts(b),
            "{reference} differs between REST and GraphQL"
        );
        assert!(a.query.as_deref().unwrap().starts_with("GET "));
        assert!(b.query.as_deref().unwrap().starts_with("POST /graphql"));
    }
    // The facts are the interesting ones, not empty on both sides.
    let crowded = draft_for(&graphql, "acme/model#7");
    assert_eq!(
        crowded.attributes["approvers"].as_array().unwrap().len(),
        40
    );
    assert_eq!(
        crowded.attributes["reviewers"].as_array().unwrap().len(),
        120
    );
    assert_eq!(crowded.attributes["required_checks_passed"], true);
    assert_eq!(
        draft_for(&graphql, "acme/model#3").attributes["required_checks"][0]["result"],
        "failure"
    );
    assert_eq!(
        draft_for(&graphql, "acme/model#4").attributes["changes_requested"],
        json!(["ben"])
    );
    assert_eq!(
        draft_for(&graphql, "acme/model#5").attributes["merged_by"],
        Value::Null
    );
    // Both walks cover the same population and end at the same watermark.
    let population = |sink: &MemorySink| {
        sink.populations
            .iter()
            .find(|p| p.kind.as_ref().is_some_and(|k| k.as_str() == "pr_approval"))
            .cloned()
            .unwrap()
    };
    let (pr, pg) = (population(&rest), population(&graphql));
    assert!(pr.complete && pg.complete);
    assert_eq!(
        (pr.items_sealed, pr.watermark_after),
        (pg.items_sealed, pg.watermark_after)
    );
    assert_eq!(pg.attributes["api"], "graphql");
    // The GraphQL artefact is the node as GitHub sent it, with the follow-up answers.
    let (_, _, bytes) = graphql
        .items
        .iter()
        .find(|(_, d, _)| d.reference == "acme/model#7")
        .unwrap();
    let artefact: Value = serde_json::from_slice(bytes).unwrap();
    assert_eq!(artefact["pull_request"]["number"], 7);
    assert_eq!(artefact["more_reviews"].as_array().unwrap().len(), 1);
    assert_eq!(artefact["more_check_contexts"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn pages_are_walked_through_page_info_and_every_query_reports_its_cost() {
    let fake = FakeGithub::new("acme", vec![model_repo()]);
    let server = serve(&fake).await;
    let (sink, r) = collect(
        &connector(&server.uri(), "graphql", 2),
        &mut Cursor::default(),
    )
    .await;
    r.unwrap();
    assert!(sink.gaps.is_empty(), "{:?}", sink.gaps);
    assert_eq!(sink.drafts().count(), 6);
    let pop = &sink.populations[0];
    assert!(pop.complete);
    assert_eq!(
        pop.pages_walked, 3,
        "six merged pull requests at two a page"
    );
    assert_eq!(pop.watermark_after.as_deref(), Some("2026-03-07T10:00:00Z"));
    // Three pages and two follow-ups (#7's further reviews and contexts), each reporting its
    // cost; the connector's sum is the fake's.
    assert_eq!(pop.attributes["graphql_queries"], 5);
    assert_eq!(
        pop.attributes["graphql_cost"],
        fake.counters.graphql_cost.load(Ordering::Relaxed)
    );
    let requests = server.received_requests().await.unwrap();
    let paths: Vec<String> = requests
        .iter()
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect();
    // Besides GraphQL: the repository, and the base branch's protection for required checks.
    assert!(
        paths
            .iter()
            .all(|p| p == "POST /graphql" || !p.contains("/pulls")),
        "{paths:?}"
    );
    assert_eq!(
        requests[0].headers["authorization"],
        format!("Bearer {TOKEN}").as_str()
    );
}

#[tokio::test]
async fn a_partial_answer_keeps_the_data_and_names_what_is_missing_in_a_gap() {
    let fake = FakeGithub::new("acme", vec![model_repo()]);
    // Newest first: #7, #5, #4, … — the reviews of the second (#5) are refused, and the
    // head commit of the third (#4) is unreadable.
    fake.fault(
        "op=MergedPullRequests",
        1,
        FaultAction::GraphqlError {
            path: vec![
                json!("repository"),
                json!("pullRequests"),
                json!("nodes"),
                json!(1),
                json!("reviews"),
            ],
            kind: "FORBIDDEN".into(),
            message: "Resource not accessible by integration".into(),
        },
    );
    let server = serve(&fake).await;
    let c = connector(&server.uri(), "graphql", 100);
    let mut cursor = Cursor::default();
    let (sink, r) = collect(&c, &mut cursor).await;
    r.unwrap();
    let sealed: Vec<&str> = sink.drafts().map(|d| d.reference.as_str()).collect();
    assert_eq!(sealed.len(), 5, "{sealed:?}");
    assert!(!sealed.contains(&"acme/model#5"));
    assert_eq!(sink.gaps.len(), 1, "{:?}", sink.gaps);
    assert_eq!(sink.gaps[0].scope, "acme/model#5");
    assert!(
        sink.gaps[0].message.contains("Resource not accessible"),
        "{}",
        sink.gaps[0].message
    );
    assert!(!sink.populations[0].complete, "a pull request is missing");

    // The next run fetches #5 again (through REST) and nothing else.
    let (second, r) = collect(&c, &mut cursor).await;
    r.unwrap();
    let sealed: Vec<&str> = second.drafts().map(|d| d.reference.as_str()).collect();
    assert_eq!(sealed, ["acme/model#5"]);
    assert!(second.gaps.is_empty());
}

#[tokio::test]
async fn an_unreadable_rollup_seals_the_pull_request_with_its_checks_unavailable() {
    let fake = FakeGithub::new("acme", vec![model_repo()]);
    fake.fault(
        "op=MergedPullRequests",
        1,
        FaultAction::GraphqlError {
            path: vec![
                json!("repository"),
                json!("pullRequests"),
                json!("nodes"),
                json!(2),
                json!("commits"),
            ],
            kind: "FORBIDDEN".into(),
            message: "Resource not accessible by integration".into(),
        },
    );
    let server = serve(&fake).await;
    let text = format!(
        "api_url = \"{}\"\nrepos = [\"acme/model\"]\napi = \"graphql\"\n[releases]\nenabled = false\n",
        server.uri()
    );
    let c = GithubConnector::new(
        "gh".parse().unwrap(),
        &toml::from_str::<GithubConfig>(&text).unwrap(),
    )
    .unwrap()
    .with_token(Secret::new(TOKEN));
    let (sink, r) = collect(&c, &mut Cursor::default()).await;
    r.unwrap();
    let degraded = draft_for(&sink, "acme/model#4");
    assert!(
        degraded.attributes["unavailable"]["status-check-rollup"]
            .as_str()
            .unwrap()
            .contains("not accessible")
    );
    assert_eq!(degraded.attributes["required_checks_passed"], Value::Null);
    let gap = sink
        .gaps
        .iter()
        .find(|g| g.scope == "acme/model (status-check-rollup)")
        .unwrap();
    assert!(gap.message.contains("acme/model#4"), "{}", gap.message);
}

#[tokio::test]
async fn rate_limited_waits_for_the_reset_and_then_succeeds() {
    let fake = FakeGithub::new("acme", vec![model_repo()]);
    let reset = jiff::Timestamp::now().as_second() + 1;
    fake.fault(
        "/graphql$",
        1,
        FaultAction::Status(
            200,
            vec![
                ("x-ratelimit-remaining".into(), "0".into()),
                ("x-ratelimit-reset".into(), reset.to_string()),
            ],
            r#"{"data":null,"errors":[{"type":"RATE_LIMITED","message":"API rate limit exceeded for user ID 1."}]}"#.into(),
        ),
    );
    let server = serve(&fake).await;
    let started = Instant::now();
    let (sink, r) = collect(
        &connector(&server.uri(), "graphql", 100),
        &mut Cursor::default(),
    )
    .await;
    r.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "it waited for the reset"
    );
    assert!(sink.gaps.is_empty(), "{:?}", sink.gaps);
    assert_eq!(sink.drafts().count(), 6);
}

#[tokio::test]
async fn the_node_limit_and_a_502_split_the_page_and_the_walk_still_completes() {
    let fake = FakeGithub::new("acme", vec![model_repo()]);
    // A page of 100 asks for 10,200 nodes, 50 for 5,100, 25 for 2,550.
    fake.max_nodes.store(3_000, Ordering::Relaxed);
    fake.fault(
        "op=MergedPullRequests",
        1,
        FaultAction::Status(502, vec![], "<html>Bad Gateway</html>".into()),
    );
    let server = serve(&fake).await;
    let (sink, r) = collect(
        &connector(&server.uri(), "graphql", 100),
        &mut Cursor::default(),
    )
    .await;
    r.unwrap();
    assert!(sink.gaps.is_empty(), "{:?}", sink.gaps);
    assert_eq!(sink.drafts().count(), 6);
    let pop = &sink.populations[0];
    assert!(pop.complete);
    assert_eq!(
        pop.attributes["page_splits"], 2,
        "a 502 at 100, then 5,100 nodes at 50"
    );
}

#[tokio::test]
async fn a_secondary_rate_limit_is_waited_out() {
    let fake = FakeGithub::new("acme", vec![model_repo()]);
    fake.fault(
        "/graphql$",
        1,
        FaultAction::Status(
            403,
            vec![("retry-after".into(), "1".into())],
            r#"{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}"#.into(),
        ),
    );
    let server = serve(&fake).await;
    let started = Instant::now();
    let (sink, r) = collect(
        &connector(&server.uri(), "graphql", 100),
        &mut Cursor::default(),
    )
    .await;
    r.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert!(sink.gaps.is_empty(), "{:?}", sink.gaps);
    assert_eq!(sink.drafts().count(), 6);
}

#[tokio::test]
async fn a_refused_token_is_a_denied_gap_naming_the_source_without_the_token() {
    let fake = FakeGithub::new("acme", vec![model_repo()]);
    fake.fault(
        "/graphql$",
        10,
        FaultAction::Status(
            401,
            vec![],
            r#"{"message":"Bad credentials","documentation_url":"https://docs.github.com/graphql"}"#.into(),
        ),
    );
    let server = serve(&fake).await;
    let (sink, r) = collect(
        &connector(&server.uri(), "graphql", 100),
        &mut Cursor::default(),
    )
    .await;
    r.unwrap();
    assert_eq!(sink.drafts().count(), 0);
    assert_eq!(sink.gaps.len(), 1);
    let gap = &sink.gaps[0];
    assert_eq!(gap.category, GapCategory::Denied);
    assert_eq!(gap.source.as_str(), "gh");
    assert!(
        gap.message.contains("401") && gap.message.contains("Bad credentials"),
        "{}",
        gap.message
    );
    assert!(gap.message.contains("GraphQL"), "{}", gap.message);
    let everything = format!("{:?}{:?}", sink.gaps, sink.populations);
    assert!(!everything.contains(TOKEN));
    assert_eq!(
        fake.counters.graphql_requests.load(Ordering::Relaxed),
        1,
        "a 401 is not retried"
    );
}

#[tokio::test]
async fn auto_backfills_through_graphql_then_the_daily_run_is_rest_and_all_304() {
    let fake = FakeGithub::new("acme", vec![model_repo()]);
    let server = serve(&fake).await;
    let c = connector(&server.uri(), "auto", 100);
    let mut cursor = Cursor::default();
    let (first, r) = collect(&c, &mut cursor).await;
    r.unwrap();
    assert_eq!(first.drafts().count(), 6);
    assert_eq!(first.populations[0].attributes["api"], "graphql");
    let graphql_after_first = fake.counters.graphql_requests.load(Ordering::Relaxed);
    let pulls_requests = |requests: &[wiremock::Request]| {
        requests
            .iter()
            .filter(|r| r.url.path().contains("/pulls"))
            .map(|r| r.url.path().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        pulls_requests(&server.received_requests().await.unwrap()),
        ["/repos/acme/model/pulls"],
        "only the REST listing's first page, for its ETag"
    );

    let (second, r) = collect(&c, &mut cursor).await;
    r.unwrap();
    assert_eq!(second.drafts().count(), 0);
    assert_eq!(second.populations[0].attributes["api"], "rest");
    assert_eq!(second.populations[0].attributes["not_modified"], true);
    assert_eq!(
        fake.counters.graphql_requests.load(Ordering::Relaxed),
        graphql_after_first
    );
    assert_eq!(
        pulls_requests(&server.received_requests().await.unwrap()).len(),
        2,
        "one conditional listing"
    );

    // A pull request merged later is collected by the daily REST run.
    fake.repos.lock().unwrap()[0].pulls.push(PullSpec::merged(
        8,
        "ana",
        "ben",
        "2026-03-09T10:00:00Z",
    ));
    let (third, r) = collect(&c, &mut cursor).await;
    r.unwrap();
    let sealed: Vec<&str> = third.drafts().map(|d| d.reference.as_str()).collect();
    assert_eq!(sealed, ["acme/model#8"]);
}

#[tokio::test]
async fn a_shutdown_during_a_graphql_page_that_never_answers_stops_in_time_with_the_cursor_kept() {
    let fake = FakeGithub::new("acme", vec![model_repo()]);
    fake.fault("/graphql$", 1, FaultAction::Delay(Duration::from_secs(600)));
    let server = serve(&fake).await;
    let text = format!(
        "api_url = \"{}\"\nrepos = [\"acme/model\"]\nper_page = 100\napi = \"graphql\"\n[protection]\nenabled = false\n[releases]\nenabled = false\n[retry]\nmax_attempts = 4\nbase_delay_ms = 5\nmax_delay_secs = 600\ntimeout_secs = 600\n",
        server.uri()
    );
    let config: GithubConfig = toml::from_str(&text).unwrap();
    let c = GithubConnector::new("gh".parse().unwrap(), &config)
        .unwrap()
        .with_token(Secret::new(TOKEN));
    let mut cursor = Cursor::default();
    let mut sink = MemorySink::new("gh", "2026-04-01T00:00:00Z".parse().unwrap());
    let shutdown = CancellationToken::new();
    let ctx = CollectContext {
        shutdown: shutdown.clone(),
        progress: &NoProgress,
        agent: "evidence-agent test".into(),
    };
    let cancel = shutdown.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        cancel.cancel();
    });
    let started = Instant::now();
    let r = tokio::time::timeout(
        Duration::from_secs(20),
        c.collect(&mut cursor, &mut sink, &ctx),
    )
    .await
    .expect("the walk stops when asked, not when the server answers");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(r, Err(ConnectorError::Interrupted { .. })) || r.is_ok(),
        "{r:?}"
    );
    assert_eq!(
        sink.drafts().count(),
        0,
        "nothing of the unanswered page is sealed"
    );
    let stored = serde_json::to_value(&cursor).unwrap();
    let pulls = &stored["repos"]["acme/model"]["pulls"];
    assert!(
        pulls["watermark"].is_null() && pulls["resume"]["pages_walked"] == 0,
        "no watermark, nothing walked: the next run backfills from the start: {pulls}"
    );
}

#[tokio::test]
async fn a_server_without_graphql_is_walked_through_rest_under_auto_and_named_under_graphql() {
    let fake = FakeGithub::new("acme", vec![model_repo()]);
    fake.fault(
        "/graphql$",
        100,
        FaultAction::Status(404, vec![], r#"{"message":"Not Found"}"#.into()),
    );
    let server = serve(&fake).await;
    let (sink, r) = collect(
        &connector(&server.uri(), "auto", 100),
        &mut Cursor::default(),
    )
    .await;
    r.unwrap();
    assert!(sink.gaps.is_empty(), "{:?}", sink.gaps);
    assert_eq!(
        sink.drafts().count(),
        6,
        "every merged pull request, through REST"
    );

    let (sink, r) = collect(
        &connector(&server.uri(), "graphql", 100),
        &mut Cursor::default(),
    )
    .await;
    r.unwrap();
    assert_eq!(sink.drafts().count(), 0);
    assert!(
        sink.gaps.iter().any(|g| g.message.contains("HTTP 404")),
        "{:?}",
        sink.gaps
    );
}
