//! `[[source]] type = "events"`: where the log is (a folder, an S3 prefix or Langfuse's public
//! API), its shape, the window, the systems declared in use, and whether prompts and responses
//! are kept; checked into the reading [`Settings`] and the [`Location`].

use std::path::PathBuf;
use std::time::Duration;

use jiff::SignedDuration;
use serde::Deserialize;

use super::mapping::Shape;
use super::pass::Settings;
use super::window::Window;
use crate::config_error::ConfigError;
use crate::rules::TaggingConfig;

/// The reordering a log may show before time going backwards is a sequence break.
const DEFAULT_TOLERANCE_SECS: u64 = 60;
/// How long Langfuse may take to make an observation readable after it started: Langfuse
/// documents delays of up to 15 minutes for older SDKs and exporters.
const DEFAULT_LAG_MINUTES: u64 = 30;
/// Observations per Langfuse page (the API allows up to 1000).
const DEFAULT_PAGE_SIZE: u32 = 100;
/// The environment variables holding Langfuse's API keys unless the config names others.
pub(crate) const DEFAULT_PUBLIC_KEY_ENV: &str = "LANGFUSE_PUBLIC_KEY";
pub(crate) const DEFAULT_SECRET_KEY_ENV: &str = "LANGFUSE_SECRET_KEY";

/// `[[source]] type = "events"`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EventsConfig {
    /// The folder holding the log's segments (the live file, renamed `.1`, compressed `.gz`),
    /// relative to the config file's directory unless absolute. Or `bucket`.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// An S3 bucket holding the segments under `prefix` (instead of `path`).
    #[serde(default)]
    pub bucket: Option<String>,
    /// The key prefix of the segments in `bucket` (a `/` is added; default: the bucket's root).
    #[serde(default)]
    pub prefix: Option<String>,
    /// Endpoint of an S3-compatible store; default: AWS.
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Region; default: the AWS chain's, else `us-east-1`.
    #[serde(default)]
    pub region: Option<String>,
    /// Named profile of the shared AWS config files.
    #[serde(default)]
    pub profile: Option<String>,
    /// Path-style requests; default: on with `endpoint_url`, off for AWS.
    #[serde(default)]
    pub force_path_style: Option<bool>,
    /// Langfuse's base URL (`https://cloud.langfuse.com`, a self-hosted server): its public API
    /// is read instead of files (instead of `path` or `bucket`).
    #[serde(default)]
    pub langfuse_url: Option<String>,
    /// The environment variable holding the Langfuse public key (default `LANGFUSE_PUBLIC_KEY`).
    #[serde(default)]
    pub public_key_env: Option<String>,
    /// The environment variable holding the Langfuse secret key (default `LANGFUSE_SECRET_KEY`).
    #[serde(default)]
    pub secret_key_env: Option<String>,
    /// The observation types collected (default `GENERATION` and `EMBEDDING`: model calls).
    #[serde(default)]
    pub observation_types: Option<Vec<String>>,
    /// Observations that started less than this many minutes before the run are left for the
    /// next run: Langfuse ingests asynchronously (default 30, at most 1440).
    #[serde(default)]
    pub lag_minutes: Option<u64>,
    /// Observations per page, 1–1000 (default 100).
    #[serde(default)]
    pub page_size: Option<u32>,
    /// Attempts per Langfuse request, the first included (default 6).
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// Timeout of one Langfuse request in seconds (default 60).
    #[serde(default)]
    pub request_timeout_secs: Option<u64>,
    /// Glob of the segment file names in the folder (default `*`: every file but dot-files).
    #[serde(default)]
    pub files: Option<String>,
    /// `otel-genai`, `litellm` or `auto` (default: decided per line).
    #[serde(default)]
    pub shape: Shape,
    /// One item per system and window: `1d` (default) or `1h` to `168h`, or `1d` to `7d`.
    #[serde(default)]
    pub window: Option<String>,
    /// Systems declared in use: a window in which one of them logged nothing is a gap.
    #[serde(default)]
    pub systems_in_use: Vec<String>,
    /// Keep prompts and responses (then redacted like any artefact); default: dropped.
    #[serde(default)]
    pub include_content: bool,
    /// The system a line belongs to when it names none (default: the source's name).
    #[serde(default)]
    pub system: Option<String>,
    /// How far back in time a line may go before it is a sequence break (default 60 s).
    #[serde(default)]
    pub reorder_tolerance_secs: Option<u64>,
    /// `kind` is always `event_log`; controls, clauses and phase default to its mapping.
    #[serde(flatten)]
    pub tagging: TaggingConfig,
}

