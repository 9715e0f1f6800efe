//! Verifying bundles and archives handed over by someone else. Bytes are checked by the strict
//! ZIP reader first; then only the exact layout the writer produces is accepted; then every
//! digest, the bag's manifests, the item records and the Merkle log are recomputed. Every
//! problem found is reported, not only the first; memory does not grow with artefact size.
//!
//! With [`VerifyOptions`] (`verify_*_with`), signatures come first: a bundle whose bytes are not
//! signed by a key in the allowed signers is not parsed at all. Then the checkpoint signature,
//! its time stamp and any co-signatures are checked ([`crate::trust`]), and an archive is
//! checked against a checkpoint the verifier pinned earlier.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};

use evidence_model::item::ITEM_SCHEMA;
use evidence_model::records::{GAP_SCHEMA, POPULATION_SCHEMA};
use evidence_model::{Catalogue, GapRecord, ItemMeta, PopulationRecord, Sha256Digest};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::bag::{BagInfo, Manifest};
use crate::layout::{self, PayloadPath};
use crate::log::{Checkpoint, payload_leaf, run_leaf};
use crate::merkle::{self, Frontier, Hash};
use crate::run_record::{RUN_SCHEMA, RunRecord};
use crate::seal::ConsistencyProofDoc;
use crate::strict_zip::{Limits, StrictZip, ZipEntry};
use crate::trust::{self, PinReport, TrustReport, VerifyOptions};

/// Largest tag file or JSON record read into memory.
const MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;
/// Largest manifest read into memory.
const MAX_MANIFEST_BYTES: usize = 512 * 1024 * 1024;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing; the archive still verifies.
    Warning,
    /// Verification fails.
    Error,
}

/// One finding, located as precisely as possible.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub severity: Severity,
    /// The bundle file, or the archive directory for chain problems.
    pub file: String,
    /// The entry inside the bundle, when the problem is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry: Option<String>,
    /// A short category, stable for scripts: `zip`, `layout`, `digest`, `manifest`, `record`,
    /// `log`, `chain`, `version`, `io`, `signature`, `timestamp`, `pin`.
    pub category: &'static str,
    pub message: String,
}

/// What a verified bundle holds, for summaries and for chaining.
#[derive(Debug, Clone, Serialize)]
pub struct BundleSummary {
    pub file: String,
    pub seq: u64,
    pub origin: String,
    pub collected_at: evidence_model::Timestamp,
    pub checkpoint: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_checkpoint: Option<String>,
    pub items: u64,
    pub payload_files: u64,
    pub payload_bytes: u64,
    pub gaps: u64,
    pub bundle_bytes: u64,
    /// `Evidence-Format-Version`: 1.0, or 1.1 for a signed bundle.
    pub format_version: String,
    /// The log's frontier after this run's leaves, as recomputed from the bundle: with the
    /// checkpoint, what an agent needs to continue the log (`evidence-agent repair`).
    #[serde(skip)]
    pub frontier: Frontier,
}

/// Receives the records of a bundle as they are verified (the auditor's ingest uses this).
/// Records are handed over only from bundles whose bytes checked out so far; callers must still
/// discard everything when the final report has errors.
pub trait BundleVisitor {
    fn item(&mut self, _bundle_seq: u64, _leaf_index: u64, _meta: &ItemMeta) {}
    fn population(&mut self, _bundle_seq: u64, _record: &PopulationRecord) {}
    fn gap(&mut self, _bundle_seq: u64, _record: &GapRecord) {}
    fn run(&mut self, _record: &RunRecord) {}
    /// `bytes` more of the bundle's payload were read (for progress displays).
    fn bytes_read(&mut self, _bytes: u64) {}
}

/// A visitor that ignores everything.
#[derive(Debug, Default)]
pub struct NoVisitor;
impl BundleVisitor for NoVisitor {}

/// The result of verifying one bundle.
#[derive(Debug, Clone, Serialize)]
pub struct BundleReport {
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<BundleSummary>,
    pub problems: Vec<Problem>,
    /// Signatures, time stamp and co-signatures, when the bundle has any or they were checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trust: Option<TrustReport>,
}

impl BundleReport {
    /// True when no error was found.
    pub fn is_valid(&self) -> bool {
        self.summary.is_some() && !self.problems.iter().any(|p| p.severity == Severity::Error)
    }
}

