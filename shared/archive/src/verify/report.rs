//! What verification reports: findings ([`Problem`], [`Severity`], [`Category`]), per-bundle
//! and per-archive reports, the trust findings (signatures, time stamp, pin), and the one place
//! findings are rendered as text for people.

use std::fmt;

use evidence_model::Timestamp;
use serde::Serialize;

use crate::log::Checkpoint;
use crate::merkle::Frontier;
use crate::tsp::TimeStampInfo;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing; the archive still verifies.
    Warning,
    /// Verification fails.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Warning => "warning",
            Self::Error => "error",
        })
    }
}

/// What a finding is about; serialised as a short lowercase word, stable for scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// The ZIP container (`zip`).
    Zip,
    /// Names and places of files (`layout`).
    Layout,
    /// A digest that does not match (`digest`).
    Digest,
    /// The bag's manifests (`manifest`).
    Manifest,
    /// An item, population, gap or run record (`record`).
    Record,
    /// The Merkle log: checkpoint, frontier, consistency proof (`log`).
    Log,
    /// The chain between runs of an archive (`chain`).
    Chain,
    /// A format or schema version this reader does not know (`version`).
    Version,
    /// Reading files or objects (`io`).
    Io,
    /// Signatures over bundles and checkpoints (`signature`).
    Signature,
    /// RFC 3161 time stamps (`timestamp`).
    Timestamp,
    /// The archive against a pinned checkpoint (`pin`).
    Pin,
    /// An exported item proof (`proof`).
    Proof,
}

impl Category {
    /// The word scripts see in JSON reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Zip => "zip",
            Self::Layout => "layout",
            Self::Digest => "digest",
            Self::Manifest => "manifest",
            Self::Record => "record",
            Self::Log => "log",
            Self::Chain => "chain",
            Self::Version => "version",
            Self::Io => "io",
            Self::Signature => "signature",
            Self::Timestamp => "timestamp",
            Self::Pin => "pin",
            Self::Proof => "proof",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
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
    pub category: Category,
    pub message: String,
}

impl Problem {
    /// An error about `file` as a whole.
    pub fn error(file: impl Into<String>, category: Category, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            file: file.into(),
            entry: None,
            category,
            message: message.into(),
        }
    }

    /// A warning about `file` as a whole.
    pub fn warning(
        file: impl Into<String>,
        category: Category,
        message: impl Into<String>,
    ) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(file, category, message)
        }
    }

    /// The same finding about `entry` of the file.
    pub fn at(mut self, entry: impl Into<String>) -> Self {
        self.entry = Some(entry.into());
        self
    }

    /// True for an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// `error: entry: message` (the entry only when there is one); the alternate form
/// (`{:#}`) names the file too: `error: file: entry: message`.
impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.severity)?;
        if f.alternate() {
            write!(f, "{}: ", self.file)?;
        }
        if let Some(entry) = &self.entry {
            write!(f, "{entry}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Render findings one a line, each after `indent`; with `with_file`, each names its file.
pub fn render_problems<'a>(
    problems: impl IntoIterator<Item = &'a Problem>,
    indent: &str,
    with_file: bool,
) -> String {
    let mut out = String::new();
    for p in problems {
        let line = if with_file {
            format!("{indent}{p:#}\n")
        } else {
            format!("{indent}{p}\n")
        };
        out.push_str(&line);
    }
    out
}

/// Serialise an optional checkpoint as its text, or as the empty string when there is none
/// (the bundle's checkpoint was missing or unreadable, which is reported as a problem).
fn checkpoint_or_empty<S: serde::Serializer>(
    cp: &Option<Checkpoint>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match cp {
        Some(cp) => cp.serialize(serializer),
        None => serializer.serialize_str(""),
    }
}

/// What a verified bundle holds, for summaries and for chaining.
#[derive(Debug, Clone, Serialize)]
pub struct BundleSummary {
    pub file: String,
    pub seq: u64,
    pub origin: String,
    pub collected_at: Timestamp,
    /// The bundle's checkpoint; `None` when it is missing or malformed (then the bundle fails).
    /// Serialised as its text (empty when `None`).
    #[serde(serialize_with = "checkpoint_or_empty")]
    pub checkpoint: Option<Checkpoint>,
    /// The checkpoint this run continues from; `None` for the first run, or when malformed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_checkpoint: Option<Checkpoint>,
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
        self.summary.is_some() && !self.problems.iter().any(Problem::is_error)
    }

    /// A bundle that could not be read at all.
    pub fn unreadable(file: &str, category: Category, message: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            summary: None,
            problems: vec![Problem::error(file, category, message)],
            trust: None,
        }
    }
}

