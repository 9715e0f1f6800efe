//! The GitHub connector's other kinds against the fake GitHub: workflow runs with streamed
//! artifacts and logs, cards with front matter, labelled issues with their timeline, releases,
//! branch protection; and a connection reset in the middle of a paginated walk.
#![allow(clippy::unwrap_used)] // Test helpers fail loudly.

mod github_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use evidence_connectors::connector::{CollectContext, NoProgress};
use evidence_connectors::github::{GithubConfig, GithubConnector};
use evidence_connectors::testing::MemorySink;
use evidence_connectors::{Connector, ConnectorError, Cursor, Secret};
use github_support::*;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "ghp_KINDSTOKEN0123456789abcdefghijklmno";

fn connector(server_uri: &str, extra: &str) -> GithubConnector {
    let text = format!(
        "api_url = \"{server_uri}\"\nrepos = [\"acme/model\"]\nper_page = 2\n{extra}\n[retry]\nmax_attempts = 4\nbase_delay_ms = 5\nmax_delay_secs = 1\ntimeout_secs = 2\n"
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

const ONLY: &str =
    "[pulls]\nenabled = false\n[protection]\nenabled = false\n[releases]\nenabled = false";

fn training_run(id: u64, created_at: &str, status: &str) -> RunSpec {
    RunSpec {
        id,
        path: ".github/workflows/train.yml".into(),
        status: status.into(),
        conclusion: (status == "completed").then(|| "success".into()),
        created_at: created_at.into(),
        artifacts: vec![ArtifactSpec {
            id: id * 10,
            name: "metrics".into(),
            blob: Blob::Bytes(format!("PK metrics of run {id}").into_bytes()),
            digest: None,
        }],
        logs: Blob::Bytes(format!("PK logs of run {id}").into_bytes()),
    }
}

#[tokio::test]
async fn training_runs_are_sealed_with_artifacts_and_logs_streamed_from_another_host() {
    let mut repo = RepoSpec::new("model");
    repo.runs = vec![
        training_run(101, "2026-03-01T00:00:00Z", "completed"),
        training_run(102, "2026-03-02T00:00:00Z", "in_progress"),
        RunSpec {
            path: ".github/workflows/docs.yml".into(),
            ..training_run(103, "2026-03-03T00:00:00Z", "completed")
        },
    ];
    let fake = FakeGithub::new("acme", vec![repo]);
    // Blob storage on a second server, as GitHub redirects downloads to another host.
    let blobs = serve(&fake.clone()).await;
    *fake.blob_base.lock().unwrap() = blobs.uri();
    let server = serve(&fake).await;
    *fake.blob_base.lock().unwrap() = blobs.uri();
    let c = connector(
        &server.uri(),
        &format!("{ONLY}\n[[workflow]]\nfile = \"train.yml\"\nkind = \"training_run\""),
    );
    let mut cursor = Cursor::default();
    let (sink, r) = collect(&c, &mut cursor).await;
    r.unwrap();
    assert!(sink.gaps.is_empty(), "{:?}", sink.gaps);
    let refs: Vec<_> = sink.drafts().map(|d| d.reference.clone()).collect();
    assert_eq!(
        refs,
        [
            "acme/model/actions/runs/101",
            "acme/model/actions/runs/101/artifacts/metrics",
            "acme/model/actions/runs/101/logs"
        ],
        "the run in progress and the other workflow are not sealed"
    );
    assert!(sink.drafts().all(|d| d.kind.as_str() == "training_run"));
    let (_, artifact, bytes) = &sink.items[1];
    assert_eq!(bytes, b"PK metrics of run 101");
    assert!(
        artifact.expected_sha256.is_some(),
        "the digest is checked by the sink"
    );
    let run: Value = serde_json::from_slice(&sink.items[0].2).unwrap();
    assert_eq!(run["run"]["id"], 101);
    assert_eq!(run["artifacts"][0]["name"], "metrics");

    // The token went to the API, never to the blob host.
    let blob_requests = blobs.received_requests().await.unwrap();
    assert!(!blob_requests.is_empty());
    assert!(
        blob_requests
            .iter()
            .all(|r| !r.headers.contains_key("authorization"))
    );

    // Next run: the run that was in progress has completed; only it is sealed.
    fake.repos.lock().unwrap()[0].runs[1].status = "completed".into();
    fake.repos.lock().unwrap()[0].runs[1].conclusion = Some("success".into());
    let (sink, r) = collect(&c, &mut cursor).await;
    r.unwrap();
    let refs: Vec<_> = sink.drafts().map(|d| d.reference.clone()).collect();
    assert_eq!(refs.len(), 3);
    assert!(
        refs.iter()
            .all(|r| r.starts_with("acme/model/actions/runs/102")),
        "{refs:?}"
    );
}

#[tokio::test]
async fn an_artifact_whose_bytes_do_not_match_its_digest_is_refused_and_retried_next_run() {
    let mut repo = RepoSpec::new("model");
    let mut run = training_run(101, "2026-03-01T00:00:00Z", "completed");
    run.artifacts[0].digest = Some(format!("sha256:{}", "0".repeat(64)));
    repo.runs = vec![run];
    let fake = FakeGithub::new("acme", vec![repo]);
    let server = serve(&fake).await;
    let c = connector(
        &server.uri(),
        &format!("{ONLY}\n[[workflow]]\nfile = \"train.yml\"\nlogs = false"),
    );
    let mut cursor = Cursor::default();
    let (sink, r) = collect(&c, &mut cursor).await;
    r.unwrap();
    assert_eq!(sink.gaps.len(), 1);
    assert!(
        sink.gaps[0].message.contains("SHA-256"),
        "{}",
        sink.gaps[0].message
    );
    assert!(
        sink.drafts()
            .all(|d| !d.reference.ends_with("/artifacts/metrics"))
    );
    assert!(!sink.populations[0].complete);
    let (again, _) = collect(&c, &mut cursor).await;
    assert_eq!(
        again.gaps.len(),
        1,
        "the run is collected again, not forgotten"
    );
}

#[tokio::test]
async fn a_model_card_is_sealed_with_its_front_matter_and_again_only_when_its_blob_changes() {
    let mut repo = RepoSpec::new("model");
    repo.cards.insert(
        "MODEL_CARD.md".into(),
        "---\ntitle: Claims triage model\nlicense: apache-2.0\nauthors: [Ana Ortiz]\napproved_by: Ben Kim\ndatasets:\n  - claims-2025\n---\n# Model card\n".into(),
    );
    repo.cards.insert(
        "data/README.md".into(),
        "---\npretty_name: Claims 2025\n---\n# Data\n".into(),
    );
    let fake = FakeGithub::new("acme", vec![repo]);
    let server = serve(&fake).await;
    let c = connector(
        &server.uri(),
        &format!(
            "{ONLY}\n[[card]]\npath = \"MODEL_CARD.md\"\n[[card]]\npath = \"data/README.md\"\nkind = \"dataset_datasheet\"\n[[card]]\npath = \"MISSING.md\""
        ),
    );
    let mut cursor = Cursor::default();
    let (sink, r) = collect(&c, &mut cursor).await;
    r.unwrap();
    assert!(
        sink.gaps.is_empty(),
        "a card a repository lacks is not a gap"
    );
    let card = sink
        .drafts()
        .find(|d| d.kind.as_str() == "model_card")
        .unwrap();
    assert_eq!(card.title, "Claims triage model");
    assert_eq!(
        card.attributes["front_matter"]["datasets"][0],
        "claims-2025"
    );
    let roles: Vec<_> = card
        .actors
        .iter()
        .map(|a| (a.role.as_str(), a.name.as_str()))
        .collect();
    assert_eq!(roles, [("approver", "Ben Kim"), ("author", "Ana Ortiz")]);
    assert!(
        sink.items
            .iter()
            .any(|(_, d, b)| d.kind.as_str() == "dataset_datasheet"
                && b.starts_with(b"---\npretty_name"))
    );
    let missing = sink
        .populations
        .iter()
        .find(|p| p.scope.ends_with("MISSING.md"))
        .unwrap();
    assert_eq!(missing.attributes["skipped_absent"], 1);

    fake.repos.lock().unwrap()[0].cards.insert(
        "MODEL_CARD.md".into(),
        "---\ntitle: Claims triage model v2\n---\n".into(),
    );
    let (sink, r) = collect(&c, &mut cursor).await;
    r.unwrap();
    let refs: Vec<_> = sink.drafts().map(|d| d.reference.clone()).collect();
    assert_eq!(refs, ["acme/model:MODEL_CARD.md"]);
}

#[tokio::test]
async fn labelled_issues_are_sealed_with_their_timeline_and_pull_requests_left_out() {
    let mut repo = RepoSpec::new("model");
    let issue = |number: u64, label: &str, updated: &str, is_pull_request: bool| IssueSpec {
        number,
        title: format!("Issue {number}"),
        labels: vec![label.into()],
        author: "ops".into(),
        state: "closed".into(),
        created_at: "2026-03-01T00:00:00Z".into(),
        updated_at: updated.into(),
        closed_at: Some(updated.into()),
        closed_by: Some("ana".into()),
        events: vec![
            ("commented".into(), "ben".into()),
            ("closed".into(), "ana".into()),
        ],
        is_pull_request,
    };
    repo.issues = vec![
        issue(40, "incident", "2026-03-02T00:00:00Z", false),
        issue(41, "incident", "2026-03-03T00:00:00Z", false),
        issue(42, "incident", "2026-03-04T00:00:00Z", true),
        issue(43, "corrective-action", "2026-03-05T00:00:00Z", false),
    ];
    let fake = FakeGithub::new("acme", vec![repo]);
    let server = serve(&fake).await;
    let c = connector(
        &server.uri(),
        &format!(
            "{ONLY}\n[[issue_label]]\nlabel = \"incident\"\n[[issue_label]]\nlabel = \"corrective-action\"\nkind = \"corrective_action_ticket\""
        ),
    );
    let mut cursor = Cursor::default();
    let (sink, r) = collect(&c, &mut cursor).await;
    r.unwrap();
    assert!(sink.gaps.is_empty(), "{:?}", sink.gaps);
    let got: Vec<_> = sink
        .drafts()
        .map(|d| (d.reference.clone(), d.kind.as_str().to_owned()))
        .collect();
    assert_eq!(
        got,
        [
            ("acme/model#40".to_owned(), "incident_ticket".to_owned()),
            ("acme/model#41".to_owned(), "incident_ticket".to_owned()),
            (
                "acme/model#43".to_owned(),
                "corrective_action_ticket".to_owned()
            ),
        ]
    );
    let first = sink.drafts().next().unwrap();
    let roles: Vec<_> = first
        .actors
        .iter()
        .map(|a| (a.role.as_str(), a.name.as_str()))
        .collect();
    assert!(roles.contains(&("reporter", "ops")) && roles.contains(&("responder", "ben")));
    assert!(roles.contains(&("resolver", "ana")));
    let artefact: Value = serde_json::from_slice(&sink.items[0].2).unwrap();
    assert_eq!(artefact["issue"]["number"], 40);
    assert_eq!(artefact["timeline"].as_array().unwrap().len(), 2);

    let (again, r) = collect(&c, &mut cursor).await;
    r.unwrap();
    assert!(
        again.items.is_empty(),
        "{:?}",
        again.drafts().map(|d| &d.reference).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn releases_are_deployment_records_and_drafts_are_left_out() {
    let mut repo = RepoSpec::new("model");
    repo.releases = vec![
        ReleaseSpec {
            id: 1,
            tag: "v1.0".into(),
            author: "ana".into(),
            published_at: "2026-03-01T00:00:00Z".into(),
            draft: false,
        },
        ReleaseSpec {
            id: 2,
            tag: "v1.1".into(),
            author: "ben".into(),
            published_at: "2026-03-08T00:00:00Z".into(),
            draft: false,
        },
        ReleaseSpec {
            id: 3,
            tag: "v2.0".into(),
            author: "ben".into(),
            published_at: "2026-03-09T00:00:00Z".into(),
            draft: true,
        },
    ];
    let fake = FakeGithub::new("acme", vec![repo]);
    let server = serve(&fake).await;
    let c = connector(
        &server.uri(),
        "[pulls]\nenabled = false\n[protection]\nenabled = false",
    );
    let (sink, r) = collect(&c, &mut Cursor::default()).await;
    r.unwrap();
    let refs: Vec<_> = sink.drafts().map(|d| d.reference.clone()).collect();
    assert_eq!(refs, ["acme/model@v1.1", "acme/model@v1.0"]);
    assert!(
        sink.drafts()
            .all(|d| d.kind.as_str() == "deployment_record")
    );
    assert_eq!(sink.populations[0].attributes["skipped_draft"], 1);
}

#[tokio::test]
async fn branch_protection_is_one_item_per_repository_and_an_unprotected_branch_says_so() {
    let mut unprotected = RepoSpec::new("model");
    unprotected.protected = false;
    let fake = FakeGithub::new("acme", vec![unprotected]);
    let server = serve(&fake).await;
    let c = connector(
        &server.uri(),
        "[pulls]\nenabled = false\n[releases]\nenabled = false",
    );
    let mut cursor = Cursor::default();
    let (sink, r) = collect(&c, &mut cursor).await;
    r.unwrap();
    assert_eq!(sink.items.len(), 1);
    let (_, d, bytes) = &sink.items[0];
    assert_eq!(d.kind.as_str(), "branch_protection");
    assert_eq!(d.attributes["protected"], false);
    let artefact: Value = serde_json::from_slice(bytes).unwrap();
    assert_eq!(artefact["protection_status"], 404);
    assert_eq!(artefact["protection"]["message"], "Branch not protected");

    fake.repos.lock().unwrap()[0].protected = true;
    let (sink, r) = collect(&c, &mut cursor).await;
    r.unwrap();
    let d = sink.drafts().next().unwrap();
    assert_eq!(d.attributes["protected"], true);
    assert_eq!(d.attributes["required_checks"], serde_json::json!(["test"]));
    assert_eq!(d.attributes["dismiss_stale_reviews"], true);
}

/// A proxy in front of `upstream` that resets the connection of the first `times` requests
/// whose request line contains `matching`, and forwards every other request.
async fn resetting_proxy(
    upstream: std::net::SocketAddr,
    matching: &'static str,
    times: u32,
) -> (String, Arc<AtomicU32>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let resets = Arc::new(AtomicU32::new(0));
    let counter = resets.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                return;
            };
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match client.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&head).into_owned();
                let first_line = text.lines().next().unwrap_or("").to_owned();
                if first_line.contains(matching) && counter.load(Ordering::SeqCst) < times {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let _ = client.set_zero_linger();
                    drop(client);
                    return;
                }
                // One request per connection: ask the upstream to close after answering.
                let rewritten = text.replacen("\r\n", "\r\nconnection: close\r\n", 1);
                let Ok(mut up) = tokio::net::TcpStream::connect(upstream).await else {
                    return;
                };
                if up.write_all(rewritten.as_bytes()).await.is_err() {
                    return;
                }
                let mut answer = Vec::new();
                let _ = up.read_to_end(&mut answer).await;
                let _ = client.write_all(&answer).await;
                let _ = client.shutdown().await;
            });
        }
    });
    (format!("http://{addr}"), resets)
}

