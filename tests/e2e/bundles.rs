//! Sealed, chained bundles end to end: collect the example workspace, verify it with our
//! auditor and with outside tools (bagit-python, sha256sum), reproduce it byte for byte, and
//! catch every kind of tampering, crash and bad input.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use evidence_tests::tamper::{self, Entries};
use evidence_tests::{Sandbox, cmd, json, run, text, venv_tool};

const EPOCH: u64 = 1_767_225_600; // 2026-01-01T00:00:00Z

fn bundle(s: &Sandbox, seq: u64) -> PathBuf {
    s.archive().join(format!("run-{seq:06}.zip"))
}

/// Collect `runs` times (changing a file between runs so each seals something) and check each.
fn collected(runs: u64) -> Sandbox {
    let s = Sandbox::with_example();
    for i in 1..=runs {
        if i > 1 {
            s.write(
                "workspace/policies/ai-policy.md",
                format!("# AI policy, revision {i}\n"),
            );
        }
        let o = s.collect(Some(EPOCH + i));
        assert!(o.status.success(), "{}", text(&o));
    }
    s
}

fn verify_json(s: &Sandbox) -> (i32, serde_json::Value) {
    let o = s.verify();
    (o.status.code().unwrap_or(-1), json(&o))
}

fn messages(report: &serde_json::Value) -> String {
    let mut all = Vec::new();
    for p in report["problems"].as_array().into_iter().flatten() {
        all.push(p["message"].as_str().unwrap_or("").to_owned());
    }
    for b in report["bundles"].as_array().into_iter().flatten() {
        for p in b["problems"].as_array().into_iter().flatten() {
            all.push(format!(
                "{}: {}",
                p["entry"].as_str().unwrap_or(""),
                p["message"].as_str().unwrap_or("")
            ));
        }
    }
    all.join("\n")
}

fn assert_fails(s: &Sandbox, expect: &str) {
    let (code, report) = verify_json(s);
    assert_eq!(code, 1, "verification must fail:\n{report:#}");
    assert_eq!(report["valid"], false);
    let m = messages(&report);
    assert!(
        m.contains(expect),
        "expected a problem mentioning {expect:?}, got:\n{m}"
    );
}

fn unzip_to(bundle: &Path, dir: &Path) {
    let o = run(Command::new("unzip")
        .arg("-q")
        .arg(bundle)
        .arg("-d")
        .arg(dir));
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn the_example_collects_into_a_bundle_that_verifies() {
    let s = collected(1);
    let (code, report) = verify_json(&s);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["valid"], true);
    assert_eq!(report["origin"], "example.org/ai");
    // 10 governance documents and 3 days of the AI event log.
    assert_eq!(report["bundles"][0]["summary"]["items"], 13);
    let human = run(cmd("evidence-auditor").arg("verify").arg(s.archive()));
    assert!(
        String::from_utf8_lossy(&human.stdout).contains("VALID"),
        "{}",
        text(&human)
    );
}

#[test]
fn every_bundle_passes_bagit_python_and_sha256sum() {
    let s = collected(3);
    for seq in 1..=3 {
        let dir = s.path().join(format!("unzipped-{seq}"));
        unzip_to(&bundle(&s, seq), &dir);
        let bag = dir.join(format!("run-{seq:06}"));
        let o = run(Command::new(venv_tool("bagit.py"))
            .arg("--validate")
            .arg(&bag));
        assert!(
            o.status.success(),
            "bagit.py --validate failed:\n{}",
            text(&o)
        );
        for manifest in ["manifest-sha256.txt", "tagmanifest-sha256.txt"] {
            let o = run(Command::new("sha256sum")
                .args(["-c", "--quiet", manifest])
                .current_dir(&bag));
            assert!(o.status.success(), "sha256sum -c {manifest}:\n{}", text(&o));
        }
    }
}

