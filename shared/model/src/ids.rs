//! Identifiers checked on construction ("parse, don't validate"): Annex A controls and clauses
//! that exist in the catalogue, lifecycle phases, evidence kinds, source names and item ids.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

use crate::catalogue::Catalogue;

/// An identifier that failed its check; the message names the offending value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    #[error("unknown ISO/IEC 42001 Annex A control {0:?} (`evidence-agent catalogue` lists them)")]
    UnknownControl(String),
    #[error("unknown ISO/IEC 42001 clause {0:?}")]
    UnknownClause(String),
    #[error(
        "unknown lifecycle phase {0:?}; expected one of: inception, design_development, verification_validation, deployment, operation_monitoring, re_evaluation, retirement, cross_lifecycle"
    )]
    UnknownPhase(String),
    #[error("invalid {what} {value:?}: {rule}")]
    Malformed {
        what: &'static str,
        value: String,
        rule: &'static str,
    },
}

fn truncated(s: &str) -> String {
    s.chars().take(120).collect()
}

macro_rules! string_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:?}", self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

string_newtype!(
    /// An Annex A control id that exists in the catalogue, e.g. `A.6.2.4`.
    ControlId
);
string_newtype!(
    /// A clause id (4–10) that exists in the catalogue, e.g. `9.3.2`.
    ClauseId
);
string_newtype!(
    /// An evidence kind such as `pr_approval`: lowercase letters, digits and `_`, at most 64.
    Kind
);
string_newtype!(
    /// A configured source's name, used in payload paths: `[A-Za-z0-9._-]`, 1–64 characters,
    /// not starting with `.`.
    SourceName
);
string_newtype!(
    /// A stable item id, used as a payload directory name: `[A-Za-z0-9._-]`, 1–128 characters,
    /// not starting with `.`.
    ItemId
);

impl FromStr for ControlId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        if Catalogue::iso42001().control(s).is_some() {
            Ok(Self(s.to_owned()))
        } else {
            Err(IdError::UnknownControl(truncated(s)))
        }
    }
}

impl FromStr for ClauseId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        if Catalogue::iso42001().clause(s).is_some() {
            Ok(Self(s.to_owned()))
        } else {
            Err(IdError::UnknownClause(truncated(s)))
        }
    }
}

impl FromStr for Kind {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.as_bytes()[0].is_ascii_lowercase()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(IdError::Malformed {
                what: "evidence kind",
                value: truncated(s),
                rule: "lowercase letters, digits and '_', starting with a letter, at most 64",
            })
        }
    }
}

/// True when `s` is a safe single path component: `[A-Za-z0-9._-]`, not starting with `.`.
pub fn is_safe_component(s: &str, max_len: usize) -> bool {
    !s.is_empty()
        && s.len() <= max_len
        && !s.starts_with('.')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl FromStr for SourceName {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        if is_safe_component(s, 64) {
            Ok(Self(s.to_owned()))
        } else {
            Err(IdError::Malformed {
                what: "source name",
                value: truncated(s),
                rule: "letters, digits, '.', '_' and '-', 1-64 characters, not starting with '.'",
            })
        }
    }
}

impl FromStr for ItemId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        if is_safe_component(s, 128) {
            Ok(Self(s.to_owned()))
        } else {
            Err(IdError::Malformed {
                what: "item id",
                value: truncated(s),
                rule: "letters, digits, '.', '_' and '-', 1-128 characters, not starting with '.'",
            })
        }
    }
}

