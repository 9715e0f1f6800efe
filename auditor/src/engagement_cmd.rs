//! The engagement commands: `audit`, `population`, `seed`, `sample`, `workpaper`,
//! `conclude` and `record`. Argument definitions and the glue between the engagement file
//! (IO) and the pure cores; the only place that reads the clock, the OS random generator and
//! prints.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use clap::{Args, Subcommand};
use evidence_model::{Catalogue, ClauseId, ControlId, Kind, Sha256Digest, Timestamp};
use evidence_sampling::{Confidence, Expected, Likelihood, PlanInput, Rate, plan};
use serde_json::{Value, json};

use crate::engagement::db::{
    AuditRow, ConclusionRow, Engagement, ImportRow, PopulationRow, ResultRow,
};
use crate::engagement::evaluate::{
    Finding, PlanSettings, TestResult, evaluate_sample, finding_warnings, tally,
};
use crate::engagement::population::{ActorFilter, Definition, Dimension, freeze, write_manifest};
use crate::engagement::report::{RECORD_SCHEMA, coverage};
use crate::engagement::seed::{Beacon, Secret, derive_seed, first_round_after};
use crate::engagement::workpaper::{self, ExpectedRow};
use crate::engagement::{EngagementError, export, sample};
use crate::exit::{EXIT_FAILED, EXIT_OK};
use crate::outln;

/// The engagement file every engagement command works on.
#[derive(Debug, Clone, Args)]
pub struct EngagementFile {
    /// The engagement file (SQLite). `ingest` creates it.
    #[arg(long, short = 'e', env = "EVIDENCE_ENGAGEMENT", value_name = "FILE")]
    pub engagement: PathBuf,
}

/// `--json`.
#[derive(Debug, Clone, Copy, Args)]
pub struct JsonFlag {
    /// Print one JSON object instead of the human summary.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Add an audit of the certification cycle. Its period bounds the populations defined in it
    /// (a surveillance audit starts where the previous audit's period ended), and its sampling
    /// settings are the defaults of their plans.
    #[command(
        after_help = "Example:\n  evidence-auditor audit add stage2-2026 --type initial --from 2026-01-01 --to 2027-01-01"
    )]
    Add(AuditAddArgs),
    /// List the audits.
    #[command(after_help = "Example:\n  evidence-auditor audit list --json")]
    List {
        #[command(flatten)]
        file: EngagementFile,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// The coverage matrix: for each Annex A control, the sampled items evidencing it in each
    /// audit of the cycle, and the controls not yet covered.
    #[command(after_help = "Example:\n  evidence-auditor audit coverage")]
    Coverage {
        #[command(flatten)]
        file: EngagementFile,
        #[command(flatten)]
        out: JsonFlag,
    },
}

#[derive(Debug, Args)]
pub struct AuditAddArgs {
    /// A short id, e.g. `stage2-2026` or `surveillance-1`.
    pub id: String,
    /// initial (Stage 2), surveillance, or recertification.
    #[arg(long = "type", value_name = "TYPE", value_parser = ["initial", "surveillance", "recertification"])]
    pub audit_type: String,
    /// Start of the audited period (date or RFC 3339 time, UTC). A surveillance audit defaults to
    /// the end of the previous audit's period.
    #[arg(long, value_name = "DATE")]
    pub from: Option<String>,
    /// End of the audited period, exclusive.
    #[arg(long, value_name = "DATE")]
    pub to: Option<String>,
    /// Confidence of this audit's plans (default 0.95; 0.90 for surveillance).
    #[arg(long)]
    pub confidence: Option<String>,
    /// Tolerable deviation rate of this audit's plans (default 0.05).
    #[arg(long)]
    pub tolerable: Option<String>,
    /// Expected deviation rate of this audit's plans (default 0).
    #[arg(long)]
    pub expected: Option<String>,
    #[command(flatten)]
    pub file: EngagementFile,
    #[command(flatten)]
    pub out: JsonFlag,
}

#[derive(Debug, Subcommand)]
pub enum PopulationCommand {
    /// Define a population: ingested items filtered by kind, control, clause, source, actor,
    /// origin and period (on the source time), optionally stratified. Repeat a filter for
    /// alternatives; different filters must all hold.
    #[command(
        after_help = "Example:\n  evidence-auditor population define pr-approvals --audit stage2-2026 --kind pr_approval"
    )]
    Define(DefineArgs),
    /// List the populations and how far each sampling record has got.
    #[command(after_help = "Example:\n  evidence-auditor population list")]
    List {
        #[command(flatten)]
        file: EngagementFile,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Freeze a population: fix its members as a canonical manifest and print its digest. Needs
    /// a seed commitment first; the seed is revealed only after the freeze.
    #[command(after_help = "Example:\n  evidence-auditor population freeze pr-approvals")]
    Freeze {
        /// The population.
        name: String,
        #[command(flatten)]
        file: EngagementFile,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Show a population; with --manifest, write its canonical manifest (`sha256sum` of the file
    /// is the population digest).
    #[command(
        after_help = "Example:\n  evidence-auditor population show pr-approvals --manifest pr-approvals.jsonl"
    )]
    Show {
        /// The population.
        name: String,
        /// Write the canonical manifest (JSON lines) to this file.
        #[arg(long, value_name = "FILE")]
        manifest: Option<PathBuf>,
        #[command(flatten)]
        file: EngagementFile,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Plan the sample size of a frozen population (before the seed is revealed). Defaults to
    /// the hypergeometric likelihood, exact for sampling N known items without replacement, and
    /// to the audit's settings.
    #[command(
        after_help = "Example:\n  evidence-auditor population plan pr-approvals --tolerable 0.05"
    )]
    Plan(PlanPopulationArgs),
}

#[derive(Debug, Args)]
pub struct DefineArgs {
    /// A name for the population, e.g. `model-cards` or `pr-approvals-q3`.
    pub name: String,
    /// The audit it belongs to (optional when the engagement has exactly one).
    #[arg(long)]
    pub audit: Option<String>,
    /// Evidence kind, e.g. `pr_approval`.
    #[arg(long = "kind", value_name = "KIND")]
    pub kinds: Vec<String>,
    /// Annex A control the item evidences, e.g. `A.6.2.4`.
    #[arg(long = "control", value_name = "ID")]
    pub controls: Vec<String>,
    /// Clause the item evidences, e.g. `9.3.2`.
    #[arg(long = "clause", value_name = "ID")]
    pub clauses: Vec<String>,
    /// Configured source name.
    #[arg(long = "source", value_name = "NAME")]
    pub sources: Vec<String>,
    /// Actor: `NAME` in any role or `ROLE:NAME`, e.g. `approver:alice`.
    #[arg(long = "actor", value_name = "[ROLE:]NAME")]
    pub actors: Vec<String>,
    /// Archive origin (one per business unit or site).
    #[arg(long = "origin", value_name = "ORIGIN")]
    pub origins: Vec<String>,
    /// Source time at or after (date or RFC 3339 time, UTC). Defaults to the audit's period.
    #[arg(long, value_name = "DATE")]
    pub from: Option<String>,
    /// Source time before (exclusive). Defaults to the audit's period.
    #[arg(long, value_name = "DATE")]
    pub to: Option<String>,
    /// Ignore the audit's period (no period filter unless --from/--to are given).
    #[arg(long)]
    pub any_period: bool,
    /// Stratify by kind, control, clause, source, actor, origin, quarter or month.
    #[arg(long, value_name = "DIMENSION")]
    pub stratify_by: Option<Dimension>,
    #[command(flatten)]
    pub file: EngagementFile,
    #[command(flatten)]
    pub out: JsonFlag,
}

#[derive(Debug, Args)]
pub struct PlanPopulationArgs {
    /// The population.
    pub name: String,
    /// hypergeometric (default: exact for a known N), binomial (AICPA tables) or poisson.
    #[arg(long)]
    pub likelihood: Option<String>,
    /// Tolerable deviation rate (default: the audit's).
    #[arg(long)]
    pub tolerable: Option<String>,
    /// Confidence (default: the audit's).
    #[arg(long)]
    pub confidence: Option<String>,
    /// Expected deviation rate (default: the audit's).
    #[arg(long, conflicts_with = "expected_errors")]
    pub expected: Option<String>,
    /// Expected deviations as a count.
    #[arg(long, value_name = "K")]
    pub expected_errors: Option<u64>,
    #[command(flatten)]
    pub file: EngagementFile,
    #[command(flatten)]
    pub out: JsonFlag,
}

