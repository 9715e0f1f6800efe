//! The GitHub connector against a fake GitHub serving schema-valid answers: what it seals for
//! each kind, what it derives, how it walks incrementally, and how it rides out faults.
#![allow(clippy::unwrap_used)] // Test helpers fail loudly.

mod github_support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use evidence_connectors::connector::{CollectContext, NoProgress, Progress};
use evidence_connectors::github::{GithubConfig, GithubConnector};
use evidence_connectors::testing::MemorySink;
use evidence_connectors::{Connector, ConnectorError, Cursor, Secret};
use evidence_model::GapCategory;
use github_support::*;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "ghp_TESTTOKEN0123456789abcdefghijklmnopq";

/// A connector for `acme/model` reading pull requests through REST (the GraphQL backfill has
/// its own tests in `github_graphql.rs`).
fn connector(server_uri: &str, extra: &str) -> GithubConnector {
    let text = format!(
        "api_url = \"{server_uri}\"\nrepos = [\"acme/model\"]\nper_page = 2\napi = \"rest\"\n{extra}\n[retry]\nmax_attempts = 4\nbase_delay_ms = 5\nmax_delay_secs = 1\ntimeout_secs = 1\n"
    );
    let config: GithubConfig = toml::from_str(&text).unwrap();
    GithubConnector::new("gh".parse().unwrap(), &config)
        .unwrap()
        .with_token(Secret::new(TOKEN))
}

async fn collect_with(
    c: &GithubConnector,
    cursor: &mut Cursor,
    progress: &dyn Progress,
    shutdown: CancellationToken,
) -> (MemorySink, Result<(), ConnectorError>) {
    let mut sink = MemorySink::new("gh", "2026-04-01T00:00:00Z".parse().unwrap());
    let ctx = CollectContext {
        shutdown,
        progress,
        agent: "evidence-agent test".into(),
    };
    let r = c.collect(cursor, &mut sink, &ctx).await;
    (sink, r)
}

async fn collect(
    c: &GithubConnector,
    cursor: &mut Cursor,
) -> (MemorySink, Result<(), ConnectorError>) {
    collect_with(c, cursor, &NoProgress, CancellationToken::new()).await
}

fn kinds(sink: &MemorySink) -> Vec<String> {
    sink.drafts().map(|d| d.kind.as_str().to_owned()).collect()
}

fn pulls_only() -> &'static str {
    "[protection]\nenabled = false\n[releases]\nenabled = false"
}

/// A repository with five merged pull requests and one closed without merging.
fn model_repo() -> RepoSpec {
    let mut repo = RepoSpec::new("model");
    let mut clean = PullSpec::merged(1, "ana", "ben", "2026-03-01T10:00:00Z");
    clean.title = "Add evaluation gate".into();
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
    let plain = PullSpec::merged(5, "ben", "ana", "2026-03-05T10:00:00Z");
    let mut closed = PullSpec::merged(6, "eve", "ben", "2026-03-06T10:00:00Z");
    closed.merged_at = None;
    repo.pulls = vec![clean, stale, selfish, odd, plain, closed];
    repo
}

fn draft_for<'a>(sink: &'a MemorySink, reference: &str) -> &'a evidence_connectors::ItemDraft {
    sink.drafts()
        .find(|d| d.reference == reference)
        .unwrap_or_else(|| panic!("no item {reference}"))
}

