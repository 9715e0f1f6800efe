//! `evidence-auditor workpaper export|import`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use serde_json::json;

use super::{EngagementFile, JsonFlag, now, open, print_json};
use crate::engagement::db::PickRow;
use crate::engagement::workpaper::{self, WorkpaperFormat};
use crate::exit::EXIT_OK;
use crate::outln;

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
            let fmt = WorkpaperFormat::of(output)?;
            let sample = e.sample(population)?;
            workpaper::refuse_to_replace(output, population, *force)?;
            let rows = workpaper::rows(&sample.picks, &sample.results);
            let proofs = if proofs_from.is_empty() {
                None
            } else {
                Some(export_proofs(&sample.picks, output, proofs_from, trust)?)
            };
            match fmt {
                WorkpaperFormat::Csv => workpaper::write_csv(output, &rows)?,
                WorkpaperFormat::Xlsx => {
                    let mut record = super::record::record_sheet(&e, population)?;
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
            let results = sample.results.len();
            if out.json {
                print_json(&json!({
                    "population": population,
                    "file": output.display().to_string(),
                    "rows": rows.len(),
                    "results_included": results,
                    "proofs": proofs.as_ref().map(|d| d.display().to_string()),
                }))?;
                return Ok(EXIT_OK);
            }
            if let Some(dir) = &proofs {
                outln!(
                    "Inclusion proofs of the {} sampled item(s) written to {} (check one with `evidence-auditor check-proof DIR`).",
                    sample.picks.len(),
                    dir.display()
                );
            }
            outln!(
                "Workpaper for {population}: {} row(s) written to {}{}.",
                rows.len(),
                output.display(),
                if results == 0 {
                    String::new()
                } else {
                    format!(", with the {results} result(s) already imported")
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
            let e = open(file)?;
            let i = e.import_results(population, path, now())?;
            let t = i.tally;
            if out.json {
                print_json(&json!({
                    "population": population, "imported": i.results, "tally": t,
                    "finding": i.import.finding, "file_sha256": i.import.sha256,
                }))?;
            } else {
                outln!(
                    "Imported {} result(s) for {population}: {} pass, {} deviation(s), {} not testable.",
                    t.tested,
                    t.passed,
                    t.deviations,
                    t.not_testable
                );
                if let Some(f) = i.finding {
                    outln!("The workpaper proposes the finding: {f}.");
                }
                outln!(
                    "Next: `evidence-auditor conclude {population}{}`.",
                    if i.finding.is_some() {
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
    picks: &[PickRow],
    output: &Path,
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
