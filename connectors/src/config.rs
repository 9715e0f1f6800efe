//! Source configuration as written in the agent's TOML (`[[source]]`): the fields every source
//! has (name, schedule) and the connector-specific table chosen by `type`.

use crate::config_error::ConfigError;
use std::path::Path;

use evidence_model::SourceName;
use serde::Deserialize;

use crate::connector::Connector;

/// One `[[source]]` entry.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct SourceConfig {
    /// Unique name of this source; used in item ids and payload paths.
    pub name: String,
    /// Cron expression (5 fields) for `evidence-agent run`; defaults to the agent's schedule.
    #[serde(default)]
    pub schedule: Option<String>,
    /// `[source.redact]`: secrets redacted by default; personal data and pseudonyms opt-in.
    #[serde(default)]
    pub redact: crate::redaction::RedactConfig,
    #[serde(flatten)]
    pub connector: ConnectorConfig,
}

/// The connector-specific part of a source, chosen by `type`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "lowercase")]
#[non_exhaustive]
pub enum ConnectorConfig {
    #[cfg(feature = "local")]
    Local(crate::local::LocalConfig),
    #[cfg(feature = "github")]
    Github(Box<crate::github::GithubConfig>),
    #[cfg(feature = "jira")]
    Jira(crate::jira::JiraConfig),
    #[cfg(feature = "s3")]
    S3(crate::s3::S3Config),
    #[cfg(feature = "mlflow")]
    Mlflow(crate::mlflow::MlflowConfig),
    #[cfg(feature = "events")]
    Events(Box<crate::events::EventsConfig>),
}

impl ConnectorConfig {
    /// The connector type as written in `type = "..."`.
    pub fn type_name(&self) -> &'static str {
        match self {
            #[cfg(feature = "local")]
            ConnectorConfig::Local(_) => "local",
            #[cfg(feature = "github")]
            ConnectorConfig::Github(_) => "github",
            #[cfg(feature = "jira")]
            ConnectorConfig::Jira(_) => "jira",
            #[cfg(feature = "s3")]
            ConnectorConfig::S3(_) => "s3",
            #[cfg(feature = "mlflow")]
            ConnectorConfig::Mlflow(_) => "mlflow",
            #[cfg(feature = "events")]
            ConnectorConfig::Events(_) => "events",
        }
    }
}

impl SourceConfig {
    /// The checked source name.
    pub fn source_name(&self) -> Result<SourceName, ConfigError> {
        self.name.parse().map_err(|e: evidence_model::IdError| {
            ConfigError::new(format!("source {:?}", self.name), e.to_string()).key("name")
        })
    }

    /// Check the configuration and build the connector. Pure: no network or file access beyond
    /// resolving paths against `base` (the config file's directory).
    pub fn build(&self, base: &Path) -> Result<Box<dyn Connector>, ConfigError> {
        let name = self.source_name()?;
        self.redact.policy(&format!("source {:?}", self.name))?;
        match &self.connector {
            #[cfg(feature = "local")]
            ConnectorConfig::Local(c) => {
                Ok(Box::new(crate::local::LocalConnector::new(name, c, base)?))
            }
            #[cfg(feature = "github")]
            ConnectorConfig::Github(c) => {
                Ok(Box::new(crate::github::GithubConnector::new(name, c)?))
            }
            #[cfg(feature = "jira")]
            ConnectorConfig::Jira(c) => Ok(Box::new(crate::jira::JiraConnector::new(name, c)?)),
            #[cfg(feature = "s3")]
            ConnectorConfig::S3(c) => Ok(Box::new(crate::s3::S3Connector::new(name, c)?)),
            #[cfg(feature = "mlflow")]
            ConnectorConfig::Mlflow(c) => {
                Ok(Box::new(crate::mlflow::MlflowConnector::new(name, c)?))
            }
            #[cfg(feature = "events")]
            ConnectorConfig::Events(c) => Ok(Box::new(crate::events::EventsConnector::new(
                name, c, base,
            )?)),
        }
    }
}
