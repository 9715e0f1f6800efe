//! The events connector: reads what is new in a log's segments (a reading pass in a blocking
//! task) or in Langfuse's public API (the observations started since the last pass, up to the
//! configured lag before the run), stages one `event_log` item per system and window, records sequence breaks, unreadable
//! lines and silent windows of systems declared in use as gaps, and the events per window in the
//! population record. The cursor moves only when every window of the pass was staged, so a run
//! that fails or is interrupted reads the same lines again next time: nothing lost, nothing twice.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use evidence_model::{GapCategory, GapRecord, ItemId, Period, PopulationRecord, SourceName};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::config::{EventsConfig, Location};
use super::folder::{Folder, SegmentStore};
use super::langfuse::{self, Langfuse};
use super::observation::Range;
use super::pass::{self, Outcome, Settings, WindowOut, Windows};
use super::segments::SegmentState;
use super::window::silent_windows;
use crate::config_error::ConfigError;
use crate::connector::{
    CollectContext, Connector, ConnectorError, Cursor, CursorState, Health, VersionedCursor,
};
use crate::rules::{Tagging, compile_globs};
use crate::secret::Secret;
use crate::sink::{ItemDraft, ItemSink, Pseudonymiser, end_scope};

#[cfg(feature = "s3")]
type BucketStore = super::bucket::Bucket;
/// Without the `s3` feature there is no S3 store.
#[cfg(not(feature = "s3"))]
type BucketStore = ();

type Store = (Arc<dyn SegmentStore>, String, Option<Arc<BucketStore>>);

/// The store of segments under an S3 prefix.
#[cfg(feature = "s3")]
fn bucket_store(
    config: &EventsConfig,
    at: &str,
    bucket: String,
    prefix: String,
    files: globset::GlobMatcher,
) -> Result<Store, ConfigError> {
    let settings = evidence_s3::ClientSettings::new(
        config.endpoint_url.clone(),
        config.region.clone(),
        config.profile.clone(),
        config.force_path_style,
    );
    settings
        .check_endpoint()
        .map_err(|e| ConfigError::new(at, e.to_string()).key("endpoint_url"))?;
    let display = format!("s3://{bucket}/{prefix}");
    let store = Arc::new(super::bucket::Bucket::new(settings, bucket, prefix, files));
    let dyn_store: Arc<dyn SegmentStore> = store.clone();
    Ok((dyn_store, display, Some(store)))
}

#[cfg(not(feature = "s3"))]
fn bucket_store(
    _: &EventsConfig,
    at: &str,
    _: String,
    _: String,
    _: globset::GlobMatcher,
) -> Result<Store, ConfigError> {
    Err(
        ConfigError::new(at, "this agent was built without S3 support (feature `s3`)")
            .key("bucket"),
    )
}

/// How many pseudonymous users an item's metadata lists (the rest are counted).
const MAX_LISTED_USERS: usize = 1000;

/// Where the events are read from.
enum Input {
    /// Segments of a log file, in a folder or under an S3 prefix.
    Segments(Arc<dyn SegmentStore>),
    /// Langfuse's public API.
    Langfuse(Box<Langfuse>),
}

/// A configured event log.
pub struct EventsConnector {
    name: SourceName,
    input: Input,
    /// The same store when it is an S3 prefix (its client can be replaced).
    bucket: Option<Arc<BucketStore>>,
    /// Where the log is, as configured (never this machine's absolute path).
    display: String,
    /// What is read there, for items and the population record.
    query: String,
    /// `system` as configured (Langfuse: every observation belongs to it).
    system: Option<String>,
    settings: Settings,
    tagging: Tagging,
    systems_in_use: Vec<String>,
}

/// Layout 1.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsCursor {
    /// Every segment present at the last run, as far as it was read.
    #[serde(default)]
    segments: Vec<SegmentState>,
    /// The latest event time read: the sequence check continues across runs.
    #[serde(default)]
    latest: Option<Timestamp>,
    #[serde(default)]
    systems: BTreeMap<String, SystemState>,
    /// Langfuse: every observation that started before this was sealed (the next pass asks
    /// from here). Absent for logs in files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    langfuse_until: Option<Timestamp>,
}