#[test]
fn every_fixture_builder_gives_schema_valid_answers() {
    let mut repo = model_repo();
    repo.issues.push(IssueSpec {
        number: 40,
        title: "Model drift".into(),
        labels: vec!["incident".into()],
        author: "ops".into(),
        state: "closed".into(),
        created_at: "2026-03-01T00:00:00Z".into(),
        updated_at: "2026-03-02T00:00:00Z".into(),
        closed_at: Some("2026-03-02T00:00:00Z".into()),
        closed_by: Some("ana".into()),
        events: vec![
            ("commented".into(), "ben".into()),
            ("closed".into(), "ana".into()),
        ],
        is_pull_request: false,
    });
    repo.releases.push(ReleaseSpec {
        id: 9,
        tag: "v1.0".into(),
        author: "ana".into(),
        published_at: "2026-03-03T00:00:00Z".into(),
        draft: false,
    });
    let fake = FakeGithub::new("acme", vec![repo.clone()]);
    let p = &repo.pulls[0];
    validate_schema("minimal-repository", &fake.repo_json(&repo)).unwrap();
    validate_endpoint(
        "/repos/{owner}/{repo}/pulls",
        &Value::Array(vec![fake.pull_simple_json(&repo, p)]),
    )
    .unwrap();
    validate_endpoint(
        "/repos/{owner}/{repo}/pulls/{pull_number}",
        &fake.pull_json(&repo, p),
    )
    .unwrap();
    validate_endpoint(
        "/repos/{owner}/{repo}/pulls/{pull_number}/reviews",
        &Value::Array(vec![fake.review_json(0, &p.reviews[0])]),
    )
    .unwrap();
    validate_endpoint(
        "/repos/{owner}/{repo}/commits/{ref}/check-runs",
        &fake.check_runs_json(p),
    )
    .unwrap();
    validate_endpoint(
        "/repos/{owner}/{repo}/commits/{ref}/status",
        &fake.status_json(p),
    )
    .unwrap();
    validate_endpoint(
        "/repos/{owner}/{repo}/branches/{branch}/protection",
        &fake.protection_json(&repo),
    )
    .unwrap();
    validate_endpoint(
        "/repos/{owner}/{repo}/rules/branches/{branch}",
        &fake.rules_json(&repo),
    )
    .unwrap();
    validate_endpoint(
        "/repos/{owner}/{repo}/issues",
        &Value::Array(vec![fake.issue_json(&repo, &repo.issues[0])]),
    )
    .unwrap();
    validate_endpoint(
        "/repos/{owner}/{repo}/issues/{issue_number}/timeline",
        &fake.timeline_json(&repo.issues[0]),
    )
    .unwrap();
    validate_endpoint(
        "/repos/{owner}/{repo}/releases",
        &Value::Array(vec![fake.release_json(&repo, &repo.releases[0])]),
    )
    .unwrap();
    validate_endpoint(
        "/repos/{owner}/{repo}/contents/{path}",
        &fake.content_json(&repo, "MODEL_CARD.md", "---\nlicense: mit\n---\n# Card\n"),
    )
    .unwrap();
    let run = RunSpec {
        id: 77,
        path: ".github/workflows/train.yml".into(),
        status: "completed".into(),
        conclusion: Some("success".into()),
        created_at: "2026-03-01T00:00:00Z".into(),
        artifacts: vec![ArtifactSpec {
            id: 5,
            name: "model".into(),
            blob: Blob::Bytes(b"PK".to_vec()),
            digest: None,
        }],
        logs: Blob::Bytes(b"PK".to_vec()),
    };
    validate_endpoint(
        "/repos/{owner}/{repo}/actions/runs",
        &serde_json::json!({"total_count": 1, "workflow_runs": [fake.run_json(&repo, &run)]}),
    )
    .unwrap();
    validate_endpoint(
        "/repos/{owner}/{repo}/actions/runs/{run_id}/artifacts",
        &serde_json::json!({"total_count": 1, "artifacts": [fake.artifact_json(&repo, &run, &run.artifacts[0])]}),
    )
    .unwrap();
}

#[test]
fn a_fixture_that_breaks_its_schema_is_caught() {
    let fake = FakeGithub::new("acme", vec![model_repo()]);
    let repo = model_repo();
    let mut pull = fake.pull_json(&repo, &repo.pulls[0]);
    pull["number"] = Value::from("seven");
    assert!(validate_endpoint("/repos/{owner}/{repo}/pulls/{pull_number}", &pull).is_err());
}

