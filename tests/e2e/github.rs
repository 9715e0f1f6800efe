//! GitHub end to end: `evidence-agent collect` against a fake GitHub (schema-checked answers
//! from GitHub's OpenAPI examples), then `evidence-auditor verify` on the archive; a second run
//! with nothing changed asks only conditionally; the token never reaches the bundle or output.

#![allow(clippy::unwrap_used)]

use std::process::Output;
use std::sync::atomic::Ordering;

use crate::github_support::*;
use evidence_tests::{Sandbox, cmd, json, run, text, zip_of};

const TOKEN: &str = "ghp_E2ESECRET0123456789abcdefghijklmnop";

fn model_org() -> FakeGithub {
    let mut repo = RepoSpec::new("model");
    let mut stale = PullSpec::merged(2, "ana", "ben", "2026-03-02T10:00:00Z");
    stale.reviews[0].commit_id = "0".repeat(40);
    repo.pulls = vec![
        PullSpec::merged(1, "ana", "ben", "2026-03-01T10:00:00Z"),
        stale,
        PullSpec::merged(3, "cy", "cy", "2026-03-03T10:00:00Z"),
    ];
    repo.cards.insert(
        "MODEL_CARD.md".into(),
        "---\ntitle: Claims triage model\nauthors: [Ana Ortiz]\n---\n# Model card\n".into(),
    );
    repo.runs = vec![RunSpec {
        id: 101,
        path: ".github/workflows/train.yml".into(),
        status: "completed".into(),
        conclusion: Some("success".into()),
        created_at: "2026-03-01T00:00:00Z".into(),
        artifacts: vec![ArtifactSpec {
            id: 1010,
            name: "model-metrics".into(),
            blob: Blob::Bytes(zip_of(&[("metrics.json", b"{\"auc\": 0.91}")])),
            digest: None,
        }],
        logs: Blob::Bytes(zip_of(&[("train/1_train.txt", b"epoch 1 loss=0.4\n")])),
    }];
    repo.releases = vec![ReleaseSpec {
        id: 7,
        tag: "v1.0".into(),
        author: "ana".into(),
        published_at: "2026-03-04T00:00:00Z".into(),
        draft: false,
    }];
    FakeGithub::new("acme", vec![repo])
}

fn config(api_url: &str) -> String {
    format!(
        r#"
[archive]
path = "evidence"
origin = "example.org/ai"

[[source]]
type = "github"
name = "github"
api_url = "{api_url}"
repos = ["acme/model"]
token_env = "E2E_GITHUB_TOKEN"

[source.retry]
base_delay_ms = 10
max_delay_secs = 2

[[source.workflow]]
file = "train.yml"
kind = "training_run"

[[source.card]]
path = "MODEL_CARD.md"
"#
    )
}

fn collect(sandbox: &Sandbox) -> Output {
    run(cmd("evidence-agent")
        .args(["collect", "--json", "--config"])
        .arg(sandbox.config())
        .env("E2E_GITHUB_TOKEN", TOKEN))
}

