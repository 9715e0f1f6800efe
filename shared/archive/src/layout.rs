//! Where things live: bundle file names, the bag's top directory, and the paths of items,
//! records and tag files inside a bag. The only place these conventions are spelled out.

use evidence_model::{ItemId, SourceName};

/// The format version this crate writes for unsigned bundles (`Evidence-Format-Version` in
/// bag-info.txt).
pub const FORMAT_VERSION: &str = "1.0";
/// The format version of signed bundles: 1.0 plus the signature tag files (`log/checkpoint.sig`,
/// required; `log/checkpoint.sig.tsr`, optional). Readers of 1.0 refuse it with a clear message.
pub const FORMAT_VERSION_SIGNED: &str = "1.1";
/// Format versions this crate can read.
pub const READABLE_VERSIONS: &[&str] = &["1.0", "1.1"];

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
/// SSHSIG signature over the exact bytes of `log/checkpoint` (format 1.1).
pub const CHECKPOINT_SIG: &str = "log/checkpoint.sig";
/// RFC 3161 time-stamp response over the exact bytes of `log/checkpoint.sig` (format 1.1).
pub const CHECKPOINT_TSR: &str = "log/checkpoint.sig.tsr";
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
    CHECKPOINT_SIG,
    CHECKPOINT_TSR,
    CONSISTENCY_PROOF,
    PREVIOUS_CHECKPOINT,
    PREVIOUS_FRONTIER,
    MANIFEST,
];

/// The tag files only a signed bundle (format 1.1) may hold.
pub const SIGNATURE_TAG_FILES: &[&str] = &[CHECKPOINT_SIG, CHECKPOINT_TSR];

/// Sidecar of bundle `seq` holding the agent's SSHSIG signature over the bundle's exact bytes.
pub fn bundle_signature_file_name(seq: u64) -> String {
    format!("{}.sig", bundle_file_name(seq))
}

/// Sidecar of bundle `seq` holding a person's co-signature over the run's checkpoint:
/// `run-NNNNNN.zip.cosig.<label>.sig`.
pub fn cosignature_file_name(seq: u64, label: &str) -> String {
    format!("{}.cosig.{label}.sig", bundle_file_name(seq))
}

/// The run and label of a co-signature file name, when `name` is one.
pub fn parse_cosignature_file_name(name: &str) -> Option<(u64, &str)> {
    let rest = name.strip_suffix(".sig")?;
    let (bundle, label) = rest.split_once(".cosig.")?;
    let seq = parse_bundle_file_name(bundle)?;
    is_valid_label(label).then_some((seq, label))
}

/// A co-signature label: 1–64 of `[A-Za-z0-9_-]`, e.g. `aims-owner`.
pub fn is_valid_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 64
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// True for a sidecar file of some bundle: `run-NNNNNN.zip.<suffix>` where the suffix is one or
/// more dot-separated parts of `[A-Za-z0-9_-]` (`.sig`, `.sha256`, `.tsr`, `.cosig.<label>.sig`).
pub fn is_sidecar_file_name(name: &str) -> bool {
    let Some((bundle, suffix)) = name.split_once(".zip.") else {
        return false;
    };
    parse_bundle_file_name(&format!("{bundle}.zip")).is_some()
        && suffix.split('.').all(is_valid_label)
}

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

/// The form two entry names are compared in for collisions: ASCII case folded. A bundle whose
/// names are equal in this form is refused by the strict reader (`strict_zip`'s
/// case-colliding names), since they would overwrite each other when extracted on a
/// case-insensitive file system; names that become path components (source names) must
/// therefore be unique in this form.
pub fn case_folded(name: &str) -> String {
    name.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_differing_only_in_ascii_case_fold_to_one() {
        assert_eq!(
            case_folded("Governance-Docs"),
            case_folded("governance-docs")
        );
        assert_ne!(case_folded("docs-1"), case_folded("docs-2"));
    }

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
    fn sidecar_names_are_recognised_and_odd_ones_are_not() {
        assert_eq!(bundle_signature_file_name(3), "run-000003.zip.sig");
        assert_eq!(
            cosignature_file_name(3, "aims-owner"),
            "run-000003.zip.cosig.aims-owner.sig"
        );
        assert_eq!(
            parse_cosignature_file_name("run-000003.zip.cosig.aims-owner.sig"),
            Some((3, "aims-owner"))
        );
        for ok in [
            "run-000001.zip.sig",
            "run-000001.zip.sha256",
            "run-000001.zip.tsr",
            "run-000001.zip.cosig.a_b-1.sig",
        ] {
            assert!(is_sidecar_file_name(ok), "{ok}");
        }
        for bad in [
            "run-000001.zip",
            "run-1.zip.sig",
            "run-000001.zip.",
            "run-000001.zip..sig",
            "run-000001.zip.cosig.a b.sig",
            "notes.txt",
        ] {
            assert!(!is_sidecar_file_name(bad), "{bad}");
        }
        assert_eq!(
            parse_cosignature_file_name("run-000001.zip.cosig..sig"),
            None
        );
        assert_eq!(
            parse_cosignature_file_name("run-000001.zip.cosig.a.b.sig"),
            None
        );
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