/// The result of verifying an archive.
#[derive(Debug, Clone, Serialize)]
pub struct ArchiveReport {
    pub path: String,
    pub valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// The checkpoint of the last valid run of an unbroken chain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest_checkpoint: Option<Checkpoint>,
    pub bundles: Vec<BundleReport>,
    /// Chain and directory problems (bundle problems are in `bundles`).
    pub problems: Vec<Problem>,
    /// How the archive relates to a checkpoint pinned by the verifier, when one was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin: Option<PinReport>,
}

impl ArchiveReport {
    /// An empty, not yet valid report of the archive at `path`.
    pub fn new(path: &str) -> Self {
        Self {
            path: path.to_owned(),
            valid: false,
            origin: None,
            latest_checkpoint: None,
            bundles: Vec::new(),
            problems: Vec::new(),
            pin: None,
        }
    }

    /// Every problem: the archive's own, then each bundle's.
    pub fn all_problems(&self) -> impl Iterator<Item = &Problem> {
        self.problems
            .iter()
            .chain(self.bundles.iter().flat_map(|b| b.problems.iter()))
    }

    /// How many errors the archive and its bundles have.
    pub fn error_count(&self) -> usize {
        self.all_problems().filter(|p| p.is_error()).count()
    }
}

/// A signature and what was concluded about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignatureReport {
    /// `run-000001.zip.sig`, `log/checkpoint.sig` or a co-signature file.
    pub file: String,
    /// The signing key's fingerprint (`SHA256:…`).
    pub key: String,
    /// True when the signature verifies (and, with allowed signers, the key may sign then).
    pub valid: bool,
    /// The allowed_signers principals of the key, when it was found there.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub principals: Vec<String>,
    /// Whether the key was checked against an allowed_signers file.
    pub identity_checked: bool,
    /// Why it is not valid, or what was not checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A run's time stamp.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimeStampReport {
    #[serde(flatten)]
    pub info: TimeStampInfo,
    /// True when it was verified against the TSA roots: then `time` is trusted time.
    pub verified: bool,
}

/// Signatures, time stamp and co-signatures of one bundle.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TrustReport {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bundle_signature: Option<SignatureReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint_signature: Option<SignatureReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<TimeStampReport>,
    /// The run was sealed without a time stamp (a gap record says why).
    pub untimestamped: bool,
    /// The time at which signing keys' validity windows were checked: the verified time
    /// stamp's time, or the verifier's clock.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys_checked_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cosignatures: Vec<SignatureReport>,
}

/// How an archive relates to a pinned checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PinReport {
    /// The pinned checkpoint (serialised as its text).
    pub checkpoint: Checkpoint,
    /// True when the archive provably extends it.
    pub extended: bool,
    /// The run whose checkpoint equals the pinned one, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matches_run: Option<u64>,
    /// The RFC 9162 consistency proof from the pinned tree to the archive's latest, computed
    /// from the archive's leaves (standard base64).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consistency_proof: Option<Vec<String>>,
}

/// Collects the findings about one file.
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

    fn push(
        &mut self,
        severity: Severity,
        entry: Option<&str>,
        category: Category,
        message: String,
    ) {
        self.problems.push(Problem {
            severity,
            file: self.file.clone(),
            entry: entry.map(str::to_owned),
            category,
            message,
        });
    }

    pub(crate) fn warning(
        &mut self,
        entry: Option<&str>,
        category: Category,
        message: impl Into<String>,
    ) {
        self.push(Severity::Warning, entry, category, message.into());
    }

    pub(crate) fn error(
        &mut self,
        entry: Option<&str>,
        category: Category,
        message: impl Into<String>,
    ) {
        self.push(Severity::Error, entry, category, message.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_serialise_to_the_words_scripts_read() {
        for (c, word) in [
            (Category::Zip, "zip"),
            (Category::Layout, "layout"),
            (Category::Digest, "digest"),
            (Category::Manifest, "manifest"),
            (Category::Record, "record"),
            (Category::Log, "log"),
            (Category::Chain, "chain"),
            (Category::Version, "version"),
            (Category::Io, "io"),
            (Category::Signature, "signature"),
            (Category::Timestamp, "timestamp"),
            (Category::Pin, "pin"),
            (Category::Proof, "proof"),
        ] {
            assert_eq!(serde_json::to_value(c).unwrap(), word);
            assert_eq!(c.as_str(), word);
        }
    }

    #[test]
    fn a_problem_renders_with_and_without_its_file() {
        let p = Problem::error("run-000001.zip", Category::Log, "bad").at("log/checkpoint");
        assert_eq!(p.to_string(), "error: log/checkpoint: bad");
        assert_eq!(
            format!("{p:#}"),
            "error: run-000001.zip: log/checkpoint: bad"
        );
        let w = Problem::warning("a", Category::Layout, "odd");
        assert_eq!(
            render_problems([&p, &w], "  ", false),
            "  error: log/checkpoint: bad\n  warning: odd\n"
        );
    }
}
