//! The records pass: the payload is streamed in file order through SHA-256 (checked against the
//! manifest), and the JSON records among it (item metadata, population, gap and run records)
//! are parsed, checked and handed to the visitor; then every item must have one metadata
//! record and exactly one artefact, which the record describes.

use std::collections::BTreeMap;

use evidence_model::item::ITEM_SCHEMA;
use evidence_model::records::{GAP_SCHEMA, POPULATION_SCHEMA};
use evidence_model::{Catalogue, GapRecord, ItemMeta, PopulationRecord, Sha256Digest};
use sha2::{Digest, Sha256};

use super::layout::{MAX_RECORD_BYTES, Opened};
use super::report::{Category, Ctx};
use super::visitor::BundleVisitor;
use crate::bag::Manifest;
use crate::layout::{self, PayloadPath};
use crate::run_record::{RUN_SCHEMA, RunRecord};

/// What streaming the payload found.
#[derive(Default)]
pub(super) struct Payload {
    /// Digest and size of every payload file, by bag-relative name.
    pub(super) computed: BTreeMap<String, (Sha256Digest, u64)>,
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

/// Stream every payload entry in file order: digests against the manifest, records parsed.
pub(super) fn stream(
    opened: &mut Opened,
    mut payload: Vec<(String, usize)>,
    manifest: &Manifest,
    visitor: &mut dyn BundleVisitor,
    ctx: &mut Ctx,
) -> Payload {
    let mut out = Payload::default();
    payload.sort_by_key(|(_, i)| *i);
    for (rel, i) in &payload {
        let size = opened.entries[*i].size;
        let class = layout::classify_payload(rel);
        if class.is_none() {
            ctx.error(
                Some(rel),
                Category::Layout,
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
        let read = opened.zip.read_entry(*i, &mut |chunk: &[u8]| {
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
        out.computed.insert(rel.clone(), (digest, size));
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
        if let Err(e) = read {
            // The bytes read are untrustworthy; keep the item's shape so that one corrupt entry
            // gives one finding (plus the manifest's), not a cascade.
            ctx.error(Some(rel), Category::Zip, e.to_string());
            if let Some(PayloadPath::ItemArtefact { id, file_name }) = class {
                out.artefact(id, file_name);
            }
            continue;
        }
        if too_big {
            ctx.error(
                Some(rel),
                Category::Record,
                format!("record larger than {MAX_RECORD_BYTES} bytes"),
            );
            continue;
        }
        if let Some(class) = class {
            record(&mut out, class, rel, &kept, opened.seq, visitor, ctx);
        }
    }
    out
}

/// One payload file read whole (a record) or noted (an artefact).
fn record(
    out: &mut Payload,
    class: PayloadPath<'_>,
    rel: &str,
    kept: &[u8],
    seq: u64,
    visitor: &mut dyn BundleVisitor,
    ctx: &mut Ctx,
) {
    let unknown = |what: &str, schema: &str| format!("{what} schema {schema:?} is unknown");
    match class {
        PayloadPath::ItemArtefact { id, file_name } => out.artefact(id, file_name),
        PayloadPath::ItemMetadata { id } => {
            out.items_seen += 1;
            match serde_json::from_slice::<ItemMeta>(kept) {
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
                    out.items.entry(id.to_owned()).or_default().1 = Some(meta);
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
        PayloadPath::Population { .. } => match serde_json::from_slice::<PopulationRecord>(kept) {
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
        },
        PayloadPath::Gap { .. } => match serde_json::from_slice::<GapRecord>(kept) {
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
        PayloadPath::RunRecord => match serde_json::from_slice::<RunRecord>(kept) {
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
/// are handed to the visitor with their leaf index (`leaf_base` plus the manifest position).
pub(super) fn check_items(
    payload: &Payload,
    manifest: &Manifest,
    leaf_base: u64,
    seq: u64,
    visitor: &mut dyn BundleVisitor,
    ctx: &mut Ctx,
) {
    let leaf_index: BTreeMap<&str, u64> = manifest
        .iter()
        .enumerate()
        .map(|(n, (p, _))| (p, leaf_base + n as u64))
        .collect();
    for (id, (artefacts, meta)) in &payload.items {
        let at = format!("data/items/{id}/");
        let Some(meta) = meta else {
            ctx.error(Some(&at), Category::Record, "item without metadata.json");
            continue;
        };
        if artefacts.len() != 1 {
            ctx.error(
                Some(&at),
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
                Some(&at),
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
