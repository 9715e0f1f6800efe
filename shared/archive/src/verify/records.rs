//! The records pass: every payload entry is read through SHA-256 (on every core, each thread
//! through its own position in the bundle) and checked in file order against the manifest; the
//! JSON records among it (item metadata, population, gap and run records) are parsed, checked
//! and handed to the visitor in that order; then every item must have one metadata record and
//! exactly one artefact, which the record describes.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Seek};

use evidence_model::item::ITEM_SCHEMA;
use evidence_model::records::{GAP_SCHEMA, POPULATION_SCHEMA};
use evidence_model::{Catalogue, GapRecord, ItemMeta, PopulationRecord, Sha256Digest};
use sha2::{Digest, Sha256};

use super::layout::{MAX_RECORD_BYTES, Opened};
use super::read_ahead::ReadAhead;
use super::report::{Category, Ctx};
use super::visitor::BundleVisitor;
use crate::bag::Manifest;
use crate::layout::{self, PayloadPath};
use crate::positioned::WindowedFile;
use crate::run_record::{RUN_SCHEMA, RunRecord};
use crate::strict_zip::{EntryReader, ZipEntry, ZipProblem};

/// What streaming the payload found.
#[derive(Default)]
pub(super) struct Payload {
    /// Digest and size of every payload file, by bag-relative name.
    pub(super) computed: HashMap<String, (Sha256Digest, u64)>,
    pub(super) items_seen: u64,
    pub(super) gaps: u64,
    /// Per item id: its artefact file names and its metadata, if read.
    items: BTreeMap<String, (Vec<String>, Option<ItemMeta>)>,
    pub(super) run_record: Option<RunRecord>,
}

impl Payload {
    fn artefact(&mut self, id: &str, file_name: &str) {
        self.items
            .entry(id.to_owned())
            .or_default()
            .0
            .push(file_name.to_owned());
    }
}

/// Entries read ahead of the one being checked, at most: bounds the records held in memory.
const READ_AHEAD: usize = 256;

/// What reading one payload entry gave, on whichever thread read it.
struct EntryRead {
    /// The entry's declared size.
    size: u64,
    digest: Sha256Digest,
    outcome: Result<Content, ZipProblem>,
}

/// The content kept of an entry that read back whole.
enum Content {
    /// An artefact: only its digest matters here.
    Artefact,
    /// A record, to be parsed in order.
    Record(Vec<u8>),
    /// Item metadata, parsed where it was read.
    Item(Result<Box<ItemMeta>, String>),
    /// A record above [`MAX_RECORD_BYTES`].
    TooBig,
}

/// Read payload entry `index` whole: its SHA-256, and its content when it is a record.
fn read_entry<R: Read + Seek>(
    reader: &mut EntryReader<R>,
    index: usize,
    entry: &ZipEntry,
    class: Option<PayloadPath<'_>>,
) -> EntryRead {
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
    let read = reader.read(index, entry, &mut |chunk: &[u8]| {
        hasher.update(chunk);
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
    let outcome = read.map(|()| match class {
        _ if too_big => Content::TooBig,
        Some(PayloadPath::ItemMetadata { .. }) => {
            Content::Item(serde_json::from_slice::<Box<ItemMeta>>(&kept).map_err(|e| e.to_string()))
        }
        _ if keep => Content::Record(kept),
        _ => Content::Artefact,
    });
    EntryRead {
        size: entry.size,
        digest,
        outcome,
    }
}

/// Helper threads reading entries beside the checking one: one per further core, up to three.
fn helpers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4)) - 1
}

