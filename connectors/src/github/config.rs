//! `[[source]] type = "github"`: the documented configuration and its pure check into the
//! settings a collection runs with (compiled globs, kinds with their controls, retry policy).

use crate::config_error::ConfigError;
use std::time::Duration;

use evidence_model::Timestamp;
use globset::GlobMatcher;
use serde::Deserialize;

use crate::http::RetryPolicy;
use crate::rules::{TaggingConfig, compile_glob};

/// The public GitHub API; GitHub Enterprise Server uses `https://HOST/api/v3`.
pub(super) const DEFAULT_API_URL: &str = "https://api.github.com";

/// `[[source]] type = "github"`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GithubConfig {
    /// REST API base URL: `https://api.github.com` (default) or `https://HOST/api/v3` for
    /// GitHub Enterprise Server.
    #[serde(default)]
    pub api_url: Option<String>,
    /// Collect every repository of this organisation (filtered by `include` and `exclude`).
    #[serde(default)]
    pub org: Option<String>,
    /// Collect these repositories, as `owner/name` (alone or together with `org`).
    #[serde(default)]
    pub repos: Vec<String>,
    /// Globs over `owner/name`; when given, only matching repositories are collected.
    #[serde(default)]
    pub include: Vec<String>,
    /// Globs over `owner/name` of repositories to leave out.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Also collect archived repositories of `org` (default: no).
    #[serde(default)]
    pub include_archived: bool,
    /// Name of the environment variable holding a token (never the token itself).
    #[serde(default)]
    pub token_env: Option<String>,
    /// Authenticate as a GitHub App installation instead of with a token.
    #[serde(default)]
    pub app: Option<AppConfig>,
    /// Only pull requests, runs, issues and releases from this date or instant on (`2026-01-01`).
    #[serde(default)]
    pub since: Option<String>,
    /// Page size of list requests (1-100, default 100).
    #[serde(default)]
    pub per_page: Option<u32>,
    /// Requests in flight at once (1-16, default 4). GitHub asks clients to stay low.
    #[serde(default)]
    pub max_concurrent_requests: Option<usize>,
    /// How merged pull requests are read: `auto` (default: GraphQL for a repository's backfill,
    /// REST with ETags once it has a watermark), `rest` or `graphql`.
    #[serde(default)]
    pub api: Option<String>,
    /// Retries, timeouts and rate-limit handling.
    #[serde(default)]
    pub retry: RetryConfig,
    /// Merged pull requests with their reviews (`pr_approval`).
    #[serde(default)]
    pub pulls: KindSwitch,
    /// Branch protection and rulesets of the default branch (`branch_protection`).
    #[serde(default)]
    pub protection: KindSwitch,
    /// Releases (`deployment_record`).
    #[serde(default)]
    pub releases: KindSwitch,
    /// Workflows whose runs are collected with their artifacts and logs.
    #[serde(default, rename = "workflow")]
    pub workflows: Vec<WorkflowConfig>,
    /// Repository files such as model and dataset cards.
    #[serde(default, rename = "card")]
    pub cards: Vec<CardConfig>,
    /// Issues carrying a label, with their timeline.
    #[serde(default, rename = "issue_label")]
    pub issue_labels: Vec<IssueLabelConfig>,
}

/// `[source.app]`: GitHub App authentication (JWT, then an installation token).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    pub app_id: u64,
    pub installation_id: u64,
    /// Environment variable holding the App's private key (PEM).
    pub private_key_env: String,
}

/// `[source.retry]`: how persistently to retry, and how long to wait at most.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Attempts per request, the first included (default 6).
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// First backoff delay in milliseconds; doubles per attempt, with full jitter (default 500).
    #[serde(default)]
    pub base_delay_ms: Option<u64>,
    /// Longest single wait in seconds, also for `Retry-After` and rate-limit resets (default 900).
    #[serde(default)]
    pub max_delay_secs: Option<u64>,
    /// Timeout of one API request in seconds (default 60); downloads time out when idle that long.
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// Requests to keep in reserve: below this many remaining, wait for the reset (default 50).
    #[serde(default)]
    pub rate_limit_reserve: Option<u64>,
}