#[tokio::test]
async fn merged_pull_requests_are_sealed_across_pages_with_their_derived_approval_facts() {
    let fake = FakeGithub::new("acme", vec![model_repo()]);
    let server = serve(&fake).await;
    let c = connector(&server.uri(), pulls_only());
    let mut cursor = Cursor::default();
    let (sink, r) = collect(&c, &mut cursor).await;
    r.unwrap();
    assert!(sink.gaps.is_empty(), "{:?}", sink.gaps);
    assert_eq!(kinds(&sink), vec!["pr_approval"; 5]);

    let clean = draft_for(&sink, "acme/model#1");
    assert_eq!(clean.title, "acme/model#1: Add evaluation gate");
    assert_eq!(clean.attributes["approvers"], serde_json::json!(["ben"]));
    assert_eq!(clean.attributes["approved_at_head"], true);
    assert_eq!(clean.attributes["self_approved"], false);
    assert_eq!(clean.attributes["base"], "main");
    assert_eq!(clean.attributes["required_checks_passed"], true);
    assert_eq!(
        clean.source_time.unwrap().to_string(),
        "2026-03-01T10:00:00Z"
    );
    let roles: Vec<_> = clean
        .actors
        .iter()
        .map(|a| (a.role.as_str(), a.name.as_str()))
        .collect();
    assert!(roles.contains(&("author", "ana")) && roles.contains(&("approver", "ben")));
    assert!(roles.contains(&("merger", "release-bot")) && roles.contains(&("reviewer", "ben")));

    let stale = draft_for(&sink, "acme/model#2");
    assert_eq!(stale.attributes["stale_approvals"][0]["reviewer"], "ben");
    assert_eq!(stale.attributes["approved_at_head"], false);

    let selfish = draft_for(&sink, "acme/model#3");
    assert_eq!(selfish.attributes["self_approved"], true);
    assert_eq!(
        selfish.attributes["required_checks"][0]["result"],
        "failure"
    );
    assert_eq!(selfish.attributes["required_checks_passed"], false);

    let odd = draft_for(&sink, "acme/model#4");
    assert_eq!(odd.attributes["unknown_review_states"]["SUPER_APPROVED"], 1);
    assert_eq!(odd.attributes["approvers"], serde_json::json!(["ben"]));

    // The artefact is the answers as fetched.
    let (_, _, bytes) = sink
        .items
        .iter()
        .find(|(_, d, _)| d.reference == "acme/model#1")
        .unwrap();
    let artefact: Value = serde_json::from_slice(bytes).unwrap();
    assert_eq!(artefact["pull"]["number"], 1);
    assert_eq!(artefact["reviews"][0]["state"], "APPROVED");
    assert!(artefact["check_runs"][0]["check_runs"].is_array());
    assert!(artefact["combined_status"]["sha"].is_string());

    let pop = sink
        .populations
        .iter()
        .find(|p| p.scope == "acme/model")
        .unwrap();
    assert!(pop.complete);
    assert_eq!(pop.pages_walked, 3, "six pull requests at two a page");
    assert_eq!((pop.items_seen, pop.items_sealed), (5, 5));
    assert_eq!(pop.attributes["skipped_closed_unmerged"], 1);
    assert_eq!(pop.watermark_after.as_deref(), Some("2026-03-06T10:00:00Z"));
}

#[tokio::test]
async fn a_second_run_with_nothing_changed_only_asks_conditionally_and_seals_nothing() {
    let mut repo = model_repo();
    repo.releases.push(ReleaseSpec {
        id: 9,
        tag: "v1.0".into(),
        author: "ana".into(),
        published_at: "2026-03-03T00:00:00Z".into(),
        draft: false,
    });
    repo.cards.insert(
        "MODEL_CARD.md".into(),
        "---\nlicense: mit\n---\n# Card\n".into(),
    );
    let fake = FakeGithub::new("acme", vec![repo]);
    let server = serve(&fake).await;
    let c = connector(&server.uri(), "[[card]]\npath = \"MODEL_CARD.md\"");
    let mut cursor = Cursor::default();
    let (first, r) = collect(&c, &mut cursor).await;
    r.unwrap();
    assert_eq!(
        first.items.len(),
        5 + 1 + 1 + 1,
        "pulls, protection, release, card"
    );
    let before = fake.counters.requests.load(Ordering::Relaxed);
    let (second, r) = collect(&c, &mut cursor).await;
    r.unwrap();
    let asked = fake.counters.requests.load(Ordering::Relaxed) - before;
    assert!(second.items.is_empty(), "{:?}", kinds(&second));
    assert!(second.gaps.is_empty());
    assert_eq!(
        fake.counters.not_modified.load(Ordering::Relaxed),
        asked,
        "every request of the second run was conditional and answered 304"
    );
    assert!(second.populations.iter().all(|p| p.complete));
    assert!(
        second
            .populations
            .iter()
            .filter(|p| p.kind.is_some())
            .all(|p| p.attributes["not_modified"] == true)
    );
}

