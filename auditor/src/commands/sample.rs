//! `evidence-auditor sample draw|show`.

use clap::Subcommand;
use serde_json::{Value, json};

use super::{EngagementFile, JsonFlag, now, open, print_json};
use crate::engagement::db::{PickRow, ResultRow};
use crate::engagement::steps::Sample;
use crate::exit::EXIT_OK;
use crate::outln;

#[derive(Debug, Subcommand)]
pub enum SampleCommand {
    /// Draw the planned sample with the revealed seed (Rivest 2011 SHA-256 sampler over the
    /// manifest positions); prints the `draw` command that re-derives it.
    #[command(after_help = "Example:\n  evidence-auditor sample draw pr-approvals")]
    Draw {
        population: String,
        #[command(flatten)]
        file: EngagementFile,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Show the sample: picks with counters, items, and results once imported.
    #[command(after_help = "Example:\n  evidence-auditor sample show pr-approvals --json")]
    Show {
        population: String,
        #[command(flatten)]
        file: EngagementFile,
        #[command(flatten)]
        out: JsonFlag,
    },
}

/// The `draw` command that re-derives a sample, the seed quoted for a POSIX shell.
pub(crate) fn draw_command(seed: &str, size: u64, n: u64) -> String {
    let quoted = seed.replace('\'', r"'\''");
    format!("evidence-auditor draw --seed '{quoted}' --min 1 --max {size} --count {n}")
}

/// The commands that re-derive a sample: one, or one per stratum with picks.
pub(crate) fn reproduce(s: &Sample) -> Vec<String> {
    if s.drawn.allocation.is_empty() {
        vec![draw_command(
            &s.seed,
            s.frozen.size,
            s.drawn.picks.len() as u64,
        )]
    } else {
        s.drawn
            .allocation
            .iter()
            .filter(|a| a.allocated > 0)
            .map(|a| draw_command(&a.seed, a.size, a.allocated))
            .collect()
    }
}

/// `evidence-auditor sample …`.
pub fn run_sample(c: &SampleCommand) -> anyhow::Result<u8> {
    match c {
        SampleCommand::Draw {
            population,
            file,
            out,
        } => {
            let e = open(file)?;
            let s = e.draw_sample(population, now())?;
            if out.json {
                print_json(&sample_json(&s))?;
            } else {
                outln!(
                    "Sample of {population}: {} item(s) of N = {} ({}).",
                    s.picks.len(),
                    s.frozen.size,
                    s.drawn.method
                );
                print_picks(&s.picks, &s.results);
                if !s.drawn.rejected.is_empty() {
                    outln!(
                        "Duplicates rejected: {}",
                        s.drawn
                            .rejected
                            .iter()
                            .map(|r| format!("{} (counter {})", r.stratum_position, r.counter))
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
                outln!("Re-derive it with:");
                if s.drawn.allocation.is_empty() {
                    for cmd in reproduce(&s) {
                        outln!("  {cmd}");
                    }
                } else {
                    for a in s.drawn.allocation.iter().filter(|a| a.allocated > 0) {
                        outln!(
                            "  {}   # stratum {}",
                            draw_command(&a.seed, a.size, a.allocated),
                            a.name
                        );
                    }
                }
                outln!(
                    "Next: `evidence-auditor workpaper export {population} --output {population}.xlsx`."
                );
            }
            Ok(EXIT_OK)
        }
        SampleCommand::Show {
            population,
            file,
            out,
        } => {
            let s = open(file)?.sample(population)?;
            if out.json {
                print_json(&sample_json(&s))?;
            } else {
                print_picks(&s.picks, &s.results);
            }
            Ok(EXIT_OK)
        }
    }
}

fn print_picks(picks: &[PickRow], results: &[ResultRow]) {
    outln!(
        "{:>4} {:>8} {:>9}  {:<14} {:<48} result",
        "pick",
        "counter",
        "position",
        "stratum",
        "item"
    );
    for p in picks {
        let r = results
            .iter()
            .find(|r| r.pick == p.pick.pick)
            .map_or("", |r| r.result.as_str());
        outln!(
            "{:>4} {:>8} {:>9}  {:<14} {:<48} {r}",
            p.pick.pick,
            p.pick.counter,
            p.pick.position,
            p.pick.stratum.as_deref().unwrap_or("-"),
            p.item.item_id
        );
    }
}

/// The sample as one JSON object (`sample draw|show --json`, the record's `selection`).
pub(crate) fn sample_json(s: &Sample) -> Value {
    let picks: Vec<Value> = s
        .picks
        .iter()
        .map(|p| {
            let r = s.results.iter().find(|r| r.pick == p.pick.pick);
            json!({
                "pick": p.pick.pick, "stratum": p.pick.stratum, "stratum_position": p.pick.stratum_position,
                "position": p.pick.position, "counter": p.pick.counter,
                "origin": p.item.origin, "item_id": p.item.item_id, "sha256": p.item.sha256,
                "kind": p.item.kind, "title": p.item.title,
                "bundle": format!("run-{:06}.zip", p.item.bundle_seq),
                "artefact": format!("run-{:06}/{}", p.item.bundle_seq, p.item.artefact_path),
                "leaf_index": p.item.leaf_index,
                "result": r.map(|r| r.result.clone()), "notes": r.map(|r| r.notes.clone()),
                "tested_by": r.map(|r| r.tested_by.clone()),
            })
        })
        .collect();
    json!({
        "population": s.population, "algorithm": s.drawn.algorithm, "method": s.drawn.method,
        "with_replacement": s.drawn.with_replacement, "seed": s.seed,
        "population_size": s.frozen.size, "digest": s.frozen.digest, "drawn_at": s.drawn_at,
        "allocation": s.drawn.allocation, "picks": picks, "rejected": s.drawn.rejected,
        "reproduce": reproduce(s),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_draw_command_quotes_the_seed_for_a_shell() {
        assert_eq!(
            draw_command("s|ab|d|O'Brien", 3, 1),
            r"evidence-auditor draw --seed 's|ab|d|O'\''Brien' --min 1 --max 3 --count 1"
        );
    }
}
