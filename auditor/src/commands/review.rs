//! `evidence-auditor review pack|held|decide|close-decision`: the management review (clause
//! 9.3): the pack of inputs (9.3.2) as a page and a workbook, and the review's decisions
//! (9.3.3), followed to closure by the next pack.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use jiff::civil::Date;
use serde_json::json;

use super::{EngagementFile, JsonFlag, now, open, print_json};
use crate::engagement::improvement::utc_date;
use crate::exit::EXIT_OK;
use crate::outln;
use crate::review::{self, load, render};

#[derive(Debug, Subcommand)]
pub enum ReviewCommand {
    /// Build the inputs of a management review (ISO/IEC 42001 9.3.2 a–e) from the engagement:
    /// a self-contained HTML page (prints to PDF) and/or an XLSX workbook, byte-identical when
    /// rebuilt for the same engagement and date.
    #[command(
        after_help = "Example:\n  evidence-auditor review pack MR-2027-1 --as-of 2027-03-01 --html review.html --xlsx review.xlsx"
    )]
    Pack(PackArgs),
    /// Record that a review was held (its decisions can then be recorded).
    #[command(after_help = "Example:\n  evidence-auditor review held MR-2027-1 --on 2027-03-05")]
    Held {
        /// The review id, e.g. MR-2027-1.
        review: String,
        /// The day it was held.
        #[arg(long)]
        on: Date,
        #[command(flatten)]
        file: EngagementFile,
    },
    /// Record a decision of a review (9.3.3) with its owner and due date; the next pack follows
    /// it under input a).
    #[command(
        after_help = "Example:\n  evidence-auditor review decide MR-2027-1 --decision \"add drift monitoring to the triage model\" --owner \"ML lead\" --due 2027-06-30"
    )]
    Decide {
        review: String,
        #[arg(long)]
        decision: String,
        #[arg(long)]
        owner: String,
        #[arg(long)]
        due: Date,
        #[command(flatten)]
        file: EngagementFile,
    },
    /// Close a decision with what was done.
    #[command(
        after_help = "Example:\n  evidence-auditor review close-decision D-0001 --on 2027-05-20 --note \"drift monitor live since May\""
    )]
    CloseDecision {
        decision: String,
        #[arg(long)]
        on: Date,
        #[arg(long)]
        note: String,
        #[command(flatten)]
        file: EngagementFile,
    },
}

#[derive(Debug, Args)]
pub struct PackArgs {
    /// The review the pack is for, e.g. MR-2027-1.
    pub review: String,
    /// The day the pack is built as of (default today, UTC); evidence after it is left out.
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<Date>,
    /// Write the self-contained HTML page here.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write the XLSX workbook (one sheet per input) here.
    #[arg(long, value_name = "FILE")]
    pub xlsx: Option<PathBuf>,
    #[command(flatten)]
    pub file: EngagementFile,
    #[command(flatten)]
    pub out: JsonFlag,
}

/// `evidence-auditor review …`.
pub fn run_review(c: &ReviewCommand) -> anyhow::Result<u8> {
    match c {
        ReviewCommand::Pack(a) => pack(a),
        ReviewCommand::Held { review, on, file } => {
            let r = open(file)?.record_review(review, *on, now())?;
            outln!("Recorded management review {} held on {}.", r.id, r.held_on);
            Ok(EXIT_OK)
        }
        ReviewCommand::Decide {
            review,
            decision,
            owner,
            due,
            file,
        } => {
            let d = open(file)?.decide(review, decision, owner, *due, now())?;
            outln!(
                "Recorded decision {} of {}: owner {}, due {}.",
                d.id,
                d.review,
                d.owner,
                d.due
            );
            Ok(EXIT_OK)
        }
        ReviewCommand::CloseDecision {
            decision,
            on,
            note,
            file,
        } => {
            let d = open(file)?.close_decision(decision, *on, note, now())?;
            outln!("Closed decision {} on {on}.", d.id);
            Ok(EXIT_OK)
        }
    }
}

fn pack(a: &PackArgs) -> anyhow::Result<u8> {
    let e = open(&a.file)?;
    let as_of = a.as_of.unwrap_or_else(|| utc_date(now()));
    let facts = load::facts(&e, as_of)?;
    let p = review::compute(&a.review, as_of, &facts);
    render::write(&p, a.html.as_deref(), a.xlsx.as_deref())?;
    if a.out.json {
        print_json(&json!({ "pack": p }))?;
        return Ok(EXIT_OK);
    }
    let n = &p.d1_nonconformities;
    outln!("Management review {} inputs as of {as_of}:", p.review);
    outln!(
        "  a) {} decision(s) of earlier reviews",
        p.a_previous_decisions.len()
    );
    outln!(
        "  b) {} item(s) on external and internal issues",
        p.b_issues.len()
    );
    outln!(
        "  c) {} item(s) on interested parties",
        p.c_interested_parties.len()
    );
    outln!(
        "  d1) corrective actions: {} open, {} overdue, {} closed",
        n.open,
        n.overdue,
        n.closed
    );
    outln!(
        "  d2) {} month(s) of monitoring results",
        p.d2_monitoring.months.len()
    );
    outln!("  d3) {} audit(s)", p.d3_audits.len());
    outln!(
        "  e) {} improvement finding(s), {} item(s)",
        p.e_improvement_findings.len(),
        p.e_improvement_items.len()
    );
    for path in [&a.html, &a.xlsx].into_iter().flatten() {
        outln!("Wrote {}.", path.display());
    }
    Ok(EXIT_OK)
}