#[tokio::test]
async fn a_pull_request_updated_after_the_watermark_is_collected_next_run_and_nothing_else() {
    let fake = FakeGithub::new("acme", vec![model_repo()]);
    let server = serve(&fake).await;
    let c = connector(&server.uri(), pulls_only());
    let mut cursor = Cursor::default();
    collect(&c, &mut cursor).await.1.unwrap();
    fake.repos.lock().unwrap()[0].pulls.push(PullSpec::merged(
        7,
        "ana",
        "ben",
        "2026-03-10T10:00:00Z",
    ));
    let (sink, r) = collect(&c, &mut cursor).await;
    r.unwrap();
    let refs: Vec<_> = sink.drafts().map(|d| d.reference.clone()).collect();
    assert_eq!(refs, ["acme/model#7"]);
    let pop = &sink.populations[0];
    assert_eq!(
        pop.pages_walked, 1,
        "the walk stops at the watermark on the first page"
    );
    assert_eq!(
        pop.watermark_before.as_deref(),
        Some("2026-03-06T10:00:00Z")
    );
    assert_eq!(pop.watermark_after.as_deref(), Some("2026-03-10T10:00:00Z"));
}

#[tokio::test]
async fn server_errors_and_a_429_with_retry_after_are_retried_and_the_run_completes() {
    let fake = FakeGithub::new("acme", vec![model_repo()]);
    fake.fault(
        "/pulls?",
        2,
        FaultAction::Status(502, vec![], "{\"message\":\"Bad gateway\"}".into()),
    );
    fake.fault(
        "/pulls/3/reviews",
        1,
        FaultAction::Status(
            429,
            vec![("retry-after".into(), "1".into())],
            "{\"message\":\"slow down\"}".into(),
        ),
    );
    let server = serve(&fake).await;
    let c = connector(&server.uri(), pulls_only());
    let waits = Waits::default();
    let started = std::time::Instant::now();
    let (sink, r) =
        collect_with(&c, &mut Cursor::default(), &waits, CancellationToken::new()).await;
    r.unwrap();
    assert_eq!(sink.items.len(), 5);
    assert!(sink.gaps.is_empty());
    assert!(
        waits.count.load(Ordering::Relaxed) >= 3,
        "every wait shows in the progress display"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "Retry-After was honoured"
    );
}

#[tokio::test]
async fn a_secondary_rate_limit_403_is_waited_out_not_reported_as_denied() {
    let fake = FakeGithub::new("acme", vec![model_repo()]);
    fake.fault(
        "/pulls/2",
        1,
        FaultAction::Status(
            403,
            vec![],
            "{\"message\":\"You have exceeded a secondary rate limit. Please wait a few minutes before you try again.\"}".into(),
        ),
    );
    let server = serve(&fake).await;
    let c = connector(&server.uri(), pulls_only());
    let (sink, r) = collect(&c, &mut Cursor::default()).await;
    r.unwrap();
    assert_eq!(sink.items.len(), 5);
    assert!(sink.gaps.is_empty(), "{:?}", sink.gaps);
}

#[tokio::test]
async fn a_truncated_body_and_a_timeout_are_fetched_again() {
    let fake = FakeGithub::new("acme", vec![model_repo()]);
    fake.fault("/pulls/1/reviews", 1, FaultAction::Truncate);
    fake.fault(
        "/pulls/4",
        1,
        FaultAction::Delay(Duration::from_millis(2500)),
    );
    let server = serve(&fake).await;
    let c = connector(&server.uri(), pulls_only());
    let (sink, r) = collect(&c, &mut Cursor::default()).await;
    r.unwrap();
    assert_eq!(sink.items.len(), 5);
    assert!(sink.gaps.is_empty(), "{:?}", sink.gaps);
}

#[tokio::test]
async fn a_pull_request_that_keeps_failing_becomes_a_gap_and_is_fetched_again_next_run() {
    let fake = FakeGithub::new("acme", vec![model_repo()]);
    fake.fault(
        "/pulls/2/reviews",
        4,
        FaultAction::Status(500, vec![], "{}".into()),
    );
    let server = serve(&fake).await;
    let c = connector(&server.uri(), pulls_only());
    let mut cursor = Cursor::default();
    let (sink, r) = collect(&c, &mut cursor).await;
    r.unwrap();
    assert_eq!(sink.items.len(), 4);
    assert_eq!(sink.gaps.len(), 1);
    assert_eq!(sink.gaps[0].scope, "acme/model#2");
    assert_eq!(sink.gaps[0].category, GapCategory::Unreachable);
    assert!(!sink.populations[0].complete);
    let (sink, r) = collect(&c, &mut cursor).await;
    r.unwrap();
    let refs: Vec<_> = sink.drafts().map(|d| d.reference.clone()).collect();
    assert_eq!(refs, ["acme/model#2"]);
}

