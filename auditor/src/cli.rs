//! Command-line interface: argument definitions, dispatch, and the documented exit codes.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::exit::EXIT_ERROR;

const AFTER_HELP: &str = "\
Exit codes:
  0  success: the archive verifies / the command did what was asked
  1  verification failed (every problem found is listed), an ingest was refused (failing
     archive, forked history), or a conclusion does not support reliance
  2  usage or IO error, a step out of order, or a workpaper with problems; nothing was concluded

Engagement workflow (docs/auditing.md): ingest, audit add, population define, seed commit,
population freeze, population plan, seed reveal, sample draw, workpaper export/import,
conclude, record export. EVIDENCE_ENGAGEMENT may replace --engagement.";

/// Verifies ISO/IEC 42001 evidence archives and runs the audit sampling cycle over them.
#[derive(Debug, Parser)]
#[command(name = "evidence-auditor", version, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// More detail in the logs (-v debug, -vv trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Verify an archive directory (every bundle and the chain between them), one bundle file,
    /// or every origin's archive under an S3 location (`s3://bucket/prefix`).
    /// Reads untrusted input: nothing is extracted, every problem is reported.
    Verify {
        /// An archive directory, a `run-NNNNNN.zip` bundle, or `s3://bucket/prefix`.
        path: PathBuf,
        /// Print one JSON object instead of the human report.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        trust: crate::verify_cmd::VerifyArgs,
        #[command(flatten)]
        s3: crate::remote_cmd::S3Args,
    },
    /// Export one item (artefact and metadata) with its inclusion proof, the run's signed
    /// checkpoint and its time stamp into a directory anyone can check offline.
    Prove(crate::proof_cmd::ProveArgs),
    /// Check a directory written by `prove`, offline, with nothing else.
    CheckProof(crate::proof_cmd::CheckProofArgs),
    /// Plan an attribute-sampling sample size (exact; reproduces the AICPA tables).
    Plan(crate::stats_cmd::PlanArgs),
    /// Evaluate a tested sample: upper deviation limit, most likely rate, p-value, decision.
    Evaluate(crate::stats_cmd::EvaluateArgs),
    /// Draw a reproducible sample with the Rivest 2011 SHA-256 sampler.
    Draw(crate::stats_cmd::DrawArgs),
    /// How many sites of a multi-site organisation to audit (IAF MD 1).
    Sites(crate::stats_cmd::SitesArgs),
    /// Verify an archive and load its item metadata into an engagement file (created if
    /// missing). A failing archive, or a forked or rewritten history of an origin already
    /// ingested, is refused and nothing is stored; later runs of the same origin are appended.
    Ingest(crate::engagement_cmd::IngestArgs),
    /// The audits of the certification cycle (initial, surveillance, recertification) and the
    /// control coverage matrix.
    #[command(subcommand)]
    Audit(crate::engagement_cmd::AuditCommand),
    /// Define, freeze, show and plan the populations sampled.
    #[command(subcommand)]
    Population(crate::engagement_cmd::PopulationCommand),
    /// The seed protocol: commit to a secret before the freeze, reveal it after.
    #[command(subcommand)]
    Seed(crate::engagement_cmd::SeedCommand),
    /// Draw and show the sample of a population.
    #[command(subcommand)]
    Sample(crate::engagement_cmd::SampleCommand),
    /// Export the sample as a workpaper (XLSX or CSV) and import it filled in.
    #[command(subcommand)]
    Workpaper(crate::engagement_cmd::WorkpaperCommand),
    /// Evaluate a tested population and record the finding you propose. Exit 1 when the sample
    /// does not support reliance on the control.
    Conclude(crate::engagement_cmd::ConcludeArgs),
    /// Export the sampling records as one JSON document.
    #[command(subcommand)]
    Record(crate::engagement_cmd::RecordCommand),
}

/// Run the parsed command and map the outcome to an exit code.
pub fn run(cli: Cli) -> ExitCode {
    let filter = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter)),
        )
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
    let result = match cli.command {
        Command::Verify {
            path,
            json,
            trust,
            s3,
        } => match path.to_str() {
            Some(p) if evidence_store::ArchiveLocation::is_s3(p) => {
                crate::remote_cmd::run_verify(p, &s3, &trust, json)
            }
            _ => crate::verify_cmd::verify_with(&path, json, &trust),
        },
        Command::Prove(a) => crate::proof_cmd::prove(&a),
        Command::CheckProof(a) => crate::proof_cmd::check_proof(&a),
        Command::Plan(a) => crate::stats_cmd::run_plan(&a),
        Command::Evaluate(a) => crate::stats_cmd::run_evaluate(&a),
        Command::Draw(a) => crate::stats_cmd::run_draw(&a),
        Command::Sites(a) => crate::stats_cmd::run_sites(&a),
        Command::Ingest(a) => crate::engagement_cmd::run_ingest(&a),
        Command::Audit(c) => crate::engagement_cmd::run_audit(&c),
        Command::Population(c) => crate::engagement_cmd::run_population(&c),
        Command::Seed(c) => crate::engagement_cmd::run_seed(&c),
        Command::Sample(c) => crate::engagement_cmd::run_sample(&c),
        Command::Workpaper(c) => crate::engagement_cmd::run_workpaper(&c),
        Command::Conclude(a) => crate::engagement_cmd::run_conclude(&a),
        Command::Record(c) => crate::engagement_cmd::run_record(&c),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("evidence-auditor: error: {e:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}
