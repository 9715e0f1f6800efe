//! Command-line interface: argument definitions, dispatch, and the documented exit codes.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use evidence_model::Catalogue;
use indicatif::HumanBytes;
use tokio_util::sync::CancellationToken;

use crate::collect::{RunSummary, collect};
use crate::config::AgentConfig;
use crate::ui::{LogFormat, Ui};

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: the run sealed a bundle, but at least one source failed or recorded a gap, or a
/// bundle still waits for its upload to the S3 archive
/// (or `check` found a source unhealthy).
pub const EXIT_GAPS: u8 = 1;
/// Exit code: usage, configuration, state or IO error, or another agent holds the archive;
/// nothing was sealed.
pub const EXIT_ERROR: u8 = 2;

const AFTER_HELP: &str = "\
Exit codes:
  0  success
  1  a bundle was sealed, but a source failed or recorded a gap (see the summary), or a
     bundle is still waiting for its upload to the S3 archive (retried next run), or
     `check` found a source unhealthy
  2  usage, configuration, state or IO error, or another agent holds the archive;
     nothing was sealed

Secrets are read from the environment, never from the config file.
SOURCE_DATE_EPOCH pins every time a bundle records, for byte-identical bundles.";

/// Collects ISO/IEC 42001 audit evidence into a sealed, chained, tamper-evident archive.
#[derive(Debug, Parser)]
#[command(name = "evidence-agent", version, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log line format on stderr.
    #[arg(long, global = true, value_enum, default_value = "human")]
    pub log_format: LogFormat,
    /// More detail in the logs (-v debug, -vv trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// No progress bars.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every configured source once and seal the result as the next bundle.
    Collect(CollectArgs),
    /// Check the config without side effects and probe each source (credentials, reachability).
    Check(ConfigArg),
    /// List the ISO/IEC 42001 Annex A controls and the evidence kinds with their default tags.
    Catalogue {
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct ConfigArg {
    /// The agent's TOML config file.
    #[arg(long, short, env = "EVIDENCE_AGENT_CONFIG", value_name = "FILE")]
    pub config: PathBuf,
}

#[derive(Debug, Args)]
pub struct CollectArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Print the run summary as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Run the parsed command and map the outcome to an exit code.
pub fn run(cli: Cli) -> ExitCode {
    let ui = Ui::new(cli.quiet);
    ui.init_logging(cli.log_format, cli.verbose);
    match dispatch(cli, &ui) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("evidence-agent: error: {e:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn dispatch(cli: Cli, ui: &Ui) -> anyhow::Result<u8> {
    match cli.command {
        Command::Catalogue { json } => {
            print_catalogue(json)?;
            Ok(EXIT_OK)
        }
        Command::Check(args) => {
            let config = AgentConfig::load(&args.config)?;
            runtime()?.block_on(crate::check::check(&config))
        }
        Command::Collect(args) => {
            let config = AgentConfig::load(&args.config.config)?;
            let rt = runtime()?;
            let shutdown = CancellationToken::new();
            let summary = rt.block_on(async {
                let token = shutdown.clone();
                tokio::spawn(async move {
                    if tokio::signal::ctrl_c().await.is_ok() {
                        tracing::warn!("interrupted: finishing the current items and sealing what was collected (press Ctrl-C again to quit at once)");
                        token.cancel();
                        if tokio::signal::ctrl_c().await.is_ok() {
                            eprintln!("evidence-agent: quitting; nothing was sealed by this run");
                            std::process::exit(130);
                        }
                    }
                });
                collect(&config, ui, shutdown).await
            })?;
            print_summary(&summary, args.json)?;
            Ok(if summary.has_gaps() {
                EXIT_GAPS
            } else {
                EXIT_OK
            })
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn print_summary(s: &RunSummary, json: bool) -> anyhow::Result<()> {
    if json {
        crate::outln!("{}", serde_json::to_string(s)?);
        return Ok(());
    }
    if s.items == 0 {
        crate::outln!(
            "Nothing new since the last run; sealed an empty run record as run {} of {}.",
            s.run,
            s.origin
        );
    } else {
        crate::outln!(
            "Sealed run {} of {}: {} item(s), {}.",
            s.run,
            s.origin,
            s.items,
            HumanBytes(s.item_bytes)
        );
    }
    crate::outln!(
        "  bundle:     {} ({})",
        s.bundle.display(),
        HumanBytes(s.bundle_bytes)
    );
    let mut lines = s.checkpoint.lines();
    let (_, size, root) = (
        lines.next(),
        lines.next().unwrap_or(""),
        lines.next().unwrap_or(""),
    );
    crate::outln!("  checkpoint: tree size {size}, root {root}");
    for o in &s.sources {
        let status = match o.status {
            evidence_archive::run_record::SourceStatus::Ok => "ok",
            evidence_archive::run_record::SourceStatus::Partial => "partial",
            evidence_archive::run_record::SourceStatus::Failed => "FAILED",
        };
        let gaps = if o.gaps > 0 {
            format!(", {} gap record(s)", o.gaps)
        } else {
            String::new()
        };
        crate::outln!(
            "  source {:<20} {:<8} {} new item(s), {}{gaps}",
            o.name,
            status,
            o.items,
            HumanBytes(o.bytes)
        );
        if let Some(e) = &o.error {
            crate::outln!("    {e}");
        }
    }
    if let Some(u) = &s.upload {
        for r in &u.uploaded {
            crate::outln!(
                "  uploaded:   {}/{} ({})",
                u.location,
                r.key.rsplit('/').next().unwrap_or(&r.key),
                HumanBytes(r.size)
            );
        }
        if let Some(e) = &u.error {
            crate::outln!(
                "  UPLOAD PENDING: {} bundle(s) stay local and are retried next run: {e}",
                u.pending.len()
            );
        }
    }
    Ok(())
}

fn print_catalogue(json: bool) -> anyhow::Result<()> {
    let cat = Catalogue::iso42001();
    if json {
        let controls: Vec<_> = cat
            .controls()
            .map(|c| serde_json::json!({"id": c.id, "title": c.title, "group": c.group}))
            .collect();
        let kinds: Vec<_> = cat
            .kinds()
            .map(|k| serde_json::json!({"kind": k.kind, "label": k.label, "controls": k.controls, "clauses": k.clauses, "phase": k.phase}))
            .collect();
        crate::outln!(
            "{}",
            serde_json::json!({"standard": cat.standard(), "controls": controls, "kinds": kinds})
        );
        return Ok(());
    }
    crate::outln!("{} Annex A controls:", cat.standard());
    for c in cat.controls() {
        crate::outln!("  {:<9} {}", c.id, c.title);
    }
    crate::outln!(
        "\nEvidence kinds and their default tags (override with `controls`, `clauses`, `phase`):"
    );
    for k in cat.kinds() {
        crate::outln!(
            "  {:<28} {:<20} controls [{}] clauses [{}]",
            k.kind,
            k.phase,
            k.controls.join(", "),
            k.clauses.join(", ")
        );
    }
    Ok(())
}
