//! Where an archive's bundles come from. The verifier walks a [`BundleSource`] and knows
//! nothing of where it lives: a local directory ([`LocalDir`]) or remote storage (implemented
//! outside this crate, by the store) hand it the same listing and local files.

use std::path::{Path, PathBuf};

use super::report::{Category, Problem};
use crate::layout;

/// One bundle a source holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceBundle {
    /// Its run number.
    pub seq: u64,
    /// How reports name it: the file name, or the object key.
    pub name: String,
    /// Its size in bytes (for progress displays).
    pub size: u64,
}

/// What a source holds.
#[derive(Debug, Clone, Default)]
pub struct SourceListing {
    /// The bundles in sequence order, one per run.
    pub bundles: Vec<SourceBundle>,
    /// Findings about the source itself: stray files, a run stored twice.
    pub problems: Vec<Problem>,
    /// The origin every bundle must belong to, when the source is named for one (a folder
    /// per origin in a bucket).
    pub origin: Option<String>,
}

/// A source that cannot be listed or a bundle that cannot be fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

/// The bundles of one archive (one origin), wherever they are stored.
pub trait BundleSource {
    /// How reports name the archive: a directory, or a folder of a bucket.
    fn label(&self) -> String;
    /// The bundles in sequence order, and findings about the source.
    fn list(&mut self) -> Result<SourceListing, SourceError>;
    /// A local file holding `bundle`, with its sidecars (`run-NNNNNN.zip.*`) beside it: the
    /// file itself, or a copy fetched for the verifier.
    fn fetch(&mut self, bundle: &SourceBundle) -> Result<PathBuf, SourceError>;
    /// The verifier is done with `bundle`: a source that fetched a copy may delete it.
    fn release(&mut self, _bundle: &SourceBundle) {}
}

/// The files of an archive directory: bundles in sequence order, and anything else (sidecars
/// and hidden files excluded).
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub bundles: Vec<(u64, PathBuf)>,
    pub others: Vec<String>,
}

/// The bundle files of an archive directory in sequence order; other files, except sidecars
/// and hidden files, are listed in `others`.
pub fn list_bundles(dir: &Path) -> std::io::Result<Listing> {
    let mut bundles = Vec::new();
    let mut others = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        match layout::parse_bundle_file_name(&name) {
            Some(seq) if entry.file_type()?.is_file() => bundles.push((seq, entry.path())),
            _ if layout::is_sidecar_file_name(&name) => {}
            _ => others.push(name),
        }
    }
    bundles.sort();
    Ok(Listing { bundles, others })
}

/// An archive directory: the `run-NNNNNN.zip` bundles of one origin and their sidecars.
#[derive(Debug, Clone)]
pub struct LocalDir {
    dir: PathBuf,
    files: Vec<PathBuf>,
}

impl LocalDir {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            files: Vec::new(),
        }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl BundleSource for LocalDir {
    fn label(&self) -> String {
        self.dir.display().to_string()
    }

    fn list(&mut self) -> Result<SourceListing, SourceError> {
        let label = self.label();
        let Listing { bundles, others } = list_bundles(&self.dir)
            .map_err(|e| SourceError(format!("cannot list {label}: {e}")))?;
        let problems = others
            .into_iter()
            .map(|other| {
                Problem::warning(
                    &label,
                    Category::Layout,
                    "not a bundle or a bundle's sidecar; ignored",
                )
                .at(other)
            })
            .collect();
        let listed = bundles
            .iter()
            .map(|(seq, path)| SourceBundle {
                seq: *seq,
                name: path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                size: std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
            })
            .collect();
        self.files = bundles.into_iter().map(|(_, p)| p).collect();
        Ok(SourceListing {
            bundles: listed,
            problems,
            origin: None,
        })
    }

    fn fetch(&mut self, bundle: &SourceBundle) -> Result<PathBuf, SourceError> {
        Ok(self
            .files
            .iter()
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy() == bundle.name)
            })
            .cloned()
            .unwrap_or_else(|| self.dir.join(&bundle.name)))
    }
}