/// The result of verifying an archive directory.
#[derive(Debug, Clone, Serialize)]
pub struct ArchiveReport {
    pub path: String,
    pub valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// The checkpoint of the last valid run of an unbroken chain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest_checkpoint: Option<String>,
    pub bundles: Vec<BundleReport>,
    /// Chain and directory problems (bundle problems are in `bundles`).
    pub problems: Vec<Problem>,
    /// How the archive relates to a checkpoint pinned by the verifier, when one was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin: Option<PinReport>,
}

impl ArchiveReport {
    /// Every problem: the archive's own, then each bundle's.
    pub fn all_problems(&self) -> impl Iterator<Item = &Problem> {
        self.problems
            .iter()
            .chain(self.bundles.iter().flat_map(|b| b.problems.iter()))
    }
}

pub(crate) struct Ctx {
    file: String,
    pub(crate) problems: Vec<Problem>,
}

impl Ctx {
    pub(crate) fn new(file: &str) -> Self {
        Self {
            file: file.to_owned(),
            problems: Vec::new(),
        }
    }

    pub(crate) fn warning(
        &mut self,
        entry: Option<&str>,
        category: &'static str,
        message: impl Into<String>,
    ) {
        self.problems.push(Problem {
            severity: Severity::Warning,
            file: self.file.clone(),
            entry: entry.map(str::to_owned),
            category,
            message: message.into(),
        });
    }

    pub(crate) fn error(
        &mut self,
        entry: Option<&str>,
        category: &'static str,
        message: impl Into<String>,
    ) {
        self.problems.push(Problem {
            severity: Severity::Error,
            file: self.file.clone(),
            entry: entry.map(str::to_owned),
            category,
            message: message.into(),
        });
    }
}

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
            ctx.error(None, "io", format!("cannot open {}: {e}", path.display()));
            None
        }
        Ok(mut file) => {
            let bundle_sig = trust::authenticate_bundle(path, &mut file, options, &mut ctx);
            match bundle_sig {
                Err(()) => None,
                Ok(bundle_sig) => {
                    let mut tv = trust::GapWatch::new(visitor);
                    let inner = verify_bundle_inner(file, &file_name, &mut ctx, &mut tv);
                    let untimestamped = tv.untimestamped();
                    inner.map(|inner| {
                        report_trust = trust::check_bundle_trust(
                            path,
                            &inner,
                            bundle_sig,
                            untimestamped,
                            options,
                            &mut ctx,
                        );
                        leaves = Some(inner.leaves);
                        inner.summary
                    })
                }
            }
        }
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

/// What parsing a bundle yields besides findings.
pub(crate) struct Inner {
    pub(crate) summary: BundleSummary,
    /// The leaves this run appends to the log, in order.
    pub(crate) leaves: Vec<Hash>,
    /// The tag files read, by bag-relative name.
    pub(crate) tags: BTreeMap<&'static str, Vec<u8>>,
}

