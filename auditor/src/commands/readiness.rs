//! `evidence-auditor readiness`: over an engagement file, or over an archive directory verified
//! first exactly as `verify` does (same trust options) and ingested into a temporary engagement,
//! print the readiness at `--as-of` and write its CSV, XLSX and HTML forms.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, anyhow, bail};
use clap::Args;
use evidence_archive::verify::LocalDir;
use evidence_model::Timestamp;
use evidence_store::ArchiveSource;

use crate::engagement::EngagementError;
use crate::engagement::db::Engagement;
use crate::engagement::ingest;
use crate::exit::{EXIT_FAILED, EXIT_OK};
use crate::readiness::compute::Overrides;
use crate::readiness::load::SoaSource;
use crate::readiness::{self, render};

#[derive(Debug, Args)]
pub struct ReadinessArgs {
    /// An archive directory: verified first (as `verify` does, with the same trust options),
    /// then read through a temporary engagement. Give it or `--engagement`.
    #[arg(value_name = "ARCHIVE", required_unless_present = "engagement")]
    pub archive: Option<ArchiveSource>,
    /// An engagement file (`evidence-auditor ingest` writes it) instead of an archive.
    #[arg(long, short = 'e', value_name = "FILE", conflicts_with = "archive")]
    pub engagement: Option<PathBuf>,
    /// The date the statuses are computed at (`2026-12-31`, midnight UTC, or an RFC 3339
    /// time); default now. Evidence newer than it is ignored.
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<String>,
    /// Also compute at this earlier date and list what changed since (new, refreshed and newly
    /// stale rows): the surveillance view.
    #[arg(long, value_name = "DATE")]
    pub compare_as_of: Option<String>,
    /// A readiness config (TOML): `[cadence]` per control or clause id, `[kind_cadence]` per
    /// evidence kind, e.g. `"A.6.2.4" = "quarterly"`.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Override a cadence: `A.6.2.4=90d`, `9.3.3=yearly`, `pr_approval=continuous` (repeatable;
    /// wins over the config and the SoA).
    #[arg(long, value_name = "ID=CADENCE")]
    pub cadence: Vec<String>,
    /// Write the self-contained HTML page here.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write the requirements view as CSV here.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Write every view (requirements, Stage 1, findings, gaps, changes) as XLSX here.
    #[arg(long, value_name = "FILE")]
    pub xlsx: Option<PathBuf>,
    /// Print one JSON document instead of the table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub verify: crate::commands::verify::VerifyArgs,
}

/// A date (`2026-01-01`, midnight UTC) or an RFC 3339 time.
fn parse_time(text: &str, what: &str) -> anyhow::Result<Timestamp> {
    if let Ok(t) = text.parse::<Timestamp>() {
        return Ok(t);
    }
    let date: jiff::civil::Date = text.parse().map_err(|_| {
        anyhow!("{what}: {text:?} is neither a date (2026-01-31) nor an RFC 3339 time")
    })?;
    Ok(date
        .to_zoned(jiff::tz::TimeZone::UTC)
        .map_err(|e| anyhow!("{what}: {e}"))?
        .timestamp())
}

fn overrides(a: &ReadinessArgs) -> anyhow::Result<Overrides> {
    let mut o = match &a.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            readiness::parse_config(&text).map_err(|e| anyhow!("{}: {e}", path.display()))?
        }
        None => Overrides::default(),
    };
    let cat = evidence_model::Catalogue::iso42001();
    for spec in &a.cadence {
        let (id, c) = spec
            .split_once('=')
            .ok_or_else(|| anyhow!("--cadence {spec:?}: expected ID=CADENCE, e.g. A.6.2.4=90d"))?;
        let c = c.parse().map_err(|e| anyhow!("--cadence {spec:?}: {e}"))?;
        if cat.control(id).is_some() || cat.clause(id).is_some() {
            o.by_id.insert(id.to_owned(), c);
        } else if cat.kind(id).is_some() {
            o.by_kind.insert(id.to_owned(), c);
        } else {
            bail!(
                "--cadence {spec:?}: {id:?} is not a control, clause or evidence kind of the catalogue"
            );
        }
    }
    Ok(o)
}

