//! `evidence-auditor conclude`: evaluate a tested population and record the finding proposed.

use clap::Args;
use serde_json::json;

use super::{EngagementFile, JsonFlag, now, open, print_json};
use crate::engagement::EngagementError;
use crate::engagement::records::Evaluated;
use crate::engagement::steps::FindingSource;
use crate::exit::{EXIT_FAILED, EXIT_OK};
use crate::outln;

#[derive(Debug, Args)]
pub struct ConcludeArgs {
    /// The population (results imported).
    pub population: String,
    /// The finding you propose: conformity, minor-nonconformity, major-nonconformity,
    /// observation or opportunity-for-improvement. Overrides the workpaper's cell.
    #[arg(long)]
    pub finding: Option<String>,
    /// A note recorded with the finding (root cause, why this category).
    #[arg(long)]
    pub note: Option<String>,
    #[command(flatten)]
    pub file: EngagementFile,
    #[command(flatten)]
    pub out: JsonFlag,
}

/// `evidence-auditor conclude`.
pub fn run_conclude(a: &ConcludeArgs) -> anyhow::Result<u8> {
    let e = open(&a.file)?;
    let name = &a.population;
    let c = match e.conclude(name, a.finding.as_deref(), a.note.clone(), now()) {
        Ok(c) => c,
        Err(EngagementError::NoFinding {
            population,
            evaluation,
        }) => {
            print_evaluation(name, &evaluation);
            return Err(EngagementError::NoFinding {
                population,
                evaluation,
            }
            .into());
        }
        Err(other) => return Err(other.into()),
    };
    if let Some(s) = c.replaced {
        eprintln!(
            "evidence-auditor: note: --finding {} replaces the workpaper's proposed finding {s}",
            c.finding
        );
    }
    let ev = &c.evaluated;
    if a.out.json {
        print_json(&json!({
            "population": name, "tally": ev.tally, "evaluation": ev.evaluation,
            "supports_reliance": ev.supports_reliance, "finding": c.finding.label(),
            "finding_source": c.source.label(), "warnings": c.warnings,
            "concluded_at": c.concluded_at, "finding_id": c.finding_id,
        }))?;
    } else {
        print_evaluation(name, ev);
        outln!(
            "Proposed finding ({}): {}",
            match c.source {
                FindingSource::Option => "--finding",
                FindingSource::Workpaper => "from the workpaper",
            },
            c.finding
        );
        match &c.finding_id {
            Some(id) => outln!("Recorded as finding {id} (`evidence-auditor finding show {id}`)."),
            None => outln!(
                "No finding recorded: the population names no control or clause; record one with `evidence-auditor finding add`."
            ),
        }
        for w in &c.warnings {
            outln!("Warning: {w}");
        }
    }
    Ok(if ev.supports_reliance {
        EXIT_OK
    } else {
        EXIT_FAILED
    })
}

fn print_evaluation(name: &str, e: &Evaluated) {
    let (t, ev) = (&e.tally, &e.evaluation);
    outln!(
        "Population {name}: {} item(s) tested of N = {}: {} pass, {} deviation(s), {} not testable (counted as deviations).",
        t.tested,
        e.population_size,
        t.passed,
        t.deviations,
        t.not_testable
    );
    outln!(
        "Upper deviation limit at {} confidence: {} ({} likelihood); tolerable rate {}.",
        ev.confidence,
        ev.upper_bound_display,
        ev.method.name(),
        ev.tolerable.as_ref().map_or("?".into(), |r| r.to_string())
    );
    match ev.supports_reliance {
        Some(true) => outln!("Conclusion: the sample SUPPORTS reliance on the control."),
        _ => outln!("Conclusion: the sample does NOT support reliance on the control."),
    }
    outln!("{}", ev.rationale);
}
