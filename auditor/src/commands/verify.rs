//! `evidence-auditor verify`: verify an archive directory, one bundle, or every origin's archive
//! under an S3 location, and print the report for a person or as one JSON object. With trust
//! anchors it also checks signatures, time stamps and co-signatures, and an archive against a
//! checkpoint pinned at an earlier audit. Local folders and S3 folders are walked alike: the
//! library verifies a `BundleSource`, whatever stores it.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use evidence_archive::Checkpoint;
use evidence_archive::verify::{
    ArchiveReport, BundleReport, BundleSource, BundleVisitor, Category, LocalDir, NoVisitor,
    Problem, VerifyOptions, render_problems, verify_bundle_with, verify_source,
};
use evidence_store::{ArchiveLocation, ArchiveSource, RemoteArchive, StoreOptions};
use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::exit::{EXIT_FAILED, EXIT_OK};
use crate::outln;
use crate::trust_cmd::{TrustArgs, print_pin, print_trust};

/// Where to find the bucket (credentials come from the standard AWS chain).
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct S3Args {
    /// Endpoint of an S3-compatible store (default: AWS; `AWS_ENDPOINT_URL_S3` also works).
    #[arg(long, value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// Region (default: the AWS chain's, else us-east-1).
    #[arg(long, value_name = "REGION")]
    pub s3_region: Option<String>,
    /// Named profile from the shared AWS config files.
    #[arg(long, value_name = "NAME")]
    pub s3_profile: Option<String>,
}

impl S3Args {
    pub(crate) fn options(&self) -> StoreOptions {
        StoreOptions {
            endpoint_url: self.s3_endpoint.clone(),
            region: self.s3_region.clone(),
            profile: self.s3_profile.clone(),
            ..StoreOptions::default()
        }
    }
}

/// `verify`'s options beyond the path.
#[derive(Debug, Clone, Default, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub trust: TrustArgs,
    /// A checkpoint kept from an earlier audit (`origin`, size and root lines, as --save-checkpoint
    /// writes it): the archive must extend it, or it was rolled back, truncated or forked.
    #[arg(long, value_name = "FILE")]
    pub expect_checkpoint: Option<PathBuf>,
    /// Write the latest verified checkpoint to FILE, to pin it at the next audit.
    #[arg(long, value_name = "FILE")]
    pub save_checkpoint: Option<PathBuf>,
}

impl VerifyArgs {
    /// The verification options: trust anchors loaded, the pinned checkpoint read.
    pub fn options(&self) -> anyhow::Result<VerifyOptions> {
        let mut options = self.trust.load()?.options;
        if let Some(pin) = &self.expect_checkpoint {
            let text = std::fs::read_to_string(pin)
                .with_context(|| format!("cannot read {}", pin.display()))?;
            options.expected_checkpoint =
                Some(Checkpoint::parse(&text).with_context(|| format!("{}", pin.display()))?);
        }
        Ok(options)
    }
}

/// A byte-count progress bar on stderr, drawn only on a terminal.
struct ProgressVisitor {
    bar: ProgressBar,
}