/// Collect two runs from scratch with a pinned clock and pinned file times; return the bundles.
fn two_pinned_runs(s: &Sandbox) -> Vec<Vec<u8>> {
    let _ = fs::remove_dir_all(s.archive());
    // The state includes the redaction key (the example's training log holds a planted token,
    // whose placeholder is keyed): the same state means the same key.
    s.write("evidence/.agent/redaction.key", "5e".repeat(32));
    let policy = s.path().join("workspace/policies/ai-policy.md");
    let fixed = std::time::UNIX_EPOCH + std::time::Duration::from_secs(EPOCH - 86_400);
    let set_mtime = |p: &Path| {
        fs::File::options()
            .write(true)
            .open(p)
            .unwrap()
            .set_modified(fixed)
            .unwrap()
    };
    s.write(
        "workspace/policies/ai-policy.md",
        "# AI policy, revision 1\n",
    );
    set_mtime(&policy);
    assert!(s.collect(Some(EPOCH)).status.success());
    s.write(
        "workspace/policies/ai-policy.md",
        "# AI policy, revision 2\n",
    );
    set_mtime(&policy);
    assert!(s.collect(Some(EPOCH + 3600)).status.success());
    (1..=2).map(|i| fs::read(bundle(s, i)).unwrap()).collect()
}

#[test]
fn the_same_inputs_and_state_give_byte_identical_bundles() {
    let s = Sandbox::with_example();
    let first = two_pinned_runs(&s);
    let second = two_pinned_runs(&s);
    assert_eq!(
        first, second,
        "the same inputs, state and SOURCE_DATE_EPOCH must give identical bytes"
    );
    assert_ne!(first[0], first[1]);
}

#[test]
fn a_run_with_nothing_new_seals_an_empty_run_record_and_says_so() {
    let s = collected(1);
    let o = run(cmd("evidence-agent")
        .args(["collect", "--config"])
        .arg(s.config()));
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("Nothing new"),
        "{}",
        text(&o)
    );
    let entries = tamper::unpack(&bundle(&s, 2));
    assert!(entries.keys().any(|k| k.ends_with("data/run.json")));
    assert!(
        !entries.keys().any(|k| k.contains("data/items/")),
        "an empty run seals no items"
    );
    assert_eq!(verify_json(&s).0, 0);
}

#[test]
fn files_no_rule_matches_are_reported_in_the_population_record() {
    let s = collected(1);
    let entries = tamper::unpack(&bundle(&s, 1));
    let population =
        &entries[&tamper::find(&entries, "data/populations/governance-docs/0001.json")];
    let v: serde_json::Value = serde_json::from_slice(population).unwrap();
    assert_eq!(v["attributes"]["unmatched"][0], "drafts/notes.txt");
    assert_eq!(v["items_seen"], 10);
}

#[test]
fn a_changed_byte_in_an_item_is_caught() {
    let s = collected(2);
    let mut e = tamper::unpack(&bundle(&s, 1));
    let name = tamper::find(&e, "artefact/ai-policy.md");
    e.get_mut(&name).unwrap()[10] ^= 1;
    tamper::repack(&e, &bundle(&s, 1));
    assert_fails(&s, "the manifest says");
}

#[test]
fn a_changed_item_with_recomputed_manifests_is_caught_by_the_log() {
    let s = collected(2);
    let mut e = tamper::unpack(&bundle(&s, 1));
    let name = tamper::find(&e, "artefact/ai-risk-register.csv");
    e.insert(name, b"risk_id,title\nR-001,nothing to see\n".to_vec());
    tamper::recompute_manifests(&mut e);
    tamper::repack(&e, &bundle(&s, 1));
    assert_fails(&s, "content was changed after sealing");
}

#[test]
fn an_item_added_or_removed_with_recomputed_manifests_is_caught() {
    for add in [true, false] {
        let s = collected(2);
        let mut e: Entries = tamper::unpack(&bundle(&s, 1));
        if add {
            let top = tamper::top(&e);
            e.insert(
                format!("{top}/data/items/forged-1/artefact/memo.md"),
                b"backdated approval".to_vec(),
            );
        } else {
            let doomed: Vec<String> = e
                .keys()
                .filter(|k| k.contains("INC-2026-007"))
                .cloned()
                .collect();
            for k in doomed {
                e.remove(&k);
            }
        }
        tamper::recompute_manifests(&mut e);
        tamper::repack(&e, &bundle(&s, 1));
        let expect = if add {
            "item without metadata.json"
        } else {
            "content was changed after sealing"
        };
        assert_fails(&s, expect);
    }
}