/// Stream every payload entry in file order: digests against the manifest, records parsed.
/// Entries are read and hashed on every core (each thread through its own position in the
/// file) and checked here one after the other, so findings and records come in file order.
pub(super) fn stream(
    opened: &mut Opened,
    mut payload: Vec<(String, usize)>,
    manifest: &Manifest,
    visitor: &mut dyn BundleVisitor,
    ctx: &mut Ctx,
) -> Payload {
    payload.sort_by_key(|(_, i)| *i);
    let file = match opened.zip.get_ref().get_ref().try_clone() {
        Ok(f) => f,
        Err(e) => {
            ctx.error(
                None,
                Category::Io,
                format!("cannot read the bundle again: {e}"),
            );
            return Payload::default();
        }
    };
    let shared = ReadAhead::new(payload.len(), READ_AHEAD);
    let read = |reader: &mut EntryReader<_>, pos: usize| {
        let (rel, i) = &payload[pos];
        read_entry(
            reader,
            *i,
            &opened.entries[*i],
            layout::classify_payload(rel),
        )
    };
    let reader = || {
        // Entries are small and taken nearly in file order: one window serves many.
        EntryReader::new(WindowedFile::new(&file, 64 * 1024))
    };
    std::thread::scope(|scope| {
        for _ in 0..helpers().min(payload.len().saturating_sub(1)) {
            let shared = &shared;
            let mut reader = reader();
            scope.spawn(move || shared.read_all(|pos| read(&mut reader, pos)));
        }
        // Readers stop when this drops, even if checking panics: the scope then joins them.
        let _consuming = shared.consuming();
        let mut reader = reader();
        let mut out = Payload::default();
        for (pos, (rel, _)) in payload.iter().enumerate() {
            let read = shared.get(pos, |pos| read(&mut reader, pos));
            visitor.bytes_read(read.size);
            check_entry(&mut out, rel, read, manifest, opened.seq, visitor, ctx);
        }
        out
    })
}

/// Check one entry read: its digest against the manifest, then its record.
fn check_entry(
    out: &mut Payload,
    rel: &str,
    read: EntryRead,
    manifest: &Manifest,
    seq: u64,
    visitor: &mut dyn BundleVisitor,
    ctx: &mut Ctx,
) {
    let class = layout::classify_payload(rel);
    if class.is_none() {
        ctx.error(
            Some(rel),
            Category::Layout,
            "payload file outside the bundle conventions",
        );
    }
    let EntryRead {
        size,
        digest,
        outcome,
    } = read;
    out.computed.insert(rel.to_owned(), (digest, size));
    match manifest.get(rel) {
        Some(expected) if *expected != digest => ctx.error(
            Some(rel),
            Category::Digest,
            format!("SHA-256 is {digest}, the manifest says {expected}"),
        ),
        None => ctx.error(
            Some(rel),
            Category::Manifest,
            "payload file not listed in the manifest",
        ),
        _ => {}
    }
    let content = match outcome {
        Ok(content) => content,
        Err(e) => {
            // The bytes read are untrustworthy; keep the item's shape so that one corrupt entry
            // gives one finding (plus the manifest's), not a cascade.
            ctx.error(Some(rel), Category::Zip, e.to_string());
            if let Some(PayloadPath::ItemArtefact { id, file_name }) = class {
                out.artefact(id, file_name);
            }
            return;
        }
    };
    let Some(class) = class else { return };
    match content {
        Content::TooBig => ctx.error(
            Some(rel),
            Category::Record,
            format!("record larger than {MAX_RECORD_BYTES} bytes"),
        ),
        Content::Artefact => record(out, class, rel, Kept::None, seq, visitor, ctx),
        Content::Record(bytes) => record(out, class, rel, Kept::Bytes(&bytes), seq, visitor, ctx),
        Content::Item(parsed) => record(out, class, rel, Kept::Item(parsed), seq, visitor, ctx),
    }
}

/// What was kept of a payload file for [`record`].
enum Kept<'a> {
    None,
    Bytes(&'a [u8]),
    Item(Result<Box<ItemMeta>, String>),
}

impl Kept<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            Kept::Bytes(b) => b,
            _ => &[],
        }
    }
}

