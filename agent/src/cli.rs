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

use crate::exit::{EXIT_ERROR, EXIT_GAPS, EXIT_OK};

const AFTER_HELP: &str = "\
Exit codes:
  0  success
  1  a bundle was sealed, but a source failed or recorded a gap (see the summary), or a
     bundle is still waiting for its upload to the S3 archive (retried next run), or
     `check` found a source unhealthy
  2  usage, configuration, state or IO error, or another agent holds the archive;
     nothing was sealed
  130, 143  a second SIGINT or SIGTERM quit at once (the archive stays valid)

`run` exits 0 when stopped by SIGTERM or SIGINT (after sealing the run in progress), and 2
when it cannot start or the state needs a person.

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
    #[command(
        after_help = "Example:\n  evidence-agent collect --config /etc/evidence-agent/agent.toml\n  SOURCE_DATE_EPOCH=1767225600 evidence-agent collect --config agent.toml --json"
    )]
    Collect(CollectArgs),
    /// Run as a daemon: seal a bundle whenever sources are due by their cron schedules, until
    /// SIGTERM or SIGINT.
    #[command(
        after_help = "Example:\n  evidence-agent run --config /etc/evidence-agent/agent.toml --log-format json"
    )]
    Run(ConfigArg),
    /// Check the config without side effects and probe each source (credentials, reachability).
    #[command(
        after_help = "Example:\n  evidence-agent check --config /etc/evidence-agent/agent.toml\n  evidence-agent check --config agent.toml --json | jq .healthy"
    )]
    Check(CollectArgs),
    /// List the ISO/IEC 42001 Annex A controls and the evidence kinds with their default tags.
    #[command(
        after_help = "Example:\n  evidence-agent catalogue\n  evidence-agent catalogue --json | jq '.kinds[].kind'"
    )]
    Catalogue {
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Rebuild the agent's state from the archive (the source of truth) when it is corrupt,
    /// lost or disagrees with the archive; source cursors start from scratch.
    #[command(
        after_help = "Example:\n  evidence-agent repair --config /etc/evidence-agent/agent.toml\n\nThe replaced state is kept beside it as state.json.replaced-<time>. A damaged archive\n(missing or changed bundles) is not repaired: restore the bundles from a backup."
    )]
    Repair(CollectArgs),
    /// Create an Ed25519 signing key (OpenSSH format, mode 0600) and print its allowed_signers
    /// line.
    #[command(
        after_help = "Example:\n  evidence-agent keygen --output keys/agent --principal evidence-agent@example.org >> allowed_signers"
    )]
    Keygen(crate::cosign::KeygenArgs),
    /// Co-sign a run's checkpoint as a person (e.g. the AIMS owner after a review); writes a
    /// sidecar `run-NNNNNN.zip.cosig.<label>.sig`, never modifying the bundle.
    #[command(
        after_help = "Example:\n  evidence-agent cosign --archive /var/lib/evidence-agent/evidence --run 42 --key ~/.ssh/id_ed25519 --label aims-owner"
    )]
    Cosign(crate::cosign::CosignArgs),
}

impl Command {
    /// True when the user asked for JSON on stdout, errors included.
    fn wants_json(&self) -> bool {
        match self {
            Command::Collect(a) | Command::Check(a) | Command::Repair(a) => a.json,
            Command::Catalogue { json } => *json,
            Command::Keygen(a) => a.json,
            Command::Cosign(a) => a.json,
            Command::Run(_) => false,
        }
    }
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
    /// Print the result as one JSON object on stdout (on failure: {"error": {...}}).
    #[arg(long)]
    pub json: bool,
}