fn verify_bundle_inner(
    file: File,
    file_name: &str,
    ctx: &mut Ctx,
    visitor: &mut dyn BundleVisitor,
) -> Option<Inner> {
    let bundle_bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
    // Entries are read one after the other, each after a seek that empties the buffer: a small
    // buffer keeps a 200-byte record from costing a 1 MiB read.
    let reader = BufReader::with_capacity(64 * 1024, file);
    let mut zip = match StrictZip::open(reader, Limits::default()) {
        Ok(z) => z,
        Err(problems) => {
            for p in problems {
                ctx.error(None, "zip", p.to_string());
            }
            return None;
        }
    };
    let entries: Vec<ZipEntry> = zip.entries().to_vec();

    // Layout: one top directory `run-NNNNNN/` whose number matches the file name.
    let Some(top) = entries
        .first()
        .and_then(|e| e.name.split('/').next())
        .map(str::to_owned)
    else {
        ctx.error(None, "layout", "the bundle is empty");
        return None;
    };
    let Some(seq) = layout::parse_bag_dir(&top) else {
        ctx.error(
            None,
            "layout",
            format!("top directory {top:?} is not run-NNNNNN"),
        );
        return None;
    };
    if let Some(file_seq) = layout::parse_bundle_file_name(file_name)
        && file_seq != seq
    {
        ctx.error(
            None,
            "layout",
            format!(
                "the file is named for run {file_seq} but holds run {seq} (renamed or reordered)"
            ),
        );
    }
    let prefix = format!("{top}/");
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    for (i, e) in entries.iter().enumerate() {
        match e.name.strip_prefix(&prefix) {
            Some(rel) if !rel.is_empty() => {
                index.insert(rel.to_owned(), i);
            }
            _ => ctx.error(
                Some(&e.name),
                "layout",
                format!("entry outside the top directory {top}/"),
            ),
        }
    }

    // Tag files, small, read by position before the payload is streamed.
    let mut tag_bytes: BTreeMap<&'static str, Vec<u8>> = BTreeMap::new();
    for &name in layout::TAG_FILES
        .iter()
        .chain([layout::TAG_MANIFEST].iter())
    {
        if let Some(&i) = index.get(name) {
            let max = if name == layout::MANIFEST {
                MAX_MANIFEST_BYTES
            } else {
                MAX_RECORD_BYTES
            };
            match zip.read_small(i, max) {
                Ok(b) => {
                    tag_bytes.insert(name, b);
                }
                Err(e) => ctx.error(Some(&entries[i].name), "zip", e.to_string()),
            }
        }
    }
    let text = |name: &'static str, ctx: &mut Ctx| -> Option<String> {
        let bytes = tag_bytes.get(name)?;
        match String::from_utf8(bytes.clone()) {
            Ok(s) => Some(s),
            Err(_) => {
                ctx.error(Some(name), "layout", "not UTF-8");
                None
            }
        }
    };

    // bag-info first: an unknown format version stops here with a clear message.
    let Some(info_text) = text(layout::BAG_INFO, ctx) else {
        ctx.error(Some(layout::BAG_INFO), "layout", "bag-info.txt is missing");
        return None;
    };
    let info = match BagInfo::parse(&info_text) {
        Ok(i) => i,
        Err(e @ crate::bag::BagTextError::UnknownVersion { .. }) => {
            ctx.error(Some(layout::BAG_INFO), "version", e.to_string());
            return None;
        }
        Err(e) => {
            ctx.error(Some(layout::BAG_INFO), "layout", e.to_string());
            return None;
        }
    };
    if info.run != seq {
        ctx.error(
            Some(layout::BAG_INFO),
            "layout",
            format!("Evidence-Run is {} but the bag is {top}", info.run),
        );
    }
    let signed = info.format_version == layout::FORMAT_VERSION_SIGNED;
    for name in layout::SIGNATURE_TAG_FILES {
        if !signed && index.contains_key(*name) {
            ctx.error(
                Some(name),
                "layout",
                format!(
                    "signature files belong to format {}; this bundle says {}",
                    layout::FORMAT_VERSION_SIGNED,
                    info.format_version
                ),
            );
        }
    }
    if signed && !index.contains_key(layout::CHECKPOINT_SIG) {
        ctx.error(
            Some(layout::CHECKPOINT_SIG),
            "signature",
            format!(
                "missing: a format {} bundle carries its checkpoint signature",
                layout::FORMAT_VERSION_SIGNED
            ),
        );
    }
    match text(layout::BAGIT, ctx) {
        Some(t) if t == layout::BAGIT_TXT => {}
        Some(_) => ctx.error(
            Some(layout::BAGIT),
            "layout",
            "bagit.txt is not the BagIt 1.0 declaration",
        ),
        None => ctx.error(Some(layout::BAGIT), "layout", "bagit.txt is missing"),
    }

    // Every entry is a known tag file, the tag manifest, or a payload file.
    let mut payload_entries: Vec<(&str, usize)> = Vec::new();
    for (rel, &i) in &index {
        if rel.starts_with("data/") {
            payload_entries.push((rel.as_str(), i));
        } else if !layout::TAG_FILES.contains(&rel.as_str()) && rel != layout::TAG_MANIFEST {
            ctx.error(
                Some(&entries[i].name),
                "layout",
                "unexpected file in the bag",
            );
        }
    }

    // Tag manifest: lists exactly the tag files present, with their digests.
    let tag_manifest = text(layout::TAG_MANIFEST, ctx).and_then(|t| {
        Manifest::parse(&t, layout::TAG_MANIFEST)
            .map_err(|e| ctx.error(Some(layout::TAG_MANIFEST), "manifest", e.to_string()))
            .ok()
    });
    match &tag_manifest {
        None => ctx.error(
            Some(layout::TAG_MANIFEST),
            "manifest",
            "tagmanifest-sha256.txt is missing or unreadable",
        ),
        Some(tm) => {
            let present: BTreeSet<&str> = tag_bytes
                .keys()
                .copied()
                .filter(|n| *n != layout::TAG_MANIFEST)
                .collect();
            let listed: BTreeSet<&str> = tm.iter().map(|(p, _)| p).collect();
            for missing in listed.difference(&present) {
                ctx.error(
                    Some(missing),
                    "manifest",
                    "listed in the tag manifest but missing",
                );
            }
            for unlisted in present.difference(&listed) {
                ctx.error(
                    Some(unlisted),
                    "manifest",
                    "tag file not listed in the tag manifest",
                );
            }
            for (name, bytes) in &tag_bytes {
                if let Some(expected) = tm.get(name) {
                    let actual = Sha256Digest::of(bytes);
                    if &actual != expected {
                        ctx.error(
                            Some(name),
                            "digest",
                            format!("SHA-256 is {actual}, the tag manifest says {expected}"),
                        );
                    }
                }
            }
        }
    }

    // Payload manifest: lists exactly the payload files.
    let manifest_text = text(layout::MANIFEST, ctx);
    let manifest = manifest_text.as_deref().and_then(|t| {
        Manifest::parse(t, layout::MANIFEST)
            .map_err(|e| ctx.error(Some(layout::MANIFEST), "manifest", e.to_string()))
            .ok()
    });
    let Some(manifest) = manifest else {
        ctx.error(
            Some(layout::MANIFEST),
            "manifest",
            "manifest-sha256.txt is missing or unreadable",
        );
        return None;
    };
    let payload_set: BTreeSet<&str> = payload_entries.iter().map(|(p, _)| *p).collect();
    for (listed, _) in manifest.iter() {
        if !payload_set.contains(listed) {
            ctx.error(
                Some(listed),
                "manifest",
                "listed in the manifest but missing from the bundle",
            );
        }
    }
    let payload_bytes: u64 = payload_entries.iter().map(|(_, i)| entries[*i].size).sum();
    if info.payload_bytes != payload_bytes || info.payload_files != payload_entries.len() as u64 {
        ctx.error(
            Some(layout::BAG_INFO),
            "manifest",
            format!(
                "Payload-Oxum says {}.{} but the payload is {payload_bytes}.{}",
                info.payload_bytes,
                info.payload_files,
                payload_entries.len()
            ),
        );
    }

    // Previous checkpoint and frontier: where this run's leaves start.
    let previous_checkpoint = text(layout::PREVIOUS_CHECKPOINT, ctx);
    let previous_frontier = tag_bytes.get(layout::PREVIOUS_FRONTIER).and_then(|b| {
        serde_json::from_slice::<Frontier>(b)
            .map_err(|e| {
                ctx.error(
                    Some(layout::PREVIOUS_FRONTIER),
                    "log",
                    format!("unreadable: {e}"),
                )
            })
            .ok()
    });
    match (seq, &previous_checkpoint) {
        (1, Some(_)) => ctx.error(
            Some(layout::PREVIOUS_CHECKPOINT),
            "log",
            "the first run cannot have a previous checkpoint",
        ),
        (s, None) if s > 1 => ctx.error(
            Some(layout::PREVIOUS_CHECKPOINT),
            "log",
            "missing: a later run must name the checkpoint it continues",
        ),
        _ => {}
    }
    let mut frontier = previous_frontier.clone().unwrap_or_else(Frontier::empty);
    if let Some(prev) = &previous_checkpoint {
        match Checkpoint::parse(prev) {
            Ok(cp) => {
                if cp.origin != info.origin {
                    ctx.error(
                        Some(layout::PREVIOUS_CHECKPOINT),
                        "log",
                        format!(
                            "origin {:?} differs from the bag's {:?}",
                            cp.origin, info.origin
                        ),
                    );
                }
                if cp.size != frontier.size() || cp.root != frontier.root() {
                    ctx.error(
                        Some(layout::PREVIOUS_FRONTIER),
                        "log",
                        "the previous frontier does not reproduce the previous checkpoint",
                    );
                }
            }
            Err(e) => ctx.error(Some(layout::PREVIOUS_CHECKPOINT), "log", e.to_string()),
        }
    } else if frontier.size() != 0 {
        ctx.error(
            Some(layout::PREVIOUS_FRONTIER),
            "log",
            "the first run's previous frontier must be empty",
        );
    }
    let old_frontier = frontier.clone();

    // Stream the payload in file order: digests, leaves, records.
    let catalogue = Catalogue::iso42001();
    let mut items_seen = 0u64;
    let mut gaps = 0u64;
    let mut item_files: BTreeMap<String, (Vec<String>, Option<ItemMeta>)> = BTreeMap::new();
    let mut run_record: Option<RunRecord> = None;
    let mut computed: BTreeMap<&str, (Sha256Digest, u64)> = BTreeMap::new();
    payload_entries.sort_by_key(|(_, i)| *i);
    for &(rel, i) in &payload_entries {
        let entry = &entries[i];
        let class = layout::classify_payload(rel);
        if class.is_none() {
            ctx.error(
                Some(rel),
                "layout",
                "payload file outside the bundle conventions",
            );
        }
        let keep = matches!(
            class,
            Some(
                PayloadPath::ItemMetadata { .. }
                    | PayloadPath::Population { .. }
                    | PayloadPath::Gap { .. }
                    | PayloadPath::RunRecord
            )
        );
        let mut hasher = Sha256::new();
        let mut kept = Vec::new();
        let mut too_big = false;
        let read = zip.read_entry(i, &mut |chunk: &[u8]| {
            hasher.update(chunk);
            visitor.bytes_read(chunk.len() as u64);
            if keep {
                if kept.len() + chunk.len() > MAX_RECORD_BYTES {
                    too_big = true;
                } else {
                    kept.extend_from_slice(chunk);
                }
            }
            Ok(())
        });
        let digest = Sha256Digest(hasher.finalize().into());
        computed.insert(rel, (digest, entry.size));
        match manifest.get(rel) {
            Some(expected) if *expected != digest => {
                ctx.error(
                    Some(rel),
                    "digest",
                    format!("SHA-256 is {digest}, the manifest says {expected}"),
                );
            }
            None => ctx.error(
                Some(rel),
                "manifest",
                "payload file not listed in the manifest",
            ),
            _ => {}
        }
        if let Err(e) = read {
            // The bytes read are untrustworthy; keep the item's shape so that one corrupt entry
            // gives one finding (plus the manifest's), not a cascade.
            ctx.error(Some(rel), "zip", e.to_string());
            if let Some(PayloadPath::ItemArtefact { id, file_name }) = class {
                item_files
                    .entry(id.to_owned())
                    .or_default()
                    .0
                    .push(file_name.to_owned());
            }
            continue;
        }
        if too_big {
            ctx.error(
                Some(rel),
                "record",
                format!("record larger than {MAX_RECORD_BYTES} bytes"),
            );
            continue;
        }
        match class {
            Some(PayloadPath::ItemArtefact { id, file_name }) => {
                item_files
                    .entry(id.to_owned())
                    .or_default()
                    .0
                    .push(file_name.to_owned());
            }
            Some(PayloadPath::ItemMetadata { id }) => {
                items_seen += 1;
                match serde_json::from_slice::<ItemMeta>(&kept) {
                    Ok(meta) if meta.schema == ITEM_SCHEMA => {
                        if meta.id.as_str() != id {
                            ctx.error(
                                Some(rel),
                                "record",
                                format!("metadata names item {} but sits in {id}", meta.id),
                            );
                        }
                        for c in &meta.controls {
                            if catalogue.control(c.as_str()).is_none() {
                                ctx.error(Some(rel), "record", format!("unknown control {c}"));
                            }
                        }
                        item_files.entry(id.to_owned()).or_default().1 = Some(meta);
                    }
                    Ok(meta) => ctx.error(
                        Some(rel),
                        "version",
                        format!("item schema {:?} is not {ITEM_SCHEMA}", meta.schema),
                    ),
                    Err(e) => {
                        ctx.error(Some(rel), "record", format!("not a valid item record: {e}"))
                    }
                }
            }
            Some(PayloadPath::Population { .. }) => {
                match serde_json::from_slice::<PopulationRecord>(&kept) {
                    Ok(r) if r.schema == POPULATION_SCHEMA => visitor.population(seq, &r),
                    Ok(r) => ctx.error(
                        Some(rel),
                        "version",
                        format!("population schema {:?} is unknown", r.schema),
                    ),
                    Err(e) => ctx.error(
                        Some(rel),
                        "record",
                        format!("not a valid population record: {e}"),
                    ),
                }
            }
            Some(PayloadPath::Gap { .. }) => match serde_json::from_slice::<GapRecord>(&kept) {
                Ok(r) if r.schema == GAP_SCHEMA => {
                    gaps += 1;
                    visitor.gap(seq, &r);
                }
                Ok(r) => ctx.error(
                    Some(rel),
                    "version",
                    format!("gap schema {:?} is unknown", r.schema),
                ),
                Err(e) => ctx.error(Some(rel), "record", format!("not a valid gap record: {e}")),
            },
            Some(PayloadPath::RunRecord) => match serde_json::from_slice::<RunRecord>(&kept) {
                Ok(r) if r.schema == RUN_SCHEMA => run_record = Some(r),
                Ok(r) => ctx.error(
                    Some(rel),
                    "version",
                    format!("run record schema {:?} is unknown", r.schema),
                ),
                Err(e) => ctx.error(Some(rel), "record", format!("not a valid run record: {e}")),
            },
            None => {}
        }
    }

    // Items: one metadata record and exactly one artefact, which the record describes.
    let leaf_base = old_frontier.size();
    let leaf_index: BTreeMap<&str, u64> = manifest
        .iter()
        .enumerate()
        .map(|(n, (p, _))| (p, leaf_base + n as u64))
        .collect();
    for (id, (artefacts, meta)) in &item_files {
        let at = format!("data/items/{id}/");
        let Some(meta) = meta else {
            ctx.error(Some(&at), "record", "item without metadata.json");
            continue;
        };
        if artefacts.len() != 1 {
            ctx.error(
                Some(&at),
                "record",
                format!(
                    "item has {} artefact files; exactly one is expected",
                    artefacts.len()
                ),
            );
            continue;
        }
        let artefact_path = layout::item_artefact_path(&meta.id, &artefacts[0]);
        if meta.artefact.path != artefact_path {
            ctx.error(
                Some(&at),
                "record",
                format!(
                    "metadata points at {} but the artefact is {artefact_path}",
                    meta.artefact.path
                ),
            );
        }
        match computed.get(artefact_path.as_str()) {
            Some((d, s)) if *d == meta.artefact.sha256 && *s == meta.artefact.size => {}
            Some((d, s)) => ctx.error(
                Some(&artefact_path),
                "record",
                format!(
                    "metadata says sha256 {} and {} bytes; the artefact has {d} and {s} bytes",
                    meta.artefact.sha256, meta.artefact.size
                ),
            ),
            None => {}
        }
        let index = leaf_index.get(artefact_path.as_str()).copied().unwrap_or(0);
        visitor.item(seq, index, meta);
    }

    // The log: leaves in manifest order, then the run leaf; the new root must match.
    let mut leaves: Vec<Hash> = manifest
        .iter()
        .map(|(p, d)| {
            let size = computed.get(p).map_or(0, |(_, s)| *s);
            payload_leaf(&format!("{top}/{p}"), d, size)
        })
        .collect();
    leaves.push(run_leaf(
        &info.origin,
        seq,
        &Sha256Digest::of(info_text.as_bytes()),
        &Sha256Digest::of(manifest_text.as_deref().unwrap_or("").as_bytes()),
        previous_checkpoint.as_deref(),
    ));
    if let Err(e) = frontier.extend(&leaves) {
        ctx.error(Some(layout::PREVIOUS_FRONTIER), "log", e.to_string());
    }
    let checkpoint_text = text(layout::CHECKPOINT, ctx);
    match checkpoint_text.as_deref().map(Checkpoint::parse) {
        None => ctx.error(Some(layout::CHECKPOINT), "log", "log/checkpoint is missing"),
        Some(Err(e)) => ctx.error(Some(layout::CHECKPOINT), "log", e.to_string()),
        Some(Ok(cp)) => {
            if cp.origin != info.origin {
                ctx.error(
                    Some(layout::CHECKPOINT),
                    "log",
                    format!(
                        "origin {:?} differs from the bag's {:?}",
                        cp.origin, info.origin
                    ),
                );
            }
            if cp.size != frontier.size() || cp.root != frontier.root() {
                ctx.error(
                    Some(layout::CHECKPOINT),
                    "log",
                    format!(
                        "the checkpoint (size {}) does not match the log recomputed from the bundle (size {}): content was changed after sealing",
                        cp.size,
                        frontier.size()
                    ),
                );
            }
            match tag_bytes
                .get(layout::CONSISTENCY_PROOF)
                .map(|b| serde_json::from_slice::<ConsistencyProofDoc>(b))
            {
                None => ctx.error(Some(layout::CONSISTENCY_PROOF), "log", "missing"),
                Some(Err(e)) => ctx.error(
                    Some(layout::CONSISTENCY_PROOF),
                    "log",
                    format!("unreadable: {e}"),
                ),
                Some(Ok(doc)) => {
                    let hashes: Result<Vec<Hash>, _> =
                        doc.hashes.iter().map(|h| decode_hash(h)).collect();
                    let ok = hashes.ok().is_some_and(|hashes| {
                        doc.old_size == old_frontier.size()
                            && doc.new_size == cp.size
                            && merkle::verify_consistency(
                                doc.old_size,
                                doc.new_size,
                                &old_frontier.root(),
                                &cp.root,
                                &hashes,
                            )
                            .is_ok()
                    });
                    if !ok {
                        ctx.error(Some(layout::CONSISTENCY_PROOF), "log", "the consistency proof does not prove this run only appended to the previous tree");
                    }
                }
            }
        }
    }

    match &run_record {
        None => ctx.error(
            Some(layout::RUN_RECORD),
            "record",
            "the run record data/run.json is missing",
        ),
        Some(r) => {
            if r.seq != seq || r.origin != info.origin {
                ctx.error(
                    Some(layout::RUN_RECORD),
                    "record",
                    "the run record names another run or origin",
                );
            }
            visitor.run(r);
        }
    }

    let summary = BundleSummary {
        file: file_name.to_owned(),
        seq,
        origin: info.origin.clone(),
        collected_at: info.collected_at,
        checkpoint: checkpoint_text.unwrap_or_default(),
        previous_checkpoint,
        items: items_seen,
        payload_files: payload_entries.len() as u64,
        payload_bytes,
        gaps,
        bundle_bytes,
        format_version: info.format_version.clone(),
        frontier: frontier.clone(),
    };
    Some(Inner {
        summary,
        leaves,
        tags: tag_bytes,
    })
}

