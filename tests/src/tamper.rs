//! An attacker's toolkit for the tamper tests: unpack a bundle into memory, change entries, and
//! repack it with the real writer — optionally recomputing the BagIt manifests, as a forger who
//! knows the format would — so that only the content differs, never the ZIP layout.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use evidence_archive::bag::Manifest;
use evidence_archive::layout;
use evidence_archive::zip_write::{EntryToWrite, write_zip, zip_time};
use evidence_model::Sha256Digest;

/// A bundle's entries by full name.
pub type Entries = BTreeMap<String, Vec<u8>>;

/// Read every entry of a bundle written by the agent.
pub fn unpack(path: &Path) -> Entries {
    let file = std::fs::File::open(path).expect("open bundle");
    let mut zip = zip::ZipArchive::new(file).expect("a zip");
    let mut out = BTreeMap::new();
    for i in 0..zip.len() {
        let mut e = zip.by_index(i).expect("entry");
        let mut buf = Vec::new();
        e.read_to_end(&mut buf).expect("read entry");
        let name = e.name().expect("a UTF-8 entry name").into_owned();
        out.insert(name, buf);
    }
    out
}

/// Every entry of a ZIP inflated and concatenated, in archive order: what a scan for a leaked
/// value must read now that entries may be deflated. Whatever can be read of a damaged file;
/// nothing for a file that is not a ZIP.
pub fn contents(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    let Ok(file) = std::fs::File::open(path) else {
        return out;
    };
    let Ok(mut zip) = zip::ZipArchive::new(file) else {
        return out;
    };
    for i in 0..zip.len() {
        if let Ok(mut e) = zip.by_index(i) {
            let _ = e.read_to_end(&mut out);
        }
    }
    out
}

/// The bag directory (`run-NNNNNN`) of unpacked entries.
pub fn top(entries: &Entries) -> String {
    entries
        .keys()
        .next()
        .and_then(|k| k.split('/').next())
        .expect("a non-empty bundle")
        .to_owned()
}

/// Recompute `manifest-sha256.txt` from the payload and `tagmanifest-sha256.txt` from the tag
/// files, as a forger would.
pub fn recompute_manifests(entries: &mut Entries) {
    let top = top(entries);
    let mut manifest = Manifest::new();
    for (name, bytes) in entries.iter() {
        if let Some(rel) = name.strip_prefix(&format!("{top}/"))
            && rel.starts_with("data/")
        {
            manifest.insert(rel.to_owned(), Sha256Digest::of(bytes));
        }
    }
    entries.insert(
        format!("{top}/{}", layout::MANIFEST),
        manifest.to_text().into_bytes(),
    );
    let mut tags = Manifest::new();
    for (name, bytes) in entries.iter() {
        if let Some(rel) = name.strip_prefix(&format!("{top}/"))
            && !rel.starts_with("data/")
            && rel != layout::TAG_MANIFEST
        {
            tags.insert(rel.to_owned(), Sha256Digest::of(bytes));
        }
    }
    entries.insert(
        format!("{top}/{}", layout::TAG_MANIFEST),
        tags.to_text().into_bytes(),
    );
}

/// Write `entries` as a bundle at `path` with the real, deterministic writer.
pub fn repack(entries: &Entries, path: &Path) {
    let list = entries
        .iter()
        .map(|(name, bytes)| EntryToWrite {
            name: name.clone(),
            size: bytes.len() as u64,
            sha256: Sha256Digest::of(bytes),
            content: Box::new(bytes.as_slice()),
        })
        .collect();
    let t = zip_time(jiff::Timestamp::from_second(1_700_000_000).expect("a valid time"));
    let file = std::fs::File::create(path).expect("create bundle");
    write_zip(file, list, t).expect("write bundle");
}

/// The name of the first entry whose name contains `needle`.
pub fn find(entries: &Entries, needle: &str) -> String {
    entries
        .keys()
        .find(|k| k.contains(needle))
        .unwrap_or_else(|| panic!("no entry contains {needle:?}"))
        .clone()
}
