//! The agent's [`ItemSink`]: streams each artefact into the run's staging area while hashing
//! it, derives the item id from its digest, completes the metadata record and commits both.
//! Every artefact and its metadata pass through the source's redaction on the way: nothing
//! unredacted reaches the staging area. One sink per source; all share the run's staging area.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use evidence_archive::layout;
use evidence_archive::run_record::RedactionPolicy;
use evidence_archive::{SPOOL_MAX, Staging};
use evidence_connectors::{ItemDraft, ItemSink, SinkError, StagedItem};
use evidence_model::item::ITEM_SCHEMA;
use evidence_model::{
    Artefact, GapRecord, ItemId, ItemMeta, PopulationRecord, Provenance, RedactionNote, ScanState,
    Sha256Digest, SourceName, SourceRef, Times, Timestamp,
};
use sha2::{Digest, Sha256};
use std::io::Write;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::redact_zip::{ZipRedactError, is_zip, redact_zip};
use crate::redaction::{SourceRedaction, as_redactions};
use evidence_redact::RedactingWriter;
use std::path::Path;

/// Size of the copy buffer: memory per artefact in flight, whatever the artefact's size.
const COPY_BUFFER: usize = 1024 * 1024;
/// The copy buffer a body starts with; it grows to [`COPY_BUFFER`] once a read fills it, so a
/// small artefact does not cost a megabyte's allocation.
const FIRST_BUFFER: usize = 16 * 1024;

/// What one source contributed to the run, for the run record and the summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceTally {
    pub items: u64,
    pub bytes: u64,
    pub gaps: u64,
    /// Values replaced by placeholders, in artefacts and metadata.
    pub replaced: u64,
    /// Items whose artefact was not scanned because its media type is binary.
    pub binary_items: u64,
}

/// What one staged item adds to its source's tally.
#[derive(Debug, Clone, Copy)]
struct StagedTally {
    bytes: u64,
    replaced: u64,
    binary: bool,
}

