//! Reliability end to end, with real processes against a local folder and a mock Jira on the
//! loopback interface: `kill -9` at random points (seeded, reproducible) and at every crash
//! point across thirty runs loses and duplicates nothing; a source down for three runs leaves
//! three gaps and then its whole backlog; a disk that fills while sealing fails the run clearly
//! and leaves the archive and the state valid.
//!
//! **Lost** and **duplicated**, precisely. A *version* is one state of one source object: a
//! file's path and SHA-256, or a ticket's key and `updated` time. A run *completed* when the
//! agent exited by itself with 0 or 1. Then:
//! - a version is *lost* if it existed when a completed run started and no bundle holds it;
//! - a version is *duplicated* if more than one bundle holds it;
//! - a *phantom* is a sealed version that never existed.
//!
//! Versions seen only by killed runs (changed again before the next completed run) may be
//! absent, but never duplicated.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use evidence_tests::inventory::{self, Inventory, SealedItem};
use evidence_tests::mock_jira::{self, MockJira};
use evidence_tests::rng::SplitMix64;
use evidence_tests::tmpfs::run_in_small_tmpfs;
use evidence_tests::{Sandbox, bin, cmd, json, run, text};
use jiff::Timestamp;
use sha2::{Digest, Sha256};

/// The seed of the kill schedule; `EVIDENCE_RELIABILITY_SEED` replays another one.
const SEED: u64 = 0x0042_2001_2026_0006;
const RUNS: u64 = 30;
/// Kill delays are drawn from this range (milliseconds after the process starts).
const KILL_DELAY_MS: (u64, u64) = (5, 320);
const CRASH_POINTS: [&str; 5] = [
    "staged",
    "bundle-synced",
    "pending-written",
    "bundle-published",
    "state-committed",
];

/// (source, reference, version): a file's SHA-256 or a ticket's `updated`.
type Version = (String, String, String);

struct World {
    sandbox: Sandbox,
    jira: MockJira,
    _rt: tokio::runtime::Runtime,
    next_file: u64,
    next_ticket: u64,
    base: Timestamp,
}