/// One payload file read whole (a record) or noted (an artefact).
fn record(
    out: &mut Payload,
    class: PayloadPath<'_>,
    rel: &str,
    kept: Kept<'_>,
    seq: u64,
    visitor: &mut dyn BundleVisitor,
    ctx: &mut Ctx,
) {
    let unknown = |what: &str, schema: &str| format!("{what} schema {schema:?} is unknown");
    match class {
        PayloadPath::ItemArtefact { id, file_name } => out.artefact(id, file_name),
        PayloadPath::ItemMetadata { id } => {
            out.items_seen += 1;
            let parsed = match kept {
                Kept::Item(parsed) => parsed,
                other => serde_json::from_slice::<Box<ItemMeta>>(other.bytes())
                    .map_err(|e| e.to_string()),
            };
            match parsed {
                Ok(meta) if meta.schema == ITEM_SCHEMA => {
                    if meta.id.as_str() != id {
                        ctx.error(
                            Some(rel),
                            Category::Record,
                            format!("metadata names item {} but sits in {id}", meta.id),
                        );
                    }
                    let catalogue = Catalogue::iso42001();
                    for c in &meta.controls {
                        if catalogue.control(c.as_str()).is_none() {
                            ctx.error(Some(rel), Category::Record, format!("unknown control {c}"));
                        }
                    }
                    out.items.entry(id.to_owned()).or_default().1 = Some(*meta);
                }
                Ok(meta) => ctx.error(
                    Some(rel),
                    Category::Version,
                    format!("item schema {:?} is not {ITEM_SCHEMA}", meta.schema),
                ),
                Err(e) => ctx.error(
                    Some(rel),
                    Category::Record,
                    format!("not a valid item record: {e}"),
                ),
            }
        }
        PayloadPath::Population { .. } => {
            match serde_json::from_slice::<PopulationRecord>(kept.bytes()) {
                Ok(r) if r.schema == POPULATION_SCHEMA => visitor.population(seq, &r),
                Ok(r) => ctx.error(
                    Some(rel),
                    Category::Version,
                    unknown("population", &r.schema),
                ),
                Err(e) => ctx.error(
                    Some(rel),
                    Category::Record,
                    format!("not a valid population record: {e}"),
                ),
            }
        }
        PayloadPath::Gap { .. } => match serde_json::from_slice::<GapRecord>(kept.bytes()) {
            Ok(r) if r.schema == GAP_SCHEMA => {
                out.gaps += 1;
                visitor.gap(seq, &r);
            }
            Ok(r) => ctx.error(Some(rel), Category::Version, unknown("gap", &r.schema)),
            Err(e) => ctx.error(
                Some(rel),
                Category::Record,
                format!("not a valid gap record: {e}"),
            ),
        },
        PayloadPath::RunRecord => match serde_json::from_slice::<RunRecord>(kept.bytes()) {
            Ok(r) if r.schema == RUN_SCHEMA => out.run_record = Some(r),
            Ok(r) => ctx.error(
                Some(rel),
                Category::Version,
                unknown("run record", &r.schema),
            ),
            Err(e) => ctx.error(
                Some(rel),
                Category::Record,
                format!("not a valid run record: {e}"),
            ),
        },
    }
}

/// Every item: one metadata record and exactly one artefact, which the record describes. Items
/// are handed to the visitor with their leaf index (`leaf_base` plus the manifest position),
/// and leave `payload`.
pub(super) fn check_items(
    payload: &mut Payload,
    manifest: &Manifest,
    leaf_base: u64,
    seq: u64,
    visitor: &mut dyn BundleVisitor,
    ctx: &mut Ctx,
) {
    let leaf_index: HashMap<&str, u64> = manifest
        .iter()
        .enumerate()
        .map(|(n, (p, _))| (p, leaf_base + n as u64))
        .collect();
    for (id, (artefacts, meta)) in std::mem::take(&mut payload.items) {
        // The item's folder, for findings (built only when there is one).
        let at = || format!("data/items/{id}/");
        let Some(meta) = meta else {
            ctx.error(Some(&at()), Category::Record, "item without metadata.json");
            continue;
        };
        if artefacts.len() != 1 {
            ctx.error(
                Some(&at()),
                Category::Record,
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
                Some(&at()),
                Category::Record,
                format!(
                    "metadata points at {} but the artefact is {artefact_path}",
                    meta.artefact.path
                ),
            );
        }
        match payload.computed.get(artefact_path.as_str()) {
            Some((d, s)) if *d == meta.artefact.sha256 && *s == meta.artefact.size => {}
            Some((d, s)) => ctx.error(
                Some(&artefact_path),
                Category::Record,
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
}

/// The run record: present, and naming this run and origin.
pub(super) fn check_run_record(
    payload: &Payload,
    seq: u64,
    origin: &str,
    visitor: &mut dyn BundleVisitor,
    ctx: &mut Ctx,
) {
    match &payload.run_record {
        None => ctx.error(
            Some(layout::RUN_RECORD),
            Category::Record,
            "the run record data/run.json is missing",
        ),
        Some(r) => {
            if r.seq != seq || r.origin != origin {
                ctx.error(
                    Some(layout::RUN_RECORD),
                    Category::Record,
                    "the run record names another run or origin",
                );
            }
            visitor.run(r);
        }
    }
}
