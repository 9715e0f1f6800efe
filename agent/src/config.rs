//! The agent's TOML configuration: where the archive lives, the log's origin, how the daemon
//! schedules and stops (`[agent]`), the sources, and optionally the signing key (`[signing]`)
//! and the time-stamp authority (`[timestamp]`). Loading is pure apart from reading the file
//! (and the time-zone database); every connector's config and every schedule is checked
//! (controls, globs, names, cron fields) before anything runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use evidence_archive::layout;
use evidence_connectors::{ConfigError as EntryError, Connector, SourceConfig, redact};
use jiff::tz::TimeZone;
use serde::Deserialize;

use crate::schedule::{self, Schedule};

/// The default `[agent] schedule`: daily at 02:00 in the agent's time zone.
pub const DEFAULT_SCHEDULE: &str = "0 2 * * *";
/// The default `[agent] shutdown_deadline_secs`: below the 30 s a Kubernetes pod and most
/// service managers allow before they kill, so the run still seals in time.
pub const DEFAULT_SHUTDOWN_DEADLINE_SECS: u64 = 20;
/// The largest `[agent] jitter_secs`: one day.
pub const MAX_JITTER_SECS: u64 = 86_400;
/// The largest `[agent] shutdown_deadline_secs`: one hour.
pub const MAX_SHUTDOWN_DEADLINE_SECS: u64 = 3_600;

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
    /// The file as a whole: not TOML, or no source.
    #[error("config {path}: {message}")]
    Invalid { path: PathBuf, message: String },
    /// One entry of the file (`[archive]`, `[agent]`, a `[[source]]`), naming it and its key.
    #[error("config {path}: {error}")]
    Entry {
        path: PathBuf,
        #[source]
        error: EntryError,
    },
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

/// `[signing]`: sign every sealed bundle and its checkpoint (SSHSIG, as `ssh-keygen -Y sign`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SigningConfig {
    /// OpenSSH Ed25519 private key (`evidence-agent keygen`), relative to the config file unless
    /// absolute; readable by its owner only (mode 0600), without a passphrase.
    pub key: PathBuf,
    /// SSHSIG namespace (`ssh-keygen -n`); default `evidence-archive`.
    #[serde(default = "default_namespace")]
    pub namespace: String,
}

fn default_namespace() -> String {
    evidence_archive::sshsig::DEFAULT_NAMESPACE.to_owned()
}

/// `[timestamp]`: obtain an RFC 3161 time stamp over each checkpoint signature.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TimestampConfig {
    /// The time-stamp authority's URL (HTTP POST of `application/timestamp-query`).
    pub url: String,
    /// Optional PEM file of the TSA's root certificates: each token is verified against it
    /// before it is stored; relative to the config file unless absolute.
    #[serde(default)]
    pub roots: Option<PathBuf>,
    /// Attempts in total before the run is sealed untimestamped; default 3.
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    /// Timeout of one attempt, in seconds; default 10.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// First backoff delay between attempts, in milliseconds (doubles, with jitter); default
    /// 1000.
    #[serde(default = "default_retry_delay_ms")]
    pub retry_delay_ms: u64,
}

fn default_attempts() -> u32 {
    3
}
fn default_timeout_secs() -> u64 {
    10
}
fn default_retry_delay_ms() -> u64 {
    1000
}

/// `[agent]`: how `evidence-agent run` schedules runs and how every run stops. All keys are
/// optional.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AgentTable {
    /// Cron expression (5 fields) for sources without their own `schedule`.
    #[serde(default = "default_schedule")]
    pub schedule: String,
    /// IANA time zone the cron fields are read in (default `UTC`).
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// Largest delay added to every scheduled time, seconds (default 0). The delay is fixed
    /// per origin, so restarts keep it and different agents spread out.
    #[serde(default)]
    pub jitter_secs: u64,
    /// After SIGTERM or SIGINT, how long sources get to stop before they are abandoned and
    /// the run seals what the others staged, seconds (default 20).
    #[serde(default = "default_shutdown_deadline_secs")]
    pub shutdown_deadline_secs: u64,
    /// At start, run a source once if a scheduled time passed while the agent was down or it
    /// has never run (default true), like a systemd timer with `Persistent=true`.
    #[serde(default = "default_catch_up")]
    pub catch_up: bool,
}

