//! The MLflow source's configuration (`[[source]] type = "mlflow"`), its credentials and the
//! checked connector built from them.

use crate::config_error::ConfigError;
use std::time::Duration;

use evidence_model::SourceName;
use serde::Deserialize;

use super::MlflowConnector;
use crate::http::RetryPolicy;
use crate::rules::{RuleConfig, RuleSet, Tagging};
use crate::secret::Secret;

/// How far before the watermark each run re-queries, for runs whose end time was recorded late.
const DEFAULT_OVERLAP_SECS: u64 = 3600;

/// `[[source]] type = "mlflow"`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MlflowConfig {
    /// Base URL of the tracking server, e.g. `https://mlflow.example.org` (no credentials).
    pub tracking_uri: String,
    /// Experiment names to collect; default: every active experiment.
    #[serde(default)]
    pub experiments: Vec<String>,
    /// Rules over artifact paths inside a run (e.g. `**/MODEL_CARD.md` → `model_card`); only
    /// matching artifacts are downloaded, every artifact is listed in the run's record.
    #[serde(rename = "artifact", default)]
    pub artifacts: Vec<RuleConfig>,
    /// Collect registered model versions as deployment evidence (default: yes).
    #[serde(default = "yes")]
    pub registered_models: bool,
    /// Controls a training run evidences; default: the catalogue's mapping for `training_run`.
    #[serde(default)]
    pub run_controls: Option<Vec<String>>,
    /// Controls a model version evidences; default: the catalogue's `deployment_record`.
    #[serde(default)]
    pub model_version_controls: Option<Vec<String>>,
    /// Runs per `runs/search` page, 1–1000 (default 500).
    #[serde(default)]
    pub page_size_runs: Option<u32>,
    /// Artifacts listed per run at most (default 10000); the rest is noted as incomplete.
    #[serde(default)]
    pub max_artifacts_per_run: Option<usize>,
    /// Re-query window before the saved watermark, in seconds (default 3600).
    #[serde(default)]
    pub overlap_secs: Option<u64>,
    /// Environment variable holding a bearer token (default `MLFLOW_TRACKING_TOKEN`).
    #[serde(default)]
    pub token_env: Option<String>,
    /// Environment variables for basic auth (default `MLFLOW_TRACKING_USERNAME` and
    /// `MLFLOW_TRACKING_PASSWORD`).
    #[serde(default)]
    pub username_env: Option<String>,
    #[serde(default)]
    pub password_env: Option<String>,
    /// Attempts per request, the first included (default 6).
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// Timeout of one API request in seconds (default 60); artifact downloads only time out
    /// when a read stalls this long.
    #[serde(default)]
    pub request_timeout_secs: Option<u64>,
}

pub(super) fn yes() -> bool {
    true
}

/// How the connector authenticates.
#[derive(Debug, Clone)]
pub(super) enum Auth {
    None,
    Bearer(Secret),
    Basic { user: String, password: Secret },
}

impl MlflowConnector {
    /// Check the config and read credentials from the environment. No network access.
    pub fn new(name: SourceName, config: &MlflowConfig) -> Result<Self, ConfigError> {
        let at = format!("source {:?}", name.as_str());
        let base = config.tracking_uri.trim_end_matches('/').to_owned();
        let after_scheme = base
            .strip_prefix("http://")
            .or_else(|| base.strip_prefix("https://"))
            .ok_or_else(|| {
                ConfigError::new(
                    &at,
                    format!(
                        "tracking_uri {:?} must start with http:// or https://",
                        config.tracking_uri
                    ),
                )
                .key("tracking_uri")
            })?;
        if after_scheme
            .split('/')
            .next()
            .is_some_and(|host| host.contains('@'))
        {
            return Err(ConfigError::new(&at, "tracking_uri must not contain credentials; set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN".to_string()).key("tracking_uri"));
        }
        let artifacts = if config.artifacts.is_empty() {
            None
        } else {
            Some(RuleSet::from_configs(
                &config.artifacts,
                &format!("{at} artifact"),
            )?)
        };
        let run_tags = Tagging::resolve(
            "training_run",
            config.run_controls.as_deref(),
            None,
            None,
            &at,
        )?;
        let version_tags = Tagging::resolve(
            "deployment_record",
            config.model_version_controls.as_deref(),
            None,
            None,
            &at,
        )?;
        let page_size = match config.page_size_runs {
            None => 500,
            Some(n @ 1..=1000) => n,
            Some(n) => {
                return Err(
                    ConfigError::new(&at, format!("page_size_runs = {n} must be 1–1000"))
                        .key("page_size_runs"),
                );
            }
        };
        let token_env = config
            .token_env
            .as_deref()
            .unwrap_or("MLFLOW_TRACKING_TOKEN");
        let user_env = config
            .username_env
            .as_deref()
            .unwrap_or("MLFLOW_TRACKING_USERNAME");
        let password_env = config
            .password_env
            .as_deref()
            .unwrap_or("MLFLOW_TRACKING_PASSWORD");
        let auth = match (
            Secret::from_env(token_env),
            std::env::var(user_env).ok().filter(|u| !u.is_empty()),
            Secret::from_env(password_env),
        ) {
            (Some(token), _, _) => Auth::Bearer(token),
            (None, Some(user), Some(password)) => Auth::Basic { user, password },
            (None, Some(_), None) => {
                return Err(ConfigError::new(
                    &at,
                    format!("{user_env} is set but {password_env} is not"),
                ));
            }
            _ => Auth::None,
        };
        let timeout = Duration::from_secs(config.request_timeout_secs.unwrap_or(60).max(1));
        let policy = RetryPolicy {
            max_attempts: config.max_attempts.unwrap_or(6).clamp(1, 20),
            timeout,
            ..RetryPolicy::default()
        };
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(timeout)
            .user_agent(concat!("evidence-agent-mlflow/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ConfigError::new(&at, format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            name,
            base,
            experiments: config.experiments.clone(),
            artifacts,
            registered_models: config.registered_models,
            run_tags,
            version_tags,
            page_size,
            max_artifacts: config.max_artifacts_per_run.unwrap_or(10_000).max(1),
            overlap_ms: i64::try_from(config.overlap_secs.unwrap_or(DEFAULT_OVERLAP_SECS))
                .unwrap_or(i64::MAX / 2_000)
                .saturating_mul(1000),
            policy,
            auth,
            client,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> MlflowConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn configs_with_credentials_in_the_uri_or_unknown_keys_are_refused() {
        let name: SourceName = "ml".parse().unwrap();
        assert!(
            MlflowConnector::new(
                name.clone(),
                &config("tracking_uri = \"http://127.0.0.1:5000\"")
            )
            .is_ok()
        );
        let err =
            MlflowConnector::new(name.clone(), &config("tracking_uri = \"https://u:p@host\""))
                .unwrap_err();
        assert!(
            err.to_string().contains("must not contain credentials")
                && !err.to_string().contains("u:p"),
            "{err}"
        );
        let err = MlflowConnector::new(name.clone(), &config("tracking_uri = \"ftp://host\""))
            .unwrap_err();
        assert!(err.to_string().contains("http://"), "{err}");
        let err = MlflowConnector::new(
            name,
            &config("tracking_uri = \"http://h\"\nrun_controls = [\"A.6.6\"]"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("A.6.6"), "{err}");
        assert!(
            toml::from_str::<MlflowConfig>("tracking_uri = \"http://h\"\ntoken = \"x\"").is_err()
        );
    }
}
