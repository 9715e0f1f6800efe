//! `evidence-agent repair`: rebuild the agent's state from the archive, which is the source of
//! truth. The last bundle is verified, and its checkpoint and recomputed log frontier become the
//! head the next run continues from; bundle sizes are recorded again. Source cursors cannot be
//! recovered from bundles, so every source starts from scratch on the next run. The state it
//! replaces is kept beside it, never deleted.

use std::path::{Path, PathBuf};

use evidence_archive::verify::{NoVisitor, verify_bundle};
use evidence_archive::{ChainHead, layout};
use serde::Serialize;

use crate::config::AgentConfig;
use crate::state::{AgentState, StateError};

/// A repair that could not be made; nothing was changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RepairError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("{0}")]
    Archive(String),
}

/// What `repair` did.
#[derive(Debug, Clone, Serialize)]
pub struct RepairOutcome {
    /// False when the state already matched the archive and nothing was written.
    pub repaired: bool,
    pub state_file: PathBuf,
    /// The last sealed run the state now continues from (0: an empty archive).
    pub run: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<evidence_archive::Checkpoint>,
    /// Where the replaced state files were moved.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<PathBuf>,
    /// Why the state needed repair.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Rebuild the state beside `config`'s archive from its bundles, holding the run lock.
pub fn repair(config: &AgentConfig) -> Result<RepairOutcome, RepairError> {
    let state_dir = crate::collect::take_run_lock(config).map_err(|e| match e {
        crate::collect::CollectError::State(s) => RepairError::State(s),
        other => RepairError::Archive(other.to_string()),
    })?;
    let state_file = state_dir.state_file();
    let reason = match state_dir.reconcile(&config.origin, &config.archive_dir) {
        Ok(state) => {
            return Ok(RepairOutcome {
                repaired: false,
                state_file,
                run: state.last_seq(),
                checkpoint: state.head.map(|h| h.checkpoint),
                kept: Vec::new(),
                reason: None,
            });
        }
        Err(e @ (StateError::Corrupt { .. } | StateError::Mismatch { .. })) => e.to_string(),
        Err(e @ StateError::Damaged { .. }) => {
            return Err(RepairError::Archive(format!(
                "{e}. The state is not the problem: repair rebuilds the state from the archive, not the archive"
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let state = state_from_archive(config)?;
    let mut kept = Vec::new();
    for file in [state_file.clone(), state_dir.pending_file()] {
        if file.exists() {
            let mut aside = file.clone().into_os_string();
            aside.push(format!(
                ".replaced-{}",
                evidence_model::Timestamp::now().as_second()
            ));
            let aside = PathBuf::from(aside);
            std::fs::rename(&file, &aside).map_err(|source| StateError::Io {
                path: file.clone(),
                source,
            })?;
            kept.push(aside);
        }
    }
    state_dir.commit(&state)?;
    tracing::warn!(run = state.last_seq(), state = %state_file.display(), "rebuilt the agent state from the archive; every source starts from scratch");
    Ok(RepairOutcome {
        repaired: true,
        state_file,
        run: state.last_seq(),
        checkpoint: state.head.map(|h| h.checkpoint),
        kept,
        reason: Some(reason),
    })
}

/// The state an agent has after sealing the archive's bundles, with no source cursors.
fn state_from_archive(config: &AgentConfig) -> Result<AgentState, RepairError> {
    let archive = &config.archive_dir;
    let last = crate::state::last_bundle_seq(archive)?;
    let mut state = AgentState::empty(&config.origin);
    if last == 0 {
        return Ok(state);
    }
    for seq in 1..=last {
        let bundle = archive.join(layout::bundle_file_name(seq));
        if let Ok(meta) = std::fs::metadata(&bundle) {
            state.bundle_bytes.insert(seq, meta.len());
        } else if !archive.join(crate::upload::receipt_file_name(seq)).exists() {
            return Err(RepairError::Archive(format!(
                "{} is missing: the archive has a gap at run {seq}; restore the bundle before repairing",
                bundle.display()
            )));
        }
    }
    let bundle = archive.join(layout::bundle_file_name(last));
    let head = head_of(&bundle, last, &config.origin)?;
    state.head = Some(head);
    Ok(state)
}

/// The log head after bundle `seq` at `path`, which must verify and belong to `origin`.
fn head_of(path: &Path, seq: u64, origin: &str) -> Result<ChainHead, RepairError> {
    if !path.exists() {
        return Err(RepairError::Archive(format!(
            "{} was uploaded and is not here; download it from the remote archive into {} and repair again",
            layout::bundle_file_name(seq),
            path.parent().unwrap_or(Path::new(".")).display()
        )));
    }
    let report = verify_bundle(path, &mut NoVisitor);
    let summary = match (&report.summary, report.is_valid()) {
        (Some(s), true) => s,
        _ => {
            let problems: Vec<String> = report
                .problems
                .iter()
                .map(|p| p.message.clone())
                .take(3)
                .collect();
            return Err(RepairError::Archive(format!(
                "{} does not verify ({}); the state cannot be rebuilt from a damaged bundle",
                path.display(),
                problems.join("; ")
            )));
        }
    };
    if summary.origin != origin || summary.seq != seq {
        return Err(RepairError::Archive(format!(
            "{} is run {} of origin {:?}, but the config's origin is {origin:?}",
            path.display(),
            summary.seq,
            summary.origin
        )));
    }
    let checkpoint = summary
        .checkpoint
        .clone()
        .ok_or_else(|| RepairError::Archive(format!("{} has no checkpoint", path.display())))?;
    Ok(ChainHead {
        seq,
        checkpoint,
        frontier: summary.frontier.clone(),
    })
}