impl World {
    fn new() -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let jira = rt.block_on(MockJira::start());
        let sandbox = Sandbox::empty();
        sandbox.write(
            "agent.toml",
            format!(
                r#"
[archive]
path = "evidence"
origin = "reliability.example.org/ai"

[[source]]
type = "local"
name = "docs"
path = "docs"
[[source.rule]]
glob = "**"
kind = "ai_policy"
{}"#,
                jira.source_toml("jira")
            ),
        );
        let mut w = Self {
            sandbox,
            jira,
            _rt: rt,
            next_file: 0,
            next_ticket: 0,
            base: "2026-01-01T00:00:00Z".parse().unwrap(),
        };
        for _ in 0..6 {
            w.add_file(0);
        }
        for _ in 0..4 {
            w.add_ticket(0);
        }
        w
    }

    fn docs(&self) -> std::path::PathBuf {
        self.sandbox.path().join("docs")
    }

    fn add_file(&mut self, step: u64) {
        self.next_file += 1;
        self.sandbox.write(
            &format!("docs/policy-{:03}.md", self.next_file),
            format!("# Policy {}\n\ncreated at step {step}\n", self.next_file),
        );
    }

    fn files(&self) -> Vec<std::path::PathBuf> {
        let mut v: Vec<_> = std::fs::read_dir(self.docs())
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    fn ticket_time(&self, step: u64, k: u64) -> Timestamp {
        self.base
            .checked_add(jiff::SignedDuration::from_secs((step * 120 + k) as i64))
            .unwrap()
    }

    fn add_ticket(&mut self, step: u64) {
        self.next_ticket += 1;
        let key = format!("AIOPS-{}", 100 + self.next_ticket);
        let t = self.ticket_time(step, self.next_ticket % 60);
        self.jira.upsert(&key, &format!("Incident {key}"), t);
    }

    /// Change the sources as people do between runs: edit, add, delete files; update and open
    /// tickets.
    fn mutate(&mut self, rng: &mut SplitMix64, step: u64) {
        let files = self.files();
        for j in 0..rng.range(1, 4) {
            let f = &files[rng.range(0, files.len() as u64) as usize];
            let mut text = std::fs::read_to_string(f).unwrap();
            text.push_str(&format!("revision {step}.{j}\n"));
            std::fs::write(f, text).unwrap();
        }
        if rng.chance(30) {
            self.add_file(step);
        }
        if rng.chance(15) && files.len() > 4 {
            std::fs::remove_file(&files[rng.range(0, files.len() as u64) as usize]).unwrap();
        }
        let tickets: Vec<String> = self.jira.tickets().into_keys().collect();
        if rng.chance(60) {
            for j in 0..rng.range(1, 3) {
                let key = &tickets[rng.range(0, tickets.len() as u64) as usize];
                let t = self.ticket_time(step, 60 + j);
                self.jira
                    .upsert(key, &format!("Incident {key}, edited at step {step}"), t);
            }
        }
        if rng.chance(30) {
            self.add_ticket(step);
        }
    }

    /// Every version the sources hold now.
    fn snapshot(&self) -> BTreeSet<Version> {
        let mut v = BTreeSet::new();
        if self.docs().is_dir() {
            for f in walk(&self.docs()) {
                let rel = f
                    .strip_prefix(self.docs())
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                let digest = hex(&Sha256::digest(std::fs::read(&f).unwrap()));
                v.insert(("docs".to_owned(), rel, digest));
            }
        }
        for (key, t) in self.jira.tickets() {
            v.insert(("jira".to_owned(), key, t.updated.to_string()));
        }
        v
    }

    fn collect_command(&self) -> Command {
        let mut c = cmd("evidence-agent");
        c.args(["collect", "--json", "--quiet", "--config"])
            .arg(self.sandbox.config());
        mock_jira::credentials(&mut c);
        c
    }

    fn collect(&self) -> Output {
        run(&mut self.collect_command())
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn version_of(item: &SealedItem) -> Version {
    let v = if item.source == "jira" {
        let t: Timestamp = item.source_time.as_deref().unwrap().parse().unwrap();
        t.to_string()
    } else {
        item.sha256.clone()
    };
    (item.source.clone(), item.reference.clone(), v)
}

fn assert_verifies(s: &Sandbox) {
    let o = s.verify();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(json(&o)["valid"], true);
}

/// Bundles holding each version.
fn holdings(inv: &Inventory) -> BTreeMap<Version, BTreeSet<u64>> {
    let mut held: BTreeMap<Version, BTreeSet<u64>> = BTreeMap::new();
    for item in &inv.items {
        let bundles = held.entry(version_of(item)).or_default();
        assert!(
            bundles.insert(item.bundle),
            "bundle {} holds {item:?} twice",
            item.bundle
        );
    }
    held
}

/// Where on disk a killed run left off.
fn leftovers(archive: &Path, bundles_before: usize) -> &'static str {
    let state = archive.join(".agent");
    let bundles = inventory_count(archive);
    if bundles > bundles_before && state.join("pending.json").exists() {
        "after publishing its bundle, before committing its state"
    } else if bundles > bundles_before {
        "after committing its state"
    } else if std::fs::read_dir(archive)
        .map(|d| {
            d.flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(".zip.tmp"))
        })
        .unwrap_or(false)
    {
        "while writing its bundle"
    } else if state.join("staging").exists() {
        "while collecting"
    } else {
        "before collecting"
    }
}