/// Every entry of every bundle, uncompressed, as one byte string.
fn bundle_contents(sandbox: &Sandbox) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(sandbox.archive()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "zip") {
            let out = run(std::process::Command::new("unzip").arg("-p").arg(&path));
            assert!(out.status.success(), "{}", text(&out));
            all.extend_from_slice(&out.stdout);
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn github_evidence_is_collected_sealed_and_verified_and_a_second_run_only_revalidates() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let fake = model_org();
    let server = rt.block_on(serve(&fake));
    let sandbox = Sandbox::empty();
    sandbox.write("agent.toml", config(&server.uri()));

    let first = collect(&sandbox);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let summary = json(&first);
    // 3 pull requests, protection, the run with its artifact and logs, the card, the release.
    assert_eq!(summary["items"], 9, "{summary}");
    assert_eq!(summary["sources"][0]["status"], "ok");

    let verified = sandbox.verify();
    assert_eq!(verified.status.code(), Some(0), "{}", text(&verified));
    assert_eq!(json(&verified)["valid"], true);

    let contents = bundle_contents(&sandbox);
    assert!(
        contains(&contents, "\"stale_approvals\""),
        "the derived facts are sealed"
    );
    assert!(
        contains(&contents, "evidence-population/1"),
        "population records are sealed"
    );
    assert!(
        !contains(&contents, TOKEN),
        "the token is not in the bundle"
    );
    assert!(!contains(&first.stdout, TOKEN) && !contains(&first.stderr, TOKEN));

    // Nothing changed: every request of the second run is conditional and answered 304.
    let before = fake.counters.requests.load(Ordering::Relaxed);
    let not_modified_before = fake.counters.not_modified.load(Ordering::Relaxed);
    let second = collect(&sandbox);
    assert_eq!(second.status.code(), Some(0), "{}", text(&second));
    assert_eq!(json(&second)["items"], 0);
    let asked = fake.counters.requests.load(Ordering::Relaxed) - before;
    let unchanged = fake.counters.not_modified.load(Ordering::Relaxed) - not_modified_before;
    assert!(asked > 0);
    assert_eq!(
        asked, unchanged,
        "{asked} requests, {unchanged} answered 304"
    );
    let verified = sandbox.verify();
    assert_eq!(verified.status.code(), Some(0), "{}", text(&verified));
    assert!(!contains(&bundle_contents(&sandbox), TOKEN));

    // The token reached GitHub, and only in the Authorization header.
    let requests = rt.block_on(server.received_requests()).unwrap();
    assert!(
        requests
            .iter()
            .filter(|r| !r.url.path().starts_with("/blobs/"))
            .all(|r| r.headers["authorization"] == format!("Bearer {TOKEN}").as_str())
    );
}

#[test]
fn a_missing_token_variable_fails_the_source_with_a_gap_naming_the_variable_not_a_value() {
    let sandbox = Sandbox::empty();
    sandbox.write("agent.toml", config("http://127.0.0.1:9"));
    let out = run(cmd("evidence-agent")
        .args(["collect", "--json", "--config"])
        .arg(sandbox.config())
        .env_remove("E2E_GITHUB_TOKEN"));
    assert_eq!(
        out.status.code(),
        Some(1),
        "a gap, not a usage error: {}",
        text(&out)
    );
    let summary = json(&out);
    let error = summary["sources"][0]["error"].as_str().unwrap();
    assert!(error.contains("E2E_GITHUB_TOKEN"), "{error}");
    let help = run(cmd("evidence-agent")
        .args(["collect", "--help"])
        .env("E2E_GITHUB_TOKEN", TOKEN));
    assert!(!contains(&help.stdout, TOKEN));
}

