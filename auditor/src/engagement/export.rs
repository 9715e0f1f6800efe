//! Writing documents the engagement produces (records, manifests): whole-file replacement through
//! a temporary file, fsync and rename, so a reader never sees half a document.

use std::path::Path;

use super::{EngagementError, Result};

/// Write `bytes` to `path` durably, replacing what was there.
pub fn write_document(path: &Path, bytes: &[u8]) -> Result<()> {
    evidence_archive::durable::write_replace(path, bytes).map_err(|source| EngagementError::Io {
        path: path.to_owned(),
        source,
    })
}
