//! The S3 connector and the S3 archive end to end, against two real S3 servers (s3s-fs
//! in-process, and moto's server, which enforces AWS's Object Lock header rule): `evidence-agent collect` reads a bucket and uploads the sealed bundle to another
//! bucket (write-once, checksummed, with COMPLIANCE retention), a failed upload stays local and
//! is retried by the next run, two sites share one bucket under their own origins, and
//! `evidence-auditor verify s3://…` checks it all and catches a tampered object.

use std::io::Write;
use std::path::Path;
use std::process::Output;

use evidence_tests::moto_server::MotoServer;
use evidence_tests::s3_server::S3Server;
use evidence_tests::{Sandbox, cmd, json, run, text};
use serde_json::Value;

const EPOCH: u64 = 1_775_000_000; // 2026-03-31T23:33:20Z
const SOURCE: &str = "ml-evidence";
const ARCHIVE: &str = "audit-archive";

fn config(endpoint: &str, origin: &str, archive_endpoint: &str) -> String {
    format!(
        r#"
[archive]
path = "s3://{ARCHIVE}/iso42001"
origin = "{origin}"

[archive.s3]
endpoint_url = "{archive_endpoint}"
retention_days = 2555

[[source]]
type = "s3"
name = "model-registry-bucket"
bucket = "{SOURCE}"
endpoint_url = "{endpoint}"
prefixes = ["models/", "restricted/"]

[[source.rule]]
glob = "models/**/MODEL_CARD.md"
kind = "model_card"

[[source.rule]]
glob = "models/**/*.log"
kind = "training_run"
"#
    )
}

fn seeded_server() -> S3Server {
    let server = S3Server::start(&[SOURCE, ARCHIVE]);
    server.enable_object_lock(ARCHIVE);
    server.seed_file(SOURCE, "models/claims-triage/MODEL_CARD.md", |f| {
        f.write_all(b"# Claims triage\nOwner: ml-platform\n")
            .unwrap()
    });
    server.seed_file(SOURCE, "models/claims-triage/train-2026-03-30.log", |f| {
        f.write_all(b"epoch 1 loss 0.41\nepoch 2 loss 0.22\n")
            .unwrap()
    });
    server.seed_file(SOURCE, "restricted/payroll.md", |f| {
        f.write_all(b"x").unwrap()
    });
    server.deny_prefix(SOURCE, "restricted/");
    server
}

fn collect(s: &Sandbox, server: &S3Server, epoch: u64) -> Output {
    let mut c = cmd("evidence-agent");
    c.args(["collect", "--json", "--config"])
        .arg(s.config())
        .env("SOURCE_DATE_EPOCH", epoch.to_string())
        .envs(server.env());
    run(&mut c)
}

fn verify(server: &S3Server) -> (i32, Value) {
    verify_with(server, &[])
}

fn verify_with(server: &S3Server, extra: &[&std::ffi::OsStr]) -> (i32, Value) {
    let mut c = cmd("evidence-auditor");
    c.args(["verify", "--json", &format!("s3://{ARCHIVE}/iso42001")])
        .args(["--s3-endpoint", &server.endpoint])
        .args(extra)
        .envs(server.env());
    let o = run(&mut c);
    (o.status.code().unwrap_or(-1), json(&o))
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    names
}

