//! The chain pass: an archive is its bundles verified one by one, walked from a
//! [`BundleSource`], then the chain between them (no run missing, one origin, each run continuing
//! from the checkpoint of the one before) and, with a pinned checkpoint, that the archive
//! extends it.

use std::path::Path;

use super::options::VerifyOptions;
use super::report::{ArchiveReport, BundleReport, BundleSummary, Category, Problem};
use super::source::{BundleSource, LocalDir};
use super::trust;
use super::verify_bundle_full;
use super::visitor::BundleVisitor;
use crate::merkle::Hash;

/// One bundle verified on its own, for [`assemble_archive_report`]: its run number, its
/// report, and the leaves it appends (from [`verify_bundle_full`]).
pub type VerifiedBundle = (u64, BundleReport, Option<Vec<Hash>>);

/// Verify every bundle of an archive directory and the chain that links them.
pub fn verify_archive(dir: &Path, visitor: &mut dyn BundleVisitor) -> ArchiveReport {
    verify_archive_with(dir, &VerifyOptions::default(), visitor)
}

/// Verify an archive as [`verify_archive`] does, each bundle as
/// [`verify_bundle_with`](super::verify_bundle_with) does, and, with a pinned checkpoint in
/// `options`, that the archive extends it.
pub fn verify_archive_with(
    dir: &Path,
    options: &VerifyOptions,
    visitor: &mut dyn BundleVisitor,
) -> ArchiveReport {
    verify_source(&mut LocalDir::new(dir), options, visitor)
}

/// Verify the archive `source` holds, wherever it is stored: each bundle as
/// [`verify_bundle_with`](super::verify_bundle_with) does, the chain between them, and a pinned
/// checkpoint in `options`.
pub fn verify_source(
    source: &mut dyn BundleSource,
    options: &VerifyOptions,
    visitor: &mut dyn BundleVisitor,
) -> ArchiveReport {
    // The whole log's leaves (32 bytes per payload file) are kept only to check a pin.
    let keep_leaves = options.expected_checkpoint.is_some();
    verify_source_full(source, options, visitor, keep_leaves).0
}

/// An archive's report and, with `keep_leaves`, the leaves of its whole log, when every
/// bundle's were read and the archive has no error. Without `keep_leaves` memory does not grow
/// with the archive, and a pinned checkpoint in `options` cannot be checked.
pub(crate) fn verify_source_full(
    source: &mut dyn BundleSource,
    options: &VerifyOptions,
    visitor: &mut dyn BundleVisitor,
    keep_leaves: bool,
) -> (ArchiveReport, Option<Vec<Hash>>) {
    let label = source.label();
    let listing = match source.list() {
        Ok(l) => l,
        Err(e) => {
            let mut report = ArchiveReport::new(&label);
            report
                .problems
                .push(Problem::error(&label, Category::Io, e.to_string()));
            return (report, None);
        }
    };
    let mut verified: Vec<VerifiedBundle> = Vec::new();
    for b in &listing.bundles {
        let (mut bundle, leaves) = match source.fetch(b) {
            Ok(path) => {
                let r = verify_bundle_full(&path, options, visitor);
                source.release(b);
                r
            }
            Err(e) => (
                BundleReport::unreadable(&b.name, Category::Io, e.to_string()),
                None,
            ),
        };
        bundle.file = b.name.clone();
        if let (Some(s), Some(o)) = (&bundle.summary, &listing.origin)
            && &s.origin != o
        {
            bundle.problems.push(Problem::error(
                &b.name,
                Category::Chain,
                format!(
                    "the bundle belongs to origin {:?}, but is stored in the folder of {o:?}",
                    s.origin
                ),
            ));
        }
        verified.push((b.seq, bundle, leaves.filter(|_| keep_leaves)));
    }
    assemble(&label, verified, listing.problems, options)
}

/// Assemble the report of an archive whose bundles were verified one at a time elsewhere:
/// checks the chain between them, in sequence order, and, with a pinned checkpoint in
/// `options`, that the archive extends it. `path` names the archive; `problems` are its own
/// findings so far.
pub fn assemble_archive_report(
    path: &str,
    bundles: Vec<VerifiedBundle>,
    problems: Vec<Problem>,
    options: &VerifyOptions,
) -> ArchiveReport {
    assemble(path, bundles, problems, options).0
}

