//! Where things live: bundle file names, the bag's top directory, and the paths of items,
//! records and tag files inside a bag. The only place these conventions are spelled out.

use evidence_model::{ItemId, SourceName};

/// The format version this crate writes (`Evidence-Format-Version` in bag-info.txt).
pub const FORMAT_VERSION: &str = "1.0";
/// Format versions this crate can read.
pub const READABLE_VERSIONS: &[&str] = &["1.0"];

/// `bagit.txt`, byte for byte.
pub const BAGIT_TXT: &str = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n";

pub const BAGIT: &str = "bagit.txt";
pub const BAG_INFO: &str = "bag-info.txt";
pub const MANIFEST: &str = "manifest-sha256.txt";
pub const TAG_MANIFEST: &str = "tagmanifest-sha256.txt";
pub const CHECKPOINT: &str = "log/checkpoint";
pub const PREVIOUS_CHECKPOINT: &str = "log/previous-checkpoint";
pub const PREVIOUS_FRONTIER: &str = "log/previous-frontier.json";
pub const CONSISTENCY_PROOF: &str = "log/consistency-proof.json";
/// The run record, a payload file.
pub const RUN_RECORD: &str = "data/run.json";

/// File name of bundle `seq`: `run-000042.zip`.
pub fn bundle_file_name(seq: u64) -> String {
    format!("{}.zip", bag_dir(seq))
}

/// The bag's top directory inside bundle `seq`: `run-000042`.
pub fn bag_dir(seq: u64) -> String {
    format!("run-{seq:06}")
}

/// The sequence number in a bag directory name (`run-` and at least six digits, no sign, not
/// zero, no superfluous leading zeros beyond six digits).
pub fn parse_bag_dir(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("run-")?;
    if digits.len() < 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seq: u64 = digits.parse().ok()?;
    (seq > 0 && bag_dir(seq) == name).then_some(seq)
}

/// The sequence number in a bundle file name.
pub fn parse_bundle_file_name(name: &str) -> Option<u64> {
    parse_bag_dir(name.strip_suffix(".zip")?)
}

/// `data/items/<id>/metadata.json`.
pub fn item_metadata_path(id: &ItemId) -> String {
    format!("data/items/{id}/metadata.json")
}

/// `data/items/<id>/artefact/<name>`.
pub fn item_artefact_path(id: &ItemId, file_name: &str) -> String {
    format!("data/items/{id}/artefact/{file_name}")
}

/// `data/populations/<source>/<nnnn>.json`, numbered in the order the source reported them.
pub fn population_path(source: &SourceName, n: u32) -> String {
    format!("data/populations/{source}/{n:04}.json")
}

/// `data/gaps/<source>/<nnnn>.json`, numbered in the order the source reported them.
pub fn gap_path(source: &SourceName, n: u32) -> String {
    format!("data/gaps/{source}/{n:04}.json")
}

/// What a payload path is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadPath<'a> {
    ItemMetadata { id: &'a str },
    ItemArtefact { id: &'a str, file_name: &'a str },
    Population { source: &'a str },
    Gap { source: &'a str },
    RunRecord,
}

/// Classify a bag-relative payload path, or `None` when it fits no convention.
pub fn classify_payload(path: &str) -> Option<PayloadPath<'_>> {
    if path == RUN_RECORD {
        return Some(PayloadPath::RunRecord);
    }
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["data", "items", id, "metadata.json"] => Some(PayloadPath::ItemMetadata { id }),
        ["data", "items", id, "artefact", file_name] => {
            Some(PayloadPath::ItemArtefact { id, file_name })
        }
        ["data", "populations", source, file] if is_numbered_json(file) => {
            Some(PayloadPath::Population { source })
        }
        ["data", "gaps", source, file] if is_numbered_json(file) => {
            Some(PayloadPath::Gap { source })
        }
        _ => None,
    }
}

fn is_numbered_json(file: &str) -> bool {
    file.strip_suffix(".json")
        .is_some_and(|n| n.len() >= 4 && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The tag files a bag may hold besides `tagmanifest-sha256.txt`, which lists them.
pub const TAG_FILES: &[&str] = &[
    BAGIT,
    BAG_INFO,
    CHECKPOINT,
    CONSISTENCY_PROOF,
    PREVIOUS_CHECKPOINT,
    PREVIOUS_FRONTIER,
    MANIFEST,
];

/// A file name safe for a payload path: `[A-Za-z0-9._-]`, not starting with `.`, at most 100
/// characters, keeping the extension where it can. Other characters become `_`.
pub fn sanitize_file_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    while out.starts_with('.') {
        out.replace_range(0..1, "_");
    }
    if out.len() > 100 {
        let ext = out
            .rfind('.')
            .filter(|&i| out.len() - i <= 16)
            .map(|i| out[i..].to_owned())
            .unwrap_or_default();
        out.truncate(100 - ext.len());
        out.push_str(&ext);
    }
    if out.is_empty() {
        out.push_str("artefact");
    }
    out
}

/// True when `origin` is usable as a log identity: printable ASCII without spaces or `+`
/// (C2SP tlog-checkpoint), 1–255 characters.
pub fn is_valid_origin(origin: &str) -> bool {
    !origin.is_empty()
        && origin.len() <= 255
        && origin.bytes().all(|b| b.is_ascii_graphic() && b != b'+')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundle_names_round_trip_and_odd_ones_are_refused() {
        assert_eq!(bundle_file_name(42), "run-000042.zip");
        assert_eq!(parse_bundle_file_name("run-000042.zip"), Some(42));
        assert_eq!(parse_bundle_file_name("run-1234567.zip"), Some(1_234_567));
        for bad in [
            "run-42.zip",
            "run-0000042.zip",
            "run-000000.zip",
            "run-00004a.zip",
            "x.zip",
        ] {
            assert_eq!(parse_bundle_file_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn payload_paths_are_classified() {
        assert_eq!(
            classify_payload("data/items/a-1/artefact/x.md"),
            Some(PayloadPath::ItemArtefact {
                id: "a-1",
                file_name: "x.md"
            })
        );
        assert_eq!(
            classify_payload("data/items/a-1/metadata.json"),
            Some(PayloadPath::ItemMetadata { id: "a-1" })
        );
        assert_eq!(
            classify_payload("data/gaps/gh/0001.json"),
            Some(PayloadPath::Gap { source: "gh" })
        );
        assert_eq!(
            classify_payload("data/run.json"),
            Some(PayloadPath::RunRecord)
        );
        assert_eq!(classify_payload("data/other.txt"), None);
        assert_eq!(classify_payload("data/items/a/artefact/x/y"), None);
    }

    #[test]
    fn file_names_are_made_safe_and_keep_their_extension() {
        assert_eq!(
            sanitize_file_name("Risk register (Q1).xlsx"),
            "Risk_register__Q1_.xlsx"
        );
        assert_eq!(sanitize_file_name(".env"), "_env");
        assert_eq!(sanitize_file_name(""), "artefact");
        let long = format!("{}.json", "a".repeat(300));
        let s = sanitize_file_name(&long);
        assert_eq!(s.len(), 100);
        assert!(s.ends_with(".json"));
    }

    #[test]
    fn origins_are_printable_without_spaces_or_plus() {
        assert!(is_valid_origin("example.org/ai"));
        assert!(!is_valid_origin("example org"));
        assert!(!is_valid_origin("a+b"));
        assert!(!is_valid_origin(""));
    }
}