/// Tags of one kind: the catalogue's defaults unless overridden.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KindSwitch {
    /// Collect this kind (default: yes).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Controls, clauses and phase (the kind is fixed); default to the catalogue's mapping.
    #[serde(flatten)]
    pub tagging: TaggingConfig,
}

/// `[[source.workflow]]`: one GitHub Actions workflow.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WorkflowConfig {
    /// Workflow file name (`train.yml`) or path (`.github/workflows/train.yml`).
    pub file: String,
    /// Download the runs' artifacts (default: yes).
    #[serde(default)]
    pub artifacts: Option<bool>,
    /// Download the runs' logs (default: yes).
    #[serde(default)]
    pub logs: Option<bool>,
    /// `kind`: `ci_run` (default) or `training_run`, or any kind with `controls` and `phase`.
    #[serde(flatten)]
    pub tagging: TaggingConfig,
}

/// `[[source.card]]`: a repository file collected whenever its blob changes.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CardConfig {
    /// Path in the repository, e.g. `MODEL_CARD.md` or `data/README.md`.
    pub path: String,
    /// `kind`: `model_card` (default) or `dataset_datasheet`, or any kind with `controls` and
    /// `phase`.
    #[serde(flatten)]
    pub tagging: TaggingConfig,
}

/// `[[source.issue_label]]`: issues with this label, with their timeline.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IssueLabelConfig {
    pub label: String,
    /// `kind`: `incident_ticket` (default) or `corrective_action_ticket`, or any kind with
    /// `controls` and `phase`.
    #[serde(flatten)]
    pub tagging: TaggingConfig,
}

/// A kind with the controls, clauses and phase its items carry.
pub(crate) use crate::rules::Tagging as Tags;

/// Which API reads merged pull requests (`api = "auto" | "rest" | "graphql"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ApiMode {
    /// GraphQL while a repository has no watermark (its backfill), REST with ETags after.
    Auto,
    Rest,
    Graphql,
}

impl ApiMode {
    fn parse(value: Option<&str>, at: &str) -> Result<Self, ConfigError> {
        match value.unwrap_or("auto") {
            "auto" => Ok(Self::Auto),
            "rest" => Ok(Self::Rest),
            "graphql" => Ok(Self::Graphql),
            other => Err(ConfigError::new(
                at,
                format!("api {other:?} is not one of \"auto\", \"rest\", \"graphql\""),
            )
            .key("api")),
        }
    }

    /// True when a repository's pull requests are read through GraphQL this run: always with
    /// `graphql`, never with `rest`, and with `auto` while the repository has no watermark
    /// (the first run, or a backfill that has not completed yet).
    pub(crate) fn uses_graphql(self, has_watermark: bool) -> bool {
        match self {
            Self::Auto => !has_watermark,
            Self::Rest => false,
            Self::Graphql => true,
        }
    }
}

/// How to authenticate.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AuthConfig {
    Anonymous,
    TokenEnv(String),
    /// A token handed over by the embedding program.
    Token(crate::secret::Secret),
    App(AppConfig),
}

/// A checked workflow.
#[derive(Debug, Clone)]
pub(crate) struct Workflow {
    /// `.github/workflows/<file>`.
    pub path: String,
    pub tags: Tags,
    pub artifacts: bool,
    pub logs: bool,
}

/// A checked card path.
#[derive(Debug, Clone)]
pub(crate) struct Card {
    pub path: String,
    pub tags: Tags,
}

/// A checked issue label.
#[derive(Debug, Clone)]
pub(crate) struct IssueLabel {
    pub label: String,
    pub tags: Tags,
}

