//! `evidence-agent run` end to end, as a service manager runs it: it seals at start and then
//! on its cron schedule, stops on SIGTERM (at once when idle; after sealing what was staged
//! when busy; at once on a second signal, with a valid archive), holds the archive against a
//! second agent, catches up a run missed while down, and refuses a corrupt or newer state.
//! `collect` stops the same way, and `check` reports without writing.

use std::process::Command;
use std::time::{Duration, Instant};

use evidence_tests::background::Background;
use evidence_tests::inventory;
use evidence_tests::mock_jira::{self, MockJira};
use evidence_tests::{Sandbox, cmd, json, run, text};

const MINUTE_PLUS: Duration = Duration::from_secs(75);
const SOON: Duration = Duration::from_secs(20);

/// A second local folder, `minutes`, as a `[[source]]` table with `schedule`.
fn minutes_source(schedule: &str) -> String {
    format!(
        "\n[[source]]\ntype = \"local\"\nname = \"minutes\"\npath = \"minutes\"\nschedule = \"{schedule}\"\n[[source.rule]]\nglob = \"**\"\nkind = \"management_review_minutes\"\n"
    )
}

/// A sandbox with a local folder of three documents (and a `minutes` folder of two, which
/// only [`minutes_source`] reads) and an agent config whose `[agent]` table is `agent`, plus
/// the `[[source]]` tables in `more`.
fn sandbox(agent: &str, more: &str) -> Sandbox {
    let s = Sandbox::empty();
    for i in 1..=3 {
        s.write(&format!("docs/policy-{i}.md"), format!("# Policy {i}\n"));
    }
    for i in 1..=2 {
        s.write(&format!("minutes/review-{i}.md"), format!("# Review {i}\n"));
    }
    s.write(
        "agent.toml",
        format!(
            r#"
[agent]
{agent}

[archive]
path = "evidence"
origin = "daemon.example.org/ai"

[[source]]
type = "local"
name = "docs"
path = "docs"
[[source.rule]]
glob = "**"
kind = "ai_policy"
{more}"#
        ),
    );
    s
}

fn agent(s: &Sandbox, args: &[&str]) -> Command {
    let mut c = cmd("evidence-agent");
    c.args(["--log-format", "json", "--quiet"])
        .args(args)
        .arg("--config")
        .arg(s.config());
    mock_jira::credentials(&mut c);
    c
}

fn start(s: &Sandbox) -> Background {
    Background::spawn(&mut agent(s, &["run"]))
}

fn assert_verifies(s: &Sandbox) -> serde_json::Value {
    let o = s.verify();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    json(&o)
}

fn mock_jira() -> (tokio::runtime::Runtime, MockJira) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let jira = rt.block_on(MockJira::start());
    for i in 1..=3 {
        jira.upsert(
            &format!("AIOPS-{i}"),
            "Drift alert",
            format!("2026-01-0{i}T10:00:00Z").parse().unwrap(),
        );
    }
    (rt, jira)
}

#[test]
fn run_seals_at_start_then_every_minute_and_a_sigterm_while_idle_stops_it_at_once() {
    let s = sandbox("schedule = \"* * * * *\"", "");
    let mut daemon = start(&s);
    let first = daemon.wait_for("run sealed", 1, SOON);
    assert_eq!(first["run"], 1);
    assert_eq!(first["items"], 3);
    daemon.wait_for("waiting for the next run", 1, SOON);
    s.write("docs/policy-2.md", "# Policy 2, revised\n");
    // The next run comes from the schedule, at the next minute.
    let second = daemon.wait_for("run sealed", 2, MINUTE_PLUS);
    assert_eq!(second["run"], 2);
    assert_eq!(second["items"], 1, "{second}");
    let due = daemon.wait_for("sources due", 2, SOON);
    assert!(
        due["timestamp"].as_str().unwrap().contains(":00."),
        "on the minute: {due}"
    );
    daemon.wait_for("waiting for the next run", 2, SOON);
    daemon.signal("TERM");
    let (status, took) = daemon.wait(SOON);
    assert_eq!(status.code(), Some(0), "{}", daemon.lines().join("\n"));
    assert!(
        took < Duration::from_secs(2),
        "an idle agent stops at once, took {took:?}"
    );
    let report = assert_verifies(&s);
    assert_eq!(report["bundles"].as_array().unwrap().len(), 2);
}