fn default_schedule() -> String {
    DEFAULT_SCHEDULE.to_owned()
}
fn default_timezone() -> String {
    "UTC".to_owned()
}
fn default_shutdown_deadline_secs() -> u64 {
    DEFAULT_SHUTDOWN_DEADLINE_SECS
}
fn default_catch_up() -> bool {
    true
}

impl Default for AgentTable {
    fn default() -> Self {
        Self {
            schedule: default_schedule(),
            timezone: default_timezone(),
            jitter_secs: 0,
            shutdown_deadline_secs: DEFAULT_SHUTDOWN_DEADLINE_SECS,
            catch_up: true,
        }
    }
}

/// The checked `[agent]` settings.
#[derive(Debug, Clone)]
pub struct AgentSettings {
    /// The default schedule.
    pub schedule: Schedule,
    pub time_zone_name: String,
    pub time_zone: TimeZone,
    pub jitter_secs: u64,
    /// This origin's fixed share of the jitter, seconds.
    pub jitter_offset_secs: u64,
    pub shutdown_deadline: Duration,
    pub catch_up: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    archive: ArchiveConfig,
    #[serde(default)]
    signing: Option<SigningConfig>,
    #[serde(default)]
    timestamp: Option<TimestampConfig>,
    #[serde(default)]
    agent: AgentTable,
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
    /// `[agent]`.
    pub agent: AgentSettings,
    pub sources: Vec<SourceConfig>,
    /// `[signing]`, with `key` resolved against the config file's directory.
    pub signing: Option<SigningConfig>,
    /// `[timestamp]`, with `roots` resolved against the config file's directory.
    pub timestamp: Option<TimestampConfig>,
    /// Each source's effective schedule (its own, or the `[agent]` default), by name.
    schedules: BTreeMap<String, Schedule>,
    /// Where sealed bundles are uploaded, when `[archive] path` is an S3 location.
    pub remote: Option<crate::upload::RemoteConfig>,
    /// The connectors, built once when the config is checked and kept for every run.
    connectors: Connectors,
    base: PathBuf,
}

/// The configured connectors, in the order of the sources.
#[derive(Clone)]
struct Connectors(Vec<Arc<dyn Connector>>);

