//! Two `evidence-auditor` processes racing on one engagement file: each protocol step checks
//! the order and writes in one immediate transaction, so exactly one of two conflicting steps
//! wins, the loser gets the documented refusal (exit 2), and the record stays consistent.

use std::path::PathBuf;
use std::process::{Child, Output, Stdio};

use evidence_tests::{Sandbox, cmd, json, run, text};
use sha2::{Digest, Sha256};

const EPOCH: u64 = 1_767_225_600; // 2026-01-01T00:00:00Z
const ROUNDS: usize = 20;

fn engagement(s: &Sandbox) -> PathBuf {
    s.path().join("engagement.sqlite")
}

fn auditor(s: &Sandbox, args: &[&str]) -> std::process::Command {
    let mut c = cmd("evidence-auditor");
    c.args(args)
        .env("EVIDENCE_ENGAGEMENT", engagement(s))
        .current_dir(s.path());
    c
}

fn ok(s: &Sandbox, args: &[&str]) -> Output {
    let o = run(&mut auditor(s, args));
    assert_eq!(o.status.code(), Some(0), "{args:?}\n{}", text(&o));
    o
}

fn ok_json(s: &Sandbox, args: &[&str]) -> serde_json::Value {
    let mut a = args.to_vec();
    a.push("--json");
    json(&ok(s, &a))
}

fn spawn(s: &Sandbox, args: &[&str]) -> Child {
    auditor(s, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the auditor starts")
}

/// Start every command at once (back to back), then wait for all of them.
fn race(s: &Sandbox, commands: &[&[&str]]) -> Vec<Output> {
    let children: Vec<Child> = commands.iter().map(|a| spawn(s, a)).collect();
    children
        .into_iter()
        .map(|c| c.wait_with_output().expect("the auditor ends"))
        .collect()
}

/// An archive ingested into a new engagement with one audit.
fn engaged() -> Sandbox {
    let s = Sandbox::with_example();
    let o = s.collect(Some(EPOCH));
    assert!(o.status.success(), "{}", text(&o));
    ok(&s, &["ingest", "evidence"]);
    ok(&s, &["audit", "add", "stage2", "--type", "initial"]);
    s
}

fn refused_with(o: &Output, expect: &[&str]) {
    let all = text(o);
    assert_eq!(o.status.code(), Some(2), "{all}");
    assert!(
        expect.iter().any(|e| all.contains(e)),
        "expected one of {expect:?} in\n{all}"
    );
}

#[test]
fn a_freeze_racing_a_commitment_or_another_freeze_leaves_one_consistent_record() {
    let s = engaged();
    for round in 0..ROUNDS {
        // A committed population: two freezes and a second commitment race.
        let name = format!("f{round}");
        ok(&s, &["population", "define", &name]);
        let first = format!("{name}-a.secret");
        let second = format!("{name}-b.secret");
        ok(
            &s,
            &[
                "seed",
                "commit",
                &name,
                "--secret-file",
                &first,
                "--generate",
            ],
        );
        let outs = race(
            &s,
            &[
                &["population", "freeze", &name],
                &[
                    "seed",
                    "commit",
                    &name,
                    "--secret-file",
                    &second,
                    "--generate",
                ],
                &["population", "freeze", &name],
            ],
        );
        let freezes: Vec<&Output> = vec![&outs[0], &outs[2]];
        let won = freezes.iter().filter(|o| o.status.success()).count();
        assert_eq!(
            won,
            1,
            "round {round}: exactly one freeze wins\n{}\n{}",
            text(freezes[0]),
            text(freezes[1])
        );
        for o in freezes.iter().filter(|o| !o.status.success()) {
            refused_with(o, &["was already frozen at"]);
        }
        refused_with(
            &outs[1],
            &[
                "already has the commitment",
                "a commitment made after the freeze",
            ],
        );
        let secret = std::fs::read_to_string(s.path().join(&first)).unwrap();
        let seed = ok_json(&s, &["seed", "show", &name]);
        assert_eq!(
            seed["commitment"],
            hex::encode(Sha256::digest(secret.trim_end().as_bytes())),
            "round {round}: the first commitment stands"
        );
        let shown = ok_json(&s, &["population", "show", &name]);
        assert_eq!(shown["status"], "frozen", "round {round}: {shown:#}");

        // A population without a commitment: a freeze racing the commitment either comes
        // second (and succeeds) or first (and is refused); never a freeze without one before it.
        let name = format!("c{round}");
        ok(&s, &["population", "define", &name]);
        let file = format!("{name}.secret");
        let outs = race(
            &s,
            &[
                &[
                    "seed",
                    "commit",
                    &name,
                    "--secret-file",
                    &file,
                    "--generate",
                ],
                &["population", "freeze", &name],
            ],
        );
        assert_eq!(outs[0].status.code(), Some(0), "{}", text(&outs[0]));
        let shown = ok_json(&s, &["population", "show", &name]);
        let seed = ok_json(&s, &["seed", "show", &name]);
        if outs[1].status.success() {
            assert_eq!(shown["status"], "frozen", "{shown:#}");
            let committed: jiff::Timestamp =
                seed["committed_at"].as_str().unwrap().parse().unwrap();
            let frozen: jiff::Timestamp = shown["frozen"]["frozen_at"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(committed <= frozen, "round {round}: {seed:#} {shown:#}");
        } else {
            refused_with(&outs[1], &["has no seed commitment"]);
            assert_eq!(shown["status"], "committed", "{shown:#}");
        }
    }
}

#[test]
fn two_draws_racing_on_one_population_draw_once() {
    let s = engaged();
    for round in 0..ROUNDS {
        let name = format!("d{round}");
        let secret = format!("{name}.secret");
        ok(&s, &["population", "define", &name]);
        ok(
            &s,
            &[
                "seed",
                "commit",
                &name,
                "--secret-file",
                &secret,
                "--generate",
            ],
        );
        ok(&s, &["population", "freeze", &name]);
        let plan = ok_json(&s, &["population", "plan", &name]);
        ok(&s, &["seed", "reveal", &name, "--secret-file", &secret]);
        let outs = race(
            &s,
            &[
                &["sample", "draw", &name, "--json"],
                &["sample", "draw", &name, "--json"],
            ],
        );
        let winners: Vec<&Output> = outs.iter().filter(|o| o.status.success()).collect();
        assert_eq!(
            winners.len(),
            1,
            "round {round}: exactly one draw wins\n{}\n{}",
            text(&outs[0]),
            text(&outs[1])
        );
        for o in outs.iter().filter(|o| !o.status.success()) {
            refused_with(o, &["a sample is drawn once"]);
            let err = json(o);
            assert_eq!(err["error"]["exit_code"], 2, "{err}");
        }
        let drawn = json(winners[0]);
        let shown = ok_json(&s, &["sample", "show", &name]);
        assert_eq!(shown["picks"], drawn["picks"], "round {round}");
        assert_eq!(
            shown["picks"].as_array().unwrap().len() as u64,
            plan["sample_size"].as_u64().unwrap(),
            "round {round}: one draw of n picks"
        );
        let record = json(&ok(&s, &["record", "export", "--population", &name]));
        let p = &record["populations"][0];
        assert_eq!(p["status"], "drawn", "round {round}");
        assert_eq!(p["selection"]["picks"], drawn["picks"], "round {round}");
        assert_eq!(
            p["selection"]["drawn_at"], drawn["drawn_at"],
            "round {round}"
        );
    }
}