impl EventsConfig {
    /// The checked reading settings of the source `at` names, whose name is `source`.
    pub(crate) fn settings(&self, at: &str, source: &str) -> Result<Settings, ConfigError> {
        let window = match self.window.as_deref() {
            None => Window::DAY,
            Some(text) => parse_window(text).ok_or_else(|| {
                ConfigError::new(
                    at,
                    format!("window {text:?} is not `1d`–`7d` or `1h`–`168h`"),
                )
                .key("window")
            })?,
        };
        for s in &self.systems_in_use {
            if s.trim().is_empty() {
                return Err(
                    ConfigError::new(at, "an empty name in `systems_in_use`").key("systems_in_use")
                );
            }
        }
        if let Some(s) = &self.system
            && s.trim().is_empty()
        {
            return Err(ConfigError::new(at, "`system` is empty").key("system"));
        }
        let tolerance = self
            .reorder_tolerance_secs
            .unwrap_or(DEFAULT_TOLERANCE_SECS);
        if tolerance > 86_400 {
            return Err(ConfigError::new(
                at,
                format!("reorder_tolerance_secs = {tolerance} is more than a day"),
            )
            .key("reorder_tolerance_secs"));
        }
        Ok(Settings {
            shape: self.shape,
            window,
            include_content: self.include_content,
            default_system: self.system.clone().unwrap_or_else(|| source.to_owned()),
            tolerance: SignedDuration::from_secs(tolerance as i64),
        })
    }
}

/// Where the events are, checked.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Location {
    Folder(PathBuf),
    Bucket { bucket: String, prefix: String },
    Langfuse(LangfuseSettings),
}

/// How Langfuse's public API is read.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LangfuseSettings {
    /// The base URL, without a trailing `/`.
    pub(crate) base: String,
    pub(crate) public_key_env: String,
    pub(crate) secret_key_env: String,
    /// Upper case (`GENERATION`).
    pub(crate) types: Vec<String>,
    pub(crate) lag: jiff::SignedDuration,
    pub(crate) page_size: u32,
    pub(crate) max_attempts: u32,
    pub(crate) timeout: Duration,
}

impl EventsConfig {
    /// `path`, `bucket` (with its `prefix`) or `langfuse_url`, exactly one; the S3 keys only
    /// with `bucket`, the Langfuse keys only with `langfuse_url`.
    pub(crate) fn location(&self, at: &str) -> Result<Location, ConfigError> {
        let given: Vec<&str> = [
            ("path", self.path.is_some()),
            ("bucket", self.bucket.is_some()),
            ("langfuse_url", self.langfuse_url.is_some()),
        ]
        .into_iter()
        .filter_map(|(key, given)| given.then_some(key))
        .collect();
        match given.as_slice() {
            [] => {
                return Err(ConfigError::new(
                    at,
                    "missing `path` (a folder holding the log), `bucket` (an S3 prefix holding it) or `langfuse_url` (Langfuse's public API)",
                )
                .key("path"));
            }
            [_] => {}
            [first, second, ..] => {
                return Err(ConfigError::new(
                    at,
                    format!(
                        "give one of `path` (a folder), `bucket` (an S3 prefix) and `langfuse_url` (Langfuse), not both `{first}` and `{second}`"
                    ),
                )
                .key(second));
            }
        }
        self.refuse_keys_of_other_locations(at)?;
        if let Some(url) = &self.langfuse_url {
            return self.langfuse(at, url).map(Location::Langfuse);
        }
        match (&self.path, &self.bucket) {
            (Some(path), _) => Ok(Location::Folder(path.clone())),
            (None, Some(bucket)) if !bucket.trim().is_empty() => {
                let mut prefix = self.prefix.clone().unwrap_or_default();
                if prefix.starts_with('/') {
                    return Err(ConfigError::new(
                        at,
                        format!("prefix {prefix:?} starts with `/`; S3 keys do not"),
                    )
                    .key("prefix"));
                }
                if !prefix.is_empty() && !prefix.ends_with('/') {
                    prefix.push('/');
                }
                Ok(Location::Bucket {
                    bucket: bucket.clone(),
                    prefix,
                })
            }
            (None, _) => Err(ConfigError::new(at, "`bucket` is empty").key("bucket")),
        }
    }