fn decode_hash(b64: &str) -> Result<Hash, ()> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| ())?;
    bytes.try_into().map_err(|_| ())
}

/// The files of an archive directory: bundles in sequence order, and anything else (sidecars
/// and hidden files excluded).
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub bundles: Vec<(u64, PathBuf)>,
    pub others: Vec<String>,
}

/// The bundle files of an archive directory in sequence order; other files, except sidecars
/// and hidden files, are listed in `others`.
pub fn list_bundles(dir: &Path) -> io::Result<Listing> {
    let mut bundles = Vec::new();
    let mut others = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        match layout::parse_bundle_file_name(&name) {
            Some(seq) if entry.file_type()?.is_file() => bundles.push((seq, entry.path())),
            _ if is_sidecar(&name) => {}
            _ => others.push(name),
        }
    }
    bundles.sort();
    Ok(Listing { bundles, others })
}

fn is_sidecar(name: &str) -> bool {
    layout::is_sidecar_file_name(name)
}

/// Verify every bundle of an archive directory and the chain that links them.
pub fn verify_archive(dir: &Path, visitor: &mut dyn BundleVisitor) -> ArchiveReport {
    verify_archive_with(dir, &VerifyOptions::default(), visitor)
}

/// Verify an archive as [`verify_archive`] does, each bundle as [`verify_bundle_with`] does,
/// and, with a pinned checkpoint in `options`, that the archive extends it.
pub fn verify_archive_with(
    dir: &Path,
    options: &VerifyOptions,
    visitor: &mut dyn BundleVisitor,
) -> ArchiveReport {
    verify_archive_full(dir, options, visitor).0
}

