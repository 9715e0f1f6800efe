//! The auditor's engagement end to end, as a user types it: collect an example archive, ingest
//! it, define, commit, freeze, plan, reveal, draw, re-derive the sample with `draw`, export and
//! fill the workpapers (CSV and XLSX), import, conclude and export the sampling record; and the
//! refusals: a failing archive, a forked history, steps out of order, bad workpapers, a newer
//! engagement file.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, UNIX_EPOCH};

use evidence_tests::tamper;
use evidence_tests::{Sandbox, cmd, json, run, text};
use sha2::{Digest, Sha256};

pub(super) const EPOCH: u64 = 1_767_225_600; // 2026-01-01T00:00:00Z
const INCIDENTS: usize = 60;

/// The example workspace plus `INCIDENTS` post-mortems, each with a pinned modification time
/// (its source time): the first half in 2026, the second half in 2027.
pub(super) fn workspace() -> Sandbox {
    let s = Sandbox::with_example();
    // The shipped post-mortem falls before both audit periods, whatever today's date.
    fs::File::options()
        .write(true)
        .open(
            s.path()
                .join("workspace/incidents/INC-2026-007-post-mortem.md"),
        )
        .unwrap()
        .set_modified(UNIX_EPOCH + Duration::from_secs(EPOCH - 30 * 86_400))
        .unwrap();
    for i in 0..INCIDENTS {
        let p = s.write(
            &format!("workspace/incidents/INC-{:04}-post-mortem.md", 100 + i),
            format!(
                "---\ntitle: Incident {i}\nauthor: responder-{}\n---\n# Post-mortem {i}\n",
                i % 7
            ),
        );
        let year_secs = 365 * 86_400;
        let t = EPOCH
            + 86_400
            + (i as u64 % 30) * 86_400
            + if i < INCIDENTS / 2 { 0 } else { year_secs };
        fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(UNIX_EPOCH + Duration::from_secs(t))
            .unwrap();
    }
    s
}

pub(super) fn collect(s: &Sandbox, epoch: u64) {
    let o = s.collect(Some(epoch));
    assert!(o.status.success(), "{}", text(&o));
}

pub(super) fn engagement(s: &Sandbox) -> PathBuf {
    s.path().join("engagement.sqlite")
}

/// `evidence-auditor ARGS` on the sandbox's engagement file.
pub(super) fn aud(s: &Sandbox, args: &[&str]) -> Output {
    run(cmd("evidence-auditor")
        .args(args)
        .env("EVIDENCE_ENGAGEMENT", engagement(s))
        .current_dir(s.path()))
}

pub(super) fn ok(s: &Sandbox, args: &[&str]) -> Output {
    let o = aud(s, args);
    assert_eq!(o.status.code(), Some(0), "{args:?}\n{}", text(&o));
    o
}

pub(super) fn ok_json(s: &Sandbox, args: &[&str]) -> serde_json::Value {
    let mut a = args.to_vec();
    a.push("--json");
    json(&ok(s, &a))
}