impl ItemId {
    /// A readable, path-safe id from a source name and the item's natural key (a path, a pull
    /// request number, a ticket key), made unique per version by a short digest of `version`
    /// (usually the artefact's SHA-256). The same inputs always give the same id.
    pub fn derive(source: &SourceName, natural_key: &str, version: &str) -> Self {
        let mut slug = String::with_capacity(natural_key.len());
        for c in natural_key.chars() {
            let c = if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' {
                c
            } else {
                '-'
            };
            if !(c == '-' && slug.ends_with('-')) {
                slug.push(c);
            }
        }
        let slug: String = slug
            .trim_matches(|c| c == '-' || c == '.')
            .chars()
            .take(80)
            .collect();
        let digest = crate::Sha256Digest::of(
            format!("{}\n{}\n{}", source.as_str(), natural_key, version).as_bytes(),
        );
        let short = &digest.to_hex()[..12];
        let id = if slug.is_empty() {
            format!("{}-{short}", source.as_str())
        } else {
            format!("{}-{slug}-{short}", source.as_str())
        };
        Self(id)
    }
}

/// An AI system lifecycle phase (ISO/IEC 42001 with ISO/IEC 5338 / 22989 stages).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Inception,
    DesignDevelopment,
    VerificationValidation,
    Deployment,
    OperationMonitoring,
    ReEvaluation,
    Retirement,
    CrossLifecycle,
}

impl Phase {
    /// Every phase, in lifecycle order.
    pub const ALL: [Phase; 8] = [
        Phase::Inception,
        Phase::DesignDevelopment,
        Phase::VerificationValidation,
        Phase::Deployment,
        Phase::OperationMonitoring,
        Phase::ReEvaluation,
        Phase::Retirement,
        Phase::CrossLifecycle,
    ];

    /// The snake_case id used in configs and metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Inception => "inception",
            Phase::DesignDevelopment => "design_development",
            Phase::VerificationValidation => "verification_validation",
            Phase::Deployment => "deployment",
            Phase::OperationMonitoring => "operation_monitoring",
            Phase::ReEvaluation => "re_evaluation",
            Phase::Retirement => "retirement",
            Phase::CrossLifecycle => "cross_lifecycle",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Phase {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Phase::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| IdError::UnknownPhase(truncated(s)))
    }
}

impl<'de> Deserialize<'de> for Phase {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_that_exist_parse_and_invented_ones_do_not() {
        assert!("A.6.2.4".parse::<ControlId>().is_ok());
        assert!("A.10.4".parse::<ControlId>().is_ok());
        for invented in ["A.6.6", "A.6.10", "6.1.5", "a.2.2", ""] {
            assert!(
                matches!(
                    invented.parse::<ControlId>(),
                    Err(IdError::UnknownControl(_))
                ),
                "{invented}"
            );
        }
    }

    #[test]
    fn clauses_are_checked_against_the_catalogue() {
        assert!("9.3.2".parse::<ClauseId>().is_ok());
        assert!("6.1.5".parse::<ClauseId>().is_err());
    }

    #[test]
    fn phases_round_trip_through_their_ids() {
        for p in Phase::ALL {
            assert_eq!(p.as_str().parse::<Phase>(), Ok(p));
        }
        assert!("production".parse::<Phase>().is_err());
    }

    #[test]
    fn source_names_and_item_ids_are_single_safe_path_components() {
        for bad in ["", ".hidden", "a/b", "a\\b", "..", "é", "a b"] {
            assert!(bad.parse::<SourceName>().is_err(), "{bad:?}");
            assert!(bad.parse::<ItemId>().is_err(), "{bad:?}");
        }
        assert!("governance-docs".parse::<SourceName>().is_ok());
    }

    #[test]
    fn derived_item_ids_are_stable_readable_and_safe() {
        let src: SourceName = "gh".parse().unwrap();
        let a = ItemId::derive(&src, "acme/model#1234", "v1");
        assert_eq!(a, ItemId::derive(&src, "acme/model#1234", "v1"));
        assert_ne!(a, ItemId::derive(&src, "acme/model#1234", "v2"));
        assert!(a.as_str().starts_with("gh-acme-model-1234-"), "{a}");
        assert!(a.as_str().parse::<ItemId>().is_ok());
        let odd = ItemId::derive(&src, "../../etc/passwd ☃", "x");
        assert!(odd.as_str().parse::<ItemId>().is_ok(), "{odd}");
    }
}
