//! The agent's TOML configuration: where the archive lives, the log's origin, and the sources.
//! Loading is pure apart from reading the file; every connector's config is checked (controls,
//! globs, names) before anything runs.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use evidence_archive::layout;
use evidence_connectors::{Connector, SourceConfig};
use serde::Deserialize;

/// A configuration problem, naming the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// `[archive]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ArchiveConfig {
    /// Directory of sealed bundles, relative to the config file unless absolute; or an S3
    /// location `s3://bucket/prefix` (see `docs/archive-on-s3.md`).
    pub path: PathBuf,
    /// Identity of this agent's log, e.g. `example.org/ai` (printable ASCII, no spaces or `+`).
    pub origin: String,
    /// Where the agent keeps its cursors, lock and staging area; default `<path>/.agent`.
    #[serde(default)]
    pub state_dir: Option<PathBuf>,
    /// With an S3 `path`: the folder bundles are sealed into and kept in until their upload is
    /// confirmed; default `outbox` beside the config file.
    #[serde(default)]
    pub local_path: Option<PathBuf>,
    /// With an S3 `path`: endpoint, region, retention (`[archive.s3]`).
    #[serde(default)]
    pub s3: Option<evidence_store::StoreOptions>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    archive: ArchiveConfig,
    #[serde(rename = "source", default)]
    sources: Vec<SourceConfig>,
}

/// A checked configuration with paths resolved against the config file's directory.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The file it was read from.
    pub file: PathBuf,
    pub archive_dir: PathBuf,
    pub state_dir: PathBuf,
    pub origin: String,
    pub sources: Vec<SourceConfig>,
    /// Where sealed bundles are uploaded, when `[archive] path` is an S3 location.
    pub remote: Option<crate::upload::RemoteConfig>,
    base: PathBuf,
}

impl AgentConfig {
    /// Read and check `file`.
    pub fn load(file: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
            path: file.to_owned(),
            source,
        })?;
        Self::parse(&text, file)
    }

    /// Check configuration `text` read from `file`.
    pub fn parse(text: &str, file: &Path) -> Result<Self, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: file.to_owned(),
            message,
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        if !layout::is_valid_origin(&raw.archive.origin) {
            return Err(invalid(format!(
                "[archive] origin {:?} must be printable ASCII without spaces or '+', e.g. \"example.org/ai\"",
                raw.archive.origin
            )));
        }
        if raw.sources.is_empty() {
            return Err(invalid("no [[source]] is configured".into()));
        }
        let base = file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_owned();
        let mut names = BTreeSet::new();
        for source in &raw.sources {
            source.source_name().map_err(invalid)?;
            if !names.insert(source.name.clone()) {
                return Err(invalid(format!("two sources are named {:?}", source.name)));
            }
            source.build(&base).map_err(invalid)?;
        }
        let remote = crate::upload::remote_from_config(
            &raw.archive.path,
            raw.archive.local_path.as_deref(),
            raw.archive.s3.as_ref(),
        )
        .map_err(invalid)?;
        let archive_dir = match (&remote, &raw.archive.local_path) {
            (Some(_), Some(local)) => base.join(local),
            (Some(_), None) => base.join(crate::upload::DEFAULT_OUTBOX),
            (None, _) => base.join(&raw.archive.path),
        };
        let state_dir = match &raw.archive.state_dir {
            Some(p) => base.join(p),
            None => archive_dir.join(".agent"),
        };
        Ok(Self {
            file: file.to_owned(),
            archive_dir,
            state_dir,
            origin: raw.archive.origin,
            sources: raw.sources,
            remote,
            base,
        })
    }

    /// Build every configured connector (already checked by `load`).
    pub fn connectors(&self) -> Result<Vec<Box<dyn Connector>>, ConfigError> {
        self.sources
            .iter()
            .map(|s| {
                s.build(&self.base).map_err(|message| ConfigError::Invalid {
                    path: self.file.clone(),
                    message,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[archive]
path = "evidence"
origin = "example.org/ai"

[[source]]
type = "local"
name = "governance-docs"
path = "workspace"
[[source.rule]]
glob = "policies/**"
kind = "ai_policy"
controls = ["A.2.2"]
phase = "cross_lifecycle"
"#;

    fn parse(text: &str) -> Result<AgentConfig, ConfigError> {
        AgentConfig::parse(text, Path::new("conf/agent.toml"))
    }

    #[test]
    fn the_documented_example_parses_with_paths_relative_to_the_file() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.archive_dir, Path::new("conf/evidence"));
        assert_eq!(c.state_dir, Path::new("conf/evidence/.agent"));
        assert_eq!(c.sources.len(), 1);
        assert_eq!(
            c.connectors().unwrap()[0].name().as_str(),
            "governance-docs"
        );
    }

    #[test]
    fn an_unknown_control_is_an_error_naming_the_file_source_and_control() {
        let err = parse(&GOOD.replace("A.2.2", "A.6.6"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("conf/agent.toml")
                && err.contains("governance-docs")
                && err.contains("A.6.6"),
            "{err}"
        );
    }

    #[test]
    fn typos_and_unknown_types_are_errors_with_a_location() {
        let err = parse(&GOOD.replace("glob =", "globb ="))
            .unwrap_err()
            .to_string();
        assert!(err.contains("globb"), "{err}");
        let err = parse(&GOOD.replace("type = \"local\"", "type = \"ftp\""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("ftp"), "{err}");
    }

    #[test]
    fn duplicate_source_names_and_bad_origins_are_refused() {
        let dup = format!(
            "{GOOD}\n[[source]]\ntype = \"local\"\nname = \"governance-docs\"\npath = \"x\"\n[[source.rule]]\nglob = \"**\"\nkind = \"ai_policy\"\n"
        );
        assert!(parse(&dup).unwrap_err().to_string().contains("two sources"));
        assert!(parse(&GOOD.replace("example.org/ai", "my origin")).is_err());
    }
}
