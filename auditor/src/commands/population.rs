//! `evidence-auditor population define|list|freeze|show|plan`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::json;

use super::{EngagementFile, JsonFlag, now, open, print_json};
use crate::engagement::population::Dimension;
use crate::engagement::seed::first_round_after;
use crate::engagement::steps::{DefineRequest, PlanRequest};
use crate::exit::EXIT_OK;
use crate::outln;

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

/// `evidence-auditor population …`.
pub fn run_population(c: &PopulationCommand) -> anyhow::Result<u8> {
    match c {
        PopulationCommand::Define(a) => define(a),
        PopulationCommand::List { file, out } => list(file, out.json),
        PopulationCommand::Freeze { name, file, out } => freeze(name, file, out.json),
        PopulationCommand::Show {
            name,
            manifest,
            file,
            out,
        } => show(name, manifest.as_deref(), file, out.json),
        PopulationCommand::Plan(a) => plan(a),
    }
}

fn define(a: &DefineArgs) -> anyhow::Result<u8> {
    let e = open(&a.file)?;
    let d = e.define(
        &DefineRequest {
            name: a.name.clone(),
            audit: a.audit.clone(),
            kinds: a.kinds.clone(),
            controls: a.controls.clone(),
            clauses: a.clauses.clone(),
            sources: a.sources.clone(),
            actors: a.actors.clone(),
            origins: a.origins.clone(),
            from: a.from.clone(),
            to: a.to.clone(),
            any_period: a.any_period,
            stratify_by: a.stratify_by,
        },
        now(),
    )?;
    if a.out.json {
        print_json(&json!({
            "name": d.name, "audit": d.audit, "definition": d.definition,
            "description": d.definition.describe(), "matching_now": d.matching_now,
            "left_out_without_source_time": d.left_out_without_source_time,
        }))?;
    } else {
        outln!(
            "Population {} (audit {}): {}.",
            d.name,
            d.audit,
            d.definition.describe()
        );
        outln!(
            "{} ingested item(s) match now; the members are fixed when it is frozen.",
            d.matching_now
        );
        if d.left_out_without_source_time > 0 {
            outln!(
                "Note: {} item(s) have no source time and cannot fall in a period; they are left out.",
                d.left_out_without_source_time
            );
        }
        outln!(
            "Next: commit to a secret before freezing: `evidence-auditor seed commit {} --secret-file FILE --generate`.",
            d.name
        );
    }
    Ok(EXIT_OK)
}

fn list(file: &EngagementFile, as_json: bool) -> anyhow::Result<u8> {
    let e = open(file)?;
    let mut list = Vec::new();
    for p in e.populations()? {
        let status = e.status(&p.name)?;
        list.push((p, status));
    }
    if as_json {
        let rows: Vec<_> = list
            .iter()
            .map(|(p, status)| {
                json!({
                    "name": p.name,
                    "audit": p.audit,
                    "definition": p.definition.describe(),
                    "status": status,
                    "size": p.frozen.as_ref().map(|f| f.size),
                    "digest": p.frozen.as_ref().map(|f| f.digest.clone()),
                })
            })
            .collect();
        print_json(&json!({ "populations": rows }))?;
    } else if list.is_empty() {
        outln!("No population yet: `evidence-auditor population define NAME …`.");
    } else {
        for (p, status) in &list {
            outln!(
                "{:<24} {:<14} audit {:<16} N={:<8} {}",
                p.name,
                status.label(),
                p.audit,
                p.frozen.as_ref().map_or("-".into(), |f| f.size.to_string()),
                p.definition.describe()
            );
        }
    }
    Ok(EXIT_OK)
}

fn freeze(name: &str, file: &EngagementFile, as_json: bool) -> anyhow::Result<u8> {
    let e = open(file)?;
    let o = e.freeze(name, now())?;
    let f = &o.frozen;
    if as_json {
        print_json(&json!({
            "name": name, "frozen_at": f.frozen_at, "size": f.size, "digest": f.digest,
            "strata": f.strata, "commitment": o.commitment,
            "left_out_without_source_time": o.left_out_without_source_time,
        }))?;
    } else {
        outln!(
            "Population {name} frozen at {}: N = {} item(s).",
            f.frozen_at,
            f.size
        );
        outln!("Manifest digest (SHA-256): {}", f.digest);
        for s in &f.strata {
            outln!("  stratum {:<30} {} item(s)", s.name, s.size);
        }
        if o.left_out_without_source_time > 0 {
            outln!(
                "Note: {} item(s) without a source time are outside the period.",
                o.left_out_without_source_time
            );
        }
        outln!(
            "Publish the digest with the commitment {}; then plan the sample size (`evidence-auditor population plan {name}`).",
            o.commitment
        );
        if let Some(r) = first_round_after("drand-quicknet", f.frozen_at) {
            outln!("A beacon published after the freeze: drand quicknet round {r} or later.");
        }
    }
    Ok(EXIT_OK)
}

fn show(
    name: &str,
    manifest: Option<&std::path::Path>,
    file: &EngagementFile,
    as_json: bool,
) -> anyhow::Result<u8> {
    let e = open(file)?;
    let p = e.population(name)?;
    let status = e.status(name)?;
    if let Some(path) = manifest {
        e.export_manifest(name, path)?;
    }
    if as_json {
        print_json(&json!({
            "name": p.name, "audit": p.audit, "status": status, "definition": p.definition,
            "description": p.definition.describe(), "defined_at": p.defined_at, "frozen": p.frozen,
        }))?;
    } else {
        outln!("Population {} (audit {}), {status}", p.name, p.audit);
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

fn plan(a: &PlanPopulationArgs) -> anyhow::Result<u8> {
    let e = open(&a.file)?;
    let planned = e.plan_sample(
        &a.name,
        &PlanRequest {
            likelihood: a.likelihood.clone(),
            tolerable: a.tolerable.clone(),
            confidence: a.confidence.clone(),
            expected: a.expected.clone(),
            expected_errors: a.expected_errors,
        },
        now(),
    )?;
    let p = &planned.stored;
    if a.out.json {
        print_json(p)?;
    } else {
        outln!(
            "Sample size for {}: {} of N = {}.",
            a.name,
            p.sample_size,
            planned.population_size
        );
        outln!("Likelihood: {}.", p.likelihood_reason);
        outln!("Settings: {}.", p.settings_source);
        outln!("{}", p.rationale);
        if let Some(s) = &planned.suggestion {
            outln!("Suggestion: {s}");
        }
        for s in &p.allocation {
            outln!("  stratum {:<30} {} of {}", s.stratum, s.allocated, s.size);
        }
        outln!(
            "Next: reveal the seed (`evidence-auditor seed reveal {} --secret-file FILE [--beacon-chain drand-quicknet --beacon-round R --beacon-value HEX]`).",
            a.name
        );
    }
    Ok(EXIT_OK)
}
