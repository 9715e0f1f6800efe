//! The fault matrix: every secondary GitHub endpoint a merged pull request needs answers 403,
//! 404, 500 (every retry) and a cut-off body (every retry), and the primary pull request answers
//! a field of the wrong type. The rule checked in every case: each merged pull request is
//! either sealed or named by a gap — nothing is lost silently — and a degraded run records at
//! least one gap (so `collect` exits 1). The cases passed of cases run are printed.
#![allow(clippy::unwrap_used)] // Test helpers fail loudly.

mod github_support;

use evidence_connectors::connector::{CollectContext, NoProgress};
use evidence_connectors::github::{GithubConfig, GithubConnector};
use evidence_connectors::testing::MemorySink;
use evidence_connectors::{Connector, Cursor, Secret};
use github_support::*;
use tokio_util::sync::CancellationToken;

/// The merged pull requests of the repository (1–4); 5 is closed without merging.
const MERGED: [u64; 4] = [1, 2, 3, 4];

fn repo() -> RepoSpec {
    let mut repo = RepoSpec::new("model");
    let mut pulls: Vec<PullSpec> = MERGED
        .iter()
        .map(|n| PullSpec::merged(*n, "ana", "ben", &format!("2026-03-0{n}T10:00:00Z")))
        .collect();
    let mut closed = PullSpec::merged(5, "eve", "ben", "2026-03-05T10:00:00Z");
    closed.merged_at = None;
    pulls.push(closed);
    repo.pulls = pulls;
    repo
}

fn connector(uri: &str) -> GithubConnector {
    // The REST walk, whose per-pull-request endpoints this matrix breaks one by one; the
    // GraphQL backfill's faults are in `github_graphql.rs`.
    let text = format!(
        "api_url = \"{uri}\"\napi = \"rest\"\nrepos = [\"acme/model\"]\nper_page = 2\n[releases]\nenabled = false\n[retry]\nmax_attempts = 3\nbase_delay_ms = 1\nmax_delay_secs = 1\ntimeout_secs = 2\n"
    );
    let config: GithubConfig = toml::from_str(&text).unwrap();
    GithubConnector::new("gh".parse().unwrap(), &config)
        .unwrap()
        .with_token(Secret::new("ghp_TESTTOKEN0123456789abcdefghijklmnopq"))
}

/// What a case must show beyond "nothing lost".
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// A degradation: at least one gap is recorded (so `collect` exits 1).
    Gap,
    /// An answer, not a failure (a 404 from `/protection`: the branch is not protected).
    Answer,
}

/// Run one case; `Err` says what was lost.
async fn case(fault: &str, action: FaultAction, expect: Expect) -> Result<(), String> {
    let fake = FakeGithub::new("acme", vec![repo()]);
    fake.fault(fault, 1000, action);
    let server = serve(&fake).await;
    let c = connector(&server.uri());
    let mut sink = MemorySink::new("gh", "2026-04-01T00:00:00Z".parse().unwrap());
    let ctx = CollectContext {
        shutdown: CancellationToken::new(),
        progress: &NoProgress,
        agent: "evidence-agent test".into(),
    };
    c.collect(&mut Cursor::default(), &mut sink, &ctx)
        .await
        .map_err(|e| format!("the run failed: {e}"))?;
    let mut lost = Vec::new();
    for n in MERGED {
        let reference = format!("acme/model#{n}");
        let sealed = sink
            .drafts()
            .any(|d| d.reference == reference && d.kind.as_str() == "pr_approval");
        let named = sink
            .gaps
            .iter()
            .any(|g| g.scope.contains(&reference) || g.message.contains(&reference));
        if !sealed && !named {
            lost.push(reference);
        }
    }
    if !lost.is_empty() {
        return Err(format!("lost without a gap: {lost:?}"));
    }
    let protection = sink
        .drafts()
        .any(|d| d.kind.as_str() == "branch_protection");
    let protection_gap = sink.gaps.iter().any(|g| {
        g.scope.contains("protection")
            || g.scope.contains("rules")
            || g.message.contains("protection")
            || g.message.contains("rules")
    });
    if !protection && !protection_gap {
        return Err("the branch protection evidence is lost without a gap".into());
    }
    match expect {
        Expect::Gap if sink.gaps.is_empty() => {
            Err("degraded, yet no gap recorded (collect would exit 0)".into())
        }
        Expect::Answer if !sink.gaps.is_empty() => Err(format!(
            "an answer was recorded as a gap: {:?}",
            sink.gaps.iter().map(|g| &g.scope).collect::<Vec<_>>()
        )),
        _ => Ok(()),
    }
}

#[tokio::test]
async fn every_fault_of_every_endpoint_seals_or_names_each_merged_pull_request() {
    let secondary = [
        "/check-runs",
        "/status",
        "/rules/branches/",
        "/branches/main/protection",
        "/pulls/2/reviews",
    ];
    let mut run = 0;
    let mut failures = Vec::new();
    for endpoint in secondary {
        // A 404 from the protection or rules endpoints means "none": evidence, not a failure.
        let not_found = if endpoint.contains("protection") || endpoint.contains("rules") {
            Expect::Answer
        } else {
            Expect::Gap
        };
        let actions = [
            (
                "403",
                FaultAction::Status(
                    403,
                    vec![],
                    r#"{"message":"Resource not accessible by integration"}"#.into(),
                ),
                Expect::Gap,
            ),
            (
                "404",
                FaultAction::Status(404, vec![], r#"{"message":"Not Found"}"#.into()),
                not_found,
            ),
            (
                "500",
                FaultAction::Status(500, vec![], "{}".into()),
                Expect::Gap,
            ),
            ("cut-off body", FaultAction::Truncate, Expect::Gap),
        ];
        for (name, action, expect) in actions {
            run += 1;
            if let Err(e) = case(endpoint, action, expect).await {
                failures.push(format!("{endpoint} answering {name}: {e}"));
            }
        }
    }
    // The primaries answering a field of the wrong type: the pull request's title is a number
    // (sealed from its raw JSON), and its reviews are an object where a list belongs (a gap
    // naming the pull request, never "no approval").
    let fake = FakeGithub::new("acme", vec![repo()]);
    let r = repo();
    let mut wrong = fake.pull_json(&r, &r.pulls[2]);
    wrong["title"] = serde_json::json!(1);
    for (name, fault, body, expect) in [
        (
            "pull 3 answering a number for its title",
            "/pulls/3$",
            wrong.to_string(),
            None,
        ),
        (
            "the reviews of pull 3 answering an object",
            "/pulls/3/reviews$",
            r#"{"message":"not a list"}"#.to_owned(),
            Some(Expect::Gap),
        ),
    ] {
        run += 1;
        let action = FaultAction::Status(200, vec![], body);
        let outcome = match expect {
            Some(expect) => case(fault, action, expect).await,
            None => case(fault, action, Expect::Answer).await,
        };
        if let Err(e) = outcome {
            failures.push(format!("{name}: {e}"));
        }
    }
    println!(
        "fault matrix: {} of {run} cases passed",
        run - failures.len()
    );
    assert!(failures.is_empty(), "{failures:#?}");
}