#[test]
fn an_edited_approver_name_is_caught_even_with_recomputed_manifests() {
    let s = collected(2);
    let mut e = tamper::unpack(&bundle(&s, 1));
    let name = tamper::find(&e, "MODEL_CARD.md-");
    let name = e
        .keys()
        .find(|k| {
            k.starts_with(name.split("/artefact").next().unwrap()) && k.ends_with("metadata.json")
        })
        .unwrap()
        .clone();
    let edited = String::from_utf8(e[&name].clone())
        .unwrap()
        .replace("Mei Lin", "Mallory");
    e.insert(name, edited.into_bytes());
    tamper::recompute_manifests(&mut e);
    tamper::repack(&e, &bundle(&s, 1));
    assert_fails(&s, "content was changed after sealing");
}

#[test]
fn a_bundle_removed_from_the_middle_is_caught() {
    let s = collected(3);
    fs::remove_file(bundle(&s, 2)).unwrap();
    assert_fails(&s, "run 2 is missing");
}

#[test]
fn a_renamed_bundle_is_caught() {
    let s = collected(3);
    fs::rename(bundle(&s, 3), bundle(&s, 4)).unwrap();
    assert_fails(&s, "renamed or reordered");
}

#[test]
fn reordered_bundles_are_caught() {
    let s = collected(3);
    let tmp = s.path().join("swap.zip");
    fs::rename(bundle(&s, 2), &tmp).unwrap();
    fs::rename(bundle(&s, 3), bundle(&s, 2)).unwrap();
    fs::rename(&tmp, bundle(&s, 3)).unwrap();
    assert_fails(&s, "renamed or reordered");
}

#[test]
fn a_bundle_resealed_consistently_by_a_forger_breaks_the_chain() {
    // The forger rewrites run 2 and recomputes everything inside it that our format lets them
    // recompute without the log: the next run still names the original checkpoint.
    let s = collected(3);
    let mut e = tamper::unpack(&bundle(&s, 2));
    let top = tamper::top(&e);
    let name = tamper::find(&e, "artefact/ai-policy.md");
    e.insert(name, b"# rewritten\n".to_vec());
    tamper::recompute_manifests(&mut e);
    e.remove(&format!("{top}/log/checkpoint"));
    tamper::repack(&e, &bundle(&s, 2));
    let (code, report) = verify_json(&s);
    assert_eq!(code, 1, "{report:#}");
}

#[test]
fn one_bundle_file_can_be_verified_on_its_own() {
    let s = collected(2);
    let o = run(cmd("evidence-auditor")
        .args(["verify", "--json"])
        .arg(bundle(&s, 2)));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(json(&o)["valid"], true);
}

#[test]
fn an_unknown_format_version_is_refused_with_a_clear_message() {
    let s = collected(1);
    let mut e = tamper::unpack(&bundle(&s, 1));
    let name = tamper::find(&e, "bag-info.txt");
    let text = String::from_utf8(e[&name].clone()).unwrap().replace(
        "Evidence-Format-Version: 1.0",
        "Evidence-Format-Version: 2.0",
    );
    e.insert(name, text.into_bytes());
    tamper::recompute_manifests(&mut e);
    tamper::repack(&e, &bundle(&s, 1));
    assert_fails(
        &s,
        "uses archive format 2.0, which this version does not know",
    );
}

#[test]
fn prepended_bytes_are_reported() {
    let s = collected(1);
    let mut forged = b"MZ-junk".to_vec();
    forged.extend_from_slice(&fs::read(bundle(&s, 1)).unwrap());
    fs::write(bundle(&s, 1), &forged).unwrap();
    assert_fails(
        &s,
        "7 bytes of unexpected data before the first local header",
    );
}

#[test]
fn a_traversal_entry_is_reported_and_nothing_is_written_outside() {
    let s = collected(1);
    let mut e = tamper::unpack(&bundle(&s, 1));
    let top = tamper::top(&e);
    e.insert(
        format!("{top}/data/../../../etc/cron.d/evidence"),
        b"* * * * * root sh".to_vec(),
    );
    tamper::repack(&e, &bundle(&s, 1));
    assert_fails(&s, "..");
    assert!(!Path::new("/etc/cron.d/evidence").exists());
}