#[derive(Debug, Subcommand)]
pub enum SeedCommand {
    /// Commit to a secret before the population is frozen: its SHA-256 is printed and stored;
    /// send it to the auditee. The secret stays in your file until `seed reveal`.
    #[command(
        after_help = "Example:\n  evidence-auditor seed commit pr-approvals --secret-file pr-approvals.secret --generate"
    )]
    Commit {
        /// The population (defined, not yet frozen).
        population: String,
        /// The file holding your secret (20–200 printable ASCII characters, no spaces or '|').
        #[arg(long, value_name = "FILE")]
        secret_file: PathBuf,
        /// Create the secret file with 40 random digits from the operating system (refuses to
        /// overwrite an existing file).
        #[arg(long)]
        generate: bool,
        #[command(flatten)]
        file: EngagementFile,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Reveal the secret after the freeze, optionally with a public beacon value published after
    /// the freeze, and fix the seed: `secret|beacon value|population digest`.
    #[command(
        after_help = "Example:\n  evidence-auditor seed reveal pr-approvals --secret-file pr-approvals.secret"
    )]
    Reveal(RevealArgs),
    /// Show the commitment and, once revealed, the seed.
    #[command(after_help = "Example:\n  evidence-auditor seed show pr-approvals")]
    Show {
        population: String,
        #[command(flatten)]
        file: EngagementFile,
        #[command(flatten)]
        out: JsonFlag,
    },
}

#[derive(Debug, Args)]
pub struct RevealArgs {
    /// The population (frozen and planned).
    pub population: String,
    /// The secret file you committed to.
    #[arg(long, value_name = "FILE")]
    pub secret_file: PathBuf,
    /// Beacon chain: drand-quicknet, drand-default (round times checked against the freeze), or
    /// other:NAME (recorded only).
    #[arg(long, requires_all = ["beacon_round", "beacon_value"])]
    pub beacon_chain: Option<String>,
    /// Beacon round number.
    #[arg(long, requires = "beacon_chain")]
    pub beacon_round: Option<u64>,
    /// Beacon value (the round's randomness, hex).
    #[arg(long, requires = "beacon_chain")]
    pub beacon_value: Option<String>,
    #[command(flatten)]
    pub file: EngagementFile,
    #[command(flatten)]
    pub out: JsonFlag,
}

#[derive(Debug, Subcommand)]
pub enum SampleCommand {
    /// Draw the planned sample with the revealed seed (Rivest 2011 SHA-256 sampler over the
    /// manifest positions); prints the `draw` command that re-derives it.
    #[command(after_help = "Example:\n  evidence-auditor sample draw pr-approvals")]
    Draw {
        population: String,
        #[command(flatten)]
        file: EngagementFile,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Show the sample: picks with counters, items, and results once imported.
    #[command(after_help = "Example:\n  evidence-auditor sample show pr-approvals --json")]
    Show {
        population: String,
        #[command(flatten)]
        file: EngagementFile,
        #[command(flatten)]
        out: JsonFlag,
    },
}

#[derive(Debug, Subcommand)]
pub enum WorkpaperCommand {
    /// Write the sample as a workpaper to fill in: `.xlsx` (with a sampling record sheet and a
    /// cell for the proposed finding) or `.csv`.
    #[command(
        after_help = "Example:\n  evidence-auditor workpaper export pr-approvals --output pr-approvals.xlsx"
    )]
    Export {
        population: String,
        /// The file to write; its extension chooses the format. An existing file is never
        /// replaced without --force (it may hold results you filled in).
        #[arg(long, short, value_name = "FILE")]
        output: PathBuf,
        /// Replace FILE if it exists. Results already imported are written into the new file
        /// either way, so exporting again after an import loses nothing recorded.
        #[arg(long)]
        force: bool,
        /// Also export every sampled item's inclusion proof (artefact, metadata, proof, signed
        /// checkpoint, time stamp) from this archive into `<FILE stem>.proofs/`, one folder per
        /// pick; repeat for each origin of the sample. The archive is verified first.
        #[arg(long, value_name = "ARCHIVE")]
        proofs_from: Vec<PathBuf>,
        /// Trust anchors for verifying the archives given with `--proofs-from`.
        #[command(flatten)]
        trust: crate::trust_cmd::TrustArgs,
        #[command(flatten)]
        file: EngagementFile,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Import a filled workpaper (`.xlsx` or `.csv`). Results are pass, deviation or not
    /// testable; deviations and untestable items need a note. Nothing is imported if any row
    /// has a problem; every problem is listed with its row and column.
    #[command(
        after_help = "Example:\n  evidence-auditor workpaper import pr-approvals pr-approvals.xlsx"
    )]
    Import {
        population: String,
        /// The filled workpaper.
        path: PathBuf,
        #[command(flatten)]
        file: EngagementFile,
        #[command(flatten)]
        out: JsonFlag,
    },
}

#[derive(Debug, Args)]
pub struct ConcludeArgs {
    /// The population (results imported).
    pub population: String,
    /// The finding you propose: conformity, minor-nonconformity, major-nonconformity,
    /// observation or opportunity-for-improvement. Overrides the workpaper's cell.
    #[arg(long)]
    pub finding: Option<String>,
    /// A note recorded with the finding (root cause, why this category).
    #[arg(long)]
    pub note: Option<String>,
    #[command(flatten)]
    pub file: EngagementFile,
    #[command(flatten)]
    pub out: JsonFlag,
}

#[derive(Debug, Subcommand)]
pub enum RecordCommand {
    /// Export the sampling records as one JSON document: engagement, audits, coverage, and per
    /// population its definition, N, digest, plan, seed protocol, picks with counters, results
    /// and evaluation.
    #[command(
        after_help = "Example:\n  evidence-auditor record export --output acme-2026-sampling.json"
    )]
    Export {
        /// Only this population.
        #[arg(long)]
        population: Option<String>,
        /// The file to write (`-` for stdout).
        #[arg(long, short, value_name = "FILE", default_value = "-")]
        output: PathBuf,
        #[command(flatten)]
        file: EngagementFile,
    },
}

// ----- helpers ---------------------------------------------------------------------------------

fn open(file: &EngagementFile) -> anyhow::Result<Engagement> {
    Ok(Engagement::open(&file.engagement, false)?)
}

/// The current time, to the second (records read better without nanoseconds).
fn now() -> Timestamp {
    let t = Timestamp::now();
    Timestamp::from_second(t.as_second()).unwrap_or(t)
}

/// A date (`2026-01-01`, midnight UTC) or an RFC 3339 time.
fn parse_time(text: &str, what: &str) -> anyhow::Result<Timestamp> {
    if let Ok(t) = text.parse::<Timestamp>() {
        return Ok(t);
    }
    let date: jiff::civil::Date = text.parse().map_err(|_| {
        anyhow!("{what}: {text:?} is neither a date (2026-01-31) nor an RFC 3339 time")
    })?;
    Ok(date
        .to_zoned(jiff::tz::TimeZone::UTC)
        .map_err(|e| anyhow!("{what}: {e}"))?
        .timestamp())
}

fn print_json(v: &Value) -> anyhow::Result<()> {
    outln!("{}", serde_json::to_string(v)?);
    Ok(())
}

/// The population, frozen, or an error saying what to do.
fn frozen(p: &PopulationRow) -> anyhow::Result<&crate::engagement::db::FrozenRow> {
    p.frozen.as_ref().ok_or_else(|| {
        anyhow!(
            "population {} is not frozen yet: run `evidence-auditor population freeze {}`",
            p.name,
            p.name
        )
    })
}

fn settings_of(plan: &Value) -> anyhow::Result<PlanSettings> {
    serde_json::from_value(plan["settings"].clone()).context("the stored plan is unreadable")
}