#[test]
fn a_sigterm_during_a_run_seals_what_was_staged_and_exits_0_within_the_deadline() {
    let (_rt, jira) = mock_jira();
    jira.set_delay(Duration::from_secs(30));
    let s = sandbox("shutdown_deadline_secs = 10", &jira.source_toml("jira"));
    let mut daemon = start(&s);
    let start_wait = Instant::now();
    while jira.searches() == 0 {
        assert!(start_wait.elapsed() < SOON, "{}", daemon.lines().join("\n"));
        std::thread::sleep(Duration::from_millis(20));
    }
    // Jira is in the middle of a slow search page; the folder is done.
    daemon.signal("TERM");
    let (status, took) = daemon.wait(Duration::from_secs(15));
    assert_eq!(status.code(), Some(0), "{}", daemon.lines().join("\n"));
    assert!(
        took < Duration::from_secs(10),
        "took {took:?}, more than the deadline"
    );
    let sealed = daemon.wait_for("run sealed", 1, SOON);
    assert_eq!(sealed["run"], 1, "{sealed}");
    assert_verifies(&s);
    let inv = inventory::read(&s.archive());
    assert_eq!(inv.bundles, [1]);
    let gap = inv.gaps.iter().find(|g| g.source == "jira").unwrap();
    assert_eq!(gap.category, "interrupted", "{gap:?}");
    assert!(inv.items.iter().all(|i| i.source == "docs"));
    assert_next_run_completes_the_set(&s, &jira);
}

