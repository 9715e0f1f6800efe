//! One collection run: take the archive's lock, reconcile state, run every source into a fresh
//! staging area, seal the bundle durably, then advance the state. Sources that fail become gap
//! records; the others still seal. The state advances only after the bundle is durable.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use evidence_archive::run_record::{RUN_SCHEMA, RunRecord, SourceStatus, SourceSummary};
use evidence_archive::{SealInput, Staging};
use evidence_connectors::{CollectContext, Connector, Cursor};
use evidence_model::{GapRecord, Timestamp};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::config::{AgentConfig, ConfigError};
use crate::sink::StagingSink;
use crate::state::{AgentState, SourceState, StateDir, StateError};
use crate::ui::Ui;
use crate::{clock, fault};

/// `evidence-agent <version>`.
pub fn agent_name() -> String {
    format!("evidence-agent {}", env!("CARGO_PKG_VERSION"))
}

/// A run could not seal a bundle. Nothing was published, and the state did not move.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CollectError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("{0}")]
    Clock(String),
    #[error("cannot create the archive directory {path}: {source}")]
    ArchiveDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Staging(#[from] evidence_archive::StagingError),
    #[error("source {source_name}: {message}; nothing was sealed")]
    Fatal {
        source_name: String,
        message: String,
    },
    #[error(transparent)]
    Seal(#[from] evidence_archive::SealError),
}

/// How one source fared, for the summary.
#[derive(Debug, Clone, Serialize)]
pub struct SourceOutcome {
    pub name: String,
    pub connector: String,
    pub status: SourceStatus,
    pub items: u64,
    pub bytes: u64,
    pub gaps: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
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
    pub checkpoint: String,
    pub sources: Vec<SourceOutcome>,
    /// Uploads to the S3 archive, when `[archive] path` is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload: Option<crate::upload::UploadSummary>,
}

impl RunSummary {
    /// True when any source failed or recorded a gap, or a bundle is still waiting for its
    /// upload to the S3 archive.
    pub fn has_gaps(&self) -> bool {
        self.sources.iter().any(|s| s.status != SourceStatus::Ok)
            || self.upload.as_ref().is_some_and(|u| !u.is_complete())
    }
}

/// Run every configured source once and seal the result as the next bundle.
pub async fn collect(
    config: &AgentConfig,
    ui: &Ui,
    shutdown: CancellationToken,
) -> Result<RunSummary, CollectError> {
    let (collected_at, pinned) = clock::now().map_err(CollectError::Clock)?;
    std::fs::create_dir_all(&config.archive_dir).map_err(|source| CollectError::ArchiveDir {
        path: config.archive_dir.clone(),
        source,
    })?;
    let state_dir = StateDir::lock(&config.state_dir)?;
    let state = state_dir.reconcile(&config.origin, &config.archive_dir)?;
    let seq = state.last_seq() + 1;
    let connectors = config.connectors()?;
    tracing::info!(run = seq, sources = connectors.len(), archive = %config.archive_dir.display(), "collecting");

    let staging = Arc::new(Mutex::new(Staging::create(&state_dir.staging_dir())?));
    let agent = agent_name();
    let runs = connectors.iter().map(|connector| {
        run_source(
            connector.as_ref(),
            &state,
            Arc::clone(&staging),
            ui,
            &agent,
            collected_at,
            shutdown.clone(),
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
            outcome.name.clone(),
            SourceState {
                connector: outcome.connector.clone(),
                cursor,
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
                name: o
                    .name
                    .parse()
                    .expect("source names were checked when the config loaded"),
                connector: o.connector.clone(),
                status: o.status,
                items: o.items,
                bytes: o.bytes,
                gaps: o.gaps,
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

    let sealed = tokio::task::block_in_place(|| {
        let prepared = evidence_archive::prepare(
            &staging,
            &SealInput {
                origin: &config.origin,
                seq,
                collected_at,
                software_agent: &agent,
                previous: state.head.as_ref(),
            },
        )?;
        next.head = Some(prepared.head.clone());
        let sealed = prepared.write(&config.archive_dir, |_| {
            fault::point("bundle-synced");
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
    })?;
    if let Err(e) = staging.remove() {
        tracing::warn!("could not remove the staging area: {e}");
    }

    let items = outcomes.iter().map(|o| o.items).sum();
    let item_bytes = outcomes.iter().map(|o| o.bytes).sum();
    let summary = RunSummary {
        origin: config.origin.clone(),
        run: seq,
        bundle: sealed.path.clone(),
        bundle_bytes: sealed.bundle_bytes,
        items,
        item_bytes,
        payload_files: sealed.payload_files,
        checkpoint: sealed.head.checkpoint.clone(),
        sources: outcomes,
        upload: None,
    };
    let mut summary = summary;
    // Only now, with the bundle durable and the state advanced, does anything leave the machine.
    if let Some(remote) = &config.remote {
        summary.upload =
            Some(crate::upload::upload_pending(remote, &config.archive_dir, &config.origin).await);
    }
    tracing::info!(
        run = seq,
        items,
        bytes = item_bytes,
        bundle = %sealed.path.display(),
        gaps = summary.has_gaps(),
        "run sealed"
    );
    Ok(summary)
}

async fn run_source(
    connector: &dyn Connector,
    state: &AgentState,
    staging: Arc<Mutex<Staging>>,
    ui: &Ui,
    agent: &str,
    collected_at: Timestamp,
    shutdown: CancellationToken,
) -> Result<(SourceOutcome, Cursor), CollectError> {
    let name = connector.name().clone();
    let kind = connector.connector_type();
    let mut cursor = match state.sources.get(name.as_str()) {
        Some(s) if s.connector == kind => s.cursor.clone(),
        Some(s) => {
            tracing::warn!(source = %name, "source changed type from {} to {kind}; starting it from scratch", s.connector);
            Cursor::default()
        }
        None => Cursor::default(),
    };
    let progress = ui.source(name.as_str());
    let mut sink = StagingSink::new(staging, name.clone(), kind, agent.to_owned(), collected_at);
    let ctx = CollectContext {
        shutdown,
        progress: &progress,
        agent: agent.to_owned(),
    };
    let result = connector.collect(&mut cursor, &mut sink, &ctx).await;
    let mut error = None;
    if let Err(e) = result {
        if e.is_fatal() {
            progress.finish("failed");
            return Err(CollectError::Fatal {
                source_name: name.to_string(),
                message: e.to_string(),
            });
        }
        tracing::warn!(source = %name, "source failed: {e}");
        let gap = GapRecord::new(
            kind,
            name.clone(),
            "*",
            e.gap_category(),
            e.to_string(),
            collected_at,
        );
        use evidence_connectors::ItemSink;
        sink.gap(gap).await.map_err(|e| CollectError::Fatal {
            source_name: name.to_string(),
            message: e.to_string(),
        })?;
        error = Some(e.to_string());
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
            name: name.to_string(),
            connector: kind.to_owned(),
            status,
            items: tally.items,
            bytes: tally.bytes,
            gaps: tally.gaps,
            error,
        },
        cursor,
    ))
}
