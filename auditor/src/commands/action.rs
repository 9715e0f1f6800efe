//! `evidence-auditor action add|close|list`: corrective actions for nonconformities (clause
//! 10.2): correction, root cause, action, owner and due date; closure with evidence of
//! implementation and an effectiveness review.

use clap::{Args, Subcommand};
use jiff::civil::Date;
use serde_json::json;

use super::{EngagementFile, JsonFlag, now, open, print_json};
use crate::engagement::improvement::store::{ActionRequest, ReviewRequest};
use crate::engagement::improvement::{ActionRecord, DEFAULT_DUE_DAYS, utc_date};
use crate::exit::EXIT_OK;
use crate::outln;

#[derive(Debug, Subcommand)]
pub enum ActionCommand {
    /// Plan the corrective action of a minor or major nonconformity. Due 90 days after the
    /// finding unless --due or --due-days says otherwise.
    #[command(
        after_help = "Example:\n  evidence-auditor action add F-0002 --correction \"approvals re-requested\" --root-cause \"branch protection off on release branches\" \\\n    --action \"protection enforced by policy-as-code\" --owner \"ML platform lead\" --due 2027-03-31"
    )]
    Add(ActionAddArgs),
    /// Record the effectiveness review of an action with its evidence of implementation: an
    /// archive item sealed after the finding. An effective review closes the action; closing
    /// without both is refused and nothing is stored.
    #[command(
        after_help = "Example:\n  evidence-auditor action close CA-0001 --evidence branch-protection-ab12cd --reviewed-on 2027-02-10 \\\n    --conclusion \"no unapproved merge in the 40 PRs since\""
    )]
    Close(ActionCloseArgs),
    /// List the corrective actions with status (open, overdue, not effective, closed) and age.
    #[command(after_help = "Example:\n  evidence-auditor action list --as-of 2027-03-01 --json")]
    List {
        /// The day statuses and ages are read on (default today, UTC).
        #[arg(long, value_name = "DATE")]
        as_of: Option<Date>,
        #[command(flatten)]
        file: EngagementFile,
        #[command(flatten)]
        out: JsonFlag,
    },
}

#[derive(Debug, Args)]
pub struct ActionAddArgs {
    /// The nonconformity (F-0001).
    pub finding: String,
    /// What was done at once to contain it (10.2 a).
    #[arg(long)]
    pub correction: String,
    /// Why it happened (10.2 b).
    #[arg(long)]
    pub root_cause: String,
    /// What is done so that it does not recur (10.2 c).
    #[arg(long)]
    pub action: String,
    /// Who owns the action.
    #[arg(long)]
    pub owner: String,
    /// The due date (YYYY-MM-DD).
    #[arg(long, value_name = "DATE", conflicts_with = "due_days")]
    pub due: Option<Date>,
    /// Days after the finding the action is due (default 90).
    #[arg(long, value_name = "DAYS")]
    pub due_days: Option<u32>,
    #[command(flatten)]
    pub file: EngagementFile,
    #[command(flatten)]
    pub out: JsonFlag,
}

#[derive(Debug, Args)]
pub struct ActionCloseArgs {
    /// The action (CA-0001).
    pub action: String,
    /// Evidence of implementation: an archive item sealed after the finding (ITEM-ID or
    /// ITEM-ID@ORIGIN), ingested into this engagement.
    #[arg(long, value_name = "ITEM-ID")]
    pub evidence: String,
    /// The date of the effectiveness review (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    pub reviewed_on: Date,
    /// The review's conclusion, in words.
    #[arg(long)]
    pub conclusion: String,
    /// The review found the action not effective: it is recorded and the action stays open.
    #[arg(long)]
    pub not_effective: bool,
    #[command(flatten)]
    pub file: EngagementFile,
    #[command(flatten)]
    pub out: JsonFlag,
}

/// `evidence-auditor action …`.
pub fn run_action(c: &ActionCommand) -> anyhow::Result<u8> {
    match c {
        ActionCommand::Add(a) => add(a),
        ActionCommand::Close(a) => close(a),
        ActionCommand::List { as_of, file, out } => {
            let day = as_of.unwrap_or_else(|| utc_date(now()));
            let actions = open(file)?.actions()?;
            if out.json {
                let rows: Vec<_> = actions.iter().map(|a| action_json(a, day)).collect();
                print_json(&json!({ "as_of": day, "actions": rows }))?;
            } else if actions.is_empty() {
                outln!("No corrective action yet.");
            } else {
                for a in &actions {
                    outln!(
                        "{} for {}: {} — owner {}, due {}, {} day(s) old: {}",
                        a.id,
                        a.finding,
                        a.status(day).label(),
                        a.owner,
                        a.due,
                        a.age_days(day),
                        a.action
                    );
                }
            }
            Ok(EXIT_OK)
        }
    }
}

fn add(a: &ActionAddArgs) -> anyhow::Result<u8> {
    let e = open(&a.file)?;
    let action = e.add_action(
        &ActionRequest {
            finding: a.finding.clone(),
            correction: a.correction.clone(),
            root_cause: a.root_cause.clone(),
            action: a.action.clone(),
            owner: a.owner.clone(),
            due: a.due,
            due_days: a.due_days,
        },
        now(),
    )?;
    if a.out.json {
        print_json(&action_json(&action, utc_date(now())))?;
    } else {
        outln!(
            "Planned corrective action {} for {}: owner {}, due {}{}.",
            action.id,
            action.finding,
            action.owner,
            action.due,
            match (a.due, a.due_days) {
                (Some(_), _) => String::new(),
                (None, days) => format!(
                    " ({} days after the finding)",
                    days.unwrap_or(DEFAULT_DUE_DAYS)
                ),
            }
        );
    }
    Ok(EXIT_OK)
}

fn close(a: &ActionCloseArgs) -> anyhow::Result<u8> {
    let e = open(&a.file)?;
    let action = e.review_action(
        &a.action,
        &ReviewRequest {
            evidence: a.evidence.clone(),
            reviewed_on: a.reviewed_on,
            conclusion: a.conclusion.clone(),
            effective: !a.not_effective,
        },
        now(),
    )?;
    let day = utc_date(now());
    if a.out.json {
        print_json(&action_json(&action, day))?;
    } else if a.not_effective {
        outln!(
            "Recorded: the review of {} on {} found it NOT effective; the action stays open (plan further action).",
            action.id,
            a.reviewed_on
        );
    } else {
        outln!(
            "Closed {} on {}: evidence of implementation {}, effectiveness review recorded.",
            action.id,
            a.reviewed_on,
            a.evidence
        );
    }
    Ok(EXIT_OK)
}

fn action_json(a: &ActionRecord, day: Date) -> serde_json::Value {
    let mut v = serde_json::to_value(a).unwrap_or_default();
    v["status"] = json!(a.status(day).label());
    v["age_days"] = json!(a.age_days(day));
    v
}
