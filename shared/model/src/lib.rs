//! The evidence model shared by the agent, the connectors and the auditor: what an evidence item,
//! a population record and a gap record say, the identifiers they use, and the ISO/IEC 42001
//! catalogue those identifiers are checked against. Pure data: no IO, no archive format.

pub mod canonical;
pub mod catalogue;
pub mod digest;
pub mod ids;
pub mod item;
pub mod records;

pub use catalogue::Catalogue;
pub use digest::Sha256Digest;
pub use ids::{ClauseId, ControlId, IdError, ItemId, Kind, Phase, SourceName};
pub use item::{
    Actor, Artefact, ItemMeta, Period, Provenance, Redaction, RedactionNote, ScanState, SourceRef,
    Times,
};
pub use jiff::Timestamp;
pub use records::{GapCategory, GapRecord, PopulationRecord};

/// Version of this crate, recorded in provenance.
pub const MODEL_VERSION: &str = env!("CARGO_PKG_VERSION");