#[test]
fn a_source_that_fails_becomes_a_gap_record_and_the_others_still_seal() {
    let s = Sandbox::with_example();
    let mut config = fs::read_to_string(s.config()).unwrap();
    config.push_str("\n[[source]]\ntype = \"local\"\nname = \"hr-share\"\npath = \"missing-folder\"\n[[source.rule]]\nglob = \"**\"\nkind = \"training_record\"\n");
    fs::write(s.config(), config).unwrap();
    let o = s.collect(Some(EPOCH));
    assert_eq!(
        o.status.code(),
        Some(1),
        "a gap changes the exit code:\n{}",
        text(&o)
    );
    let summary = json(&o);
    assert_eq!(summary["items"], 13);
    let failed = summary["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "hr-share")
        .unwrap();
    assert_eq!(failed["status"], "failed");
    let e = tamper::unpack(&bundle(&s, 1));
    let gap: serde_json::Value =
        serde_json::from_slice(&e[&tamper::find(&e, "data/gaps/hr-share/0001.json")]).unwrap();
    assert_eq!(gap["category"], "not_found");
    assert!(
        gap["message"].as_str().unwrap().contains("missing-folder"),
        "{gap}"
    );
    assert_eq!(verify_json(&s).0, 0);
}

#[test]
fn a_malformed_config_is_a_clear_error_naming_the_file() {
    let s = Sandbox::with_example();
    let config = fs::read_to_string(s.config()).unwrap();
    for (bad, expect) in [
        (
            config.replace("controls = [\"A.2.2\"]", "controls = [\"A.6.6\"]"),
            "A.6.6",
        ),
        (config.replace("[archive]", "[archive\n"), "agent.toml"),
        (
            config.replace("glob = \"impact/**\"", "glob = \"impact/[\""),
            "invalid glob",
        ),
    ] {
        fs::write(s.config(), &bad).unwrap();
        let o = s.collect(None);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(expect) && err.contains("agent.toml"),
            "{}",
            text(&o)
        );
        assert!(!s.archive().join("run-000001.zip").exists());
    }
}

#[test]
fn a_second_agent_on_the_same_archive_is_refused() {
    let s = collected(1);
    let lock = fs::File::options()
        .write(true)
        .open(s.archive().join(".agent/lock"))
        .unwrap();
    lock.try_lock().unwrap();
    let o = s.collect(None);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("another evidence-agent"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_crash_at_any_point_of_sealing_leaves_a_valid_archive_and_the_next_run_succeeds() {
    for point in [
        "staged",
        "bundle-synced",
        "pending-written",
        "bundle-published",
        "state-committed",
    ] {
        let s = collected(1);
        s.write(
            "workspace/policies/ai-policy.md",
            "# AI policy, revision 2\n",
        );
        let o = run(cmd("evidence-agent")
            .args(["collect", "--quiet", "--config"])
            .arg(s.config())
            .env("EVIDENCE_AGENT_CRASH_AT", point));
        assert!(
            !o.status.success(),
            "{point}: the agent should have crashed\n{}",
            text(&o)
        );
        // Whatever is on disk verifies: either run 2 is absent or complete.
        let (code, report) = verify_json(&s);
        assert_eq!(code, 0, "{point}: archive invalid after crash:\n{report:#}");
        // The next run succeeds and, in the end, the changed policy is sealed exactly once.
        let o = s.collect(None);
        assert!(
            o.status.success(),
            "{point}: the next run failed:\n{}",
            text(&o)
        );
        let (code, report) = verify_json(&s);
        assert_eq!(code, 0, "{point}: {report:#}");
        let mut sealed = 0;
        for b in report["bundles"].as_array().unwrap() {
            let path = s.archive().join(b["file"].as_str().unwrap());
            sealed += tamper::unpack(&path)
                .iter()
                .filter(|(k, v)| {
                    k.ends_with("artefact/ai-policy.md")
                        && v.starts_with(b"# AI policy, revision 2")
                })
                .count();
        }
        assert_eq!(
            sealed, 1,
            "{point}: the changed policy must be sealed exactly once"
        );
        assert!(
            !s.archive().join(".run-000002.zip.tmp").exists()
                || point == "staged"
                || point == "bundle-synced"
                || point == "pending-written"
        );
    }
}
