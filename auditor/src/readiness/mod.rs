//! Readiness: which requirements of ISO/IEC 42001 the archive shows evidence for at a date,
//! which evidence is stale, what is missing, what the SoA excludes, and the documents a Stage 1
//! audit reviews. See `docs/readiness.md`.
//!
//! Code map:
//! - `soa`: the Statement of Applicability file (CSV or XLSX), parsed strictly (pure).
//! - `cadence`: the default cadence per evidence kind and its overrides (pure).
//! - `compute`: statuses, Stage 1 checklist, findings, comparison (pure; the date is passed in).
//! - `load`: the inputs from an engagement, and the latest SoA's bytes from its bundle.
//! - `render`: terminal table, CSV, XLSX and the HTML page.

pub mod cadence;
pub mod compute;
pub mod load;
pub mod render;
pub mod soa;

use evidence_model::Timestamp;

use crate::engagement::Result;
use crate::engagement::db::Engagement;
use compute::{Overrides, Readiness};
use load::SoaSource;

/// The readiness at `as_of`, compared with `compare_as_of` when given.
pub fn report(
    e: &Engagement,
    as_of: Timestamp,
    compare_as_of: Option<Timestamp>,
    overrides: &Overrides,
    soa_source: &SoaSource,
) -> Result<Readiness> {
    let inputs = load::inputs(e, as_of, overrides, soa_source)?;
    let mut now = compute::compute(&inputs, as_of);
    if let Some(earlier) = compare_as_of {
        let before_inputs = load::inputs(e, earlier, overrides, soa_source)?;
        let before = compute::compute(&before_inputs, earlier);
        now.comparison = Some(compute::compare(&before, &now));
    }
    Ok(now)
}

/// A readiness config that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Not TOML, or a table or key the config does not have.
    #[error("{0}")]
    Toml(String),
    /// A key of `[cadence]` or `[kind_cadence]` and what is wrong with it or its value.
    #[error("[{table}] {key:?} {reason}")]
    Entry {
        table: &'static str,
        key: String,
        reason: String,
    },
}

/// Parse a readiness config (TOML): `[cadence]` maps control or clause ids to cadences,
/// `[kind_cadence]` maps evidence kinds to cadences. Unknown keys and ids are refused.
pub fn parse_config(text: &str) -> std::result::Result<Overrides, ConfigError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Raw {
        #[serde(default)]
        cadence: std::collections::BTreeMap<String, String>,
        #[serde(default)]
        kind_cadence: std::collections::BTreeMap<String, String>,
    }
    let raw: Raw = toml::from_str(text).map_err(|e| ConfigError::Toml(e.to_string()))?;
    let cat = evidence_model::Catalogue::iso42001();
    let mut o = Overrides::default();
    for (id, c) in raw.cadence {
        if cat.control(&id).is_none() && cat.clause(&id).is_none() {
            return Err(ConfigError::Entry {
                table: "cadence",
                key: id,
                reason: "is neither an Annex A control nor a clause".into(),
            });
        }
        let c = match c.parse() {
            Ok(c) => c,
            Err(e) => {
                return Err(ConfigError::Entry {
                    table: "cadence",
                    key: id,
                    reason: format!("{e}"),
                });
            }
        };
        o.by_id.insert(id, c);
    }
    for (kind, c) in raw.kind_cadence {
        if kind.parse::<evidence_model::Kind>().is_err() {
            return Err(ConfigError::Entry {
                table: "kind_cadence",
                key: kind,
                reason: "is not an evidence kind".into(),
            });
        }
        let c = match c.parse() {
            Ok(c) => c,
            Err(e) => {
                return Err(ConfigError::Entry {
                    table: "kind_cadence",
                    key: kind,
                    reason: format!("{e}"),
                });
            }
        };
        o.by_kind.insert(kind, c);
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_overrides_cadences_and_refuses_unknown_ids() {
        let o = parse_config(
            "[cadence]\n\"A.6.2.4\" = \"quarterly\"\n\"9.3.3\" = \"400d\"\n[kind_cadence]\npr_approval = \"90d\"\n",
        )
        .unwrap();
        assert_eq!(o.by_id["A.6.2.4"], cadence::Cadence::QUARTERLY);
        assert_eq!(o.by_kind["pr_approval"], cadence::Cadence::Days(90));
        assert!(parse_config("[cadence]\n\"A.99\" = \"yearly\"\n").is_err());
        assert!(parse_config("[cadence]\n\"A.2.2\" = \"often\"\n").is_err());
        assert!(parse_config("[other]\n").is_err());
    }
}
