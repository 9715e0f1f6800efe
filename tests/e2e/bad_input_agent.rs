//! Bad input on the agent side (issue 17): what a careless or hostile user can put into the
//! config, the collected folders, the archive and the state never costs evidence, leaks a
//! secret or seals a wrong record; each case stops with a message that says what to do.

use std::path::Path;
use std::process::Output;

use evidence_tests::{Sandbox, cmd, json, run, text};

const EPOCH: u64 = 1_767_225_600; // 2026-01-01T00:00:00Z

fn check(s: &Sandbox) -> Output {
    run(cmd("evidence-agent")
        .arg("check")
        .arg("--config")
        .arg(s.config()))
}

fn append_config(s: &Sandbox, extra: &str) {
    let mut config = std::fs::read_to_string(s.config()).unwrap();
    config.push_str(extra);
    std::fs::write(s.config(), config).unwrap();
}

/// Every file's bytes under `dir`, concatenated, and every bundle's entries inflated (a deflated
/// entry hides its text from a raw scan); nothing when `dir` does not exist.
fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(all_bytes(&p));
        } else if let Ok(b) = std::fs::read(&p) {
            out.extend(b);
            if p.extension().is_some_and(|x| x == "zip") {
                out.extend(evidence_tests::tamper::contents(&p));
            }
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Neither output nor any file in the sandbox other than the config holds `secret`.
fn assert_secret_nowhere(s: &Sandbox, outputs: &[&Output], secret: &str) {
    for o in outputs {
        assert!(
            !contains(&o.stdout, secret) && !contains(&o.stderr, secret),
            "the secret was printed:\n{}",
            text(o)
        );
    }
    assert!(
        !contains(&all_bytes(&s.archive()), secret),
        "the secret is in the archive or the state"
    );
}

#[test]
fn a_token_pasted_into_an_env_key_is_a_config_error_that_never_repeats_it() {
    let token = "ghp_Zq9Xw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa";
    for (kind, table) in [
        (
            "github",
            format!(
                "type = \"github\"\nname = \"code\"\norg = \"acme\"\ntoken_env = \"{token}\"\n"
            ),
        ),
        (
            "mlflow",
            format!(
                "type = \"mlflow\"\nname = \"code\"\ntracking_uri = \"http://127.0.0.1:1\"\ntoken_env = \"{token}\"\n"
            ),
        ),
    ] {
        let s = Sandbox::with_example();
        append_config(&s, &format!("\n[[source]]\n{table}"));
        let checked = check(&s);
        let collected = s.collect(Some(EPOCH));
        for o in [&checked, &collected] {
            assert_eq!(o.status.code(), Some(2), "{kind}: {}", text(o));
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(
                err.contains("agent.toml")
                    && err.contains("source \"code\"")
                    && err.contains("`token_env`")
                    && err.contains("credential"),
                "{kind}: {}",
                text(o)
            );
        }
        assert_secret_nowhere(&s, &[&checked, &collected], token);
    }
}

#[test]
fn credentials_in_a_url_are_refused_without_being_printed_or_sealed() {
    let secret = "hunter2-Sup3rSecret";
    for extra in [
        format!(
            "\n[[source]]\ntype = \"s3\"\nname = \"models\"\nbucket = \"b\"\nendpoint_url = \"http://AKIDEXAMPLE:{secret}@127.0.0.1:9\"\n[[source.rule]]\nglob = \"**\"\nkind = \"model_card\"\n"
        ),
        format!(
            "\n[[source]]\ntype = \"mlflow\"\nname = \"runs\"\ntracking_uri = \"http://admin:{secret}@127.0.0.1:1\"\n"
        ),
    ] {
        let s = Sandbox::with_example();
        append_config(&s, &extra);
        let checked = check(&s);
        let collected = s.collect(Some(EPOCH));
        for o in [&checked, &collected] {
            assert_eq!(o.status.code(), Some(2), "{}", text(o));
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(err.contains("URL with credentials"), "{}", text(o));
            assert!(
                !err.contains("{ ") && !err.contains("Some("),
                "a Debug dump: {}",
                text(o)
            );
        }
        assert_secret_nowhere(&s, &[&checked, &collected], secret);
    }
}

#[test]
fn source_names_differing_only_in_case_are_refused_before_anything_is_sealed() {
    let s = Sandbox::with_example();
    append_config(
        &s,
        "\n[[source]]\ntype = \"local\"\nname = \"Governance-Docs\"\npath = \"workspace\"\n[[source.rule]]\nglob = \"**\"\nkind = \"ai_policy\"\n",
    );
    for o in [check(&s), s.collect(Some(EPOCH))] {
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("differ only in case"),
            "{}",
            text(&o)
        );
    }
    assert!(!s.archive().join("run-000001.zip").exists());
    // Renamed, the same config collects and verifies.
    let config = std::fs::read_to_string(s.config()).unwrap();
    std::fs::write(
        s.config(),
        config.replace("name = \"Governance-Docs\"", "name = \"governance-docs-2\""),
    )
    .unwrap();
    let o = s.collect(Some(EPOCH));
    assert!(o.status.success(), "{}", text(&o));
    let v = s.verify();
    assert_eq!(json(&v)["valid"], true, "{}", text(&v));
}