#[test]
fn collect_reads_a_bucket_uploads_the_bundle_and_the_auditor_verifies_the_bucket() {
    let server = seeded_server();
    let s = Sandbox::empty();
    s.write(
        "agent.toml",
        config(&server.endpoint, "example.org/ai", &server.endpoint),
    );

    let o = collect(&s, &server, EPOCH);
    // The denied prefix is a gap: exit 1, but the bundle is sealed and stored.
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let summary = json(&o);
    assert_eq!(summary["items"], 2, "{summary:#}");
    let upload = &summary["upload"];
    assert_eq!(
        upload["uploaded"].as_array().map(Vec::len),
        Some(1),
        "{summary:#}"
    );
    assert!(upload.get("error").is_none(), "{summary:#}");
    let key = upload["uploaded"][0]["key"].as_str().unwrap().to_owned();
    assert!(
        key.starts_with("iso42001/example.org_2fai/run-000001-"),
        "{key}"
    );
    let retention = server
        .retention(ARCHIVE, &key)
        .expect("retention requested");
    assert_eq!(retention.mode, "COMPLIANCE");
    // The local copy is replaced by its receipt once the store confirmed it.
    assert_eq!(
        files(&s.path().join("outbox")),
        ["run-000001.uploaded.json"]
    );

    // A second run seals only the changed object and uploads it after the first.
    server.seed_file(SOURCE, "models/claims-triage/MODEL_CARD.md", |f| {
        f.write_all(b"# Claims triage v2\n").unwrap()
    });
    let o = collect(&s, &server, EPOCH + 60);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(json(&o)["items"], 1);

    let (code, report) = verify(&server);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["valid"], true);
    let origins = report["origins"].as_array().unwrap();
    assert_eq!(origins.len(), 1);
    assert_eq!(origins[0]["origin"], "example.org/ai");
    assert_eq!(origins[0]["bundles"].as_array().map(Vec::len), Some(2));
    let gaps = origins[0]["bundles"][0]["summary"]["gaps"]
        .as_u64()
        .unwrap();
    assert!(
        gaps >= 1,
        "the denied prefix is sealed as a gap: {report:#}"
    );
}