pub(super) fn fails(s: &Sandbox, args: &[&str], code: i32, expect: &str) -> String {
    let o = aud(s, args);
    let all = text(&o);
    assert_eq!(o.status.code(), Some(code), "{args:?}\n{all}");
    assert!(
        all.contains(expect),
        "{args:?}: expected {expect:?} in\n{all}"
    );
    all
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Ingest, add an initial audit, define the incidents population: ready for the seed protocol.
pub(super) fn defined(s: &Sandbox) {
    ok(s, &["ingest", "evidence"]);
    ok(s, &["audit", "add", "stage2", "--type", "initial"]);
    ok(
        s,
        &[
            "population",
            "define",
            "incidents",
            "--kind",
            "post_incident_review",
        ],
    );
}

/// Commit (to a secret in `<population>.secret`), freeze, plan, reveal and draw; returns the
/// sample JSON.
pub(super) fn drawn(s: &Sandbox, population: &str) -> serde_json::Value {
    let secret = format!("{population}.secret");
    ok(
        s,
        &[
            "seed",
            "commit",
            population,
            "--secret-file",
            &secret,
            "--generate",
        ],
    );
    ok(s, &["population", "freeze", population]);
    ok(s, &["population", "plan", population]);
    ok(s, &["seed", "reveal", population, "--secret-file", &secret]);
    ok_json(s, &["sample", "draw", population])
}

/// Read a CSV workpaper as rows of cells.
pub(super) fn read_csv(path: &Path) -> Vec<Vec<String>> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(path)
        .unwrap();
    r.records()
        .map(|rec| rec.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

pub(super) fn write_csv(path: &Path, rows: &[Vec<String>]) {
    let mut w = csv::Writer::from_path(path).unwrap();
    for r in rows {
        w.write_record(r).unwrap();
    }
    w.flush().unwrap();
}

fn col(header: &[String], name: &str) -> usize {
    header.iter().position(|h| h == name).unwrap()
}

/// Fill every row: `pass`, except the given picks (1-based data rows) with their result.
pub(super) fn fill(rows: &mut [Vec<String>], special: &[(usize, &str, &str)]) {
    let header = rows[0].clone();
    let (r, n, t) = (
        col(&header, "Result"),
        col(&header, "Notes"),
        col(&header, "Tested by"),
    );
    for row in rows.iter_mut().skip(1) {
        row[r] = "pass".into();
        row[t] = "J. Auditor".into();
    }
    for (i, result, note) in special {
        rows[*i][r] = (*result).into();
        rows[*i][n] = (*note).into();
    }
}

#[test]
fn the_full_cycle_runs_from_a_collected_archive_to_an_exported_record() {
    let s = workspace();
    collect(&s, EPOCH + 800 * 86_400);
    defined(&s);
    let sample = drawn(&s, "incidents");
    let n = sample["picks"].as_array().unwrap().len();
    let big_n = sample["population_size"].as_u64().unwrap();
    assert_eq!(big_n, INCIDENTS as u64 + 1, "{sample:#}");
    assert!(
        n > 0 && (n as u64) < big_n,
        "a real sample, smaller than N: {sample:#}"
    );

    // The digest is the SHA-256 of the canonical manifest; positions index its lines.
    ok(
        &s,
        &[
            "population",
            "show",
            "incidents",
            "--manifest",
            "manifest.jsonl",
        ],
    );
    let manifest = fs::read(s.path().join("manifest.jsonl")).unwrap();
    assert_eq!(sha256_hex(&manifest), sample["digest"].as_str().unwrap());
    let lines: Vec<serde_json::Value> = String::from_utf8(manifest)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for p in sample["picks"].as_array().unwrap() {
        let line = &lines[p["position"].as_u64().unwrap() as usize - 1];
        assert_eq!(line["item_id"], p["item_id"]);
        assert_eq!(line["sha256"], p["sha256"]);
    }

    // The seed is secret|beacon|digest, and the secret matches the commitment.
    let secret = fs::read_to_string(s.path().join("incidents.secret")).unwrap();
    let secret = secret.trim_end();
    let seed = sample["seed"].as_str().unwrap();
    assert_eq!(
        seed,
        format!("{secret}||{}", sample["digest"].as_str().unwrap())
    );
    let shown = ok_json(&s, &["seed", "show", "incidents"]);
    assert_eq!(shown["commitment"], sha256_hex(secret.as_bytes()));

    // Anyone re-derives the sample with `draw` (Rivest's sampler) from the seed alone.
    let again = json(&run(cmd("evidence-auditor").args([
        "draw",
        "--seed",
        seed,
        "--min",
        "1",
        "--max",
        &big_n.to_string(),
        "--count",
        &n.to_string(),
        "--json",
    ])));
    let positions: Vec<u64> = sample["picks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["position"].as_u64().unwrap())
        .collect();
    let counters: Vec<u64> = sample["picks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["counter"].as_u64().unwrap())
        .collect();
    assert_eq!(
        again["picks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect::<Vec<_>>(),
        positions
    );
    assert_eq!(
        again["counters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect::<Vec<_>>(),
        counters
    );
    assert_eq!(
        sample["reproduce"][0],
        format!("evidence-auditor draw --seed '{seed}' --min 1 --max {big_n} --count {n}")
    );

    // Workpapers: XLSX with a frozen header and a result drop-down, and CSV.
    ok(
        &s,
        &["workpaper", "export", "incidents", "--output", "wp.xlsx"],
    );
    ok(
        &s,
        &["workpaper", "export", "incidents", "--output", "wp.csv"],
    );
    let xlsx = tamper::unpack(&s.path().join("wp.xlsx"));
    let sheet = String::from_utf8(xlsx["xl/worksheets/sheet1.xml"].clone()).unwrap();
    assert!(sheet.contains(r#"state="frozen""#), "frozen header row");
    assert!(
        sheet.contains("<dataValidation") && sheet.contains("not testable"),
        "result list"
    );
    assert!(sheet.contains("<col "), "column widths");
    let workbook = String::from_utf8(xlsx["xl/workbook.xml"].clone()).unwrap();
    assert!(workbook.contains("Sampling record"), "{workbook}");
    let mut rows = read_csv(&s.path().join("wp.csv"));
    assert_eq!(rows.len(), n + 1);
    let header = rows[0].clone();
    for name in [
        "Item ID",
        "Link",
        "SHA-256",
        "Attributes to test",
        "Actors",
        "Result",
        "Notes",
    ] {
        assert!(header.contains(&name.to_owned()), "{name} in {header:?}");
    }
    assert!(rows[1][col(&header, "Link")].contains("run-000001.zip#run-000001/data/items/"));
    assert!(rows[1][col(&header, "Result")].is_empty());

    // First the CSV with one deviation, then the XLSX, all passing, with the finding in its cell.
    fill(
        &mut rows,
        &[(2, "deviation", "post-mortem not reviewed within 10 days")],
    );
    write_csv(&s.path().join("filled.csv"), &rows);
    let imported = ok_json(&s, &["workpaper", "import", "incidents", "filled.csv"]);
    assert_eq!(imported["tally"]["deviations"], 1);
    fill(&mut rows, &[]);
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("Workpaper").unwrap();
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            ws.write_string(r as u32, c as u16, cell.as_str()).unwrap();
        }
    }
    let rs = wb.add_worksheet();
    rs.set_name("Sampling record").unwrap();
    rs.write_string(0, 0, "Proposed finding").unwrap();
    rs.write_string(0, 1, "conformity").unwrap();
    wb.save(s.path().join("filled.xlsx")).unwrap();
    let imported = ok_json(&s, &["workpaper", "import", "incidents", "filled.xlsx"]);
    assert_eq!(imported["tally"]["passed"], n as u64);
    assert_eq!(imported["finding"], "conformity");

    let concluded = ok_json(&s, &["conclude", "incidents"]);
    assert_eq!(concluded["supports_reliance"], true);
    assert_eq!(concluded["finding"], "conformity");
    assert_eq!(concluded["finding_source"], "workpaper");
    fails(
        &s,
        &["workpaper", "import", "incidents", "filled.csv"],
        2,
        "results are final",
    );

    // The record: one JSON document with every step.
    ok(&s, &["record", "export", "--output", "record.json"]);
    let record: serde_json::Value =
        serde_json::from_slice(&fs::read(s.path().join("record.json")).unwrap()).unwrap();
    assert_eq!(record["schema"], "evidence-sampling-record/1");
    assert_eq!(
        record["engagement"]["origins"][0]["origin"],
        "example.org/ai"
    );
    let p = &record["populations"][0];
    assert_eq!(p["status"], "concluded");
    assert_eq!(p["sampling_basis"], "statistical");
    assert_eq!(p["frozen"]["size"], big_n);
    assert_eq!(p["frozen"]["digest"], sample["digest"]);
    assert_eq!(
        p["seed_protocol"]["commitment"],
        sha256_hex(secret.as_bytes())
    );
    assert_eq!(p["seed_protocol"]["seed"], seed);
    assert_eq!(p["plan"]["settings"]["likelihood"], "hypergeometric");
    assert!(
        p["plan"]["likelihood_reason"]
            .as_str()
            .unwrap()
            .contains("N = 61 is known")
    );
    assert_eq!(p["plan"]["sample_size"], n as u64);
    assert_eq!(p["selection"]["picks"][0]["counter"], 1);
    assert_eq!(p["selection"]["picks"][0]["result"], "pass");
    assert_eq!(p["conclusion"]["finding"], "conformity");
    assert_eq!(
        p["conclusion"]["evaluation"]["evaluation"]["supports_reliance"],
        true
    );
    let committed = p["seed_protocol"]["committed_at"].as_str().unwrap();
    let frozen = p["frozen"]["frozen_at"].as_str().unwrap();
    assert!(
        committed <= frozen,
        "committed {committed} before frozen {frozen}"
    );
    assert!(
        record["coverage"]["rows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["control"] == "A.8.4" || r["sampled_items"][0].as_u64().unwrap() > 0)
    );
}

#[test]
fn a_stratified_sample_is_re_derived_stratum_by_stratum() {
    let s = workspace();
    collect(&s, EPOCH + 800 * 86_400);
    ok(&s, &["ingest", "evidence"]);
    ok(&s, &["audit", "add", "stage2", "--type", "initial"]);
    ok(
        &s,
        &[
            "population",
            "define",
            "by-quarter",
            "--kind",
            "post_incident_review",
            "--stratify-by",
            "quarter",
        ],
    );
    let sample = drawn(&s, "by-quarter");
    let allocation = sample["allocation"].as_array().unwrap();
    assert!(allocation.len() >= 2, "{sample:#}");
    for a in allocation {
        let allocated = a["allocated"].as_u64().unwrap();
        if allocated == 0 {
            continue;
        }
        let stratum = a["name"].as_str().unwrap();
        let again = json(&run(cmd("evidence-auditor").args([
            "draw",
            "--seed",
            a["seed"].as_str().unwrap(),
            "--min",
            "1",
            "--max",
            &a["size"].as_u64().unwrap().to_string(),
            "--count",
            &allocated.to_string(),
            "--json",
        ])));
        let mine: Vec<u64> = sample["picks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["stratum"] == stratum)
            .map(|p| p["stratum_position"].as_u64().unwrap())
            .collect();
        let theirs: Vec<u64> = again["picks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert_eq!(mine, theirs, "stratum {stratum}");
    }
}

#[test]
fn a_failing_archive_is_refused_and_nothing_is_stored() {
    let s = workspace();
    collect(&s, EPOCH);
    let bundle = s.archive().join("run-000001.zip");
    let mut e = tamper::unpack(&bundle);
    let name = tamper::find(&e, "artefact/ai-policy.md");
    e.get_mut(&name).unwrap()[10] ^= 1;
    tamper::repack(&e, &bundle);
    let out = fails(&s, &["ingest", "evidence"], 1, "REFUSED");
    assert!(
        out.contains("nothing was ingested") && out.contains("the manifest says"),
        "{out}"
    );
    let record = json(&ok(&s, &["record", "export"]));
    assert_eq!(record["engagement"]["origins"], serde_json::json!([]));
    assert_eq!(record["engagement"]["ingests"], serde_json::json!([]));
}

#[test]
fn an_unsigned_archive_is_refused_when_ingest_requires_signatures() {
    let s = workspace();
    collect(&s, EPOCH);
    let o = run(cmd("evidence-agent")
        .args(["keygen", "--principal", "agent@example.org", "--out"])
        .arg(s.path().join("agent.key")));
    assert!(o.status.success(), "{}", text(&o));
    fs::write(s.path().join("allowed_signers"), &o.stdout).unwrap();
    let out = fails(
        &s,
        &["ingest", "evidence", "--allowed-signers", "allowed_signers"],
        1,
        "nothing was ingested",
    );
    assert!(out.contains("unsigned"), "{out}");
    let record = json(&ok(&s, &["record", "export"]));
    assert_eq!(record["engagement"]["origins"], serde_json::json!([]));
}

#[test]
fn later_bundles_append_and_several_origins_share_one_engagement() {
    let s = workspace();
    collect(&s, EPOCH);
    let first = ok_json(&s, &["ingest", "evidence"]);
    // The example: 10 governance documents and 3 days of the AI event log.
    assert_eq!(first["items_added"], INCIDENTS as u64 + 13);
    s.write(
        "workspace/policies/ai-policy.md",
        "# AI policy, revision 2\n",
    );
    collect(&s, EPOCH + 3600);
    let second = ok_json(&s, &["ingest", "evidence"]);
    assert_eq!(
        (second["from_run"].as_u64(), second["to_run"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(second["previous_run"], 1);
    assert_eq!(second["items_added"], 1);
    let again = ok(&s, &["ingest", "evidence"]);
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("Nothing new"),
        "{}",
        text(&again)
    );

    // A second site: the same workspace under another origin, in its own archive directory.
    let config = fs::read_to_string(s.config())
        .unwrap()
        .replace("path = \"evidence\"", "path = \"site-b\"")
        .replace(
            "origin = \"example.org/ai\"",
            "origin = \"example.org/site-b\"",
        );
    fs::write(s.path().join("site-b.toml"), config).unwrap();
    let o = run(cmd("evidence-agent")
        .args(["collect", "--config"])
        .arg(s.path().join("site-b.toml"))
        .env("SOURCE_DATE_EPOCH", EPOCH.to_string()));
    assert!(o.status.success(), "{}", text(&o));
    let site_b = ok_json(&s, &["ingest", "site-b"]);
    assert_eq!(site_b["origin"], "example.org/site-b");
    assert_eq!(site_b["items_total"], 2 * (INCIDENTS as u64 + 13) + 1);
    ok(&s, &["audit", "add", "stage2", "--type", "initial"]);
    let d = ok_json(
        &s,
        &[
            "population",
            "define",
            "site-b-policies",
            "--origin",
            "example.org/site-b",
            "--kind",
            "ai_policy",
        ],
    );
    assert_eq!(d["matching_now"], 1);
    let d = ok_json(
        &s,
        &[
            "population",
            "define",
            "policies",
            "--kind",
            "ai_policy",
            "--stratify-by",
            "origin",
        ],
    );
    assert_eq!(d["matching_now"], 3);
}

#[test]
fn a_forked_history_of_an_ingested_origin_is_refused() {
    let s = workspace();
    collect(&s, EPOCH);
    ok(&s, &["ingest", "evidence"]);
    // The same origin collected again into another directory: a different run 1.
    let config = fs::read_to_string(s.config())
        .unwrap()
        .replace("path = \"evidence\"", "path = \"fork\"");
    fs::write(s.path().join("fork.toml"), config).unwrap();
    s.write(
        "workspace/policies/ai-policy.md",
        "# A rewritten AI policy\n",
    );
    let o = run(cmd("evidence-agent")
        .args(["collect", "--config"])
        .arg(s.path().join("fork.toml"))
        .env("SOURCE_DATE_EPOCH", (EPOCH + 60).to_string()));
    assert!(o.status.success(), "{}", text(&o));
    let before = json(&ok(&s, &["record", "export"]));
    let out = fails(
        &s,
        &["ingest", "fork"],
        1,
        "a forked or rewritten history is refused",
    );
    assert!(out.contains("run 1 of origin example.org/ai"), "{out}");
    let after = json(&ok(&s, &["record", "export"]));
    assert_eq!(
        before["engagement"], after["engagement"],
        "nothing of the fork was stored"
    );
}

#[test]
fn the_seed_protocol_steps_are_enforced_in_order() {
    let s = workspace();
    collect(&s, EPOCH);
    defined(&s);
    fails(
        &s,
        &["population", "freeze", "incidents"],
        2,
        "has no seed commitment",
    );
    fails(
        &s,
        &["sample", "draw", "incidents"],
        2,
        "population incidents is not frozen",
    );
    fails(
        &s,
        &["seed", "reveal", "incidents", "--secret-file", "secret.txt"],
        2,
        "has no commitment",
    );
    fs::write(s.path().join("short.txt"), "1234\n").unwrap();
    fails(
        &s,
        &["seed", "commit", "incidents", "--secret-file", "short.txt"],
        2,
        "20 to 200 printable ASCII",
    );
    ok(
        &s,
        &[
            "seed",
            "commit",
            "incidents",
            "--secret-file",
            "secret.txt",
            "--generate",
        ],
    );
    fails(
        &s,
        &["seed", "commit", "incidents", "--secret-file", "secret.txt"],
        2,
        "already has the commitment",
    );
    fails(
        &s,
        &["population", "plan", "incidents"],
        2,
        "is not frozen yet",
    );
    ok(&s, &["population", "freeze", "incidents"]);
    fails(
        &s,
        &["population", "freeze", "incidents"],
        2,
        "already frozen",
    );
    fails(
        &s,
        &["seed", "reveal", "incidents", "--secret-file", "secret.txt"],
        2,
        "has no plan",
    );
    ok(&s, &["population", "plan", "incidents"]);
    fails(
        &s,
        &["sample", "draw", "incidents"],
        2,
        "the seed of incidents is not revealed",
    );
    fs::write(s.path().join("other.txt"), "99999999999999999999\n").unwrap();
    fails(
        &s,
        &["seed", "reveal", "incidents", "--secret-file", "other.txt"],
        2,
        "does not match the commitment",
    );
    fails(
        &s,
        &[
            "seed",
            "reveal",
            "incidents",
            "--secret-file",
            "secret.txt",
            "--beacon-chain",
            "drand-quicknet",
            "--beacon-round",
            "1",
            "--beacon-value",
            "ab",
        ],
        2,
        "not after the freeze",
    );
    ok(
        &s,
        &[
            "seed",
            "reveal",
            "incidents",
            "--secret-file",
            "secret.txt",
            "--beacon-chain",
            "other:dice",
            "--beacon-round",
            "1",
            "--beacon-value",
            "ABCDEF",
        ],
    );
    fails(
        &s,
        &["population", "plan", "incidents"],
        2,
        "the plan must be fixed before anyone knows the seed",
    );
    let sample = ok_json(&s, &["sample", "draw", "incidents"]);
    assert!(
        sample["seed"].as_str().unwrap().contains("|abcdef|"),
        "{sample:#}"
    );
    fails(
        &s,
        &["sample", "draw", "incidents"],
        2,
        "a sample is drawn once",
    );
    // A population frozen without a commitment cannot exist; committing after a freeze is refused.
    ok(&s, &["population", "define", "late", "--kind", "ai_policy"]);
    ok(
        &s,
        &[
            "seed",
            "commit",
            "late",
            "--secret-file",
            "late.txt",
            "--generate",
        ],
    );
    ok(&s, &["population", "freeze", "late"]);
    fails(
        &s,
        &["seed", "commit", "late", "--secret-file", "late.txt"],
        2,
        "a commitment made after the freeze",
    );
    fails(
        &s,
        &["conclude", "incidents", "--finding", "conformity"],
        2,
        "import the filled workpaper first",
    );
}

#[test]
fn workpaper_problems_are_listed_with_row_and_column_and_nothing_is_imported() {
    let s = workspace();
    collect(&s, EPOCH);
    defined(&s);
    drawn(&s, "incidents");
    ok(
        &s,
        &["workpaper", "export", "incidents", "--output", "wp.csv"],
    );
    let mut rows = read_csv(&s.path().join("wp.csv"));
    let header = rows[0].clone();
    fill(&mut rows, &[(1, "passed", ""), (3, "deviation", "")]);
    let item = col(&header, "Item ID");
    rows[4][item] = "governance-docs-no-such-item".into();
    let dup = rows[5].clone();
    rows.push(dup);
    rows.remove(6);
    write_csv(&s.path().join("bad.csv"), &rows);
    let out = fails(
        &s,
        &["workpaper", "import", "incidents", "bad.csv"],
        2,
        "nothing was imported",
    );
    for expect in [
        "row 2, column R (Result): \"passed\" is not one of pass, deviation, not testable",
        "row 4, column S (Notes): a result of \"deviation\" needs a note",
        "row 5, column F (Item ID): item governance-docs-no-such-item of origin example.org/ai is not in the sample",
        "appears again (first at row 6)",
        "has no row",
    ] {
        assert!(out.contains(expect), "expected {expect:?} in\n{out}");
    }
    let shown = ok_json(&s, &["sample", "show", "incidents"]);
    assert!(
        shown["picks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["result"].is_null())
    );
    fails(
        &s,
        &["workpaper", "import", "incidents", "wp.txt"],
        2,
        "must be a .xlsx or .csv file",
    );
    fs::write(s.path().join("empty.xlsx"), b"not a zip").unwrap();
    fails(
        &s,
        &["workpaper", "import", "incidents", "empty.xlsx"],
        2,
        "not a readable XLSX file",
    );
}

#[test]
fn an_untestable_item_is_a_deviation_and_the_finding_is_never_chosen_silently() {
    let s = workspace();
    collect(&s, EPOCH);
    defined(&s);
    drawn(&s, "incidents");
    ok(
        &s,
        &["workpaper", "export", "incidents", "--output", "wp.csv"],
    );
    let mut rows = read_csv(&s.path().join("wp.csv"));
    fill(&mut rows, &[(1, "not testable", "artefact unreadable")]);
    write_csv(&s.path().join("filled.csv"), &rows);
    ok(&s, &["workpaper", "import", "incidents", "filled.csv"]);
    let out = fails(
        &s,
        &["conclude", "incidents"],
        2,
        "no finding category chosen",
    );
    assert!(out.contains("does NOT support reliance"), "{out}");
    let o = aud(
        &s,
        &[
            "conclude",
            "incidents",
            "--finding",
            "minor-nonconformity",
            "--json",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v = json(&o);
    assert_eq!(v["tally"]["not_testable"], 1);
    assert_eq!(v["evaluation"]["deviations"], 1);
    assert_eq!(v["supports_reliance"], false);
    assert_eq!(v["finding"], "minor nonconformity");
}

#[test]
fn surveillance_audits_sample_the_period_since_the_last_audit_and_fill_the_coverage_matrix() {
    let s = workspace();
    collect(&s, EPOCH + 800 * 86_400);
    ok(&s, &["ingest", "evidence"]);
    ok(
        &s,
        &[
            "audit",
            "add",
            "stage2",
            "--type",
            "initial",
            "--from",
            "2026-01-01",
            "--to",
            "2027-01-01",
        ],
    );
    let surv = ok_json(
        &s,
        &[
            "audit",
            "add",
            "surveillance-1",
            "--type",
            "surveillance",
            "--to",
            "2028-01-01",
        ],
    );
    assert_eq!(surv["period_from"], "2027-01-01T00:00:00Z");
    assert_eq!(surv["confidence"], "0.9");
    let d = ok_json(
        &s,
        &[
            "population",
            "define",
            "incidents-2026",
            "--audit",
            "stage2",
            "--kind",
            "post_incident_review",
        ],
    );
    assert_eq!(d["matching_now"], INCIDENTS as u64 / 2);
    let d = ok_json(
        &s,
        &[
            "population",
            "define",
            "incidents-2027",
            "--audit",
            "surveillance-1",
            "--kind",
            "post_incident_review",
        ],
    );
    assert_eq!(d["matching_now"], INCIDENTS as u64 / 2);
    drawn(&s, "incidents-2026");
    drawn(&s, "incidents-2027");
    let record = json(&ok(&s, &["record", "export"]));
    let plans: Vec<&serde_json::Value> = record["populations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["plan"])
        .collect();
    assert_eq!(plans[0]["settings"]["confidence"], "0.95");
    assert_eq!(plans[1]["settings"]["confidence"], "0.9");
    assert!(
        plans[1]["settings_source"]
            .as_str()
            .unwrap()
            .contains("surveillance audit surveillance-1")
    );
    assert!(plans[1]["sample_size"].as_u64() < plans[0]["sample_size"].as_u64());
    let m = ok_json(&s, &["audit", "coverage"]);
    assert_eq!(m["audits"], serde_json::json!(["stage2", "surveillance-1"]));
    let a84 = m["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["control"] == "A.8.4")
        .unwrap();
    assert!(
        a84["sampled_items"][0].as_u64().unwrap() > 0
            && a84["sampled_items"][1].as_u64().unwrap() > 0,
        "{a84}"
    );
    assert!(
        m["not_covered"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "A.2.2")
    );
}

#[test]
fn an_engagement_file_from_a_newer_version_is_refused_clearly() {
    let s = workspace();
    collect(&s, EPOCH);
    ok(&s, &["ingest", "evidence"]);
    let c = rusqlite::Connection::open(engagement(&s)).unwrap();
    c.execute("UPDATE schema_version SET version = 3", [])
        .unwrap();
    drop(c);
    fails(
        &s,
        &["audit", "list"],
        2,
        "written by a newer evidence-auditor (schema version 3",
    );
    fails(&s, &["ingest", "evidence"], 2, "upgrade evidence-auditor");
}

#[test]
fn sampled_items_in_a_workpaper_carry_inclusion_proofs_that_check_offline() {
    let s = workspace();
    collect(&s, 1_767_225_600);
    defined(&s);
    let sample = drawn(&s, "incidents");
    let n = sample["picks"].as_array().map_or(0, Vec::len);
    assert!(n > 0, "{sample:#}");
    ok(
        &s,
        &[
            "workpaper",
            "export",
            "incidents",
            "--output",
            "wp.xlsx",
            "--proofs-from",
            "evidence",
        ],
    );
    let proofs = s.path().join("wp.proofs");
    let mut dirs: Vec<_> = std::fs::read_dir(&proofs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    assert_eq!(dirs.len(), n, "one proof folder per pick");
    for dir in &dirs {
        let o = run(cmd("evidence-auditor").arg("check-proof").arg(dir));
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    }
    // The record sheet points at the proofs.
    let xlsx = tamper::unpack(&s.path().join("wp.xlsx"));
    let strings = String::from_utf8(xlsx["xl/sharedStrings.xml"].clone()).unwrap_or_default();
    assert!(
        strings.contains("Inclusion proofs"),
        "record sheet mentions the proofs"
    );
    // A proof whose artefact was modified fails.
    let first = &dirs[0];
    let artefact = walk_files(first)
        .into_iter()
        .find(|p| p.to_string_lossy().contains("/artefact/"))
        .expect("the proof folder holds the artefact");
    std::fs::write(&artefact, b"tampered").unwrap();
    let o = run(cmd("evidence-auditor").arg("check-proof").arg(first));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    // An origin without an archive is a clear error.
    fails(
        &s,
        &[
            "workpaper",
            "export",
            "incidents",
            "--output",
            "again.csv",
            "--proofs-from",
            "does-not-exist",
        ],
        2,
        "does-not-exist",
    );
}

fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_filled_workpaper_is_never_overwritten_and_a_re_export_carries_the_recorded_results() {
    let s = workspace();
    collect(&s, EPOCH);
    defined(&s);
    drawn(&s, "incidents");
    ok(
        &s,
        &["workpaper", "export", "incidents", "--output", "wp.csv"],
    );
    let mut rows = read_csv(&s.path().join("wp.csv"));
    fill(&mut rows, &[(2, "deviation", "approved after merge")]);
    write_csv(&s.path().join("wp.csv"), &rows);
    let filled = fs::read(s.path().join("wp.csv")).unwrap();

    // Exporting over the filled file is refused, and the file is untouched.
    let out = fails(
        &s,
        &["workpaper", "export", "incidents", "--output", "wp.csv"],
        2,
        "wp.csv already exists and may hold results you filled in; nothing was written",
    );
    assert!(out.contains("--force"), "{out}");
    assert_eq!(fs::read(s.path().join("wp.csv")).unwrap(), filled);
    // With --json the same refusal is a JSON error object on stdout.
    let o = aud(
        &s,
        &[
            "workpaper",
            "export",
            "incidents",
            "--output",
            "wp.csv",
            "--json",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    let err = json(&o);
    assert_eq!(err["error"]["exit_code"], 2, "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already exists"),
        "{err}"
    );

    // After the import, a new export (CSV and XLSX) carries the recorded results.
    ok(&s, &["workpaper", "import", "incidents", "wp.csv"]);
    let again = ok_json(
        &s,
        &["workpaper", "export", "incidents", "--output", "again.csv"],
    );
    assert_eq!(again["results_included"], rows.len() as u64 - 1, "{again}");
    let exported = read_csv(&s.path().join("again.csv"));
    let header = exported[0].clone();
    for c in ["Result", "Notes", "Tested by"] {
        let i = col(&header, c);
        let want: Vec<&String> = rows.iter().skip(1).map(|r| &r[i]).collect();
        let got: Vec<&String> = exported.iter().skip(1).map(|r| &r[i]).collect();
        assert_eq!(got, want, "column {c}");
    }
    ok(
        &s,
        &["workpaper", "export", "incidents", "--output", "again.xlsx"],
    );
    let xlsx = tamper::unpack(&s.path().join("again.xlsx"));
    let strings = String::from_utf8(xlsx["xl/sharedStrings.xml"].clone()).unwrap();
    assert!(strings.contains("approved after merge"), "{strings}");
    assert!(strings.contains("J. Auditor"), "{strings}");
    // The re-exported file imports again as it is.
    ok(&s, &["workpaper", "import", "incidents", "again.csv"]);

    // --force replaces the file, with the recorded results (the round trip is exact).
    fs::write(s.path().join("wp.csv"), b"scratch").unwrap();
    ok(
        &s,
        &[
            "workpaper",
            "export",
            "incidents",
            "--output",
            "wp.csv",
            "--force",
        ],
    );
    assert_eq!(
        fs::read(s.path().join("wp.csv")).unwrap(),
        fs::read(s.path().join("again.csv")).unwrap()
    );
}

#[test]
fn auditee_text_that_a_spreadsheet_would_evaluate_is_escaped_in_csv_workpapers() {
    let s = Sandbox::with_example();
    let hostile = [
        "=cmd|' /C calc'!A0",
        "+SUM(1+1)",
        "-2+3",
        "@evil",
        "\\tleading tab",
    ];
    for (i, title) in hostile.iter().enumerate() {
        s.write(
            &format!("workspace/incidents/INC-{:04}-post-mortem.md", 900 + i),
            format!("---\ntitle: \"{title}\"\nauthor: \"@responder\"\n---\n# Post-mortem\n"),
        );
    }
    collect(&s, EPOCH);
    ok(&s, &["ingest", "evidence"]);
    ok(
        &s,
        &[
            "audit",
            "add",
            "stage2",
            "--type",
            "initial",
            "--from",
            "2000-01-01",
            "--to",
            "2100-01-01",
        ],
    );
    ok(
        &s,
        &[
            "population",
            "define",
            "incidents",
            "--kind",
            "post_incident_review",
        ],
    );
    drawn(&s, "incidents");
    ok(
        &s,
        &["workpaper", "export", "incidents", "--output", "wp.csv"],
    );
    let rows = read_csv(&s.path().join("wp.csv"));
    let title = col(&rows[0], "Title");
    let titles: Vec<&String> = rows.iter().skip(1).map(|r| &r[title]).collect();
    assert!(
        titles.iter().any(|t| t.as_str() == "'=cmd|' /C calc'!A0"),
        "{titles:?}"
    );
    for row in &rows {
        for cell in row {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "a cell a spreadsheet would evaluate: {cell:?}"
            );
        }
    }
    // The escaped workpaper still imports: the escape is read back.
    let mut rows = rows;
    fill(&mut rows, &[]);
    write_csv(&s.path().join("filled.csv"), &rows);
    ok(&s, &["workpaper", "import", "incidents", "filled.csv"]);
}

#[test]
fn formula_cells_in_the_columns_an_import_reads_are_refused_by_cell() {
    use rust_xlsxwriter::{Formula, Workbook};
    let s = workspace();
    collect(&s, EPOCH);
    defined(&s);
    drawn(&s, "incidents");
    ok(
        &s,
        &["workpaper", "export", "incidents", "--output", "wp.csv"],
    );
    let mut rows = read_csv(&s.path().join("wp.csv"));
    fill(&mut rows, &[]);
    let header = rows[0].clone();
    let (result, notes) = (col(&header, "Result") as u16, col(&header, "Notes") as u16);
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("Workpaper").unwrap();
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            ws.write_string(r as u32, c as u16, cell).unwrap();
        }
    }
    // The formula says deviation, its cached value says pass.
    ws.write_formula(
        1,
        result,
        Formula::new("=IF(TRUE,\"deviation\",\"pass\")").set_result("pass"),
    )
    .unwrap();
    ws.write_formula(
        2,
        notes,
        Formula::new("=HYPERLINK(\"https://example.org\",\"click here\")").set_result("click here"),
    )
    .unwrap();
    // A formula without a cached value.
    ws.write_formula(3, result, Formula::new("=A1")).unwrap();
    wb.save(s.path().join("formulas.xlsx")).unwrap();
    let out = fails(
        &s,
        &["workpaper", "import", "incidents", "formulas.xlsx"],
        2,
        "nothing was imported",
    );
    for expect in [
        "row 2, column R (Result): holds the formula =IF(TRUE,\"deviation\",\"pass\")",
        "row 3, column S (Notes): holds the formula =HYPERLINK(",
        "row 4, column R (Result): holds the formula =A1",
    ] {
        assert!(out.contains(expect), "expected {expect:?} in\n{out}");
    }
    let shown = ok_json(&s, &["sample", "show", "incidents"]);
    assert!(
        shown["picks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["result"].is_null())
    );
}

#[test]
fn a_wrong_word_for_a_choice_names_the_choices() {
    let o = run(cmd("evidence-auditor").args(["sites", "--sites", "9", "--audit", "stage2"]));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let all = text(&o);
    assert!(
        all.contains(
            "invalid audit type \"stage2\": choose initial, surveillance or recertification"
        ),
        "{all}"
    );
    assert!(!all.contains("invalid number"), "{all}");
    // With --json the usage error is a JSON object on stdout too.
    let o =
        run(cmd("evidence-auditor").args(["sites", "--sites", "9", "--audit", "stage2", "--json"]));
    assert_eq!(o.status.code(), Some(2));
    let err = json(&o);
    assert!(
        err["error"]["message"].as_str().unwrap().contains("stage2"),
        "{err}"
    );
    // The old flag names still work beside the new ones.
    let a = run(cmd("evidence-auditor").args([
        "evaluate",
        "--likelihood",
        "binomial",
        "--sample-size",
        "60",
        "--deviations",
        "1",
        "--tolerable",
        "0.05",
        "--json",
    ]));
    let b = run(cmd("evidence-auditor").args([
        "evaluate",
        "--method",
        "binomial",
        "--sample-size",
        "60",
        "--deviations",
        "1",
        "--tolerable",
        "0.05",
        "--json",
    ]));
    assert_eq!(a.stdout, b.stdout, "{}", text(&b));
}
