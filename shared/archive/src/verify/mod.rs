//! Verifying bundles and archives handed over by someone else, in passes. Bytes are checked by
//! the strict ZIP reader first; then only the exact layout the writer produces is accepted
//! ([`layout`]); then the bag's declaration and metadata ([`bag`]), its manifests
//! ([`manifests`]), every payload digest and record ([`records`]) and the Merkle log ([`log`])
//! are recomputed; then signatures, time stamps and co-signatures ([`trust`]); and an archive's
//! chain and pinned checkpoint ([`archive`]). Every problem found is reported, not only the
//! first; memory does not grow with artefact size.
//!
//! With [`VerifyOptions`] (`verify_*_with`), signatures come first: a bundle whose bytes are not
//! signed by a key in the allowed signers is not parsed at all.
//!
//! The verifier walks a [`BundleSource`] and knows nothing of where bundles are stored.

mod archive;
mod bag;
mod layout;
mod log;
mod manifests;
pub(crate) mod options;
mod read_ahead;
mod records;
pub(crate) mod report;
mod source;
pub(crate) mod trust;
mod visitor;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

pub(crate) use archive::verify_source_full;
pub use archive::{
    VerifiedBundle, assemble_archive_report, verify_archive, verify_archive_with, verify_source,
};
pub use options::VerifyOptions;
pub(crate) use report::Ctx;
pub use report::{
    ArchiveReport, BundleReport, BundleSummary, Category, PinReport, Problem, Severity,
    SignatureReport, TimeStampReport, TrustReport, render_problems,
};
pub use source::{
    BundleSource, Listing, LocalDir, SourceBundle, SourceError, SourceListing, list_bundles,
};
pub use visitor::{BundleVisitor, NoVisitor};

use crate::merkle::Hash;

/// Verify one bundle file on its own: bytes, layout, manifests, records and its log segment.
/// A checkpoint signature it carries is checked with the key it names; nothing is checked
/// against allowed signers or time-stamp roots (see [`verify_bundle_with`]).
pub fn verify_bundle(path: &Path, visitor: &mut dyn BundleVisitor) -> BundleReport {
    verify_bundle_with(path, &VerifyOptions::default(), visitor)
}

/// Verify one bundle file as [`verify_bundle`] does, and its signatures, time stamp and
/// co-signatures as `options` ask. With allowed signers, the bundle's bytes are authenticated
/// against its `.sig` sidecar before anything in it is parsed.
pub fn verify_bundle_with(
    path: &Path,
    options: &VerifyOptions,
    visitor: &mut dyn BundleVisitor,
) -> BundleReport {
    verify_bundle_full(path, options, visitor).0
}

/// A bundle's report and, when its log segment was read, the leaves it appends: what
/// [`assemble_archive_report`] needs to check a pinned checkpoint against bundles verified
/// one at a time.
pub fn verify_bundle_full(
    path: &Path,
    options: &VerifyOptions,
    visitor: &mut dyn BundleVisitor,
) -> (BundleReport, Option<Vec<Hash>>) {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    let mut ctx = Ctx::new(&file_name);
    let mut report_trust = None;
    let mut leaves = None;
    let summary = match File::open(path) {
        Err(e) => {
            ctx.error(
                None,
                Category::Io,
                format!("cannot open {}: {e}", path.display()),
            );
            None
        }
        Ok(mut file) => match trust::authenticate_bundle(path, &mut file, options, &mut ctx) {
            Err(()) => None,
            Ok(bundle_sig) => {
                let mut watch = visitor::GapWatch::new(visitor);
                let parsed = parse_bundle(file, &file_name, &mut ctx, &mut watch);
                let untimestamped = watch.untimestamped();
                parsed.map(|parsed| {
                    report_trust = trust::check_bundle_trust(
                        path,
                        &parsed,
                        bundle_sig,
                        untimestamped,
                        options,
                        &mut ctx,
                    );
                    leaves = Some(parsed.leaves);
                    parsed.summary
                })
            }
        },
    };
    (
        BundleReport {
            file: file_name,
            summary,
            problems: ctx.problems,
            trust: report_trust,
        },
        leaves,
    )
}

/// What the structural passes yield besides findings.
pub(crate) struct Parsed {
    pub(crate) summary: BundleSummary,
    /// The leaves this run appends to the log, in order.
    pub(crate) leaves: Vec<Hash>,
    /// The tag files read, by bag-relative name.
    pub(crate) tags: BTreeMap<&'static str, Vec<u8>>,
}

/// The structural passes over one bundle, in order; `None` when one of them found the bundle
/// unreadable past that point.
fn parse_bundle(
    file: File,
    file_name: &str,
    ctx: &mut Ctx,
    visitor: &mut dyn BundleVisitor,
) -> Option<Parsed> {
    let bundle_bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut opened = layout::open(file, file_name, ctx)?;
    let tags = layout::read_tags(&mut opened, ctx);
    let bag = bag::check(&opened, &tags, ctx)?;
    let payload_entries = layout::payload_entries(&opened, ctx);
    manifests::check_tag_manifest(&tags, ctx);
    let manifest = manifests::check_payload_manifest(&opened, &tags, &bag, &payload_entries, ctx)?;
    let start = log::start(opened.seq, &tags, &bag, ctx);
    let payload_files = payload_entries.len() as u64;
    let payload_bytes: u64 = payload_entries
        .iter()
        .map(|(_, i)| opened.entries[*i].size)
        .sum();
    let mut payload = records::stream(
        &mut opened,
        payload_entries,
        &manifest.manifest,
        visitor,
        ctx,
    );
    let seq = opened.seq;
    let leaf_base = start.frontier.size();
    records::check_items(
        &mut payload,
        &manifest.manifest,
        leaf_base,
        seq,
        visitor,
        ctx,
    );
    let end = log::end(&opened, &tags, &bag, &manifest, &payload, &start, ctx);
    records::check_run_record(&payload, seq, &bag.info.origin, visitor, ctx);
    let summary = BundleSummary {
        file: file_name.to_owned(),
        seq,
        origin: bag.info.origin.clone(),
        collected_at: bag.info.collected_at,
        checkpoint: end.checkpoint,
        previous_checkpoint: start.previous,
        items: payload.items_seen,
        payload_files,
        payload_bytes,
        gaps: payload.gaps,
        bundle_bytes,
        format_version: bag.info.format_version.clone(),
        frontier: end.frontier,
    };
    Some(Parsed {
        summary,
        leaves: end.leaves,
        tags: tags.bytes,
    })
}
