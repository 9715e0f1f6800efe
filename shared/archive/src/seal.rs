//! Sealing a run: from the staging area and the log's previous head, compute the bag's text
//! files, the new Merkle leaves, checkpoint, frontier and consistency proof (`prepare`, pure
//! apart from reading sizes), then write the deterministic ZIP durably (`write`): temporary
//! file, fsync, link into place without overwriting, fsync the directory.
//!
//! A signed bundle (format 1.1, [`prepare_signed`]) also carries the agent's SSHSIG signature
//! over its checkpoint and, when one was obtained, an RFC 3161 time stamp over that signature;
//! both are tag files, so they are set before the ZIP is written. The signature over the
//! bundle's bytes is a sidecar written after the bundle is durable ([`write_bundle_signature`]).

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use evidence_model::{Sha256Digest, Timestamp, canonical};
use serde::{Deserialize, Serialize};

use crate::bag::{BagInfo, Manifest};
use crate::durable;
use crate::layout::{self, FORMAT_VERSION, FORMAT_VERSION_SIGNED};
use crate::log::{Checkpoint, payload_leaf, run_leaf};
pub use crate::log::{ConsistencyProofDoc, hashes_to_base64};
use crate::merkle::{self, Frontier, Hash};
use crate::positioned::PositionedFile;
use crate::sshsig::{self, SshSignature};
use crate::staging::{StagedBytes, Staging};
use crate::tsp::{self, TimeStampInfo};
use crate::zip_write::{EntryToWrite, write_zip, zip_time};

