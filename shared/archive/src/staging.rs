//! The staging area of the run in progress: artefacts, item metadata and records are written
//! here in the bag's `data/` layout as the connectors deliver them, with their digests, and the
//! sealer zips them. Staging is scratch space: a crashed run's staging is discarded.

use std::collections::BTreeMap;
use std::fs;
use std::io;
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
        fs::create_dir_all(root.join("data")).map_err(io_at(root))?;
        Ok(Self {
            root: root.to_owned(),
            files: BTreeMap::new(),
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

    /// Where the bag-relative `path` (e.g. `data/run.json`) is staged.
    pub fn file_path(&self, bag_path: &str) -> PathBuf {
        self.root.join(bag_path)
    }

    /// Move the artefact streamed to `temp` into place and write its metadata. `meta` must
    /// describe exactly that artefact: its path, digest and size are checked.
    pub fn commit_item(&mut self, meta: &ItemMeta, temp: &Path) -> Result<(), StagingError> {
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
        let size = fs::metadata(temp).map_err(io_at(temp))?.len();
        if size != meta.artefact.size {
            return Err(invalid(format!(
                "artefact has {size} bytes but its metadata says {}",
                meta.artefact.size
            )));
        }
        if self.items.contains_key(id) {
            self.discard_item(id)?;
        }
        let target = self.file_path(&expected_path);
        if let Some(dir) = target.parent() {
            fs::create_dir_all(dir).map_err(io_at(dir))?;
        }
        fs::rename(temp, &target).map_err(io_at(&target))?;
        self.files.insert(
            expected_path.clone(),
            StagedFile {
                sha256: meta.artefact.sha256,
                size,
            },
        );
        let meta_path = layout::item_metadata_path(id);
        self.write_json(&meta_path, meta)?;
        self.items.insert(id.clone(), expected_path);
        Ok(())
    }

    /// Remove an item committed earlier in this run.
    pub fn discard_item(&mut self, id: &ItemId) -> Result<(), StagingError> {
        if let Some(artefact) = self.items.remove(id) {
            self.files.remove(&artefact);
            self.files.remove(&layout::item_metadata_path(id));
            let dir = self.root.join("data/items").join(id.as_str());
            fs::remove_dir_all(&dir).map_err(io_at(&dir))?;
        }
        Ok(())
    }

    /// Stage a population record.
    pub fn add_population(&mut self, record: &PopulationRecord) -> Result<(), StagingError> {
        let n = self.populations.entry(record.source.clone()).or_insert(0);
        *n += 1;
        let path = layout::population_path(&record.source, *n);
        self.write_json(&path, record)
    }

    /// Stage a gap record.
    pub fn add_gap(&mut self, record: &GapRecord) -> Result<(), StagingError> {
        let n = self.gaps.entry(record.source.clone()).or_insert(0);
        *n += 1;
        let path = layout::gap_path(&record.source, *n);
        self.write_json(&path, record)
    }

    /// Stage the run record (replacing an earlier one).
    pub fn set_run_record(&mut self, record: &RunRecord) -> Result<(), StagingError> {
        self.write_json(layout::RUN_RECORD, record)
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

    fn write_json<T: Serialize>(&mut self, bag_path: &str, value: &T) -> Result<(), StagingError> {
        let bytes = canonical::to_vec(value)?;
        let target = self.file_path(bag_path);
        if let Some(dir) = target.parent() {
            fs::create_dir_all(dir).map_err(io_at(dir))?;
        }
        fs::write(&target, &bytes).map_err(io_at(&target))?;
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