#[test]
fn a_failed_upload_stays_local_and_the_next_run_uploads_it_first() {
    let server = seeded_server();
    let s = Sandbox::empty();
    // Nothing listens on port 9: the archive is unreachable for the first run.
    s.write(
        "agent.toml",
        config(&server.endpoint, "example.org/ai", "http://127.0.0.1:9"),
    );
    let o = collect(&s, &server, EPOCH);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let summary = json(&o);
    assert!(summary["upload"]["error"].is_string(), "{summary:#}");
    assert_eq!(files(&s.path().join("outbox")), ["run-000001.zip"]);

    s.write(
        "agent.toml",
        config(&server.endpoint, "example.org/ai", &server.endpoint),
    );
    let o = collect(&s, &server, EPOCH + 60);
    let summary = json(&o);
    let runs: Vec<u64> = summary["upload"]["uploaded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(runs, [1, 2], "{}", text(&o));
    assert_eq!(
        files(&s.path().join("outbox")),
        ["run-000001.uploaded.json", "run-000002.uploaded.json"]
    );
    let (code, report) = verify(&server);
    assert_eq!(code, 0, "{report:#}");
}

#[test]
fn two_sites_share_a_bucket_and_a_tampered_object_fails_verification() {
    let server = seeded_server();
    let mut keys = Vec::new();
    for origin in ["example.org/site-berlin", "example.org/site-lyon"] {
        let s = Sandbox::empty();
        s.write(
            "agent.toml",
            config(&server.endpoint, origin, &server.endpoint),
        );
        let o = collect(&s, &server, EPOCH);
        let summary = json(&o);
        keys.push(
            summary["upload"]["uploaded"][0]["key"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let (code, report) = verify(&server);
    assert_eq!(code, 0, "{report:#}");
    let origins: Vec<&str> = report["origins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["origin"].as_str().unwrap())
        .collect();
    assert_eq!(
        origins,
        ["example.org/site-berlin", "example.org/site-lyon"]
    );

    // Change a byte of one stored bundle behind the store's back.
    let path = server.object_path(ARCHIVE, &keys[1]);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 30;
    bytes[last] ^= 0x01;
    std::fs::write(&path, bytes).unwrap();
    let (code, report) = verify(&server);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["origins"][0]["valid"], true);
    assert_eq!(report["origins"][1]["valid"], false);
    let message = report["origins"][1]["bundles"][0]["problems"][0]["message"]
        .as_str()
        .unwrap();
    // The store's own checksum or the digest in the key catches it, whichever comes first.
    assert!(
        message.contains("checksum") || message.contains("hash to"),
        "{message}"
    );
}

#[test]
fn checkpoints_pinned_from_a_shared_bucket_catch_a_fork_and_a_deleted_site() {
    let server = seeded_server();
    let sites: Vec<Sandbox> = ["example.org/site-berlin", "example.org/site-lyon"]
        .iter()
        .map(|origin| {
            let s = Sandbox::empty();
            s.write(
                "agent.toml",
                config(&server.endpoint, origin, &server.endpoint),
            );
            collect(&s, &server, EPOCH);
            s
        })
        .collect();

    // First audit: with two sites and no pin, each site's checkpoint is saved on its own.
    let auditor = Sandbox::empty();
    let pins = auditor.path().join("pin");
    let (code, report) = verify_with(&server, &["--save-checkpoint".as_ref(), pins.as_os_str()]);
    assert_eq!(code, 0, "{report:#}");
    let berlin_pin = auditor.path().join("pin.example.org_2fsite-berlin");
    let lyon_pin = auditor.path().join("pin.example.org_2fsite-lyon");
    let first = std::fs::read_to_string(&berlin_pin).unwrap();
    assert!(first.starts_with("example.org/site-berlin\n"), "{first}");
    assert!(lyon_pin.exists());

    // Berlin runs again; the next audit proves its archive extends the pin and re-pins it.
    collect(&sites[0], &server, EPOCH + 86_400);
    let (code, report) = verify_with(
        &server,
        &[
            "--expect-checkpoint".as_ref(),
            berlin_pin.as_os_str(),
            "--save-checkpoint".as_ref(),
            berlin_pin.as_os_str(),
        ],
    );
    assert_eq!(code, 0, "{report:#}");
    let berlin = &report["origins"][0];
    assert_eq!(berlin["origin"], "example.org/site-berlin");
    assert_eq!(berlin["pin"]["extended"], true, "{report:#}");
    assert_eq!(berlin["pin"]["matches_run"], 1);
    assert!(report["origins"][1]["pin"].is_null(), "{report:#}");
    let second = std::fs::read_to_string(&berlin_pin).unwrap();
    assert_ne!(second, first, "the pin moves to the latest run");

    // A pin whose root differs at the same size: the history was rewritten since.
    let mut lines: Vec<&str> = first.lines().collect();
    let forged_root = "A".repeat(43) + "=";
    lines[2] = &forged_root;
    let forged = auditor.write("forked.pin", lines.join("\n") + "\n");
    let (code, report) = verify_with(
        &server,
        &["--expect-checkpoint".as_ref(), forged.as_os_str()],
    );
    assert_eq!(code, 1, "{report:#}");
    let problems = report["origins"][0]["problems"].to_string();
    assert!(problems.contains("forked"), "{problems}");

    // A pin for a site whose bundles are no longer in the bucket at all.
    let gone = auditor.write("gone.pin", first.replace("site-berlin", "site-madrid"));
    let (code, report) = verify_with(&server, &["--expect-checkpoint".as_ref(), gone.as_os_str()]);
    assert_eq!(code, 1, "{report:#}");
    let problems = report["problems"].to_string();
    assert!(problems.contains("deleted or moved"), "{problems}");
}

#[test]
fn a_signed_bundle_travels_with_its_signature_and_verifies_against_allowed_signers() {
    let server = seeded_server();
    let s = Sandbox::empty();
    std::fs::create_dir_all(s.path().join("keys")).unwrap();
    let o = run(cmd("evidence-agent")
        .args(["keygen", "--principal", "agent@example.org", "--out"])
        .arg(s.path().join("keys/agent")));
    assert!(o.status.success(), "{}", text(&o));
    let allowed = s.path().join("allowed_signers");
    std::fs::write(&allowed, &o.stdout).unwrap();
    s.write(
        "agent.toml",
        format!(
            "[signing]\nkey = \"keys/agent\"\n{}",
            config(&server.endpoint, "example.org/ai", &server.endpoint)
        ),
    );
    let o = collect(&s, &server, EPOCH);
    let summary = json(&o);
    let receipt = &summary["upload"]["uploaded"][0];
    let sidecar = receipt["sidecars"][0]
        .as_str()
        .unwrap_or_else(|| panic!("{summary:#}"));
    assert!(sidecar.ends_with(".zip.sig"), "{sidecar}");
    assert_eq!(
        files(&s.path().join("outbox")),
        ["run-000001.uploaded.json"]
    );

    let verify_signed = |allowed: &Path| {
        let mut c = cmd("evidence-auditor");
        c.args(["verify", "--json", &format!("s3://{ARCHIVE}/iso42001")])
            .args(["--s3-endpoint", &server.endpoint, "--allowed-signers"])
            .arg(allowed)
            .envs(server.env());
        let o = run(&mut c);
        (o.status.code().unwrap_or(-1), json(&o))
    };
    let (code, report) = verify_signed(&allowed);
    assert_eq!(code, 0, "{report:#}");

    // Someone else's key: the signature no longer authenticates the bundle.
    let other = s.path().join("other_signers");
    let o = run(cmd("evidence-agent")
        .args(["keygen", "--principal", "someone@example.org", "--out"])
        .arg(s.path().join("keys/other")));
    std::fs::write(&other, &o.stdout).unwrap();
    let (code, report) = verify_signed(&other);
    assert_eq!(code, 1, "{report:#}");
}

#[test]
fn the_auditor_ingests_every_site_of_a_bucket_into_one_engagement() {
    let server = seeded_server();
    for origin in ["example.org/site-berlin", "example.org/site-lyon"] {
        let s = Sandbox::empty();
        s.write(
            "agent.toml",
            config(&server.endpoint, origin, &server.endpoint),
        );
        let o = collect(&s, &server, EPOCH);
        assert!(json(&o)["upload"]["error"].is_null(), "{}", text(&o));
    }
    let auditor = Sandbox::empty();
    let engagement = auditor.path().join("stage2.engagement");
    let mut c = cmd("evidence-auditor");
    c.args(["ingest", &format!("s3://{ARCHIVE}/iso42001")])
        .args(["--s3-endpoint", &server.endpoint, "--engagement"])
        .arg(&engagement)
        .envs(server.env());
    let o = run(&mut c);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("origin example.org/site-berlin")
            && out.contains("origin example.org/site-lyon"),
        "{out}"
    );
    let o = run(cmd("evidence-auditor")
        .args(["record", "export", "--engagement"])
        .arg(&engagement));
    let record = json(&o);
    let origins = record["engagement"]["origins"].to_string();
    assert!(
        origins.contains("site-berlin") && origins.contains("site-lyon"),
        "{origins}"
    );
}

#[test]
fn a_large_bundle_is_uploaded_in_parts_and_verifies_from_the_bucket() {
    let server = S3Server::start(&[ARCHIVE]);
    server.enable_object_lock(ARCHIVE);
    let s = Sandbox::empty();
    // A model checkpoint of 7 MiB (incompressible, so stored) makes a bundle above the 5 MiB
    // threshold: two parts.
    let mut rng = evidence_tests::rng::SplitMix64::new(7);
    let log: Vec<u8> = (0..7 * 1024 * 1024 / 8)
        .flat_map(|_| rng.next_u64().to_le_bytes())
        .collect();
    s.write("runs/train.bin", &log);
    s.write(
        "agent.toml",
        format!(
            r#"
[archive]
path = "s3://{ARCHIVE}/iso42001"
origin = "example.org/ai"

[archive.s3]
endpoint_url = "{}"
retention_days = 30
multipart_threshold_mib = 5
multipart_part_mib = 5

[[source]]
type = "local"
name = "training-logs"
path = "runs"

[[source.rule]]
glob = "**/*.bin"
kind = "training_run"
"#,
            server.endpoint
        ),
    );
    let o = collect(&s, &server, EPOCH);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let summary = json(&o);
    let key = summary["upload"]["uploaded"][0]["key"].as_str().unwrap();
    assert_eq!(summary["upload"]["uploaded"][0]["parts"], 2, "{summary:#}");
    let stored = std::fs::metadata(server.object_path(ARCHIVE, key))
        .unwrap()
        .len();
    assert!(stored > 7 * 1024 * 1024, "{stored}");
    assert_eq!(
        server.retention(ARCHIVE, key).map(|r| r.mode),
        Some("COMPLIANCE".to_owned())
    );
    let (code, report) = verify(&server);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["origins"][0]["bundles"][0]["summary"]["items"], 1);
}

/// The same journey on moto's S3 server, an independent implementation that enforces AWS's
/// rule that an upload carrying Object Lock retention must send `Content-MD5` or
/// `x-amz-sdk-checksum-algorithm` (s3s-fs does not check it).
#[test]
fn on_moto_collect_uploads_retained_bundles_and_the_auditor_verifies_and_ingests_them() {
    let moto = MotoServer::start(&[SOURCE, ARCHIVE], &[ARCHIVE]);
    moto.put(
        SOURCE,
        "models/claims-triage/MODEL_CARD.md",
        b"# Claims triage\nOwner: ml-platform\n",
    );
    moto.put(
        SOURCE,
        "models/claims-triage/train-2026-03-30.log",
        b"epoch 1 loss 0.41\nepoch 2 loss 0.22\n",
    );
    let s = Sandbox::empty();
    s.write(
        "agent.toml",
        config(&moto.endpoint, "example.org/ai", &moto.endpoint),
    );
    let run_agent = |epoch: u64| {
        let mut c = cmd("evidence-agent");
        c.args(["collect", "--json", "--config"])
            .arg(s.config())
            .env("SOURCE_DATE_EPOCH", epoch.to_string())
            .envs(moto.env());
        run(&mut c)
    };
    let o = run_agent(EPOCH);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let summary = json(&o);
    assert_eq!(summary["items"], 2, "{summary:#}");
    assert!(summary["upload"].get("error").is_none(), "{summary:#}");
    let key = summary["upload"]["uploaded"][0]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        summary["upload"]["uploaded"][0]["retain_until"].is_string(),
        "{summary:#}"
    );
    assert_eq!(
        files(&s.path().join("outbox")),
        ["run-000001.uploaded.json"]
    );

    moto.put(
        SOURCE,
        "models/claims-triage/MODEL_CARD.md",
        b"# Claims triage v2\n",
    );
    let o = run_agent(EPOCH + 60);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(json(&o)["items"], 1);
    let stored = moto.keys(ARCHIVE, "iso42001/");
    assert!(stored.contains(&key), "{stored:?}");
    assert_eq!(
        stored.iter().filter(|k| k.ends_with(".zip")).count(),
        2,
        "{stored:?}"
    );

    let mut c = cmd("evidence-auditor");
    c.args(["verify", "--json", &format!("s3://{ARCHIVE}/iso42001")])
        .args(["--s3-endpoint", &moto.endpoint])
        .envs(moto.env());
    let o = run(&mut c);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let report = json(&o);
    assert_eq!(report["valid"], true, "{report:#}");
    assert_eq!(
        report["origins"][0]["bundles"].as_array().map(Vec::len),
        Some(2)
    );

    let engagement = s.path().join("stage2.engagement");
    let mut c = cmd("evidence-auditor");
    c.args(["ingest", &format!("s3://{ARCHIVE}/iso42001")])
        .args(["--s3-endpoint", &moto.endpoint, "--engagement"])
        .arg(&engagement)
        .envs(moto.env());
    let o = run(&mut c);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("origin example.org/ai"),
        "{}",
        text(&o)
    );
}

