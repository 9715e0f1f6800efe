//! Rules that tag files or object keys by glob: the first rule whose glob matches decides the
//! item's kind, controls, clauses and phase. Controls and clauses default to the catalogue's
//! mapping for the kind; IDs that do not exist in ISO/IEC 42001 are configuration errors.

use crate::config_error::ConfigError;
use evidence_model::{Catalogue, ClauseId, ControlId, Kind, Phase};
use globset::{Glob, GlobBuilder, GlobMatcher};
use serde::Deserialize;

/// A rule as written in the config file (`[[source.rule]]`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Glob over `/`-separated relative paths; `*` stays within a directory, `**` crosses them.
    /// Required; read with a default so that a misspelt key is reported as unknown (serde
    /// checks required fields before unknown ones when a table flattens another).
    #[serde(default)]
    pub glob: String,
    /// The kind (required), controls, clauses and phase of the files it matches.
    #[serde(flatten)]
    pub tagging: TaggingConfig,
}

/// The tags a configuration entry gives its items, written in the entry itself (every entry
/// that tags items flattens this): `kind`, and `controls`, `clauses` and `phase`, which default
/// to the catalogue's mapping for the kind.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct TaggingConfig {
    /// Evidence kind, e.g. `ai_policy`; some entries have a default or a fixed kind.
    #[serde(default)]
    pub kind: Option<String>,
    /// Annex A controls; default to the catalogue's mapping for `kind`.
    #[serde(default)]
    pub controls: Option<Vec<String>>,
    /// Clauses; default to the catalogue's mapping for `kind`.
    #[serde(default)]
    pub clauses: Option<Vec<String>>,
    /// Lifecycle phase; defaults to the catalogue's mapping for `kind`.
    #[serde(default)]
    pub phase: Option<String>,
}

impl TaggingConfig {
    /// Check the tags. `default_kind` is used when `kind` is not given; without one, `kind`
    /// is required. `at` names the configuration entry in messages.
    pub fn resolve(&self, default_kind: Option<&str>, at: &str) -> Result<Tagging, ConfigError> {
        let kind = self.kind.as_deref().or(default_kind).ok_or_else(|| {
            ConfigError::new(at, "missing field `kind`; name the evidence kind").key("kind")
        })?;
        Tagging::resolve(
            kind,
            self.controls.as_deref(),
            self.clauses.as_deref(),
            self.phase.as_deref(),
            at,
        )
    }

    /// Check the tags of an entry whose kind is fixed: `kind` may not be given.
    pub fn resolve_fixed(&self, kind: &str, at: &str) -> Result<Tagging, ConfigError> {
        if let Some(given) = &self.kind {
            return Err(ConfigError::new(
                at,
                format!("unknown field `kind` ({given:?}): these items are always of kind {kind}"),
            ));
        }
        self.resolve(Some(kind), at)
    }
}

/// A checked, compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub glob: String,
    matcher: GlobMatcher,
    pub kind: Kind,
    pub controls: Vec<ControlId>,
    pub clauses: Vec<ClauseId>,
    pub phase: Phase,
}

/// An ordered list of rules; the first match wins.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
}

/// Compile a glob with the separator semantics every rule uses. Globs are relative to the
/// source's folder or prefix: a leading `./` is dropped, a leading `/` is refused.
pub fn compile_glob(glob: &str) -> Result<GlobMatcher, InvalidGlob> {
    let mut relative = glob;
    while let Some(rest) = relative.strip_prefix("./") {
        relative = rest;
    }
    if relative.starts_with('/') {
        return Err(InvalidGlob(format!(
            "glob {glob:?} starts with '/', but globs are relative to the source's folder: write {:?}",
            relative.trim_start_matches('/')
        )));
    }
    GlobBuilder::new(relative)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map(|g: Glob| g.compile_matcher())
        .map_err(|e| InvalidGlob(format!("invalid glob {glob:?}: {e}")))
}

/// A glob that cannot be compiled, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidGlob(String);

/// Compile the globs of list `key` of the entry `at` (`exclude`, `include`).
pub fn compile_globs(
    list: &[String],
    at: &str,
    key: &str,
) -> Result<Vec<GlobMatcher>, ConfigError> {
    list.iter()
        .map(|g| {
            compile_glob(g)
                .map_err(|e| ConfigError::new(format!("{at} {key}"), e.to_string()).key(key))
        })
        .collect()
}

