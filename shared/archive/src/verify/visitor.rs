//! Receiving a bundle's records as they are verified: the [`BundleVisitor`] callers implement
//! (the auditor's ingest, progress displays), and the wrapper that notes `untimestamped` gaps
//! for the trust pass.

use evidence_model::records::GapCategory;
use evidence_model::{GapRecord, ItemMeta, PopulationRecord};

use crate::run_record::RunRecord;

/// Receives the records of a bundle as they are verified (the auditor's ingest uses this).
/// Items are handed over owned: a visitor that keeps them (ingest) needs no copy.
/// Records are handed over only from bundles whose bytes checked out so far; callers must still
/// discard everything when the final report has errors.
pub trait BundleVisitor {
    fn item(&mut self, _bundle_seq: u64, _leaf_index: u64, _meta: ItemMeta) {}
    fn population(&mut self, _bundle_seq: u64, _record: &PopulationRecord) {}
    fn gap(&mut self, _bundle_seq: u64, _record: &GapRecord) {}
    fn run(&mut self, _record: &RunRecord) {}
    /// `bytes` more of the bundle's payload were read (for progress displays).
    fn bytes_read(&mut self, _bytes: u64) {}
}

/// A visitor that ignores everything.
#[derive(Debug, Default)]
pub struct NoVisitor;
impl BundleVisitor for NoVisitor {}

/// Forwards records to the caller's visitor and notes `untimestamped` gap records.
pub(crate) struct GapWatch<'a> {
    inner: &'a mut dyn BundleVisitor,
    untimestamped: bool,
}

impl<'a> GapWatch<'a> {
    pub(crate) fn new(inner: &'a mut dyn BundleVisitor) -> Self {
        Self {
            inner,
            untimestamped: false,
        }
    }

    pub(crate) fn untimestamped(&self) -> bool {
        self.untimestamped
    }
}

impl BundleVisitor for GapWatch<'_> {
    fn item(&mut self, seq: u64, leaf_index: u64, meta: ItemMeta) {
        self.inner.item(seq, leaf_index, meta);
    }
    fn population(&mut self, seq: u64, record: &PopulationRecord) {
        self.inner.population(seq, record);
    }
    fn gap(&mut self, seq: u64, record: &GapRecord) {
        if record.category == GapCategory::Untimestamped {
            self.untimestamped = true;
        }
        self.inner.gap(seq, record);
    }
    fn run(&mut self, record: &RunRecord) {
        self.inner.run(record);
    }
    fn bytes_read(&mut self, bytes: u64) {
        self.inner.bytes_read(bytes);
    }
}
