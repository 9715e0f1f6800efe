//! Internal audit end to end, as an internal auditor types it: a sampled population with a
//! deviation is concluded as a minor nonconformity (recorded as a finding), a corrective action
//! is planned, closure is refused with evidence sealed before the finding and accepted with an
//! item the agent sealed in a later run plus an effectiveness review; a major nonconformity
//! blocks until closed; the action register round-trips through CSV and XLSX, strictly.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use evidence_tests::{Sandbox, text};

use crate::engagement::{
    EPOCH, aud, collect, defined, drawn, engagement, fails, fill, ok, ok_json, read_csv, workspace,
    write_csv,
};

/// A sampled, concluded population with one deviation: finding F-0001 (minor nonconformity).
fn concluded_with_a_deviation(s: &Sandbox) -> serde_json::Value {
    collect(s, EPOCH);
    defined(s);
    drawn(s, "incidents");
    ok(
        s,
        &["workpaper", "export", "incidents", "--output", "wp.csv"],
    );
    let mut rows = read_csv(&s.path().join("wp.csv"));
    fill(&mut rows, &[(2, "deviation", "no root cause recorded")]);
    write_csv(&s.path().join("filled.csv"), &rows);
    ok(s, &["workpaper", "import", "incidents", "filled.csv"]);
    let o = aud(
        s,
        &[
            "conclude",
            "incidents",
            "--finding",
            "minor-nonconformity",
            "--json",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    evidence_tests::json(&o)
}

/// Change the AI policy and seal it in a later run (after the finding), then ingest that run;
/// returns the new policy item's id.
fn later_policy_item(s: &Sandbox) -> String {
    let policy = s.path().join("workspace/policies/ai-policy.md");
    let mut text = std::fs::read_to_string(&policy).unwrap();
    text.push_str(
        "\n## Post-incident reviews\nEvery post-incident review records its root cause.\n",
    );
    std::fs::write(&policy, text).unwrap();
    let later = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 120;
    collect(s, later);
    ok(s, &["ingest", "evidence"]);
    newest_item(&engagement(s), "ai_policy")
}

fn newest_item(engagement: &Path, kind: &str) -> String {
    let db = rusqlite::Connection::open(engagement).unwrap();
    db.query_row(
        "SELECT item_id FROM items WHERE kind = ?1 ORDER BY id DESC LIMIT 1",
        [kind],
        |r| r.get(0),
    )
    .unwrap()
}

fn first_item(engagement: &Path, kind: &str) -> String {
    let db = rusqlite::Connection::open(engagement).unwrap();
    db.query_row(
        "SELECT item_id FROM items WHERE kind = ?1 ORDER BY id LIMIT 1",
        [kind],
        |r| r.get(0),
    )
    .unwrap()
}

/// Borrow owned arguments as the helpers take them.
fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

const PLAN: [&str; 8] = [
    "--correction",
    "the missing root cause was added to the post-mortem",
    "--root-cause",
    "the post-mortem template has no root-cause section",
    "--action",
    "template and AI policy require a root cause",
    "--owner",
    "Head of AI operations",
];

#[test]
fn a_deviation_becomes_a_nonconformity_whose_action_closes_only_with_later_evidence() {
    let s = workspace();
    let concluded = concluded_with_a_deviation(&s);
    assert_eq!(concluded["finding_id"], "F-0001");

    let listed = ok_json(&s, &["finding", "list"]);
    let f = &listed["findings"][0];
    assert_eq!(f["category"], "minor nonconformity");
    assert_eq!(f["evidence"][0]["type"], "population");
    assert_eq!(f["evidence"][0]["name"], "incidents");
    assert!(!f["requirements"].as_array().unwrap().is_empty(), "{f}");
    assert_eq!(listed["blockers"].as_array().unwrap().len(), 0);

    // Out of order: no action to close yet; a conformity takes no action.
    fails(
        &s,
        &[
            "action",
            "close",
            "CA-0001",
            "--evidence",
            "x",
            "--reviewed-on",
            "2026-01-01",
            "--conclusion",
            "c",
        ],
        2,
        "corrective action \"CA-0001\" does not exist",
    );
    let mut add = vec!["action", "add", "F-0001"];
    add.extend(PLAN);
    let action = ok_json(&s, &add);
    assert_eq!(action["id"], "CA-0001");
    assert_eq!(action["status"], "open");
    fails(&s, &add, 2, "already has corrective action CA-0001");

    // Evidence sealed before the finding is refused, and nothing is stored.
    let old = first_item(&engagement(&s), "ai_policy");
    let today = jiff::Timestamp::now().strftime("%Y-%m-%d").to_string();
    let close = |item: &str| {
        vec![
            "action".to_owned(),
            "close".into(),
            "CA-0001".into(),
            "--evidence".into(),
            item.to_owned(),
            "--reviewed-on".into(),
            today.clone(),
            "--conclusion".into(),
            "every post-mortem since records a root cause".into(),
        ]
    };
    let args = close(&old);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    fails(&s, &args, 2, "before finding F-0001 was recorded");
    let still = ok_json(&s, &["action", "list"]);
    assert_eq!(still["actions"][0]["status"], "open");
    assert_eq!(still["actions"][0]["reviews"].as_array().unwrap().len(), 0);

    // The agent seals the changed policy in a later run: closure is accepted.
    let new = later_policy_item(&s);
    assert_ne!(new, old);
    let args = close(&new);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = ok(&s, &args);
    assert!(text(&out).contains("Closed CA-0001"), "{}", text(&out));
    let closed = ok_json(&s, &["action", "list"]);
    assert_eq!(closed["actions"][0]["status"], "closed");
    let review = &closed["actions"][0]["reviews"][0];
    assert_eq!(review["evidence"]["item_id"], new.as_str());
    assert_eq!(review["evidence"]["sha256"].as_str().unwrap().len(), 64);
    fails(&s, &args, 2, "was closed on");
}

#[test]
fn an_open_major_nonconformity_is_a_blocker_and_bad_findings_store_nothing() {
    let s = workspace();
    collect(&s, EPOCH);
    defined(&s);
    let item = first_item(&engagement(&s), "ai_policy");
    let base = [
        "finding",
        "add",
        "--audit",
        "stage2",
        "--statement",
        "the AI policy is not approved by top management",
    ];
    let with = |extra: &[&str]| -> Vec<String> {
        base.iter().chain(extra).map(|a| (*a).to_owned()).collect()
    };

    fails(
        &s,
        &strs(&with(&[
            "--category",
            "major-nonconformity",
            "--against",
            "A.99",
            "--item",
            &item,
        ])),
        2,
        "\"A.99\" is neither an Annex A control",
    );
    fails(
        &s,
        &strs(&with(&[
            "--category",
            "grave",
            "--against",
            "A.2.2",
            "--item",
            &item,
        ])),
        2,
        "is not one of",
    );
    fails(
        &s,
        &strs(&with(&[
            "--category",
            "major-nonconformity",
            "--against",
            "A.2.2",
            "--item",
            "no-such-item",
        ])),
        2,
        "archive item \"no-such-item\" does not exist",
    );
    fails(
        &s,
        &strs(&with(&[
            "--category",
            "major-nonconformity",
            "--against",
            "A.2.2",
            "--population",
            "incidents",
        ])),
        2,
        "population incidents is not concluded",
    );
    assert_eq!(
        ok_json(&s, &["finding", "list"])["findings"],
        serde_json::json!([])
    );

    ok(
        &s,
        &strs(&with(&[
            "--category",
            "major-nonconformity",
            "--against",
            "A.2.2",
            "--against",
            "5.2",
            "--item",
            &item,
        ])),
    );
    let o = aud(&s, &["finding", "list"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("BLOCKER")
            && text(&o).contains("F-0001")
            && text(&o).contains("no corrective action"),
        "{}",
        text(&o)
    );
    fails(
        &s,
        &[
            "action",
            "add",
            "F-0001",
            "--due",
            "2025-01-01",
            "--correction",
            "c",
            "--root-cause",
            "r",
            "--action",
            "a",
            "--owner",
            "o",
        ],
        2,
        "is before finding F-0001 was recorded",
    );
    assert_eq!(
        ok_json(&s, &["action", "list"])["actions"],
        serde_json::json!([])
    );
}

#[test]
fn the_action_register_round_trips_and_a_bad_row_stores_nothing() {
    let s = workspace();
    concluded_with_a_deviation(&s);
    let mut add = vec!["action", "add", "F-0001", "--due-days", "30"];
    add.extend(PLAN);
    ok(&s, &add);
    ok(
        &s,
        &[
            "register",
            "export",
            "findings",
            "--output",
            "findings.xlsx",
        ],
    );
    ok(
        &s,
        &["register", "export", "actions", "--output", "actions.xlsx"],
    );
    ok(
        &s,
        &["register", "export", "actions", "--output", "actions.csv"],
    );
    let bytes = std::fs::read(s.path().join("actions.xlsx")).unwrap();
    assert!(bytes.starts_with(b"PK"));

    // Unchanged: nothing changes.
    let out = ok(&s, &["register", "import", "actions.csv"]);
    assert!(text(&out).contains("0 action(s) changed"), "{}", text(&out));
    let out = ok(&s, &["register", "import", "actions.xlsx"]);
    assert!(text(&out).contains("0 action(s) changed"), "{}", text(&out));

    // A bad due date and half a closure: both named by row and column, nothing stored.
    let mut rows = read_csv(&s.path().join("actions.csv"));
    let header = rows[0].clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    rows[1][col("Owner")] = "Quality manager".into();
    rows[1][col("Due")] = "31/03/2027".into();
    rows[1][col("Evidence of implementation")] = "some-item".into();
    write_csv(&s.path().join("bad.csv"), &rows);
    let err = fails(
        &s,
        &["register", "import", "bad.csv"],
        2,
        "nothing was imported",
    );
    assert!(
        err.contains("row 2") && err.contains("column I (Due)"),
        "{err}"
    );
    let listed = ok_json(&s, &["action", "list"]);
    assert_eq!(listed["actions"][0]["owner"], "Head of AI operations");

    rows[1][col("Due")] = "2027-03-31".into();
    rows[1][col("Evidence of implementation")] = String::new();
    write_csv(&s.path().join("good.csv"), &rows);
    let out = ok(&s, &["register", "import", "good.csv"]);
    assert!(text(&out).contains("1 action(s) changed"), "{}", text(&out));
    let listed = ok_json(&s, &["action", "list"]);
    assert_eq!(listed["actions"][0]["owner"], "Quality manager");
    assert_eq!(listed["actions"][0]["due"], "2027-03-31");

    // The finding register: unchanged rows import as nothing; a new row (no id) is a new
    // finding checked like `finding add`; an edited recorded finding is refused, nothing stored.
    ok(
        &s,
        &["register", "export", "findings", "--output", "findings.csv"],
    );
    let out = ok(&s, &["register", "import", "findings.csv"]);
    assert!(text(&out).contains("0 finding(s) added"), "{}", text(&out));
    let out = ok(&s, &["register", "import", "findings.xlsx"]);
    assert!(text(&out).contains("0 finding(s) added"), "{}", text(&out));
    let mut rows = read_csv(&s.path().join("findings.csv"));
    let width = rows[0].len();
    let mut new_row = vec![String::new(); width];
    new_row[1] = "stage2".into();
    new_row[2] = "observation".into();
    new_row[3] = "A.8.4 10.2".into();
    new_row[4] = "post-mortems are filed a week late on average".into();
    new_row[5] = "population incidents".into();
    rows.push(new_row);
    let mut edited = rows.clone();
    edited[1][4] = "a softer statement".into();
    write_csv(&s.path().join("edited.csv"), &edited);
    let err = fails(
        &s,
        &["register", "import", "edited.csv"],
        2,
        "a recorded finding is not edited",
    );
    assert!(err.contains("row 2, column E (Statement)"), "{err}");
    assert_eq!(
        ok_json(&s, &["finding", "list"])["findings"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    write_csv(&s.path().join("new.csv"), &rows);
    let out = ok(&s, &["register", "import", "new.csv"]);
    assert!(text(&out).contains("1 finding(s) added"), "{}", text(&out));
    let f = ok_json(&s, &["finding", "show", "F-0002"]);
    assert_eq!(f["category"], "observation");
    assert_eq!(f["evidence"][0]["type"], "population");

    // The header is checked: a register from elsewhere is refused.
    write_csv(
        &s.path().join("other.csv"),
        &[vec!["id".into(), "owner".into()]],
    );
    fails(
        &s,
        &["register", "import", "other.csv"],
        2,
        "the header must be",
    );
}

#[test]
fn the_next_review_pack_shows_the_action_closed_and_follows_the_last_reviews_decisions() {
    let s = workspace();
    concluded_with_a_deviation(&s);
    let mut add = vec!["action", "add", "F-0001"];
    add.extend(PLAN);
    ok(&s, &add);
    let today = jiff::Timestamp::now().strftime("%Y-%m-%d").to_string();
    let due = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_hours(24 * 60))
        .unwrap()
        .strftime("%Y-%m-%d")
        .to_string();

    // The first review: the action is open; its decision is recorded.
    fails(
        &s,
        &[
            "review",
            "decide",
            "MR-1",
            "--decision",
            "d",
            "--owner",
            "o",
            "--due",
            &due,
        ],
        2,
        "review held MR-1",
    );
    ok(&s, &["review", "held", "MR-1", "--on", &today]);
    fails(
        &s,
        &["review", "held", "MR-1", "--on", &today],
        2,
        "management review \"MR-1\" already exists",
    );
    fails(
        &s,
        &[
            "review",
            "decide",
            "MR-1",
            "--decision",
            "d",
            "--owner",
            "o",
            "--due",
            "2020-01-01",
        ],
        2,
        "is before the review MR-1 was held",
    );
    fails(
        &s,
        &["review", "held", "MR-9", "--on", "31/12/2026"],
        2,
        "31/12/2026",
    );
    ok(
        &s,
        &[
            "review",
            "decide",
            "MR-1",
            "--decision",
            "add a root-cause section to the template",
            "--owner",
            "Quality manager",
            "--due",
            &due,
        ],
    );
    let first = ok_json(&s, &["review", "pack", "MR-1", "--as-of", &today]);
    let d1 = &first["pack"]["d1_nonconformities"];
    assert_eq!(
        (d1["open"].as_u64(), d1["closed"].as_u64()),
        (Some(1), Some(0)),
        "{d1}"
    );
    assert_eq!(first["pack"]["a_previous_decisions"], serde_json::json!([]));

    // The action closes with evidence sealed later; the decision closes too.
    let new = later_policy_item(&s);
    ok(
        &s,
        &[
            "action",
            "close",
            "CA-0001",
            "--evidence",
            &new,
            "--reviewed-on",
            &today,
            "--conclusion",
            "template changed; every post-mortem since has a root cause",
        ],
    );
    ok(
        &s,
        &[
            "review",
            "close-decision",
            "D-0001",
            "--on",
            &today,
            "--note",
            "template v2",
        ],
    );
    fails(
        &s,
        &[
            "review",
            "close-decision",
            "D-0001",
            "--on",
            &today,
            "--note",
            "again",
        ],
        2,
        "decision D-0001 was closed on",
    );

    // The next pack: input a) follows MR-1's decision to closure, d1) shows the action closed.
    let args = [
        "review",
        "pack",
        "MR-2",
        "--as-of",
        &today,
        "--html",
        "review.html",
        "--xlsx",
        "review.xlsx",
    ];
    let second = ok_json(&s, &args);
    let pack = &second["pack"];
    assert_eq!(pack["a_previous_decisions"][0]["decision"]["id"], "D-0001");
    assert_eq!(pack["a_previous_decisions"][0]["status"], "closed");
    assert_eq!(pack["d1_nonconformities"]["closed"], 1);
    assert_eq!(pack["d1_nonconformities"]["open"], 0);
    assert_eq!(pack["d3_audits"][0]["audit"], "stage2");
    assert_eq!(pack["d3_audits"][0]["populations"], 1);
    let html = std::fs::read(s.path().join("review.html")).unwrap();
    let xlsx = std::fs::read(s.path().join("review.xlsx")).unwrap();
    assert!(xlsx.starts_with(b"PK"));
    ok(&s, &args);
    assert_eq!(
        html,
        std::fs::read(s.path().join("review.html")).unwrap(),
        "the page is rebuilt byte for byte"
    );
    assert_eq!(
        xlsx,
        std::fs::read(s.path().join("review.xlsx")).unwrap(),
        "the workbook is rebuilt byte for byte"
    );
    let page = String::from_utf8(html).unwrap();
    assert!(page.contains("CA-0001") && page.contains("D-0001") && page.contains("None recorded"));
    assert!(
        page.contains("origin <strong>example.org&#x2f;ai</strong> · run 2"),
        "the page names the checkpoint it was built from"
    );

    let Some(browser) = evidence_tests::browser::chromium() else {
        evidence_tests::browser::skipped("the management-review pack");
        return;
    };
    let dom = evidence_tests::browser::dump_dom(&browser, &s.path().join("review.html"));
    for section in [
        "a) Status of actions",
        "d1) Nonconformities",
        "d2) Monitoring",
        "d3) Audit results",
        "e) Opportunities",
    ] {
        assert!(
            dom.contains(section),
            "{section} missing from the rendered page"
        );
    }
    let pages = evidence_tests::browser::print_to_pdf(&browser, &s.path().join("review.html"));
    assert!(pages >= 2, "the PDF has {pages} page(s)");
}

#[test]
fn the_programme_covers_every_applicable_requirement_and_refuses_an_auditor_of_their_own_area() {
    let s = workspace();
    collect(&s, EPOCH);
    ok(&s, &["ingest", "evidence"]);
    let plan = |id: &str, on: &str, covers: &[&str], auditor: &str| -> Vec<String> {
        let mut v: Vec<String> = ["programme", "plan", id, "--on", on]
            .iter()
            .map(|a| (*a).to_owned())
            .collect();
        for c in covers {
            v.extend(["--covers".to_owned(), (*c).to_owned()]);
        }
        v.extend(
            [
                "--objectives",
                "conformity of the AIMS",
                "--criteria",
                "ISO/IEC 42001:2023",
                "--scope",
                "claims triage",
                "--auditor",
                auditor,
            ]
            .iter()
            .map(|a| (*a).to_owned()),
        );
        v
    };
    let all = ["A", "4", "5", "6", "7", "8", "9", "10"];
    fails(
        &s,
        &strs(&plan("IA-1", "2026-06-01", &all, "Jo Auditor")),
        2,
        "no programme yet",
    );
    ok(
        &s,
        &[
            "programme",
            "set",
            "--cycle-start",
            "2026-01-01",
            "--high-risk",
            "A.6.2.4",
        ],
    );

    // The ML lead owns A.6.2.4 in the sealed SoA (row 5): refused, nothing stored.
    let err = fails(
        &s,
        &strs(&plan("IA-1", "2026-06-01", &["A.6"], "ML lead")),
        2,
        "must not audit their own area",
    );
    assert!(err.contains("ML lead owns A.6.2.4 (SoA row 5)"), "{err}");
    fails(
        &s,
        &strs(&plan("IA-1", "2026-06-01", &["A.99"], "Jo Auditor")),
        2,
        "neither an Annex A control",
    );
    fails(
        &s,
        &strs(&plan("IA-1", "2031-06-01", &all, "Jo Auditor")),
        2,
        "outside the programme's cycle",
    );
    assert_eq!(
        ok_json_code(&s, &["programme", "show", "--as-of", "2026-02-01"], 1)["audits"],
        serde_json::json!([])
    );

    // One audit of everything in year 1: the high-risk control still lacks years 2 and 3.
    ok(&s, &strs(&plan("IA-1", "2026-06-01", &all, "Jo Auditor")));
    let err = fails(
        &s,
        &["programme", "approve", "--on", "2026-02-01"],
        2,
        "uncovered in the cycle: A.6.2.4",
    );
    assert!(err.contains("nothing was approved"), "{err}");
    let o = aud(&s, &["programme", "show", "--as-of", "2026-02-01"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("UNCOVERED A.6.2.4 (yearly (high-risk)): no audit in year(s) [2, 3]"),
        "{}",
        text(&o)
    );

    ok(
        &s,
        &strs(&plan(
            "IA-2",
            "2027-06-01",
            &["A.6.2.4", "9.2"],
            "Jo Auditor",
        )),
    );
    ok(
        &s,
        &strs(&plan("IA-3", "2028-06-01", &["A.6.2.4"], "Jo Auditor")),
    );
    ok(&s, &["programme", "approve", "--on", "2026-02-01"]);

    // Past its day and not performed: overdue (exit 1) until recorded as performed.
    let v = ok_json_code(&s, &["programme", "show", "--as-of", "2026-07-01"], 1);
    assert_eq!(v["programme"]["overdue"], serde_json::json!(["IA-1"]));
    ok(&s, &["programme", "done", "IA-1", "--on", "2026-06-03"]);
    let v = ok_json(&s, &["programme", "show", "--as-of", "2026-07-01"]);
    assert_eq!(v["programme"]["overdue"], serde_json::json!([]));
    assert_eq!(v["programme"]["uncovered"], serde_json::json!([]));
}

fn ok_json_code(s: &Sandbox, args: &[&str], code: i32) -> serde_json::Value {
    let mut a = args.to_vec();
    a.push("--json");
    let o = aud(s, &a);
    assert_eq!(o.status.code(), Some(code), "{}", text(&o));
    evidence_tests::json(&o)
}

/// Every error NIST's assessment-results schema finds in `doc` (format checks on).
fn nist_schema_errors(doc: &serde_json::Value) -> Vec<String> {
    let path = evidence_tests::repo_root()
        .join("tests/fixtures/oscal/oscal_assessment-results_schema.json");
    let schema: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let v = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .should_validate_formats(true)
        .build(&schema)
        .unwrap();
    v.iter_errors(doc)
        .take(10)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

/// `trestle import` (which validates) and `trestle validate` in a fresh trestle workspace.
fn trestle_accepts(file: &Path, model_dir: &str, name: &str) {
    let trestle = evidence_tests::venv_tool("trestle");
    let ws = tempfile::tempdir().unwrap();
    let run_in = |args: &[&str]| {
        let o = evidence_tests::run(
            std::process::Command::new(&trestle)
                .args(args)
                .current_dir(ws.path()),
        );
        assert!(o.status.success(), "trestle {args:?}:\n{}", text(&o));
    };
    run_in(&["init"]);
    run_in(&["import", "-f", file.to_str().unwrap(), "-o", name]);
    let imported = format!("{model_dir}/{name}/{model_dir}.json");
    run_in(&["validate", "-f", &imported]);
}

#[test]
fn the_engagement_exports_as_oscal_that_nist_s_schema_and_trestle_accept() {
    let s = workspace();
    concluded_with_a_deviation(&s);
    let item = first_item(&engagement(&s), "ai_policy");
    ok(
        &s,
        &[
            "finding",
            "add",
            "--audit",
            "stage2",
            "--category",
            "major-nonconformity",
            "--against",
            "A.2.2",
            "--against",
            "5.2",
            "--statement",
            "the AI policy is not approved",
            "--item",
            &item,
        ],
    );
    ok(
        &s,
        &[
            "finding",
            "add",
            "--audit",
            "stage2",
            "--category",
            "opportunity-for-improvement",
            "--against",
            "7.5",
            "--statement",
            "policies could link their evidence",
            "--item",
            &item,
            "--readiness",
            "A.2.2",
        ],
    );
    let listed = ok_json(&s, &["finding", "show", "F-0003"]);
    let readiness = &listed["evidence"][1];
    assert_eq!(readiness["type"], "readiness", "{listed}");
    assert_eq!(readiness["requirement"], "A.2.2");
    assert!(
        ["current", "stale", "gap", "missing", "excluded"]
            .contains(&readiness["status"].as_str().unwrap()),
        "{readiness}"
    );
    fails(
        &s,
        &[
            "finding",
            "add",
            "--audit",
            "stage2",
            "--category",
            "observation",
            "--against",
            "7.5",
            "--statement",
            "s",
            "--readiness",
            "Z.9",
        ],
        2,
        "is not a readiness row",
    );
    let mut add = vec!["action", "add", "F-0001"];
    add.extend(PLAN);
    ok(&s, &add);
    fails(&s, &["oscal"], 2, "nothing to write");
    ok(
        &s,
        &[
            "oscal",
            "--assessment-results",
            "ar.json",
            "--poam",
            "poam.json",
        ],
    );
    let ar: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.path().join("ar.json")).unwrap()).unwrap();

    // What the results say.
    let result = &ar["assessment-results"]["results"][0];
    let findings = result["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 3);
    let state = |i: usize| {
        findings[i]["target"]["status"]["state"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        (state(0), state(1), state(2)),
        (
            "not-satisfied".into(),
            "not-satisfied".into(),
            "satisfied".into()
        )
    );
    let observations = result["observations"].as_array().unwrap();
    let sampled = observations
        .iter()
        .find(|o| o["methods"][0] == "TEST")
        .unwrap();
    let props: Vec<(String, String)> = sampled["props"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        props.contains(&("deviations".into(), "1".into())),
        "{props:?}"
    );
    assert!(props.iter().any(|(n, _)| n == "upper-deviation-limit"));
    let examined = observations
        .iter()
        .find(|o| o["methods"][0] == "EXAMINE")
        .unwrap();
    let evidence = &examined["relevant-evidence"][0];
    assert!(
        evidence["href"]
            .as_str()
            .unwrap()
            .starts_with("run-000001.zip#data/items/"),
        "{evidence}"
    );
    assert_eq!(evidence["props"][0]["value"].as_str().unwrap().len(), 64);

    // NIST's published schema (v1.1.3 assessment results) accepts it; a broken copy is caught.
    let errors = nist_schema_errors(&ar);
    assert!(errors.is_empty(), "{errors:#?}");
    let mut broken = ar.clone();
    broken["assessment-results"]["results"][0]["findings"][0]["target"]["status"]["state"] =
        "fine".into();
    assert!(
        !nist_schema_errors(&broken).is_empty(),
        "the schema check must catch a bad status"
    );

    // compliance-trestle accepts both documents.
    trestle_accepts(&s.path().join("ar.json"), "assessment-results", "ar");
    let poam: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.path().join("poam.json")).unwrap()).unwrap();
    assert_eq!(
        poam["plan-of-action-and-milestones"]["poam-items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    trestle_accepts(
        &s.path().join("poam.json"),
        "plan-of-action-and-milestones",
        "poam",
    );

    // The same engagement gives the same documents.
    ok(&s, &["oscal", "--assessment-results", "ar2.json"]);
    assert_eq!(
        std::fs::read(s.path().join("ar.json")).unwrap(),
        std::fs::read(s.path().join("ar2.json")).unwrap()
    );
}