/// The checked configuration a collection runs with.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub api_url: String,
    pub org: Option<String>,
    pub repos: Vec<String>,
    pub include: Vec<GlobMatcher>,
    pub exclude: Vec<GlobMatcher>,
    pub include_archived: bool,
    pub auth: AuthConfig,
    pub since: Option<Timestamp>,
    pub per_page: u32,
    pub concurrency: usize,
    pub api: ApiMode,
    pub policy: RetryPolicy,
    pub rate_limit_reserve: u64,
    pub pulls: Option<Tags>,
    pub protection: Option<Tags>,
    pub releases: Option<Tags>,
    pub workflows: Vec<Workflow>,
    pub cards: Vec<Card>,
    pub issue_labels: Vec<IssueLabel>,
}

fn switch(switch: &KindSwitch, kind: &str, at: &str) -> Result<Option<Tags>, ConfigError> {
    if switch.enabled == Some(false) {
        return Ok(None);
    }
    switch.tagging.resolve_fixed(kind, at).map(Some)
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && s != "."
        && s != ".."
}

/// True when `s` is `owner/name` with GitHub's characters.
pub(crate) fn is_full_name(s: &str) -> bool {
    matches!(s.split_once('/'), Some((o, n)) if is_name(o) && is_name(n))
}

fn since(s: &str, at: &str) -> Result<Timestamp, ConfigError> {
    crate::front_matter::parse_time(s).ok_or_else(|| {
        ConfigError::new(
            at,
            format!("`since` {s:?} is neither a date (2026-01-01) nor an RFC 3339 instant"),
        )
        .key("since")
    })
}

fn api_url(s: Option<&str>, at: &str) -> Result<String, ConfigError> {
    let raw = s.unwrap_or(DEFAULT_API_URL).trim_end_matches('/');
    if raw.contains('@') {
        return Err(ConfigError::new(
            at,
            "api_url must not carry credentials; name the token's variable in `token_env`"
                .to_string(),
        )
        .key("api_url"));
    }
    let url = reqwest::Url::parse(raw)
        .map_err(|e| ConfigError::new(at, format!("api_url {raw:?}: {e}")).key("api_url"))?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
        return Err(
            ConfigError::new(at, format!("api_url {raw:?} must be an http(s) URL")).key("api_url"),
        );
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(
            ConfigError::new(at, format!("api_url {raw:?} must not have a query")).key("api_url"),
        );
    }
    Ok(raw.to_owned())
}