/// An archive's report and the leaves of its whole log, when every bundle's were read.
pub(crate) fn verify_archive_full(
    dir: &Path,
    options: &VerifyOptions,
    visitor: &mut dyn BundleVisitor,
) -> (ArchiveReport, Option<Vec<Hash>>) {
    let path = dir.display().to_string();
    let mut report = ArchiveReport {
        path: path.clone(),
        valid: false,
        origin: None,
        latest_checkpoint: None,
        bundles: Vec::new(),
        problems: Vec::new(),
        pin: None,
    };
    let archive_problem = |category: &'static str, message: String| Problem {
        severity: Severity::Error,
        file: path.clone(),
        entry: None,
        category,
        message,
    };
    let Listing { bundles, others } = match list_bundles(dir) {
        Ok(l) => l,
        Err(e) => {
            report
                .problems
                .push(archive_problem("io", format!("cannot list {path}: {e}")));
            return (report, None);
        }
    };
    for other in others {
        report.problems.push(Problem {
            severity: Severity::Warning,
            file: path.clone(),
            entry: Some(other),
            category: "layout",
            message: "not a bundle or a bundle's sidecar; ignored".into(),
        });
    }
    if bundles.is_empty() {
        report.problems.push(archive_problem(
            "chain",
            "no bundles (run-NNNNNN.zip) in this directory".into(),
        ));
        return (report, None);
    }
    let mut all_leaves = Some(Vec::new());
    for (_, path) in &bundles {
        let (bundle, leaves) = verify_bundle_full(path, options, visitor);
        report.bundles.push(bundle);
        match (&mut all_leaves, leaves) {
            (Some(all), Some(l)) => all.extend(l),
            _ => all_leaves = None,
        }
    }
    check_chain(&mut report, &bundles, &archive_problem);
    let all_leaves = finish(&mut report, all_leaves, options, &archive_problem);
    (report, all_leaves)
}