fn status(e: &Engagement, p: &PopulationRow) -> anyhow::Result<&'static str> {
    let n = &p.name;
    Ok(if e.conclusion(n)?.is_some() {
        "concluded"
    } else if e.import(n)?.is_some() {
        "tested"
    } else if e.draw(n)?.is_some() {
        "drawn"
    } else if e.seed(n)?.is_some() {
        "seed revealed"
    } else if e.plan(n)?.is_some() {
        "planned"
    } else if p.frozen.is_some() {
        "frozen"
    } else if e.commitment(n)?.is_some() {
        "committed"
    } else {
        "defined"
    })
}

// ----- audits ------------------------------------------------------------------------------------

/// `evidence-auditor audit …`.
pub fn run_audit(c: &AuditCommand) -> anyhow::Result<u8> {
    match c {
        AuditCommand::Add(a) => audit_add(a),
        AuditCommand::List { file, out } => {
            let e = open(file)?;
            let audits = e.audits()?;
            if out.json {
                print_json(&json!({ "audits": audits }))?;
            } else if audits.is_empty() {
                outln!("No audit yet: `evidence-auditor audit add ID --type initial`.");
            } else {
                for a in audits {
                    outln!(
                        "{:>2}. {:<20} {:<15} period {} .. {}  confidence {}, tolerable {}, expected {}",
                        a.ordinal,
                        a.id,
                        a.audit_type,
                        a.period_from.map_or("open".into(), |t| t.to_string()),
                        a.period_to.map_or("open".into(), |t| t.to_string()),
                        a.confidence,
                        a.tolerable,
                        a.expected
                    );
                }
            }
            Ok(EXIT_OK)
        }
        AuditCommand::Coverage { file, out } => {
            let e = open(file)?;
            let m = coverage_of(&e)?;
            if out.json {
                print_json(&serde_json::to_value(&m)?)?;
            } else {
                let mut header = format!("{:<10}", "control");
                for a in &m.audits {
                    header.push_str(&format!(" {a:>14}"));
                }
                outln!("{header}");
                for r in &m.rows {
                    let mut line = format!("{:<10}", r.control);
                    for n in &r.sampled_items {
                        line.push_str(&format!(
                            " {:>14}",
                            if *n == 0 { "-".into() } else { n.to_string() }
                        ));
                    }
                    outln!("{line}  {}", r.title);
                }
                outln!();
                outln!(
                    "{} of {} Annex A controls sampled in the cycle so far; not yet covered: {}",
                    m.rows.len() - m.not_covered.len(),
                    m.rows.len(),
                    if m.not_covered.is_empty() {
                        "none".to_owned()
                    } else {
                        m.not_covered.join(", ")
                    }
                );
            }
            Ok(EXIT_OK)
        }
    }
}

fn coverage_of(e: &Engagement) -> anyhow::Result<crate::engagement::report::Coverage> {
    let audits: Vec<String> = e.audits()?.into_iter().map(|a| a.id).collect();
    let controls: Vec<(String, String)> = Catalogue::iso42001()
        .controls()
        .map(|c| (c.id.clone(), c.title.clone()))
        .collect();
    Ok(coverage(&audits, &controls, &e.sampled_controls()?))
}

fn audit_add(a: &AuditAddArgs) -> anyhow::Result<u8> {
    let e = open(&a.file)?;
    let audits = e.audits()?;
    let surveillance = a.audit_type == "surveillance";
    let from = match (&a.from, audits.last()) {
        (Some(f), _) => Some(parse_time(f, "--from")?),
        (None, Some(prev)) if surveillance => Some(prev.period_to.ok_or_else(|| {
            anyhow!(
                "the previous audit {} has no period end: give --from for this surveillance audit",
                prev.id
            )
        })?),
        _ => None,
    };
    let to = a.to.as_deref().map(|t| parse_time(t, "--to")).transpose()?;
    if let (Some(f), Some(t)) = (from, to)
        && t <= f
    {
        bail!("--to {t} is not after --from {f}");
    }
    let confidence = a
        .confidence
        .clone()
        .unwrap_or_else(|| if surveillance { "0.90" } else { "0.95" }.to_owned());
    let tolerable = a.tolerable.clone().unwrap_or_else(|| "0.05".to_owned());
    let expected = a.expected.clone().unwrap_or_else(|| "0".to_owned());
    let confidence = Confidence::parse(&confidence)
        .context("--confidence")?
        .to_string();
    let tolerable = Rate::parse(&tolerable).context("--tolerable")?.to_string();
    let expected = Rate::parse(&expected).context("--expected")?.to_string();
    let row = e.add_audit(&AuditRow {
        id: a.id.clone(),
        ordinal: 0,
        audit_type: a.audit_type.clone(),
        period_from: from,
        period_to: to,
        confidence,
        tolerable,
        expected,
        created_at: now(),
    })?;
    if a.out.json {
        print_json(&serde_json::to_value(&row)?)?;
    } else {
        outln!(
            "Audit {} ({}, #{} of the cycle): period {} .. {}; plans default to confidence {}, tolerable rate {}, expected rate {}.",
            row.id,
            row.audit_type,
            row.ordinal,
            row.period_from.map_or("open".into(), |t| t.to_string()),
            row.period_to.map_or("open".into(), |t| t.to_string()),
            row.confidence,
            row.tolerable,
            row.expected
        );
    }
    Ok(EXIT_OK)
}

// ----- populations -------------------------------------------------------------------------------

/// `evidence-auditor population …`.
pub fn run_population(c: &PopulationCommand) -> anyhow::Result<u8> {
    match c {
        PopulationCommand::Define(a) => define(a),
        PopulationCommand::List { file, out } => {
            let e = open(file)?;
            let mut list = Vec::new();
            for p in e.populations()? {
                let st = status(&e, &p)?;
                list.push(json!({
                    "name": p.name,
                    "audit": p.audit,
                    "definition": p.definition.describe(),
                    "status": st,
                    "size": p.frozen.as_ref().map(|f| f.size),
                    "digest": p.frozen.as_ref().map(|f| f.digest.clone()),
                }));
            }
            if out.json {
                print_json(&json!({ "populations": list }))?;
            } else if list.is_empty() {
                outln!("No population yet: `evidence-auditor population define NAME …`.");
            } else {
                for p in &list {
                    outln!(
                        "{:<24} {:<14} audit {:<16} N={:<8} {}",
                        p["name"].as_str().unwrap_or(""),
                        p["status"].as_str().unwrap_or(""),
                        p["audit"].as_str().unwrap_or(""),
                        p["size"].as_u64().map_or("-".into(), |n| n.to_string()),
                        p["definition"].as_str().unwrap_or("")
                    );
                }
            }
            Ok(EXIT_OK)
        }
        PopulationCommand::Freeze { name, file, out } => freeze_cmd(name, file, out.json),
        PopulationCommand::Show {
            name,
            manifest,
            file,
            out,
        } => show_population(name, manifest.as_deref(), file, out.json),
        PopulationCommand::Plan(a) => plan_cmd(a),
    }
}