/// An evidence kind with the controls, clauses and phase it evidences: the part of a rule that
/// does not depend on how items are matched, shared by sources that select items by query.
#[derive(Debug, Clone, PartialEq)]
pub struct Tagging {
    pub kind: Kind,
    pub controls: Vec<ControlId>,
    pub clauses: Vec<ClauseId>,
    pub phase: Phase,
}

impl Tagging {
    /// Check a kind and its optional overrides; what is not given defaults to the catalogue's
    /// mapping for the kind. `at` names the configuration entry in messages.
    pub fn resolve(
        kind: &str,
        controls: Option<&[String]>,
        clauses: Option<&[String]>,
        phase: Option<&str>,
        at: &str,
    ) -> Result<Self, ConfigError> {
        let kind: Kind = kind
            .parse()
            .map_err(|e| ConfigError::new(at, format!("{e}")).key("kind"))?;
        let catalogue = Catalogue::iso42001();
        let (default_controls, default_clauses, default_phase) = catalogue.defaults_for(&kind);
        let controls = match controls {
            Some([]) => {
                return Err(ConfigError::new(at, format!(
                    "`controls = []` names no control; leave `controls` out to use the catalogue's mapping for kind {kind}, or name at least one control"
                )).key("controls"));
            }
            Some(list) => list
                .iter()
                .map(|c| c.parse::<ControlId>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ConfigError::new(at, e.to_string()).key("controls"))?,
            None => default_controls,
        };
        let clauses = match clauses {
            Some(list) => list
                .iter()
                .map(|c| c.parse::<ClauseId>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ConfigError::new(at, e.to_string()).key("clauses"))?,
            None => default_clauses,
        };
        let phase = match (phase, default_phase) {
            (Some(p), _) => p
                .parse::<Phase>()
                .map_err(|e| ConfigError::new(at, e.to_string()).key("phase"))?,
            (None, Some(p)) => p,
            (None, None) => {
                return Err(ConfigError::new(at, format!(
                    "kind {kind} has no default mapping in the catalogue; give `phase` (and `controls` or `clauses`)"
                )).key("phase"));
            }
        };
        if controls.is_empty() && clauses.is_empty() {
            return Err(ConfigError::new(
                at,
                format!(
                    "kind {kind} would evidence no control and no clause; give `controls` or `clauses`"
                ),
            ));
        }
        Ok(Self {
            kind,
            controls,
            clauses,
            phase,
        })
    }
}

impl Rule {
    /// Check and compile one rule. `at` names the rule in messages (e.g. `source "docs" rule 2`).
    pub fn from_config(config: &RuleConfig, at: &str) -> Result<Self, ConfigError> {
        if config.glob.is_empty() {
            return Err(ConfigError::new(at, "missing field `glob`").key("glob"));
        }
        let matcher = compile_glob(&config.glob)
            .map_err(|e| ConfigError::new(at, e.to_string()).key("glob"))?;
        let Tagging {
            kind,
            controls,
            clauses,
            phase,
        } = config.tagging.resolve(None, at)?;
        Ok(Self {
            glob: config.glob.clone(),
            matcher,
            kind,
            controls,
            clauses,
            phase,
        })
    }

    /// The kind, controls, clauses and phase this rule gives the items it matches.
    pub fn tagging(&self) -> Tagging {
        Tagging {
            kind: self.kind.clone(),
            controls: self.controls.clone(),
            clauses: self.clauses.clone(),
            phase: self.phase,
        }
    }

    /// True when `path` (relative, `/`-separated) matches this rule's glob.
    pub fn matches(&self, path: &str) -> bool {
        self.matcher.is_match(path)
    }
}

