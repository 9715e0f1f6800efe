//! Redaction end to end: secrets and personal data planted in every connector's artefacts (local
//! files, S3 objects, GitHub workflow logs and artifacts, Jira summaries, descriptions and
//! comments, MLflow params and artifacts) never reach the archive. Every byte of every bundle
//! is scanned (zip entries inflated, zips inside them too), and an outside scanner
//! (`detect-secrets`) finds the planted secrets in the inputs and nothing in the bundles.

#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::path::Path;

use crate::github_support::*;
use evidence_tests::mlflow_server::{MlflowServer, RunSpec as MlflowRun};
use evidence_tests::mock_jira::{self, MockJira};
use evidence_tests::s3_server::S3Server;
use evidence_tests::{Sandbox, cmd, json, run, text, venv_tool, zip_of};
use serde_json::Value;

const EPOCH: u64 = 1_775_000_000;
const GITHUB_TOKEN_ENV: &str = "E2E_GITHUB_TOKEN";
const GITHUB_TOKEN: &str = "ghp_E2ECREDENTIAL0123456789abcdefghijklm";

/// The planted values: (rule expected to catch it, line that carries it, the value itself).
fn planted() -> Vec<(&'static str, String, String)> {
    let gh = "ghp_A1b2C3d4E5A1b2C3d4E5A1b2C3d4E5A1b2C3".to_owned();
    let aws = "AKIAIOSFODNN7PLANTED".to_owned();
    let slack = "xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx".to_owned();
    let stripe = "sk_live_4eC39HqLyjWDarjtT1zdp7dc".to_owned();
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U".to_owned();
    let pem_body = "MIIEpAIBAAKCAQEAplantedkeymaterialZZZ".to_owned();
    vec![
        ("github-token", format!("export GH_TOKEN={gh}"), gh),
        (
            "aws-access-key-id",
            format!("aws_access_key_id = {aws}"),
            aws,
        ),
        ("slack-token", format!("SLACK_BOT={slack}"), slack),
        ("stripe-key", format!("stripe key {stripe}"), stripe),
        ("jwt", format!("Authorization: Bearer {jwt}"), jwt),
        (
            "private-key",
            format!("-----BEGIN RSA PRIVATE KEY-----\n{pem_body}\n-----END RSA PRIVATE KEY-----"),
            pem_body,
        ),
        (
            "url-credentials",
            "git clone https://bot:hunter2planted@git.example.com/repo".to_owned(),
            "hunter2planted".to_owned(),
        ),
        (
            "password-assignment",
            "db password=Sup3rPl4nted! retry".to_owned(),
            "Sup3rPl4nted!".to_owned(),
        ),
        (
            "email",
            "reported by jane.planted@customer.example".to_owned(),
            "jane.planted@customer.example".to_owned(),
        ),
        (
            "phone",
            "call +44 20 7946 0958 please".to_owned(),
            "+44 20 7946 0958".to_owned(),
        ),
        (
            "iban",
            "refund to GB82 WEST 1234 5698 7654 32 today".to_owned(),
            "GB82 WEST 1234 5698 7654 32".to_owned(),
        ),
        (
            "payment-card",
            "card 4111 1111 1111 1111 exp 12/29".to_owned(),
            "4111 1111 1111 1111".to_owned(),
        ),
        (
            "ipv4",
            "request from 203.0.113.77 blocked".to_owned(),
            "203.0.113.77".to_owned(),
        ),
    ]
}

/// A log carrying every planted value, one per line, between ordinary lines.
fn planted_log(what: &str) -> String {
    let mut log = format!("{what}: training started\n");
    for (_, line, _) in planted() {
        log.push_str(&format!("2026-03-01T10:00:00Z INFO {line}\n"));
    }
    log.push_str("epoch 3 val_auc=0.91\n");
    log
}

fn github_org() -> FakeGithub {
    let mut repo = RepoSpec::new("model");
    let log = planted_log("github");
    let metrics = format!(
        "{{\"auc\": 0.91, \"note\": \"{}\"}}",
        planted()[0].1.replace('"', "'")
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
            blob: Blob::Bytes(zip_of(&[("metrics.json", metrics.as_bytes())])),
            digest: None,
        }],
        logs: Blob::Bytes(zip_of(&[
            ("train/1_Set up job.txt", b"Runner version 2.320\n"),
            ("train/2_Train.txt", log.as_bytes()),
        ])),
    }];
    repo.protected = false;
    FakeGithub::new("acme", vec![repo])
}