#[tokio::test]
async fn a_repository_that_cannot_be_read_is_a_gap_and_the_others_still_seal() {
    let fake = FakeGithub::new("acme", vec![model_repo()]);
    let server = serve(&fake).await;
    let text = format!(
        "api_url = \"{}\"\nrepos = [\"acme/model\", \"acme/missing\"]\n[protection]\nenabled = false\n[releases]\nenabled = false\n[retry]\nbase_delay_ms = 5\n",
        server.uri()
    );
    let c = GithubConnector::new(
        "gh".parse().unwrap(),
        &toml::from_str::<GithubConfig>(&text).unwrap(),
    )
    .unwrap();
    let (sink, r) = collect(&c, &mut Cursor::default()).await;
    r.unwrap();
    assert_eq!(sink.items.len(), 5);
    assert_eq!(sink.gaps.len(), 1);
    assert_eq!(sink.gaps[0].scope, "acme/missing");
    assert_eq!(sink.gaps[0].category, GapCategory::NotFound);
}

#[tokio::test]
async fn a_denied_listing_is_a_gap_for_that_kind_with_the_token_kept_out_of_every_record() {
    let fake = FakeGithub::new("acme", vec![model_repo()]);
    fake.fault(
        "/pulls?",
        1,
        FaultAction::Status(
            403,
            vec![],
            "{\"message\":\"Resource not accessible by integration\"}".into(),
        ),
    );
    let server = serve(&fake).await;
    let c = connector(&server.uri(), pulls_only());
    let (sink, r) = collect(&c, &mut Cursor::default()).await;
    r.unwrap();
    assert_eq!(sink.gaps.len(), 1);
    assert_eq!(sink.gaps[0].category, GapCategory::Denied);
    assert!(
        sink.gaps[0].message.contains("Resource not accessible"),
        "{}",
        sink.gaps[0].message
    );
    let everything = format!("{:?}{:?}{:?}", sink.gaps, sink.populations, sink.items);
    assert!(!everything.contains(TOKEN));
    assert!(
        !format!("{c:?}").contains(TOKEN),
        "Debug of the connector hides the token"
    );

    // The token did reach GitHub, in the Authorization header, with the pinned version.
    let requests = server.received_requests().await.unwrap();
    let r = &requests[0];
    assert_eq!(
        r.headers["authorization"],
        format!("Bearer {TOKEN}").as_str()
    );
    assert_eq!(r.headers["x-github-api-version"], "2022-11-28");
    assert_eq!(r.headers["accept"], "application/vnd.github+json");
}

#[tokio::test]
async fn exhausted_rate_limit_retries_are_a_rate_limited_gap_counting_the_attempts() {
    let fake = FakeGithub::new("acme", vec![model_repo()]);
    fake.fault(
        "/pulls?",
        10,
        FaultAction::Status(429, vec![("retry-after".into(), "0".into())], "{}".into()),
    );
    let server = serve(&fake).await;
    let c = connector(&server.uri(), pulls_only());
    let mut cursor = Cursor::default();
    let (sink, r) = collect(&c, &mut cursor).await;
    r.unwrap();
    assert_eq!(sink.gaps[0].category, GapCategory::RateLimited);
    assert_eq!(sink.gaps[0].attempts, 4);
    assert!(!sink.populations[0].complete);
}

/// Progress that counts waits and cancels the run after `cancel_after` items.
#[derive(Default)]
struct Waits {
    count: AtomicU64,
    items: AtomicU64,
    cancel_after: Option<(u64, CancellationToken)>,
}