/// After the chain check: drop the leaves of an archive with errors, check the pinned
/// checkpoint if `options` has one, and decide validity. Returns the leaves still trusted.
fn finish(
    report: &mut ArchiveReport,
    mut all_leaves: Option<Vec<Hash>>,
    options: &VerifyOptions,
    archive_problem: &impl Fn(&'static str, String) -> Problem,
) -> Option<Vec<Hash>> {
    if report.all_problems().any(|p| p.severity == Severity::Error) {
        all_leaves = None;
    }
    if let Some(pinned) = &options.expected_checkpoint {
        let (pin, problems) = trust::check_pin(pinned, report, all_leaves.as_deref());
        report.pin = Some(pin);
        report.problems.extend(
            problems
                .into_iter()
                .map(|message| archive_problem("pin", message)),
        );
    }
    let has_errors = report.all_problems().any(|p| p.severity == Severity::Error);
    report.valid = !has_errors;
    all_leaves
}

/// One bundle verified on its own, for [`assemble_archive_report`]: its run number, its
/// report, and the leaves it appends (from [`verify_bundle_full`]).
pub type VerifiedBundle = (u64, BundleReport, Option<Vec<Hash>>);

/// Assemble the report of an archive whose bundles were verified one at a time elsewhere (for
/// example downloaded from remote storage, verified, and deleted): checks the chain between
/// them, in sequence order, and, with a pinned checkpoint in `options`, that the archive
/// extends it. `path` names the archive; `problems` are its own findings so far.
pub fn assemble_archive_report(
    path: &str,
    mut bundles: Vec<VerifiedBundle>,
    problems: Vec<Problem>,
    options: &VerifyOptions,
) -> ArchiveReport {
    bundles.sort_by_key(|(seq, _, _)| *seq);
    let mut report = ArchiveReport {
        path: path.to_owned(),
        valid: false,
        origin: None,
        latest_checkpoint: None,
        bundles: Vec::new(),
        problems,
        pin: None,
    };
    let label = path.to_owned();
    let archive_problem = |category: &'static str, message: String| Problem {
        severity: Severity::Error,
        file: label.clone(),
        entry: None,
        category,
        message,
    };
    if bundles.is_empty() {
        report.problems.push(archive_problem(
            "chain",
            "no bundles in this archive".into(),
        ));
        return report;
    }
    let seqs: Vec<(u64, PathBuf)> = bundles
        .iter()
        .map(|(seq, b, _)| (*seq, PathBuf::from(&b.file)))
        .collect();
    let mut all_leaves = Some(Vec::new());
    for (_, bundle, leaves) in bundles {
        report.bundles.push(bundle);
        match (&mut all_leaves, leaves) {
            (Some(all), Some(l)) => all.extend(l),
            _ => all_leaves = None,
        }
    }
    check_chain(&mut report, &seqs, &archive_problem);
    finish(&mut report, all_leaves, options, &archive_problem);
    report
}

