//! A redaction policy: which rule classes are on, which rules are switched off, which values are
//! allowed through, and which media types are scanned. The policy's description (with every
//! rule's id and version) is what a bundle records, so an auditor can see what was applied.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::rules::{RULES, RuleClass};

/// Bumped when the meaning of a policy description changes.
pub const POLICY_FORMAT_VERSION: u32 = 1;

/// Why a policy is invalid.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    /// A rule id named in the configuration does not exist.
    #[error("unknown redaction rule {id:?}; known rules: {known}")]
    UnknownRule { id: String, known: String },
}

/// What to redact in one source's artefacts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Secret rules (on by default).
    pub secrets: bool,
    /// Personal-data rules (off by default; switched on per source).
    pub personal: bool,
    /// Rule ids switched off.
    pub disabled: BTreeSet<String>,
    /// Exact values never redacted (test fixtures' fake keys, public example addresses).
    pub allow: BTreeSet<String>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            secrets: true,
            personal: false,
            disabled: BTreeSet::new(),
            allow: BTreeSet::new(),
        }
    }
}

/// What a bundle records about the policy applied to a source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PolicyDescription {
    /// [`POLICY_FORMAT_VERSION`].
    pub format: u32,
    /// Whether secret rules were on.
    pub secrets: bool,
    /// Whether personal-data rules were on.
    pub personal: bool,
    /// The rules applied, as `id@version`.
    pub rules: Vec<String>,
    /// How many allow-listed values there were (the values themselves are not recorded).
    pub allowed_values: usize,
}

impl Policy {
    /// Checks every rule id the policy names.
    pub fn validate(&self) -> Result<(), PolicyError> {
        for id in &self.disabled {
            if crate::rules::rule(id).is_none() {
                let known = RULES.iter().map(|r| r.id).collect::<Vec<_>>().join(", ");
                return Err(PolicyError::UnknownRule {
                    id: id.clone(),
                    known,
                });
            }
        }
        Ok(())
    }

    /// Whether the policy applies `class` rules and has not switched rule `id` off.
    pub(crate) fn applies(&self, class: RuleClass, id: &str) -> bool {
        let class_on = match class {
            RuleClass::Secret => self.secrets,
            RuleClass::Personal => self.personal,
        };
        class_on && !self.disabled.contains(id)
    }

    /// True when no rule applies: the artefact passes through untouched.
    pub fn is_off(&self) -> bool {
        !RULES.iter().any(|r| self.applies(r.class, r.id))
    }

    /// The record a bundle keeps.
    pub fn describe(&self) -> PolicyDescription {
        PolicyDescription {
            format: POLICY_FORMAT_VERSION,
            secrets: self.secrets,
            personal: self.personal,
            rules: RULES
                .iter()
                .filter(|r| self.applies(r.class, r.id))
                .map(|r| format!("{}@{}", r.id, r.version))
                .collect(),
            allowed_values: self.allow.len(),
        }
    }
}

/// Whether an artefact of this media type is text the rules can scan. Binary artefacts (images,
/// model weights, archives, PDFs) are left alone, and the item says so.
pub fn is_scannable(media_type: &str) -> bool {
    let essence = media_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence.starts_with("text/")
        || essence.ends_with("+json")
        || essence.ends_with("+xml")
        || essence.ends_with("+yaml")
        || matches!(
            essence.as_str(),
            "application/json"
                | "application/x-ndjson"
                | "application/jsonl"
                | "application/xml"
                | "application/yaml"
                | "application/x-yaml"
                | "application/toml"
                | "application/x-sh"
                | "application/javascript"
                | "application/sql"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_on_and_personal_data_off_by_default() {
        let d = Policy::default().describe();
        assert!(d.secrets && !d.personal);
        assert!(d.rules.contains(&"github-token@1".to_owned()));
        assert!(!d.rules.iter().any(|r| r.starts_with("email@")));
    }

    #[test]
    fn an_unknown_rule_id_is_named() {
        let p = Policy {
            disabled: ["githb-token".to_owned()].into(),
            ..Policy::default()
        };
        let err = p.validate().unwrap_err().to_string();
        assert!(
            err.contains("\"githb-token\"") && err.contains("github-token"),
            "{err}"
        );
    }

    #[test]
    fn text_is_scanned_and_binary_is_not() {
        for t in [
            "text/plain",
            "text/csv; charset=utf-8",
            "application/json",
            "application/x-ndjson",
            "application/vnd.api+json",
        ] {
            assert!(is_scannable(t), "{t}");
        }
        for t in [
            "application/octet-stream",
            "image/png",
            "application/pdf",
            "application/zip",
        ] {
            assert!(!is_scannable(t), "{t}");
        }
    }

    #[test]
    fn a_policy_with_everything_off_is_off() {
        let p = Policy {
            secrets: false,
            ..Policy::default()
        };
        assert!(p.is_off());
        assert!(!Policy::default().is_off());
    }
}