impl RuleSet {
    /// Check and compile rules in order. `at` names the source in messages.
    pub fn from_configs(configs: &[RuleConfig], at: &str) -> Result<Self, ConfigError> {
        if configs.is_empty() {
            return Err(ConfigError::new(
                at,
                "no `[[source.rule]]`; add at least one rule that maps files to a kind".to_string(),
            )
            .key("rule"));
        }
        let rules = configs
            .iter()
            .enumerate()
            .map(|(i, c)| Rule::from_config(c, &format!("{at} rule {} ({:?})", i + 1, c.glob)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { rules })
    }

    /// The first rule matching `path`.
    pub fn first_match(&self, path: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.matches(path))
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(glob: &str, kind: &str, controls: Option<&[&str]>) -> RuleConfig {
        RuleConfig {
            glob: glob.into(),
            tagging: TaggingConfig {
                kind: Some(kind.into()),
                controls: controls.map(|c| c.iter().map(|s| s.to_string()).collect()),
                clauses: None,
                phase: None,
            },
        }
    }

    #[test]
    fn the_first_matching_rule_wins() {
        let set = RuleSet::from_configs(
            &[
                rule("policies/ai-*.md", "ai_policy", None),
                rule("policies/**", "policy_alignment_record", None),
            ],
            "test",
        )
        .unwrap();
        assert_eq!(
            set.first_match("policies/ai-policy.md")
                .unwrap()
                .kind
                .as_str(),
            "ai_policy"
        );
        assert_eq!(
            set.first_match("policies/sub/x.md").unwrap().kind.as_str(),
            "policy_alignment_record"
        );
        assert!(set.first_match("other/x.md").is_none());
    }

    #[test]
    fn a_single_star_does_not_cross_directories() {
        let set = RuleSet::from_configs(&[rule("*.md", "model_card", None)], "t").unwrap();
        assert!(set.first_match("README.md").is_some());
        assert!(set.first_match("docs/README.md").is_none());
    }

    #[test]
    fn unknown_controls_are_configuration_errors_naming_the_rule() {
        let err = RuleSet::from_configs(
            &[rule("**", "ai_policy", Some(&["A.6.6"]))],
            "source \"docs\"",
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("source \"docs\" rule 1") && err.to_string().contains("A.6.6"),
            "{err}"
        );
    }

    #[test]
    fn defaults_come_from_the_catalogue_and_overrides_replace_them() {
        let set = RuleSet::from_configs(
            &[
                rule("a/**", "model_card", None),
                rule("b/**", "model_card", Some(&["A.6.2.4"])),
            ],
            "t",
        )
        .unwrap();
        let a = set.first_match("a/x").unwrap();
        assert!(a.controls.iter().any(|c| c.as_str() == "A.6.2.7"));
        assert_eq!(a.phase, Phase::Deployment);
        let b = set.first_match("b/x").unwrap();
        assert_eq!(
            b.controls.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
            ["A.6.2.4"]
        );
    }

    #[test]
    fn a_custom_kind_needs_a_phase_and_a_control_or_clause() {
        let err = RuleSet::from_configs(&[rule("**", "vendor_memo", None)], "t").unwrap_err();
        assert!(err.to_string().contains("no default mapping"), "{err}");
        let ok = RuleSet::from_configs(
            &[{
                let mut r = rule("**", "vendor_memo", Some(&["A.10.3"]));
                r.tagging.phase = Some("cross_lifecycle".into());
                r
            }],
            "t",
        );
        assert!(ok.is_ok());
    }

    #[test]
    fn an_empty_control_list_is_refused_naming_the_rule() {
        let err = RuleSet::from_configs(&[rule("**", "ai_policy", Some(&[]))], "source \"docs\"")
            .unwrap_err();
        assert!(
            err.to_string().contains("source \"docs\" rule 1")
                && err.to_string().contains("`controls = []`"),
            "{err}"
        );
    }

    #[test]
    fn a_leading_dot_slash_is_dropped_and_a_leading_slash_is_refused() {
        let set =
            RuleSet::from_configs(&[rule("./policies/*.md", "ai_policy", None)], "t").unwrap();
        assert!(set.first_match("policies/ai-policy.md").is_some());
        let err =
            RuleSet::from_configs(&[rule("/policies/*.md", "ai_policy", None)], "t").unwrap_err();
        assert!(
            err.to_string().contains("starts with '/'")
                && err.to_string().contains("\"policies/*.md\""),
            "{err}"
        );
    }

    #[test]
    fn a_rule_reads_its_tags_from_its_own_table() {
        let rule: RuleConfig = toml::from_str(
            "glob = \"a/**\"\nkind = \"model_card\"\nclauses = [\"7.5\"]\nphase = \"deployment\"",
        )
        .unwrap();
        assert_eq!(rule.tagging.kind.as_deref(), Some("model_card"));
        assert_eq!(
            rule.tagging.clauses.as_deref(),
            Some(&["7.5".to_owned()][..])
        );
        assert!(toml::from_str::<RuleConfig>("glob = \"a\"\nkind = \"x\"\ncontrol = []").is_err());
        let err = RuleSet::from_configs(
            &[toml::from_str::<RuleConfig>("glob = \"a\"").unwrap()],
            "t",
        )
        .unwrap_err();
        assert!(err.to_string().contains("missing field `kind`"), "{err}");
    }

    #[test]
    fn an_empty_rule_list_is_refused() {
        assert!(RuleSet::from_configs(&[], "t").is_err());
    }
}
