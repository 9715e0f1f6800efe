//! `evidence-auditor record export`: the sampling records as one JSON document, and the
//! sampling record sheet of an XLSX workpaper.

use std::io::Write;
use std::path::PathBuf;

use clap::Subcommand;
use serde_json::{Value, json};

use super::{EngagementFile, now, open};
use crate::engagement::db::Engagement;
use crate::engagement::export;
use crate::engagement::report::RECORD_SCHEMA;
use crate::exit::EXIT_OK;

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

/// One population's sampling record as a JSON object.
fn population_record(e: &Engagement, name: &str) -> anyhow::Result<Value> {
    let p = e.population(name)?;
    let audit = e.audit(&p.audit)?;
    let commitment = e.commitment(name)?;
    let seed = e.seed(name)?;
    let selection = match e.draw(name)? {
        Some(_) => super::sample::sample_json(&e.sample(name)?),
        None => Value::Null,
    };
    let import = e.import(name)?;
    Ok(json!({
        "population": p.name,
        "status": e.status(name)?,
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
            "commitment": commitment.as_ref().map(|c| &c.commitment),
            "commitment_algorithm": "SHA-256 of the UTF-8 secret, lowercase hex",
            "committed_at": commitment.as_ref().map(|c| c.committed_at),
            "secret": seed.as_ref().map(|s| &s.secret),
            "beacon": seed.as_ref().and_then(|s| s.beacon.clone()),
            "seed": seed.as_ref().map(|s| &s.seed),
            "seed_construction": "secret|beacon value (empty without a beacon)|population digest",
            "revealed_at": seed.as_ref().map(|s| s.revealed_at),
        },
        "plan": e.plan(name)?,
        "selection": selection,
        "results": import.map(|i| json!({
            "workpaper": i.file, "workpaper_sha256": i.sha256, "imported_at": i.imported_at,
            "finding_in_workpaper": i.finding, "finding_note_in_workpaper": i.finding_note,
        })),
        "conclusion": e.conclusion(name)?,
        "tool": format!("evidence-auditor {}", env!("CARGO_PKG_VERSION")),
    }))
}

/// The rows of an XLSX workpaper's sampling record sheet.
pub(crate) fn record_sheet(
    e: &Engagement,
    population: &str,
) -> anyhow::Result<Vec<(String, String)>> {
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
        "coverage": e.coverage()?,
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
