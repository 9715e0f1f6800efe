//! `evidence-auditor programme set|plan|done|show|approve`: the internal audit programme of the
//! certification cycle (ISO/IEC 42001 9.2.2).

use clap::{Args, Subcommand};
use jiff::civil::Date;
use serde_json::json;

use super::{EngagementFile, JsonFlag, now, open, print_json};
use crate::engagement::improvement::utc_date;
use crate::engagement::programme::Settings;
use crate::engagement::programme::store::PlanRequest;
use crate::exit::{EXIT_FAILED, EXIT_OK};
use crate::outln;

#[derive(Debug, Subcommand)]
pub enum ProgrammeCommand {
    /// Set the cycle (start, years) and the high-risk requirements audited every year.
    #[command(
        after_help = "Example:\n  evidence-auditor programme set --cycle-start 2026-01-01 --high-risk A.6.2.6 --high-risk A.6.2.8"
    )]
    Set {
        #[arg(long, value_name = "DATE")]
        cycle_start: Date,
        /// Years in the cycle.
        #[arg(long, default_value_t = 3)]
        years: u8,
        /// A requirement (or group, e.g. A.6) audited every year. Repeatable.
        #[arg(long = "high-risk", value_name = "ID")]
        high_risk: Vec<String>,
        #[command(flatten)]
        file: EngagementFile,
    },
    /// Plan an internal audit: what it covers, objectives, criteria, scope, auditors. Refused
    /// when an auditor owns a covered control in the latest sealed SoA (impartiality).
    #[command(
        after_help = "Example:\n  evidence-auditor programme plan IA-2027-1 --on 2027-03-01 --covers A.6 --covers 8 \\\n    --objectives \"conformity of the AI life cycle\" --criteria \"ISO/IEC 42001:2023, AI policy v2\" \\\n    --scope \"claims triage model CT-3\" --auditor \"J. Auditor\""
    )]
    Plan(PlanArgs),
    /// Record that a planned audit was performed.
    #[command(after_help = "Example:\n  evidence-auditor programme done IA-2027-1 --on 2027-03-04")]
    Done {
        audit: String,
        #[arg(long)]
        on: Date,
        #[command(flatten)]
        file: EngagementFile,
    },
    /// The programme on a day: per applicable requirement its frequency and the audits covering
    /// it, what is uncovered and which audits are overdue. Exit 1 when something is.
    #[command(after_help = "Example:\n  evidence-auditor programme show --as-of 2027-06-30 --json")]
    Show {
        #[arg(long, value_name = "DATE")]
        as_of: Option<Date>,
        #[command(flatten)]
        file: EngagementFile,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Approve the programme; refused while an applicable requirement is uncovered in the cycle.
    #[command(after_help = "Example:\n  evidence-auditor programme approve --on 2026-12-10")]
    Approve {
        #[arg(long)]
        on: Date,
        #[command(flatten)]
        file: EngagementFile,
    },
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The audit's id, e.g. IA-2027-1.
    pub audit: String,
    /// The day it is planned for.
    #[arg(long)]
    pub on: Date,
    /// A requirement or group it covers (A.6.2.6, A.6, 9.2, 9). Repeatable.
    #[arg(long = "covers", value_name = "ID", required = true)]
    pub covers: Vec<String>,
    #[arg(long)]
    pub objectives: String,
    #[arg(long)]
    pub criteria: String,
    #[arg(long)]
    pub scope: String,
    /// An auditor. Repeatable.
    #[arg(long = "auditor", value_name = "NAME", required = true)]
    pub auditors: Vec<String>,
    #[command(flatten)]
    pub file: EngagementFile,
}

/// `evidence-auditor programme …`.
pub fn run_programme(c: &ProgrammeCommand) -> anyhow::Result<u8> {
    match c {
        ProgrammeCommand::Set {
            cycle_start,
            years,
            high_risk,
            file,
        } => {
            open(file)?.set_programme(&Settings {
                cycle_start: *cycle_start,
                years: *years,
                high_risk: high_risk.clone(),
                approved_on: None,
            })?;
            outln!("Programme set: {years}-year cycle from {cycle_start}.");
            Ok(EXIT_OK)
        }
        ProgrammeCommand::Plan(a) => plan(a),
        ProgrammeCommand::Done { audit, on, file } => {
            let a = open(file)?.audit_performed(audit, *on, now())?;
            outln!("Recorded internal audit {} as performed on {on}.", a.id);
            Ok(EXIT_OK)
        }
        ProgrammeCommand::Show { as_of, file, out } => show(file, *as_of, out.json),
        ProgrammeCommand::Approve { on, file } => {
            open(file)?.approve_programme(*on)?;
            outln!("Programme approved on {on}: every applicable requirement is covered.");
            Ok(EXIT_OK)
        }
    }
}

fn plan(a: &PlanArgs) -> anyhow::Result<u8> {
    let e = open(&a.file)?;
    let soa = e.programme_soa(now())?;
    if let Some(why) = &soa.unavailable {
        eprintln!(
            "evidence-auditor: warning: {why}: impartiality is not checked against the SoA's owners"
        );
    }
    let planned = e.plan_internal_audit(
        &PlanRequest {
            id: a.audit.clone(),
            planned_on: a.on,
            covers: a.covers.clone(),
            objectives: a.objectives.clone(),
            criteria: a.criteria.clone(),
            scope: a.scope.clone(),
            auditors: a.auditors.clone(),
        },
        &soa.owners,
        now(),
    )?;
    outln!(
        "Planned internal audit {} on {}, covering {}, by {}.",
        planned.id,
        planned.planned_on,
        planned.covers.join(" "),
        planned.auditors.join(", ")
    );
    Ok(EXIT_OK)
}

fn show(file: &EngagementFile, as_of: Option<Date>, json: bool) -> anyhow::Result<u8> {
    let e = open(file)?;
    let day = as_of.unwrap_or_else(|| utc_date(now()));
    let (view, soa) = e.programme_view(day)?;
    let audits = e.planned_audits()?;
    if json {
        print_json(&json!({
            "as_of": day, "programme": view, "audits": audits, "soa_unavailable": soa.unavailable,
        }))?;
    } else {
        let s = &view.settings;
        outln!(
            "Programme: {}-year cycle from {}{}; {} audit(s) planned.",
            s.years,
            s.cycle_start,
            view.year
                .map_or(String::new(), |y| format!(", year {y} on {day}")),
            audits.len()
        );
        if let Some(why) = &soa.unavailable {
            outln!("Note: {why}; every Annex A control is taken as applicable.");
        }
        for a in &audits {
            outln!(
                "  {} on {}: covers {}; auditors {}{}",
                a.id,
                a.planned_on,
                a.covers.join(" "),
                a.auditors.join(", "),
                match a.performed_on {
                    Some(d) => format!("; performed {d}"),
                    None if a.overdue(day) => "; OVERDUE".to_owned(),
                    None => String::new(),
                }
            );
        }
        for r in view.rows.iter().filter(|r| !r.satisfied) {
            outln!(
                "UNCOVERED {} ({}){}",
                r.id,
                r.frequency,
                if r.missing_years.is_empty() {
                    String::new()
                } else {
                    format!(": no audit in year(s) {:?}", r.missing_years)
                }
            );
        }
    }
    Ok(if view.uncovered.is_empty() && view.overdue.is_empty() {
        EXIT_OK
    } else {
        EXIT_FAILED
    })
}
