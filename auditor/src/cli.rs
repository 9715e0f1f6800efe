//! Command-line interface: argument definitions, dispatch, and the documented exit codes.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::exit::EXIT_ERROR;

const AFTER_HELP: &str = "\
Exit codes:
  0  success: the archive verifies / the command did what was asked
  1  verification failed (every problem found is listed), an ingest was refused (failing
     archive, forked history), a conclusion does not support reliance, the audit programme
     leaves a requirement uncovered or an audit overdue (`programme show`), or a major
     nonconformity is open (`finding list`)
  2  usage or IO error, a step out of order, or a workpaper with problems; nothing was concluded

Engagement workflow (docs/auditing.md): ingest, audit add, population define, seed commit,
population freeze, population plan, seed reveal, sample draw, workpaper export/import,
conclude (records a finding), record export; then action add/close for each nonconformity,
finding list (blockers), register export/import, review pack/held/decide. EVIDENCE_ENGAGEMENT may replace --engagement.";

/// Verifies ISO/IEC 42001 evidence archives, runs the audit sampling cycle over them, and keeps
/// the internal audit: programme, findings, corrective actions, management review, OSCAL.
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
    #[command(
        after_help = "Example:\n  evidence-auditor verify /evidence/acme --allowed-signers allowed_signers --tsa-roots tsa-roots.pem"
    )]
    Verify {
        /// An archive directory, a `run-NNNNNN.zip` bundle, or `s3://bucket/prefix`.
        path: evidence_store::ArchiveSource,
        /// Print one JSON object instead of the human report.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        trust: crate::commands::verify::VerifyArgs,
        #[command(flatten)]
        s3: crate::commands::verify::S3Args,
    },
    /// Export one item (artefact and metadata) with its inclusion proof, the run's signed
    /// checkpoint and its time stamp into a directory anyone can check offline.
    #[command(
        after_help = "Example:\n  evidence-auditor prove ITEM-ID --archive /evidence/acme --output proof-dir"
    )]
    Prove(crate::proof_cmd::ProveArgs),
    /// Check a directory written by `prove`, offline, with nothing else.
    #[command(after_help = "Example:\n  evidence-auditor check-proof proof-dir")]
    CheckProof(crate::proof_cmd::CheckProofArgs),
    /// Plan an attribute-sampling sample size (exact; reproduces the AICPA tables).
    #[command(
        after_help = "Example:\n  evidence-auditor plan --likelihood binomial --tolerable 0.05 --expected 0.01 --confidence 0.95"
    )]
    Plan(crate::stats_cmd::PlanArgs),
    /// Evaluate a tested sample: upper deviation limit, most likely rate, p-value, decision.
    #[command(
        after_help = "Example:\n  evidence-auditor evaluate --likelihood binomial --sample-size 60 --deviations 1 --tolerable 0.05"
    )]
    Evaluate(crate::stats_cmd::EvaluateArgs),
    /// Draw a reproducible sample with the Rivest 2011 SHA-256 sampler.
    #[command(
        after_help = "Example:\n  evidence-auditor draw --seed 8f3a… --min 1 --max 1200 --count 25"
    )]
    Draw(crate::stats_cmd::DrawArgs),
    /// How many sites of a multi-site organisation to audit (IAF MD 1).
    #[command(after_help = "Example:\n  evidence-auditor sites --sites 9 --audit surveillance")]
    Sites(crate::stats_cmd::SitesArgs),
    /// Verify an archive and load its item metadata into an engagement file (created if
    /// missing). A failing archive, or a forked or rewritten history of an origin already
    /// ingested, is refused and nothing is stored; later runs of the same origin are appended.
    #[command(
        after_help = "Example:\n  evidence-auditor ingest /evidence/acme -e acme-2026.engagement"
    )]
    Ingest(crate::commands::ingest::IngestArgs),
    /// The audits of the certification cycle (initial, surveillance, recertification) and the
    /// control coverage matrix.
    #[command(subcommand)]
    Audit(crate::commands::audit::AuditCommand),
    /// Define, freeze, show and plan the populations sampled.
    #[command(subcommand)]
    Population(crate::commands::population::PopulationCommand),
    /// The seed protocol: commit to a secret before the freeze, reveal it after.
    #[command(subcommand)]
    Seed(crate::commands::seed::SeedCommand),
    /// Draw and show the sample of a population.
    #[command(subcommand)]
    Sample(crate::commands::sample::SampleCommand),
    /// Export the sample as a workpaper (XLSX or CSV) and import it filled in.
    #[command(subcommand)]
    Workpaper(crate::commands::workpaper::WorkpaperCommand),
    /// Evaluate a tested population and record the finding you propose. Exit 1 when the sample
    /// does not support reliance on the control.
    #[command(
        after_help = "Example:\n  evidence-auditor conclude pr-approvals --finding minor-nonconformity --note \"two approvals after merge\""
    )]
    Conclude(crate::commands::conclude::ConcludeArgs),
    /// Export the sampling records as one JSON document.
    #[command(subcommand)]
    Record(crate::commands::record::RecordCommand),
    /// The internal audit programme of the cycle (9.2): planned audits, coverage of every
    /// applicable requirement, high-risk and post-nonconformity frequencies, impartiality.
    #[command(subcommand)]
    Programme(crate::commands::programme::ProgrammeCommand),
    /// Audit findings (conformity, nonconformities, observations, opportunities) and the
    /// evidence they rest on; the major nonconformities still open.
    #[command(subcommand)]
    Finding(crate::commands::finding::FindingCommand),
    /// Corrective actions for nonconformities (ISO/IEC 42001 10.2) and their closure.
    #[command(subcommand)]
    Action(crate::commands::action::ActionCommand),
    /// The finding and action registers as XLSX/CSV, and their strict import back.
    #[command(subcommand)]
    Register(crate::commands::register::RegisterCommand),
    /// The management review (9.3): the pack of inputs a)–e) as a page and a workbook, the
    /// review's decisions and their closure.
    #[command(subcommand)]
    Review(crate::commands::review::ReviewCommand),
    /// Export the engagement as NIST OSCAL: assessment-results (each audit a result, findings
    /// with their ISO/IEC 42001 category and evidence) and a plan of action and milestones.
    #[command(
        after_help = "Example:\n  evidence-auditor oscal --assessment-results ar.json --poam poam.json"
    )]
    Oscal(crate::commands::oscal::OscalArgs),
    /// Readiness per Annex A control and clause 4–10 requirement (current, stale, gap, missing,
    /// excluded per the latest sealed SoA), the Stage 1 documents checklist and findings, over
    /// an archive (verified first) or an engagement; as a table, JSON, CSV, XLSX or HTML page.
    #[command(
        after_help = "Example:\n  evidence-auditor readiness /evidence/acme --as-of 2026-12-31 --html readiness.html"
    )]
    Readiness(crate::commands::readiness::ReadinessArgs),
}

