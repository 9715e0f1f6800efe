//! `[source.redact]`: what the agent redacts from a source's items before a byte of them is
//! staged. Secret rules are on for every source unless turned off here; personal-data rules and
//! actor pseudonyms are switched on per source.

use std::collections::BTreeSet;

use evidence_redact::Policy;
use serde::Deserialize;

use crate::config_error::ConfigError;

/// One source's redaction settings, as written in the agent's TOML.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RedactConfig {
    /// The secret rules (tokens, keys, credentials in URLs, `password=` assignments). On by
    /// default; turning them off is recorded in every bundle.
    #[serde(default = "on")]
    pub secrets: bool,
    /// The personal-data rules (e-mail, phone, IBAN, card numbers, IP addresses). Off by default.
    #[serde(default)]
    pub personal: bool,
    /// Rule ids switched off (`evidence-agent redaction-rules` lists them).
    #[serde(default)]
    pub disable: Vec<String>,
    /// Exact values never redacted (a public example address, a test fixture's fake key).
    #[serde(default)]
    pub allow: Vec<String>,
    /// Replace actor names and ids with keyed pseudonyms (`pseudonym-<16 hex>`).
    #[serde(default)]
    pub pseudonymise_actors: bool,
    /// The media types scanned, replacing the default (text, JSON, CSV, YAML, XML, logs):
    /// exact types (`application/json`) or a whole top-level type (`text/*`).
    #[serde(default)]
    pub media_types: Option<Vec<String>>,
}

fn on() -> bool {
    true
}

impl Default for RedactConfig {
    fn default() -> Self {
        Self {
            secrets: true,
            personal: false,
            disable: Vec::new(),
            allow: Vec::new(),
            pseudonymise_actors: false,
            media_types: None,
        }
    }
}

impl RedactConfig {
    /// The policy, checked: every disabled rule must exist, every media type must be a type.
    pub fn policy(&self, at: &str) -> Result<Policy, ConfigError> {
        let policy = Policy {
            secrets: self.secrets,
            personal: self.personal,
            disabled: self.disable.iter().cloned().collect(),
            allow: self.allow.iter().cloned().collect::<BTreeSet<_>>(),
        };
        policy
            .validate()
            .map_err(|e| ConfigError::new(format!("{at} redact"), e.to_string()).key("disable"))?;
        for t in self.media_types.iter().flatten() {
            let ok = t
                .split_once('/')
                .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty() && !a.contains('*'));
            if !ok {
                return Err(ConfigError::new(
                    format!("{at} redact"),
                    format!("media type {t:?} is not `type/subtype` or `type/*`"),
                )
                .key("media_types"));
            }
        }
        Ok(policy)
    }

    /// Whether an artefact of `media_type` is scanned.
    pub fn scans(&self, media_type: &str) -> bool {
        let Some(list) = &self.media_types else {
            return evidence_redact::is_scannable(media_type);
        };
        let essence = media_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        list.iter().any(|t| {
            let t = t.to_ascii_lowercase();
            match t.strip_suffix("/*") {
                Some(top) => essence.split('/').next() == Some(top),
                None => essence == t,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_on_personal_off_by_default() {
        let c: RedactConfig = toml::from_str("").unwrap();
        assert_eq!(c, RedactConfig::default());
        let p = c.policy("source \"a\"").unwrap();
        assert!(p.secrets && !p.personal);
        assert!(c.scans("text/plain; charset=utf-8"));
        assert!(c.scans("application/json"));
        assert!(!c.scans("application/octet-stream"));
    }

    #[test]
    fn an_unknown_rule_or_a_bad_media_type_is_refused_naming_the_key() {
        let c: RedactConfig = toml::from_str("disable = [\"no-such-rule\"]").unwrap();
        let e = c.policy("source \"a\"").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("disable"));
        assert!(e.to_string().contains("no-such-rule"), "{e}");
        let c: RedactConfig = toml::from_str("media_types = [\"json\"]").unwrap();
        let e = c.policy("source \"a\"").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("media_types"));
    }

    #[test]
    fn a_media_type_list_replaces_the_default() {
        let c: RedactConfig =
            toml::from_str("media_types = [\"text/*\", \"image/svg+xml\"]").unwrap();
        assert!(c.scans("text/csv"));
        assert!(c.scans("image/svg+xml"));
        assert!(!c.scans("application/json"));
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<RedactConfig>("personal_data = true").is_err());
    }
}