fn assemble(
    path: &str,
    mut bundles: Vec<VerifiedBundle>,
    problems: Vec<Problem>,
    options: &VerifyOptions,
) -> (ArchiveReport, Option<Vec<Hash>>) {
    bundles.sort_by_key(|(seq, _, _)| *seq);
    let mut report = ArchiveReport::new(path);
    report.problems = problems;
    if bundles.is_empty() {
        report.problems.push(Problem::error(
            path,
            Category::Chain,
            "no bundles (run-NNNNNN.zip) in this archive",
        ));
        return (report, None);
    }
    let seqs: Vec<u64> = bundles.iter().map(|(seq, _, _)| *seq).collect();
    let mut all_leaves = Some(Vec::new());
    for (_, bundle, leaves) in bundles {
        report.bundles.push(bundle);
        match (&mut all_leaves, leaves) {
            (Some(all), Some(l)) => all.extend(l),
            _ => all_leaves = None,
        }
    }
    check_chain(&mut report, &seqs);
    let leaves = finish(&mut report, all_leaves, options);
    (report, leaves)
}

/// After the chain check: drop the leaves of an archive with errors, check the pinned
/// checkpoint if `options` has one, and decide validity. Returns the leaves still trusted.
fn finish(
    report: &mut ArchiveReport,
    mut all_leaves: Option<Vec<Hash>>,
    options: &VerifyOptions,
) -> Option<Vec<Hash>> {
    if report.error_count() > 0 {
        all_leaves = None;
    }
    if let Some(pinned) = &options.expected_checkpoint {
        let (pin, problems) = trust::check_pin(pinned, report, all_leaves.as_deref());
        report.pin = Some(pin);
        let path = report.path.clone();
        report.problems.extend(
            problems
                .into_iter()
                .map(|message| Problem::error(&path, Category::Pin, message)),
        );
    }
    report.valid = report.error_count() == 0;
    all_leaves
}

/// No run missing, one origin, each run continuing from the checkpoint of the one before; the
/// latest checkpoint is that of the last valid run of the unbroken chain from run 1.
fn check_chain(report: &mut ArchiveReport, seqs: &[u64]) {
    let path = report.path.clone();
    let chain = |message: String| Problem::error(&path, Category::Chain, message);
    let mut expected = 1u64;
    for seq in seqs {
        if *seq > expected {
            let missing = if *seq == expected + 1 {
                format!("run {expected} is missing")
            } else {
                format!("runs {expected} to {} are missing", seq - 1)
            };
            report.problems.push(chain(missing));
        }
        expected = seq + 1;
    }
    let mut previous: Option<&BundleSummary> = None;
    let mut previous_seq = 0u64;
    let mut unbroken = true;
    for (b, &seq) in report.bundles.iter().zip(seqs) {
        let Some(s) = &b.summary else {
            unbroken = false;
            previous = None;
            previous_seq = seq;
            continue;
        };
        match &report.origin {
            Some(origin) if &s.origin != origin => report.problems.push(chain(format!(
                "{} belongs to origin {:?}, the archive to {origin:?}",
                b.file, s.origin
            ))),
            Some(_) => {}
            None => report.origin = Some(s.origin.clone()),
        }
        match previous {
            Some(p) if previous_seq + 1 == seq => {
                if s.previous_checkpoint.is_none() || s.previous_checkpoint != p.checkpoint {
                    unbroken = false;
                    report.problems.push(chain(format!(
                        "{} does not continue from {}: its previous checkpoint differs (a run was replaced, reordered or rewritten)",
                        b.file, p.file
                    )));
                }
            }
            _ => {
                if seq != 1 || previous_seq != 0 {
                    unbroken = false;
                }
            }
        }
        if !b.is_valid() {
            unbroken = false;
        }
        if unbroken {
            report.latest_checkpoint = s.checkpoint.clone();
        }
        previous = Some(s);
        previous_seq = seq;
    }
}
