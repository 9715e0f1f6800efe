//! Sealing a run: from the staging area and the log's previous head, compute the bag's text
//! files, the new Merkle leaves, checkpoint, frontier and consistency proof (`prepare`, pure
//! apart from reading sizes), then write the deterministic ZIP durably (`write`): temporary
//! file, fsync, link into place without overwriting, fsync the directory.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use evidence_model::{Sha256Digest, Timestamp, canonical};
use serde::{Deserialize, Serialize};

use crate::bag::{BagInfo, Manifest};
use crate::durable;
use crate::layout::{self, FORMAT_VERSION};
use crate::log::{Checkpoint, payload_leaf, run_leaf};
use crate::merkle::{self, Frontier, Hash};
use crate::staging::Staging;
use crate::zip_write::{EntryToWrite, write_zip, zip_time};

/// The log's state after a sealed bundle: what the next bundle continues from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    pub seq: u64,
    /// The checkpoint text (`origin\nsize\nroot\n`).
    pub checkpoint: String,
    pub frontier: Frontier,
}

impl ChainHead {
    /// The parsed checkpoint.
    pub fn checkpoint(&self) -> Result<Checkpoint, crate::log::CheckpointParseError> {
        Checkpoint::parse(&self.checkpoint)
    }
}

/// `log/consistency-proof.json`: an RFC 9162 consistency proof from the previous tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyProofDoc {
    pub old_size: u64,
    pub new_size: u64,
    /// Standard base64 of each hash.
    pub hashes: Vec<String>,
}

/// What the run is sealed as.
#[derive(Debug, Clone)]
pub struct SealInput<'a> {
    pub origin: &'a str,
    pub seq: u64,
    pub collected_at: Timestamp,
    /// `evidence-agent <version>`.
    pub software_agent: &'a str,
    /// The head after the previous bundle; `None` for the first run of an origin.
    pub previous: Option<&'a ChainHead>,
}

/// Sealing failed; no bundle was published.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    #[error("run {seq} cannot follow run {previous}: runs are numbered consecutively")]
    OutOfSequence { seq: u64, previous: u64 },
    #[error("origin {0:?} is not a valid log identity (printable ASCII, no spaces or '+')")]
    InvalidOrigin(String),
    #[error("the previous checkpoint is for origin {found:?}, not {expected:?}")]
    OriginMismatch { expected: String, found: String },
    #[error("the previous head is inconsistent: {0}")]
    BadPreviousHead(String),
    #[error("{path} already exists; a sealed bundle is never overwritten")]
    AlreadyExists { path: PathBuf },
    #[error("writing {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("writing {path}: {source}")]
    Zip {
        path: PathBuf,
        #[source]
        source: crate::zip_write::ZipWriteError,
    },
    #[error(transparent)]
    Canonical(#[from] canonical::CanonicalError),
}

/// A bundle computed and ready to write.
#[derive(Debug)]
pub struct PreparedBundle {
    pub seq: u64,
    /// The log head once this bundle is published.
    pub head: ChainHead,
    pub payload_files: u64,
    pub payload_bytes: u64,
    collected_at: Timestamp,
    /// (name inside the ZIP, content)
    tag_files: Vec<(String, Vec<u8>)>,
    /// (name inside the ZIP, staged path, digest, size)
    payload: Vec<(String, PathBuf, Sha256Digest, u64)>,
}

/// A published bundle.
#[derive(Debug, Clone)]
pub struct Sealed {
    pub path: PathBuf,
    pub seq: u64,
    pub head: ChainHead,
    pub bundle_bytes: u64,
    pub payload_files: u64,
    pub payload_bytes: u64,
}

/// Encode hashes as standard base64 strings.
pub fn hashes_to_base64(hashes: &[Hash]) -> Vec<String> {
    use base64::Engine;
    hashes
        .iter()
        .map(|h| base64::engine::general_purpose::STANDARD.encode(h))
        .collect()
}

