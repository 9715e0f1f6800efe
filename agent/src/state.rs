//! The agent's durable state beside the archive: the log head it continues from and each
//! source's cursor, as versioned JSON written atomically. A run first records the state it will
//! have once its bundle is published (`pending.json`), then publishes the bundle, then promotes
//! the pending state; at start-up, `reconcile` completes or discards an interrupted commit.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use evidence_archive::{ChainHead, durable};
use evidence_connectors::Cursor;
use serde::{Deserialize, Serialize};

/// The state format version this agent writes and reads.
pub const STATE_VERSION: u32 = 1;

/// State problems. Nothing is overwritten when one of these is returned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{path} is corrupt ({reason}); it was left untouched — restore it from a backup, or rebuild it from the archive with `evidence-agent repair --config FILE` (the sources then start from scratch)"
    )]
    Corrupt { path: PathBuf, reason: String },
    #[error(
        "{path} was written by a newer evidence-agent (state version {found}, this one reads {STATE_VERSION}); upgrade the agent"
    )]
    FutureVersion { path: PathBuf, found: u32 },
    #[error("{path} belongs to origin {found:?}, but the config says {expected:?}")]
    OriginMismatch {
        path: PathBuf,
        expected: String,
        found: String,
    },
    #[error("the archive {archive} and the agent state disagree: {detail}")]
    Mismatch { archive: PathBuf, detail: String },
    #[error(
        "the archive {archive} no longer holds what this agent sealed: {}. Nothing was sealed: restore these bundles from a backup (or the remote copy), and run `evidence-auditor verify` on the archive",
        problems.join("; ")
    )]
    Damaged {
        archive: PathBuf,
        problems: Vec<String>,
    },
    #[error("another evidence-agent is already running on this archive (lock {path} is held)")]
    Locked { path: PathBuf },
}

/// One source's saved cursor.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceState {
    pub connector: String,
    pub cursor: Cursor,
    /// When the last sealed run that included this source started (the machine's clock, not
    /// `SOURCE_DATE_EPOCH`); `evidence-agent run` schedules from it. Absent in state written
    /// before scheduling existed, which reads as "never ran".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run_at: Option<evidence_model::Timestamp>,
}

/// The state file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentState {
    pub version: u32,
    pub origin: String,
    /// The log head after the last sealed bundle; `None` before the first run.
    pub head: Option<ChainHead>,
    pub sources: BTreeMap<String, SourceState>,
    /// Each sealed bundle's size in bytes, by run, so that a truncated or replaced bundle is
    /// noticed before the next run appends to the archive. Absent in state written before
    /// sizes were recorded: those runs are checked by name and ZIP signature only.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub bundle_bytes: BTreeMap<u64, u64>,
}

impl AgentState {
    /// The state of an agent that has sealed nothing yet.
    pub fn empty(origin: &str) -> Self {
        Self {
            version: STATE_VERSION,
            origin: origin.to_owned(),
            head: None,
            sources: BTreeMap::new(),
            bundle_bytes: BTreeMap::new(),
        }
    }

    /// The sequence number of the last sealed run (0 before the first).
    pub fn last_seq(&self) -> u64 {
        self.head.as_ref().map_or(0, |h| h.seq)
    }
}

/// Whether another process holds an archive's run lock, as `check` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockStatus {
    /// No state directory or lock file yet: no agent has run here.
    Absent,
    /// Nobody holds it.
    Free,
    /// A running agent holds it.
    Held,
}

/// What `check` can tell about the state without taking the lock or writing anything.
#[derive(Debug, Clone, PartialEq)]
pub struct StateReport {
    /// The committed state, if any.
    pub state: Option<AgentState>,
    /// A run was interrupted between publishing its bundle and committing its state; the
    /// next run completes or discards that commit.
    pub pending: bool,
    /// The highest bundle sequence number in the archive.
    pub archive_last: u64,
    /// What the archive lacks of what the committed state says was sealed (missing, truncated
    /// or replaced bundles), one line each; a run refuses to start while this is not empty.
    pub damage: Vec<String>,
}

/// Read the state beside an archive without locking or writing: the same checks a run makes
/// (corrupt, future version, other origin), for `check`.
pub fn inspect(dir: &Path, origin: &str, archive_dir: &Path) -> Result<StateReport, StateError> {
    let state = read_state(&dir.join("state.json"), origin)?;
    let pending = read_state(&dir.join("pending.json"), origin)?.is_some();
    let damage = match &state {
        Some(s) => archive_damage(archive_dir, s)?,
        None => Vec::new(),
    };
    Ok(StateReport {
        state,
        pending,
        archive_last: last_bundle_seq(archive_dir)?,
        damage,
    })
}