/// The sink handed to one source's connector.
pub struct StagingSink {
    staging: Arc<Mutex<Staging>>,
    source: SourceName,
    connector: &'static str,
    agent: String,
    collected_at: Timestamp,
    /// Per staged item: its artefact's size, values replaced, and whether its artefact was
    /// left unscanned.
    staged: HashMap<ItemId, StagedTally>,
    /// Where this source's large artefacts are streamed.
    spool: Option<SourceSpool>,
    populations: Vec<PopulationRecord>,
    gaps: u64,
    redaction: Arc<SourceRedaction>,
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
        redaction: Arc<SourceRedaction>,
    ) -> Self {
        Self {
            staging,
            source,
            connector,
            agent,
            collected_at,
            staged: HashMap::new(),
            spool: None,
            populations: Vec::new(),
            gaps: 0,
            redaction,
        }
    }

    /// Items, bytes and gaps this source staged.
    pub fn tally(&self) -> SourceTally {
        SourceTally {
            items: self.staged.len() as u64,
            bytes: self.staged.values().map(|t| t.bytes).sum(),
            gaps: self.gaps,
            replaced: self.staged.values().map(|t| t.replaced).sum(),
            binary_items: self.staged.values().filter(|t| t.binary).count() as u64,
        }
    }

    /// What the run record says about this source's redaction, with what `tally` counted.
    pub fn redaction_record(&self, tally: &SourceTally) -> RedactionPolicy {
        self.redaction.describe(tally.replaced, tally.binary_items)
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
        mut draft: ItemDraft,
        body: &mut (dyn AsyncRead + Unpin + Send),
    ) -> Result<StagedItem, SinkError> {
        let redaction = Arc::clone(&self.redaction);
        let mut redactions = std::mem::take(&mut draft.redactions);
        let identities = redaction.identities(&draft);
        redactions.extend(redaction.redact_draft(&mut draft));
        let scan = redaction.scan_state(&draft.media_type);
        let temp = self.with_staging(|s| s.temp_file())?;
        let staged = if scan == ScanState::Scanned && is_zip(&draft.media_type) {
            stage_zip(body, &temp, &redaction, &identities, &draft).await
        } else {
            let writer =
                (scan == ScanState::Scanned).then(|| redaction.writer(Vec::new(), &identities));
            let mut slot = SpoolSlot {
                spool: &mut self.spool,
                staging: &self.staging,
            };
            stage_stream(body, &mut slot, writer, &draft).await
        };
        let staged = match staged {
            Ok(s) => s,
            Err(e) => {
                // Where a failed write left the spool's end is unknown: the next large
                // artefact goes to a new one.
                self.spool = None;
                let _ = tokio::fs::remove_file(&temp).await;
                return Err(e);
            }
        };
        if let Err(e) = check_received(&draft, &staged.received) {
            let _ = tokio::fs::remove_file(&temp).await;
            return Err(e);
        }
        let Staged {
            sha256,
            size,
            replaced: artefact_replaced,
            redactions: artefact_redactions,
            place,
            ..
        } = staged;
        redactions.extend(artefact_redactions);
        let metadata_replaced = redactions.iter().filter(|r| r.range.is_none()).count() as u64;
        let replaced = artefact_replaced + metadata_replaced;
        let note = RedactionNote {
            artefact: scan,
            total: replaced,
            actors_pseudonymised: redaction.pseudonymises_actors(),
        };

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
            redactions,
            redaction: Some(note),
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
        let committed = self.with_staging(|s| match &place {
            Place::Memory(bytes) => s.commit_item_bytes(&meta, bytes),
            Place::Spool { number, offset } => s.commit_item_spooled(&meta, *number, *offset),
            Place::File => s.commit_item(&meta, &temp),
        })?;
        if let Err(e) = committed {
            let _ = tokio::fs::remove_file(&temp).await;
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
        self.staged.insert(
            id.clone(),
            StagedTally {
                bytes: size,
                replaced,
                binary: scan == ScanState::NotScannedBinary,
            },
        );
        Ok(StagedItem { id, sha256, size })
    }

    async fn discard(&mut self, id: &ItemId) -> Result<(), SinkError> {
        self.with_staging(|s| s.discard_item(id))?
            .map_err(staging_failed)?;
        self.staged.remove(id);
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

    fn pseudonymiser(&self) -> evidence_connectors::Pseudonymiser {
        self.redaction.pseudonymiser()
    }
}

/// An artefact's bytes in the staging area, redacted, with what the source sent.
struct Staged {
    sha256: Sha256Digest,
    size: u64,
    received: Received,
    /// Values replaced in the artefact.
    replaced: u64,
    redactions: Vec<evidence_model::Redaction>,
    place: Place,
}

/// Where a staged artefact's bytes are.
enum Place {
    /// Whole, in memory: it is small.
    Memory(Vec<u8>),
    /// In the source's spool.
    Spool { number: u32, offset: u64 },
    /// In its temporary file.
    File,
}

/// Copy `body` into memory while it is small, else into the source's spool, through the
/// redacting `writer` when the artefact is scanned.
async fn stage_stream(
    body: &mut (dyn AsyncRead + Unpin + Send),
    spool: &mut SpoolSlot<'_>,
    mut writer: Option<RedactingWriter<'_, Vec<u8>>>,
    draft: &ItemDraft,
) -> Result<Staged, SinkError> {
    let mut out = StagedFile {
        target: Target::Memory(Vec::new()),
        spool,
        hasher: Sha256::new(),
        size: 0,
    };
    let mut received = Received::new(draft);
    let mut buf = vec![0u8; FIRST_BUFFER];
    let mut filled = false;
    loop {
        if filled && buf.len() < COPY_BUFFER {
            buf.resize(COPY_BUFFER, 0);
        }
        let n = body
            .read(&mut buf)
            .await
            .map_err(|source| SinkError::Body {
                reference: draft.reference.clone(),
                bytes: received.size,
                source,
            })?;
        if n == 0 {
            break;
        }
        filled = n == buf.len();
        received.update(&buf[..n]);
        match writer.as_mut() {
            Some(w) => {
                w.write_all(&buf[..n]).map_err(staging_failed)?;
                out.write(w.get_mut()).await?;
                w.get_mut().clear();
            }
            None => out.write(&buf[..n]).await?,
        }
    }
    let (mut replaced, mut redactions) = (0, Vec::new());
    if let Some(w) = writer {
        let (rest, report) = w.finish().map_err(staging_failed)?;
        out.write(&rest).await?;
        replaced = report.total;
        redactions = as_redactions("artefact", &report, true);
    }
    let place = match out.target {
        Target::Memory(bytes) => Place::Memory(bytes),
        Target::Spool { offset } => {
            let spool = out.spool.open().await?;
            Place::Spool {
                number: spool.number,
                offset,
            }
        }
    };
    Ok(Staged {
        sha256: Sha256Digest(out.hasher.finalize().into()),
        size: out.size,
        received,
        replaced,
        redactions,
        place,
    })
}

/// Read the zip `body` entry by entry into a new zip at `temp` with its text entries redacted.
async fn stage_zip(
    body: &mut (dyn AsyncRead + Unpin + Send),
    temp: &Path,
    redaction: &SourceRedaction,
    identities: &[String],
    draft: &ItemDraft,
) -> Result<Staged, SinkError> {
    let handle = tokio::runtime::Handle::current();
    tokio::task::block_in_place(|| {
        let mut input = ReceivingReader {
            inner: tokio_util::io::SyncIoBridge::new_with_handle(body, handle),
            received: Received::new(draft),
        };
        let file = std::fs::File::create(temp).map_err(staging_failed)?;
        let done = redact_zip(
            &mut input,
            std::io::BufWriter::new(file),
            redaction,
            identities,
        )
        .map_err(|e| match e {
            ZipRedactError::Write(e) => staging_failed(e),
            unreadable => SinkError::Unscannable {
                reference: draft.reference.clone(),
                reason: unreadable.to_string(),
            },
        })?;
        // The central directory is not needed to rewrite the zip; read it to check the length.
        std::io::copy(&mut input, &mut std::io::sink()).map_err(|source| SinkError::Body {
            reference: draft.reference.clone(),
            bytes: input.received.size,
            source,
        })?;
        let (sha256, size) = hash_file(temp).map_err(staging_failed)?;
        Ok(Staged {
            sha256,
            size,
            received: input.received,
            replaced: done.replaced,
            redactions: done.redactions,
            place: Place::File,
        })
    })
}

fn hash_file(path: &Path) -> std::io::Result<(Sha256Digest, u64)> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; COPY_BUFFER];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok((Sha256Digest(hasher.finalize().into()), size));
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
}

