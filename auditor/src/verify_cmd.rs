//! `evidence-auditor verify`: verify an archive directory or one bundle and print the report,
//! for a person or as one JSON object. With trust anchors it also checks signatures, time
//! stamps and co-signatures, and an archive against a checkpoint pinned at an earlier audit.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use std::io::IsTerminal;

use clap::Args;
use evidence_archive::Checkpoint;
use evidence_archive::trust::VerifyOptions;
use evidence_archive::verify::{
    ArchiveReport, BundleReport, BundleVisitor, Problem, Severity, verify_archive_with,
    verify_bundle_with,
};
use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};

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

use crate::exit::{EXIT_FAILED, EXIT_OK};
use crate::trust_cmd::{TrustArgs, print_pin, print_trust};

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

/// Verify `path` and print the result; the exit code says whether it verified.
pub fn verify(path: &Path, json: bool) -> anyhow::Result<u8> {
    verify_with(path, json, &VerifyArgs::default())
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

/// Verify `path` with trust anchors and a pinned checkpoint as `args` say.
pub fn verify_with(path: &Path, json: bool, args: &VerifyArgs) -> anyhow::Result<u8> {
    let options = args.options()?;
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.is_dir() {
        let total: u64 = evidence_archive::verify::list_bundles(path)
            .map(|l| {
                l.bundles
                    .iter()
                    .filter_map(|(_, p)| std::fs::metadata(p).ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0);
        let mut progress = ProgressVisitor::new(total);
        let report = verify_archive_with(path, &options, &mut progress);
        progress.bar.finish_and_clear();
        if report.bundles.is_empty() && report.problems.iter().any(|p| p.category == "io") {
            bail!("{}", report.problems[0].message);
        }
        if json {
            crate::outln!("{}", serde_json::to_string(&report)?);
        } else {
            print_archive(&report);
        }
        if let (Some(file), Some(cp), true) = (
            &args.save_checkpoint,
            &report.latest_checkpoint,
            report.valid,
        ) {
            std::fs::write(file, cp).with_context(|| format!("cannot write {}", file.display()))?;
            if !json {
                crate::outln!("Saved the latest checkpoint to {}.", file.display());
            }
        }
        Ok(if report.valid { EXIT_OK } else { EXIT_FAILED })
    } else {
        if args.expect_checkpoint.is_some() || args.save_checkpoint.is_some() {
            bail!(
                "--expect-checkpoint and --save-checkpoint need an archive directory, not one bundle"
            );
        }
        let mut progress = ProgressVisitor::new(meta.len());
        let report = verify_bundle_with(path, &options, &mut progress);
        progress.bar.finish_and_clear();
        let valid = report.is_valid();
        if json {
            let mut v = serde_json::to_value(&report)?;
            v["valid"] = valid.into();
            crate::outln!("{v}");
        } else {
            print_bundle(&report);
            crate::outln!();
            if valid {
                crate::outln!("VALID: the bundle is intact and its log segment is consistent.");
                crate::outln!(
                    "(Verify the whole archive directory to check the chain between runs.)"
                );
            } else {
                crate::outln!("FAILED: {} problem(s).", errors(&report.problems));
            }
        }
        Ok(if valid { EXIT_OK } else { EXIT_FAILED })
    }
}

fn errors(problems: &[Problem]) -> usize {
    problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .count()
}

pub(crate) fn print_problem(p: &Problem, indent: &str) {
    let mark = match p.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    match &p.entry {
        Some(entry) => crate::outln!("{indent}{mark}: {entry}: {}", p.message),
        None => crate::outln!("{indent}{mark}: {}", p.message),
    }
}

fn print_bundle(b: &BundleReport) {
    match &b.summary {
        Some(s) => {
            let status = if b.is_valid() { "ok" } else { "FAILED" };
            let size = s.checkpoint.lines().nth(1).unwrap_or("?");
            crate::outln!(
                "  {:<16} {:<7} run {:<5} {:>6} item(s) {:>6} gap(s) {:>10}  tree size {size}",
                b.file,
                status,
                s.seq,
                s.items,
                s.gaps,
                HumanBytes(s.bundle_bytes).to_string(),
            );
        }
        None => crate::outln!("  {:<16} FAILED  (unreadable)", b.file),
    }
    if let Some(t) = &b.trust {
        print_trust(t, "      ");
    }
    for p in &b.problems {
        print_problem(p, "      ");
    }
}

pub(crate) fn print_archive(r: &ArchiveReport) {
    crate::outln!(
        "Archive {} — origin {}, {} bundle(s)",
        r.path,
        r.origin.as_deref().unwrap_or("?"),
        r.bundles.len()
    );
    for b in &r.bundles {
        print_bundle(b);
    }
    if !r.problems.is_empty() {
        crate::outln!("Archive and chain:");
        for p in &r.problems {
            print_problem(p, "      ");
        }
    }
    if let Some(pin) = &r.pin {
        print_pin(pin);
    }
    crate::outln!();
    let total = r
        .all_problems()
        .filter(|p| p.severity == Severity::Error)
        .count();
    if r.valid {
        crate::outln!(
            "VALID: every bundle is intact and each run only appended to the log of the one before."
        );
    } else {
        crate::outln!("FAILED: {total} problem(s) found.");
    }
    if let Some(cp) = &r.latest_checkpoint {
        let mut lines = cp.lines();
        let origin = lines.next().unwrap_or("");
        let size = lines.next().unwrap_or("");
        let root = lines.next().unwrap_or("");
        crate::outln!("Latest verified checkpoint: {origin}, tree size {size}, root {root}");
    }
}