impl CursorState for EventsCursor {
    const VERSION: u32 = 1;
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SystemState {
    /// Window start (RFC 3339) → what was sealed of it.
    #[serde(default)]
    windows: BTreeMap<String, WindowState>,
    /// Windows ending by then were checked for silence.
    #[serde(default)]
    silence_checked_until: Option<Timestamp>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WindowState {
    events: u64,
    parts: u64,
}

impl EventsConnector {
    /// Check the config; `base` is the directory a relative `path` is resolved against.
    pub fn new(name: SourceName, config: &EventsConfig, base: &Path) -> Result<Self, ConfigError> {
        let at = format!("source {:?}", name.as_str());
        let settings = config.settings(&at, name.as_str())?;
        let tagging = config.tagging.resolve_fixed("event_log", &at)?;
        let files = config.files.clone().unwrap_or_else(|| "*".to_owned());
        let matcher = compile_globs(std::slice::from_ref(&files), &at, "files")?
            .pop()
            .ok_or_else(|| ConfigError::new(&at, "no glob in `files`").key("files"))?;
        let query = format!("files {files} as {}", settings.shape.as_str());
        let (input, display, bucket, query) = match config.location(&at)? {
            Location::Folder(path) => {
                let root = if path.is_absolute() {
                    path.clone()
                } else {
                    base.join(&path)
                };
                let store: Arc<dyn SegmentStore> = Arc::new(Folder {
                    root,
                    files: matcher,
                });
                (
                    Input::Segments(store),
                    path.display().to_string(),
                    None,
                    query,
                )
            }
            Location::Bucket { bucket, prefix } => {
                let (store, display, bucket) = bucket_store(config, &at, bucket, prefix, matcher)?;
                (Input::Segments(store), display, bucket, query)
            }
            Location::Langfuse(lf) => {
                let display = lf.base.clone();
                let query = format!(
                    "GET /{} type {}",
                    langfuse::OBSERVATIONS_PATH,
                    lf.types.join(",")
                );
                let client = Langfuse::new(lf, name.as_str()).map_err(|e| {
                    ConfigError::new(&at, format!("cannot build the HTTP client: {e}"))
                })?;
                (Input::Langfuse(Box::new(client)), display, None, query)
            }
        };
        Ok(Self {
            display,
            input,
            bucket,
            query,
            system: config.system.clone(),
            settings,
            tagging,
            systems_in_use: config.systems_in_use.clone(),
            name,
        })
    }

    /// Use an AWS configuration loaded by the caller (credentials, region, HTTP client) for an
    /// S3 source instead of the standard chain; endpoint settings still apply.
    #[cfg(feature = "s3")]
    pub fn with_sdk_config(self, sdk: &aws_config::SdkConfig) -> Self {
        if let Some(b) = &self.bucket {
            let _ = b.client.set(b.settings.client(sdk));
        }
        self
    }

    /// Use these Langfuse API keys instead of the environment's (a caller that holds them).
    pub fn with_langfuse_keys(mut self, public_key: &str, secret_key: Secret) -> Self {
        if let Input::Langfuse(lf) = &mut self.input {
            lf.set_credentials(public_key.to_owned(), secret_key);
        }
        self
    }

    fn resource(&self) -> String {
        match &self.input {
            Input::Langfuse(lf) => lf.resource().to_owned(),
            Input::Segments(_) => format!("event log {}", self.display),
        }
    }

    fn gap(
        &self,
        scope: &str,
        category: GapCategory,
        message: String,
        sink: &dyn ItemSink,
    ) -> GapRecord {
        GapRecord::new(
            "events",
            self.name.clone(),
            scope,
            category,
            message,
            sink.collected_at(),
        )
    }

    /// Runs the reading pass in a blocking task, into `dir`.
    async fn read(
        &self,
        state: &EventsCursor,
        dir: &Path,
        pseudonymiser: Pseudonymiser,
        ctx: &CollectContext<'_>,
    ) -> Result<Outcome, ConnectorError> {
        let Input::Segments(store) = &self.input else {
            return Err(ConnectorError::Config("not a log in files".into()));
        };
        let store = Arc::clone(store);
        let segments = state.segments.clone();
        let latest = state.latest;
        let settings = self.settings.clone();
        let dir = dir.to_owned();
        let cancel = ctx.shutdown.clone();
        let io = |source| ConnectorError::Io {
            resource: self.resource(),
            source,
        };
        tokio::task::spawn_blocking(move || {
            pass::run(
                &*store,
                &segments,
                latest,
                &settings,
                &pseudonymiser,
                &dir,
                &cancel,
            )
        })
        .await
        .map_err(|e| io(std::io::Error::other(e)))?
        .map_err(io)
    }

    /// Stages one item per window; on a failure, takes back what it staged.
    async fn stage(
        &self,
        outcome: &Outcome,
        state: &EventsCursor,
        sink: &mut dyn ItemSink,
    ) -> Result<Vec<ItemId>, ConnectorError> {
        let mut staged = Vec::new();
        for ((system, start), w) in &outcome.windows {
            let prior = state
                .systems
                .get(system)
                .and_then(|s| s.windows.get(&start.to_string()))
                .cloned()
                .unwrap_or_default();
            let draft = self.draft(system, *start, w, &prior);
            let result = match tokio::fs::File::open(&w.path).await {
                Ok(mut file) => sink
                    .put(draft, &mut file)
                    .await
                    .map_err(ConnectorError::from),
                Err(source) => Err(ConnectorError::Io {
                    resource: self.resource(),
                    source,
                }),
            };
            match result {
                Ok(item) => staged.push(item.id),
                Err(e) => {
                    for id in &staged {
                        sink.discard(id).await?;
                    }
                    return Err(e);
                }
            }
        }
        Ok(staged)
    }

    fn draft(
        &self,
        system: &str,
        start: Timestamp,
        w: &WindowOut,
        prior: &WindowState,
    ) -> ItemDraft {
        let s = &w.summary;
        let day = start.strftime("%Y-%m-%d").to_string();
        let label = if self.settings.window == super::window::Window::DAY {
            day
        } else {
            start.strftime("%Y-%m-%dT%H%MZ").to_string()
        };
        let part = prior.parts + 1;
        let mut key = format!("{system}/{start}");
        if part > 1 {
            key.push_str(&format!("/part-{part}"));
        }
        let users: Vec<&String> = s.users.iter().take(MAX_LISTED_USERS).collect();
        let time = |t: Option<Timestamp>| t.map(|t| t.to_string());
        ItemDraft::builder(
            &self.tagging,
            key,
            format!("{system}-{label}.jsonl"),
            "application/x-ndjson",
        )
        .title(format!("AI event log of {system}, {label}"))
        .period(Period {
            start: Some(s.window_start),
            end: Some(s.window_end),
        })
        .source_time(s.last)
        .endpoint(self.display.clone())
        .query(self.query.clone())
        .attribute("system", system)
        .attribute("window_start", s.window_start.to_string())
        .attribute("window_end", s.window_end.to_string())
        .attribute("events", s.events)
        .attribute("events_in_window", prior.events + s.events)
        .attribute("part", part)
        .attribute("first_event", time(s.first))
        .attribute("last_event", time(s.last))
        .attribute("models", serde_json::json!(s.models))
        .attribute("operations", serde_json::json!(s.operations))
        .attribute("users", serde_json::json!(users))
        .attribute("user_count", s.users.len() as u64)
        .attribute("errors", s.errors)
        .attribute("input_tokens", s.input_tokens)
        .attribute("output_tokens", s.output_tokens)
        .attribute("unreadable_lines", s.unreadable_lines)
        .attribute("segments", serde_json::json!(w.segments))
        .attribute("content_included", self.settings.include_content)
        .build()
    }
}

impl EventsConnector {
    /// The gap records of what this pass found broken or unreadable.
    fn sequence_gaps(&self, outcome: &Outcome, sink: &dyn ItemSink) -> Vec<GapRecord> {
        let mut gaps = Vec::new();
        for b in &outcome.breaks {
            let name = match b {
                super::segments::Break::Truncated { name, .. }
                | super::segments::Break::Vanished { name, .. } => name,
            };
            gaps.push(self.gap(
                name,
                GapCategory::InvalidResponse,
                format!("sequence break: {b}"),
                sink,
            ));
        }
        for (segment, b) in outcome.backwards.iter().take(pass::MAX_LISTED) {
            let message = format!(
                "sequence break: time goes backwards in {segment} at line {}: {} after {}",
                b.line, b.time, b.previous
            );
            gaps.push(self.gap(segment, GapCategory::InvalidResponse, message, sink));
        }
        if outcome.backwards.len() > pass::MAX_LISTED {
            let more = outcome.backwards.len() - pass::MAX_LISTED;
            let message = format!("sequence break: time goes backwards at {more} more line(s)");
            gaps.push(self.gap(".", GapCategory::InvalidResponse, message, sink));
        }
        if outcome.unreadable_count > 0 {
            let listed: Vec<String> = outcome
                .unreadable
                .iter()
                .map(|u| format!("{} line {}: {}", u.segment, u.line, u.reason))
                .collect();
            let message = format!(
                "{} line(s) are not events and were left out: {}",
                outcome.unreadable_count,
                listed.join("; ")
            );
            gaps.push(self.gap(".", GapCategory::InvalidResponse, message, sink));
        }
        gaps
    }

    /// Gaps for the ended windows, since the last check, in which a system declared in use
    /// logged nothing; moves each system's check forward.
    /// `now` is the run's time, or for Langfuse the end of what was collected.
    fn silence_gaps(
        &self,
        state: &mut EventsCursor,
        now: Timestamp,
        sink: &dyn ItemSink,
    ) -> Vec<GapRecord> {
        let window = self.settings.window;
        let mut gaps = Vec::new();
        for system in &self.systems_in_use {
            let s = state.systems.entry(system.clone()).or_default();
            let seen: BTreeSet<Timestamp> =
                s.windows.keys().filter_map(|k| k.parse().ok()).collect();
            let Some(from) = s.silence_checked_until.or_else(|| seen.first().copied()) else {
                let message = format!(
                    "{system} is declared in use but its log holds no event at all (source {})",
                    self.display
                );
                gaps.push(self.gap(system, GapCategory::NotFound, message, sink));
                continue;
            };
            for start in silent_windows(window, from, now, &seen) {
                let message = format!(
                    "{system} is declared in use but logged no event from {start} to {}",
                    window.end_of(start)
                );
                gaps.push(self.gap(
                    &format!("{system}/{start}"),
                    GapCategory::NotFound,
                    message,
                    sink,
                ));
            }
            s.silence_checked_until = Some(window.start_of(now).max(from));
        }
        gaps
    }

    /// The population record of this pass: events per system and window.
    fn population(&self, outcome: &Outcome, state: &EventsCursor, sealed: u64) -> PopulationRecord {
        let mut p = PopulationRecord::new(
            "events",
            self.name.clone(),
            ".",
            &format!(
                "read {} ({}), one item per system and window of {}h",
                self.display,
                self.query,
                self.settings
                    .window
                    .end_of(Timestamp::UNIX_EPOCH)
                    .as_second()
                    / 3600
            ),
        );
        p.kind = Some(self.tagging.kind.clone());
        p.pages_walked = outcome.reads.len() as u64 + outcome.pages;
        p.items_seen = outcome.windows.len() as u64;
        p.items_sealed = sealed;
        p.complete = outcome.breaks.is_empty() && outcome.unreadable_count == 0;
        let mut per_window = serde_json::Map::new();
        for ((system, start), w) in &outcome.windows {
            let total = state
                .systems
                .get(system)
                .and_then(|s| s.windows.get(&start.to_string()))
                .map_or(0, |w| w.events);
            per_window.insert(
                format!("{system}/{start}"),
                serde_json::json!({ "events": w.summary.events, "events_in_window": total }),
            );
        }
        let events: u64 = outcome.windows.values().map(|w| w.summary.events).sum();
        let reads: Vec<_> = outcome
            .reads
            .iter()
            .map(|(n, from, to)| serde_json::json!({ "segment": n, "from": from, "to": to }))
            .collect();
        p.attributes.insert("events".into(), events.into());
        p.attributes
            .insert("events_per_window".into(), per_window.into());
        p.attributes
            .insert("lines_read".into(), outcome.lines.into());
        p.attributes
            .insert("bytes_read".into(), outcome.bytes.into());
        p.attributes
            .insert("unreadable_lines".into(), outcome.unreadable_count.into());
        p.attributes.insert("segments_read".into(), reads.into());
        p.attributes.insert(
            "sequence_breaks".into(),
            ((outcome.breaks.len() + outcome.backwards.len()) as u64).into(),
        );
        p
    }

    /// The cursor after a pass whose windows were all staged.
    fn advance(&self, state: &mut EventsCursor, outcome: &Outcome) {
        state.segments = outcome.segments.clone();
        state.latest = outcome.latest;
        for ((system, start), w) in &outcome.windows {
            let entry = state
                .systems
                .entry(system.clone())
                .or_default()
                .windows
                .entry(start.to_string())
                .or_default();
            entry.events += w.summary.events;
            entry.parts += 1;
        }
    }
}

#[async_trait]
impl Connector for EventsConnector {
    fn connector_type(&self) -> &'static str {
        "events"
    }

    fn name(&self) -> &SourceName {
        &self.name
    }

    async fn healthcheck(&self) -> Result<Health, ConnectorError> {
        let store = match &self.input {
            Input::Segments(store) => Arc::clone(store),
            Input::Langfuse(lf) => {
                let progress = crate::connector::NoProgress;
                let ctx = CollectContext {
                    shutdown: tokio_util::sync::CancellationToken::new(),
                    progress: &progress,
                    agent: String::new(),
                };
                lf.probe(&ctx).await?;
                return Ok(Health {
                    detail: format!("{}: the observations API answers", self.resource()),
                });
            }
        };
        let listed = tokio::task::spawn_blocking(move || store.list())
            .await
            .map_err(std::io::Error::other)
            .and_then(|r| r);
        match listed {
            Ok(files) => Ok(Health {
                detail: format!("{}: {} segment(s) readable", self.resource(), files.len()),
            }),
            Err(source) => Err(ConnectorError::Io {
                resource: self.resource(),
                source,
            }),
        }
    }

    async fn collect(
        &self,
        cursor: &mut Cursor,
        sink: &mut dyn ItemSink,
        ctx: &CollectContext<'_>,
    ) -> Result<(), ConnectorError> {
        let mut state: EventsCursor = VersionedCursor::load(cursor)?;
        ctx.progress.status(&format!("reading {}", self.resource()));
        let dir = tempfile::tempdir().map_err(|source| ConnectorError::Io {
            resource: "a temporary folder for the event windows".into(),
            source,
        })?;
        let mut notes = Vec::new();
        let (outcome, until) = match &self.input {
            Input::Segments(_) => {
                let read = self
                    .read(&state, dir.path(), sink.pseudonymiser(), ctx)
                    .await;
                let outcome = match read {
                    Ok(o) => o,
                    Err(ConnectorError::Io { source, .. })
                        if source.kind() == std::io::ErrorKind::NotFound =>
                    {
                        return Err(ConnectorError::NotFound {
                            resource: self.resource(),
                        });
                    }
                    Err(e) => return Err(e),
                };
                (outcome, sink.collected_at())
            }
            Input::Langfuse(lf) => {
                let range =
                    langfuse::range(state.langfuse_until, sink.collected_at(), lf.settings.lag);
                match self
                    .read_api(lf, range, dir.path(), sink.pseudonymiser(), ctx)
                    .await
                {
                    Ok((outcome, failed_names)) => {
                        if let Some(why) = failed_names {
                            let message = format!(
                                "trace names could not be read, so this pass's observations were filed under system {:?}: {why}",
                                self.settings.default_system
                            );
                            sink.gap(self.gap(
                                "traces",
                                GapCategory::InvalidResponse,
                                message,
                                &*sink,
                            ))
                            .await?;
                        }
                        notes.push(format!(
                            "observations that started from {} until {}",
                            range.from.map_or("the first".to_owned(), |f| f.to_string()),
                            range.until
                        ));
                        (outcome, range.until)
                    }
                    Err(ConnectorError::Interrupted { .. }) => {
                        let outcome = Outcome {
                            interrupted: true,
                            ..Outcome::default()
                        };
                        (outcome, range.until)
                    }
                    Err(e) => {
                        let mut p = self.population(&Outcome::default(), &state, 0);
                        p.complete = false;
                        p.notes.push("the pass over Langfuse failed; nothing of it was staged and the cursor did not move".into());
                        return end_scope(sink, None, p, Some(e)).await;
                    }
                }
            }
        };
        if outcome.interrupted {
            let mut p = self.population(&outcome, &state, 0);
            p.complete = false;
            p.notes.push("the run was interrupted; nothing of this pass was staged and the cursor did not move".into());
            let stop = ConnectorError::Interrupted {
                resource: self.resource(),
            };
            return end_scope(sink, None, p, Some(stop)).await;
        }
        let staged = match self.stage(&outcome, &state, sink).await {
            Ok(staged) => staged,
            Err(e) => {
                let mut p = self.population(&outcome, &state, 0);
                p.complete = false;
                p.notes.push("a window could not be staged; nothing of this pass was kept and the cursor did not move".into());
                return end_scope(sink, None, p, Some(e)).await;
            }
        };
        ctx.progress.add_items(staged.len() as u64);
        ctx.progress.add_bytes(outcome.bytes);
        for gap in self.sequence_gaps(&outcome, &*sink) {
            sink.gap(gap).await?;
        }
        self.advance(&mut state, &outcome);
        if matches!(self.input, Input::Langfuse(_)) {
            state.langfuse_until = Some(until);
        }
        for gap in self.silence_gaps(&mut state, until, &*sink) {
            sink.gap(gap).await?;
        }
        let mut population = self.population(&outcome, &state, staged.len() as u64);
        population.notes.extend(notes);
        VersionedCursor::store(cursor, &state)?;
        end_scope(sink, None, population, None).await
    }
}

impl EventsConnector {
    /// One pass over Langfuse's API into window files under `dir`; the second value says why
    /// trace names are missing, when they are.
    async fn read_api(
        &self,
        lf: &Langfuse,
        range: Range,
        dir: &Path,
        pseudonymiser: Pseudonymiser,
        ctx: &CollectContext<'_>,
    ) -> Result<(Outcome, Option<String>), ConnectorError> {
        let mut windows = Windows::new(&self.settings, &pseudonymiser, dir);
        if range.from.is_some_and(|f| f >= range.until) {
            return Ok((windows.finish().map_err(|e| self.io(e))?, None));
        }
        let read = lf
            .read(range, self.system.as_deref(), &mut windows, ctx)
            .await?;
        let outcome = windows.finish().map_err(|e| self.io(e))?;
        Ok((outcome, read.trace_names_failed))
    }

    fn io(&self, source: std::io::Error) -> ConnectorError {
        ConnectorError::Io {
            resource: self.resource(),
            source,
        }
    }
}
