//! The per-origin append-only log: how payload files and run records become Merkle leaves, the
//! checkpoint (C2SP tlog-checkpoint body: origin, tree size, base64 root) each run commits to,
//! and the consistency-proof document. These formats are shared by the writer (`seal`) and the
//! reader (`verify`), which therefore depend on this module and not on each other.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use evidence_model::Sha256Digest;

use serde::{Deserialize, Serialize};

use crate::merkle::{Hash, leaf_hash};

/// A signed-note style checkpoint body: `origin\nsize\nbase64(root)\n`. It serialises as
/// that text, so JSON reports carry the exact bytes stored in `log/checkpoint`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

/// A checkpoint text that does not have the three-line form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed checkpoint: {0}")]
pub struct CheckpointParseError(pub String);

impl Checkpoint {
    /// The exact text stored in `log/checkpoint`.
    pub fn to_text(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        )
    }

    /// The root as standard base64, as on the checkpoint's third line.
    pub fn root_base64(&self) -> String {
        STANDARD.encode(self.root)
    }

    /// Parse the exact three-line form; anything else (extra lines, signatures, CRLF, a size with
    /// a sign or leading zeros) is refused.
    pub fn parse(text: &str) -> Result<Self, CheckpointParseError> {
        let err = |m: &str| CheckpointParseError(m.to_owned());
        let body = text
            .strip_suffix('\n')
            .ok_or_else(|| err("it must end with a newline"))?;
        let lines: Vec<&str> = body.split('\n').collect();
        let [origin, size, root] = lines.as_slice() else {
            return Err(err("expected exactly three lines: origin, size, root"));
        };
        if !crate::layout::is_valid_origin(origin) {
            return Err(err(
                "the origin line is empty or has spaces or control characters",
            ));
        }
        let size_ok = !size.is_empty()
            && size.bytes().all(|b| b.is_ascii_digit())
            && (size.len() == 1 || !size.starts_with('0'));
        let size: u64 = size
            .parse()
            .ok()
            .filter(|_| size_ok)
            .ok_or_else(|| err("the size line is not a decimal number"))?;
        let bytes = STANDARD
            .decode(root)
            .map_err(|_| err("the root line is not base64"))?;
        let root: Hash = bytes
            .try_into()
            .map_err(|_| err("the root is not 32 bytes"))?;
        let cp = Self {
            origin: (*origin).to_owned(),
            size,
            root,
        };
        if cp.to_text() != text {
            return Err(err("the root line is not canonical base64"));
        }
        Ok(cp)
    }
}

impl std::fmt::Display for Checkpoint {
    /// The one-line form for people: `origin, tree size N, root R`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}, tree size {}, root {}",
            self.origin,
            self.size,
            self.root_base64()
        )
    }
}

impl std::str::FromStr for Checkpoint {
    type Err = CheckpointParseError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl Serialize for Checkpoint {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_text())
    }
}

impl<'de> Deserialize<'de> for Checkpoint {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// `log/consistency-proof.json`: an RFC 9162 consistency proof from the previous tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyProofDoc {
    pub old_size: u64,
    pub new_size: u64,
    /// Standard base64 of each hash.
    pub hashes: Vec<String>,
}

impl ConsistencyProofDoc {
    /// The proof's hashes, decoded; `None` when one is not base64 of 32 bytes.
    pub fn decoded_hashes(&self) -> Option<Vec<Hash>> {
        self.hashes.iter().map(|h| decode_hash(h)).collect()
    }
}

/// Encode hashes as standard base64 strings.
pub fn hashes_to_base64(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(|h| STANDARD.encode(h)).collect()
}

/// Decode one standard-base64 hash; `None` unless it is exactly 32 bytes.
pub fn decode_hash(b64: &str) -> Option<Hash> {
    STANDARD.decode(b64).ok()?.try_into().ok()
}

/// The leaf of one payload file: `0x00 || "evidence-leaf/v1\n" + run/path + "\n" + sha256 + "\n"
/// + size + "\n"`, where `run/path` is the full name inside the ZIP (`run-000001/data/...`).
pub fn payload_leaf(zip_name: &str, sha256: &Sha256Digest, size: u64) -> Hash {
    leaf_hash(format!("evidence-leaf/v1\n{zip_name}\n{sha256}\n{size}\n").as_bytes())
}

/// The run-record leaf, last of each run: binds the bag's metadata, its payload manifest and the
/// checkpoint it continues from (empty for the first run).
pub fn run_leaf(
    origin: &str,
    seq: u64,
    bag_info_sha256: &Sha256Digest,
    manifest_sha256: &Sha256Digest,
    previous_checkpoint: Option<&str>,
) -> Hash {
    let prev = Sha256Digest::of(previous_checkpoint.unwrap_or("").as_bytes());
    leaf_hash(
        format!("evidence-run/v1\n{origin}\n{seq}\n{bag_info_sha256}\n{manifest_sha256}\n{prev}\n")
            .as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_round_trips_through_its_text() {
        let cp = Checkpoint {
            origin: "example.org/ai".into(),
            size: 17,
            root: [7u8; 32],
        };
        let text = cp.to_text();
        assert_eq!(text.lines().count(), 3);
        assert_eq!(Checkpoint::parse(&text).unwrap(), cp);
    }

    #[test]
    fn a_checkpoint_serialises_as_its_text() {
        let cp = Checkpoint {
            origin: "example.org/ai".into(),
            size: 3,
            root: [1u8; 32],
        };
        let json = serde_json::to_string(&cp).unwrap();
        assert_eq!(json, serde_json::to_string(&cp.to_text()).unwrap());
        assert_eq!(serde_json::from_str::<Checkpoint>(&json).unwrap(), cp);
        assert!(serde_json::from_str::<Checkpoint>("\"o\\n1\\n\"").is_err());
    }

    #[test]
    fn malformed_checkpoints_are_refused() {
        let good = Checkpoint {
            origin: "o".into(),
            size: 1,
            root: [0u8; 32],
        }
        .to_text();
        for bad in [
            good.trim_end().to_owned(),
            good.replace('\n', "\r\n"),
            good.replace("\n1\n", "\n01\n"),
            good.replace("\n1\n", "\n+1\n"),
            format!("{good}extra\n"),
            good.replace("AAAA", "AAA="),
        ] {
            assert!(Checkpoint::parse(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn leaves_differ_by_path_digest_and_size() {
        let d = Sha256Digest::of(b"x");
        let a = payload_leaf("run-000001/data/a", &d, 1);
        assert_ne!(a, payload_leaf("run-000001/data/b", &d, 1));
        assert_ne!(a, payload_leaf("run-000001/data/a", &d, 2));
        assert_ne!(
            a,
            payload_leaf("run-000001/data/a", &Sha256Digest::of(b"y"), 1)
        );
    }
}