/// Run the parsed command and map the outcome to an exit code.
pub fn run(cli: Cli) -> ExitCode {
    let ui = Ui::new(cli.quiet);
    ui.init_logging(cli.log_format, cli.verbose);
    let json = cli.command.wants_json();
    match dispatch(cli, &ui) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // Each cause once: errors that print their source are not followed by it again.
            let error: &(dyn std::error::Error + 'static) = e.as_ref();
            let message = evidence_connectors::redact::error_chain(error);
            eprintln!("evidence-agent: error: {message}");
            if json {
                crate::outln!(
                    "{}",
                    serde_json::json!({"error": {"message": message, "exit_code": EXIT_ERROR}})
                );
            }
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
        Command::Keygen(args) => crate::cosign::keygen(&args),
        Command::Cosign(args) => crate::cosign::cosign(&args),
        Command::Check(args) => {
            let config = AgentConfig::load(&args.config.config)?;
            runtime()?.block_on(crate::check::check(&config, args.json))
        }
        Command::Run(args) => run_daemon(&args, ui),
        Command::Repair(args) => {
            let config = AgentConfig::load(&args.config.config)?;
            let outcome = crate::repair::repair(&config)?;
            print_repair(&outcome, args.json)?;
            Ok(EXIT_OK)
        }
        Command::Collect(args) => {
            let config = AgentConfig::load(&args.config.config)?;
            let rt = runtime()?;
            let shutdown = CancellationToken::new();
            let summary = rt.block_on(async {
                crate::signals::watch(
                    shutdown.clone(),
                    "finishing the current items and sealing what was collected",
                )
                .context("cannot listen for signals")?;
                anyhow::Ok(collect(&config, ui, shutdown).await?)
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

/// `evidence-agent run`: exit 0 after a requested stop; errors (lock, state) exit 2.
fn run_daemon(args: &ConfigArg, ui: &Ui) -> anyhow::Result<u8> {
    let config = AgentConfig::load(&args.config)?;
    let rt = runtime()?;
    let shutdown = CancellationToken::new();
    rt.block_on(async {
        crate::signals::watch(
            shutdown.clone(),
            "the run in progress, if any, seals what its sources staged",
        )
        .context("cannot listen for signals")?;
        anyhow::Ok(crate::run::run(&config, ui, shutdown).await?)
    })?;
    Ok(EXIT_OK)
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
    let failed = s
        .sources
        .iter()
        .filter(|o| o.status != evidence_archive::run_record::SourceStatus::Ok)
        .count();
    if s.items == 0 && failed > 0 {
        crate::outln!(
            "Collected nothing: {failed} source(s) failed or are incomplete (see below); sealed run {} of {} with their gap records.",
            s.run,
            s.origin
        );
    } else if s.items == 0 && s.run == 1 {
        crate::outln!(
            "The sources hold nothing to collect yet; sealed an empty run record as run 1 of {}.",
            s.origin
        );
    } else if s.items == 0 {
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
    crate::outln!(
        "  checkpoint: tree size {}, root {}",
        s.checkpoint.size,
        s.checkpoint.root_base64()
    );
    if let Some(sig) = &s.signing {
        print_signing(sig);
    }
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
            "  source {:<20} {:<8} {} new item(s), {}{gaps}, {}",
            o.name.as_str(),
            status,
            o.items,
            HumanBytes(o.bytes),
            redaction_summary(&o.redaction)
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

fn print_repair(o: &crate::repair::RepairOutcome, json: bool) -> anyhow::Result<()> {
    if json {
        crate::outln!("{}", serde_json::to_string(o)?);
        return Ok(());
    }
    if !o.repaired {
        crate::outln!(
            "The state {} already matches the archive (run {}); nothing to repair.",
            o.state_file.display(),
            o.run
        );
        return Ok(());
    }
    crate::outln!(
        "Rebuilt {} from the archive: it continues from run {}.",
        o.state_file.display(),
        o.run
    );
    if let Some(cp) = &o.checkpoint {
        crate::outln!(
            "  checkpoint: tree size {}, root {}",
            cp.size,
            cp.root_base64()
        );
    }
    for k in &o.kept {
        crate::outln!("  kept:       {} (the state it replaced)", k.display());
    }
    if let Some(r) = &o.reason {
        crate::outln!("  because:    {r}");
    }
    crate::outln!(
        "Source cursors cannot be recovered from bundles: the next run collects every source from scratch."
    );
    Ok(())
}

/// One source's redaction in a few words: what was replaced, under which rules.
fn redaction_summary(r: &evidence_archive::run_record::RedactionPolicy) -> String {
    let classes = match (r.secrets, r.personal) {
        (true, true) => "secrets, personal data",
        (true, false) => "secrets",
        (false, true) => "personal data",
        (false, false) => return "redaction OFF".to_owned(),
    };
    let mut text = format!("{} value(s) redacted ({classes})", r.replaced);
    if r.pseudonymise_actors {
        text.push_str(", actors pseudonymised");
    }
    if r.binary_items > 0 {
        text.push_str(&format!(", {} binary item(s) not scanned", r.binary_items));
    }
    text
}

fn print_signing(sig: &crate::signing::SigningOutcome) {
    use crate::signing::TimestampOutcome;
    if let Some(p) = &sig.repaired {
        crate::outln!(
            "  repaired:   signed the previous run's bundle: {}",
            p.display()
        );
    }
    match (&sig.bundle_signature, &sig.bundle_signature_error) {
        (Some(p), _) => crate::outln!("  signature:  {} (key {})", p.display(), sig.key),
        (None, Some(e)) => crate::outln!("  signature:  MISSING ({e}); the next run writes it"),
        (None, None) => crate::outln!("  signature:  MISSING"),
    }
    match &sig.timestamp {
        TimestampOutcome::NotConfigured => {}
        TimestampOutcome::Stamped { time, url } => {
            crate::outln!("  time stamp: {time} from {url}")
        }
        TimestampOutcome::Untimestamped { attempts, reason } => crate::outln!(
            "  time stamp: NONE after {attempts} attempt(s) ({reason}); sealed untimestamped, see the gap record"
        ),
    }
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
