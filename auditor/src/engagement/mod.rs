//! The auditor's engagement: an SQLite file that holds the ingested evidence metadata of one or
//! more verified archives, the audits of a certification cycle, and for every sampled population
//! its complete sampling record (definition, frozen manifest, plan, seed protocol, picks, results,
//! evaluation).
//!
//! Code map:
//! - `protocol`: the sampling protocol's state machine: which step may follow which (pure).
//! - `days`: UTC calendar days (the day of an instant, a day's last second).
//! - `db`: the engagement file (schema, migrations, version check, busy timeout), its queries
//!   and the one place a step's transaction is opened.
//! - `steps`: the protocol's steps (`define`, `commit_seed`, `freeze`, `plan_sample`,
//!   `reveal_seed`, `draw_sample`, `import_results`, `conclude`), each checked and written in
//!   one `BEGIN IMMEDIATE` transaction.
//! - `records`: the typed, versioned records the engagement stores and returns.
//! - `ingest`: verify an archive and load its item metadata, refusing forks and failures.
//! - `population`: definitions, stratum keys and the canonical manifest (pure).
//! - `seed`: secret commitment, beacon and seed derivation (pure).
//! - `sample`: reproducible selection over the frozen manifest (pure).
//! - `workpaper`: XLSX/CSV export, import and strict validation of results.
//! - `evaluate`: from results to an evaluation and the auditor's finding (pure).
//! - `report`: the coverage matrix and the sampling record document (pure).
//! - `export`: writing documents durably.
//! - `programme`: the internal audit programme over the cycle, coverage, impartiality (9.2).
//! - `review_records`: management reviews held and their decisions (clause 9.3).
//! - `improvement`: findings, corrective actions and their closure (clause 10.2), registers.
//!
//! Architecture invariant: the pure modules (`protocol`, `population`, `seed`, `sample`,
//! `evaluate`, `report`) do no IO and read no clock; the caller passes the time in.
//! Architecture invariant: every rule of the protocol lives here, not in the CLI; a step reads
//! the state it checks and writes its result in the same immediate transaction.

pub mod days;
pub mod db;
pub mod evaluate;
pub mod export;
pub mod improvement;
pub mod ingest;
pub mod population;
pub mod programme;
pub mod protocol;
pub mod readiness_queries;
pub mod records;
pub mod report;
pub mod review_records;
pub mod sample;
pub mod seed;
pub mod steps;
pub mod workpaper;

use std::path::PathBuf;

use evidence_model::Timestamp;

use protocol::Step;

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
    /// A step of the protocol was attempted before the step it needs (e.g. drawing before the
    /// seed is revealed).
    #[error("{}", protocol::out_of_order_message(.population, *.step, *.needs))]
    OutOfOrder {
        population: String,
        step: Step,
        needs: Step,
    },
    /// Something read needs a step not yet taken (a manifest before the freeze, a sample before
    /// the draw).
    #[error("{}", protocol::out_of_order_message(.population, *.needs, *.needs))]
    NotYet { population: String, needs: Step },
    /// A step taken once was already taken.
    #[error("{}", protocol::already_done_message(.population, *.step, .at, .detail))]
    AlreadyDone {
        population: String,
        step: Step,
        at: Timestamp,
        /// What the step fixed: the commitment, the digest, the seed, the finding.
        detail: String,
    },
    /// A later step has made this one impossible (a commitment after the freeze, a plan after
    /// the seed is known, an import after the conclusion).
    #[error("{}", protocol::too_late_message(.population, *.step, *.after, .at))]
    TooLate {
        population: String,
        step: Step,
        after: Step,
        at: Timestamp,
    },
    /// Concluding needs a result for every pick.
    #[error(
        "population {population} has {results} result(s) for {picks} pick(s): import the filled workpaper first (`evidence-auditor workpaper import {population} FILE`)"
    )]
    ResultsMissing {
        population: String,
        results: u64,
        picks: u64,
    },
    /// No finding category was chosen for a conclusion; nothing was recorded. Carries the
    /// evaluation so that the caller can show it.
    #[error(
        "no finding category chosen for {population}: pass --finding ({}) or fill the workpaper's \"Proposed finding\" cell; nothing was recorded",
        evaluate::Finding::choices()
    )]
    NoFinding {
        population: String,
        evaluation: Box<records::Evaluated>,
    },
    /// A secret file could not be read, written or parsed.
    #[error("{message}")]
    SecretFile {
        message: String,
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A setting (a rate, a confidence, a likelihood, a time) is invalid; `what` names the
    /// option or the stored value it came from.
    #[error("{what}")]
    Setting {
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The seed protocol refused a secret or a beacon.
    #[error(transparent)]
    Seed(#[from] seed::SeedError),
    /// A population definition or a setting is invalid.
    #[error(transparent)]
    Definition(#[from] population::DefinitionError),
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
    /// A filled register has problems; nothing was imported.
    #[error("register {path}: {} problem(s); nothing was imported:\n  {}", problems.len(), problems.join("\n  "))]
    Register {
        path: PathBuf,
        problems: Vec<String>,
    },
    /// A finding or corrective action was refused by the rules of clause 10.2.
    #[error(transparent)]
    Improvement(#[from] improvement::Refusal),
    /// A document could not be written.
    #[error("cannot write {path}: {message}")]
    Write { path: PathBuf, message: String },
}

impl EngagementError {
    /// The error for a step `population` refused in its state.
    pub fn refused(population: &str, refusal: protocol::Refusal) -> Self {
        let population = population.to_owned();
        match refusal {
            protocol::Refusal::OutOfOrder { step, needs } => Self::OutOfOrder {
                population,
                step,
                needs,
            },
            protocol::Refusal::AlreadyDone { step, at, detail } => Self::AlreadyDone {
                population,
                step,
                at,
                detail,
            },
            protocol::Refusal::TooLate { step, after, at } => Self::TooLate {
                population,
                step,
                after,
                at,
            },
            protocol::Refusal::ResultsMissing { results, picks } => Self::ResultsMissing {
                population,
                results,
                picks,
            },
        }
    }
}

/// Shorthand for engagement results.
pub type Result<T, E = EngagementError> = std::result::Result<T, E>;