/// Two different bundles stored for the same run of one origin (a forked log): `verify` and
/// `ingest` refuse the location with the same message naming both keys, and nothing is
/// ingested (before, `ingest` downloaded both under one file name, the second replacing the
/// first, and ingested whichever came last).
#[test]
fn a_run_stored_twice_with_different_content_is_refused_by_verify_and_ingest_alike() {
    let server = seeded_server();
    let s = Sandbox::empty();
    s.write(
        "agent.toml",
        config(&server.endpoint, "example.org/ai", &server.endpoint),
    );
    collect(&s, &server, EPOCH);
    // The same origin's run 1 sealed elsewhere, from other content, put beside the first.
    let other = Sandbox::with_example();
    let o = other.collect(Some(EPOCH));
    assert!(o.status.success(), "{}", text(&o));
    let bytes = std::fs::read(other.archive().join("run-000001.zip")).unwrap();
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    let forked_key = format!("iso42001/example.org_2fai/run-000001-{digest}.zip");
    server.seed_file(ARCHIVE, &forked_key, |f| f.write_all(&bytes).unwrap());

    let (code, report) = verify(&server);
    assert_eq!(code, 1, "{report:#}");
    let problems = report["origins"][0]["problems"].to_string();
    let expected = "run 1 is stored more than once with different content (a forked log): ";
    assert!(problems.contains(expected), "{problems}");
    assert!(problems.contains(&forked_key), "{problems}");

    let auditor = Sandbox::empty();
    let engagement = auditor.path().join("stage2.engagement");
    let mut c = cmd("evidence-auditor");
    c.args(["ingest", &format!("s3://{ARCHIVE}/iso42001")])
        .args(["--s3-endpoint", &server.endpoint, "--engagement"])
        .arg(&engagement)
        .envs(server.env());
    let o = run(&mut c);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("nothing was ingested"), "{out}");
    assert!(out.contains(expected) && out.contains(&forked_key), "{out}");
    assert!(!engagement.exists(), "no engagement file is created");
}