impl Progress for Waits {
    fn set_items_total(&self, _: Option<u64>) {}
    fn set_bytes_total(&self, _: Option<u64>) {}
    fn add_items(&self, n: u64) {
        let done = self.items.fetch_add(n, Ordering::Relaxed) + n;
        if let Some((limit, token)) = &self.cancel_after
            && done >= *limit
        {
            token.cancel();
        }
    }
    fn add_bytes(&self, _: u64) {}
    fn status(&self, _: &str) {}
    fn waiting(&self, _: &str, _: Duration) {
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}

#[tokio::test]
async fn an_interrupted_walk_keeps_the_next_page_and_resumes_there_without_duplicates() {
    let fake = FakeGithub::new("acme", vec![model_repo()]);
    let server = serve(&fake).await;
    let c = connector(
        &server.uri(),
        &format!("max_concurrent_requests = 1\n{}", pulls_only()),
    );
    let token = CancellationToken::new();
    let progress = Waits {
        cancel_after: Some((3, token.clone())),
        ..Waits::default()
    };
    let mut cursor = Cursor::default();
    let (first, r) = collect_with(&c, &mut cursor, &progress, token).await;
    assert!(
        matches!(r, Err(ConnectorError::Interrupted { .. })),
        "{r:?}"
    );
    let first_refs: Vec<_> = first.drafts().map(|d| d.reference.clone()).collect();
    assert!(
        !first_refs.is_empty() && first_refs.len() < 5,
        "{first_refs:?}"
    );
    assert!(!first.populations[0].complete);
    let saved = cursor.0.to_string();
    assert!(
        saved.contains("page=2") || saved.contains("page=3") || saved.contains("next_url"),
        "{saved}"
    );

    let (second, r) = collect(&c, &mut cursor).await;
    r.unwrap();
    let mut all: Vec<_> = first_refs.clone();
    all.extend(second.drafts().map(|d| d.reference.clone()));
    all.sort();
    assert_eq!(
        all,
        [
            "acme/model#1",
            "acme/model#2",
            "acme/model#3",
            "acme/model#4",
            "acme/model#5"
        ],
        "each merged pull request handed over exactly once"
    );
    assert!(second.populations[0].attributes.contains_key("resumed_at"));
}

#[tokio::test]
async fn an_enterprise_server_base_url_with_a_path_prefix_works() {
    let mut fake = FakeGithub::new("acme", vec![model_repo()]);
    fake.prefix = "/api/v3".into();
    let server = serve(&fake).await;
    let c = connector(&format!("{}/api/v3", server.uri()), pulls_only());
    let (sink, r) = collect(&c, &mut Cursor::default()).await;
    r.unwrap();
    assert_eq!(sink.items.len(), 5);
    let requests = server.received_requests().await.unwrap();
    assert!(
        requests
            .iter()
            .all(|r| r.url.path().starts_with("/api/v3/"))
    );
}

#[tokio::test]
async fn an_organisation_is_listed_and_filtered_by_include_and_exclude_globs() {
    let repos = vec![
        model_repo(),
        RepoSpec::new("model-old"),
        RepoSpec::new("website"),
    ];
    let fake = FakeGithub::new("acme", repos);
    let server = serve(&fake).await;
    let text = format!(
        "api_url = \"{}\"\norg = \"acme\"\ninclude = [\"acme/model*\"]\nexclude = [\"acme/*-old\"]\n[pulls]\nenabled = false\n[releases]\nenabled = false\n",
        server.uri()
    );
    let c = GithubConnector::new(
        "gh".parse().unwrap(),
        &toml::from_str::<GithubConfig>(&text).unwrap(),
    )
    .unwrap();
    let (sink, r) = collect(&c, &mut Cursor::default()).await;
    r.unwrap();
    let refs: Vec<_> = sink.drafts().map(|d| d.reference.clone()).collect();
    assert_eq!(refs, ["acme/model@main"]);
    let org = sink
        .populations
        .iter()
        .find(|p| p.scope == "org acme")
        .unwrap();
    assert_eq!(org.items_seen, 3);
    assert_eq!(org.attributes["excluded_by_globs"], 2);
}

#[tokio::test]
async fn a_nearly_used_up_primary_rate_limit_makes_the_client_wait_for_the_reset() {
    let fake = FakeGithub::new("acme", vec![model_repo()]);
    fake.remaining.store(30, Ordering::Relaxed);
    let server = serve(&fake).await;
    let c = connector(&server.uri(), pulls_only());
    let waits = Waits::default();
    let (sink, r) =
        collect_with(&c, &mut Cursor::default(), &waits, CancellationToken::new()).await;
    r.unwrap();
    assert_eq!(sink.items.len(), 5);
    assert!(
        waits.count.load(Ordering::Relaxed) >= 1,
        "below the reserve of 50, requests wait for the reset (capped at max_delay_secs)"
    );
}

#[tokio::test]
async fn a_shutdown_during_a_rate_limit_wait_ends_the_run_at_once() {
    let fake = FakeGithub::new("acme", vec![model_repo()]);
    fake.fault(
        "/pulls?",
        1,
        FaultAction::Status(429, vec![("retry-after".into(), "600".into())], "{}".into()),
    );
    let server = serve(&fake).await;
    let text = format!(
        "api_url = \"{}\"\nrepos = [\"acme/model\"]\napi = \"rest\"\n{}\n[retry]\nmax_delay_secs = 600\n",
        server.uri(),
        pulls_only()
    );
    let c = GithubConnector::new(
        "gh".parse().unwrap(),
        &toml::from_str::<GithubConfig>(&text).unwrap(),
    )
    .unwrap();
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        cancel.cancel();
    });
    let started = std::time::Instant::now();
    let (sink, r) = collect_with(&c, &mut Cursor::default(), &NoProgress, token).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the wait stopped on shutdown"
    );
    assert!(
        matches!(r, Err(ConnectorError::Interrupted { .. })),
        "{r:?}"
    );
    assert!(!sink.populations[0].complete);
}

