//! The events source end to end: `evidence-agent collect` over a rotated log (a compressed
//! `.2.gz`, a renamed `.1`, the live file) seals one `event_log` item per system and day that
//! `evidence-auditor verify` accepts; a second run after lines are appended seals only the new
//! lines; a planted API key, the prompts and the user identities never reach the archive.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use evidence_tests::{Sandbox, tamper, text};

/// 2026-12-01T06:00:00Z.
const RUN1: u64 = 1_796_104_800;
/// A GitHub token planted in an error message (the fake token of the redaction tests' shape).
const PLANTED: &str = "ghp_PlantedInAnEventLog0123456789abcdefA";

fn line(time: &str, user: &str, error: Option<&str>) -> String {
    let t: jiff::Timestamp = time.parse().unwrap();
    serde_json::json!({
        "id": format!("chatcmpl-{}", t.as_second()),
        "call_type": "acompletion",
        "status": if error.is_some() { "failure" } else { "success" },
        "model": "gpt-4o-2024-08-06",
        "model_group": "gpt-4o",
        "startTime": t.as_second() as f64 + 0.25,
        "prompt_tokens": 100,
        "completion_tokens": 20,
        "end_user": user,
        "metadata": {"user_api_key_team_alias": "claims-assistant"},
        "messages": [{"role": "user", "content": "PROMPT-TEXT-NEVER-SEALED"}],
        "error_str": error,
    })
    .to_string()
        + "\n"
}

fn gzip(text: &str) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(text.as_bytes()).unwrap();
    e.finish().unwrap()
}

fn touch(p: &Path, secs: u64) {
    std::fs::File::options()
        .write(true)
        .open(p)
        .unwrap()
        .set_modified(UNIX_EPOCH + Duration::from_secs(secs))
        .unwrap();
}

/// A sandbox with a three-segment log over three days and a config collecting it.
fn sandbox() -> Sandbox {
    let s = Sandbox::empty();
    s.write(
        "agent.toml",
        "[archive]\npath = \"evidence\"\norigin = \"example.org/events\"\n\n\
         [[source]]\ntype = \"events\"\nname = \"ai-events\"\npath = \"logs\"\nshape = \"litellm\"\n",
    );
    let day1 =
        line("2026-11-28T09:00:00Z", "alice", None) + &line("2026-11-28T10:00:00Z", "bob", None);
    let leaked = format!("AuthenticationError: bad key {PLANTED}");
    let day2 = line("2026-11-29T09:00:00Z", "alice", Some(&leaked));
    let day3 = line("2026-11-30T09:00:00Z", "carol", None);
    std::fs::create_dir_all(s.path().join("logs")).unwrap();
    std::fs::write(s.path().join("logs/app.jsonl.2.gz"), gzip(&day1)).unwrap();
    touch(&s.path().join("logs/app.jsonl.2.gz"), RUN1 - 3 * 86_400);
    let one = s.write("logs/app.jsonl.1", day2);
    touch(&one, RUN1 - 2 * 86_400);
    let live = s.write("logs/app.jsonl", day3);
    touch(&live, RUN1 - 86_400);
    s
}

/// Every `(metadata, artefact)` of event items in bundle `seq`.
fn items(s: &Sandbox, seq: u64) -> Vec<(serde_json::Value, String)> {
    let entries = tamper::unpack(&s.archive().join(format!("run-{seq:06}.zip")));
    let mut out = Vec::new();
    for (name, bytes) in &entries {
        if !(name.contains("/data/items/") && name.ends_with("/metadata.json")) {
            continue;
        }
        let meta: serde_json::Value = serde_json::from_slice(bytes).unwrap();
        if meta["kind"] != "event_log" {
            continue;
        }
        let folder = name.trim_end_matches("metadata.json");
        let artefact = entries
            .iter()
            .find(|(n, _)| n.starts_with(folder) && !n.ends_with("metadata.json"))
            .map(|(_, b)| String::from_utf8(b.clone()).unwrap())
            .unwrap_or_default();
        out.push((meta, artefact));
    }
    out.sort_by(|a, b| {
        a.0["source"]["reference"]
            .to_string()
            .cmp(&b.0["source"]["reference"].to_string())
    });
    out
}

fn events(items: &[(serde_json::Value, String)]) -> usize {
    items.iter().map(|(_, a)| a.lines().count()).sum()
}

