//! `evidence-auditor finding add|list|show`: audit findings (ISO 19011 3.10) and the evidence
//! they rest on; `conclude` records one for every sampled population.

use clap::{Args, Subcommand};
use serde_json::json;

use super::{EngagementFile, JsonFlag, now, open, print_json};
use crate::engagement::improvement::store::FindingRequest;
use crate::engagement::improvement::{FindingRecord, blockers, utc_date};
use crate::exit::{EXIT_FAILED, EXIT_OK};
use crate::outln;

#[derive(Debug, Subcommand)]
pub enum FindingCommand {
    /// Record a finding against a requirement, resting on archive items, a concluded
    /// population or a readiness row. Nothing is stored if an item, population or requirement is unknown.
    #[command(
        after_help = "Example:\n  evidence-auditor finding add --audit stage2-2026 --category minor-nonconformity --against A.6.2.6 \\\n    --statement \"Two model releases shipped without a recorded approval\" --item pr-approvals-12-ab12cd"
    )]
    Add(FindingAddArgs),
    /// List the findings with their corrective action's status, and the major nonconformities
    /// still open (blockers to certification). Exit 1 when there is a blocker.
    #[command(after_help = "Example:\n  evidence-auditor finding list --as-of 2027-03-01")]
    List {
        /// The day the statuses and blockers are read on (default today, UTC).
        #[arg(long, value_name = "DATE")]
        as_of: Option<jiff::civil::Date>,
        #[command(flatten)]
        file: EngagementFile,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Show one finding with its evidence.
    #[command(after_help = "Example:\n  evidence-auditor finding show F-0001")]
    Show {
        /// The finding id (F-0001).
        id: String,
        #[command(flatten)]
        file: EngagementFile,
        #[command(flatten)]
        out: JsonFlag,
    },
}

#[derive(Debug, Args)]
pub struct FindingAddArgs {
    /// The audit the finding is raised in.
    #[arg(long)]
    pub audit: String,
    /// conformity, minor-nonconformity, major-nonconformity, observation or
    /// opportunity-for-improvement.
    #[arg(long)]
    pub category: String,
    /// The requirement: an Annex A control (A.6.2.6) or a clause (9.2). Repeat for several.
    #[arg(long = "against", value_name = "REQUIREMENT", required = true)]
    pub requirements: Vec<String>,
    /// What was found, in words.
    #[arg(long)]
    pub statement: String,
    /// An archive item the finding rests on (ITEM-ID, or ITEM-ID@ORIGIN). Repeatable.
    #[arg(long = "item", value_name = "ITEM-ID")]
    pub items: Vec<String>,
    /// A concluded population the finding rests on. Repeatable.
    #[arg(long = "population", value_name = "NAME")]
    pub populations: Vec<String>,
    /// A readiness row the finding rests on (A.6.2.8, 9.2.1): its status and newest item are
    /// computed now and recorded with the finding. Repeatable.
    #[arg(long = "readiness", value_name = "REQUIREMENT")]
    pub readiness: Vec<String>,
    /// Who records it.
    #[arg(long)]
    pub by: Option<String>,
    #[command(flatten)]
    pub file: EngagementFile,
    #[command(flatten)]
    pub out: JsonFlag,
}

/// `evidence-auditor finding …`.
pub fn run_finding(c: &FindingCommand) -> anyhow::Result<u8> {
    match c {
        FindingCommand::Add(a) => {
            let e = open(&a.file)?;
            let f = e.add_finding(
                &FindingRequest {
                    audit: a.audit.clone(),
                    category: a.category.clone(),
                    requirements: a.requirements.clone(),
                    statement: a.statement.clone(),
                    items: a.items.clone(),
                    populations: a.populations.clone(),
                    readiness: a.readiness.clone(),
                    recorded_by: a.by.clone(),
                },
                now(),
            )?;
            if a.out.json {
                print_json(&finding_json(&f))?;
            } else {
                outln!(
                    "Recorded finding {} ({}) against {}.",
                    f.id,
                    f.category.label(),
                    f.requirements.join(" ")
                );
                if f.needs_action() {
                    outln!(
                        "Plan its corrective action: `evidence-auditor action add {} --correction … --root-cause … --action … --owner …`.",
                        f.id
                    );
                }
            }
            Ok(EXIT_OK)
        }
        FindingCommand::List { as_of, file, out } => list(file, *as_of, out.json),
        FindingCommand::Show { id, file, out } => {
            let f = open(file)?.finding(id)?;
            if out.json {
                print_json(&finding_json(&f))?;
            } else {
                print_finding(&f);
                for ev in &f.evidence {
                    outln!("  evidence: {}", ev.describe());
                }
            }
            Ok(EXIT_OK)
        }
    }
}

fn list(file: &EngagementFile, as_of: Option<jiff::civil::Date>, json: bool) -> anyhow::Result<u8> {
    let e = open(file)?;
    let day = as_of.unwrap_or_else(|| utc_date(now()));
    let (findings, actions) = (e.findings()?, e.actions()?);
    let blocking = blockers(&findings, &actions, day);
    if json {
        let rows: Vec<_> = findings
            .iter()
            .map(|f| {
                let a = actions.iter().find(|a| a.finding == f.id);
                let mut v = finding_json(f);
                v["action"] = json!(a.map(|a| &a.id));
                v["action_status"] = json!(a.map(|a| a.status(day).label()));
                v
            })
            .collect();
        print_json(&json!({ "as_of": day, "findings": rows, "blockers": blocking }))?;
    } else if findings.is_empty() {
        outln!(
            "No finding yet: `conclude` records one per population; `finding add` records others."
        );
    } else {
        for f in &findings {
            print_finding(f);
            if let Some(a) = actions.iter().find(|a| a.finding == f.id) {
                outln!(
                    "  action {}: {} (due {})",
                    a.id,
                    a.status(day).label(),
                    a.due
                );
            } else if f.needs_action() {
                outln!("  no corrective action planned");
            }
        }
        for b in &blocking {
            outln!(
                "BLOCKER on {day}: major nonconformity {} against {} is not closed{}.",
                b.finding,
                b.requirements.join(" "),
                b.action
                    .as_ref()
                    .map_or(" and has no corrective action".to_owned(), |a| format!(
                        " (action {a})"
                    ))
            );
        }
    }
    Ok(if blocking.is_empty() {
        EXIT_OK
    } else {
        EXIT_FAILED
    })
}

fn print_finding(f: &FindingRecord) {
    outln!(
        "{} [{}] {} against {}: {}",
        f.id,
        f.audit,
        f.category.label(),
        f.requirements.join(" "),
        f.statement
    );
}

fn finding_json(f: &FindingRecord) -> serde_json::Value {
    json!({
        "id": f.id, "audit": f.audit, "category": f.category.label(),
        "requirements": f.requirements, "statement": f.statement, "evidence": f.evidence,
        "recorded_by": f.recorded_by, "recorded_at": f.recorded_at,
    })
}
