//! The staging area of the run in progress: artefacts, item metadata and records are kept here
//! under their bag paths as the connectors deliver them, with their digests, and the sealer
//! zips them. Nothing is a file of its own: small artefacts and every record are appended to
//! the records spool (buffered, so an item costs no system call of its own), and each source
//! streams its large artefacts one after the other into a spool of its own; so ten thousand
//! items cost no file creations at all, where they used to cost forty thousand files and
//! directories. Staging is scratch space: a crashed run's staging is discarded.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use evidence_model::item::ITEM_SCHEMA;
use evidence_model::{
    GapRecord, ItemId, ItemMeta, PopulationRecord, Sha256Digest, SourceName, canonical,
};
use serde::Serialize;

use crate::layout;
use crate::run_record::RunRecord;

/// A staged payload file: its digest and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StagedFile {
    pub sha256: Sha256Digest,
    pub size: u64,
}

/// Where a staged payload file's bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StagedBytes {
    /// A file of its own.
    File(PathBuf),
    /// `len` bytes of spool number `spool` from `offset`.
    Spool { spool: u32, offset: u64, len: u64 },
}

/// The records spool's number.
const RECORDS_SPOOL: u32 = 0;

/// Artefacts up to this size are best handed to [`Staging::commit_item_bytes`].
pub const SPOOL_MAX: usize = 64 * 1024;
/// Appended bytes held before they are written to the spool file.
const PENDING_MAX: usize = 1024 * 1024;