impl GithubConfig {
    /// Check the configuration. Pure: reads no environment variable and opens no connection.
    pub(crate) fn validate(&self, at: &str) -> Result<Settings, ConfigError> {
        let api_url = api_url(self.api_url.as_deref(), at)?;
        if let Some(org) = &self.org
            && !is_name(org)
        {
            return Err(ConfigError::new(
                at,
                format!("org {org:?} is not a GitHub organisation name"),
            )
            .key("org"));
        }
        for r in &self.repos {
            if !is_full_name(r) {
                return Err(ConfigError::new(
                    at,
                    format!("repository {r:?} must be written owner/name"),
                ));
            }
        }
        if self.org.is_none() && self.repos.is_empty() {
            return Err(ConfigError::new(
                at,
                "give `org` or `repos` (or both)".to_string(),
            ));
        }
        let globs = |list: &[String], what: &str| {
            list.iter()
                .map(|g| {
                    compile_glob(g).map_err(|e| {
                        ConfigError::new(format!("{at} {what}"), e.to_string()).key(what)
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let include = globs(&self.include, "include")?;
        let exclude = globs(&self.exclude, "exclude")?;
        let auth = match (&self.token_env, &self.app) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    at,
                    "give either `token_env` or `[source.app]`, not both".to_string(),
                ));
            }
            (Some(var), None) if var.is_empty() => {
                return Err(
                    ConfigError::new(at, "`token_env` names no variable".to_string())
                        .key("token_env"),
                );
            }
            (Some(var), None) => AuthConfig::TokenEnv(var.clone()),
            (None, Some(app)) => AuthConfig::App(app.clone()),
            (None, None) => AuthConfig::Anonymous,
        };
        let since = self.since.as_deref().map(|s| since(s, at)).transpose()?;
        let per_page = self.per_page.unwrap_or(100);
        if !(1..=100).contains(&per_page) {
            return Err(ConfigError::new(at, "per_page must be 1-100".to_string()).key("per_page"));
        }
        let concurrency = self.max_concurrent_requests.unwrap_or(4);
        if !(1..=16).contains(&concurrency) {
            return Err(
                ConfigError::new(at, "max_concurrent_requests must be 1-16".to_string())
                    .key("max_concurrent_requests"),
            );
        }
        let api = ApiMode::parse(self.api.as_deref(), at)?;
        let defaults = RetryPolicy::default();
        let r = &self.retry;
        let policy = RetryPolicy {
            max_attempts: r.max_attempts.unwrap_or(defaults.max_attempts).max(1),
            base_delay: r
                .base_delay_ms
                .map(Duration::from_millis)
                .unwrap_or(defaults.base_delay),
            max_delay: r
                .max_delay_secs
                .map(Duration::from_secs)
                .unwrap_or(defaults.max_delay),
            timeout: r
                .timeout_secs
                .map(Duration::from_secs)
                .unwrap_or(defaults.timeout),
        };
        if policy.timeout.is_zero() {
            return Err(
                ConfigError::new(at, "retry.timeout_secs must be at least 1".to_string())
                    .key("retry.timeout_secs"),
            );
        }
        let workflows = self
            .workflows
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let at = format!("{at} workflow {} ({:?})", i + 1, w.file);
                let file = w.file.trim_start_matches("./");
                let path = if file.starts_with(".github/workflows/") {
                    file.to_owned()
                } else if file.contains('/') || file.is_empty() {
                    return Err(ConfigError::new(&at, "give the workflow's file name (train.yml) or its path under .github/workflows/".to_string()));
                } else {
                    format!(".github/workflows/{file}")
                };
                Ok(Workflow {
                    path,
                    tags: w.tagging.resolve(Some("ci_run"), &at)?,
                    artifacts: w.artifacts.unwrap_or(true),
                    logs: w.logs.unwrap_or(true),
                })
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        let cards = self
            .cards
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let at = format!("{at} card {} ({:?})", i + 1, c.path);
                let path = c.path.trim_matches('/');
                if path.is_empty() || path.split('/').any(|p| p.is_empty() || p == "..") {
                    return Err(ConfigError::new(
                        &at,
                        "not a file path inside the repository".to_string(),
                    ));
                }
                Ok(Card {
                    path: path.to_owned(),
                    tags: c.tagging.resolve(Some("model_card"), &at)?,
                })
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        let issue_labels = self
            .issue_labels
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let at = format!("{at} issue_label {} ({:?})", i + 1, l.label);
                if l.label.is_empty() || l.label.contains(',') {
                    return Err(ConfigError::new(
                        &at,
                        "a label is one non-empty name without commas".to_string(),
                    ));
                }
                Ok(IssueLabel {
                    label: l.label.clone(),
                    tags: l.tagging.resolve(Some("incident_ticket"), &at)?,
                })
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        Ok(Settings {
            api_url,
            org: self.org.clone(),
            repos: self.repos.clone(),
            include,
            exclude,
            include_archived: self.include_archived,
            auth,
            since,
            per_page,
            concurrency,
            api,
            policy,
            rate_limit_reserve: r.rate_limit_reserve.unwrap_or(50),
            pulls: switch(&self.pulls, "pr_approval", &format!("{at} pulls"))?,
            protection: switch(
                &self.protection,
                "branch_protection",
                &format!("{at} protection"),
            )?,
            releases: switch(
                &self.releases,
                "deployment_record",
                &format!("{at} releases"),
            )?,
            workflows,
            cards,
            issue_labels,
        })
    }
}

impl Settings {
    /// True when `full_name` passes the include and exclude globs.
    pub(crate) fn wants(&self, full_name: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|g| g.is_match(full_name)))
            && !self.exclude.iter().any(|g| g.is_match(full_name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(toml_text: &str) -> GithubConfig {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn a_minimal_org_config_collects_pulls_protection_and_releases_with_catalogue_tags() {
        let s = config("org = \"acme\"\ntoken_env = \"GITHUB_TOKEN\"")
            .validate("t")
            .unwrap();
        assert_eq!(s.api_url, DEFAULT_API_URL);
        assert_eq!(s.auth, AuthConfig::TokenEnv("GITHUB_TOKEN".into()));
        let pulls = s.pulls.unwrap();
        assert_eq!(pulls.kind.as_str(), "pr_approval");
        assert!(pulls.controls.iter().any(|c| c.as_str() == "A.6.1.3"));
        assert!(s.protection.is_some() && s.releases.is_some());
    }

    #[test]
    fn kinds_can_be_switched_off_and_their_controls_overridden() {
        let s = config(
            "repos = [\"acme/model\"]\n[pulls]\ncontrols = [\"A.6.2.3\"]\n[releases]\nenabled = false",
        )
        .validate("t")
        .unwrap();
        assert_eq!(
            s.pulls
                .unwrap()
                .controls
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>(),
            ["A.6.2.3"]
        );
        assert!(s.releases.is_none());
    }

    #[test]
    fn workflows_default_to_ci_runs_under_the_workflows_folder() {
        let s = config(
            "repos = [\"acme/model\"]\n[[workflow]]\nfile = \"train.yml\"\nkind = \"training_run\"\n[[workflow]]\nfile = \".github/workflows/ci.yml\"",
        )
        .validate("t")
        .unwrap();
        assert_eq!(s.workflows[0].path, ".github/workflows/train.yml");
        assert_eq!(s.workflows[0].tags.kind.as_str(), "training_run");
        assert_eq!(s.workflows[1].tags.kind.as_str(), "ci_run");
    }

    #[test]
    fn an_enterprise_server_url_is_kept_without_its_trailing_slash() {
        let s = config("org = \"acme\"\napi_url = \"https://ghe.example.com/api/v3/\"")
            .validate("t")
            .unwrap();
        assert_eq!(s.api_url, "https://ghe.example.com/api/v3");
    }

    #[test]
    fn unknown_keys_bad_names_and_invented_controls_are_refused() {
        assert!(toml::from_str::<GithubConfig>("org = \"acme\"\ntoken = \"x\"").is_err());
        assert!(config("repos = [\"model\"]").validate("t").is_err());
        assert!(config("").validate("t").is_err());
        let err = config("org = \"acme\"\n[pulls]\ncontrols = [\"A.6.6\"]")
            .validate("source \"gh\"")
            .unwrap_err();
        assert!(
            err.to_string().contains("A.6.6") && err.to_string().contains("source \"gh\""),
            "{err}"
        );
    }

    #[test]
    fn credentials_in_the_api_url_are_refused() {
        let err = config("org = \"acme\"\napi_url = \"https://x:ghp_secret@ghe.example.com\"")
            .validate("t")
            .unwrap_err();
        assert!(!err.to_string().contains("ghp_secret"), "{err}");
    }

    #[test]
    fn include_and_exclude_globs_filter_full_names() {
        let s = config("org = \"acme\"\ninclude = [\"acme/model-*\"]\nexclude = [\"acme/*-old\"]")
            .validate("t")
            .unwrap();
        assert!(s.wants("acme/model-a"));
        assert!(!s.wants("acme/model-old"));
        assert!(!s.wants("acme/web"));
    }

    #[test]
    fn the_api_switch_defaults_to_auto_and_refuses_other_values() {
        let s = config("org = \"acme\"").validate("t").unwrap();
        assert_eq!(s.api, ApiMode::Auto);
        assert!(s.api.uses_graphql(false) && !s.api.uses_graphql(true));
        let rest = config("org = \"acme\"\napi = \"rest\"")
            .validate("t")
            .unwrap();
        assert!(!rest.api.uses_graphql(false));
        let graphql = config("org = \"acme\"\napi = \"graphql\"")
            .validate("t")
            .unwrap();
        assert!(graphql.api.uses_graphql(true));
        let err = config("org = \"acme\"\napi = \"soap\"")
            .validate("source \"gh\"")
            .unwrap_err();
        assert!(
            err.to_string().contains("soap") && err.to_string().contains("source \"gh\""),
            "{err}"
        );
    }
}