#[test]
fn a_github_app_signs_a_jwt_mints_an_installation_token_once_and_collects_with_it() {
    use base64::Engine;
    const INSTALLATION_TOKEN: &str = "ghs_E2EINSTALLATION0123456789abcdefghij";

    // An App private key as GitHub issues them (PKCS#1 PEM), and its public half.
    let keys = tempfile::tempdir().unwrap();
    let private = keys.path().join("app.pem");
    let public = keys.path().join("app.pub.pem");
    for args in [
        vec![
            "genrsa",
            "-traditional",
            "-out",
            private.to_str().unwrap(),
            "2048",
        ],
        vec![
            "rsa",
            "-in",
            private.to_str().unwrap(),
            "-pubout",
            "-out",
            public.to_str().unwrap(),
        ],
    ] {
        let o = run(std::process::Command::new("openssl").args(&args));
        assert!(o.status.success(), "{}", text(&o));
    }
    let pem = std::fs::read_to_string(&private).unwrap();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let fake = model_org();
    let server = rt.block_on(serve(&fake));
    let mut minted = example("installation-token");
    set(&mut minted, "token", INSTALLATION_TOKEN.into());
    set(&mut minted, "expires_at", "2099-01-01T00:00:00Z".into());
    validate_schema("installation-token", &minted).unwrap();
    rt.block_on(
        wiremock::Mock::given(wiremock::matchers::method("POST"))
            .and(wiremock::matchers::path(
                "/app/installations/4242/access_tokens",
            ))
            .respond_with(wiremock::ResponseTemplate::new(201).set_body_json(minted))
            .with_priority(1)
            .mount(&server),
    );

    let sandbox = Sandbox::empty();
    sandbox.write(
        "agent.toml",
        config(&server.uri()).replace(
            "token_env = \"E2E_GITHUB_TOKEN\"\n",
            "[source.app]\napp_id = 123\ninstallation_id = 4242\nprivate_key_env = \"E2E_GITHUB_APP_KEY\"\n",
        ),
    );
    let collected = run(cmd("evidence-agent")
        .args(["collect", "--json", "--config"])
        .arg(sandbox.config())
        .env_remove("E2E_GITHUB_TOKEN")
        .env("E2E_GITHUB_APP_KEY", &pem));
    assert_eq!(collected.status.code(), Some(0), "{}", text(&collected));
    assert_eq!(json(&collected)["items"], 9);
    let verified = sandbox.verify();
    assert_eq!(verified.status.code(), Some(0), "{}", text(&verified));

    // One token minted for the whole run, with a JWT signed by the App's key.
    let requests = rt.block_on(server.received_requests()).unwrap();
    let mints: Vec<_> = requests
        .iter()
        .filter(|r| r.url.path().starts_with("/app/"))
        .collect();
    assert_eq!(mints.len(), 1, "the installation token is cached");
    let bearer = mints[0].headers["authorization"].to_str().unwrap();
    let jwt = bearer.strip_prefix("Bearer ").unwrap();
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "{jwt}");
    let decode = |s: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .unwrap()
    };
    let header: serde_json::Value = serde_json::from_slice(&decode(parts[0])).unwrap();
    assert_eq!(header["alg"], "RS256");
    let claims: serde_json::Value = serde_json::from_slice(&decode(parts[1])).unwrap();
    assert!(claims["iss"] == 123 || claims["iss"] == "123", "{claims}");
    let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert!(
        (1..=600).contains(&lifetime),
        "GitHub accepts JWTs of at most 10 minutes: {claims}"
    );
    // openssl checks the signature over `header.claims` with the App's public key.
    let signed = keys.path().join("signed");
    let signature = keys.path().join("signature");
    std::fs::write(&signed, format!("{}.{}", parts[0], parts[1])).unwrap();
    std::fs::write(&signature, decode(parts[2])).unwrap();
    let o = run(std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(&public)
        .arg("-signature")
        .arg(&signature)
        .arg(&signed));
    assert!(o.status.success(), "{}", text(&o));

    // Every API request carries the installation token; neither secret leaks.
    let api: Vec<_> = requests
        .iter()
        .filter(|r| !r.url.path().starts_with("/blobs/") && !r.url.path().starts_with("/app/"))
        .collect();
    assert!(api.len() > 5, "{} API requests", api.len());
    assert!(
        api.iter()
            .all(|r| r.headers["authorization"] == format!("Bearer {INSTALLATION_TOKEN}").as_str())
    );
    let contents = bundle_contents(&sandbox);
    let key_line = pem.lines().nth(1).unwrap();
    for secret in [INSTALLATION_TOKEN, key_line, jwt] {
        assert!(!contains(&contents, secret));
        assert!(!contains(&collected.stdout, secret) && !contains(&collected.stderr, secret));
    }
}

#[test]
fn a_token_without_the_checks_permission_still_seals_every_approval_and_collect_exits_1() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let fake = model_org();
    fake.fault(
        "/check-runs",
        1000,
        FaultAction::Status(
            403,
            vec![],
            "{\"message\":\"Resource not accessible by personal access token\"}".into(),
        ),
    );
    let server = rt.block_on(serve(&fake));
    let sandbox = Sandbox::empty();
    // The REST walk, whose /check-runs the token may not read. Through GraphQL the same
    // refusal is a partial error on the rollup (`github_graphql.rs`,
    // `an_unreadable_rollup_seals_the_pull_request_with_its_checks_unavailable`).
    let rest = config(&server.uri()).replace(
        "token_env = \"E2E_GITHUB_TOKEN\"",
        "token_env = \"E2E_GITHUB_TOKEN\"\napi = \"rest\"",
    );
    sandbox.write("agent.toml", rest);

    let out = collect(&sandbox);
    assert_eq!(out.status.code(), Some(1), "degraded: {}", text(&out));
    let summary = json(&out);
    assert_eq!(summary["items"], 9, "nothing is lost: {summary}");
    let verified = sandbox.verify();
    assert_eq!(verified.status.code(), Some(0), "{}", text(&verified));
    let contents = bundle_contents(&sandbox);
    assert!(contains(&contents, "unavailable: /check-runs"));
    assert!(contains(&contents, "acme/model (check-runs)"));
}