/// Compute everything about the bundle for the staged run.
pub fn prepare(staging: &Staging, input: &SealInput<'_>) -> Result<PreparedBundle, SealError> {
    if !layout::is_valid_origin(input.origin) {
        return Err(SealError::InvalidOrigin(input.origin.to_owned()));
    }
    let expected_seq = input.previous.map_or(1, |p| p.seq + 1);
    if input.seq != expected_seq {
        return Err(SealError::OutOfSequence {
            seq: input.seq,
            previous: expected_seq - 1,
        });
    }
    let previous_checkpoint = match input.previous {
        Some(p) => {
            let cp = p
                .checkpoint()
                .map_err(|e| SealError::BadPreviousHead(e.to_string()))?;
            if cp.origin != input.origin {
                return Err(SealError::OriginMismatch {
                    expected: input.origin.to_owned(),
                    found: cp.origin,
                });
            }
            if cp.size != p.frontier.size() || cp.root != p.frontier.root() {
                return Err(SealError::BadPreviousHead(
                    "the frontier does not reproduce the checkpoint".into(),
                ));
            }
            Some(p.checkpoint.clone())
        }
        None => None,
    };
    let bag = layout::bag_dir(input.seq);

    let mut manifest = Manifest::new();
    let mut payload = Vec::new();
    let mut payload_bytes = 0u64;
    for (path, f) in staging.files() {
        manifest.insert(path.clone(), f.sha256);
        payload.push((
            format!("{bag}/{path}"),
            staging.file_path(path),
            f.sha256,
            f.size,
        ));
        payload_bytes += f.size;
    }
    let info = BagInfo {
        software_agent: input.software_agent.to_owned(),
        collected_at: input.collected_at,
        format_version: FORMAT_VERSION.to_owned(),
        origin: input.origin.to_owned(),
        run: input.seq,
        payload_bytes,
        payload_files: payload.len() as u64,
    };
    let bag_info = info.to_text();
    let manifest_text = manifest.to_text();

    let old = input
        .previous
        .map(|p| p.frontier.clone())
        .unwrap_or_else(Frontier::empty);
    let mut leaves: Vec<Hash> = payload
        .iter()
        .map(|(name, _, digest, size)| payload_leaf(name, digest, *size))
        .collect();
    leaves.push(run_leaf(
        input.origin,
        input.seq,
        &Sha256Digest::of(bag_info.as_bytes()),
        &Sha256Digest::of(manifest_text.as_bytes()),
        previous_checkpoint.as_deref(),
    ));
    let mut frontier = old.clone();
    frontier
        .extend(&leaves)
        .map_err(|e| SealError::BadPreviousHead(e.to_string()))?;
    let checkpoint = Checkpoint {
        origin: input.origin.to_owned(),
        size: frontier.size(),
        root: frontier.root(),
    };
    let proof = merkle::consistency_proof_from_frontier(&old, &leaves)
        .map_err(|e| SealError::BadPreviousHead(e.to_string()))?;
    let proof_doc = ConsistencyProofDoc {
        old_size: old.size(),
        new_size: frontier.size(),
        hashes: hashes_to_base64(&proof),
    };

    let mut tags: Vec<(&str, Vec<u8>)> = vec![
        (layout::BAGIT, layout::BAGIT_TXT.as_bytes().to_vec()),
        (layout::BAG_INFO, bag_info.into_bytes()),
        (layout::MANIFEST, manifest_text.into_bytes()),
        (layout::CHECKPOINT, checkpoint.to_text().into_bytes()),
        (layout::PREVIOUS_FRONTIER, canonical::to_vec(&old)?),
        (layout::CONSISTENCY_PROOF, canonical::to_vec(&proof_doc)?),
    ];
    if let Some(prev) = &previous_checkpoint {
        tags.push((layout::PREVIOUS_CHECKPOINT, prev.clone().into_bytes()));
    }
    let mut tag_manifest = Manifest::new();
    for (name, bytes) in &tags {
        tag_manifest.insert((*name).to_owned(), Sha256Digest::of(bytes));
    }
    tags.push((layout::TAG_MANIFEST, tag_manifest.to_text().into_bytes()));
    let tag_files = tags
        .into_iter()
        .map(|(name, bytes)| (format!("{bag}/{name}"), bytes))
        .collect();

    Ok(PreparedBundle {
        seq: input.seq,
        head: ChainHead {
            seq: input.seq,
            checkpoint: checkpoint.to_text(),
            frontier,
        },
        payload_files: payload.len() as u64,
        payload_bytes,
        collected_at: input.collected_at,
        tag_files,
        payload,
    })
}

