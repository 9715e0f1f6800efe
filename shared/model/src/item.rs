//! The metadata record sealed beside every artefact: what it is, where it came from, which
//! controls it evidences, who acted, the three times, and its digest.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::digest::Sha256Digest;
use crate::ids::{ClauseId, ControlId, ItemId, Kind, Phase, SourceName};

/// Schema tag written into every item record.
pub const ITEM_SCHEMA: &str = "evidence-item/1";

/// Where an item came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceRef {
    /// Connector type: `local`, `github`, `s3`, `jira`, `mlflow`.
    pub connector: String,
    /// The configured source name.
    pub name: SourceName,
    /// The item's reference inside the source: a relative path, `owner/repo#123`, a ticket key.
    pub reference: String,
    /// A link a person can open, where the source has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// A person or system that acted on the evidence, with the role they played.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    /// `author`, `approver`, `reviewer`, `owner`, `reporter`, `assignee`, `resolver`, `user`, …
    pub role: String,
    /// Display name or login.
    pub name: String,
    /// Stable account id in the source system, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// The period an artefact covers (a quarter's risk review, a training run's start and end).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Period {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<Timestamp>,
}

/// The three times auditors ask about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Times {
    /// The period the evidence covers, where it says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
    /// The source system's own timestamp (merge time, last modified, resolved at).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Timestamp>,
    /// When the agent collected it.
    pub collected: Timestamp,
}

/// The sealed artefact this record describes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Artefact {
    /// Path inside the bag, e.g. `data/items/<id>/artefact/ai-policy.md`.
    pub path: String,
    pub sha256: Sha256Digest,
    pub size: u64,
    pub media_type: String,
}

/// A value replaced by a placeholder before the item left the organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Redaction {
    /// `artefact`, or the metadata field the value was in (`title`, `attributes.summary`,
    /// `actors`).
    pub target: String,
    /// The id of the rule that found it (`github-token`, `email`).
    pub rule: String,
    /// That rule's version.
    pub rule_version: u32,
    /// Byte range `[start, end)` of the placeholder in the sealed artefact (artefact only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<[u64; 2]>,
    /// The placeholder written: `[REDACTED:<rule>:<8 hex>]`, the same for the same value in
    /// every item and run.
    pub placeholder: String,
}

/// Whether an item's artefact was scanned for secrets and personal data, and what was replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactionNote {
    pub artefact: ScanState,
    /// Values replaced in all (artefact and metadata); [`ItemMeta::redactions`] lists the first
    /// ten thousand.
    pub total: u64,
    /// Whether the actors' names and ids are pseudonyms.
    pub actors_pseudonymised: bool,
}

/// What happened to an artefact's bytes on their way into the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanState {
    /// Scanned with the source's policy; replaced values are listed.
    Scanned,
    /// A binary media type: sealed byte for byte, not scanned.
    NotScannedBinary,
    /// The source's configuration turned redaction off: sealed byte for byte.
    Off,
}

/// How the item was obtained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// `evidence-agent <version>`.
    pub agent: String,
    /// `<connector> <version>`.
    pub connector: String,
    /// Endpoint or root the connector read from (never with credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The query or listing that found the item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
}

/// The canonical-JSON metadata record of one evidence item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemMeta {
    /// Always [`ITEM_SCHEMA`].
    pub schema: String,
    pub id: ItemId,
    pub kind: Kind,
    /// A short human label: a file path, a pull request title, a ticket summary.
    pub title: String,
    pub source: SourceRef,
    pub controls: Vec<ControlId>,
    pub clauses: Vec<ClauseId>,
    pub phase: Phase,
    pub actors: Vec<Actor>,
    pub times: Times,
    pub artefact: Artefact,
    pub redactions: Vec<Redaction>,
    /// Whether the artefact was scanned and how many values were replaced (absent in items
    /// sealed before redaction existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redaction: Option<RedactionNote>,
    pub provenance: Provenance,
    /// Connector-specific facts an auditor tests (approvers, stale approval, front matter).
    /// Integers, strings, booleans, arrays and objects only: canonical JSON has no floats.
    pub attributes: BTreeMap<String, serde_json::Value>,
}

impl ItemMeta {
    /// Names of the actors with `role`.
    pub fn actors_with_role<'a>(&'a self, role: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.actors
            .iter()
            .filter(move |a| a.role == role)
            .map(|a| a.name.as_str())
    }
}
