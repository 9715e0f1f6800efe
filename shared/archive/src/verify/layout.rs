//! The layout pass: the strict ZIP reader opens the bytes, then only the exact layout the writer
//! produces is accepted: one top directory `run-NNNNNN/` matching the file name, known tag files
//! (read here, small, before the payload is streamed) and payload under `data/`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;

use super::report::{Category, Ctx};
use crate::layout;
use crate::strict_zip::{Limits, StrictZip, ZipEntry};

/// Largest tag file or JSON record read into memory.
pub(super) const MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;
/// Largest manifest read into memory.
const MAX_MANIFEST_BYTES: usize = 512 * 1024 * 1024;

/// A bundle whose container and top-level layout were read.
pub(super) struct Opened {
    pub(super) zip: StrictZip<BufReader<File>>,
    pub(super) entries: Vec<ZipEntry>,
    /// `run-NNNNNN`.
    pub(super) top: String,
    pub(super) seq: u64,
    /// Entry index by bag-relative name.
    pub(super) index: BTreeMap<String, usize>,
}

/// The tag files read, by bag-relative name.
pub(super) struct Tags {
    pub(super) bytes: BTreeMap<&'static str, Vec<u8>>,
}

impl Tags {
    /// A tag file as text; not UTF-8 is a finding.
    pub(super) fn text(&self, name: &'static str, ctx: &mut Ctx) -> Option<String> {
        let bytes = self.bytes.get(name)?;
        match String::from_utf8(bytes.clone()) {
            Ok(s) => Some(s),
            Err(_) => {
                ctx.error(Some(name), Category::Layout, "not UTF-8");
                None
            }
        }
    }
}

/// Open the ZIP strictly and find the bag's top directory; `None` when nothing more can be read.
pub(super) fn open(file: File, file_name: &str, ctx: &mut Ctx) -> Option<Opened> {
    // Entries are read one after the other, each after a seek that empties the buffer: a small
    // buffer keeps a 200-byte record from costing a 1 MiB read.
    let reader = BufReader::with_capacity(64 * 1024, file);
    let zip = match StrictZip::open(reader, Limits::default()) {
        Ok(z) => z,
        Err(problems) => {
            for p in problems {
                ctx.error(None, Category::Zip, p.to_string());
            }
            return None;
        }
    };
    let entries: Vec<ZipEntry> = zip.entries().to_vec();
    let Some(top) = entries
        .first()
        .and_then(|e| e.name.split('/').next())
        .map(str::to_owned)
    else {
        ctx.error(None, Category::Layout, "the bundle is empty");
        return None;
    };
    let Some(seq) = layout::parse_bag_dir(&top) else {
        ctx.error(
            None,
            Category::Layout,
            format!("top directory {top:?} is not run-NNNNNN"),
        );
        return None;
    };
    if let Some(file_seq) = layout::parse_bundle_file_name(file_name)
        && file_seq != seq
    {
        ctx.error(
            None,
            Category::Layout,
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
                Category::Layout,
                format!("entry outside the top directory {top}/"),
            ),
        }
    }
    Some(Opened {
        zip,
        entries,
        top,
        seq,
        index,
    })
}

/// Read the tag files present (small, by position).
pub(super) fn read_tags(opened: &mut Opened, ctx: &mut Ctx) -> Tags {
    let mut bytes: BTreeMap<&'static str, Vec<u8>> = BTreeMap::new();
    for &name in layout::TAG_FILES
        .iter()
        .chain([layout::TAG_MANIFEST].iter())
    {
        if let Some(&i) = opened.index.get(name) {
            let max = if name == layout::MANIFEST {
                MAX_MANIFEST_BYTES
            } else {
                MAX_RECORD_BYTES
            };
            match opened.zip.read_small(i, max) {
                Ok(b) => {
                    bytes.insert(name, b);
                }
                Err(e) => ctx.error(Some(&opened.entries[i].name), Category::Zip, e.to_string()),
            }
        }
    }
    Tags { bytes }
}

/// The payload entries (bag-relative name, entry index); every other entry must be a known tag
/// file or the tag manifest.
pub(super) fn payload_entries(opened: &Opened, ctx: &mut Ctx) -> Vec<(String, usize)> {
    let mut payload = Vec::new();
    for (rel, &i) in &opened.index {
        if rel.starts_with("data/") {
            payload.push((rel.clone(), i));
        } else if !layout::TAG_FILES.contains(&rel.as_str()) && rel != layout::TAG_MANIFEST {
            ctx.error(
                Some(&opened.entries[i].name),
                Category::Layout,
                "unexpected file in the bag",
            );
        }
    }
    payload
}
