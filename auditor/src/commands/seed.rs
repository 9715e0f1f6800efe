//! `evidence-auditor seed commit|reveal|show`: the seed protocol.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::json;

use super::{EngagementFile, JsonFlag, now, open, print_json};
use crate::engagement::steps::{BeaconInput, SecretSource};
use crate::exit::EXIT_OK;
use crate::outln;

#[derive(Debug, Subcommand)]
pub enum SeedCommand {
    /// Commit to a secret before the population is frozen: its SHA-256 is printed and stored;
    /// send it to the auditee. The secret stays in your file until `seed reveal`.
    #[command(
        after_help = "Example:\n  evidence-auditor seed commit pr-approvals --secret-file pr-approvals.secret --generate"
    )]
    Commit {
        /// The population (defined, not yet frozen).
        population: String,
        /// The file holding your secret (20–200 printable ASCII characters, no spaces or '|').
        #[arg(long, value_name = "FILE")]
        secret_file: PathBuf,
        /// Create the secret file with 40 random digits from the operating system (refuses to
        /// overwrite an existing file).
        #[arg(long)]
        generate: bool,
        #[command(flatten)]
        file: EngagementFile,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Reveal the secret after the freeze, optionally with a public beacon value published after
    /// the freeze, and fix the seed: `secret|beacon value|population digest`.
    #[command(
        after_help = "Example:\n  evidence-auditor seed reveal pr-approvals --secret-file pr-approvals.secret"
    )]
    Reveal(RevealArgs),
    /// Show the commitment and, once revealed, the seed.
    #[command(after_help = "Example:\n  evidence-auditor seed show pr-approvals")]
    Show {
        population: String,
        #[command(flatten)]
        file: EngagementFile,
        #[command(flatten)]
        out: JsonFlag,
    },
}

#[derive(Debug, Args)]
pub struct RevealArgs {
    /// The population (frozen and planned).
    pub population: String,
    /// The secret file you committed to.
    #[arg(long, value_name = "FILE")]
    pub secret_file: PathBuf,
    /// Beacon chain: drand-quicknet, drand-default (round times checked against the freeze), or
    /// other:NAME (recorded only).
    #[arg(long, requires_all = ["beacon_round", "beacon_value"])]
    pub beacon_chain: Option<String>,
    /// Beacon round number.
    #[arg(long, requires = "beacon_chain")]
    pub beacon_round: Option<u64>,
    /// Beacon value (the round's randomness, hex).
    #[arg(long, requires = "beacon_chain")]
    pub beacon_value: Option<String>,
    #[command(flatten)]
    pub file: EngagementFile,
    #[command(flatten)]
    pub out: JsonFlag,
}

/// `evidence-auditor seed …`.
pub fn run_seed(c: &SeedCommand) -> anyhow::Result<u8> {
    match c {
        SeedCommand::Commit {
            population,
            secret_file,
            generate,
            file,
            out,
        } => {
            let e = open(file)?;
            let source = if *generate {
                SecretSource::Generate(secret_file)
            } else {
                SecretSource::File(secret_file)
            };
            let c = e.commit_seed(population, source, now())?;
            if out.json {
                print_json(&json!({
                    "population": population, "commitment": c.commitment,
                    "committed_at": c.committed_at, "secret_file": secret_file,
                }))?;
            } else {
                outln!("Commitment for {population}: {}", c.commitment);
                outln!(
                    "(SHA-256 of the secret in {}; keep that file private until the seed is revealed.)",
                    secret_file.display()
                );
                outln!(
                    "Send the commitment to the auditee now; then freeze: `evidence-auditor population freeze {population}`."
                );
            }
            Ok(EXIT_OK)
        }
        SeedCommand::Reveal(a) => reveal(a),
        SeedCommand::Show {
            population,
            file,
            out,
        } => {
            let e = open(file)?;
            e.population(population)?;
            let commitment = e.commitment(population)?;
            let seed = e.seed(population)?;
            if out.json {
                print_json(&json!({
                    "population": population,
                    "commitment": commitment.as_ref().map(|c| &c.commitment),
                    "committed_at": commitment.as_ref().map(|c| c.committed_at),
                    "secret": seed.as_ref().map(|s| &s.secret),
                    "beacon": seed.as_ref().and_then(|s| s.beacon.clone()),
                    "seed": seed.as_ref().map(|s| &s.seed),
                    "revealed_at": seed.as_ref().map(|s| s.revealed_at),
                }))?;
            } else {
                match &commitment {
                    None => outln!("No commitment yet for {population}."),
                    Some(c) => outln!("Commitment: {} (made at {})", c.commitment, c.committed_at),
                }
                match &seed {
                    None => outln!("The seed is not revealed yet."),
                    Some(s) => {
                        outln!("Seed (revealed at {}): {}", s.revealed_at, s.seed);
                        if let Some(b) = &s.beacon {
                            outln!("Beacon: {} round {} value {}", b.chain, b.round, b.value);
                        }
                    }
                }
            }
            Ok(EXIT_OK)
        }
    }
}

fn reveal(a: &RevealArgs) -> anyhow::Result<u8> {
    let e = open(&a.file)?;
    let name = &a.population;
    let beacon = match (&a.beacon_chain, a.beacon_round, &a.beacon_value) {
        (Some(chain), Some(round), Some(value)) => Some(BeaconInput {
            chain: chain.clone(),
            round,
            value: value.clone(),
        }),
        _ => None,
    };
    let r = e.reveal_seed(name, &a.secret_file, beacon.as_ref(), now())?;
    if a.out.json {
        print_json(&json!({
            "population": name, "seed": r.seed, "beacon": r.beacon,
            "revealed_at": r.revealed_at, "commitment": r.commitment,
        }))?;
    } else {
        outln!("The secret matches the commitment {}.", r.commitment);
        outln!("Seed for {name}: {}", r.seed);
        if r.beacon.is_none() {
            outln!("(No public beacon: the seed rests on your secret alone.)");
        }
        outln!("Next: `evidence-auditor sample draw {name}`.");
    }
    Ok(EXIT_OK)
}