fn check_chain(
    report: &mut ArchiveReport,
    bundles: &[(u64, PathBuf)],
    archive_problem: &impl Fn(&'static str, String) -> Problem,
) {
    let mut expected = 1u64;
    for (seq, _) in bundles {
        if *seq > expected {
            let missing = if *seq == expected + 1 {
                format!("run {expected} is missing")
            } else {
                format!("runs {expected} to {} are missing", seq - 1)
            };
            report.problems.push(archive_problem("chain", missing));
        }
        expected = seq + 1;
    }
    let mut previous: Option<&BundleSummary> = None;
    let mut previous_seq = 0u64;
    let mut unbroken = true;
    for (i, b) in report.bundles.iter().enumerate() {
        let seq = bundles[i].0;
        let Some(s) = &b.summary else {
            unbroken = false;
            previous = None;
            previous_seq = seq;
            continue;
        };
        if let Some(origin) = &report.origin {
            if &s.origin != origin {
                report.problems.push(archive_problem(
                    "chain",
                    format!(
                        "{} belongs to origin {:?}, the archive to {origin:?}",
                        b.file, s.origin
                    ),
                ));
            }
        } else {
            report.origin = Some(s.origin.clone());
        }
        match previous {
            Some(p) if previous_seq + 1 == seq => {
                if s.previous_checkpoint.as_deref() != Some(p.checkpoint.as_str()) {
                    unbroken = false;
                    report.problems.push(archive_problem(
                        "chain",
                        format!("{} does not continue from {}: its previous checkpoint differs (a run was replaced, reordered or rewritten)", b.file, p.file),
                    ));
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
            report.latest_checkpoint = Some(s.checkpoint.clone());
        }
        previous = Some(s);
        previous_seq = seq;
    }
}