fn inventory_count(archive: &Path) -> usize {
    std::fs::read_dir(archive)
        .map(|d| {
            d.flatten()
                .filter(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    n.starts_with("run-") && n.ends_with(".zip")
                })
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn kill_nine_at_random_points_across_thirty_runs_loses_and_duplicates_nothing() {
    let seed = std::env::var("EVIDENCE_RELIABILITY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SEED);
    let mut rng = SplitMix64::new(seed);
    let mut world = World::new();
    let started = Instant::now();
    let mut required: BTreeSet<Version> = BTreeSet::new();
    let mut ever: BTreeSet<Version> = BTreeSet::new();
    let mut tally: BTreeMap<String, u64> = BTreeMap::new();
    let mut completed_ms = Vec::new();
    let mut crashes = 0;
    assert_eq!(RUNS as usize / 6, CRASH_POINTS.len());
    let mut count = |what: String| *tally.entry(what).or_default() += 1;

    for step in 1..=RUNS {
        if step > 1 {
            world.mutate(&mut rng, step);
        }
        let before = world.snapshot();
        ever.extend(before.iter().cloned());
        let bundles_before = inventory_count(&world.sandbox.archive());
        // Every sixth run crashes at the next named point (each point once); of the others,
        // four in five are killed after a random delay and the rest run to the end.
        let roll = if step % 6 == 0 { 4 } else { rng.range(0, 5) };
        let t0 = Instant::now();
        let (mode, output) = if roll < 4 {
            let delay = rng.range(KILL_DELAY_MS.0, KILL_DELAY_MS.1);
            let mut child = world
                .collect_command()
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_millis(delay));
            let _ = child.kill();
            (
                format!("kill -9 at {delay} ms"),
                child.wait_with_output().unwrap(),
            )
        } else if step % 6 == 0 {
            let point = CRASH_POINTS[crashes % CRASH_POINTS.len()];
            crashes += 1;
            let o = run(world
                .collect_command()
                .env("EVIDENCE_AGENT_CRASH_AT", point));
            (format!("crash at {point}"), o)
        } else {
            ("complete".to_owned(), world.collect())
        };
        let took = t0.elapsed();
        match (output.status.code(), output.status.signal()) {
            (Some(0 | 1), _) => {
                required.extend(before);
                completed_ms.push(took.as_millis());
                count(if mode == "complete" {
                    "ran to the end".to_owned()
                } else {
                    format!(
                        "{} too late: the run had finished",
                        mode.split(" at").next().unwrap()
                    )
                });
            }
            (None, Some(9)) => {
                let at = leftovers(&world.sandbox.archive(), bundles_before);
                eprintln!("run {step}: {mode}: killed {at}");
                count(format!("killed {at}"))
            }
            (None, Some(6)) => count(format!("{mode} (abort)")),
            _ => panic!("run {step} ({mode}) failed:\n{}", text(&output)),
        }
    }

    // The next run completes, and the archive verifies.
    world.mutate(&mut rng, RUNS + 1);
    let last = world.snapshot();
    ever.extend(last.iter().cloned());
    required.extend(last);
    let o = world.collect();
    assert_eq!(
        o.status.code(),
        Some(0),
        "the run after the kills:\n{}",
        text(&o)
    );
    assert_verifies(&world.sandbox);

    let inv = inventory::read(&world.sandbox.archive());
    let held = holdings(&inv);
    let lost: Vec<_> = required.iter().filter(|v| !held.contains_key(*v)).collect();
    let duplicated: Vec<_> = held.iter().filter(|(_, b)| b.len() > 1).collect();
    let phantoms: Vec<_> = held.keys().filter(|v| !ever.contains(*v)).collect();
    eprintln!(
        "seed {seed:#x}: {RUNS} runs + 1 in {:.1?}; {} bundles, {} items, {} versions required, {} held; outcomes: {tally:?}; completed runs took {:?} ms",
        started.elapsed(),
        inv.bundles.len(),
        inv.items.len(),
        required.len(),
        held.len(),
        completed_ms
    );
    assert!(lost.is_empty(), "lost versions: {lost:#?}");
    assert!(
        duplicated.is_empty(),
        "duplicated versions: {duplicated:#?}"
    );
    assert!(phantoms.is_empty(), "phantom versions: {phantoms:#?}");
    let killed_mid_run: u64 = tally
        .iter()
        .filter(|(k, _)| k.starts_with("killed"))
        .map(|(_, n)| n)
        .sum();
    assert!(
        killed_mid_run >= 3,
        "too few kills landed during a run to prove anything: {tally:?}"
    );
}

#[test]
fn a_source_down_for_three_runs_leaves_three_gaps_then_its_whole_backlog_is_collected() {
    let mut world = World::new();
    let o = world.collect();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // Both sources go down: the folder disappears (an unmounted share), Jira answers 503.
    let away = world.sandbox.path().join("docs-away");
    std::fs::rename(world.docs(), &away).unwrap();
    world.jira.set_down(true);
    let mut backlog: BTreeSet<Version> = BTreeSet::new();
    for step in 2..=4 {
        let o = world.collect();
        assert_eq!(
            o.status.code(),
            Some(1),
            "a down source is a gap:\n{}",
            text(&o)
        );
        // The folder failed as a whole; Jira's query failed, recorded as a gap of the source.
        let summary = json(&o);
        let status = |name: &str| {
            summary["sources"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["name"] == name)
                .map(|s| s["status"].clone())
                .unwrap()
        };
        assert_eq!(status("docs"), "failed", "{summary:#}");
        assert_ne!(status("jira"), "ok", "{summary:#}");
        // Meanwhile people keep working: files change on the share, tickets change.
        std::fs::write(
            away.join(format!("minutes-{step}.md")),
            format!("# Minutes {step}\n"),
        )
        .unwrap();
        std::fs::write(
            away.join("policy-001.md"),
            format!("# Policy 1, edit {step}\n"),
        )
        .unwrap();
        world.add_ticket(step);
        let t = world.ticket_time(step, 59);
        world
            .jira
            .upsert("AIOPS-101", &format!("edited at {step}"), t);
    }
    std::fs::rename(&away, world.docs()).unwrap();
    world.jira.set_down(false);
    backlog.extend(world.snapshot());

    let o = world.collect();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_verifies(&world.sandbox);
    let inv = inventory::read(&world.sandbox.archive());
    for source in ["docs", "jira"] {
        let gaps: Vec<_> = inv.gaps.iter().filter(|g| g.source == source).collect();
        assert_eq!(
            gaps.iter().map(|g| g.bundle).collect::<Vec<_>>(),
            [2, 3, 4],
            "one gap per run while down: {gaps:#?}"
        );
    }
    assert!(
        inv.gaps
            .iter()
            .any(|g| g.category == "not_found" && g.message.contains("docs"))
    );
    assert!(
        inv.gaps
            .iter()
            .any(|g| g.source == "jira" && g.message.contains("503"))
    );
    // The run after the outage holds every version that exists now and was not sealed before.
    let held = holdings(&inv);
    for v in &backlog {
        let bundles = held
            .get(v)
            .unwrap_or_else(|| panic!("{v:?} was never collected"));
        assert_eq!(bundles.len(), 1, "{v:?} sealed in {bundles:?}");
    }
    let recovered: Vec<_> = inv.items.iter().filter(|i| i.bundle == 5).collect();
    assert!(
        recovered.iter().any(|i| i.reference == "minutes-4.md")
            && recovered.iter().any(|i| i.reference == "AIOPS-101"),
        "{recovered:#?}"
    );
}

#[test]
fn a_disk_that_fills_while_sealing_fails_the_run_clearly_and_leaves_archive_and_state_valid() {
    const MIB: u64 = 1024 * 1024;
    let s = Sandbox::empty();
    let mnt = s.path().join("mnt");
    let out = s.path().join("out");
    std::fs::create_dir_all(&mnt).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    s.write("docs/policy.md", "# Policy\n");
    // 5 MiB of incompressible bytes, moved into the folder after the first run.
    let mut rng = SplitMix64::new(7);
    let big: Vec<u8> = (0..5 * MIB / 8)
        .flat_map(|_| rng.next_u64().to_le_bytes())
        .collect();
    s.write("later/model-weights-card.bin", &big);
    s.write(
        "agent.toml",
        format!(
            "[archive]\npath = \"{}\"\norigin = \"disk.example.org/ai\"\n\n[[source]]\ntype = \"local\"\nname = \"docs\"\npath = \"docs\"\n[[source.rule]]\nglob = \"**\"\nkind = \"model_card\"\n",
            mnt.join("evidence").display()
        ),
    );
    // A 16 MiB disk with 8 MiB taken: the 5 MiB artefact stages, but the 5 MiB bundle does not fit.
    let script = r#"
step() { name=$1; shift; "$@" >"$OUT/$name.out" 2>"$OUT/$name.err"; echo $? >"$OUT/$name.code"; }
step run1 "$AGENT" collect --json --quiet --config "$CONF"
head -c 8388608 /dev/zero >"$MNT/filler"
mv "$WORK/later/model-weights-card.bin" "$WORK/docs/"
cp "$MNT/evidence/.agent/state.json" "$OUT/state-before.json"
step run2 "$AGENT" collect --json --quiet --config "$CONF"
cp "$MNT/evidence/.agent/state.json" "$OUT/state-after.json"
ls -A "$MNT/evidence" >"$OUT/archive-after-failure.txt"
ls -A "$MNT/evidence/.agent" >"$OUT/state-dir-after-failure.txt"
step verify2 "$AUDITOR" verify --json "$MNT/evidence"
rm "$MNT/filler"
step run3 "$AGENT" collect --json --quiet --config "$CONF"
step verify3 "$AUDITOR" verify --json "$MNT/evidence"
cp "$MNT/evidence/run-000002.zip" "$OUT/" 2>/dev/null
true
"#;
    let agent = bin("evidence-agent");
    let auditor = bin("evidence-auditor");
    let o = run_in_small_tmpfs(
        16 * MIB,
        &mnt,
        &[
            ("OUT", out.to_str().unwrap()),
            ("WORK", s.path().to_str().unwrap()),
            ("CONF", s.config().to_str().unwrap()),
            ("AGENT", agent.to_str().unwrap()),
            ("AUDITOR", auditor.to_str().unwrap()),
        ],
        script,
    );
    assert!(o.status.success(), "{}", text(&o));
    let read = |name: &str| std::fs::read_to_string(out.join(name)).unwrap_or_default();
    let step = |name: &str| {
        (
            read(&format!("{name}.code"))
                .trim()
                .parse::<i32>()
                .unwrap_or(-1),
            format!(
                "--- {name}.out\n{}\n--- {name}.err\n{}",
                read(&format!("{name}.out")),
                read(&format!("{name}.err"))
            ),
        )
    };

    let (code, log) = step("run1");
    assert_eq!(code, 0, "{log}");
    // The full disk: exit 2, an error naming the file being written and the cause.
    let (code, log) = step("run2");
    assert_eq!(code, 2, "{log}");
    let err = read("run2.err");
    assert!(
        err.contains(".run-000002.zip.tmp") && err.contains("No space left on device"),
        "{log}"
    );
    // Nothing half-written stays, the state did not move, and the archive verifies.
    assert_eq!(read("state-before.json"), read("state-after.json"));
    let archive = read("archive-after-failure.txt");
    assert_eq!(
        archive.split_whitespace().collect::<Vec<_>>(),
        [".agent", "run-000001.zip"],
        "{archive}"
    );
    assert!(!read("state-dir-after-failure.txt").contains("pending"));
    let (code, log) = step("verify2");
    assert_eq!(code, 0, "{log}");
    // With space again, the next run collects everything.
    let (code, log) = step("run3");
    assert_eq!(code, 0, "{log}");
    let summary: serde_json::Value = serde_json::from_str(&read("run3.out")).unwrap();
    assert_eq!(summary["run"], 2, "{summary:#}");
    assert_eq!(summary["items"], 1, "{summary:#}");
    let (code, log) = step("verify3");
    assert_eq!(code, 0, "{log}");
    let sealed = evidence_tests::tamper::unpack(&out.join("run-000002.zip"));
    let artefact = sealed
        .iter()
        .find(|(k, _)| k.ends_with("artefact/model-weights-card.bin"))
        .map(|(_, v)| v)
        .expect("the big artefact is in run 2");
    assert_eq!(artefact, &big);
}