/// The log's state after a sealed bundle: what the next bundle continues from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    pub seq: u64,
    /// The checkpoint (stored as its text, `origin\nsize\nroot\n`).
    pub checkpoint: Checkpoint,
    pub frontier: Frontier,
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
    #[error("the staging area has no run record ({})", layout::RUN_RECORD)]
    MissingRunRecord,
    #[error("the staged run record is for {found}, not run {seq} of {origin}")]
    RunRecordMismatch {
        origin: String,
        seq: u64,
        found: String,
    },
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
    #[error("the checkpoint signature is not acceptable: {0}")]
    Signature(String),
    #[error("the time stamp is not acceptable: {0}")]
    TimeStamp(String),
    #[error("a signed bundle needs its checkpoint signature before it is written")]
    Unsigned,
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
    /// The bag's top directory.
    bag: String,
    /// Format 1.1: the checkpoint signature is required.
    signed: bool,
    /// (name inside the bag, content), without the tag manifest, which is computed on writing.
    tags: Vec<(&'static str, Vec<u8>)>,
    /// (name inside the ZIP, where its bytes are staged, digest, size)
    payload: Vec<(String, StagedBytes, Sha256Digest, u64)>,
    /// The staging area's spool files, by number, which [`StagedBytes::Spool`] points into.
    spools: Vec<PathBuf>,
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

fn check_run_record(staging: &Staging, input: &SealInput<'_>) -> Result<(), SealError> {
    if !staging.files().contains_key(layout::RUN_RECORD) {
        return Err(SealError::MissingRunRecord);
    }
    let mut bytes = Vec::new();
    staging
        .open(layout::RUN_RECORD)
        .and_then(|mut r| r.read_to_end(&mut bytes))
        .map_err(|source| SealError::Io {
            path: staging.spool_paths()[0].clone(),
            source,
        })?;
    let record: crate::run_record::RunRecord =
        serde_json::from_slice(&bytes).map_err(|_| SealError::MissingRunRecord)?;
    if record.seq != input.seq || record.origin != input.origin {
        return Err(SealError::RunRecordMismatch {
            origin: input.origin.to_owned(),
            seq: input.seq,
            found: format!("run {} of {}", record.seq, record.origin),
        });
    }
    Ok(())
}

/// Compute everything about the bundle for the staged run (format 1.0, unsigned).
pub fn prepare(staging: &Staging, input: &SealInput<'_>) -> Result<PreparedBundle, SealError> {
    prepare_inner(staging, input, false)
}

/// Like [`prepare`], for a signed bundle (format 1.1): set its checkpoint signature with
/// [`PreparedBundle::set_checkpoint_signature`] before writing it.
pub fn prepare_signed(
    staging: &Staging,
    input: &SealInput<'_>,
) -> Result<PreparedBundle, SealError> {
    prepare_inner(staging, input, true)
}

fn prepare_inner(
    staging: &Staging,
    input: &SealInput<'_>,
    signed: bool,
) -> Result<PreparedBundle, SealError> {
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
            let cp = p.checkpoint.clone();
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
            Some(cp.to_text())
        }
        None => None,
    };
    check_run_record(staging, input)?;
    let bag = layout::bag_dir(input.seq);

    let mut manifest = Manifest::new();
    let mut payload = Vec::new();
    let mut payload_bytes = 0u64;
    for (path, f) in staging.files() {
        manifest.insert(path.clone(), f.sha256);
        let place = staging.place(path).cloned().ok_or_else(|| SealError::Io {
            path: staging.spool_paths()[0].clone(),
            source: io::Error::new(io::ErrorKind::NotFound, format!("{path} is not staged")),
        })?;
        payload.push((format!("{bag}/{path}"), place, f.sha256, f.size));
        payload_bytes += f.size;
    }
    let info = BagInfo {
        software_agent: input.software_agent.to_owned(),
        collected_at: input.collected_at,
        format_version: if signed {
            FORMAT_VERSION_SIGNED
        } else {
            FORMAT_VERSION
        }
        .to_owned(),
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

    let mut tags: Vec<(&'static str, Vec<u8>)> = vec![
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

    Ok(PreparedBundle {
        seq: input.seq,
        head: ChainHead {
            seq: input.seq,
            checkpoint,
            frontier,
        },
        payload_files: payload.len() as u64,
        payload_bytes,
        collected_at: input.collected_at,
        bag,
        signed,
        tags,
        payload,
        spools: staging.spool_paths().to_vec(),
    })
}

impl PreparedBundle {
    /// The exact bytes of `log/checkpoint`: what the checkpoint signature signs.
    pub fn checkpoint_text(&self) -> String {
        self.head.checkpoint.to_text()
    }

    /// True for a signed bundle (format 1.1).
    pub fn is_signed(&self) -> bool {
        self.signed
    }

    fn tag(&self, name: &str) -> Option<&[u8]> {
        self.tags
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, b)| b.as_slice())
    }

    fn set_tag(&mut self, name: &'static str, bytes: Vec<u8>) {
        self.tags.retain(|(n, _)| *n != name);
        self.tags.push((name, bytes));
    }

    /// The armored checkpoint signature, once set.
    pub fn checkpoint_signature(&self) -> Option<&[u8]> {
        self.tag(layout::CHECKPOINT_SIG)
    }

    /// Store the SSHSIG signature (armored, as `ssh-keygen -Y sign` writes it) over
    /// [`Self::checkpoint_text`] as `log/checkpoint.sig`. It must verify, in `namespace`, with
    /// the key it names. A time stamp set before is dropped: it was over another signature.
    pub fn set_checkpoint_signature(
        &mut self,
        armored: &[u8],
        namespace: &str,
    ) -> Result<(), SealError> {
        if !self.signed {
            return Err(SealError::Signature(
                "the bundle was prepared unsigned (format 1.0)".into(),
            ));
        }
        let sig = SshSignature::parse(armored).map_err(|e| SealError::Signature(e.to_string()))?;
        sig.verify(namespace, self.head.checkpoint.to_text().as_bytes())
            .map_err(|e| SealError::Signature(e.to_string()))?;
        self.tags.retain(|(n, _)| *n != layout::CHECKPOINT_TSR);
        self.set_tag(layout::CHECKPOINT_SIG, armored.to_vec());
        Ok(())
    }

    /// Store an RFC 3161 time-stamp response over the checkpoint signature as
    /// `log/checkpoint.sig.tsr`. It must be a granted response over exactly those bytes (its
    /// signature is the verifier's business: the agent may check it against configured roots).
    pub fn set_checkpoint_timestamp(
        &mut self,
        response: &[u8],
    ) -> Result<TimeStampInfo, SealError> {
        let sig = self.checkpoint_signature().ok_or(SealError::Unsigned)?;
        let info = tsp::inspect_response(response, sig, None)
            .map_err(|e| SealError::TimeStamp(e.to_string()))?;
        self.set_tag(layout::CHECKPOINT_TSR, response.to_vec());
        Ok(info)
    }

    /// Every tag file with its full ZIP name, the tag manifest last.
    fn tag_files(&self) -> Vec<(String, Vec<u8>)> {
        let mut tag_manifest = Manifest::new();
        for (name, bytes) in &self.tags {
            tag_manifest.insert((*name).to_owned(), Sha256Digest::of(bytes));
        }
        self.tags
            .iter()
            .map(|(name, bytes)| (*name, bytes.clone()))
            .chain([(layout::TAG_MANIFEST, tag_manifest.to_text().into_bytes())])
            .map(|(name, bytes)| (format!("{}/{name}", self.bag), bytes))
            .collect()
    }

    /// Write the bundle into `archive_dir` durably and publish it under its final name.
    /// `before_publish` runs after the temporary file is synced and before it gets its name
    /// (the agent records its pending state there).
    pub fn write(
        self,
        archive_dir: &Path,
        before_publish: impl FnOnce(&Path) -> io::Result<()>,
    ) -> Result<Sealed, SealError> {
        if self.signed && self.checkpoint_signature().is_none() {
            return Err(SealError::Unsigned);
        }
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
        let spools = self
            .spools
            .iter()
            .map(|path| {
                File::open(path).map_err(|source| SealError::Io {
                    path: path.clone(),
                    source,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let tag_files = self.tag_files();
        let mut entries: Vec<EntryToWrite<'_>> = Vec::new();
        for (name, bytes) in &tag_files {
            entries.push(EntryToWrite {
                name: name.clone(),
                size: bytes.len() as u64,
                sha256: Sha256Digest::of(bytes),
                content: Box::new(bytes.as_slice()),
            });
        }
        for (name, place, digest, size) in &self.payload {
            let content: Box<dyn Read + '_> = match place {
                // Opened when the writer reaches the entry and closed at its end: a run of tens
                // of thousands of items must not hold a descriptor per payload file.
                StagedBytes::File(path) => Box::new(LazyFile::new(path)),
                StagedBytes::Spool { spool, offset, len } => {
                    let file = spools.get(*spool as usize).ok_or_else(|| SealError::Io {
                        path: PathBuf::from(name),
                        source: io::Error::new(io::ErrorKind::NotFound, "no such spool"),
                    })?;
                    Box::new(PositionedFile::at(file, *offset).take(*len))
                }
            };
            entries.push(EntryToWrite {
                name: name.clone(),
                size: *size,
                sha256: *digest,
                content,
            });
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        let writer = write_zip(
            BufWriter::with_capacity(1 << 20, durable::EarlyWriteback::new(file)),
            entries,
            zip_time(self.collected_at),
        )
        .map_err(|source| SealError::Zip {
            path: tmp.to_owned(),
            source,
        })?;
        let file = writer
            .into_inner()
            .map_err(|e| io_err(e.into_error()))?
            .into_inner();
        file.sync_all().map_err(io_err)?;
        let len = file.metadata().map_err(io_err)?.len();
        let mut f = file;
        f.flush().map_err(io_err)?;
        Ok(len)
    }
}

/// Sign the exact bytes of the published bundle at `bundle` and write the signature as its
/// sidecar `run-NNNNNN.zip.sig`, durably (temporary file, fsync, link, fsync the directory),
/// never replacing an existing sidecar. Streams the bundle: memory does not grow with it.
pub fn write_bundle_signature(
    bundle: &Path,
    key: &ssh_key::PrivateKey,
    namespace: &str,
) -> Result<PathBuf, SealError> {
    let io_err = |path: &Path| {
        let path = path.to_owned();
        move |source| SealError::Io { path, source }
    };
    let file = File::open(bundle).map_err(io_err(bundle))?;
    let sig = sshsig::sign_reader(key, namespace, io::BufReader::with_capacity(1 << 20, file))
        .map_err(|e| SealError::Signature(e.to_string()))?;
    let armored = sig
        .to_armored()
        .map_err(|e| SealError::Signature(e.to_string()))?;
    let mut name = bundle.as_os_str().to_owned();
    name.push(".sig");
    let target = PathBuf::from(name);
    write_new_durably(&target, armored.as_bytes())?;
    Ok(target)
}

/// Write `bytes` as the new file `target` durably, refusing to replace an existing file.
pub fn write_new_durably(target: &Path, bytes: &[u8]) -> Result<(), SealError> {
    if target.exists() {
        return Err(SealError::AlreadyExists {
            path: target.to_owned(),
        });
    }
    let tmp = durable::temp_path_for(target);
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        durable::publish_new(&tmp, target)
    })();
    result.map_err(|source| {
        let _ = fs::remove_file(&tmp);
        match source.kind() {
            io::ErrorKind::AlreadyExists => SealError::AlreadyExists {
                path: target.to_owned(),
            },
            _ => SealError::Io {
                path: target.to_owned(),
                source,
            },
        }
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run_record::{RUN_SCHEMA, RunRecord};
    use crate::verify::{
        BundleSource, Category, LocalDir, NoVisitor, SourceBundle, SourceError, SourceListing,
        VerifyOptions, verify_archive, verify_source,
    };
    use evidence_model::{PopulationRecord, SourceName};

    fn staged(dir: &Path, seq: u64) -> Staging {
        let mut s = Staging::create(&dir.join("staging")).unwrap();
        let source: SourceName = "docs".parse().unwrap();
        s.add_population(&PopulationRecord::new("local", source, ".", "walk"))
            .unwrap();
        let t = Timestamp::from_second(1_767_225_600).unwrap();
        s.set_run_record(&RunRecord {
            schema: RUN_SCHEMA.into(),
            origin: "example.org/ai".into(),
            seq,
            started_at: t,
            finished_at: t,
            agent: "test".into(),
            sources: Vec::new(),
        })
        .unwrap();
        s
    }

    fn input<'a>(seq: u64, previous: Option<&'a ChainHead>) -> SealInput<'a> {
        SealInput {
            origin: "example.org/ai",
            seq,
            collected_at: Timestamp::from_second(1_767_225_600).unwrap(),
            software_agent: "evidence-agent test",
            previous,
        }
    }

    #[test]
    fn three_sealed_runs_form_an_archive_that_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("archive");
        fs::create_dir_all(&archive).unwrap();
        let mut head: Option<ChainHead> = None;
        for seq in 1..=3 {
            let staging = staged(dir.path(), seq);
            let prepared = prepare(&staging, &input(seq, head.as_ref())).unwrap();
            let sealed = prepared.write(&archive, |_| Ok(())).unwrap();
            head = Some(sealed.head);
        }
        let report = verify_archive(&archive, &mut NoVisitor);
        assert!(report.valid, "{report:#?}");
        assert_eq!(report.latest_checkpoint, head.map(|h| h.checkpoint.clone()));
    }

    /// A source that is not a directory: each bundle is copied into a scratch folder when
    /// fetched and deleted when released, as remote storage does.
    struct Copying {
        from: PathBuf,
        scratch: PathBuf,
        released: Vec<u64>,
        origin: Option<String>,
    }

    impl BundleSource for Copying {
        fn label(&self) -> String {
            "elsewhere/".into()
        }
        fn list(&mut self) -> Result<SourceListing, SourceError> {
            let mut listing = LocalDir::new(&self.from).list()?;
            for b in &mut listing.bundles {
                b.name = format!("elsewhere/{}", b.name);
            }
            listing.origin = self.origin.clone();
            Ok(listing)
        }
        fn fetch(&mut self, bundle: &SourceBundle) -> Result<PathBuf, SourceError> {
            let name = layout::bundle_file_name(bundle.seq);
            let dest = self.scratch.join(&name);
            fs::copy(self.from.join(&name), &dest).map_err(|e| SourceError(e.to_string()))?;
            Ok(dest)
        }
        fn release(&mut self, bundle: &SourceBundle) {
            let _ = fs::remove_file(self.scratch.join(layout::bundle_file_name(bundle.seq)));
            self.released.push(bundle.seq);
        }
    }

    #[test]
    fn the_verifier_walks_any_bundle_source_as_it_walks_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("archive");
        let scratch = dir.path().join("scratch");
        fs::create_dir_all(&archive).unwrap();
        fs::create_dir_all(&scratch).unwrap();
        let mut head: Option<ChainHead> = None;
        for seq in 1..=2 {
            let staging = staged(dir.path(), seq);
            let prepared = prepare(&staging, &input(seq, head.as_ref())).unwrap();
            head = Some(prepared.write(&archive, |_| Ok(())).unwrap().head);
        }
        let local = verify_archive(&archive, &mut NoVisitor);
        let mut source = Copying {
            from: archive.clone(),
            scratch: scratch.clone(),
            released: Vec::new(),
            origin: Some("example.org/ai".into()),
        };
        let options = VerifyOptions::default();
        let report = verify_source(&mut source, &options, &mut NoVisitor);
        assert!(report.valid, "{report:#?}");
        assert_eq!(report.path, "elsewhere/");
        assert_eq!(report.bundles[1].file, "elsewhere/run-000002.zip");
        assert_eq!(report.latest_checkpoint, local.latest_checkpoint);
        assert_eq!(source.released, vec![1, 2]);
        assert_eq!(
            fs::read_dir(&scratch).unwrap().count(),
            0,
            "released copies are gone"
        );

        // A source named for another origin than its bundles' is refused, bundle by bundle.
        source.origin = Some("other.example/ai".into());
        let report = verify_source(&mut source, &options, &mut NoVisitor);
        assert!(!report.valid);
        let stored_elsewhere = report
            .all_problems()
            .filter(|p| p.category == Category::Chain && p.message.contains("in the folder of"))
            .count();
        assert_eq!(stored_elsewhere, 2, "{report:#?}");
    }

    #[test]
    fn a_staging_area_without_a_run_record_is_not_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let staging = Staging::create(&dir.path().join("s")).unwrap();
        assert!(matches!(
            prepare(&staging, &input(1, None)),
            Err(SealError::MissingRunRecord)
        ));
    }

    #[test]
    fn runs_must_be_consecutive_and_of_one_origin() {
        let dir = tempfile::tempdir().unwrap();
        let staging = staged(dir.path(), 1);
        assert!(matches!(
            prepare(&staging, &input(2, None)),
            Err(SealError::OutOfSequence {
                seq: 2,
                previous: 0
            })
        ));
        let first = prepare(&staging, &input(1, None)).unwrap().head;
        let staging = staged(dir.path(), 2);
        let mut other = input(2, Some(&first));
        other.origin = "other.example/ai";
        assert!(matches!(
            prepare(&staging, &other),
            Err(SealError::OriginMismatch { .. })
        ));
    }

    #[test]
    fn a_previous_head_whose_frontier_does_not_match_its_checkpoint_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let staging = staged(dir.path(), 1);
        let mut head = prepare(&staging, &input(1, None)).unwrap().head;
        head.frontier = Frontier::empty();
        let staging = staged(dir.path(), 2);
        assert!(matches!(
            prepare(&staging, &input(2, Some(&head))),
            Err(SealError::BadPreviousHead(_))
        ));
    }

    #[test]
    fn an_existing_bundle_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("archive");
        fs::create_dir_all(&archive).unwrap();
        fs::write(archive.join("run-000001.zip"), b"sealed earlier").unwrap();
        let staging = staged(dir.path(), 1);
        let prepared = prepare(&staging, &input(1, None)).unwrap();
        assert!(matches!(
            prepared.write(&archive, |_| Ok(())),
            Err(SealError::AlreadyExists { .. })
        ));
        assert_eq!(
            fs::read(archive.join("run-000001.zip")).unwrap(),
            b"sealed earlier"
        );
        assert!(!archive.join(".run-000001.zip.tmp").exists());
    }
}
