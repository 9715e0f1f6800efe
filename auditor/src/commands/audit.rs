//! `evidence-auditor audit add|list|coverage`: the audits of the certification cycle and the
//! control coverage matrix.

use clap::{Args, Subcommand};

use super::{EngagementFile, JsonFlag, now, open, print_json};
use crate::engagement::steps::AuditRequest;
use crate::exit::EXIT_OK;
use crate::outln;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Add an audit of the certification cycle. Its period bounds the populations defined in it
    /// (a surveillance audit starts where the previous audit's period ended), and its sampling
    /// settings are the defaults of their plans.
    #[command(
        after_help = "Example:\n  evidence-auditor audit add stage2-2026 --type initial --from 2026-01-01 --to 2027-01-01"
    )]
    Add(AuditAddArgs),
    /// List the audits.
    #[command(after_help = "Example:\n  evidence-auditor audit list --json")]
    List {
        #[command(flatten)]
        file: EngagementFile,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// The coverage matrix: for each Annex A control, the sampled items evidencing it in each
    /// audit of the cycle, and the controls not yet covered.
    #[command(after_help = "Example:\n  evidence-auditor audit coverage")]
    Coverage {
        #[command(flatten)]
        file: EngagementFile,
        #[command(flatten)]
        out: JsonFlag,
    },
}

#[derive(Debug, Args)]
pub struct AuditAddArgs {
    /// A short id, e.g. `stage2-2026` or `surveillance-1`.
    pub id: String,
    /// initial (Stage 2), surveillance, or recertification.
    #[arg(long = "type", value_name = "TYPE", value_parser = ["initial", "surveillance", "recertification"])]
    pub audit_type: String,
    /// Start of the audited period (date or RFC 3339 time, UTC). A surveillance audit defaults to
    /// the end of the previous audit's period.
    #[arg(long, value_name = "DATE")]
    pub from: Option<String>,
    /// End of the audited period, exclusive.
    #[arg(long, value_name = "DATE")]
    pub to: Option<String>,
    /// Confidence of this audit's plans (default 0.95; 0.90 for surveillance).
    #[arg(long)]
    pub confidence: Option<String>,
    /// Tolerable deviation rate of this audit's plans (default 0.05).
    #[arg(long)]
    pub tolerable: Option<String>,
    /// Expected deviation rate of this audit's plans (default 0).
    #[arg(long)]
    pub expected: Option<String>,
    #[command(flatten)]
    pub file: EngagementFile,
    #[command(flatten)]
    pub out: JsonFlag,
}

/// `evidence-auditor audit …`.
pub fn run_audit(c: &AuditCommand) -> anyhow::Result<u8> {
    match c {
        AuditCommand::Add(a) => add(a),
        AuditCommand::List { file, out } => {
            let e = open(file)?;
            let audits = e.audits()?;
            if out.json {
                print_json(&serde_json::json!({ "audits": audits }))?;
            } else if audits.is_empty() {
                outln!("No audit yet: `evidence-auditor audit add ID --type initial`.");
            } else {
                for a in audits {
                    outln!(
                        "{:>2}. {:<20} {:<15} period {} .. {}  confidence {}, tolerable {}, expected {}",
                        a.ordinal,
                        a.id,
                        a.audit_type,
                        a.period_from.map_or("open".into(), |t| t.to_string()),
                        a.period_to.map_or("open".into(), |t| t.to_string()),
                        a.confidence,
                        a.tolerable,
                        a.expected
                    );
                }
            }
            Ok(EXIT_OK)
        }
        AuditCommand::Coverage { file, out } => {
            let m = open(file)?.coverage()?;
            if out.json {
                print_json(&m)?;
            } else {
                let mut header = format!("{:<10}", "control");
                for a in &m.audits {
                    header.push_str(&format!(" {a:>14}"));
                }
                outln!("{header}");
                for r in &m.rows {
                    let mut line = format!("{:<10}", r.control);
                    for n in &r.sampled_items {
                        line.push_str(&format!(
                            " {:>14}",
                            if *n == 0 { "-".into() } else { n.to_string() }
                        ));
                    }
                    outln!("{line}  {}", r.title);
                }
                outln!();
                outln!(
                    "{} of {} Annex A controls sampled in the cycle so far; not yet covered: {}",
                    m.rows.len() - m.not_covered.len(),
                    m.rows.len(),
                    if m.not_covered.is_empty() {
                        "none".to_owned()
                    } else {
                        m.not_covered.join(", ")
                    }
                );
            }
            Ok(EXIT_OK)
        }
    }
}

fn add(a: &AuditAddArgs) -> anyhow::Result<u8> {
    let e = open(&a.file)?;
    let row = e.add_audit(
        &AuditRequest {
            id: a.id.clone(),
            audit_type: a.audit_type.clone(),
            from: a.from.clone(),
            to: a.to.clone(),
            confidence: a.confidence.clone(),
            tolerable: a.tolerable.clone(),
            expected: a.expected.clone(),
        },
        now(),
    )?;
    if a.out.json {
        print_json(&row)?;
    } else {
        outln!(
            "Audit {} ({}, #{} of the cycle): period {} .. {}; plans default to confidence {}, tolerable rate {}, expected rate {}.",
            row.id,
            row.audit_type,
            row.ordinal,
            row.period_from.map_or("open".into(), |t| t.to_string()),
            row.period_to.map_or("open".into(), |t| t.to_string()),
            row.confidence,
            row.tolerable,
            row.expected
        );
    }
    Ok(EXIT_OK)
}
