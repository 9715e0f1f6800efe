//! `evidence-auditor oscal export`: the engagement as NIST OSCAL assessment-results and a plan
//! of action and milestones (the open corrective actions).

use std::path::PathBuf;

use clap::Args;
use jiff::civil::Date;

use super::{EngagementFile, now, open};
use crate::engagement::export::write_document;
use crate::engagement::improvement::utc_date;
use crate::exit::EXIT_OK;
use crate::oscal;
use crate::outln;

#[derive(Debug, Args)]
pub struct OscalArgs {
    /// Write the assessment-results document (JSON) here.
    #[arg(long, value_name = "FILE")]
    pub assessment_results: Option<PathBuf>,
    /// Write the plan of action and milestones (JSON) here: the corrective actions open on
    /// --as-of.
    #[arg(long, value_name = "FILE")]
    pub poam: Option<PathBuf>,
    /// The day open actions are read on (default today, UTC).
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<Date>,
    #[command(flatten)]
    pub file: EngagementFile,
}

/// `evidence-auditor oscal`.
pub fn run_oscal(a: &OscalArgs) -> anyhow::Result<u8> {
    if a.assessment_results.is_none() && a.poam.is_none() {
        anyhow::bail!("nothing to write: give --assessment-results FILE and/or --poam FILE");
    }
    let e = open(&a.file)?;
    let facts = oscal::load::facts(&e, a.as_of.unwrap_or_else(|| utc_date(now())))?;
    if let Some(path) = &a.assessment_results {
        let doc = oscal::assessment_results(&facts);
        write_document(path, &serde_json::to_vec_pretty(&doc)?)?;
        outln!(
            "Wrote {}: {} result(s), {} finding(s) (OSCAL {}).",
            path.display(),
            facts.audits.len(),
            facts.findings.len(),
            oscal::OSCAL_VERSION
        );
    }
    if let Some(path) = &a.poam {
        match oscal::poam(&facts) {
            Some(doc) => {
                write_document(path, &serde_json::to_vec_pretty(&doc)?)?;
                outln!("Wrote {}: the open corrective actions.", path.display());
            }
            None => outln!(
                "No corrective action is open on {}: no plan of action written ({}).",
                facts.as_of,
                path.display()
            ),
        }
    }
    Ok(EXIT_OK)
}