impl std::fmt::Debug for Connectors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|c| c.name().as_str()))
            .finish()
    }
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
        // TOML errors quote the offending line: never let them repeat a credential.
        let entry = |error: EntryError| ConfigError::Entry {
            path: file.to_owned(),
            error,
        };
        let quoted = |e: toml::de::Error| invalid(redact::redact_credentials(&e.to_string()));
        let table: toml::Table = toml::from_str(text).map_err(quoted)?;
        check_no_credentials(&table).map_err(entry)?;
        let raw: RawConfig = toml::from_str(text).map_err(quoted)?;
        if !layout::is_valid_origin(&raw.archive.origin) {
            return Err(entry(
                EntryError::new(
                    "[archive]",
                    format!(
                        "origin {:?} must be printable ASCII without spaces or '+', e.g. \"example.org/ai\"",
                        raw.archive.origin
                    ),
                )
                .key("origin"),
            ));
        }
        if raw.sources.is_empty() {
            return Err(invalid("no [[source]] is configured".into()));
        }
        let base = file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_owned();
        let agent = check_agent_table(&raw.agent, &raw.archive.origin).map_err(entry)?;
        let mut names = BTreeMap::new();
        let mut schedules = BTreeMap::new();
        let mut connectors = Vec::with_capacity(raw.sources.len());
        for source in &raw.sources {
            source.source_name().map_err(entry)?;
            // Source names become folders in every bundle, and the archive refuses names that
            // differ only in case (they collide on case-insensitive file systems).
            if let Some(earlier) = names.insert(layout::case_folded(&source.name), &source.name) {
                let at = format!("source {:?}", source.name);
                return Err(entry(
                    EntryError::new(
                        at,
                        if *earlier == source.name {
                            "two sources have this name".to_owned()
                        } else {
                            format!(
                                "this name and source {earlier:?} differ only in case; source names must differ in more than case, because the archive refuses names that collide on case-insensitive file systems"
                            )
                        },
                    )
                    .key("name"),
                ));
            }
            connectors.push(Arc::from(source.build(&base).map_err(entry)?));
            let schedule = match &source.schedule {
                Some(expr) => Schedule::parse(expr).map_err(|e| {
                    entry(
                        EntryError::new(format!("source {:?}", source.name), e.to_string())
                            .key("schedule"),
                    )
                })?,
                None => agent.schedule.clone(),
            };
            schedules.insert(source.name.clone(), schedule);
        }
        let signing = raw.signing.map(|mut s| {
            s.key = base.join(&s.key);
            s
        });
        if let Some(s) = &signing
            && (s.namespace.is_empty() || !s.namespace.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err(entry(
                EntryError::new(
                    "[signing]",
                    format!(
                        "namespace {:?} must be printable ASCII without spaces",
                        s.namespace
                    ),
                )
                .key("namespace"),
            ));
        }
        let timestamp = raw.timestamp.map(|mut t| {
            t.roots = t.roots.map(|r| base.join(r));
            t
        });
        if let Some(t) = &timestamp {
            if signing.is_none() {
                return Err(entry(EntryError::new(
                    "[timestamp]",
                    "needs [signing]: the time stamp is over the checkpoint signature",
                )));
            }
            if !(t.url.starts_with("http://") || t.url.starts_with("https://")) {
                return Err(entry(
                    EntryError::new(
                        "[timestamp]",
                        format!("url {:?} must be an http:// or https:// URL", t.url),
                    )
                    .key("url"),
                ));
            }
            if t.attempts == 0 || t.timeout_secs == 0 {
                return Err(entry(EntryError::new(
                    "[timestamp]",
                    "attempts and timeout_secs must be at least 1",
                )));
            }
        }
        let remote = crate::upload::remote_from_config(
            &raw.archive.path,
            raw.archive.local_path.as_deref(),
            raw.archive.s3.as_ref(),
        )
        .map_err(entry)?;
        let archive_dir = match (&remote, &raw.archive.local_path) {
            (Some(_), Some(local)) => base.join(local),
            (Some(_), None) => base.join(crate::upload::DEFAULT_OUTBOX),
            (None, _) => base.join(&raw.archive.path),
        };
        let state_dir = match &raw.archive.state_dir {
            Some(p) => base.join(p),
            None => archive_dir.join(".agent"),
        };
        check_archive_outside_sources(&raw.sources, &base, &archive_dir, &state_dir)
            .map_err(entry)?;
        Ok(Self {
            file: file.to_owned(),
            archive_dir,
            state_dir,
            origin: raw.archive.origin,
            agent,
            sources: raw.sources,
            signing,
            timestamp,
            schedules,
            remote,
            connectors: Connectors(connectors),
            base,
        })
    }

    /// The config file's directory, which relative paths are resolved against.
    pub fn base(&self) -> &Path {
        &self.base
    }

    /// The schedule of the source named `name` (its own, or the `[agent]` default).
    pub fn schedule_of(&self, name: &str) -> &Schedule {
        self.schedules.get(name).unwrap_or(&self.agent.schedule)
    }

    /// Every configured connector, in the order of the sources. They were built once, when
    /// the config was checked, and serve every run.
    pub fn connectors(&self) -> &[Arc<dyn Connector>] {
        &self.connectors.0
    }
}