impl ProgressVisitor {
    fn new(total: u64) -> Self {
        let bar = ProgressBar::with_draw_target(
            Some(total),
            if std::io::stderr().is_terminal() {
                ProgressDrawTarget::stderr()
            } else {
                ProgressDrawTarget::hidden()
            },
        );
        bar.set_style(
            ProgressStyle::with_template(
                "verifying [{bar:30.cyan/blue}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        Self { bar }
    }
}

impl BundleVisitor for ProgressVisitor {
    fn bytes_read(&mut self, bytes: u64) {
        self.bar.inc(bytes);
    }
}

/// `evidence-auditor verify`: verify `source` and print the result; the exit code says whether
/// it verified.
pub fn run(
    source: &ArchiveSource,
    json: bool,
    args: &VerifyArgs,
    s3: &S3Args,
) -> anyhow::Result<u8> {
    match source {
        ArchiveSource::S3(location) => run_s3(location, s3, args, json),
        ArchiveSource::Local(path) => verify_with(path, json, args),
    }
}

/// Verify the local `path` (an archive directory or one bundle) and print the result.
pub fn verify(path: &Path, json: bool) -> anyhow::Result<u8> {
    verify_with(path, json, &VerifyArgs::default())
}

/// Verify the local `path` with trust anchors and a pinned checkpoint as `args` say.
pub fn verify_with(path: &Path, json: bool, args: &VerifyArgs) -> anyhow::Result<u8> {
    let options = args.options()?;
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !meta.is_dir() {
        return verify_one_bundle(path, meta.len(), json, args, &options);
    }
    let mut source = LocalDir::new(path);
    let total: u64 = source
        .list()
        .map(|l| l.bundles.iter().map(|b| b.size).sum())
        .unwrap_or(0);
    let mut progress = ProgressVisitor::new(total);
    let report = verify_source(&mut source, &options, &mut progress);
    progress.bar.finish_and_clear();
    if report.bundles.is_empty() && report.problems.iter().any(|p| p.category == Category::Io) {
        bail!("{}", report.problems[0].message);
    }
    if json {
        outln!("{}", serde_json::to_string(&report)?);
    } else {
        print_archive(&report);
    }
    if let (Some(file), Some(cp), true) = (
        &args.save_checkpoint,
        &report.latest_checkpoint,
        report.valid,
    ) {
        save_checkpoint(file, cp, json)?;
    }
    Ok(if report.valid { EXIT_OK } else { EXIT_FAILED })
}

fn verify_one_bundle(
    path: &Path,
    size: u64,
    json: bool,
    args: &VerifyArgs,
    options: &VerifyOptions,
) -> anyhow::Result<u8> {
    if args.expect_checkpoint.is_some() || args.save_checkpoint.is_some() {
        bail!(
            "--expect-checkpoint and --save-checkpoint need an archive directory, not one bundle"
        );
    }
    let mut progress = ProgressVisitor::new(size);
    let report = verify_bundle_with(path, options, &mut progress);
    progress.bar.finish_and_clear();
    let valid = report.is_valid();
    if json {
        let mut v = serde_json::to_value(&report)?;
        v["valid"] = valid.into();
        outln!("{v}");
    } else {
        print_bundle(&report);
        outln!();
        if valid {
            outln!("VALID: the bundle is intact and its log segment is consistent.");
            outln!("(Verify the whole archive directory to check the chain between runs.)");
        } else {
            let errors = report.problems.iter().filter(|p| p.is_error()).count();
            outln!("FAILED: {errors} problem(s).");
        }
    }
    Ok(if valid { EXIT_OK } else { EXIT_FAILED })
}

fn save_checkpoint(file: &Path, cp: &Checkpoint, json: bool) -> anyhow::Result<()> {
    std::fs::write(file, cp.to_text())
        .with_context(|| format!("cannot write {}", file.display()))?;
    if !json {
        outln!("Saved the latest checkpoint to {}.", file.display());
    }
    Ok(())
}

/// Print findings, one a line, after `indent`.
pub(crate) fn print_problems<'a>(problems: impl IntoIterator<Item = &'a Problem>, indent: &str) {
    let text = render_problems(problems, indent, false);
    for line in text.lines() {
        outln!("{line}");
    }
}

fn print_bundle(b: &BundleReport) {
    match &b.summary {
        Some(s) => {
            let status = if b.is_valid() { "ok" } else { "FAILED" };
            let size = s
                .checkpoint
                .as_ref()
                .map_or_else(|| "?".to_owned(), |c| c.size.to_string());
            outln!(
                "  {:<16} {:<7} run {:<5} {:>6} item(s) {:>6} gap(s) {:>10}  tree size {size}",
                b.file,
                status,
                s.seq,
                s.items,
                s.gaps,
                HumanBytes(s.bundle_bytes).to_string(),
            );
        }
        None => outln!("  {:<16} FAILED  (unreadable)", b.file),
    }
    if let Some(t) = &b.trust {
        print_trust(t, "      ");
    }
    print_problems(&b.problems, "      ");
}

/// The human report of one archive.
pub(crate) fn print_archive(r: &ArchiveReport) {
    outln!(
        "Archive {} — origin {}, {} bundle(s)",
        r.path,
        r.origin.as_deref().unwrap_or("?"),
        r.bundles.len()
    );
    for b in &r.bundles {
        print_bundle(b);
    }
    if !r.problems.is_empty() {
        outln!("Archive and chain:");
        print_problems(&r.problems, "      ");
    }
    if let Some(pin) = &r.pin {
        print_pin(pin);
    }
    outln!();
    if r.valid {
        outln!(
            "VALID: every bundle is intact and each run only appended to the log of the one before."
        );
    } else {
        outln!("FAILED: {} problem(s) found.", r.error_count());
    }
    if let Some(cp) = &r.latest_checkpoint {
        outln!("Latest verified checkpoint: {cp}");
    }
}

// ----- S3 -------------------------------------------------------------------------------------

/// The verification of everything under an S3 location.
#[derive(Debug, Clone, Serialize)]
pub struct RemoteReport {
    pub location: String,
    pub valid: bool,
    /// One archive report per origin, in origin order.
    pub origins: Vec<ArchiveReport>,
    /// Findings about the location itself (objects that are not bundles).
    pub problems: Vec<Problem>,
}

/// A connected S3 location and the runtime its transfers run on. The verifier runs on the
/// calling thread, outside the runtime; the sources block on it for each download.
pub(crate) struct S3Session {
    pub(crate) runtime: tokio::runtime::Runtime,
    pub(crate) archive: RemoteArchive,
    pub(crate) listing: evidence_store::RemoteListing,
    pub(crate) scratch: tempfile::TempDir,
}

impl S3Session {
    pub(crate) fn open(location: &ArchiveLocation, s3: &S3Args) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let archive = runtime.block_on(RemoteArchive::connect(location.clone(), s3.options()));
        let listing = runtime
            .block_on(archive.list())
            .with_context(|| format!("cannot list {location}"))?;
        let scratch = tempfile::Builder::new()
            .prefix("evidence-auditor-")
            .tempdir()
            .context("cannot create a temporary folder for downloads")?;
        Ok(Self {
            runtime,
            archive,
            listing,
            scratch,
        })
    }