struct Servers {
    github: wiremock::MockServer,
    jira: MockJira,
    mlflow: MlflowServer,
    s3: S3Server,
}

async fn start_servers() -> Servers {
    let github = serve(&github_org()).await;

    let jira = MockJira::start().await;
    let (gh_rule, gh_line, _) = &planted()[0];
    assert_eq!(*gh_rule, "github-token");
    jira.upsert(
        "AIOPS-1",
        &format!("Leaked token in CI: {gh_line}"),
        "2026-03-01T10:00:00Z".parse().unwrap(),
    );
    let comment = planted_log("jira comment");
    jira.set_text("AIOPS-1", &planted_log("jira description"), &[&comment]);

    let mlflow = MlflowServer::start().await;
    let exp = mlflow.experiment("claims-triage").await;
    let log = planted_log("mlflow");
    let (_, aws_line, _) = &planted()[1];
    mlflow
        .run(MlflowRun {
            experiment_id: &exp,
            name: "train-2026-03-20",
            user: "jane.planted@customer.example",
            start_ms: 1_774_000_000_000,
            end_ms: Some(1_774_000_600_000),
            params: vec![("data_source", aws_line.as_str())],
            metrics: vec![("val_auc", 0.91, 0)],
            artifacts: vec![("logs/train.log", log.as_bytes())],
        })
        .await;

    let s3 = S3Server::start(&["ml-logs"]);
    let object = planted_log("s3");
    s3.seed_file("ml-logs", "runs/train-2026-03-20.log", |f| {
        f.write_all(object.as_bytes()).unwrap()
    });
    Servers {
        github,
        jira,
        mlflow,
        s3,
    }
}

fn config(servers: &Servers) -> String {
    let personal = "\n[source.redact]\npersonal = true\n";
    let jira = servers.jira.source_toml("tickets").replace(
        "page_size = 2\n",
        "page_size = 2\nextra_fields = [\"comment\"]\n",
    );
    format!(
        r#"
[archive]
path = "evidence"
origin = "example.org/ai"

[[source]]
type = "local"
name = "workspace"
path = "workspace"
{personal}
[[source.rule]]
glob = "**/*.log"
kind = "training_run"

[[source.rule]]
glob = "**/*.json"
kind = "training_run"

[[source.rule]]
glob = "**/*.bin"
kind = "training_run"

[[source]]
type = "s3"
name = "ml-logs"
bucket = "ml-logs"
endpoint_url = "{s3}"
{personal}
[[source.rule]]
glob = "runs/*.log"
kind = "training_run"

[[source]]
type = "github"
name = "github"
api_url = "{github}"
repos = ["acme/model"]
token_env = "{GITHUB_TOKEN_ENV}"
{personal}
[source.retry]
base_delay_ms = 10
max_delay_secs = 2

[source.pulls]
enabled = false

[source.protection]
enabled = false

[source.releases]
enabled = false

[[source.workflow]]
file = "train.yml"
kind = "training_run"

[[source]]
type = "mlflow"
name = "mlflow"
tracking_uri = "{mlflow}"
{personal}
[[source.artifact]]
glob = "**/*.log"
kind = "training_run"
{jira}{personal}pseudonymise_actors = true
"#,
        s3 = servers.s3.endpoint,
        github = servers.github.uri(),
        mlflow = servers.mlflow.url,
    )
}

/// Every byte an archive holds: each bundle as stored, each entry inflated, and the entries of
/// any zip inside (workflow logs and artifacts are zips).
fn archive_bytes(archive: &Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(archive).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            if path.extension().is_some_and(|e| e == "zip") {
                zip_entries(&bytes, &mut out);
            }
            out.push(bytes);
        }
    }
    out
}