/// Refuse credentials written into the config: a `*_env` key must name an environment
/// variable (a pasted token is refused without being repeated), and no URL may carry user
/// information. Runs on the TOML before anything else reads it, so that no later message,
/// log line or gap record can echo such a value.
fn check_no_credentials(table: &toml::Table) -> Result<(), EntryError> {
    for (section, value) in table {
        match (section.as_str(), value) {
            ("source", toml::Value::Array(sources)) => {
                for (i, source) in sources.iter().enumerate() {
                    let name = source
                        .get("name")
                        .and_then(toml::Value::as_str)
                        .filter(|n| !redact::looks_like_credential(n))
                        .map_or_else(
                            || format!("[[source]] #{}", i + 1),
                            |n| format!("source {n:?}"),
                        );
                    check_value(&name, "", source)?;
                }
            }
            _ => check_value(&format!("[{section}]"), "", value)?,
        }
    }
    Ok(())
}

fn check_value(at: &str, key: &str, value: &toml::Value) -> Result<(), EntryError> {
    match value {
        toml::Value::String(s) => {
            if key.ends_with("_env")
                && let Some(problem) = redact::env_var_name_problem(s)
            {
                return Err(EntryError::new(at, format!("`{key}` {problem}")).key(key));
            }
            if redact::url_has_userinfo(s) {
                return Err(EntryError::new(at, format!(
                    "`{key}` is a URL with credentials in it (user:password@); give credentials through the environment variables the connector documents (the value is not repeated here)"
                )).key(key));
            }
            Ok(())
        }
        toml::Value::Array(items) => items.iter().try_for_each(|v| check_value(at, key, v)),
        toml::Value::Table(t) => t.iter().try_for_each(|(k, v)| {
            let key = if key.is_empty() {
                k.clone()
            } else {
                format!("{key}.{k}")
            };
            check_value(at, &key, v)
        }),
        _ => Ok(()),
    }
}

/// Refuse an archive or state folder inside a collected local folder: every run would seal
/// the previous bundles (or the state) again, and the archive would grow with the square of
/// the runs.
fn check_archive_outside_sources(
    sources: &[SourceConfig],
    base: &Path,
    archive_dir: &Path,
    state_dir: &Path,
) -> Result<(), EntryError> {
    let archive = comparable(archive_dir);
    let state = comparable(state_dir);
    for source in sources {
        #[allow(
            irrefutable_let_patterns,
            reason = "other connector types may be disabled"
        )]
        let evidence_connectors::ConnectorConfig::Local(local) = &source.connector else {
            continue;
        };
        let folder = comparable(&base.join(&local.path));
        for (what, dir, key) in [
            ("archive", &archive, "[archive] path"),
            ("state", &state, "[archive] state_dir"),
        ] {
            if dir.starts_with(&folder) {
                return Err(EntryError::new(
                    format!("source {:?}", source.name),
                    format!(
                        "the {what} folder {} is inside the collected folder {}; every run would seal the earlier bundles again. Move `{key}` out of it, or collect a folder that does not contain it",
                        dir.display(),
                        folder.display()
                    ),
                )
                .key("path"));
            }
        }
    }
    Ok(())
}

