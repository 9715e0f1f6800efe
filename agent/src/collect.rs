//! One collection run: take the archive's lock, reconcile state, run every source (or the ones
//! that are due) into a fresh staging area, seal the bundle durably, then advance the state.
//! Sources that fail become gap records; the others still seal. The state advances only after
//! the bundle is durable. On shutdown, sources get a deadline to stop; what was staged seals.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use evidence_archive::run_record::{
    RUN_SCHEMA, RedactionPolicy, RunRecord, SourceStatus, SourceSummary,
};
use evidence_archive::{SealInput, Staging};
use evidence_connectors::{CollectContext, Connector, Cursor};
use evidence_model::{GapRecord, SourceName, Timestamp};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::config::{AgentConfig, ConfigError};
use crate::redaction::SourceRedaction;
use crate::signing::{RunSigner, SigningError, SigningOutcome};
use crate::sink::StagingSink;
use crate::state::{AgentState, SourceState, StateDir, StateError};
use crate::ui::Ui;
use crate::{clock, fault};

/// A run could not seal a bundle. Nothing was published, and the state did not move.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CollectError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Clock(#[from] crate::clock::InvalidEpoch),
    #[error("cannot create the archive directory {path}: {source}")]
    ArchiveDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} is a file, but {key} must name a folder; move the file away or point {key} elsewhere"
    )]
    NotADirectory { path: PathBuf, key: &'static str },
    #[error(transparent)]
    Staging(#[from] evidence_archive::StagingError),
    #[error("source {source_name}: {message}; nothing was sealed")]
    Fatal {
        source_name: String,
        message: String,
    },
    #[error(transparent)]
    Seal(#[from] evidence_archive::SealError),
    #[error(transparent)]
    Signing(#[from] SigningError),
    #[error(transparent)]
    RedactionKey(#[from] crate::redaction::KeyLoadError),
    #[error(transparent)]
    Redaction(#[from] evidence_connectors::ConfigError),
}

/// How one source fared, for the summary.
#[derive(Debug, Clone, Serialize)]
pub struct SourceOutcome {
    pub name: SourceName,
    pub connector: String,
    pub status: SourceStatus,
    pub items: u64,
    pub bytes: u64,
    pub gaps: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The redaction applied, with what it replaced.
    pub redaction: RedactionPolicy,
}

/// What a run collects and how it stops.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The sources to run, by name; `None` runs every configured source. Sources left out are
    /// not run: they are absent from the run record and keep their cursors untouched.
    pub sources: Option<BTreeSet<String>>,
    /// Cancelled when the agent is asked to stop (SIGTERM, SIGINT): connectors stop after the
    /// item in hand and the run seals what was staged.
    pub shutdown: CancellationToken,
    /// How long after `shutdown` a source may take to stop. A source still running then is
    /// abandoned: its items of this run are taken out again, its cursor stays where it was,
    /// and an `interrupted` gap record says so.
    pub shutdown_deadline: Duration,
}

impl RunOptions {
    /// Every configured source, with the config's shutdown deadline.
    pub fn every_source(config: &AgentConfig, shutdown: CancellationToken) -> Self {
        Self {
            sources: None,
            shutdown,
            shutdown_deadline: config.agent.shutdown_deadline,
        }
    }
}

/// What a run sealed.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub origin: String,
    pub run: u64,
    pub bundle: PathBuf,
    pub bundle_bytes: u64,
    pub items: u64,
    pub item_bytes: u64,
    pub payload_files: u64,
    pub checkpoint: evidence_archive::Checkpoint,
    pub sources: Vec<SourceOutcome>,
    /// Signatures and time stamp, with `[signing]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing: Option<SigningOutcome>,
    /// Configured sources this run did not run (not due), by name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_run: Vec<String>,
    /// Uploads to the S3 archive, when `[archive] path` is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload: Option<crate::upload::UploadSummary>,
}

impl RunSummary {
    /// True when any source failed or recorded a gap, the run is not fully signed and
    /// time-stamped as configured, or a bundle still waits for its upload to the S3 archive.
    pub fn has_gaps(&self) -> bool {
        self.sources.iter().any(|s| s.status != SourceStatus::Ok)
            || self
                .signing
                .as_ref()
                .is_some_and(SigningOutcome::is_degraded)
            || self.upload.as_ref().is_some_and(|u| !u.is_complete())
    }
}

/// Run every configured source once and seal the result as the next bundle.
pub async fn collect(
    config: &AgentConfig,
    ui: &Ui,
    shutdown: CancellationToken,
) -> Result<RunSummary, CollectError> {
    let state_dir = take_run_lock(config)?;
    collect_locked(
        config,
        &state_dir,
        ui,
        &RunOptions::every_source(config, shutdown),
    )
    .await
}

/// Take the archive's run lock: one agent per archive. `collect` holds it for one run, `run`
/// for its lifetime. This is where an archive that lives elsewhere adds its own lease (an S3
/// archive: a conditional-put lock object beside the bundles) before any run may start.
pub fn take_run_lock(config: &AgentConfig) -> Result<StateDir, CollectError> {
    for (dir, key) in [
        (&config.archive_dir, "[archive] path"),
        (&config.state_dir, "[archive] state_dir"),
    ] {
        if dir.exists() && !dir.is_dir() {
            return Err(CollectError::NotADirectory {
                path: dir.clone(),
                key,
            });
        }
    }
    std::fs::create_dir_all(&config.archive_dir).map_err(|source| CollectError::ArchiveDir {
        path: config.archive_dir.clone(),
        source,
    })?;
    Ok(StateDir::lock(&config.state_dir)?)
}

/// Run the sources `options` names into the next bundle, holding the run lock `state_dir`.
pub async fn collect_locked(
    config: &AgentConfig,
    state_dir: &StateDir,
    ui: &Ui,
    options: &RunOptions,
) -> Result<RunSummary, CollectError> {
    let (collected_at, pinned) = clock::now().map_err(CollectError::Clock)?;
    let wall_started = Instant::now();
    let started_at = clock::whole_seconds(Timestamp::now());
    std::fs::create_dir_all(&config.archive_dir).map_err(|source| CollectError::ArchiveDir {
        path: config.archive_dir.clone(),
        source,
    })?;
    let state = state_dir.reconcile(&config.origin, &config.archive_dir)?;
    let signer = RunSigner::from_config(config)?;
    let mut signing = signer.as_ref().map(RunSigner::outcome);
    if let (Some(s), Some(o)) = (&signer, &mut signing) {
        o.repaired = s.repair(&config.archive_dir, state.head.as_ref())?;
    }
    let seq = state.last_seq() + 1;
    let (connectors, not_run): (Vec<_>, Vec<_>) =
        config.connectors().iter().cloned().partition(|c| {
            options
                .sources
                .as_ref()
                .is_none_or(|due| due.contains(c.name().as_str()))
        });
    let not_run: Vec<String> = not_run.iter().map(|c| c.name().to_string()).collect();
    tracing::info!(run = seq, sources = connectors.len(), not_due = not_run.len(), archive = %config.archive_dir.display(), "collecting");

    let staging = Arc::new(Mutex::new(Staging::create(&state_dir.staging_dir())?));
    let agent = crate::agent_name();
    let state_file = state_dir.state_file();
    let key = crate::redaction::load_key(state_dir.path())?;
    let redactions = connectors
        .iter()
        .map(|c| source_redaction(config, c.name(), &key))
        .collect::<Result<Vec<_>, _>>()?;
    let runs = connectors
        .iter()
        .zip(redactions)
        .map(|(connector, redaction)| {
            let sink = StagingSink::new(
                Arc::clone(&staging),
                connector.name().clone(),
                connector.connector_type(),
                agent.clone(),
                collected_at,
                redaction,
            );
            run_source(
                connector.as_ref(),
                Saved {
                    state: &state,
                    file: &state_file,
                },
                sink,
                ui,
                &agent,
                collected_at,
                options,
            )
        });
    let results = futures::future::join_all(runs).await;

    let mut next = AgentState {
        head: None,
        ..state.clone()
    };
    let mut outcomes = Vec::new();
    for result in results {
        let (outcome, cursor) = result?;
        next.sources.insert(
            outcome.name.to_string(),
            SourceState {
                connector: outcome.connector.clone(),
                cursor,
                last_run_at: Some(started_at),
            },
        );
        outcomes.push(outcome);
    }

    let record = RunRecord {
        schema: RUN_SCHEMA.to_owned(),
        origin: config.origin.clone(),
        seq,
        started_at: collected_at,
        finished_at: if pinned {
            collected_at
        } else {
            clock::whole_seconds(Timestamp::now())
        },
        agent: agent.clone(),
        sources: outcomes
            .iter()
            .map(|o| SourceSummary {
                name: o.name.clone(),
                connector: o.connector.clone(),
                status: o.status,
                items: o.items,
                bytes: o.bytes,
                gaps: o.gaps,
                redaction: Some(o.redaction.clone()),
            })
            .collect(),
    };
    let staging = Arc::try_unwrap(staging)
        .ok()
        .and_then(|m| m.into_inner().ok())
        .ok_or_else(|| CollectError::Fatal {
            source_name: "(agent)".into(),
            message: "the staging area is still in use".into(),
        })?;
    let mut staging = staging;
    staging.set_run_record(&record)?;
    fault::point("staged");

    let staged_bytes: u64 = staging.files().values().map(|f| f.size).sum();
    let spinner = ui.spinner(format!(
        "sealing run {seq}: {} files, {}",
        staging.files().len(),
        indicatif::HumanBytes(staged_bytes)
    ));
    let input = SealInput {
        origin: &config.origin,
        seq,
        collected_at,
        software_agent: &agent,
        previous: state.head.as_ref(),
    };
    let prepared = match (&signer, &mut signing) {
        (Some(s), Some(o)) => s
            .prepare(&mut staging, &input, &options.shutdown, o)
            .await
            .map_err(CollectError::from),
        _ => tokio::task::block_in_place(|| evidence_archive::prepare(&staging, &input))
            .map_err(CollectError::from),
    };
    let sealed = tokio::task::block_in_place(|| {
        let prepared = prepared?;
        next.head = Some(prepared.head.clone());
        let sealed = prepared.write(&config.archive_dir, |tmp| {
            fault::point("bundle-synced");
            next.bundle_bytes.insert(seq, std::fs::metadata(tmp)?.len());
            state_dir
                .write_pending(&next)
                .map_err(std::io::Error::other)?;
            fault::point("pending-written");
            Ok(())
        })?;
        fault::point("bundle-published");
        state_dir.commit(&next)?;
        fault::point("state-committed");
        Ok::<_, CollectError>(sealed)
    });
    spinner.finish_and_clear();
    let sealed = sealed?;
    if let (Some(s), Some(o)) = (&signer, &mut signing) {
        s.sign_bundle(&sealed.path, o);
    }
    if let Err(e) = staging.remove() {
        tracing::warn!("could not remove the staging area: {e}");
    }

    let items = outcomes.iter().map(|o| o.items).sum();
    let item_bytes = outcomes.iter().map(|o| o.bytes).sum();
    let mut summary = RunSummary {
        origin: config.origin.clone(),
        run: seq,
        bundle: sealed.path.clone(),
        bundle_bytes: sealed.bundle_bytes,
        items,
        item_bytes,
        payload_files: sealed.payload_files,
        checkpoint: sealed.head.checkpoint.clone(),
        sources: outcomes,
        signing,
        not_run,
        upload: None,
    };
    // Only now, with the bundle durable, signed and the state advanced, does anything leave
    // the machine.
    if let Some(remote) = &config.remote {
        summary.upload =
            Some(crate::upload::upload_pending(remote, &config.archive_dir, &config.origin).await);
    }
    log_summary(&summary, wall_started.elapsed());
    Ok(summary)
}

/// The run's one summary line: every figure a log collector needs, in one `info` event.
fn log_summary(s: &RunSummary, took: Duration) {
    let count = |status: SourceStatus| s.sources.iter().filter(|o| o.status == status).count();
    tracing::info!(
        run = s.run,
        items = s.items,
        bytes = s.item_bytes,
        bundle = %s.bundle.display(),
        bundle_bytes = s.bundle_bytes,
        sources_ok = count(SourceStatus::Ok),
        sources_partial = count(SourceStatus::Partial),
        sources_failed = count(SourceStatus::Failed),
        gap_records = s.sources.iter().map(|o| o.gaps).sum::<u64>(),
        not_due = s.not_run.len(),
        duration_ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
        gaps = s.has_gaps(),
        "run sealed"
    );
}

/// The committed state a run starts from, and the file it was read from (for messages).
struct Saved<'a> {
    state: &'a AgentState,
    file: &'a std::path::Path,
}

async fn run_source(
    connector: &dyn Connector,
    saved: Saved<'_>,
    mut sink: StagingSink,
    ui: &Ui,
    agent: &str,
    collected_at: Timestamp,
    options: &RunOptions,
) -> Result<(SourceOutcome, Cursor), CollectError> {
    let name = connector.name().clone();
    let kind = connector.connector_type();
    let (state, state_file) = (saved.state, saved.file);
    let cursor_before = match state.sources.get(name.as_str()) {
        Some(s) if s.connector == kind => s.cursor.clone(),
        Some(s) => {
            tracing::warn!(source = %name, "source changed type from {} to {kind}; starting it from scratch", s.connector);
            Cursor::default()
        }
        None => Cursor::default(),
    };
    let mut cursor = cursor_before.clone();
    let progress = ui.source(name.as_str());
    let ctx = CollectContext {
        shutdown: options.shutdown.clone(),
        progress: &progress,
        agent: agent.to_owned(),
    };
    let deadline = options.shutdown_deadline;
    let stopped_by_deadline = async {
        options.shutdown.cancelled().await;
        tokio::time::sleep(deadline).await;
    };
    let result = tokio::select! {
        r = connector.collect(&mut cursor, &mut sink, &ctx) => Some(r),
        () = stopped_by_deadline => None,
    };
    let fatal = |e: evidence_connectors::SinkError| CollectError::Fatal {
        source_name: name.to_string(),
        message: e.to_string(),
    };
    let result = match result {
        Some(r) => {
            sink.flush_populations().map_err(fatal)?;
            r
        }
        None => {
            tracing::warn!(source = %name, deadline_secs = deadline.as_secs(), "the source did not stop within the shutdown deadline; abandoning it");
            sink.abandon().map_err(fatal)?;
            cursor = cursor_before;
            Err(evidence_connectors::ConnectorError::Interrupted {
                resource: format!(
                    "source {name}, which did not stop within the shutdown deadline of {}s; what it had staged in this run was left out and its cursor did not move, so the next run collects it",
                    deadline.as_secs()
                ),
            })
        }
    };
    let mut error = None;
    if let Err(e) = result {
        if e.is_fatal() {
            progress.finish("failed");
            return Err(CollectError::Fatal {
                source_name: name.to_string(),
                message: e.to_string(),
            });
        }
        let message = match &e {
            evidence_connectors::ConnectorError::UnreadableCursor { detail } => format!(
                "the cursor saved for source {name} in {} is unreadable ({detail}); the state was edited or damaged, or written by another version of the agent. The source was not collected and its cursor was kept as it is. Restore it from a backup, or rebuild it from the archive with `evidence-agent repair` (its sources then start from scratch)",
                state_file.display()
            ),
            e => e.to_string(),
        };
        tracing::warn!(source = %name, "source failed: {message}");
        let gap = GapRecord::new(
            kind,
            name.clone(),
            "*",
            e.gap_category(),
            message.clone(),
            collected_at,
        );
        use evidence_connectors::ItemSink;
        sink.gap(gap).await.map_err(|e| CollectError::Fatal {
            source_name: name.to_string(),
            message: e.to_string(),
        })?;
        error = Some(message);
    }
    let tally = sink.tally();
    let status = match (&error, tally.gaps) {
        (Some(_), _) => evidence_archive::run_record::SourceStatus::Failed,
        (None, 0) => SourceStatus::Ok,
        (None, _) => SourceStatus::Partial,
    };
    progress.finish(&format!("{} new item(s)", tally.items));
    Ok((
        SourceOutcome {
            name: name.clone(),
            connector: kind.to_owned(),
            status,
            items: tally.items,
            bytes: tally.bytes,
            gaps: tally.gaps,
            error,
            redaction: sink.redaction_record(&tally),
        },
        cursor,
    ))
}

/// The redaction of the source `name` with the run's key: its `[source.redact]` (secrets on
/// by default).
fn source_redaction(
    config: &AgentConfig,
    name: &SourceName,
    key: &evidence_redact::RedactionKey,
) -> Result<Arc<SourceRedaction>, CollectError> {
    let settings = config
        .sources
        .iter()
        .find(|s| s.name == name.as_str())
        .map(|s| s.redact.clone())
        .unwrap_or_default();
    let at = format!("source {:?}", name.as_str());
    Ok(Arc::new(SourceRedaction::new(&settings, key, &at)?))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use async_trait::async_trait;
    use evidence_connectors::local::{LocalConfig, LocalConnector};
    use evidence_connectors::{Health, ItemSink};
    use evidence_model::SourceName;

    use super::*;

    /// A local folder that, once it has staged everything, ignores the shutdown request: the
    /// kind of source the deadline exists for.
    struct Stubborn(LocalConnector);

    #[async_trait]
    impl Connector for Stubborn {
        fn connector_type(&self) -> &'static str {
            "local"
        }
        fn name(&self) -> &SourceName {
            self.0.name()
        }
        async fn healthcheck(&self) -> Result<Health, evidence_connectors::ConnectorError> {
            self.0.healthcheck().await
        }
        async fn collect(
            &self,
            cursor: &mut Cursor,
            sink: &mut dyn ItemSink,
            ctx: &CollectContext<'_>,
        ) -> Result<(), evidence_connectors::ConnectorError> {
            self.0.collect(cursor, sink, ctx).await?;
            std::future::pending::<()>().await;
            Ok(())
        }
    }

    fn local(dir: &Path) -> LocalConnector {
        std::fs::create_dir_all(dir.join("docs")).unwrap();
        std::fs::write(dir.join("docs/a.md"), "# A\n").unwrap();
        std::fs::write(dir.join("docs/b.md"), "# B\n").unwrap();
        let config: LocalConfig =
            toml::from_str("path = \"docs\"\n[[rule]]\nglob = \"**\"\nkind = \"ai_policy\"\n")
                .unwrap();
        LocalConnector::new("docs".parse().unwrap(), &config, dir).unwrap()
    }

    fn options(shutdown: &CancellationToken) -> RunOptions {
        RunOptions {
            sources: None,
            shutdown: shutdown.clone(),
            shutdown_deadline: Duration::from_millis(200),
        }
    }

    fn staged_paths(staging: &Arc<Mutex<Staging>>) -> Vec<String> {
        staging.lock().unwrap().files().keys().cloned().collect()
    }

    /// The sink a run gives `connector`, with the default redaction under a test key.
    fn test_sink(connector: &dyn Connector, staging: &Arc<Mutex<Staging>>) -> StagingSink {
        let key =
            evidence_redact::RedactionKey::new(b"collect-test-key-0123".to_vec(), "test").unwrap();
        let redaction =
            SourceRedaction::new(&evidence_connectors::RedactConfig::default(), &key, "test")
                .unwrap();
        StagingSink::new(
            Arc::clone(staging),
            connector.name().clone(),
            connector.connector_type(),
            "evidence-agent test".to_owned(),
            Timestamp::UNIX_EPOCH,
            Arc::new(redaction),
        )
    }

    #[tokio::test]
    async fn a_source_that_ignores_the_shutdown_is_abandoned_at_the_deadline_leaving_only_a_gap() {
        let dir = tempfile::tempdir().unwrap();
        let connector = Stubborn(local(dir.path()));
        let staging = Arc::new(Mutex::new(
            Staging::create(&dir.path().join("staging")).unwrap(),
        ));
        let state = AgentState::empty("o");
        let shutdown = CancellationToken::new();
        let trigger = shutdown.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            trigger.cancel();
        });
        let started = std::time::Instant::now();
        let (outcome, cursor) = run_source(
            &connector,
            Saved {
                state: &state,
                file: Path::new("state.json"),
            },
            test_sink(&connector, &staging),
            &Ui::new(true),
            "evidence-agent test",
            Timestamp::UNIX_EPOCH,
            &options(&shutdown),
        )
        .await
        .unwrap();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(outcome.status, SourceStatus::Failed);
        assert_eq!((outcome.items, outcome.gaps), (0, 1));
        let error = outcome.error.unwrap();
        assert!(error.contains("shutdown deadline of 0s"), "{error}");
        assert_eq!(cursor, Cursor::default(), "the cursor must not move");
        assert_eq!(staged_paths(&staging), ["data/gaps/docs/0001.json"]);
    }

    #[tokio::test]
    async fn a_source_that_stops_when_asked_keeps_what_it_staged_and_its_population() {
        let dir = tempfile::tempdir().unwrap();
        let connector = local(dir.path());
        let staging = Arc::new(Mutex::new(
            Staging::create(&dir.path().join("staging")).unwrap(),
        ));
        let shutdown = CancellationToken::new();
        shutdown.cancel();
        let (outcome, cursor) = run_source(
            &connector,
            Saved {
                state: &AgentState::empty("o"),
                file: Path::new("state.json"),
            },
            test_sink(&connector, &staging),
            &Ui::new(true),
            "evidence-agent test",
            Timestamp::UNIX_EPOCH,
            &options(&shutdown),
        )
        .await
        .unwrap();
        // Cancelled before the first file: nothing staged, but the walk's population record
        // and an `interrupted` gap are sealed, and the cursor describes what was staged.
        assert_eq!(outcome.status, SourceStatus::Failed);
        let paths = staged_paths(&staging);
        assert!(
            paths.contains(&"data/populations/docs/0001.json".to_owned())
                && paths.contains(&"data/gaps/docs/0001.json".to_owned()),
            "{paths:?}"
        );
        assert_ne!(cursor, Cursor::default());
    }
}
