//! `[[source]] type = "events"`: where the log is, its shape, the window, the systems declared
//! in use, and whether prompts and responses are kept; checked into the reading [`Settings`].

use std::path::PathBuf;

use jiff::SignedDuration;
use serde::Deserialize;

use super::mapping::Shape;
use super::pass::Settings;
use super::window::Window;
use crate::config_error::ConfigError;
use crate::rules::TaggingConfig;

/// The reordering a log may show before time going backwards is a sequence break.
const DEFAULT_TOLERANCE_SECS: u64 = 60;

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

/// Where the segments are, checked.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Location {
    Folder(PathBuf),
    Bucket { bucket: String, prefix: String },
}

impl EventsConfig {
    /// `path` or `bucket` (with its `prefix`), exactly one; the S3 keys only with `bucket`.
    pub(crate) fn location(&self, at: &str) -> Result<Location, ConfigError> {
        match (&self.path, &self.bucket) {
            (Some(path), None) => {
                let s3_keys = [
                    ("prefix", self.prefix.is_some()),
                    ("endpoint_url", self.endpoint_url.is_some()),
                    ("region", self.region.is_some()),
                    ("profile", self.profile.is_some()),
                    ("force_path_style", self.force_path_style.is_some()),
                ];
                if let Some((key, _)) = s3_keys.iter().find(|(_, given)| *given) {
                    return Err(ConfigError::new(
                        at,
                        format!("`{key}` applies to a `bucket`, not to a `path`"),
                    )
                    .key(key));
                }
                Ok(Location::Folder(path.clone()))
            }
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
            (None, Some(_)) => Err(ConfigError::new(at, "`bucket` is empty").key("bucket")),
            (Some(_), Some(_)) => Err(ConfigError::new(
                at,
                "give `path` (a folder) or `bucket` (an S3 prefix), not both",
            )
            .key("bucket")),
            (None, None) => Err(ConfigError::new(
                at,
                "missing `path` (a folder holding the log) or `bucket` (an S3 prefix holding it)",
            )
            .key("path")),
        }
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