#[tokio::test]
async fn a_connection_reset_in_the_middle_of_pagination_is_retried_and_the_walk_completes() {
    let mut repo = RepoSpec::new("model");
    repo.pulls = (1..=6)
        .map(|n| PullSpec::merged(n, "ana", "ben", &format!("2026-03-0{n}T10:00:00Z")))
        .collect();
    let fake = FakeGithub::new("acme", vec![repo]);
    let server = serve(&fake).await;
    let (proxy, resets) = resetting_proxy(*server.address(), "page=2", 1).await;
    *fake.base.lock().unwrap() = proxy.clone();
    let c = connector(
        &proxy,
        "[protection]\nenabled = false\n[releases]\nenabled = false",
    );
    let (sink, r) = collect(&c, &mut Cursor::default()).await;
    r.unwrap();
    assert_eq!(
        resets.load(Ordering::SeqCst),
        1,
        "the second page's first request was reset"
    );
    assert_eq!(sink.items.len(), 6);
    assert!(sink.gaps.is_empty(), "{:?}", sink.gaps);
    assert!(sink.populations[0].complete);
}

#[tokio::test]
async fn runs_without_path_are_matched_by_workflow_id_and_other_workflows_are_counted() {
    // As the API sent runs in 2020 and GitHub Enterprise Server still may: no `path`, `name`
    // or `run_attempt`; the workflow is only known by `workflow_id`.
    let mut repo = RepoSpec::new("model");
    repo.runs = vec![
        training_run(101, "2026-03-01T00:00:00Z", "completed"),
        RunSpec {
            path: ".github/workflows/docs.yml".into(),
            ..training_run(103, "2026-03-03T00:00:00Z", "completed")
        },
    ];
    let mut fake = FakeGithub::new("acme", vec![repo]);
    fake.legacy_runs = true;
    let blobs = serve(&fake.clone()).await;
    *fake.blob_base.lock().unwrap() = blobs.uri();
    let server = serve(&fake).await;
    *fake.blob_base.lock().unwrap() = blobs.uri();
    let c = connector(
        &server.uri(),
        &format!("{ONLY}\n[[workflow]]\nfile = \"train.yml\"\nkind = \"training_run\""),
    );
    let mut cursor = Cursor::default();
    let (sink, r) = collect(&c, &mut cursor).await;
    r.unwrap();
    assert!(sink.gaps.is_empty(), "{:?}", sink.gaps);
    let refs: Vec<_> = sink.drafts().map(|d| d.reference.clone()).collect();
    assert_eq!(
        refs,
        [
            "acme/model/actions/runs/101",
            "acme/model/actions/runs/101/artifacts/metrics",
            "acme/model/actions/runs/101/logs"
        ]
    );
    let p = &sink.populations[0];
    assert!(p.complete);
    assert_eq!(p.items_skipped, 1);
    assert_eq!(p.skipped["other_workflow"], 1);

    // When the workflow cannot be identified, the runs are counted as skipped and the record
    // does not say complete.
    let mut fake = FakeGithub::new(
        "acme",
        vec![{
            let mut repo = RepoSpec::new("model");
            repo.runs = vec![training_run(201, "2026-03-05T00:00:00Z", "completed")];
            repo
        }],
    );
    fake.legacy_runs = true;
    fake.fault(
        "/actions/workflows/",
        100,
        FaultAction::Status(
            403,
            vec![],
            "{\"message\":\"Resource not accessible\"}".into(),
        ),
    );
    let server = serve(&fake).await;
    let c = connector(
        &server.uri(),
        &format!("{ONLY}\n[[workflow]]\nfile = \"train.yml\"\nkind = \"training_run\""),
    );
    let (sink, r) = collect(&c, &mut Cursor::default()).await;
    r.unwrap();
    assert!(sink.items.is_empty());
    let p = &sink.populations[0];
    assert!(!p.complete, "{p:?}");
    assert_eq!(p.skipped["workflow_unresolved"], 1);
    assert_eq!(sink.gaps.len(), 1);
    assert!(
        sink.gaps[0].message.contains("no `path`"),
        "{}",
        sink.gaps[0].message
    );
}