/// Whether a running agent holds the lock in `dir`. Probes with a shared lock released at
/// once, and creates nothing.
pub fn lock_status(dir: &Path) -> Result<LockStatus, StateError> {
    let path = dir.join("lock");
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(LockStatus::Absent),
        Err(source) => return Err(StateError::Io { path, source }),
    };
    match file.try_lock_shared() {
        Ok(()) => Ok(LockStatus::Free),
        Err(fs::TryLockError::WouldBlock) => Ok(LockStatus::Held),
        Err(fs::TryLockError::Error(source)) => Err(StateError::Io { path, source }),
    }
}

/// The state directory: state file, pending file, staging area and run lock.
#[derive(Debug)]
pub struct StateDir {
    dir: PathBuf,
    _lock: File,
}

impl StateDir {
    /// Create the directory if needed and take the run lock (one agent per archive).
    pub fn lock(dir: &Path) -> Result<Self, StateError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| StateError::Io { path, source }
        };
        fs::create_dir_all(dir).map_err(io(dir))?;
        let lock_path = dir.join("lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(StateError::Locked { path: lock_path });
            }
            Err(fs::TryLockError::Error(source)) => {
                return Err(StateError::Io {
                    path: lock_path,
                    source,
                });
            }
        }
        Ok(Self {
            dir: dir.to_owned(),
            _lock: lock,
        })
    }

    /// The state folder itself (cursors, lock, staging, the redaction key).
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The staging area of the run in progress.
    pub fn staging_dir(&self) -> PathBuf {
        self.dir.join("staging")
    }

    fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    /// The state file, for messages.
    pub fn state_file(&self) -> PathBuf {
        self.state_path()
    }

    /// The pending state file of an interrupted commit.
    pub fn pending_file(&self) -> PathBuf {
        self.pending_path()
    }

    fn pending_path(&self) -> PathBuf {
        self.dir.join("pending.json")
    }

    /// Bring the state in line with the archive after any interruption, and return it.
    pub fn reconcile(&self, origin: &str, archive_dir: &Path) -> Result<AgentState, StateError> {
        let state = read_state(&self.state_path(), origin)?;
        let pending = read_state(&self.pending_path(), origin)?;
        let archive_last = last_bundle_seq(archive_dir)?;
        let state_last = state.as_ref().map_or(0, AgentState::last_seq);
        let mismatch = |detail: String| StateError::Mismatch {
            archive: archive_dir.to_owned(),
            detail,
        };
        if let Some(p) = pending {
            if archive_last == state_last + 1 && p.last_seq() == archive_last {
                tracing::warn!(
                    run = archive_last,
                    "the previous run was interrupted after publishing its bundle; completing its commit"
                );
                self.commit(&p)?;
                check_archive(archive_dir, &p)?;
                return Ok(p);
            }
            self.remove_pending()?;
        }
        if archive_last != state_last {
            let state_note = if state.is_some() {
                format!(
                    "the state at {} says the last sealed run is {state_last}",
                    self.state_path().display()
                )
            } else {
                format!("there is no agent state at {}", self.state_path().display())
            };
            return Err(mismatch(format!(
                "the archive's last bundle is run {archive_last}, but {state_note}. Point [archive] state_dir at this archive's state, or rebuild the state from the archive with `evidence-agent repair --config FILE`"
            )));
        }
        let state = state.unwrap_or_else(|| AgentState::empty(origin));
        check_archive(archive_dir, &state)?;
        Ok(state)
    }

    /// Record durably the state the agent will have once the run's bundle is published.
    pub fn write_pending(&self, next: &AgentState) -> Result<(), StateError> {
        write_state(&self.pending_path(), next)
    }

    /// Promote a state: write it as the current state and drop the pending file.
    pub fn commit(&self, state: &AgentState) -> Result<(), StateError> {
        write_state(&self.state_path(), state)?;
        self.remove_pending()
    }

    fn remove_pending(&self) -> Result<(), StateError> {
        match fs::remove_file(self.pending_path()) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StateError::Io {
                path: self.pending_path(),
                source,
            }),
        }
    }
}

fn archive_damage(archive_dir: &Path, state: &AgentState) -> Result<Vec<String>, StateError> {
    crate::integrity::damage(archive_dir, state).map_err(|source| StateError::Io {
        path: archive_dir.to_owned(),
        source,
    })
}

/// Refuse to continue an archive that no longer holds what `state` says was sealed.
fn check_archive(archive_dir: &Path, state: &AgentState) -> Result<(), StateError> {
    let problems = archive_damage(archive_dir, state)?;
    if problems.is_empty() {
        Ok(())
    } else {
        Err(StateError::Damaged {
            archive: archive_dir.to_owned(),
            problems,
        })
    }
}