/// After an interrupted run, the next `collect` seals the rest: every document and ticket is
/// then in exactly one bundle.
fn assert_next_run_completes_the_set(s: &Sandbox, jira: &MockJira) {
    jira.set_delay(Duration::ZERO);
    let o = run(&mut agent(s, &["collect", "--json"]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_verifies(s);
    let mut refs: Vec<String> = inventory::read(&s.archive())
        .items
        .into_iter()
        .map(|i| i.reference)
        .collect();
    refs.sort();
    assert_eq!(
        refs,
        [
            "AIOPS-1",
            "AIOPS-2",
            "AIOPS-3",
            "policy-1.md",
            "policy-2.md",
            "policy-3.md"
        ]
    );
}

#[test]
fn a_second_sigterm_quits_at_once_and_the_archive_stays_valid() {
    let s = sandbox("shutdown_deadline_secs = 60", "");
    let o = run(&mut agent(&s, &["collect"]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // A source added to the config has never run, so `run` runs it at start; the seal of
    // that run stalls (a slow disk), and the operator will not wait for it.
    let config = std::fs::read_to_string(s.config()).unwrap() + &minutes_source("0 2 * * *");
    std::fs::write(s.config(), config).unwrap();
    let mut daemon = Background::spawn(
        agent(&s, &["run"])
            .env("EVIDENCE_AGENT_STALL_AT", "bundle-synced")
            .env("EVIDENCE_AGENT_STALL_SECS", "60"),
    );
    daemon.wait_for_line("simulated stall at bundle-synced", SOON);
    daemon.signal("TERM");
    daemon.wait_for("stopping: the run in progress, if any, seals what its sources staged (send the signal again to quit at once)", 1, SOON);
    std::thread::sleep(Duration::from_millis(300));
    assert!(daemon.is_running(), "the first signal lets the seal finish");
    daemon.signal("TERM");
    let (status, took) = daemon.wait(Duration::from_secs(5));
    assert_eq!(status.code(), Some(143), "{}", daemon.lines().join("\n"));
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert!(
        daemon
            .lines()
            .iter()
            .any(|l| l.contains("quitting at once"))
    );
    // Run 2 was never published; the archive verifies, and the next run seals the change once.
    let report = assert_verifies(&s);
    assert_eq!(report["bundles"].as_array().unwrap().len(), 1);
    let o = run(&mut agent(&s, &["collect", "--json"]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(json(&o)["run"], 2);
    assert_eq!(json(&o)["items"], 2);
    assert_verifies(&s);
}

#[test]
fn a_second_agent_on_the_same_archive_exits_2_while_run_holds_it() {
    let s = sandbox("", "");
    let mut daemon = start(&s);
    daemon.wait_for("waiting for the next run", 1, SOON);
    for args in [&["run"][..], &["collect"][..]] {
        let o = run(&mut agent(&s, args));
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr)
                .contains("another evidence-agent is already running"),
            "{}",
            text(&o)
        );
    }
    let o = run(&mut agent(&s, &["check"]));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("held: an agent is running"),
        "{}",
        text(&o)
    );
    daemon.signal("INT");
    let (status, _) = daemon.wait(SOON);
    assert_eq!(status.code(), Some(0));
}

#[test]
fn a_run_missed_while_the_agent_was_down_is_caught_up_once_at_start() {
    // `docs` runs daily at midnight, and the state says it last ran two days ago; `minutes`
    // runs yearly and ran just now, so it is not due and stays out of the run.
    let s = sandbox("schedule = \"0 0 * * *\"", &minutes_source("0 0 1 1 *"));
    let o = run(&mut agent(&s, &["collect"]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let state_path = s.archive().join(".agent/state.json");
    let mut state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state_path).unwrap()).unwrap();
    let two_days_ago = jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_hours(48))
        .unwrap();
    state["sources"]["docs"]["last_run_at"] = two_days_ago.to_string().into();
    std::fs::write(&state_path, serde_json::to_vec_pretty(&state).unwrap()).unwrap();
    s.write(
        "docs/policy-3.md",
        "# Policy 3, revised while the agent was down\n",
    );

    let mut daemon = start(&s);
    let sealed = daemon.wait_for("run sealed", 1, SOON);
    assert_eq!(
        (sealed["run"].as_u64(), sealed["items"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(sealed["not_due"], 1, "{sealed}");
    let record = evidence_tests::tamper::unpack(&s.archive().join("run-000002.zip"))
        .into_iter()
        .find(|(k, _)| k.ends_with("data/run.json"))
        .map(|(_, v)| serde_json::from_slice::<serde_json::Value>(&v).unwrap())
        .unwrap();
    let ran: Vec<&str> = record["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        ran,
        ["docs"],
        "a source that is not due is not in the run record: {record:#}"
    );
    let missed = daemon
        .events()
        .into_iter()
        .find(|e| {
            e["source"] == "docs"
                && e["message"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("missed the run due at")
        })
        .unwrap_or_else(|| panic!("{}", daemon.lines().join("\n")));
    assert!(
        missed["message"]
            .as_str()
            .unwrap()
            .contains("runs once at start")
    );
    let waiting = daemon.wait_for("waiting for the next run", 1, SOON);
    assert!(
        waiting["next_run"]
            .as_str()
            .unwrap()
            .ends_with("T00:00:00Z"),
        "{waiting}"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        daemon.events_with("run sealed").len(),
        1,
        "one catch-up run, not one per missed day"
    );
    daemon.signal("TERM");
    assert_eq!(daemon.wait(SOON).0.code(), Some(0));
}

#[test]
fn run_refuses_a_corrupt_or_newer_state_with_exit_2_and_overwrites_nothing() {
    let s = sandbox("", "");
    let o = run(&mut agent(&s, &["collect"]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let state_path = s.archive().join(".agent/state.json");
    for (bad, expect) in [
        (&b"{\"version\": 1, \"origin\": "[..], "is corrupt"),
        (
            &b"{\"version\": 9, \"origin\": \"daemon.example.org/ai\"}"[..],
            "written by a newer evidence-agent (state version 9",
        ),
    ] {
        std::fs::write(&state_path, bad).unwrap();
        for args in [&["run"][..], &["collect"][..]] {
            let o = run(&mut agent(&s, args));
            assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(
                err.contains(expect) && err.contains("state.json"),
                "{args:?}: {}",
                text(&o)
            );
            assert_eq!(
                std::fs::read(&state_path).unwrap(),
                bad,
                "the state was touched"
            );
        }
        let o = run(&mut agent(&s, &["check"]));
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stdout).contains(expect),
            "{}",
            text(&o)
        );
    }
    assert_eq!(inventory::read(&s.archive()).bundles, [1]);
}

#[test]
fn collect_stops_on_sigterm_like_run_and_seals_what_was_staged() {
    let (_rt, jira) = mock_jira();
    jira.set_delay(Duration::from_secs(30));
    let s = sandbox("", &jira.source_toml("jira"));
    let mut collect = Background::spawn(&mut agent(&s, &["collect", "--json"]));
    let start_wait = Instant::now();
    while jira.searches() == 0 {
        assert!(
            start_wait.elapsed() < SOON,
            "{}",
            collect.lines().join("\n")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    collect.signal("TERM");
    let (status, took) = collect.wait(SOON);
    // Exit 1: the bundle is sealed, with the interrupted source as a gap.
    assert_eq!(status.code(), Some(1), "{}", collect.lines().join("\n"));
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_verifies(&s);
    let inv = inventory::read(&s.archive());
    assert!(inv.items.iter().all(|i| i.source == "docs"));
    assert!(
        inv.gaps
            .iter()
            .any(|g| g.source == "jira" && g.category == "interrupted"),
        "{:?}",
        inv.gaps
    );
    assert_next_run_completes_the_set(&s, &jira);
}

#[test]
fn check_shows_schedules_next_runs_and_health_and_writes_nothing() {
    let s = sandbox(
        "schedule = \"0 2 * * *\"\ntimezone = \"Europe/Berlin\"\njitter_secs = 600",
        "\n[[source]]\ntype = \"local\"\nname = \"hr-share\"\npath = \"missing-folder\"\nschedule = \"*/15 * * * *\"\n[[source.rule]]\nglob = \"**\"\nkind = \"training_record\"\n",
    );
    let o = run(&mut agent(&s, &["check"]));
    assert_eq!(
        o.status.code(),
        Some(1),
        "a missing folder is unhealthy:\n{}",
        text(&o)
    );
    let out = String::from_utf8_lossy(&o.stdout);
    let header = out
        .lines()
        .find(|l| l.starts_with("SOURCE"))
        .unwrap_or_else(|| panic!("{out}"));
    for column in [
        "TYPE",
        "SCHEDULE",
        "NEXT RUN (Europe/Berlin)",
        "HEALTH",
        "DETAIL",
    ] {
        assert!(header.contains(column), "{header}");
    }
    let row = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{out}"))
    };
    assert!(
        row("docs ").contains("0 2 * * *") && row("docs ").contains("at start (never ran)"),
        "{out}"
    );
    assert!(
        row("hr-share").contains("*/15 * * * *") && row("hr-share").contains("FAIL"),
        "{out}"
    );
    // Columns line up: every row's HEALTH cell starts where the header's does.
    let health = header.find("HEALTH").unwrap();
    assert!(row("docs ")[health..].starts_with("ok"), "{out}");
    assert!(row("hr-share")[health..].starts_with("FAIL"), "{out}");
    assert!(out.contains("jitter up to 600s"), "{out}");
    assert!(!s.archive().exists(), "check must not create the archive");
}