#[tokio::test]
async fn the_healthcheck_reaches_the_api_through_octocrab_and_reports_the_quota() {
    let mut fake = FakeGithub::new("acme", vec![model_repo()]);
    fake.prefix = "/api/v3".into();
    let server = serve(&fake).await;
    let c = connector(&format!("{}/api/v3", server.uri()), "");
    let health = c.healthcheck().await.unwrap();
    assert!(
        health.detail.contains("core requests left"),
        "{}",
        health.detail
    );
    assert!(!health.detail.contains(TOKEN));
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests[0].url.path(), "/api/v3/rate_limit");
    assert_eq!(requests[0].headers["x-github-api-version"], "2022-11-28");
}

fn protection_only() -> &'static str {
    "[pulls]\nenabled = false\n[releases]\nenabled = false"
}

#[tokio::test]
async fn pull_requests_whose_checks_are_denied_and_status_missing_are_sealed_with_one_gap_per_endpoint()
 {
    // A fine-grained token without the Checks permission (403) on a server whose combined
    // status answers 404: every approval is still sealed; the checks are `unavailable`.
    let fake = FakeGithub::new("acme", vec![model_repo()]);
    fake.fault(
        "/check-runs",
        100,
        FaultAction::Status(
            403,
            vec![],
            "{\"message\":\"Resource not accessible by personal access token\"}".into(),
        ),
    );
    fake.fault(
        "/status",
        100,
        FaultAction::Status(404, vec![], "{\"message\":\"Not Found\"}".into()),
    );
    let server = serve(&fake).await;
    let c = connector(&server.uri(), pulls_only());
    let (sink, r) = collect(&c, &mut Cursor::default()).await;
    r.unwrap();
    assert_eq!(sink.items.len(), 5, "gaps: {:?}", sink.gaps);
    let d = draft_for(&sink, "acme/model#1");
    assert_eq!(d.attributes["approvers"], serde_json::json!(["ben"]));
    assert_eq!(d.attributes["approved_at_head"], true);
    let checks = d.attributes["required_checks"].as_str().unwrap();
    assert!(checks.starts_with("unavailable"), "{checks}");
    assert!(checks.contains("Checks (read)"), "{checks}");
    assert_eq!(d.attributes["required_checks_passed"], Value::Null);
    let scopes: Vec<(&str, GapCategory)> = sink
        .gaps
        .iter()
        .map(|g| (g.scope.as_str(), g.category))
        .collect();
    assert_eq!(
        scopes,
        [
            ("acme/model (check-runs)", GapCategory::Denied),
            ("acme/model (status)", GapCategory::NotFound)
        ],
        "one gap per repository and endpoint, not one per pull request"
    );
    assert!(
        sink.gaps[0].message.contains("Checks (read)"),
        "{}",
        sink.gaps[0].message
    );
    assert!(
        sink.gaps[0].message.contains("5 item(s)"),
        "{}",
        sink.gaps[0].message
    );
    assert!(
        sink.gaps[1].message.contains("Commit statuses (read)"),
        "{}",
        sink.gaps[1].message
    );
    // The artefact keeps what was read and says what was not.
    let (_, _, bytes) = sink
        .items
        .iter()
        .find(|(_, d, _)| d.reference == "acme/model#1")
        .unwrap();
    let doc: Value = serde_json::from_slice(bytes).unwrap();
    assert_eq!(doc["check_runs"], Value::Null);
    assert!(
        doc["unavailable"]["status"]
            .as_str()
            .unwrap()
            .contains("404")
    );
    assert!(doc["reviews"].as_array().is_some_and(|r| !r.is_empty()));
}