fn read_state(path: &Path, origin: &str) -> Result<Option<AgentState>, StateError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StateError::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    let corrupt = |reason: String| StateError::Corrupt {
        path: path.to_owned(),
        reason,
    };
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| corrupt(format!("not JSON: {e}")))?;
    let version = value
        .get("version")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| corrupt("no version field".into()))?;
    if version > u64::from(STATE_VERSION) {
        return Err(StateError::FutureVersion {
            path: path.to_owned(),
            found: u32::try_from(version).unwrap_or(u32::MAX),
        });
    }
    let state: AgentState = serde_json::from_value(value).map_err(|e| corrupt(e.to_string()))?;
    if state.origin != origin {
        return Err(StateError::OriginMismatch {
            path: path.to_owned(),
            expected: origin.to_owned(),
            found: state.origin,
        });
    }
    if let Some(head) = &state.head {
        let cp = &head.checkpoint;
        let ok = cp.size == head.frontier.size() && cp.root == head.frontier.root();
        if !ok {
            return Err(corrupt("its log head does not match its frontier".into()));
        }
    }
    Ok(Some(state))
}

fn write_state(path: &Path, state: &AgentState) -> Result<(), StateError> {
    let bytes = serde_json::to_vec_pretty(state).map_err(|e| StateError::Corrupt {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    durable::write_replace(path, &bytes).map_err(|source| StateError::Io {
        path: path.to_owned(),
        source,
    })
}

/// The highest bundle sequence number in `archive_dir` (0 when there is none or no directory).
pub fn last_bundle_seq(archive_dir: &Path) -> Result<u64, StateError> {
    let entries = match fs::read_dir(archive_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(source) => {
            return Err(StateError::Io {
                path: archive_dir.to_owned(),
                source,
            });
        }
    };
    let mut last = 0;
    for entry in entries {
        let entry = entry.map_err(|source| StateError::Io {
            path: archive_dir.to_owned(),
            source,
        })?;
        // A bundle uploaded to an S3 archive is represented by its receipt.
        if let Some(seq) = entry
            .file_name()
            .to_str()
            .and_then(crate::upload::sealed_seq)
        {
            last = last.max(seq);
        }
    }
    Ok(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_agent_on_the_same_state_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _first = StateDir::lock(dir.path()).unwrap();
        assert!(matches!(
            StateDir::lock(dir.path()),
            Err(StateError::Locked { .. })
        ));
    }

    #[test]
    fn a_fresh_archive_starts_from_an_empty_state() {
        let dir = tempfile::tempdir().unwrap();
        let sd = StateDir::lock(&dir.path().join("state")).unwrap();
        let s = sd.reconcile("o", &dir.path().join("archive")).unwrap();
        assert_eq!(s, AgentState::empty("o"));
    }

    #[test]
    fn a_corrupt_or_future_state_is_an_error_and_is_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let sd = StateDir::lock(dir.path()).unwrap();
        let path = dir.path().join("state.json");
        fs::write(&path, b"{not json").unwrap();
        assert!(matches!(
            sd.reconcile("o", dir.path()),
            Err(StateError::Corrupt { .. })
        ));
        assert_eq!(fs::read(&path).unwrap(), b"{not json");
        fs::write(&path, br#"{"version": 99, "origin": "o"}"#).unwrap();
        let err = sd.reconcile("o", dir.path()).unwrap_err();
        assert!(
            matches!(err, StateError::FutureVersion { found: 99, .. }),
            "{err}"
        );
    }

    #[test]
    fn state_written_before_scheduling_existed_reads_as_never_run() {
        let old = r#"{"version": 1, "origin": "o", "head": null,
            "sources": {"docs": {"connector": "local", "cursor": null}}}"#;
        let s: AgentState = serde_json::from_str(old).unwrap();
        assert_eq!(s.sources["docs"].last_run_at, None);
        let written = serde_json::to_string(&s).unwrap();
        assert!(!written.contains("last_run_at"), "{written}");
    }

    #[test]
    fn inspecting_reports_the_lock_and_state_without_creating_anything() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        assert_eq!(lock_status(&state).unwrap(), LockStatus::Absent);
        assert!(!state.exists());
        let report = inspect(&state, "o", &dir.path().join("archive")).unwrap();
        assert_eq!(report.state, None);
        assert!(!report.pending);
        {
            let _held = StateDir::lock(&state).unwrap();
            assert_eq!(lock_status(&state).unwrap(), LockStatus::Held);
        }
        assert_eq!(lock_status(&state).unwrap(), LockStatus::Free);
        fs::write(
            state.join("state.json"),
            br#"{"version": 7, "origin": "o"}"#,
        )
        .unwrap();
        assert!(matches!(
            inspect(&state, "o", dir.path()),
            Err(StateError::FutureVersion { found: 7, .. })
        ));
    }

    #[test]
    fn bundles_without_matching_state_are_reported_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("a");
        fs::create_dir_all(&archive).unwrap();
        fs::write(archive.join("run-000001.zip"), b"x").unwrap();
        let sd = StateDir::lock(&dir.path().join("s")).unwrap();
        let err = sd.reconcile("o", &archive).unwrap_err().to_string();
        assert!(err.contains("last bundle is run 1"), "{err}");
    }
}