    /// The keys of a location other than the one given.
    fn refuse_keys_of_other_locations(&self, at: &str) -> Result<(), ConfigError> {
        let s3_keys = [
            ("prefix", self.prefix.is_some()),
            ("endpoint_url", self.endpoint_url.is_some()),
            ("region", self.region.is_some()),
            ("profile", self.profile.is_some()),
            ("force_path_style", self.force_path_style.is_some()),
        ];
        let langfuse_keys = [
            ("public_key_env", self.public_key_env.is_some()),
            ("secret_key_env", self.secret_key_env.is_some()),
            ("observation_types", self.observation_types.is_some()),
            ("lag_minutes", self.lag_minutes.is_some()),
            ("page_size", self.page_size.is_some()),
            ("max_attempts", self.max_attempts.is_some()),
            ("request_timeout_secs", self.request_timeout_secs.is_some()),
        ];
        let file_keys = [("files", self.files.is_some())];
        let stray = |keys: &[(&'static str, bool)], applies: &str| {
            keys.iter().find(|(_, given)| *given).map(|(key, _)| {
                ConfigError::new(
                    at,
                    format!("`{key}` applies to {applies}, not to this source"),
                )
                .key(key)
            })
        };
        let refused = if self.langfuse_url.is_some() {
            stray(&s3_keys, "a `bucket`").or_else(|| stray(&file_keys, "a `path` or a `bucket`"))
        } else if self.bucket.is_some() {
            stray(&langfuse_keys, "a `langfuse_url`")
        } else {
            stray(&s3_keys, "a `bucket`").or_else(|| stray(&langfuse_keys, "a `langfuse_url`"))
        };
        refused.map_or(Ok(()), Err)
    }

    /// The checked Langfuse settings of `url`.
    fn langfuse(&self, at: &str, url: &str) -> Result<LangfuseSettings, ConfigError> {
        let bad = |why: &str| {
            ConfigError::new(at, format!("langfuse_url {url:?} {why}")).key("langfuse_url")
        };
        let parsed = reqwest::Url::parse(url).map_err(|e| bad(&format!("is not a URL ({e})")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(bad("must start with http:// or https://"));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            // Never echo the URL: it holds a credential.
            return Err(ConfigError::new(
                at,
                "langfuse_url must not contain credentials; the keys are read from the environment (LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY)",
            )
            .key("langfuse_url"));
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(bad("has no host"));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(bad("must not have a query or fragment"));
        }
        let types = match &self.observation_types {
            None => super::observation::MODEL_CALL_TYPES
                .iter()
                .map(|t| (*t).to_owned())
                .collect(),
            Some(list) if list.is_empty() || list.iter().any(|t| t.trim().is_empty()) => {
                return Err(ConfigError::new(
                    at,
                    "`observation_types` is empty or holds an empty name",
                )
                .key("observation_types"));
            }
            Some(list) => list.iter().map(|t| t.trim().to_uppercase()).collect(),
        };
        let lag = self.lag_minutes.unwrap_or(DEFAULT_LAG_MINUTES);
        if lag > 1440 {
            return Err(
                ConfigError::new(at, format!("lag_minutes = {lag} is more than a day"))
                    .key("lag_minutes"),
            );
        }
        let page_size = match self.page_size {
            None => DEFAULT_PAGE_SIZE,
            Some(n @ 1..=1000) => n,
            Some(n) => {
                return Err(
                    ConfigError::new(at, format!("page_size = {n} must be 1–1000"))
                        .key("page_size"),
                );
            }
        };
        let env = |given: &Option<String>, key: &str, default: &str| match given {
            Some(name) if name.trim().is_empty() => {
                Err(ConfigError::new(at, format!("`{key}` is empty")).key(key))
            }
            Some(name) => Ok(name.clone()),
            None => Ok(default.to_owned()),
        };
        Ok(LangfuseSettings {
            base: url.trim_end_matches('/').to_owned(),
            public_key_env: env(
                &self.public_key_env,
                "public_key_env",
                DEFAULT_PUBLIC_KEY_ENV,
            )?,
            secret_key_env: env(
                &self.secret_key_env,
                "secret_key_env",
                DEFAULT_SECRET_KEY_ENV,
            )?,
            types,
            lag: jiff::SignedDuration::from_secs(lag as i64 * 60),
            page_size,
            max_attempts: self.max_attempts.unwrap_or(6).clamp(1, 20),
            timeout: Duration::from_secs(self.request_timeout_secs.unwrap_or(60).max(1)),
        })
    }
}

/// `1d`, `24h`, `6h`: a window of whole hours up to a week.
fn parse_window(text: &str) -> Option<Window> {
    let text = text.trim();
    let (number, hours_per) = if let Some(n) = text.strip_suffix('d') {
        (n, 24)
    } else if let Some(n) = text.strip_suffix('h') {
        (n, 1)
    } else {
        return None;
    };
    let n: u32 = number.parse().ok()?;
    Window::hours(n.checked_mul(hours_per)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_days_or_hours_up_to_a_week() {
        assert_eq!(parse_window("1d"), Some(Window::DAY));
        assert_eq!(parse_window("24h"), Some(Window::DAY));
        assert_eq!(parse_window("6h"), Window::hours(6));
        for bad in ["0h", "8d", "1w", "", "d", "-1h"] {
            assert_eq!(parse_window(bad), None, "{bad}");
        }
    }
}