/// An archive of three runs, each sealing a change.
fn three_runs() -> Sandbox {
    let s = Sandbox::with_example();
    for i in 1..=3 {
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

/// `evidence-agent run`, which must stop by itself; killed after 30 s if it does not.
fn daemon(s: &Sandbox) -> Output {
    let mut child = cmd("evidence-agent")
        .args(["run", "--config"])
        .arg(s.config())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(30) {
            child.kill().unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_damaged_archive_stops_collect_and_run_and_check_reports_it() {
    type Damage = fn(&Path);
    let cases: [(&str, Damage, &str); 4] = [
        (
            "middle bundle deleted",
            |a| std::fs::remove_file(a.join("run-000002.zip")).unwrap(),
            "run-000002.zip is missing",
        ),
        (
            "first bundle deleted",
            |a| std::fs::remove_file(a.join("run-000001.zip")).unwrap(),
            "run-000001.zip is missing",
        ),
        (
            "last bundle replaced by random bytes of its size",
            |a| {
                let p = a.join("run-000003.zip");
                let len = std::fs::metadata(&p).unwrap().len();
                let mut rng = evidence_tests::rng::SplitMix64::new(17);
                let bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
                std::fs::write(&p, bytes).unwrap();
            },
            "run-000003.zip is not a ZIP file any more",
        ),
        (
            "middle bundle truncated",
            |a| {
                let p = a.join("run-000002.zip");
                let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
                let len = f.metadata().unwrap().len();
                f.set_len(len / 2).unwrap();
            },
            "run-000002.zip is",
        ),
    ];
    for (what, damage, expect) in cases {
        let s = three_runs();
        damage(&s.archive());
        s.write("workspace/policies/new.md", "# new\n");
        let collected = s.collect(Some(EPOCH + 10));
        assert_eq!(
            collected.status.code(),
            Some(2),
            "{what}: {}",
            text(&collected)
        );
        let err = String::from_utf8_lossy(&collected.stderr);
        assert!(
            err.contains(expect) && err.contains("Nothing was sealed"),
            "{what}: {}",
            text(&collected)
        );
        let daemon = daemon(&s);
        assert_eq!(daemon.status.code(), Some(2), "{what}: {}", text(&daemon));
        assert!(
            String::from_utf8_lossy(&daemon.stderr).contains(expect),
            "{what}: {}",
            text(&daemon)
        );
        assert!(!s.archive().join("run-000004.zip").exists(), "{what}");
        let checked = check(&s);
        assert_eq!(checked.status.code(), Some(1), "{what}: {}", text(&checked));
        let out = String::from_utf8_lossy(&checked.stdout);
        assert!(
            out.contains("archive is damaged") && out.contains(expect),
            "{what}: {}",
            text(&checked)
        );
    }
}

#[test]
fn an_intact_archive_still_collects_and_checks_clean_after_the_size_check() {
    let s = three_runs();
    let checked = check(&s);
    let out = String::from_utf8_lossy(&checked.stdout);
    assert!(out.contains("run 3 sealed"), "{}", text(&checked));
    let state = std::fs::read_to_string(s.archive().join(".agent/state.json")).unwrap();
    assert!(state.contains("bundle_bytes"), "{state}");
}

#[test]
fn an_archive_inside_a_collected_folder_is_refused_before_it_reseals_itself() {
    let s = Sandbox::with_example();
    let config = std::fs::read_to_string(s.config()).unwrap();
    std::fs::write(
        s.config(),
        config.replace("path = \"evidence\"", "path = \"workspace/evidence\""),
    )
    .unwrap();
    for o in [check(&s), s.collect(Some(EPOCH))] {
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("inside the collected folder"),
            "{}",
            text(&o)
        );
    }
    assert!(!s.path().join("workspace/evidence/run-000001.zip").exists());
}

fn collect_human(s: &Sandbox) -> Output {
    run(cmd("evidence-agent")
        .args(["collect", "--config"])
        .arg(s.config())
        .env("SOURCE_DATE_EPOCH", EPOCH.to_string()))
}

#[test]
fn a_first_run_whose_source_failed_does_not_say_nothing_new() {
    let s = Sandbox::with_example();
    let config = std::fs::read_to_string(s.config()).unwrap();
    std::fs::write(
        s.config(),
        config
            .replace("path = \"workspace\"", "path = \"no-such-folder\"")
            .replace(
                "path = \"workspace/ai-events\"",
                "path = \"no-such-folder\"",
            ),
    )
    .unwrap();
    let o = collect_human(&s);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        !out.contains("Nothing new since the last run") && out.contains("source(s) failed"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_file_where_the_archive_folder_belongs_is_named_once_and_clearly() {
    let s = Sandbox::with_example();
    s.write("evidence", "not a folder");
    let o = collect_human(&s);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("is a file, but [archive] path must name a folder")
            && err.matches("File exists").count() == 0,
        "{}",
        text(&o)
    );
}

#[test]
fn a_garbled_cursor_is_reported_as_such_naming_the_source_and_the_state_file() {
    let s = Sandbox::with_example();
    let o = s.collect(Some(EPOCH));
    assert!(o.status.success(), "{}", text(&o));
    let path = s.archive().join(".agent/state.json");
    let mut state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    state["sources"]["governance-docs"]["cursor"] = serde_json::json!("garbled");
    std::fs::write(&path, serde_json::to_vec(&state).unwrap()).unwrap();
    let o = collect_human(&s);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let all = text(&o);
    assert!(
        all.contains("cursor saved for source governance-docs")
            && all.contains(".agent/state.json")
            && all.contains("evidence-agent repair")
            && !all.contains("invalid configuration"),
        "{all}"
    );
}

fn repair(s: &Sandbox) -> Output {
    run(cmd("evidence-agent")
        .args(["repair", "--config"])
        .arg(s.config()))
}

#[test]
fn a_corrupt_or_lost_state_points_to_repair_which_rebuilds_it_from_the_archive() {
    type Break = fn(&Path);
    let cases: [(&str, Break); 2] = [
        ("corrupt", |state| {
            std::fs::write(state, b"{not json").unwrap()
        }),
        ("deleted", |state| std::fs::remove_file(state).unwrap()),
    ];
    for (what, break_state) in cases {
        let s = Sandbox::with_example();
        for i in 1..=2 {
            s.write("workspace/policies/ai-policy.md", format!("# policy {i}\n"));
            let o = s.collect(Some(EPOCH + i));
            assert!(o.status.success(), "{}", text(&o));
        }
        let state = s.archive().join(".agent/state.json");
        break_state(&state);
        let o = s.collect(Some(EPOCH + 3));
        assert_eq!(o.status.code(), Some(2), "{what}: {}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("evidence-agent repair"),
            "{what}: {}",
            text(&o)
        );
        let checked = check(&s);
        assert!(
            String::from_utf8_lossy(&checked.stdout).contains("evidence-agent repair"),
            "{what}: {}",
            text(&checked)
        );

        let r = repair(&s);
        assert_eq!(r.status.code(), Some(0), "{what}: {}", text(&r));
        assert!(
            String::from_utf8_lossy(&r.stdout).contains("continues from run 2"),
            "{what}: {}",
            text(&r)
        );
        let again = repair(&s);
        assert!(
            String::from_utf8_lossy(&again.stdout).contains("nothing to repair"),
            "{what}: {}",
            text(&again)
        );
        let o = s.collect(Some(EPOCH + 4));
        assert!(o.status.success(), "{what}: {}", text(&o));
        assert_eq!(json(&o)["run"], 3, "{what}");
        let v = s.verify();
        assert_eq!(json(&v)["valid"], true, "{what}: {}", text(&v));
    }
}

#[test]
fn check_lists_rules_that_match_nothing_and_files_no_rule_matches() {
    let s = Sandbox::with_example();
    append_config(
        &s,
        "\n[[source.rule]]\nglob = \"polices/**\"\nkind = \"ai_policy\"\n\n[[source.rule]]\nglob = \"./drafts/*.txt\"\nkind = \"ai_policy\"\n",
    );
    // The example excludes nothing: drafts/notes.txt is taken by the `./drafts/*.txt` rule
    // (a leading `./` is dropped), and the typo matches nothing.
    let o = check(&s);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("glob \"polices/**\") matches no file") && !out.contains("drafts/notes.txt"),
        "{}",
        text(&o)
    );

    let s = Sandbox::with_example();
    let o = check(&s);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("1 file(s) match no rule and will not be collected: drafts/notes.txt"),
        "{}",
        text(&o)
    );
}

#[test]
fn an_empty_control_list_and_an_absolute_glob_are_config_errors() {
    for (from, to, expect) in [
        (
            "controls = [\"A.2.2\"]",
            "controls = []",
            "`controls = []` names no control",
        ),
        (
            "glob = \"policies/ai-policy.md\"",
            "glob = \"/policies/ai-policy.md\"",
            "starts with '/'",
        ),
    ] {
        let s = Sandbox::with_example();
        let config = std::fs::read_to_string(s.config()).unwrap();
        assert!(config.contains(from));
        std::fs::write(s.config(), config.replace(from, to)).unwrap();
        for o in [check(&s), s.collect(Some(EPOCH))] {
            assert_eq!(o.status.code(), Some(2), "{}", text(&o));
            assert!(
                String::from_utf8_lossy(&o.stderr).contains(expect),
                "{}",
                text(&o)
            );
        }
    }
}

#[test]
fn a_file_name_that_is_not_utf8_is_counted_as_skipped_and_the_population_is_incomplete() {
    use std::os::unix::ffi::OsStrExt;
    let s = Sandbox::with_example();
    let name = std::ffi::OsStr::from_bytes(b"policies/bad-\xff-name.md");
    std::fs::write(s.path().join("workspace").join(name), "# policy\n").unwrap();
    let o = s.collect(Some(EPOCH));
    assert!(o.status.code().is_some(), "{}", text(&o));
    let bundle = s.archive().join("run-000001.zip");
    let record = run(std::process::Command::new("unzip")
        .arg("-p")
        .arg(&bundle)
        .arg("run-000001/data/populations/governance-docs/0001.json"));
    let record: serde_json::Value = serde_json::from_slice(&record.stdout).unwrap();
    assert_eq!(record["complete"], false, "{record:#}");
    assert_eq!(record["attributes"]["skipped_count"], 1, "{record:#}");
    let notes = record["notes"].to_string();
    assert!(notes.contains("not UTF-8"), "{record:#}");
}

#[test]
fn every_subcommand_help_has_an_example() {
    for sub in [
        "collect",
        "run",
        "check",
        "repair",
        "catalogue",
        "keygen",
        "cosign",
    ] {
        let o = run(cmd("evidence-agent").args([sub, "--help"]));
        assert!(o.status.success(), "{sub}: {}", text(&o));
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            out.contains("Example:") && out.contains(&format!("evidence-agent {sub}")),
            "{sub}: {}",
            text(&o)
        );
    }
}

#[test]
fn json_output_covers_check_keygen_and_errors() {
    let s = Sandbox::with_example();
    let o = run(cmd("evidence-agent")
        .args(["check", "--json", "--config"])
        .arg(s.config()));
    let report = json(&o);
    let names: Vec<&str> = report["sources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x["name"].as_str())
        .collect();
    assert_eq!(names, ["ai-events", "governance-docs"], "{report:#}");
    assert!(report["healthy"].is_boolean(), "{report:#}");

    let key = s.path().join("keys/agent");
    std::fs::create_dir_all(key.parent().unwrap()).unwrap();
    let o = run(cmd("evidence-agent")
        .args(["keygen", "--json", "--out"])
        .arg(&key));
    assert!(o.status.success(), "{}", text(&o));
    let k = json(&o);
    assert!(
        k["allowed_signers"]
            .as_str()
            .unwrap()
            .starts_with("evidence-agent "),
        "{k:#}"
    );

    // A failure with --json still answers in JSON on stdout.
    for args in [
        vec!["collect", "--json", "--config", "no-such.toml"],
        vec!["check", "--json", "--config", "no-such.toml"],
        vec!["keygen", "--json", "--out"],
    ] {
        let mut c = cmd("evidence-agent");
        c.args(&args).current_dir(s.path());
        if args[0] == "keygen" {
            c.arg(&key); // exists: never replaced
        }
        let o = run(&mut c);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        let e = json(&o);
        assert_eq!(e["error"]["exit_code"], 2, "{e:#}");
        assert!(!e["error"]["message"].as_str().unwrap().is_empty(), "{e:#}");
    }
}
