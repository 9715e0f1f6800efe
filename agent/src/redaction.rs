//! Redaction at collection: the run's key, each source's redactor, and the pass a draft's
//! metadata goes through before the sink stages it. The artefact bytes are redacted by the sink
//! while they stream in (see `sink.rs`); nothing unredacted reaches the staging area.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use evidence_archive::run_record::RedactionPolicy;
use evidence_connectors::{ConfigError as EntryError, ItemDraft, RedactConfig};
use evidence_model::{Redaction, ScanState};
use evidence_redact::{KeyError, Policy, RedactingWriter, RedactionKey, Redactor, Report};

/// The environment variable holding the redaction key (16 bytes or more).
pub const KEY_ENV: &str = "EVIDENCE_REDACTION_KEY";
/// Without [`KEY_ENV`], the key the agent generates once and keeps in its state folder.
pub const KEY_FILE: &str = "redaction.key";

/// Why the redaction key could not be had. Never carries the key.
#[derive(Debug, thiserror::Error)]
pub enum KeyLoadError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("cannot read or create the redaction key {path}: {source}")]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The key placeholders and pseudonyms are made with: [`KEY_ENV`] when set, else the key kept
/// in `state_dir/redaction.key`, created with 32 random bytes (mode 0600) on first use, so that
/// the same secret gets the same placeholder in every run of this agent.
pub fn load_key(state_dir: &Path) -> Result<RedactionKey, KeyLoadError> {
    if std::env::var_os(KEY_ENV).is_some() {
        return Ok(RedactionKey::from_env(KEY_ENV)?);
    }
    let path = state_dir.join(KEY_FILE);
    let file_error = |source| KeyLoadError::File {
        path: path.clone(),
        source,
    };
    match std::fs::read(&path) {
        Ok(bytes) => Ok(RedactionKey::new(
            bytes.trim_ascii().to_vec(),
            &path.display().to_string(),
        )?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let text = hex::encode(rand::random::<[u8; 32]>());
            create_private(&path, text.as_bytes()).map_err(file_error)?;
            tracing::info!(path = %path.display(), "created the redaction key; keep it with the agent's state (or set {KEY_ENV})");
            Ok(RedactionKey::new(
                text.into_bytes(),
                &path.display().to_string(),
            )?)
        }
        Err(e) => Err(file_error(e)),
    }
}

/// Create `path` readable by its owner only, with `bytes`, durably.
fn create_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// One source's redaction: its policy with the run's key, and the settings beside the policy.
#[derive(Debug)]
pub struct SourceRedaction {
    redactor: Redactor,
    config: RedactConfig,
    key: RedactionKey,
}

/// The metadata fields of a draft that are scanned, by the name a [`Redaction`] gives them.
const TEXT_FIELDS: [&str; 5] = ["title", "reference", "url", "endpoint", "query"];

impl SourceRedaction {
    /// The redaction of the source `at` names, configured by `config`.
    pub fn new(config: &RedactConfig, key: &RedactionKey, at: &str) -> Result<Self, EntryError> {
        let policy: Policy = config.policy(at)?;
        let redactor = Redactor::new(policy, key.clone())
            .map_err(|e| EntryError::new(format!("{at} redact"), e.to_string()))?;
        Ok(Self {
            redactor,
            config: config.clone(),
            key: key.clone(),
        })
    }

    /// Whether an artefact of `media_type` is scanned, and if not, why. Zips are scanned entry
    /// by entry unless `media_types` is given without them.
    pub fn scan_state(&self, media_type: &str) -> ScanState {
        if self.redactor.policy().is_off() {
            ScanState::Off
        } else if self.config.scans(media_type)
            || (self.config.media_types.is_none() && crate::redact_zip::is_zip(media_type))
        {
            ScanState::Scanned
        } else {
            ScanState::NotScannedBinary
        }
    }

