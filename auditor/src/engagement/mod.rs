//! The auditor's engagement: an SQLite file that holds the ingested evidence metadata of one or
//! more verified archives, the audits of a certification cycle, and for every sampled population
//! its complete sampling record (definition, frozen manifest, plan, seed protocol, picks, results,
//! evaluation).
//!
//! Code map:
//! - `db`: the engagement file (schema, migrations, version check) and its queries.
//! - `ingest`: verify an archive and load its item metadata, refusing forks and failures.
//! - `population`: definitions, stratum keys and the canonical manifest (pure).
//! - `seed`: secret commitment, beacon and seed derivation (pure).
//! - `sample`: reproducible selection over the frozen manifest (pure).
//! - `workpaper`: XLSX/CSV export, import and strict validation of results.
//! - `evaluate`: from results to an evaluation and the auditor's finding (pure).
//! - `report`: the coverage matrix and the sampling record document (pure).
//! - `export`: writing documents durably.
//!
//! Architecture invariant: the pure modules (`population`, `seed`, `sample`, `evaluate`,
//! `report`) do no IO and read no clock; the caller passes the time in.

pub mod db;
pub mod evaluate;
pub mod export;
pub mod ingest;
pub mod population;
pub mod readiness_queries;
pub mod report;
pub mod sample;
pub mod seed;
pub mod workpaper;

use std::path::PathBuf;

/// Why an engagement operation failed. Every variant names the thing it is about.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngagementError {
    /// The engagement file could not be read or written.
    #[error("engagement {path}: {source}")]
    Db {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// A file other than the engagement could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The engagement file was written by a newer version of the tool, or is not one at all.
    #[error("engagement {path}: {message}")]
    Version { path: PathBuf, message: String },
    /// A named thing (population, audit, origin) does not exist.
    #[error("{what} {name:?} does not exist{hint}")]
    NotFound {
        what: &'static str,
        name: String,
        hint: String,
    },
    /// A named thing already exists.
    #[error("{what} {name:?} already exists")]
    Exists { what: &'static str, name: String },
    /// A step of the protocol was attempted out of order (e.g. drawing before committing).
    #[error("{0}")]
    Order(String),
    /// An argument or a stored value is invalid.
    #[error("{0}")]
    Invalid(String),
    /// The archive did not verify; nothing was ingested.
    #[error("the archive {path} does not verify ({errors} problem(s)); nothing was ingested")]
    Verification {
        path: String,
        errors: usize,
        report: Box<evidence_archive::verify::ArchiveReport>,
    },
    /// The archive's history differs from what the engagement already holds for its origin.
    #[error("{0}")]
    Fork(String),
    /// A filled workpaper has problems; nothing was imported.
    #[error("workpaper {path}: {} problem(s); nothing was imported:\n  {}", problems.len(), problems.join("\n  "))]
    Workpaper {
        path: PathBuf,
        problems: Vec<String>,
    },
    /// The statistics refused their input.
    #[error(transparent)]
    Sampling(#[from] evidence_sampling::SamplingError),
    /// A document could not be written.
    #[error("cannot write {path}: {message}")]
    Write { path: PathBuf, message: String },
}

/// Shorthand for engagement results.
pub type Result<T, E = EngagementError> = std::result::Result<T, E>;