impl PreparedBundle {
    /// Write the bundle into `archive_dir` durably and publish it under its final name.
    /// `before_publish` runs after the temporary file is synced and before it gets its name
    /// (the agent records its pending state there).
    pub fn write(
        self,
        archive_dir: &Path,
        before_publish: impl FnOnce(&Path) -> io::Result<()>,
    ) -> Result<Sealed, SealError> {
        let target = archive_dir.join(layout::bundle_file_name(self.seq));
        if target.exists() {
            return Err(SealError::AlreadyExists { path: target });
        }
        let tmp = durable::temp_path_for(&target);
        let result = self.write_temp(&tmp).and_then(|bytes| {
            before_publish(&tmp).map_err(|source| SealError::Io {
                path: tmp.clone(),
                source,
            })?;
            durable::publish_new(&tmp, &target).map_err(|source| match source.kind() {
                io::ErrorKind::AlreadyExists => SealError::AlreadyExists {
                    path: target.clone(),
                },
                _ => SealError::Io {
                    path: target.clone(),
                    source,
                },
            })?;
            Ok(bytes)
        });
        match result {
            Ok(bundle_bytes) => Ok(Sealed {
                path: target,
                seq: self.seq,
                head: self.head,
                bundle_bytes,
                payload_files: self.payload_files,
                payload_bytes: self.payload_bytes,
            }),
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    fn write_temp(&self, tmp: &Path) -> Result<u64, SealError> {
        let io_err = |source| SealError::Io {
            path: tmp.to_owned(),
            source,
        };
        let file = File::create(tmp).map_err(io_err)?;
        let mut entries: Vec<EntryToWrite<'_>> = Vec::new();
        for (name, bytes) in &self.tag_files {
            entries.push(EntryToWrite {
                name: name.clone(),
                size: bytes.len() as u64,
                sha256: Sha256Digest::of(bytes),
                content: Box::new(bytes.as_slice()),
            });
        }
        for (name, path, digest, size) in &self.payload {
            // Opened when the writer reaches the entry and closed at its end: a run of tens of
            // thousands of items must not hold a descriptor per payload file.
            entries.push(EntryToWrite {
                name: name.clone(),
                size: *size,
                sha256: *digest,
                content: Box::new(LazyFile::new(path)),
            });
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        let writer = write_zip(
            BufWriter::with_capacity(1 << 20, file),
            entries,
            zip_time(self.collected_at),
        )
        .map_err(|source| SealError::Zip {
            path: tmp.to_owned(),
            source,
        })?;
        let file = writer.into_inner().map_err(|e| io_err(e.into_error()))?;
        file.sync_all().map_err(io_err)?;
        let len = file.metadata().map_err(io_err)?.len();
        let mut f = file;
        f.flush().map_err(io_err)?;
        Ok(len)
    }
}

/// A payload file opened on its first read and closed once read to the end.
struct LazyFile<'a> {
    path: &'a Path,
    file: Option<File>,
    done: bool,
}

impl<'a> LazyFile<'a> {
    fn new(path: &'a Path) -> Self {
        Self {
            path,
            file: None,
            done: false,
        }
    }
}

impl io::Read for LazyFile<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done {
            return Ok(0);
        }
        let file =
            match &mut self.file {
                Some(f) => f,
                None => self.file.insert(File::open(self.path).map_err(|e| {
                    io::Error::new(e.kind(), format!("{}: {e}", self.path.display()))
                })?),
            };
        let n = file.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.file = None;
            self.done = true;
        }
        Ok(n)
    }
}