fn zip_entries(bytes: &[u8], out: &mut Vec<Vec<u8>>) {
    let Ok(mut zip) = zip::ZipArchive::new(std::io::Cursor::new(bytes)) else {
        return;
    };
    for i in 0..zip.len() {
        let mut body = Vec::new();
        zip.by_index(i).unwrap().read_to_end(&mut body).unwrap();
        zip_entries(&body, out);
        out.push(body);
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// `detect-secrets scan` of `dir`: the files it reports, with the secret types found in each.
/// Entropy plugins are off (the archive is full of SHA-256 digests by design) and our own
/// placeholders are not secrets.
fn detect_secrets(dir: &Path) -> Vec<(String, String)> {
    let o = run(std::process::Command::new(venv_tool("detect-secrets"))
        .current_dir(dir)
        .args([
            "scan",
            "--all-files",
            "--disable-plugin",
            "HexHighEntropyString",
            "--disable-plugin",
            "Base64HighEntropyString",
            "--exclude-secrets",
            r"\[REDACTED:",
        ]));
    assert!(o.status.success(), "{}", text(&o));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    let mut found = Vec::new();
    for (file, secrets) in report["results"].as_object().unwrap() {
        for s in secrets.as_array().unwrap() {
            found.push((file.clone(), s["type"].as_str().unwrap().to_owned()));
        }
    }
    found
}

fn unzip_all(archive: &Path, into: &Path) {
    for entry in std::fs::read_dir(archive).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "zip") {
            let o = run(std::process::Command::new("unzip")
                .arg("-q")
                .arg(&path)
                .arg("-d")
                .arg(into));
            assert!(o.status.success(), "{}", text(&o));
        }
    }
    // The workflow logs and artifacts are zips inside the bundle: open them too.
    for entry in walk(into) {
        if entry.extension().is_some_and(|e| e == "zip") {
            let target = entry.with_extension("unzipped");
            let o = run(std::process::Command::new("unzip")
                .arg("-q")
                .arg(&entry)
                .arg("-d")
                .arg(&target));
            assert!(o.status.success(), "{}", text(&o));
        }
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn item_metas(unzipped: &Path) -> Vec<(std::path::PathBuf, Value)> {
    walk(unzipped)
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "metadata.json"))
        .map(|p| {
            let meta = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            (p, meta)
        })
        .collect()
}

#[test]
fn planted_secrets_and_personal_data_never_reach_the_archive() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let servers = rt.block_on(start_servers());
    let s = Sandbox::empty();
    s.write("agent.toml", config(&servers));
    s.write("workspace/logs/train.log", planted_log("local"));
    let (_, slack_line, _) = &planted()[2];
    s.write(
        "workspace/config/run.json",
        serde_json::to_vec_pretty(&serde_json::json!({
            "name": "train", "notify": slack_line, "owner": "jane.planted@customer.example"
        }))
        .unwrap(),
    );
    s.write("workspace/weights.bin", [0u8, 159, 146, 150, 1, 2, 3]);

    let mut c = cmd("evidence-agent");
    c.args(["collect", "--json", "--config"])
        .arg(s.config())
        .env("SOURCE_DATE_EPOCH", EPOCH.to_string())
        .env(GITHUB_TOKEN_ENV, GITHUB_TOKEN)
        .envs(servers.s3.env());
    mock_jira::credentials(&mut c);
    let o = run(&mut c);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let summary = json(&o);
    for source in summary["sources"].as_array().unwrap() {
        assert_eq!(source["status"], "ok", "{source:#}");
        assert!(
            source["redaction"]["replaced"].as_u64().unwrap() > 0,
            "every source had planted values: {source:#}"
        );
        assert_eq!(source["redaction"]["personal"], true);
    }
    let v = s.verify();
    assert_eq!(v.status.code(), Some(0), "{}", text(&v));

    // No planted value anywhere in the archive, in any form it stores bytes.
    let blobs = archive_bytes(&s.archive());
    for (rule, _, value) in planted() {
        for blob in &blobs {
            assert!(
                !contains(blob, &value),
                "{rule} value {value:?} reached the archive"
            );
        }
    }

    // The Jira source pseudonymises its actors: in the metadata and in the ticket itself.
    for who in ["Ana Reporter", "557058:ana", "Eve Engineer"] {
        assert!(
            !blobs.iter().any(|b| contains(b, who)),
            "{who} reached the archive"
        );
    }

    // The outside scanner agrees: it finds the planted secrets in the inputs ...
    let inputs = s.path().join("inputs");
    std::fs::create_dir_all(&inputs).unwrap();
    std::fs::write(inputs.join("train.log"), planted_log("inputs")).unwrap();
    let in_inputs = detect_secrets(&inputs);
    let types: std::collections::BTreeSet<&str> =
        in_inputs.iter().map(|(_, t)| t.as_str()).collect();
    for expected in [
        "AWS Access Key",
        "GitHub Token",
        "Slack Token",
        "Stripe Access Key",
        "JSON Web Token",
        "Private Key",
        "Basic Auth Credentials",
    ] {
        assert!(
            types.contains(expected),
            "detect-secrets missed {expected} in the inputs: {types:?}"
        );
    }
    // ... and nothing in the unzipped bundles (nor in the zips inside them).
    let unzipped = s.path().join("unzipped");
    unzip_all(&s.archive(), &unzipped);
    let in_bundles = detect_secrets(&unzipped);
    assert!(in_bundles.is_empty(), "detect-secrets found {in_bundles:?}");

    // Each item says what was replaced; ranges point at the placeholders in the artefact.
    let metas = item_metas(&unzipped);
    let mut placeholders_of_gh = std::collections::BTreeSet::new();
    for (path, meta) in &metas {
        let note = &meta["redaction"];
        let bag = path.ancestors().nth(4).unwrap();
        let artefact = std::fs::read(bag.join(meta["artefact"]["path"].as_str().unwrap())).unwrap();
        if meta["artefact"]["media_type"] == "application/octet-stream" {
            assert_eq!(note["artefact"], "not_scanned_binary", "{meta:#}");
            continue;
        }
        assert_eq!(note["artefact"], "scanned", "{meta:#}");
        assert!(note["total"].as_u64().unwrap() > 0, "{meta:#}");
        for r in meta["redactions"].as_array().unwrap() {
            if r["target"] == "artefact" {
                let [start, end] = [
                    r["range"][0].as_u64().unwrap(),
                    r["range"][1].as_u64().unwrap(),
                ];
                assert_eq!(
                    &artefact[start as usize..end as usize],
                    r["placeholder"].as_str().unwrap().as_bytes()
                );
            }
            if r["rule"] == "github-token" {
                placeholders_of_gh.insert(r["placeholder"].as_str().unwrap().to_owned());
            }
        }
        if meta["artefact"]["media_type"] == "application/json" {
            serde_json::from_slice::<Value>(&artefact).expect("JSON stays JSON after redaction");
        }
    }
    assert_eq!(
        placeholders_of_gh.len(),
        1,
        "the same token gets the same placeholder in every item: {placeholders_of_gh:?}"
    );

    // The run record names the policy each source ran under.
    let run_record: Value =
        serde_json::from_slice(&std::fs::read(unzipped.join("run-000001/data/run.json")).unwrap())
            .unwrap();
    for source in run_record["sources"].as_array().unwrap() {
        let policy = &source["redaction"];
        assert_eq!(policy["secrets"], true, "{source:#}");
        assert!(
            policy["rules"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r == "github-token@1"),
            "{policy:#}"
        );
    }
}