    /// A writer redacting what goes through it into `inner`, replacing `identities` by their
    /// pseudonyms (see [`Self::identities`]).
    pub fn writer<W: Write>(&self, inner: W, identities: &[String]) -> RedactingWriter<'_, W> {
        self.redactor
            .writer(inner)
            .with_identities(identities.iter().cloned())
    }

    /// The actor identities of `draft` to pseudonymise in its artefact too (none unless the
    /// source pseudonymises actors). Call before [`Self::redact_draft`] replaces them.
    pub fn identities(&self, draft: &ItemDraft) -> Vec<String> {
        if !self.config.pseudonymise_actors {
            return Vec::new();
        }
        draft
            .actors
            .iter()
            .flat_map(|a| std::iter::once(a.name.clone()).chain(a.id.clone()))
            .collect()
    }

    /// Pseudonyms under the run's key, for connectors that pseudonymise inside what they
    /// read (event-log users): the same pseudonym an actor gets.
    pub fn pseudonymiser(&self) -> evidence_connectors::Pseudonymiser {
        evidence_connectors::Pseudonymiser::new(self.key.clone())
    }

    /// Whether actors are replaced by pseudonyms.
    pub fn pseudonymises_actors(&self) -> bool {
        self.config.pseudonymise_actors
    }

    /// Redact the draft's metadata in place (title, reference, links, query, attribute strings,
    /// actors) and pseudonymise its actors when the source asks for it. Returns what was
    /// replaced. With the policy off, only pseudonyms apply.
    pub fn redact_draft(&self, draft: &mut ItemDraft) -> Vec<Redaction> {
        let mut found = Vec::new();
        if self.config.pseudonymise_actors {
            self.pseudonymise(draft);
        }
        if self.redactor.policy().is_off() {
            return found;
        }
        let mut field = |target: &str, text: &mut String| {
            let (out, report) = self.redactor.redact_str(text);
            if report.total > 0 {
                *text = out;
                found.extend(as_redactions(target, &report, false));
            }
        };
        let [title, reference, url, endpoint, query] = TEXT_FIELDS;
        field(title, &mut draft.title);
        field(reference, &mut draft.reference);
        for (name, value) in [
            (url, draft.url.as_mut()),
            (endpoint, draft.endpoint.as_mut()),
            (query, draft.query.as_mut()),
        ] {
            if let Some(v) = value {
                field(name, v);
            }
        }
        for actor in &mut draft.actors {
            field("actors", &mut actor.name);
            if let Some(id) = actor.id.as_mut() {
                field("actors", id);
            }
        }
        for (name, value) in &mut draft.attributes {
            redact_json(&mut field, &format!("attributes.{name}"), value);
        }
        found
    }

    /// Replace every actor's name and id, and every attribute string equal to one of them,
    /// with its keyed pseudonym.
    fn pseudonymise(&self, draft: &mut ItemDraft) {
        let identities: BTreeSet<String> = draft
            .actors
            .iter()
            .flat_map(|a| std::iter::once(a.name.clone()).chain(a.id.clone()))
            .collect();
        for actor in &mut draft.actors {
            actor.name = self.key.pseudonym(&actor.name);
            actor.id = actor.id.as_deref().map(|id| self.key.pseudonym(id));
        }
        for value in draft.attributes.values_mut() {
            pseudonymise_json(value, &identities, &self.key);
        }
    }

    /// What the run record says about this source's redaction.
    pub fn describe(&self, replaced: u64, binary_items: u64) -> RedactionPolicy {
        let d = self.redactor.policy().describe();
        RedactionPolicy {
            format: d.format,
            secrets: d.secrets,
            personal: d.personal,
            rules: d.rules,
            allowed_values: d.allowed_values as u64,
            pseudonymise_actors: self.config.pseudonymise_actors,
            replaced,
            binary_items,
        }
    }
}

/// The model's record of what `report` replaced in `target`; byte ranges for the artefact.
pub fn as_redactions(target: &str, report: &Report, with_range: bool) -> Vec<Redaction> {
    report
        .redactions
        .iter()
        .map(|r| Redaction {
            target: target.to_owned(),
            rule: r.rule.to_owned(),
            rule_version: r.rule_version,
            range: with_range.then_some([r.start, r.end]),
            placeholder: r.placeholder.clone(),
        })
        .collect()
}