fn define(a: &DefineArgs) -> anyhow::Result<u8> {
    let e = open(&a.file)?;
    let audits = e.audits()?;
    let audit = match &a.audit {
        Some(id) => audits.iter().find(|x| &x.id == id).ok_or_else(|| {
            anyhow!("audit {id:?} does not exist (`evidence-auditor audit list`)")
        })?,
        None => match audits.as_slice() {
            [only] => only,
            [] => bail!(
                "the engagement has no audit yet: `evidence-auditor audit add ID --type initial` first"
            ),
            _ => bail!("the engagement has several audits: name one with --audit"),
        },
    };
    for k in &a.kinds {
        k.parse::<Kind>().map_err(|e| anyhow!("--kind: {e}"))?;
    }
    for c in &a.controls {
        c.parse::<ControlId>()
            .map_err(|e| anyhow!("--control: {e}"))?;
    }
    for c in &a.clauses {
        c.parse::<ClauseId>()
            .map_err(|e| anyhow!("--clause: {e}"))?;
    }
    let actors = a
        .actors
        .iter()
        .map(|t| ActorFilter::parse(t).map_err(|e| anyhow!("--actor: {e}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let known: Vec<String> = e.origins()?.into_iter().map(|(o, _, _)| o).collect();
    for o in &a.origins {
        if !known.contains(o) {
            bail!(
                "--origin {o:?}: no archive of that origin was ingested (ingested: {})",
                known.join(", ")
            );
        }
    }
    let explicit = a.from.is_some() || a.to.is_some();
    let (from, to) = if explicit || a.any_period {
        (
            a.from
                .as_deref()
                .map(|t| parse_time(t, "--from"))
                .transpose()?,
            a.to.as_deref().map(|t| parse_time(t, "--to")).transpose()?,
        )
    } else {
        (audit.period_from, audit.period_to)
    };
    let d = Definition {
        kinds: a.kinds.clone(),
        controls: a.controls.clone(),
        clauses: a.clauses.clone(),
        sources: a.sources.clone(),
        actors,
        origins: a.origins.clone(),
        from,
        to,
        stratify_by: a.stratify_by,
    };
    let (members, without_time) = e.candidates(&d)?;
    e.define_population(&a.name, &audit.id, &d, now())?;
    if a.out.json {
        print_json(&json!({
            "name": a.name, "audit": audit.id, "definition": d, "description": d.describe(),
            "matching_now": members.len(), "left_out_without_source_time": without_time,
        }))?;
    } else {
        outln!(
            "Population {} (audit {}): {}.",
            a.name,
            audit.id,
            d.describe()
        );
        outln!(
            "{} ingested item(s) match now; the members are fixed when it is frozen.",
            members.len()
        );
        if without_time > 0 {
            outln!(
                "Note: {without_time} item(s) have no source time and cannot fall in a period; they are left out."
            );
        }
        outln!(
            "Next: commit to a secret before freezing: `evidence-auditor seed commit {} --secret-file FILE --generate`.",
            a.name
        );
    }
    Ok(EXIT_OK)
}

fn freeze_cmd(name: &str, file: &EngagementFile, as_json: bool) -> anyhow::Result<u8> {
    let e = open(file)?;
    let p = e.population(name)?;
    if let Some(f) = &p.frozen {
        bail!(
            "population {name} was already frozen at {} (digest {})",
            f.frozen_at,
            f.digest
        );
    }
    let Some((commitment, _)) = e.commitment(name)? else {
        bail!(
            "population {name} has no seed commitment: commit to a secret before freezing, so that the seed cannot be chosen after seeing the population (`evidence-auditor seed commit {name} --secret-file FILE --generate`)"
        );
    };
    let (members, without_time) = e.candidates(&p.definition)?;
    let frozen_pop = freeze(members).map_err(|err| anyhow!("population {name}: {err}"))?;
    let at = now();
    e.store_freeze(name, &frozen_pop, at)?;
    if as_json {
        print_json(&json!({
            "name": name, "frozen_at": at, "size": frozen_pop.size(), "digest": frozen_pop.digest.to_hex(),
            "strata": frozen_pop.strata, "commitment": commitment, "left_out_without_source_time": without_time,
        }))?;
    } else {
        outln!(
            "Population {name} frozen at {at}: N = {} item(s).",
            frozen_pop.size()
        );
        outln!("Manifest digest (SHA-256): {}", frozen_pop.digest);
        for s in &frozen_pop.strata {
            outln!("  stratum {:<30} {} item(s)", s.name, s.size);
        }
        if without_time > 0 {
            outln!("Note: {without_time} item(s) without a source time are outside the period.");
        }
        outln!(
            "Publish the digest with the commitment {commitment}; then plan the sample size (`evidence-auditor population plan {name}`)."
        );
        if let Some(r) = first_round_after("drand-quicknet", at) {
            outln!("A beacon published after the freeze: drand quicknet round {r} or later.");
        }
    }
    Ok(EXIT_OK)
}

fn show_population(
    name: &str,
    manifest: Option<&Path>,
    file: &EngagementFile,
    as_json: bool,
) -> anyhow::Result<u8> {
    let e = open(file)?;
    let p = e.population(name)?;
    let st = status(&e, &p)?;
    if let Some(path) = manifest {
        frozen(&p)?;
        let members = e.manifest_members(name)?;
        let mut bytes = Vec::new();
        write_manifest(&members, &mut bytes)?;
        let digest = Sha256Digest::of(&bytes);
        export::write_document(path, &bytes)?;
        if frozen(&p)?.digest != digest.to_hex() {
            bail!(
                "the manifest read back from {} has digest {digest}, not the frozen {}",
                e.path().display(),
                frozen(&p)?.digest
            );
        }
    }
    let v = json!({
        "name": p.name, "audit": p.audit, "status": st, "definition": p.definition,
        "description": p.definition.describe(), "defined_at": p.defined_at, "frozen": p.frozen,
    });
    if as_json {
        print_json(&v)?;
    } else {
        outln!("Population {} (audit {}), {st}", p.name, p.audit);
        outln!("  definition: {}", p.definition.describe());
        if let Some(f) = &p.frozen {
            outln!(
                "  frozen at {}: N = {}, digest {}",
                f.frozen_at,
                f.size,
                f.digest
            );
            for s in &f.strata {
                outln!("  stratum {:<30} {} item(s)", s.name, s.size);
            }
        }
        if let Some(path) = manifest {
            outln!(
                "  manifest written to {} (its SHA-256 is the digest)",
                path.display()
            );
        }
    }
    Ok(EXIT_OK)
}

fn plan_cmd(a: &PlanPopulationArgs) -> anyhow::Result<u8> {
    let e = open(&a.file)?;
    let p = e.population(&a.name)?;
    let f = frozen(&p)?;
    if e.seed(&a.name)?.is_some() {
        bail!(
            "the seed of population {} is already revealed: the plan must be fixed before anyone knows the seed",
            a.name
        );
    }
    let audit = e
        .audit(&p.audit)?
        .ok_or_else(|| anyhow!("audit {} of population {} is missing", p.audit, p.name))?;
    let (likelihood, likelihood_reason) = match &a.likelihood {
        Some(l) => (
            l.parse::<Likelihood>()
                .map_err(|e| anyhow!("--likelihood: {e}"))?,
            "chosen by the auditor".to_owned(),
        ),
        None => (
            Likelihood::Hypergeometric,
            format!(
                "hypergeometric by default: the population size N = {} is known and items are drawn without replacement, so the hypergeometric likelihood is exact (sampling.md §2.2); the binomial (AICPA tables) would over-sample a finite population",
                f.size
            ),
        ),
    };
    let tolerable =
        Rate::parse(a.tolerable.as_deref().unwrap_or(&audit.tolerable)).context("--tolerable")?;
    let confidence = Confidence::parse(a.confidence.as_deref().unwrap_or(&audit.confidence))
        .context("--confidence")?;
    let expected = match (&a.expected, a.expected_errors) {
        (_, Some(k)) => Expected::Count(k),
        (Some(r), None) => Expected::Rate(Rate::parse(r).context("--expected")?),
        (None, None) => {
            Expected::Rate(Rate::parse(&audit.expected).context("the audit's expected rate")?)
        }
    };
    let from_audit = a.tolerable.is_none()
        && a.confidence.is_none()
        && a.expected.is_none()
        && a.expected_errors.is_none();
    let mut input = PlanInput::new(likelihood, tolerable.clone(), confidence.clone());
    input.expected = expected;
    input.population = Some(f.size);
    input.max_sample_size = f.size.clamp(1, evidence_sampling::MAX_SAMPLE_SIZE);
    let planned = plan(&input).or_else(|err| match err {
        evidence_sampling::SamplingError::NoSampleSize { .. } => {
            let mut all = input.clone();
            all.max_sample_size = evidence_sampling::MAX_SAMPLE_SIZE;
            plan(&all)
        }
        other => Err(other),
    })?;
    let sample_size = planned.sample_size.min(f.size);
    let allocation = if f.strata.is_empty() {
        Vec::new()
    } else {
        sample::allocation(&f.strata, sample_size)?
    };
    let settings = PlanSettings {
        likelihood,
        tolerable,
        confidence,
        population: f.size,
    };
    let record = json!({
        "settings": settings,
        "sample_size": sample_size,
        "test_all": sample_size >= f.size,
        "likelihood_reason": likelihood_reason,
        "settings_source": if from_audit {
            format!("the {} audit {}'s settings", audit.audit_type, audit.id)
        } else {
            "options given by the auditor".to_owned()
        },
        "rationale": planned.rationale,
        "allocation": f.strata.iter().zip(&allocation).map(|(s, n)| json!({"stratum": s.name, "size": s.size, "allocated": n})).collect::<Vec<_>>(),
        "plan": planned,
    });
    e.store_plan(&a.name, &record, now())?;
    if a.out.json {
        print_json(&record)?;
    } else {
        outln!(
            "Sample size for {}: {sample_size} of N = {}.",
            a.name,
            f.size
        );
        outln!("Likelihood: {likelihood_reason}.");
        outln!(
            "Settings: {}.",
            record["settings_source"].as_str().unwrap_or("")
        );
        outln!("{}", planned.rationale);
        if let Some(s) = &planned.suggestion {
            outln!("Suggestion: {s}");
        }
        for (s, n) in f.strata.iter().zip(&allocation) {
            outln!("  stratum {:<30} {n} of {}", s.name, s.size);
        }
        outln!(
            "Next: reveal the seed (`evidence-auditor seed reveal {} --secret-file FILE [--beacon-chain drand-quicknet --beacon-round R --beacon-value HEX]`).",
            a.name
        );
    }
    Ok(EXIT_OK)
}

// ----- seed --------------------------------------------------------------------------------------

/// `evidence-auditor seed …`.
pub fn run_seed(c: &SeedCommand) -> anyhow::Result<u8> {
    match c {
        SeedCommand::Commit {
            population,
            secret_file,
            generate,
            file,
            out,
        } => {
            let e = open(file)?;
            let p = e.population(population)?;
            if let Some(f) = &p.frozen {
                bail!(
                    "population {population} was frozen at {}: a commitment made after the freeze could be chosen with the population in view; define a new population to sample again",
                    f.frozen_at
                );
            }
            if let Some((c, at)) = e.commitment(population)? {
                bail!("population {population} already has the commitment {c} (made at {at})");
            }
            let secret = if *generate {
                let mut entropy = [0u8; 128];
                getrandom::fill(&mut entropy)
                    .map_err(|e| anyhow!("the operating system's random generator failed: {e}"))?;
                let secret = Secret::from_entropy(&entropy)
                    .ok_or_else(|| anyhow!("the random generator gave too few usable bytes"))?;
                write_secret(secret_file, &secret)?;
                secret
            } else {
                let text = std::fs::read_to_string(secret_file).with_context(|| {
                    format!("cannot read the secret file {}", secret_file.display())
                })?;
                Secret::parse(&text)
                    .with_context(|| format!("secret file {}", secret_file.display()))?
            };
            let commitment = secret.commitment();
            let at = now();
            e.store_commitment(population, &commitment, at)?;
            if out.json {
                print_json(
                    &json!({"population": population, "commitment": commitment, "committed_at": at, "secret_file": secret_file}),
                )?;
            } else {
                outln!("Commitment for {population}: {commitment}");
                outln!(
                    "(SHA-256 of the secret in {}; keep that file private until the seed is revealed.)",
                    secret_file.display()
                );
                outln!(
                    "Send the commitment to the auditee now; then freeze: `evidence-auditor population freeze {population}`."
                );
            }
            Ok(EXIT_OK)
        }
        SeedCommand::Reveal(a) => reveal(a),
        SeedCommand::Show {
            population,
            file,
            out,
        } => {
            let e = open(file)?;
            e.population(population)?;
            let commitment = e.commitment(population)?;
            let seed = e.seed(population)?;
            let v = json!({
                "population": population,
                "commitment": commitment.as_ref().map(|(c, _)| c),
                "committed_at": commitment.as_ref().map(|(_, t)| t),
                "secret": seed.as_ref().map(|s| &s.0),
                "beacon": seed.as_ref().and_then(|s| s.1.clone()),
                "seed": seed.as_ref().map(|s| &s.2),
                "revealed_at": seed.as_ref().map(|s| s.3),
            });
            if out.json {
                print_json(&v)?;
            } else {
                match &commitment {
                    None => outln!("No commitment yet for {population}."),
                    Some((c, t)) => outln!("Commitment: {c} (made at {t})"),
                }
                match &seed {
                    None => outln!("The seed is not revealed yet."),
                    Some((_, beacon, s, t)) => {
                        outln!("Seed (revealed at {t}): {s}");
                        if let Some(b) = beacon {
                            outln!("Beacon: {} round {} value {}", b.chain, b.round, b.value);
                        }
                    }
                }
            }
            Ok(EXIT_OK)
        }
    }
}

fn write_secret(path: &Path, secret: &Secret) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path).with_context(|| {
        format!(
            "cannot create the secret file {} (it must not exist yet)",
            path.display()
        )
    })?;
    f.write_all(format!("{}\n", secret.expose()).as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write the secret file {}", path.display()))
}

fn reveal(a: &RevealArgs) -> anyhow::Result<u8> {
    let e = open(&a.file)?;
    let p = e.population(&a.population)?;
    let name = &a.population;
    let Some((commitment, _)) = e.commitment(name)? else {
        bail!("population {name} has no commitment; there is nothing to reveal");
    };
    let f = frozen(&p)?;
    if e.plan(name)?.is_none() {
        bail!(
            "population {name} has no plan: fix the sample size before the seed is known (`evidence-auditor population plan {name}`)"
        );
    }
    if let Some((_, _, s, at)) = e.seed(name)? {
        bail!("the seed of {name} was already revealed at {at}: {s}");
    }
    let text = std::fs::read_to_string(&a.secret_file)
        .with_context(|| format!("cannot read the secret file {}", a.secret_file.display()))?;
    let secret =
        Secret::parse(&text).with_context(|| format!("secret file {}", a.secret_file.display()))?;
    secret.check(&commitment)?;
    let at = now();
    let beacon = match (&a.beacon_chain, a.beacon_round, &a.beacon_value) {
        (Some(c), Some(r), Some(v)) => Some(Beacon::new(c, r, v, f.frozen_at, at)?),
        _ => None,
    };
    let digest: Sha256Digest = f.digest.parse().context("the stored digest")?;
    let seed = derive_seed(&secret, beacon.as_ref(), &digest);
    e.store_seed(name, secret.expose(), beacon.as_ref(), &seed, at)?;
    if a.out.json {
        print_json(
            &json!({"population": name, "seed": seed, "beacon": beacon, "revealed_at": at, "commitment": commitment}),
        )?;
    } else {
        outln!("The secret matches the commitment {commitment}.");
        outln!("Seed for {name}: {seed}");
        if beacon.is_none() {
            outln!("(No public beacon: the seed rests on your secret alone.)");
        }
        outln!("Next: `evidence-auditor sample draw {name}`.");
    }
    Ok(EXIT_OK)
}

// ----- sample ------------------------------------------------------------------------------------

/// The `draw` command that re-derives a sample, the seed quoted for a POSIX shell.
fn draw_command(seed: &str, size: u64, n: u64) -> String {
    let quoted = seed.replace('\'', r"'\''");
    format!("evidence-auditor draw --seed '{quoted}' --min 1 --max {size} --count {n}")
}

/// `evidence-auditor sample …`.
pub fn run_sample(c: &SampleCommand) -> anyhow::Result<u8> {
    match c {
        SampleCommand::Draw {
            population,
            file,
            out,
        } => {
            let mut e = open(file)?;
            let p = e.population(population)?;
            let f = frozen(&p)?.clone();
            let Some((_, _, seed, _)) = e.seed(population)? else {
                bail!(
                    "the seed of {population} is not revealed: commit (before the freeze), freeze, plan, then `evidence-auditor seed reveal {population} --secret-file FILE`"
                );
            };
            if let Some((_, at)) = e.draw(population)? {
                bail!(
                    "population {population} was already drawn at {at}; a sample is drawn once (`evidence-auditor sample show {population}`)"
                );
            }
            let (plan, _) = e
                .plan(population)?
                .ok_or_else(|| anyhow!("population {population} has no plan"))?;
            let n = plan["sample_size"]
                .as_u64()
                .ok_or_else(|| anyhow!("the stored plan has no sample size"))?;
            let (rows, stratum_of) = e.members(population)?;
            let drawn = sample::draw(&seed, f.size, n, &f.strata, &stratum_of)?;
            let items: Vec<i64> = drawn
                .picks
                .iter()
                .map(|p| {
                    rows.get(p.position as usize - 1)
                        .copied()
                        .ok_or_else(|| anyhow!("position {} is outside the manifest", p.position))
                })
                .collect::<anyhow::Result<_>>()?;
            e.store_draw(population, &drawn, &items, now())?;
            let picks = e.picks(population)?;
            if out.json {
                print_json(&sample_json(&e, population)?)?;
            } else {
                outln!(
                    "Sample of {population}: {} item(s) of N = {} ({}).",
                    picks.len(),
                    f.size,
                    drawn.method
                );
                print_picks(&picks, &e.results(population)?);
                if !drawn.rejected.is_empty() {
                    outln!(
                        "Duplicates rejected: {}",
                        drawn
                            .rejected
                            .iter()
                            .map(|r| format!("{} (counter {})", r.stratum_position, r.counter))
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
                outln!("Re-derive it with:");
                if drawn.allocation.is_empty() {
                    outln!("  {}", draw_command(&seed, f.size, n));
                } else {
                    for s in &drawn.allocation {
                        if s.allocated > 0 {
                            outln!(
                                "  {}   # stratum {}",
                                draw_command(&s.seed, s.size, s.allocated),
                                s.name
                            );
                        }
                    }
                }
                outln!(
                    "Next: `evidence-auditor workpaper export {population} --output {population}.xlsx`."
                );
            }
            Ok(EXIT_OK)
        }
        SampleCommand::Show {
            population,
            file,
            out,
        } => {
            let e = open(file)?;
            e.population(population)?;
            if e.draw(population)?.is_none() {
                bail!("population {population} has not been drawn yet");
            }
            if out.json {
                print_json(&sample_json(&e, population)?)?;
            } else {
                print_picks(&e.picks(population)?, &e.results(population)?);
            }
            Ok(EXIT_OK)
        }
    }
}

fn print_picks(picks: &[crate::engagement::db::PickRow], results: &[ResultRow]) {
    outln!(
        "{:>4} {:>8} {:>9}  {:<14} {:<48} result",
        "pick",
        "counter",
        "position",
        "stratum",
        "item"
    );
    for p in picks {
        let r = results
            .iter()
            .find(|r| r.pick == p.pick.pick)
            .map_or("", |r| r.result.as_str());
        outln!(
            "{:>4} {:>8} {:>9}  {:<14} {:<48} {r}",
            p.pick.pick,
            p.pick.counter,
            p.pick.position,
            p.pick.stratum.as_deref().unwrap_or("-"),
            p.item.item_id
        );
    }
}

fn sample_json(e: &Engagement, population: &str) -> anyhow::Result<Value> {
    let (drawn, at) = e.draw(population)?.ok_or_else(|| anyhow!("not drawn"))?;
    let p = e.population(population)?;
    let f = frozen(&p)?;
    let seed = e.seed(population)?.map(|s| s.2).unwrap_or_default();
    let results = e.results(population)?;
    let picks: Vec<Value> = e
        .picks(population)?
        .iter()
        .map(|p| {
            let r = results.iter().find(|r| r.pick == p.pick.pick);
            json!({
                "pick": p.pick.pick, "stratum": p.pick.stratum, "stratum_position": p.pick.stratum_position,
                "position": p.pick.position, "counter": p.pick.counter,
                "origin": p.item.origin, "item_id": p.item.item_id, "sha256": p.item.sha256,
                "kind": p.item.kind, "title": p.item.title,
                "bundle": format!("run-{:06}.zip", p.item.bundle_seq),
                "artefact": format!("run-{:06}/{}", p.item.bundle_seq, p.item.artefact_path),
                "leaf_index": p.item.leaf_index,
                "result": r.map(|r| r.result.clone()), "notes": r.map(|r| r.notes.clone()),
                "tested_by": r.map(|r| r.tested_by.clone()),
            })
        })
        .collect();
    let reproduce: Vec<String> = if drawn.allocation.is_empty() {
        vec![draw_command(&seed, f.size, drawn.picks.len() as u64)]
    } else {
        drawn
            .allocation
            .iter()
            .filter(|s| s.allocated > 0)
            .map(|s| draw_command(&s.seed, s.size, s.allocated))
            .collect()
    };
    Ok(json!({
        "population": population, "algorithm": drawn.algorithm, "method": drawn.method,
        "with_replacement": drawn.with_replacement, "seed": seed, "population_size": f.size,
        "digest": f.digest, "drawn_at": at, "allocation": drawn.allocation,
        "picks": picks, "rejected": drawn.rejected, "reproduce": reproduce,
    }))
}

// ----- workpapers --------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Xlsx,
    Csv,
}

fn format_of(path: &Path) -> anyhow::Result<Format> {
    match path
        .extension()
        .and_then(|x| x.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("xlsx") => Ok(Format::Xlsx),
        Some("csv") => Ok(Format::Csv),
        _ => bail!(
            "{}: the workpaper must be a .xlsx or .csv file",
            path.display()
        ),
    }
}

/// `evidence-auditor workpaper …`.
pub fn run_workpaper(c: &WorkpaperCommand) -> anyhow::Result<u8> {
    match c {
        WorkpaperCommand::Export {
            population,
            output,
            force,
            proofs_from,
            trust,
            file,
            out,
        } => {
            let e = open(file)?;
            let fmt = format_of(output)?;
            e.population(population)?;
            if e.draw(population)?.is_none() {
                bail!(
                    "population {population} has not been drawn yet (`evidence-auditor sample draw {population}`)"
                );
            }
            if !force && std::fs::symlink_metadata(output).is_ok() {
                bail!(
                    "{} already exists and may hold results you filled in; nothing was written. Import it first (`evidence-auditor workpaper import {population} {}`), choose another --output, or give --force to replace it",
                    output.display(),
                    output.display()
                );
            }
            let picks = e.picks(population)?;
            let results = e.results(population)?;
            let rows = workpaper::rows(&picks, &results);
            let proofs = if proofs_from.is_empty() {
                None
            } else {
                Some(export_proofs(&picks, output, proofs_from, trust)?)
            };
            match fmt {
                Format::Csv => workpaper::write_csv(output, &rows)?,
                Format::Xlsx => {
                    let mut record = record_sheet(&e, population)?;
                    if let Some(dir) = &proofs {
                        record.push((
                            "Inclusion proofs".to_owned(),
                            format!(
                                "{}: one folder per pick (<pick>-<item id>); check one with `evidence-auditor check-proof DIR`",
                                dir.display()
                            ),
                        ));
                    }
                    let finding = e.import(population)?.map_or_else(Default::default, |i| {
                        workpaper::FindingCells {
                            finding: i.finding,
                            note: i.finding_note,
                        }
                    });
                    workpaper::write_xlsx(output, &rows, &record, &finding)?;
                }
            }
            if out.json {
                print_json(&json!({
                    "population": population,
                    "file": output.display().to_string(),
                    "rows": rows.len(),
                    "results_included": results.len(),
                    "proofs": proofs.as_ref().map(|d| d.display().to_string()),
                }))?;
                return Ok(EXIT_OK);
            }
            if let Some(dir) = &proofs {
                outln!(
                    "Inclusion proofs of the {} sampled item(s) written to {} (check one with `evidence-auditor check-proof DIR`).",
                    picks.len(),
                    dir.display()
                );
            }
            outln!(
                "Workpaper for {population}: {} row(s) written to {}{}.",
                rows.len(),
                output.display(),
                if results.is_empty() {
                    String::new()
                } else {
                    format!(", with the {} result(s) already imported", results.len())
                }
            );
            outln!(
                "Fill in Result (pass / deviation / not testable), Notes and Tested by; then `evidence-auditor workpaper import {population} {}`.",
                output.display()
            );
            Ok(EXIT_OK)
        }
        WorkpaperCommand::Import {
            population,
            path,
            file,
            out,
        } => {
            let mut e = open(file)?;
            e.population(population)?;
            if e.draw(population)?.is_none() {
                bail!("population {population} has not been drawn yet");
            }
            if let Some(c) = e.conclusion(population)? {
                bail!(
                    "population {population} was concluded at {}; its results are final",
                    c.concluded_at
                );
            }
            let table = match format_of(path)? {
                Format::Csv => workpaper::read_csv(path)?,
                Format::Xlsx => workpaper::read_xlsx(path)?,
            };
            let picks = e.picks(population)?;
            let expected: Vec<ExpectedRow> = picks
                .iter()
                .map(|p| ExpectedRow {
                    pick: p.pick.pick,
                    origin: p.item.origin.clone(),
                    item_id: p.item.item_id.clone(),
                    sha256: p.item.sha256.clone(),
                })
                .collect();
            let imported =
                workpaper::validate(&table, population, &expected).map_err(|problems| {
                    EngagementError::Workpaper {
                        path: path.clone(),
                        problems,
                    }
                })?;
            let bytes =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            let results: Vec<ResultRow> = imported
                .iter()
                .map(|i| ResultRow {
                    pick: i.pick,
                    result: i.result.label().to_owned(),
                    notes: i.notes.clone(),
                    tested_by: i.tested_by.clone(),
                })
                .collect();
            let finding = table.finding.as_deref().and_then(Finding::parse);
            let import = ImportRow {
                file: path.display().to_string(),
                sha256: Sha256Digest::of(&bytes).to_hex(),
                finding: finding.map(|f| f.label().to_owned()),
                finding_note: table.finding_note.clone(),
                imported_at: now(),
            };
            e.store_results(population, &results, &import)?;
            let t = tally(imported.iter().map(|i| i.result));
            if out.json {
                print_json(
                    &json!({"population": population, "imported": results.len(), "tally": t, "finding": import.finding, "file_sha256": import.sha256}),
                )?;
            } else {
                outln!(
                    "Imported {} result(s) for {population}: {} pass, {} deviation(s), {} not testable.",
                    t.tested,
                    t.passed,
                    t.deviations,
                    t.not_testable
                );
                if let Some(f) = finding {
                    outln!("The workpaper proposes the finding: {f}.");
                }
                outln!(
                    "Next: `evidence-auditor conclude {population}{}`.",
                    if finding.is_some() {
                        ""
                    } else {
                        " --finding CATEGORY"
                    }
                );
            }
            Ok(EXIT_OK)
        }
    }
}

/// Export the proof of every pick into `<output stem>.proofs/<pick>-<item id>/`, verifying each
/// archive once; every pick's origin must be among the archives given.
fn export_proofs(
    picks: &[crate::engagement::db::PickRow],
    output: &std::path::Path,
    archives: &[PathBuf],
    trust: &crate::trust_cmd::TrustArgs,
) -> anyhow::Result<PathBuf> {
    use evidence_archive::proof::{ExportAnchors, ProofSource};
    let loaded = trust.load()?;
    let mut sources = std::collections::BTreeMap::new();
    for dir in archives {
        let source = ProofSource::open(dir, &loaded.options)
            .with_context(|| format!("cannot export proofs from {}", dir.display()))?;
        let origin = source.origin().unwrap_or_default().to_owned();
        sources.insert(origin, source);
    }
    let dir = output.with_extension("proofs");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let anchors = ExportAnchors {
        allowed_signers: loaded.allowed_signers_bytes.as_deref(),
        tsa_roots: loaded.tsa_roots_bytes.as_deref(),
    };
    for p in picks {
        let origin = &p.item.origin;
        let source = sources.get(origin).ok_or_else(|| {
            anyhow::anyhow!(
                "pick {} is item {} of origin {origin}, but no --proofs-from archive has that origin",
                p.pick.pick,
                p.item.item_id
            )
        })?;
        let target = dir.join(format!("{:04}-{}", p.pick.pick, p.item.item_id));
        source
            .export_item(&p.item.item_id, &target, &anchors)
            .with_context(|| format!("cannot export the proof of item {}", p.item.item_id))?;
    }
    Ok(dir)
}

fn record_sheet(e: &Engagement, population: &str) -> anyhow::Result<Vec<(String, String)>> {
    let r = population_record(e, population)?;
    let s = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let mut out = vec![
        ("Population".to_owned(), population.to_owned()),
        (
            "Audit".to_owned(),
            format!("{} ({})", s(&r["audit"]["id"]), s(&r["audit"]["type"])),
        ),
        ("Sampling basis".to_owned(), s(&r["sampling_basis"])),
        ("Sampling unit".to_owned(), s(&r["sampling_unit"])),
        ("Definition".to_owned(), s(&r["definition_text"])),
        ("Population size N".to_owned(), s(&r["frozen"]["size"])),
        (
            "Manifest digest (SHA-256)".to_owned(),
            s(&r["frozen"]["digest"]),
        ),
        ("Manifest ordering".to_owned(), s(&r["frozen"]["ordering"])),
        ("Frozen at".to_owned(), s(&r["frozen"]["frozen_at"])),
        (
            "Seed commitment".to_owned(),
            s(&r["seed_protocol"]["commitment"]),
        ),
        (
            "Committed at".to_owned(),
            s(&r["seed_protocol"]["committed_at"]),
        ),
        ("Beacon".to_owned(), s(&r["seed_protocol"]["beacon"])),
        ("Seed".to_owned(), s(&r["seed_protocol"]["seed"])),
        (
            "Method".to_owned(),
            format!(
                "{} ({}), without replacement",
                s(&r["selection"]["method"]),
                s(&r["selection"]["algorithm"])
            ),
        ),
        ("Sample size n".to_owned(), s(&r["plan"]["sample_size"])),
        ("Likelihood".to_owned(), s(&r["plan"]["likelihood_reason"])),
        (
            "Confidence".to_owned(),
            s(&r["plan"]["settings"]["confidence"]),
        ),
        (
            "Tolerable deviation rate".to_owned(),
            s(&r["plan"]["settings"]["tolerable"]),
        ),
        ("Size rationale".to_owned(), s(&r["plan"]["rationale"])),
        ("Drawn at".to_owned(), s(&r["selection"]["drawn_at"])),
    ];
    for cmd in r["selection"]["reproduce"].as_array().into_iter().flatten() {
        out.push(("Re-derive with".to_owned(), s(cmd)));
    }
    out.push((
        "Results".to_owned(),
        "pass / deviation / not testable; untestable items count as deviations (ISA 530.11); deviations need a note".to_owned(),
    ));
    Ok(out)
}

// ----- conclude ----------------------------------------------------------------------------------

/// `evidence-auditor conclude`.
pub fn run_conclude(a: &ConcludeArgs) -> anyhow::Result<u8> {
    let e = open(&a.file)?;
    let name = &a.population;
    let p = e.population(name)?;
    let f = frozen(&p)?;
    if let Some(c) = e.conclusion(name)? {
        bail!(
            "population {name} was already concluded at {} ({})",
            c.concluded_at,
            c.finding
        );
    }
    let picks = e.picks(name)?;
    if picks.is_empty() {
        bail!("population {name} has not been drawn yet");
    }
    let results = e.results(name)?;
    if results.len() != picks.len() {
        bail!(
            "population {name} has {} result(s) for {} pick(s): import the filled workpaper first (`evidence-auditor workpaper import {name} FILE`)",
            results.len(),
            picks.len()
        );
    }
    let (plan, _) = e
        .plan(name)?
        .ok_or_else(|| anyhow!("population {name} has no plan"))?;
    let settings = settings_of(&plan)?;
    let parsed: Vec<TestResult> = results
        .iter()
        .map(|r| {
            TestResult::parse(&r.result)
                .ok_or_else(|| anyhow!("stored result {:?} is unreadable", r.result))
        })
        .collect::<anyhow::Result<_>>()?;
    let t = tally(parsed);
    let evaluation = evaluate_sample(&settings, &t)?;
    let supports = evaluation.supports_reliance.unwrap_or(false);
    let import = e.import(name)?;
    let from_sheet = import
        .as_ref()
        .and_then(|i| i.finding.as_deref())
        .and_then(Finding::parse);
    let (finding, source) = match (&a.finding, from_sheet) {
        (Some(text), sheet) => {
            let f = Finding::parse(text).ok_or_else(|| {
                anyhow!("--finding {text:?} is not one of {}", Finding::choices())
            })?;
            if let Some(s) = sheet
                && s != f
            {
                eprintln!(
                    "evidence-auditor: note: --finding {f} replaces the workpaper's proposed finding {s}"
                );
            }
            (f, "option")
        }
        (None, Some(s)) => (s, "workpaper"),
        (None, None) => {
            print_evaluation(name, f.size, &t, &evaluation);
            bail!(
                "no finding category chosen for {name}: pass --finding ({}) or fill the workpaper's \"Proposed finding\" cell; nothing was recorded",
                Finding::choices()
            );
        }
    };
    let warnings = finding_warnings(finding, supports, &t);
    let note = a
        .note
        .clone()
        .or_else(|| import.and_then(|i| i.finding_note));
    let row = ConclusionRow {
        evaluation: json!({"tally": t, "evaluation": evaluation, "warnings": warnings}),
        finding: finding.label().to_owned(),
        finding_source: source.to_owned(),
        note,
        concluded_at: now(),
    };
    e.store_conclusion(name, &row)?;
    if a.out.json {
        print_json(&json!({
            "population": name, "tally": t, "evaluation": evaluation,
            "supports_reliance": supports, "finding": finding.label(), "finding_source": source,
            "warnings": warnings, "concluded_at": row.concluded_at,
        }))?;
    } else {
        print_evaluation(name, f.size, &t, &evaluation);
        outln!(
            "Proposed finding ({}): {finding}",
            if source == "option" {
                "--finding"
            } else {
                "from the workpaper"
            }
        );
        for w in &warnings {
            outln!("Warning: {w}");
        }
    }
    Ok(if supports { EXIT_OK } else { EXIT_FAILED })
}

fn print_evaluation(
    name: &str,
    size: u64,
    t: &crate::engagement::evaluate::Tally,
    ev: &evidence_sampling::Evaluation,
) {
    outln!(
        "Population {name}: {} item(s) tested of N = {size}: {} pass, {} deviation(s), {} not testable (counted as deviations).",
        t.tested,
        t.passed,
        t.deviations,
        t.not_testable
    );
    outln!(
        "Upper deviation limit at {} confidence: {} ({} likelihood); tolerable rate {}.",
        ev.confidence,
        ev.upper_bound_display,
        ev.method.name(),
        ev.tolerable.as_ref().map_or("?".into(), |r| r.to_string())
    );
    match ev.supports_reliance {
        Some(true) => outln!("Conclusion: the sample SUPPORTS reliance on the control."),
        _ => outln!("Conclusion: the sample does NOT support reliance on the control."),
    }
    outln!("{}", ev.rationale);
}

// ----- record ------------------------------------------------------------------------------------

fn population_record(e: &Engagement, name: &str) -> anyhow::Result<Value> {
    let p = e.population(name)?;
    let audit = e.audit(&p.audit)?;
    let commitment = e.commitment(name)?;
    let plan = e.plan(name)?;
    let seed = e.seed(name)?;
    let selection = match e.draw(name)? {
        Some(_) => sample_json(e, name)?,
        None => Value::Null,
    };
    let import = e.import(name)?;
    let conclusion = e.conclusion(name)?;
    Ok(json!({
        "population": p.name,
        "status": status(e, &p)?,
        "audit": audit,
        "sampling_basis": "statistical",
        "sampling_unit": "evidence item (one sealed artefact and its metadata)",
        "definition": p.definition,
        "definition_text": p.definition.describe(),
        "defined_at": p.defined_at,
        "frozen": p.frozen.as_ref().map(|f| json!({
            "frozen_at": f.frozen_at, "size": f.size, "digest": f.digest, "strata": f.strata,
            "digest_algorithm": "SHA-256 of the canonical manifest",
            "ordering": "one canonical JSON line {\"item_id\",\"origin\",\"sha256\"[,\"stratum\"]} per member, sorted by item_id then origin (UTF-8 bytes); positions are 1-based line numbers",
        })),
        "seed_protocol": {
            "commitment": commitment.as_ref().map(|c| &c.0),
            "commitment_algorithm": "SHA-256 of the UTF-8 secret, lowercase hex",
            "committed_at": commitment.as_ref().map(|c| c.1),
            "secret": seed.as_ref().map(|s| &s.0),
            "beacon": seed.as_ref().and_then(|s| s.1.clone()),
            "seed": seed.as_ref().map(|s| &s.2),
            "seed_construction": "secret|beacon value (empty without a beacon)|population digest",
            "revealed_at": seed.as_ref().map(|s| s.3),
        },
        "plan": plan.map(|(p, at)| { let mut p = p; p["planned_at"] = json!(at); p }),
        "selection": selection,
        "results": import.map(|i| json!({
            "workpaper": i.file, "workpaper_sha256": i.sha256, "imported_at": i.imported_at,
            "finding_in_workpaper": i.finding, "finding_note_in_workpaper": i.finding_note,
        })),
        "conclusion": conclusion,
        "tool": format!("evidence-auditor {}", env!("CARGO_PKG_VERSION")),
    }))
}

/// `evidence-auditor record export`.
pub fn run_record(c: &RecordCommand) -> anyhow::Result<u8> {
    let RecordCommand::Export {
        population,
        output,
        file,
    } = c;
    let e = open(file)?;
    let names: Vec<String> = match population {
        Some(n) => vec![e.population(n)?.name],
        None => e.populations()?.into_iter().map(|p| p.name).collect(),
    };
    let records = names
        .iter()
        .map(|n| population_record(&e, n))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let origins: Vec<Value> = e
        .origins()?
        .into_iter()
        .map(|(o, s, c)| json!({"origin": o, "last_run": s, "checkpoint": c}))
        .collect();
    let doc = json!({
        "schema": RECORD_SCHEMA,
        "generated_at": now(),
        "tool": format!("evidence-auditor {}", env!("CARGO_PKG_VERSION")),
        "engagement": {
            "file": e.path().display().to_string(),
            "origins": origins,
            "ingests": e.ingests()?,
            "gaps": e.gaps()?,
        },
        "audits": e.audits()?,
        "coverage": coverage_of(&e)?,
        "populations": records,
    });
    let mut bytes = serde_json::to_vec_pretty(&doc)?;
    bytes.push(b'\n');
    if output.as_os_str() == "-" {
        let mut out = std::io::stdout().lock();
        if let Err(err) = out.write_all(&bytes)
            && err.kind() != std::io::ErrorKind::BrokenPipe
        {
            return Err(err.into());
        }
    } else {
        export::write_document(output, &bytes)?;
        eprintln!(
            "evidence-auditor: sampling record of {} population(s) written to {}",
            records.len(),
            output.display()
        );
    }
    Ok(EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_draw_command_quotes_the_seed_for_a_shell() {
        assert_eq!(
            draw_command("s|ab|d|O'Brien", 3, 1),
            r"evidence-auditor draw --seed 's|ab|d|O'\''Brien' --min 1 --max 3 --count 1"
        );
    }

    #[test]
    fn dates_are_midnight_utc_and_times_are_kept() {
        assert_eq!(
            parse_time("2026-01-31", "--from").unwrap().to_string(),
            "2026-01-31T00:00:00Z"
        );
        assert_eq!(
            parse_time("2026-01-31T12:30:00Z", "--from")
                .unwrap()
                .to_string(),
            "2026-01-31T12:30:00Z"
        );
        assert!(parse_time("31/01/2026", "--from").is_err());
    }
}