#[test]
fn a_source_that_turns_redaction_off_says_so_in_the_bundle_and_seals_bytes_as_they_are() {
    let s = Sandbox::empty();
    s.write(
        "agent.toml",
        r#"
[archive]
path = "evidence"
origin = "example.org/ai"

[[source]]
type = "local"
name = "raw"
path = "workspace"

[source.redact]
secrets = false

[[source.rule]]
glob = "*.log"
kind = "training_run"
"#,
    );
    let log = planted_log("raw");
    s.write("workspace/train.log", &log);
    let o = s.collect(Some(EPOCH));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let summary = json(&o);
    assert_eq!(summary["sources"][0]["redaction"]["secrets"], false);
    assert_eq!(
        summary["sources"][0]["redaction"]["rules"],
        serde_json::json!([])
    );
    let human = run(cmd("evidence-agent")
        .args(["collect", "--config"])
        .arg(s.config())
        .env("SOURCE_DATE_EPOCH", (EPOCH + 60).to_string()));
    assert!(text(&human).contains("redaction OFF"), "{}", text(&human));
    let blobs = archive_bytes(&s.archive());
    let (_, _, gh) = &planted()[0];
    assert!(blobs.iter().any(|b| contains(b, gh)), "sealed as it was");
}

#[test]
fn an_unknown_rule_in_the_config_is_refused_naming_the_source_and_key() {
    let s = Sandbox::empty();
    s.write(
        "agent.toml",
        r#"
[archive]
path = "evidence"
origin = "example.org/ai"

[[source]]
type = "local"
name = "docs"
path = "workspace"

[source.redact]
disable = ["github-tokn"]

[[source.rule]]
glob = "*.md"
kind = "ai_policy"
"#,
    );
    std::fs::create_dir_all(s.path().join("workspace")).unwrap();
    let o = s.collect(Some(EPOCH));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = text(&o);
    assert!(
        err.contains("source \"docs\" redact")
            && err.contains("github-tokn")
            && err.contains("agent.toml"),
        "{err}"
    );
    assert!(!s.archive().join("run-000001.zip").exists());
}