#[test]
fn a_rotated_gzip_log_is_sealed_per_day_verified_and_collected_incrementally() {
    let s = sandbox();
    let o = s.collect(Some(RUN1));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v = s.verify();
    assert_eq!(v.status.code(), Some(0), "{}", text(&v));

    let first = items(&s, 1);
    assert_eq!(first.len(), 3, "one item per day");
    assert_eq!(events(&first), 4);
    let (meta, _) = &first[1];
    assert_eq!(meta["attributes"]["errors"], 1);
    let controls = meta["controls"].to_string();
    assert!(
        controls.contains("A.6.2.8") && controls.contains("A.6.2.6"),
        "{controls}"
    );
    assert_eq!(meta["phase"], "operation_monitoring");

    // Nothing of the planted key, the prompts or the users' names is in any entry of the bundle
    // (read inflated: entries that compress are deflated).
    let bundle = evidence_tests::tamper::contents(&s.archive().join("run-000001.zip"));
    let bundle = String::from_utf8_lossy(&bundle);
    for secret in [
        PLANTED,
        "PROMPT-TEXT-NEVER-SEALED",
        "\"alice\"",
        "\"carol\"",
    ] {
        assert!(!bundle.contains(secret), "{secret} reached the archive");
    }
    assert!(
        bundle.contains("[REDACTED:github-token:"),
        "the key's placeholder is there"
    );

    // More lines: one for the last day, one for a new day.
    let live = s.path().join("logs/app.jsonl");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&live)
        .unwrap();
    f.write_all(
        (line("2026-11-30T15:00:00Z", "dave", None) + &line("2026-12-01T05:00:00Z", "dave", None))
            .as_bytes(),
    )
    .unwrap();
    let o = s.collect(Some(RUN1 + 3600));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let second = items(&s, 2);
    assert_eq!(events(&second), 2, "only the appended lines");
    assert_eq!(second.len(), 2);
    assert!(
        second
            .iter()
            .any(|(m, _)| m["attributes"]["events_in_window"] == 2)
    );
    let v = s.verify();
    assert_eq!(v.status.code(), Some(0), "{}", text(&v));

    // Nothing new: no event item.
    let o = s.collect(Some(RUN1 + 7200));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(items(&s, 3).is_empty());
}

#[test]
fn readiness_counts_a_6_2_8_as_evidenced_by_the_example_event_log() {
    let s = Sandbox::with_example();
    let o = s.collect(Some(RUN1));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = evidence_tests::run(
        evidence_tests::cmd("evidence-auditor")
            .args(["readiness", "--json", "--as-of", "2026-10-01"])
            .arg(s.archive()),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v = evidence_tests::json(&o);
    for control in ["A.6.2.8", "A.6.2.6"] {
        let row = v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == control)
            .unwrap();
        assert_eq!(row["status"], "current", "{control}: {row:#}");
        assert!(row.to_string().contains("event_log"), "{control}: {row:#}");
    }
}

/// Every event line sealed in the archive, by bundle order.
fn sealed_events(s: &Sandbox) -> usize {
    let mut n = 0;
    for seq in 1.. {
        if !s.archive().join(format!("run-{seq:06}.zip")).exists() {
            return n;
        }
        n += events(&items(s, seq));
    }
    n
}

#[test]
fn an_agent_crashing_mid_run_loses_no_event_and_seals_none_twice() {
    for point in [
        "staged",
        "pending-written",
        "bundle-published",
        "state-committed",
    ] {
        let s = sandbox();
        let o = evidence_tests::run(
            evidence_tests::cmd("evidence-agent")
                .args(["collect", "--json", "--config"])
                .arg(s.config())
                .env("SOURCE_DATE_EPOCH", RUN1.to_string())
                .env("EVIDENCE_AGENT_CRASH_AT", point),
        );
        assert!(
            !o.status.success(),
            "{point}: the agent did not crash\n{}",
            text(&o)
        );
        // The writer goes on while the agent is down.
        let live = s.path().join("logs/app.jsonl");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&live)
            .unwrap();
        f.write_all(line("2026-11-30T16:00:00Z", "erin", None).as_bytes())
            .unwrap();
        let o = s.collect(Some(RUN1 + 3600));
        assert_eq!(o.status.code(), Some(0), "{point}: {}", text(&o));
        assert_eq!(sealed_events(&s), 5, "{point}: every event once");
        let v = s.verify();
        assert_eq!(v.status.code(), Some(0), "{point}: {}", text(&v));
    }
}