/// Staging failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StagingError {
    #[error("staging area {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("item {id}: {reason}")]
    InvalidItem { id: String, reason: String },
    #[error("record cannot be written as canonical JSON: {0}")]
    Canonical(#[from] canonical::CanonicalError),
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> StagingError + '_ {
    move |source| StagingError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The staging directory of one run.
#[derive(Debug)]
pub struct Staging {
    root: PathBuf,
    files: BTreeMap<String, StagedFile>,
    /// Where each of `files` is.
    places: BTreeMap<String, StagedBytes>,
    /// The records spool.
    spool: File,
    /// Every spool's path, by number: the records spool first, then the sources' spools.
    spools: Vec<PathBuf>,
    /// Bytes of the records spool written to the file; `pending` follows them.
    spool_flushed: u64,
    /// Appended bytes not yet written: an item's artefact and metadata cost no system call
    /// of their own. Records other than items are written at once (see [`Staging::flush`]).
    pending: Vec<u8>,
    items: BTreeMap<ItemId, String>,
    populations: BTreeMap<SourceName, u32>,
    gaps: BTreeMap<SourceName, u32>,
    next_temp: u64,
}

impl Staging {
    /// Start an empty staging area at `root`, discarding whatever a crashed run left there.
    pub fn create(root: &Path) -> Result<Self, StagingError> {
        if root.exists() {
            fs::remove_dir_all(root).map_err(io_at(root))?;
        }
        let tmp = root.join("tmp");
        fs::create_dir_all(&tmp).map_err(io_at(&tmp))?;
        let spool_path = root.join("spool-0");
        let spool = File::options()
            .read(true)
            .append(true)
            .create_new(true)
            .open(&spool_path)
            .map_err(io_at(&spool_path))?;
        Ok(Self {
            root: root.to_owned(),
            files: BTreeMap::new(),
            places: BTreeMap::new(),
            spool,
            spools: vec![spool_path],
            spool_flushed: 0,
            pending: Vec::new(),
            items: BTreeMap::new(),
            populations: BTreeMap::new(),
            gaps: BTreeMap::new(),
            next_temp: 0,
        })
    }

    /// A fresh path inside the staging area to stream an artefact into before committing it.
    pub fn temp_file(&mut self) -> PathBuf {
        self.next_temp += 1;
        self.root.join("tmp").join(format!("{:08}", self.next_temp))
    }

    /// Where the bytes of the bag-relative `path` (e.g. `data/run.json`) are staged.
    pub fn place(&self, bag_path: &str) -> Option<&StagedBytes> {
        self.places.get(bag_path)
    }

    /// The spool files, by number, where [`StagedBytes::Spool`] bytes are.
    pub fn spool_paths(&self) -> &[PathBuf] {
        &self.spools
    }

    fn spool_path(&self) -> PathBuf {
        self.spools[RECORDS_SPOOL as usize].clone()
    }

    /// A new empty spool for one source to stream its large artefacts into, one after the
    /// other, and its number for [`Staging::commit_item_spooled`].
    pub fn new_spool(&mut self) -> Result<(u32, PathBuf), StagingError> {
        let number = self.spools.len() as u32;
        let path = self.root.join(format!("spool-{number}"));
        File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io_at(&path))?;
        self.spools.push(path.clone());
        Ok((number, path))
    }

    /// A reader of the staged bag-relative `path`.
    pub fn open(&self, bag_path: &str) -> io::Result<Box<dyn Read + '_>> {
        match self.places.get(bag_path) {
            None => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{bag_path} is not staged"),
            )),
            Some(StagedBytes::File(path)) => Ok(Box::new(File::open(path)?)),
            Some(&StagedBytes::Spool { spool, offset, len }) if spool == RECORDS_SPOOL => {
                let mut bytes = vec![0; len as usize];
                match offset.checked_sub(self.spool_flushed) {
                    Some(at) => {
                        let at = at as usize;
                        bytes.copy_from_slice(&self.pending[at..at + len as usize]);
                    }
                    None => self.spool.read_exact_at(&mut bytes, offset)?,
                }
                Ok(Box::new(io::Cursor::new(bytes)))
            }
            Some(&StagedBytes::Spool { spool, offset, len }) => {
                let mut file = File::open(&self.spools[spool as usize])?;
                io::Seek::seek(&mut file, io::SeekFrom::Start(offset))?;
                Ok(Box::new(file.take(len)))
            }
        }
    }

    /// Keep the artefact streamed to `temp` where it is and write its metadata. `meta` must
    /// describe exactly that artefact: its path, digest and size are checked.
    pub fn commit_item(&mut self, meta: &ItemMeta, temp: &Path) -> Result<(), StagingError> {
        let size = fs::metadata(temp).map_err(io_at(temp))?.len();
        let path = self.check_item(meta, size)?;
        self.replace_item(meta, path, StagedBytes::File(temp.to_owned()))
    }

    /// Stage a small artefact given whole (up to [`SPOOL_MAX`] is best) and write its metadata.
    /// `meta` must describe exactly these bytes: its path, digest and size are checked.
    pub fn commit_item_bytes(&mut self, meta: &ItemMeta, bytes: &[u8]) -> Result<(), StagingError> {
        let path = self.check_item(meta, bytes.len() as u64)?;
        if Sha256Digest::of(bytes) != meta.artefact.sha256 {
            return Err(StagingError::InvalidItem {
                id: meta.id.to_string(),
                reason: "artefact bytes differ from the digest in its metadata".into(),
            });
        }
        let place = self.append(bytes)?;
        self.replace_item(meta, path, place)
    }

    /// Stage the artefact a source streamed into its spool `spool` (from
    /// [`Staging::new_spool`]) at `offset`, `meta.artefact.size` bytes long, and write its
    /// metadata.
    pub fn commit_item_spooled(
        &mut self,
        meta: &ItemMeta,
        spool: u32,
        offset: u64,
    ) -> Result<(), StagingError> {
        let size = meta.artefact.size;
        let path = self.check_item(meta, size)?;
        let file = match self.spools.get(spool as usize) {
            Some(file) if spool != RECORDS_SPOOL => file,
            _ => {
                return Err(StagingError::InvalidItem {
                    id: meta.id.to_string(),
                    reason: format!("no source spool number {spool}"),
                });
            }
        };
        let held = fs::metadata(file).map_err(io_at(file))?.len();
        if offset.checked_add(size).is_none_or(|end| end > held) {
            return Err(StagingError::InvalidItem {
                id: meta.id.to_string(),
                reason: format!("{size} bytes at {offset} lie past the end of its spool ({held})"),
            });
        }
        self.replace_item(
            meta,
            path,
            StagedBytes::Spool {
                spool,
                offset,
                len: size,
            },
        )
    }

    /// The artefact path `meta` must give, checked against its schema and `size`.
    fn check_item(&self, meta: &ItemMeta, size: u64) -> Result<String, StagingError> {
        let id = &meta.id;
        let invalid = |reason: String| StagingError::InvalidItem {
            id: id.to_string(),
            reason,
        };
        if meta.schema != ITEM_SCHEMA {
            return Err(invalid(format!("schema must be {ITEM_SCHEMA}")));
        }
        let file_name =
            layout::sanitize_file_name(meta.artefact.path.rsplit('/').next().unwrap_or_default());
        let expected_path = layout::item_artefact_path(id, &file_name);
        if meta.artefact.path != expected_path {
            return Err(invalid(format!(
                "artefact path {} should be {expected_path}",
                meta.artefact.path
            )));
        }
        if size != meta.artefact.size {
            return Err(invalid(format!(
                "artefact has {size} bytes but its metadata says {}",
                meta.artefact.size
            )));
        }
        Ok(expected_path)
    }

    /// Record item `meta` with its artefact at `place`, replacing an earlier one of the same id.
    fn replace_item(
        &mut self,
        meta: &ItemMeta,
        path: String,
        place: StagedBytes,
    ) -> Result<(), StagingError> {
        let id = &meta.id;
        if self.items.contains_key(id) {
            self.discard_item(id)?;
        }
        self.files.insert(
            path.clone(),
            StagedFile {
                sha256: meta.artefact.sha256,
                size: meta.artefact.size,
            },
        );
        self.places.insert(path.clone(), place);
        let meta_path = layout::item_metadata_path(id);
        self.write_json(&meta_path, meta)?;
        self.items.insert(id.clone(), path);
        Ok(())
    }

    /// Remove an item committed earlier in this run.
    pub fn discard_item(&mut self, id: &ItemId) -> Result<(), StagingError> {
        if let Some(artefact) = self.items.remove(id) {
            let meta_path = layout::item_metadata_path(id);
            self.files.remove(&artefact);
            self.files.remove(&meta_path);
            self.places.remove(&meta_path);
            // Spooled bytes stay behind, unreferenced, until the staging area is removed.
            if let Some(StagedBytes::File(path)) = self.places.remove(&artefact) {
                fs::remove_file(&path).map_err(io_at(&path))?;
            }
        }
        Ok(())
    }

    /// Stage a population record.
    pub fn add_population(&mut self, record: &PopulationRecord) -> Result<(), StagingError> {
        let n = self.populations.entry(record.source.clone()).or_insert(0);
        *n += 1;
        let path = layout::population_path(&record.source, *n);
        self.write_json(&path, record)?;
        self.flush()
    }

    /// Stage a gap record.
    pub fn add_gap(&mut self, record: &GapRecord) -> Result<(), StagingError> {
        let n = self.gaps.entry(record.source.clone()).or_insert(0);
        *n += 1;
        let path = layout::gap_path(&record.source, *n);
        self.write_json(&path, record)?;
        self.flush()
    }

    /// Stage the run record (replacing an earlier one).
    pub fn set_run_record(&mut self, record: &RunRecord) -> Result<(), StagingError> {
        self.write_json(layout::RUN_RECORD, record)?;
        self.flush()
    }

    /// Every staged payload file, sorted by bag-relative path.
    pub fn files(&self) -> &BTreeMap<String, StagedFile> {
        &self.files
    }

    /// Number of items staged.
    pub fn item_count(&self) -> usize {
        self.items.len()
    }

    /// Gap records staged for `source`.
    pub fn gap_count(&self, source: &SourceName) -> u32 {
        self.gaps.get(source).copied().unwrap_or(0)
    }

    /// Delete the staging area.
    pub fn remove(self) -> Result<(), StagingError> {
        fs::remove_dir_all(&self.root).map_err(io_at(&self.root))
    }

    /// Append `bytes` to the spool.
    fn append(&mut self, bytes: &[u8]) -> Result<StagedBytes, StagingError> {
        let offset = self.spool_flushed + self.pending.len() as u64;
        self.pending.extend_from_slice(bytes);
        if self.pending.len() >= PENDING_MAX {
            self.flush()?;
        }
        Ok(StagedBytes::Spool {
            spool: RECORDS_SPOOL,
            offset,
            len: bytes.len() as u64,
        })
    }

    /// Write what was appended to the spool file. Staging a population, gap or run record
    /// does it too, so the spool is complete once the run record is staged, before sealing.
    pub fn flush(&mut self) -> Result<(), StagingError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let path = self.spool_path();
        self.spool.write_all(&self.pending).map_err(io_at(&path))?;
        self.spool_flushed += self.pending.len() as u64;
        self.pending.clear();
        Ok(())
    }

    fn write_json<T: Serialize>(&mut self, bag_path: &str, value: &T) -> Result<(), StagingError> {
        let bytes = canonical::to_vec(value)?;
        let place = self.append(&bytes)?;
        self.places.insert(bag_path.to_owned(), place);
        self.files.insert(
            bag_path.to_owned(),
            StagedFile {
                sha256: Sha256Digest::of(&bytes),
                size: bytes.len() as u64,
            },
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use evidence_model::{Artefact, Kind, Phase, Provenance, SourceRef, Times, Timestamp};

    use super::*;
    use crate::run_record::RUN_SCHEMA;
    use crate::seal::{SealInput, prepare};
    use crate::verify::{BundleVisitor, verify_archive};

    fn meta(n: u32, body: &[u8]) -> ItemMeta {
        let sha256 = Sha256Digest::of(body);
        let id: ItemId = format!("docs-item-{n}-{}", &sha256.to_hex()[..8])
            .parse()
            .unwrap();
        ItemMeta {
            schema: ITEM_SCHEMA.to_owned(),
            kind: "pr_approval".parse::<Kind>().unwrap(),
            title: format!("item {n}"),
            source: SourceRef {
                connector: "local".into(),
                name: "docs".parse().unwrap(),
                reference: format!("{n}.txt"),
                url: None,
            },
            controls: Vec::new(),
            clauses: Vec::new(),
            phase: Phase::OperationMonitoring,
            actors: Vec::new(),
            times: Times {
                period: None,
                source: None,
                collected: Timestamp::from_second(1_767_225_600).unwrap(),
            },
            artefact: Artefact {
                path: layout::item_artefact_path(&id, "item.txt"),
                sha256,
                size: body.len() as u64,
                media_type: "text/plain".into(),
            },
            redactions: Vec::new(),
            redaction: None,
            provenance: Provenance {
                agent: "test".into(),
                connector: "local test".into(),
                endpoint: None,
                query: None,
            },
            attributes: BTreeMap::new(),
            id,
        }
    }

    fn read(staging: &Staging, path: &str) -> Vec<u8> {
        let mut out = Vec::new();
        staging.open(path).unwrap().read_to_end(&mut out).unwrap();
        out
    }

    /// Stage `body` the way the agent would: whole when small, else streamed into `spool`.
    fn stage(staging: &mut Staging, spool: &mut (u32, File, u64), n: u32, body: &[u8]) -> ItemMeta {
        let meta = meta(n, body);
        if body.len() <= SPOOL_MAX {
            staging.commit_item_bytes(&meta, body).unwrap();
        } else {
            spool.1.write_all(body).unwrap();
            staging
                .commit_item_spooled(&meta, spool.0, spool.2)
                .unwrap();
            spool.2 += body.len() as u64;
        }
        meta
    }

    #[derive(Default)]
    struct Items(Vec<String>);
    impl BundleVisitor for Items {
        fn item(&mut self, _: u64, _: u64, meta: ItemMeta) {
            self.0.push(meta.id.to_string());
        }
    }

    #[test]
    fn items_in_memory_in_a_source_spool_and_in_a_file_read_back_seal_and_verify() {
        let dir = tempfile::tempdir().unwrap();
        let mut staging = Staging::create(&dir.path().join("staging")).unwrap();
        let (number, path) = staging.new_spool().unwrap();
        let mut spool = (number, File::options().append(true).open(path).unwrap(), 0);
        let small = stage(&mut staging, &mut spool, 1, b"a small policy");
        let large_body: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let large = stage(&mut staging, &mut spool, 2, &large_body);
        let also_large = stage(&mut staging, &mut spool, 3, &large_body[..100_000]);
        let temp = staging.temp_file();
        fs::write(&temp, b"streamed to a file of its own").unwrap();
        let in_file = meta(4, b"streamed to a file of its own");
        staging.commit_item(&in_file, &temp).unwrap();

        assert_eq!(read(&staging, &small.artefact.path), b"a small policy");
        assert_eq!(read(&staging, &large.artefact.path), large_body);
        assert_eq!(
            read(&staging, &also_large.artefact.path),
            &large_body[..100_000]
        );
        assert_eq!(
            read(&staging, &in_file.artefact.path),
            b"streamed to a file of its own"
        );
        let record: ItemMeta =
            serde_json::from_slice(&read(&staging, &layout::item_metadata_path(&small.id)))
                .unwrap();
        assert_eq!(record, small);

        // A discarded item leaves nothing behind in what is sealed, and its file is gone.
        staging.discard_item(&in_file.id).unwrap();
        assert!(!temp.exists());
        assert!(staging.place(&in_file.artefact.path).is_none());

        let t = Timestamp::from_second(1_767_225_600).unwrap();
        staging.set_run_record(&run_record(t)).unwrap();
        let archive = dir.path().join("archive");
        fs::create_dir_all(&archive).unwrap();
        let input = SealInput {
            origin: "example.org/ai",
            seq: 1,
            collected_at: t,
            software_agent: "test",
            previous: None,
        };
        prepare(&staging, &input)
            .unwrap()
            .write(&archive, |_| Ok(()))
            .unwrap();
        let mut items = Items::default();
        let report = verify_archive(&archive, &mut items);
        assert!(report.valid, "{report:#?}");
        items.0.sort();
        let mut expected = vec![
            small.id.to_string(),
            large.id.to_string(),
            also_large.id.to_string(),
        ];
        expected.sort();
        assert_eq!(items.0, expected);
    }

    /// The run record of run 1 of `example.org/ai`, started and finished at `t`.
    fn run_record(t: Timestamp) -> RunRecord {
        RunRecord {
            schema: RUN_SCHEMA.into(),
            origin: "example.org/ai".into(),
            seq: 1,
            started_at: t,
            finished_at: t,
            agent: "test".into(),
            sources: Vec::new(),
        }
    }

    #[test]
    fn a_spooled_item_must_lie_inside_its_spool_and_bytes_must_match_their_digest() {
        let dir = tempfile::tempdir().unwrap();
        let mut staging = Staging::create(&dir.path().join("staging")).unwrap();
        let (number, path) = staging.new_spool().unwrap();
        fs::write(&path, b"0123456789").unwrap();
        let m = meta(1, b"456789xyz");
        let err = staging.commit_item_spooled(&m, number, 4).unwrap_err();
        assert!(
            err.to_string().contains("past the end of its spool"),
            "{err}"
        );
        let err = staging.commit_item_spooled(&m, 0, 0).unwrap_err();
        assert!(err.to_string().contains("no source spool"), "{err}");
        let err = staging.commit_item_bytes(&m, b"456789xyZ").unwrap_err();
        assert!(err.to_string().contains("differ from the digest"), "{err}");
        assert!(staging.files().is_empty());
    }

    #[test]
    fn records_appended_and_not_yet_written_read_back_and_are_written_by_the_run_record() {
        let dir = tempfile::tempdir().unwrap();
        let mut staging = Staging::create(&dir.path().join("staging")).unwrap();
        let m = meta(1, b"body");
        staging.commit_item_bytes(&m, b"body").unwrap();
        assert_eq!(read(&staging, &m.artefact.path), b"body");
        assert_eq!(fs::metadata(&staging.spool_paths()[0]).unwrap().len(), 0);
        let t = Timestamp::from_second(1_767_225_600).unwrap();
        staging.set_run_record(&run_record(t)).unwrap();
        assert!(fs::metadata(&staging.spool_paths()[0]).unwrap().len() > 4);
        assert_eq!(read(&staging, &m.artefact.path), b"body");
    }
}
