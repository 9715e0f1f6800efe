//! The BagIt (RFC 8493) text files of a bundle: `bag-info.txt` with our labels, and the
//! SHA-256 manifests in the `sha256sum -c` line format. Writing is canonical; parsing accepts only
//! what writing produces.

use std::collections::BTreeMap;

use evidence_model::{Sha256Digest, Timestamp};

use crate::layout;

/// A text file of the bag that does not have the form the writer produces.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BagTextError {
    #[error(
        "this bundle uses archive format {found}, which this version does not know (it reads {known}); upgrade evidence-auditor"
    )]
    UnknownVersion { found: String, known: String },
    #[error("{file}: {reason}")]
    Malformed { file: &'static str, reason: String },
}

fn malformed(file: &'static str, reason: impl Into<String>) -> BagTextError {
    BagTextError::Malformed {
        file,
        reason: reason.into(),
    }
}

/// What `bag-info.txt` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BagInfo {
    pub software_agent: String,
    pub collected_at: Timestamp,
    pub format_version: String,
    pub origin: String,
    pub run: u64,
    pub payload_bytes: u64,
    pub payload_files: u64,
}

const LABELS: &[&str] = &[
    "Bag-Software-Agent",
    "Bagging-Date",
    "Evidence-Collected-At",
    "Evidence-Format-Version",
    "Evidence-Origin",
    "Evidence-Run",
    "External-Identifier",
    "Payload-Oxum",
];

impl BagInfo {
    /// The exact text of `bag-info.txt`.
    pub fn to_text(&self) -> String {
        let date = self.collected_at.to_zoned(jiff::tz::TimeZone::UTC).date();
        format!(
            "Bag-Software-Agent: {}\nBagging-Date: {date}\nEvidence-Collected-At: {}\nEvidence-Format-Version: {}\nEvidence-Origin: {}\nEvidence-Run: {}\nExternal-Identifier: {}/{}\nPayload-Oxum: {}.{}\n",
            self.software_agent,
            self.collected_at,
            self.format_version,
            self.origin,
            self.run,
            self.origin,
            layout::bag_dir(self.run),
            self.payload_bytes,
            self.payload_files,
        )
    }

    /// Parse `bag-info.txt`. The format version is checked first so that a bundle from a newer
    /// writer gets a clear "unknown version" message rather than a list of odd labels.
    pub fn parse(text: &str) -> Result<Self, BagTextError> {
        const F: &str = layout::BAG_INFO;
        let mut fields = BTreeMap::new();
        let body = text
            .strip_suffix('\n')
            .ok_or_else(|| malformed(F, "must end with a newline"))?;
        for line in body.split('\n') {
            let (label, value) = line
                .split_once(": ")
                .ok_or_else(|| malformed(F, format!("line {line:?} is not `Label: value`")))?;
            if fields.insert(label, value).is_some() {
                return Err(malformed(F, format!("label {label} appears twice")));
            }
        }
        let version = fields
            .get("Evidence-Format-Version")
            .ok_or_else(|| malformed(F, "no Evidence-Format-Version label"))?;
        if !layout::READABLE_VERSIONS.contains(version) {
            return Err(BagTextError::UnknownVersion {
                found: (*version).to_owned(),
                known: layout::READABLE_VERSIONS.join(", "),
            });
        }
        for label in fields.keys() {
            if !LABELS.contains(label) {
                return Err(malformed(F, format!("unexpected label {label}")));
            }
        }
        let get = |l: &str| {
            fields
                .get(l)
                .copied()
                .ok_or_else(|| malformed(F, format!("no {l} label")))
        };
        let collected_at: Timestamp = get("Evidence-Collected-At")?
            .parse()
            .map_err(|e| malformed(F, format!("Evidence-Collected-At: {e}")))?;
        let run: u64 = get("Evidence-Run")?
            .parse()
            .map_err(|_| malformed(F, "Evidence-Run is not a number"))?;
        let (bytes, files) = get("Payload-Oxum")?
            .split_once('.')
            .and_then(|(b, f)| Some((b.parse().ok()?, f.parse().ok()?)))
            .ok_or_else(|| malformed(F, "Payload-Oxum is not `bytes.files`"))?;
        let info = Self {
            software_agent: get("Bag-Software-Agent")?.to_owned(),
            collected_at,
            format_version: (*version).to_owned(),
            origin: get("Evidence-Origin")?.to_owned(),
            run,
            payload_bytes: bytes,
            payload_files: files,
        };
        if info.to_text() != text {
            return Err(malformed(
                F,
                "not in canonical form (labels, order, dates or identifier differ)",
            ));
        }
        Ok(info)
    }
}

