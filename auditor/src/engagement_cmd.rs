//! The `ingest` command's arguments and handler (verify an archive, then load it into the
//! engagement). The other engagement commands live in `crate::commands`.

use std::path::PathBuf;

use anyhow::bail;
use clap::Args;
use evidence_archive::verify::Severity;
use serde_json::json;

use crate::commands::{EngagementFile, JsonFlag, now, print_json};
use crate::engagement::db::Engagement;
use crate::engagement::{EngagementError, ingest};
use crate::exit::{EXIT_FAILED, EXIT_OK};
use crate::outln;

#[derive(Debug, Clone, Args)]
pub struct IngestArgs {
    /// The archive directory (the `run-NNNNNN.zip` bundles of one origin), or an S3 location
    /// `s3://bucket/prefix` (every origin stored there).
    pub archive: PathBuf,
    #[command(flatten)]
    pub trust: crate::trust_cmd::TrustArgs,
    #[command(flatten)]
    pub file: EngagementFile,
    #[command(flatten)]
    pub out: JsonFlag,
    #[command(flatten)]
    pub s3: crate::remote_cmd::S3Args,
}

/// `evidence-auditor ingest`.
pub fn run_ingest(a: &IngestArgs) -> anyhow::Result<u8> {
    if let Some(location) = a
        .archive
        .to_str()
        .filter(|p| evidence_store::ArchiveLocation::is_s3(p))
    {
        return crate::remote_cmd::run_ingest(location, a);
    }
    if !a.archive.is_dir() {
        bail!(
            "{} is not an archive directory (the directory of run-NNNNNN.zip bundles)",
            a.archive.display()
        );
    }
    let options = a.trust.load()?.options;
    let mut e = Engagement::open_or_create(&a.file.engagement)?;
    match ingest::ingest(&mut e, &a.archive, &options, now()) {
        Ok(o) => {
            if a.out.json {
                print_json(&serde_json::to_value(&o)?)?;
            } else {
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
                let mut cp = o.checkpoint.lines();
                outln!(
                    "Checkpoint: {}, tree size {}, root {}",
                    cp.next().unwrap_or(""),
                    cp.next().unwrap_or(""),
                    cp.next().unwrap_or("")
                );
                outln!("The engagement now holds {} item(s).", o.items_total);
            }
            Ok(EXIT_OK)
        }
        Err(EngagementError::Verification {
            path,
            errors,
            report,
        }) => {
            if a.out.json {
                print_json(
                    &json!({"ingested": false, "reason": "verification", "report": *report}),
                )?;
            } else {
                outln!(
                    "REFUSED: the archive {path} does not verify ({errors} problem(s)); nothing was ingested."
                );
                for p in report
                    .all_problems()
                    .filter(|p| p.severity == Severity::Error)
                {
                    match &p.entry {
                        Some(entry) => outln!("  error: {}: {entry}: {}", p.file, p.message),
                        None => outln!("  error: {}: {}", p.file, p.message),
                    }
                }
            }
            Ok(EXIT_FAILED)
        }
        Err(EngagementError::Fork(message)) => {
            if a.out.json {
                print_json(&json!({"ingested": false, "reason": "fork", "message": message}))?;
            } else {
                outln!("REFUSED: {message}");
            }
            Ok(EXIT_FAILED)
        }
        Err(other) => Err(other.into()),
    }
}