/// Whether the command line asks for JSON output (`--json` before any `--`): a failing command
/// then also prints its error as a JSON object on stdout, where the script reads.
pub fn json_requested<I: IntoIterator<Item = std::ffi::OsString>>(args: I) -> bool {
    args.into_iter()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json")
}

/// The error object printed on stdout when `--json` was given: `{"error": {"message", "exit_code"}}`.
pub fn json_error(message: &str, exit_code: u8) -> String {
    serde_json::json!({ "error": { "message": message, "exit_code": exit_code } }).to_string()
}

/// Run the parsed command and map the outcome to an exit code. With `json_errors`, a failure is
/// also printed on stdout as [`json_error`].
pub fn run(cli: Cli, json_errors: bool) -> ExitCode {
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
        } => crate::commands::verify::run(&path, json, &trust, &s3),
        Command::Prove(a) => crate::proof_cmd::prove(&a),
        Command::CheckProof(a) => crate::proof_cmd::check_proof(&a),
        Command::Plan(a) => crate::stats_cmd::run_plan(&a),
        Command::Evaluate(a) => crate::stats_cmd::run_evaluate(&a),
        Command::Draw(a) => crate::stats_cmd::run_draw(&a),
        Command::Sites(a) => crate::stats_cmd::run_sites(&a),
        Command::Ingest(a) => crate::commands::ingest::run_ingest(&a),
        Command::Audit(c) => crate::commands::audit::run_audit(&c),
        Command::Population(c) => crate::commands::population::run_population(&c),
        Command::Seed(c) => crate::commands::seed::run_seed(&c),
        Command::Sample(c) => crate::commands::sample::run_sample(&c),
        Command::Workpaper(c) => crate::commands::workpaper::run_workpaper(&c),
        Command::Conclude(a) => crate::commands::conclude::run_conclude(&a),
        Command::Record(c) => crate::commands::record::run_record(&c),
        Command::Readiness(a) => crate::commands::readiness::run(&a),
        Command::Finding(c) => crate::commands::finding::run_finding(&c),
        Command::Action(c) => crate::commands::action::run_action(&c),
        Command::Register(c) => crate::commands::register::run_register(&c),
        Command::Review(c) => crate::commands::review::run_review(&c),
        Command::Programme(c) => crate::commands::programme::run_programme(&c),
        Command::Oscal(a) => crate::commands::oscal::run_oscal(&a),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let message = format!("{e:#}");
            eprintln!("evidence-auditor: error: {message}");
            if json_errors {
                crate::outln!("{}", json_error(&message, EXIT_ERROR));
            }
            ExitCode::from(EXIT_ERROR)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn leaves(c: &clap::Command, path: String, out: &mut Vec<(String, bool)>) {
        let subs: Vec<_> = c
            .get_subcommands()
            .filter(|s| s.get_name() != "help")
            .collect();
        if subs.is_empty() {
            let example = c
                .get_after_help()
                .is_some_and(|h| h.to_string().contains("Example:\n  evidence-auditor "));
            out.push((path.clone(), example));
        }
        for s in subs {
            leaves(s, format!("{path} {}", s.get_name()), out);
        }
    }

    #[test]
    fn every_subcommand_help_ends_with_an_example() {
        let mut all = Vec::new();
        leaves(&Cli::command(), "evidence-auditor".to_owned(), &mut all);
        assert!(all.len() >= 20, "{all:?}");
        let missing: Vec<_> = all.iter().filter(|(_, ok)| !ok).map(|(p, _)| p).collect();
        assert!(missing.is_empty(), "no example in --help of: {missing:?}");
    }

    #[test]
    fn json_is_requested_by_the_flag_not_by_an_argument_after_the_separator() {
        let args = |v: &[&str]| v.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        assert!(json_requested(args(&[
            "a", "sample", "show", "p", "--json"
        ])));
        assert!(!json_requested(args(&["a", "sample", "show", "p"])));
        assert!(!json_requested(args(&["a", "x", "--", "--json"])));
        let v: serde_json::Value = serde_json::from_str(&json_error("no \"x\"", 2)).unwrap();
        assert_eq!(v["error"]["message"], "no \"x\"");
        assert_eq!(v["error"]["exit_code"], 2);
    }
}
