//! `evidence-auditor ingest`: verify an archive and load its item metadata into an engagement
//! file. Ingest is a visitor on the verifier's walk of a `BundleSource`: a local archive
//! directory, or each origin stored under an S3 location (downloaded one bundle at a time,
//! never into a folder of its own). A failing archive, or a forked or rewritten history, is
//! refused and nothing is stored.

use anyhow::bail;
use clap::Args;
use evidence_archive::verify::{BundleSource, LocalDir, Problem, VerifyOptions, render_problems};
use evidence_model::Timestamp;
use evidence_store::ArchiveSource;
use serde_json::json;

use super::verify::{S3Args, S3Session};
use crate::commands::{EngagementFile, JsonFlag};
use crate::engagement::db::Engagement;
use crate::engagement::{EngagementError, ingest};
use crate::exit::{EXIT_FAILED, EXIT_OK};
use crate::outln;

#[derive(Debug, Clone, Args)]
pub struct IngestArgs {
    /// The archive directory (the `run-NNNNNN.zip` bundles of one origin), or an S3 location
    /// `s3://bucket/prefix` (every origin stored there).
    pub archive: ArchiveSource,
    #[command(flatten)]
    pub trust: crate::trust_cmd::TrustArgs,
    #[command(flatten)]
    pub file: EngagementFile,
    #[command(flatten)]
    pub out: JsonFlag,
    #[command(flatten)]
    pub s3: S3Args,
}

/// The current time, to the second (records read better without nanoseconds).
fn now() -> Timestamp {
    let t = Timestamp::now();
    Timestamp::from_second(t.as_second()).unwrap_or(t)
}

/// `evidence-auditor ingest`.
pub fn run_ingest(a: &IngestArgs) -> anyhow::Result<u8> {
    match &a.archive {
        ArchiveSource::Local(dir) => {
            if !dir.is_dir() {
                bail!(
                    "{} is not an archive directory (the directory of run-NNNNNN.zip bundles)",
                    dir.display()
                );
            }
            let options = a.trust.load()?.options;
            ingest_source(&mut LocalDir::new(dir), a, &options)
        }
        ArchiveSource::S3(location) => {
            let session = S3Session::open(location, &a.s3)?;
            anyhow::ensure!(
                !session.listing.bundles.is_empty(),
                "no bundles under {location}"
            );
            let mut sources = session.origins();
            // A run stored twice would make two bundles claim one place in the log: refuse the
            // whole location before anything is downloaded or ingested.
            let refused: Vec<&Problem> = sources
                .iter()
                .flat_map(|s| s.problems())
                .filter(|p| p.is_error())
                .collect();
            if !refused.is_empty() {
                print_forked(&location.to_string(), &refused, a.out.json)?;
                return Ok(EXIT_FAILED);
            }
            let options = a.trust.load()?.options;
            let mut code = EXIT_OK;
            for source in &mut sources {
                code = code.max(ingest_source(source, a, &options)?);
            }
            Ok(code)
        }
    }
}

fn print_forked(label: &str, problems: &[&Problem], json: bool) -> anyhow::Result<()> {
    if json {
        let reasons: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        outln!(
            "{}",
            json!({"ingested": false, "reason": "forked", "problems": reasons})
        );
    } else {
        outln!("REFUSED: {label} holds a forked log; nothing was ingested.");
        print_lines(&render_problems(problems.iter().copied(), "  ", true));
    }
    Ok(())
}

fn print_lines(text: &str) {
    for line in text.lines() {
        outln!("{line}");
    }
}

/// Verify the archive `source` holds, loading it into the engagement as it is verified.
fn ingest_source(
    source: &mut dyn BundleSource,
    a: &IngestArgs,
    options: &VerifyOptions,
) -> anyhow::Result<u8> {
    let mut e = Engagement::open_or_create(&a.file.engagement)?;
    match ingest::ingest(&mut e, source, options, now()) {
        Ok(o) => {
            if a.out.json {
                outln!("{}", serde_json::to_value(&o)?);
                return Ok(EXIT_OK);
            }
            match (o.from_run, o.to_run) {
                (Some(f), Some(t)) => outln!(
                    "Ingested {} run(s) {f}..{t} of origin {}: {} item(s) added{}.",
                    t - f + 1,
                    o.origin,
                    o.items_added,
                    if o.items_already_held > 0 {
                        format!(", {} already held", o.items_already_held)
                    } else {
                        String::new()
                    }
                ),
                _ => outln!(
                    "Nothing new: the engagement already holds origin {} up to run {}.",
                    o.origin,
                    o.previous_run.unwrap_or(0)
                ),
            }
            if o.gaps > 0 {
                outln!(
                    "The agent recorded {} gap(s): sources it could not read (see `record export`).",
                    o.gaps
                );
            }
            outln!("Checkpoint: {}", o.checkpoint);
            outln!("The engagement now holds {} item(s).", o.items_total);
            Ok(EXIT_OK)
        }
        Err(EngagementError::Verification {
            path,
            errors,
            report,
        }) => {
            if a.out.json {
                outln!(
                    "{}",
                    json!({"ingested": false, "reason": "verification", "report": *report})
                );
            } else {
                outln!(
                    "REFUSED: the archive {path} does not verify ({errors} problem(s)); nothing was ingested."
                );
                print_lines(&render_problems(
                    report.all_problems().filter(|p| p.is_error()),
                    "  ",
                    true,
                ));
            }
            Ok(EXIT_FAILED)
        }
        Err(EngagementError::Fork(message)) => {
            if a.out.json {
                outln!(
                    "{}",
                    json!({"ingested": false, "reason": "fork", "message": message})
                );
            } else {
                outln!("REFUSED: {message}");
            }
            Ok(EXIT_FAILED)
        }
        Err(other) => Err(other.into()),
    }
}