#[tokio::test]
async fn a_server_without_rulesets_keeps_the_branch_protection_evidence() {
    let fake = FakeGithub::new("acme", vec![model_repo()]);
    fake.fault(
        "/rules/branches/",
        100,
        FaultAction::Status(404, vec![], "{\"message\":\"Not Found\"}".into()),
    );
    let server = serve(&fake).await;
    let c = connector(&server.uri(), protection_only());
    let (sink, r) = collect(&c, &mut Cursor::default()).await;
    r.unwrap();
    assert!(sink.gaps.is_empty(), "{:?}", sink.gaps);
    assert_eq!(kinds(&sink), ["branch_protection"]);
    let d = draft_for(&sink, "acme/model@main");
    assert_eq!(d.attributes["protected"], true);
    assert_eq!(d.attributes["required_checks"], serde_json::json!(["test"]));
    assert!(sink.populations[0].complete);
}

#[tokio::test]
async fn an_unprotected_branch_is_remembered_and_its_rules_are_only_asked_conditionally() {
    let mut repo = model_repo();
    repo.protected = false;
    let fake = FakeGithub::new("acme", vec![repo]);
    let server = serve(&fake).await;
    let c = connector(&server.uri(), protection_only());
    let mut cursor = Cursor::default();
    let (sink, r) = collect(&c, &mut cursor).await;
    r.unwrap();
    assert_eq!(sink.items.len(), 1);
    assert_eq!(
        draft_for(&sink, "acme/model@main").attributes["protected"],
        false
    );
    let before = server.received_requests().await.unwrap().len();
    let (sink, r) = collect(&c, &mut cursor).await;
    r.unwrap();
    assert!(sink.items.is_empty() && sink.gaps.is_empty());
    let requests = server.received_requests().await.unwrap();
    let rules: Vec<_> = requests[before..]
        .iter()
        .filter(|r| r.url.path().contains("/rules/"))
        .collect();
    assert_eq!(rules.len(), 1, "the rules are not fetched again in full");
    assert!(rules[0].headers.contains_key("if-none-match"));
    // An older cursor without the remembered status still reads.
    let mut old = cursor.0.clone();
    let protection = &mut old["repos"]["acme/model"]["protection"];
    protection
        .as_object_mut()
        .unwrap()
        .remove("protection_status");
    protection.as_object_mut().unwrap().remove("rules_status");
    let (sink, r) = collect(&c, &mut Cursor(old)).await;
    r.unwrap();
    assert!(sink.items.is_empty() && sink.gaps.is_empty());
}

#[tokio::test]
async fn the_healthcheck_accepts_old_rate_limit_bodies_and_a_server_without_rate_limiting() {
    // Shapes GitHub has sent: 2013 (only `rate`), 2019 (`resources` without `used`), and a
    // GitHub Enterprise Server with rate limiting disabled (404). None matches today's schema,
    // which requires `used`; all three servers are healthy.
    let cases = [
        (
            200,
            serde_json::json!({"rate": {"limit": 60, "remaining": 59, "reset": 1373946285}}),
            "59 of 60 core requests left",
        ),
        (
            200,
            serde_json::json!({"resources": {"core": {"limit": 5000, "remaining": 4990, "reset": 1571930854}, "search": {"limit": 30, "remaining": 30, "reset": 1571927375}}, "rate": {"limit": 5000, "remaining": 4990, "reset": 1571930854}}),
            "4990 of 5000 core requests left",
        ),
        (
            404,
            serde_json::json!({"message": "Not Found", "documentation_url": "https://docs.github.com/enterprise-server/rest"}),
            "rate limiting is disabled",
        ),
    ];
    for (status, body, expected) in cases {
        let server = wiremock::MockServer::start().await;
        wiremock::Mock::given(wiremock::matchers::path("/api/v3/rate_limit"))
            .respond_with(wiremock::ResponseTemplate::new(status).set_body_json(body))
            .mount(&server)
            .await;
        let c = connector(&format!("{}/api/v3", server.uri()), "");
        let health = c.healthcheck().await.unwrap();
        assert!(health.detail.contains(expected), "{}", health.detail);
    }
}

#[test]
fn the_shipped_example_configuration_is_valid() {
    let text = include_str!("../../examples/github.toml");
    let doc: toml::Value = toml::from_str(text).unwrap();
    let source = doc["source"].as_array().unwrap()[0].clone();
    let source: evidence_connectors::SourceConfig = source.try_into().unwrap();
    let connector = source.build(std::path::Path::new(".")).unwrap();
    assert_eq!(connector.connector_type(), "github");
}