/// A SHA-256 manifest: one `digest  path` line per file, sorted by path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    entries: BTreeMap<String, Sha256Digest>,
}

impl Manifest {
    /// An empty manifest.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a file; returns false when the path was already listed.
    pub fn insert(&mut self, path: String, digest: Sha256Digest) -> bool {
        self.entries.insert(path, digest).is_none()
    }

    /// The digest listed for `path`.
    pub fn get(&self, path: &str) -> Option<&Sha256Digest> {
        self.entries.get(path)
    }

    /// Entries sorted by path.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Sha256Digest)> {
        self.entries.iter().map(|(p, d)| (p.as_str(), d))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The manifest text, checkable with `sha256sum -c` from the bag directory.
    pub fn to_text(&self) -> String {
        let mut out = String::with_capacity(self.entries.len() * 120);
        for (path, digest) in &self.entries {
            out.push_str(&format!("{digest}  {path}\n"));
        }
        out
    }

    /// Parse a manifest written by [`Manifest::to_text`]; `file` names it in errors.
    pub fn parse(text: &str, file: &'static str) -> Result<Self, BagTextError> {
        let mut m = Manifest::new();
        if text.is_empty() {
            return Ok(m);
        }
        let body = text
            .strip_suffix('\n')
            .ok_or_else(|| malformed(file, "must end with a newline"))?;
        let mut previous: Option<&str> = None;
        for line in body.split('\n') {
            let (digest, path) = line
                .split_once("  ")
                .ok_or_else(|| malformed(file, format!("line {line:?} is not `sha256  path`")))?;
            let digest: Sha256Digest = digest
                .parse()
                .map_err(|_| malformed(file, format!("bad digest on line {line:?}")))?;
            if previous.is_some_and(|p| p >= path) {
                return Err(malformed(
                    file,
                    format!("{path} is out of order or repeated"),
                ));
            }
            previous = Some(path);
            m.insert(path.to_owned(), digest);
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> BagInfo {
        BagInfo {
            software_agent: "evidence-agent 0.1.0".into(),
            collected_at: "2026-11-22T10:00:00Z".parse().unwrap(),
            format_version: "1.0".into(),
            origin: "example.org/ai".into(),
            run: 3,
            payload_bytes: 1234,
            payload_files: 5,
        }
    }

    #[test]
    fn bag_info_round_trips() {
        let text = info().to_text();
        assert!(text.contains("Bagging-Date: 2026-11-22\n"));
        assert!(text.contains("External-Identifier: example.org/ai/run-000003\n"));
        assert_eq!(BagInfo::parse(&text).unwrap(), info());
    }

    #[test]
    fn an_unknown_format_version_gets_a_clear_message() {
        let text = info().to_text().replace("Version: 1.0", "Version: 2.0");
        let err = BagInfo::parse(&text).unwrap_err();
        assert!(matches!(err, BagTextError::UnknownVersion { ref found, .. } if found == "2.0"));
        assert!(err.to_string().contains("upgrade evidence-auditor"));
    }

    #[test]
    fn edited_or_extra_labels_are_refused() {
        let text = info().to_text();
        assert!(BagInfo::parse(&text.replace("Evidence-Run: 3", "Evidence-Run: 4")).is_err());
        assert!(BagInfo::parse(&format!("{text}Contact-Name: x\n")).is_err());
    }

    #[test]
    fn manifests_round_trip_and_must_be_sorted() {
        let mut m = Manifest::new();
        m.insert("data/b".into(), Sha256Digest::of(b"b"));
        m.insert("data/a".into(), Sha256Digest::of(b"a"));
        let text = m.to_text();
        assert!(text.starts_with(&format!("{}  data/a\n", Sha256Digest::of(b"a"))));
        assert_eq!(Manifest::parse(&text, "m").unwrap(), m);
        let swapped: String = text.lines().rev().map(|l| format!("{l}\n")).collect();
        assert!(Manifest::parse(&swapped, "m").is_err());
    }
}