/// Refuse a body shorter, longer or other than the source stated. Nothing is staged then.
fn check_received(draft: &ItemDraft, received: &Received) -> Result<(), SinkError> {
    if let Some(expected) = draft.expected_size.filter(|&e| e != received.size) {
        return Err(SinkError::TransferMismatch {
            reference: draft.reference.clone(),
            what: "length",
            expected: format!("{expected} bytes"),
            actual: format!("{} bytes", received.size),
        });
    }
    let actual = received
        .hasher
        .clone()
        .map(|h| Sha256Digest(h.finalize().into()));
    if let (Some(expected), Some(actual)) = (draft.expected_sha256, actual)
        && expected != actual
    {
        return Err(SinkError::TransferMismatch {
            reference: draft.reference.clone(),
            what: "SHA-256",
            expected: expected.to_string(),
            actual: actual.to_string(),
        });
    }
    Ok(())
}

/// The staged copy of an artefact: what was written, hashed as it was written. It stays in
/// memory while it is small (then staged into the records spool whole) and moves to the end of
/// the source's spool once it is not.
struct StagedFile<'a, 'b> {
    target: Target,
    spool: &'a mut SpoolSlot<'b>,
    hasher: Sha256,
    size: u64,
}

enum Target {
    Memory(Vec<u8>),
    /// Written to the source's spool from `offset` on.
    Spool {
        offset: u64,
    },
}

impl StagedFile<'_, '_> {
    async fn write(&mut self, bytes: &[u8]) -> Result<(), SinkError> {
        self.hasher.update(bytes);
        self.size += bytes.len() as u64;
        if let Target::Memory(held) = &mut self.target {
            if held.len() + bytes.len() <= SPOOL_MAX {
                held.extend_from_slice(bytes);
                return Ok(());
            }
            let held = std::mem::take(held);
            let spool = self.spool.open().await?;
            self.target = Target::Spool { offset: spool.len };
            spool.write(&held).await?;
        }
        self.spool.open().await?.write(bytes).await
    }
}

/// The spool a source streams its large artefacts into, one after the other.
struct SourceSpool {
    number: u32,
    /// Written in place (see [`blocking_io`]): tokio's file would copy every buffer once more
    /// and hand it to another thread.
    file: std::fs::File,
    /// Bytes written so far: where the next artefact starts.
    len: u64,
}

impl SourceSpool {
    async fn write(&mut self, bytes: &[u8]) -> Result<(), SinkError> {
        blocking_io(|| self.file.write_all(bytes)).map_err(staging_failed)?;
        self.len += bytes.len() as u64;
        Ok(())
    }
}

/// Run blocking file IO on this worker, without copying the bytes to another thread: on the
/// multi-threaded runtime the agent uses, the worker's other tasks move elsewhere meanwhile; on
/// a single-threaded runtime (some tests) the write simply blocks.
fn blocking_io<T>(io: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(io),
        _ => io(),
    }
}

/// The source's spool, opened in the staging area on first use.
struct SpoolSlot<'a> {
    spool: &'a mut Option<SourceSpool>,
    staging: &'a Arc<Mutex<Staging>>,
}

impl SpoolSlot<'_> {
    async fn open(&mut self) -> Result<&mut SourceSpool, SinkError> {
        if self.spool.is_none() {
            let (number, path) = self
                .staging
                .lock()
                .map_err(|_| {
                    SinkError::Staging("the staging area was poisoned by a crashed task".into())
                })?
                .new_spool()
                .map_err(staging_failed)?;
            let file = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .map_err(staging_failed)?;
            *self.spool = Some(SourceSpool {
                number,
                file,
                len: 0,
            });
        }
        Ok(self.spool.as_mut().expect("opened above"))
    }
}

/// What the source sent, before redaction: checked against the length and digest it stated.
struct Received {
    /// Only when the source stated a digest.
    hasher: Option<Sha256>,
    size: u64,
}

impl Received {
    fn new(draft: &ItemDraft) -> Self {
        Self {
            hasher: draft.expected_sha256.map(|_| Sha256::new()),
            size: 0,
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        if let Some(h) = self.hasher.as_mut() {
            h.update(bytes);
        }
        self.size += bytes.len() as u64;
    }
}

/// A reader noting what passes through it in [`Received`].
struct ReceivingReader<R> {
    inner: R,
    received: Received,
}

impl<R: std::io::Read> std::io::Read for ReceivingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.received.update(&buf[..n]);
        Ok(n)
    }
}