/// Redact every string inside a JSON value, naming it by its path.
fn redact_json(field: &mut impl FnMut(&str, &mut String), at: &str, value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) => field(at, s),
        serde_json::Value::Array(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                redact_json(field, &format!("{at}[{i}]"), v);
            }
        }
        serde_json::Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                redact_json(field, &format!("{at}.{k}"), v);
            }
        }
        _ => {}
    }
}

fn pseudonymise_json(value: &mut serde_json::Value, who: &BTreeSet<String>, key: &RedactionKey) {
    match value {
        serde_json::Value::String(s) if who.contains(s.as_str()) => *s = key.pseudonym(s),
        serde_json::Value::Array(items) => {
            items
                .iter_mut()
                .for_each(|v| pseudonymise_json(v, who, key));
        }
        serde_json::Value::Object(map) => {
            map.values_mut()
                .for_each(|v| pseudonymise_json(v, who, key));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use evidence_connectors::Tagging;
    use evidence_model::Actor;

    fn key() -> RedactionKey {
        RedactionKey::new(b"0123456789abcdef0123".to_vec(), "test").unwrap()
    }

    fn draft() -> ItemDraft {
        let tagging = Tagging::resolve("incident_ticket", None, None, None, "t").unwrap();
        ItemDraft::builder(&tagging, "AIOPS-1", "AIOPS-1.json", "application/json").build()
    }

    const TOKEN: &str = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";

    #[test]
    fn metadata_strings_are_redacted_and_listed_by_field() {
        let r = SourceRedaction::new(&RedactConfig::default(), &key(), "source \"j\"").unwrap();
        let mut d = draft();
        d.title = format!("leaked {TOKEN} in logs");
        d.attributes.insert(
            "notes".into(),
            serde_json::json!({ "body": [format!("token {TOKEN}")] }),
        );
        let found = r.redact_draft(&mut d);
        assert!(!d.title.contains(TOKEN), "{}", d.title);
        assert!(!d.attributes["notes"].to_string().contains(TOKEN));
        let targets: Vec<&str> = found.iter().map(|f| f.target.as_str()).collect();
        assert_eq!(targets, ["title", "attributes.notes.body[0]"]);
        assert_eq!(
            found[0].placeholder, found[1].placeholder,
            "same secret, same placeholder"
        );
        assert!(found.iter().all(|f| f.range.is_none()));
    }

    #[test]
    fn pseudonyms_replace_actors_and_attribute_copies_of_them() {
        let config: RedactConfig = toml::from_str("pseudonymise_actors = true").unwrap();
        let r = SourceRedaction::new(&config, &key(), "source \"g\"").unwrap();
        let mut d = draft();
        d.actors.push(Actor {
            role: "approver".into(),
            name: "alice".into(),
            id: Some("42".into()),
        });
        d.attributes
            .insert("approvers".into(), serde_json::json!(["alice", "bob"]));
        r.redact_draft(&mut d);
        let alice = key().pseudonym("alice");
        assert_eq!(d.actors[0].name, alice);
        assert_eq!(
            d.actors[0].id.as_deref(),
            Some(key().pseudonym("42").as_str())
        );
        assert_eq!(d.attributes["approvers"], serde_json::json!([alice, "bob"]));
    }

    #[test]
    fn scan_state_follows_the_policy_and_media_type() {
        let on = SourceRedaction::new(&RedactConfig::default(), &key(), "s").unwrap();
        assert_eq!(on.scan_state("text/plain"), ScanState::Scanned);
        assert_eq!(on.scan_state("image/png"), ScanState::NotScannedBinary);
        let off: RedactConfig = toml::from_str("secrets = false").unwrap();
        let off = SourceRedaction::new(&off, &key(), "s").unwrap();
        assert_eq!(off.scan_state("text/plain"), ScanState::Off);
        assert!(off.describe(0, 0).rules.is_empty());
    }

    #[test]
    fn the_key_file_is_created_once_private_and_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        // SAFETY: not set by any other test of this binary.
        assert!(std::env::var_os(KEY_ENV).is_none());
        let first = load_key(dir.path()).unwrap();
        let second = load_key(dir.path()).unwrap();
        assert_eq!(first.pseudonym("x"), second.pseudonym("x"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
