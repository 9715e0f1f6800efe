//! The agent's [`ItemSink`]: streams each artefact into the run's staging area while hashing
//! it, derives the item id from its digest, completes the metadata record and commits both.
//! One sink per source; all share the run's staging area.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use evidence_archive::Staging;
use evidence_archive::layout;
use evidence_connectors::{ItemDraft, ItemSink, SinkError, StagedItem};
use evidence_model::item::ITEM_SCHEMA;
use evidence_model::{
    Artefact, GapRecord, ItemId, ItemMeta, PopulationRecord, Provenance, Sha256Digest, SourceName,
    SourceRef, Times, Timestamp,
};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// Size of the copy buffer: memory per artefact in flight, whatever the artefact's size.
const COPY_BUFFER: usize = 1024 * 1024;

/// What one source contributed to the run, for the run record and the summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceTally {
    pub items: u64,
    pub bytes: u64,
    pub gaps: u64,
}

/// The sink handed to one source's connector.
pub struct StagingSink {
    staging: Arc<Mutex<Staging>>,
    source: SourceName,
    connector: &'static str,
    agent: String,
    collected_at: Timestamp,
    staged: Vec<(ItemId, u64)>,
    populations: Vec<PopulationRecord>,
    gaps: u64,
}

fn staging_failed(e: impl std::fmt::Display) -> SinkError {
    SinkError::Staging(e.to_string())
}

impl StagingSink {
    pub fn new(
        staging: Arc<Mutex<Staging>>,
        source: SourceName,
        connector: &'static str,
        agent: String,
        collected_at: Timestamp,
    ) -> Self {
        Self {
            staging,
            source,
            connector,
            agent,
            collected_at,
            staged: Vec::new(),
            populations: Vec::new(),
            gaps: 0,
        }
    }

    /// Items, bytes and gaps this source staged.
    pub fn tally(&self) -> SourceTally {
        SourceTally {
            items: self.staged.len() as u64,
            bytes: self.staged.iter().map(|(_, b)| b).sum(),
            gaps: self.gaps,
        }
    }

    /// Stage the population records the connector reported, in order. Called once the
    /// connector has returned.
    pub fn flush_populations(&mut self) -> Result<(), SinkError> {
        for record in std::mem::take(&mut self.populations) {
            self.with_staging(|s| s.add_population(&record))?
                .map_err(staging_failed)?;
        }
        Ok(())
    }

    /// Take back everything this source staged in the run (items and population records;
    /// gap records stay): used when the source did not stop by the shutdown deadline, so that
    /// what it staged is collected again, once, by the next run from the unchanged cursor.
    pub fn abandon(&mut self) -> Result<(), SinkError> {
        self.populations.clear();
        for (id, _) in std::mem::take(&mut self.staged) {
            self.with_staging(|s| s.discard_item(&id))?
                .map_err(staging_failed)?;
        }
        Ok(())
    }

    fn with_staging<T>(&self, f: impl FnOnce(&mut Staging) -> T) -> Result<T, SinkError> {
        let mut guard = self.staging.lock().map_err(|_| {
            SinkError::Staging("the staging area was poisoned by a crashed task".into())
        })?;
        Ok(f(&mut guard))
    }
}

#[async_trait]
impl ItemSink for StagingSink {
    async fn put(
        &mut self,
        draft: ItemDraft,
        body: &mut (dyn AsyncRead + Unpin + Send),
    ) -> Result<StagedItem, SinkError> {
        let temp = self.with_staging(|s| s.temp_file())?;
        let mut file = tokio::fs::File::create(&temp)
            .await
            .map_err(staging_failed)?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; COPY_BUFFER];
        let copied: Result<(), SinkError> = async {
            loop {
                let n = body
                    .read(&mut buf)
                    .await
                    .map_err(|source| SinkError::Body {
                        reference: draft.reference.clone(),
                        bytes: size,
                        source,
                    })?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                file.write_all(&buf[..n]).await.map_err(staging_failed)?;
                size += n as u64;
            }
            file.flush().await.map_err(staging_failed)?;
            Ok(())
        }
        .await;
        drop(file);
        let remove_temp = || async {
            let _ = tokio::fs::remove_file(&temp).await;
        };
        if let Err(e) = copied {
            remove_temp().await;
            return Err(e);
        }
        let sha256 = Sha256Digest(hasher.finalize().into());
        if let Some(expected) = draft.expected_size.filter(|&e| e != size) {
            remove_temp().await;
            return Err(SinkError::TransferMismatch {
                reference: draft.reference,
                what: "length",
                expected: format!("{expected} bytes"),
                actual: format!("{size} bytes"),
            });
        }
        if let Some(expected) = draft.expected_sha256.filter(|&e| e != sha256) {
            remove_temp().await;
            return Err(SinkError::TransferMismatch {
                reference: draft.reference,
                what: "SHA-256",
                expected: expected.to_string(),
                actual: sha256.to_string(),
            });
        }

        let id = ItemId::derive(&self.source, &draft.natural_key, &sha256.to_hex());
        let file_name = layout::sanitize_file_name(&draft.file_name);
        let meta = ItemMeta {
            schema: ITEM_SCHEMA.to_owned(),
            id: id.clone(),
            kind: draft.kind,
            title: draft.title,
            source: SourceRef {
                connector: self.connector.to_owned(),
                name: self.source.clone(),
                reference: draft.reference.clone(),
                url: draft.url,
            },
            controls: draft.controls,
            clauses: draft.clauses,
            phase: draft.phase,
            actors: draft.actors,
            times: Times {
                period: draft.period,
                source: draft.source_time,
                collected: self.collected_at,
            },
            artefact: Artefact {
                path: layout::item_artefact_path(&id, &file_name),
                sha256,
                size,
                media_type: draft.media_type,
            },
            redactions: draft.redactions,
            provenance: Provenance {
                agent: self.agent.clone(),
                connector: format!(
                    "{} {}",
                    self.connector,
                    evidence_connectors::CONNECTORS_VERSION
                ),
                endpoint: draft.endpoint,
                query: draft.query,
            },
            attributes: draft.attributes,
        };
        let committed = self.with_staging(|s| s.commit_item(&meta, &temp))?;
        if let Err(e) = committed {
            remove_temp().await;
            return Err(match e {
                evidence_archive::StagingError::Canonical(c) => SinkError::InvalidMetadata {
                    reference: draft.reference,
                    reason: c.to_string(),
                },
                evidence_archive::StagingError::InvalidItem { reason, .. } => {
                    SinkError::InvalidMetadata {
                        reference: draft.reference,
                        reason,
                    }
                }
                other => staging_failed(other),
            });
        }
        self.staged.retain(|(staged, _)| staged != &id);
        self.staged.push((id.clone(), size));
        Ok(StagedItem { id, sha256, size })
    }

    async fn discard(&mut self, id: &ItemId) -> Result<(), SinkError> {
        self.with_staging(|s| s.discard_item(id))?
            .map_err(staging_failed)?;
        self.staged.retain(|(staged, _)| staged != id);
        Ok(())
    }

    async fn population(&mut self, record: PopulationRecord) -> Result<(), SinkError> {
        self.populations.push(record);
        Ok(())
    }

    async fn gap(&mut self, record: GapRecord) -> Result<(), SinkError> {
        tracing::warn!(source = %record.source, scope = %record.scope, category = ?record.category, "{}", record.message);
        self.gaps += 1;
        self.with_staging(|s| s.add_gap(&record))?
            .map_err(staging_failed)
    }

    fn collected_at(&self) -> Timestamp {
        self.collected_at
    }
}
