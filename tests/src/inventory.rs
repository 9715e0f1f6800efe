//! What an archive holds, bundle by bundle: every sealed item (source, reference, digest,
//! source time) and every gap record, read back from the bundles themselves, so tests can
//! count versions across the whole chain.

use std::path::Path;

use crate::tamper;

/// One item as sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedItem {
    pub bundle: u64,
    pub source: String,
    /// The item's reference in its source: a relative path, a ticket key.
    pub reference: String,
    /// SHA-256 of the artefact, hex.
    pub sha256: String,
    /// The source system's timestamp for this version, as recorded.
    pub source_time: Option<String>,
}

/// One gap record as sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedGap {
    pub bundle: u64,
    pub source: String,
    pub category: String,
    pub message: String,
}

/// Everything sealed in an archive directory.
#[derive(Debug, Default)]
pub struct Inventory {
    pub bundles: Vec<u64>,
    pub items: Vec<SealedItem>,
    pub gaps: Vec<SealedGap>,
}

/// Read every `run-NNNNNN.zip` in `archive`.
pub fn read(archive: &Path) -> Inventory {
    let mut names: Vec<(u64, std::path::PathBuf)> = std::fs::read_dir(archive)
        .expect("read the archive directory")
        .filter_map(|e| {
            let e = e.expect("a directory entry");
            let name = e.file_name().to_string_lossy().into_owned();
            let seq = name
                .strip_prefix("run-")?
                .strip_suffix(".zip")?
                .parse()
                .ok()?;
            Some((seq, e.path()))
        })
        .collect();
    names.sort();
    let mut inv = Inventory::default();
    for (seq, path) in names {
        inv.bundles.push(seq);
        for (name, bytes) in tamper::unpack(&path) {
            let json = || -> serde_json::Value {
                serde_json::from_slice(&bytes).expect("a record is JSON")
            };
            if name.contains("/data/items/") && name.ends_with("/metadata.json") {
                let m = json();
                inv.items.push(SealedItem {
                    bundle: seq,
                    source: m["source"]["name"].as_str().unwrap_or_default().to_owned(),
                    reference: m["source"]["reference"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    sha256: m["artefact"]["sha256"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    source_time: m["times"]["source"].as_str().map(str::to_owned),
                });
            } else if name.contains("/data/gaps/") && name.ends_with(".json") {
                let g = json();
                inv.gaps.push(SealedGap {
                    bundle: seq,
                    source: g["source"].as_str().unwrap_or_default().to_owned(),
                    category: g["category"].as_str().unwrap_or_default().to_owned(),
                    message: g["message"].as_str().unwrap_or_default().to_owned(),
                });
            }
        }
    }
    inv
}