    /// One source per origin stored under the location.
    pub(crate) fn origins(&self) -> Vec<evidence_store::RemoteOrigin<'_>> {
        self.listing.origins(
            &self.archive,
            self.runtime.handle().clone(),
            self.scratch.path(),
        )
    }
}

/// Verify every origin under `location`, handing the records of each bundle to `visitor`.
/// Memory stays bounded: one bundle is on disk at a time (and 32 bytes per log leaf). A pinned
/// checkpoint in `options` applies to the origin it names; if that origin is not stored under
/// `location` at all, that is an error.
pub fn verify_remote(
    location: &ArchiveLocation,
    s3: &S3Args,
    options: &VerifyOptions,
    visitor: &mut dyn BundleVisitor,
) -> anyhow::Result<RemoteReport> {
    let session = S3Session::open(location, s3)?;
    let label = location.to_string();
    let mut problems = session.listing.foreign_key_problems(&label);
    let mut origins = Vec::new();
    let sources = session.origins();
    if let Some(pin) = &options.expected_checkpoint {
        let slug = evidence_store::origin_slug(&pin.origin);
        if !sources.iter().any(|o| o.slug() == slug) {
            problems.push(Problem::error(
                &label,
                Category::Pin,
                format!(
                    "the pinned checkpoint is for origin {:?}, and no bundle of that origin is stored here: its archive was deleted or moved",
                    pin.origin
                ),
            ));
        }
    }
    for mut source in sources {
        // The pin belongs to one origin; the others are verified without it.
        let mut origin_options = options.clone();
        if let Some(pin) = &options.expected_checkpoint
            && evidence_store::origin_slug(&pin.origin) != source.slug()
        {
            origin_options.expected_checkpoint = None;
        }
        origins.push(verify_source(&mut source, &origin_options, visitor));
    }
    let valid = !origins.is_empty()
        && origins.iter().all(|o| o.valid)
        && !problems.iter().any(Problem::is_error);
    Ok(RemoteReport {
        location: label,
        valid,
        origins,
        problems,
    })
}

/// `evidence-auditor verify s3://…`: verify and print, for a person or as one JSON object.
fn run_s3(
    location: &ArchiveLocation,
    s3: &S3Args,
    args: &VerifyArgs,
    json: bool,
) -> anyhow::Result<u8> {
    let options = args.options()?;
    let report = verify_remote(location, s3, &options, &mut NoVisitor)?;
    if json {
        outln!("{}", serde_json::to_string(&report)?);
    } else {
        outln!(
            "S3 archive {} — {} origin(s)",
            report.location,
            report.origins.len()
        );
        print_problems(&report.problems, "  ");
        for o in &report.origins {
            outln!();
            print_archive(o);
        }
        if report.origins.is_empty() {
            outln!("FAILED: no bundles under {}", report.location);
        }
    }
    if let (Some(file), true) = (&args.save_checkpoint, report.valid) {
        for (path, checkpoint) in checkpoints_to_save(file, &report, &options) {
            save_checkpoint(&path, &checkpoint, json)?;
        }
    }
    Ok(if report.valid { EXIT_OK } else { EXIT_FAILED })
}

/// Where `--save-checkpoint FILE` writes what: the pinned origin's checkpoint, or the only
/// origin's, to FILE; with several origins and no pin, each origin's to `FILE.<origin-slug>`,
/// to pin one at a time at the next audit.
fn checkpoints_to_save(
    file: &Path,
    report: &RemoteReport,
    options: &VerifyOptions,
) -> Vec<(PathBuf, Checkpoint)> {
    let latest = |o: &ArchiveReport| o.latest_checkpoint.clone();
    if let Some(pin) = &options.expected_checkpoint {
        return report
            .origins
            .iter()
            .filter(|o| o.origin.as_deref() == Some(pin.origin.as_str()))
            .filter_map(latest)
            .map(|cp| (file.to_path_buf(), cp))
            .collect();
    }
    if let [only] = report.origins.as_slice() {
        return latest(only)
            .map(|cp| vec![(file.to_path_buf(), cp)])
            .unwrap_or_default();
    }
    report
        .origins
        .iter()
        .filter_map(|o| {
            let origin = o.origin.as_deref()?;
            let mut name = file.as_os_str().to_owned();
            name.push(format!(".{}", evidence_store::origin_slug(origin)));
            Some((PathBuf::from(name), latest(o)?))
        })
        .collect()
}