/// `path` in a form two paths can be compared in: its nearest existing ancestor resolved
/// (symbolic links, `..`), the rest appended without `.` components.
fn comparable(path: &Path) -> PathBuf {
    let mut existing = path;
    let mut rest = Vec::new();
    loop {
        if let Ok(resolved) = existing.canonicalize() {
            let mut out = resolved;
            for part in rest.iter().rev() {
                out.push(part);
            }
            return out;
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => break,
        }
    }
    path.components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

fn check_agent_table(table: &AgentTable, origin: &str) -> Result<AgentSettings, EntryError> {
    let at = "[agent]";
    let schedule = Schedule::parse(&table.schedule)
        .map_err(|e| EntryError::new(at, e.to_string()).key("schedule"))?;
    let time_zone =
        TimeZone::get(&table.timezone).map_err(|_| {
            EntryError::new(at, format!(
            "timezone {:?} is not a known IANA time zone, e.g. \"UTC\" or \"Europe/Berlin\"",
            table.timezone
        ))
        .key("timezone")
        })?;
    if table.jitter_secs > MAX_JITTER_SECS {
        return Err(EntryError::new(
            at,
            format!(
                "jitter_secs = {} is more than a day ({MAX_JITTER_SECS})",
                table.jitter_secs
            ),
        )
        .key("jitter_secs"));
    }
    if table.shutdown_deadline_secs > MAX_SHUTDOWN_DEADLINE_SECS {
        return Err(EntryError::new(
            at,
            format!(
                "shutdown_deadline_secs = {} is more than an hour ({MAX_SHUTDOWN_DEADLINE_SECS})",
                table.shutdown_deadline_secs
            ),
        )
        .key("shutdown_deadline_secs"));
    }
    Ok(AgentSettings {
        schedule,
        time_zone_name: table.timezone.clone(),
        time_zone,
        jitter_secs: table.jitter_secs,
        jitter_offset_secs: schedule::jitter_offset_secs(origin, table.jitter_secs),
        shutdown_deadline: Duration::from_secs(table.shutdown_deadline_secs),
        catch_up: table.catch_up,
    })
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
        assert_eq!(c.connectors()[0].name().as_str(), "governance-docs");
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
    fn signing_and_timestamp_sections_resolve_paths_and_are_checked() {
        let text = format!(
            "[signing]\nkey = \"keys/agent\"\n[timestamp]\nurl = \"http://127.0.0.1:1/\"\nroots = \"roots.pem\"\n{GOOD}"
        );
        let c = parse(&text).unwrap();
        let s = c.signing.unwrap();
        assert_eq!(s.key, Path::new("conf/keys/agent"));
        assert_eq!(s.namespace, "evidence-archive");
        let t = c.timestamp.unwrap();
        assert_eq!(t.roots.as_deref(), Some(Path::new("conf/roots.pem")));
        assert_eq!((t.attempts, t.timeout_secs), (3, 10));

        let no_signing = format!("[timestamp]\nurl = \"http://127.0.0.1:1/\"\n{GOOD}");
        assert!(
            parse(&no_signing)
                .unwrap_err()
                .to_string()
                .contains("needs [signing]")
        );
        let bad_url = text.replace("http://127.0.0.1:1/", "ftp://x");
        assert!(parse(&bad_url).unwrap_err().to_string().contains("url"));
        let bad_ns = text.replace("key = \"keys/agent\"", "key = \"k\"\nnamespace = \"a b\"");
        assert!(
            parse(&bad_ns)
                .unwrap_err()
                .to_string()
                .contains("namespace")
        );
    }

    #[test]
    fn duplicate_source_names_and_bad_origins_are_refused() {
        let dup = format!(
            "{GOOD}\n[[source]]\ntype = \"local\"\nname = \"governance-docs\"\npath = \"x\"\n[[source.rule]]\nglob = \"**\"\nkind = \"ai_policy\"\n"
        );
        assert!(parse(&dup).unwrap_err().to_string().contains("two sources"));
        let folded = dup.replacen(
            "name = \"governance-docs\"\npath = \"x\"",
            "name = \"Governance-Docs\"\npath = \"x\"",
            1,
        );
        let err = parse(&folded).unwrap_err().to_string();
        assert!(
            err.contains("source \"Governance-Docs\": this name and source \"governance-docs\" differ only in case"),
            "{err}"
        );
        assert!(parse(&GOOD.replace("example.org/ai", "my origin")).is_err());
    }

    #[test]
    fn a_credential_pasted_into_an_env_key_is_refused_without_being_repeated() {
        let token = "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8";
        let text = format!(
            "{GOOD}\n[[source]]\ntype = \"github\"\nname = \"code\"\norg = \"acme\"\ntoken_env = \"{token}\"\n"
        );
        let err = parse(&text).unwrap_err().to_string();
        assert!(
            err.contains("conf/agent.toml")
                && err.contains("source \"code\"")
                && err.contains("`token_env`")
                && err.contains("credential")
                && !err.contains(token),
            "{err}"
        );
        let bad_name = text.replace(token, "my token");
        let err = parse(&bad_name).unwrap_err().to_string();
        assert!(
            err.contains("not the name of an environment variable"),
            "{err}"
        );
        // Under a key that does not exist, the TOML error quotes the line: redacted.
        let typo = text.replace("token_env", "token");
        let err = parse(&typo).unwrap_err().to_string();
        assert!(!err.contains(token), "{err}");
    }

    #[test]
    fn a_url_with_credentials_is_refused_without_being_repeated() {
        let text = GOOD.replace(
            "origin = \"example.org/ai\"",
            "origin = \"example.org/ai\"\n[archive.s3]\nendpoint_url = \"https://AK:hunter2secret@minio.local:9000\"",
        );
        let err = parse(&text).unwrap_err().to_string();
        assert!(
            err.contains("[archive]: `s3.endpoint_url` is a URL with credentials")
                && !err.contains("hunter2secret"),
            "{err}"
        );
    }

    #[test]
    fn an_archive_or_state_inside_a_collected_folder_is_refused() {
        let err = parse(&GOOD.replace("path = \"evidence\"", "path = \"workspace/evidence\""))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("the archive folder") && err.contains("inside the collected folder"),
            "{err}"
        );
        let err = parse(&GOOD.replace(
            "origin = \"example.org/ai\"",
            "origin = \"example.org/ai\"\nstate_dir = \"./workspace/.state\"",
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("the state folder"), "{err}");
        assert!(
            parse(&GOOD.replace("path = \"evidence\"", "path = \"workspace-evidence\"")).is_ok()
        );
    }

    #[test]
    fn the_agent_table_is_optional_and_has_documented_defaults() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.agent.schedule.as_str(), DEFAULT_SCHEDULE);
        assert_eq!(c.agent.time_zone_name, "UTC");
        assert_eq!(c.agent.jitter_secs, 0);
        assert_eq!(c.agent.jitter_offset_secs, 0);
        assert_eq!(c.agent.shutdown_deadline, Duration::from_secs(20));
        assert!(c.agent.catch_up);
        assert_eq!(c.schedule_of("governance-docs").as_str(), DEFAULT_SCHEDULE);
    }

    #[test]
    fn a_source_schedule_overrides_the_agent_default() {
        let text = GOOD
            .replace(
                "[[source]]",
                "[agent]\nschedule = \"@hourly\"\ntimezone = \"Europe/Berlin\"\njitter_secs = 300\nshutdown_deadline_secs = 5\ncatch_up = false\n\n[[source]]",
            )
            .replace("path = \"workspace\"", "path = \"workspace\"\nschedule = \"*/15 * * * *\"");
        let c = parse(&text).unwrap();
        assert_eq!(c.agent.schedule.as_str(), "@hourly");
        assert_eq!(c.agent.time_zone_name, "Europe/Berlin");
        assert!(c.agent.jitter_offset_secs <= 300);
        assert_eq!(c.agent.shutdown_deadline, Duration::from_secs(5));
        assert!(!c.agent.catch_up);
        assert_eq!(c.schedule_of("governance-docs").as_str(), "*/15 * * * *");
    }

    #[test]
    fn bad_schedules_time_zones_and_limits_are_errors_naming_the_key() {
        for (agent, source_schedule, expect) in [
            (
                "schedule = \"* * *\"",
                None,
                "[agent]: schedule \"* * *\" must have five fields",
            ),
            ("timezone = \"Mars/Olympus\"", None, "Mars/Olympus"),
            ("jitter_secs = 100000", None, "jitter_secs"),
            (
                "shutdown_deadline_secs = 7200",
                None,
                "shutdown_deadline_secs",
            ),
            (
                "",
                Some("0 2 * *"),
                "source \"governance-docs\": schedule \"0 2 * *\"",
            ),
            ("", Some("0 25 * * *"), "not a valid cron expression"),
        ] {
            let mut text = GOOD.replace("[[source]]", &format!("[agent]\n{agent}\n\n[[source]]"));
            if let Some(s) = source_schedule {
                text = text.replace(
                    "path = \"workspace\"",
                    &format!("path = \"workspace\"\nschedule = \"{s}\""),
                );
            }
            let err = parse(&text).unwrap_err().to_string();
            assert!(
                err.contains(expect) && err.contains("conf/agent.toml"),
                "{expect}: {err}"
            );
        }
    }
}