/// Run `readiness`.
pub fn run(a: &ReadinessArgs) -> anyhow::Result<u8> {
    let now = {
        let t = Timestamp::now();
        Timestamp::from_second(t.as_second()).unwrap_or(t)
    };
    let as_of = match &a.as_of {
        Some(t) => parse_time(t, "--as-of")?,
        None => now,
    };
    let compare = a
        .compare_as_of
        .as_deref()
        .map(|t| parse_time(t, "--compare-as-of"))
        .transpose()?;
    if compare.is_some_and(|c| c >= as_of) {
        bail!("--compare-as-of must be earlier than --as-of");
    }
    let overrides = overrides(a)?;

    // The engagement, and the archive directory of each origin for the prove commands.
    let _temp;
    let (e, soa_source, archives) = match (&a.archive, &a.engagement) {
        (Some(ArchiveSource::S3(location)), _) => bail!(
            "readiness reads a local archive directory or an engagement; for {location} run `evidence-auditor ingest {location} -e FILE` and then `readiness -e FILE`"
        ),
        (Some(ArchiveSource::Local(archive)), _) => {
            if !archive.is_dir() {
                bail!(
                    "{} is not an archive directory (the directory of run-NNNNNN.zip bundles)",
                    archive.display()
                );
            }
            let options = a.verify.options()?;
            let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
            let mut e = Engagement::create(&dir.path().join("readiness.engagement"))?;
            match ingest::ingest(&mut e, &mut LocalDir::new(archive), &options, now) {
                Ok(_) => {}
                Err(EngagementError::Verification { report, .. }) => {
                    if a.json {
                        crate::outln!("{}", serde_json::to_string(&report)?);
                    } else {
                        crate::commands::verify::print_archive(&report);
                        eprintln!(
                            "evidence-auditor: the archive does not verify; no readiness is computed from it"
                        );
                    }
                    return Ok(EXIT_FAILED);
                }
                Err(other) => return Err(other.into()),
            }
            if let Some(file) = &a.verify.save_checkpoint
                && let Some((_, _, checkpoint)) = e.origins()?.into_iter().next()
            {
                std::fs::write(file, checkpoint)
                    .with_context(|| format!("cannot write {}", file.display()))?;
            }
            let archives: BTreeMap<String, String> = e
                .origins()?
                .into_iter()
                .map(|(o, _, _)| (o, archive.display().to_string()))
                .collect();
            _temp = dir;
            (e, SoaSource::ArchiveAt(archive.clone()), archives)
        }
        (None, Some(file)) => {
            let e = Engagement::open(file)?;
            let archives = e.readiness_archives()?;
            (e, SoaSource::Archive, archives)
        }
        (None, None) => bail!("give an archive directory or --engagement FILE"),
    };

    let report = readiness::report(&e, as_of, compare, &overrides, &soa_source)?;
    if let Some(path) = &a.html {
        let page = render::html(&report, &archives)?;
        crate::engagement::export::write_document(path, page.as_bytes())?;
    }
    if let Some(path) = &a.csv {
        render::write_csv(path, &report)?;
    }
    if let Some(path) = &a.xlsx {
        render::write_xlsx(path, &report)?;
    }
    if a.json {
        crate::outln!("{}", serde_json::to_string(&report)?);
    } else {
        let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        let text = render::terminal(&report, colour);
        for line in text.lines() {
            crate::outln!("{line}");
        }
        for (what, path) in [("page", &a.html), ("CSV", &a.csv), ("XLSX", &a.xlsx)] {
            if let Some(p) = path {
                crate::outln!("Wrote the readiness {what} to {}.", p.display());
            }
        }
    }
    Ok(EXIT_OK)
}
