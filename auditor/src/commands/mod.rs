//! The auditor's commands, one module per command group: each parses its arguments, calls
//! the library and prints what comes back. Architecture invariant: no policy here: no
//! step-order check, no default, no business rule (those live in `crate::engagement` and the
//! archive crate).
//!
//! - `verify`: `verify` over an archive source (a local folder or an S3 location).
//! - `ingest`: `ingest`, a visitor on the same walk as `verify`.
//! - `audit`: `audit add|list|coverage`.
//! - `population`: `population define|list|freeze|show|plan`.
//! - `seed`: `seed commit|reveal|show`.
//! - `sample`: `sample draw|show`.
//! - `workpaper`: `workpaper export|import`.
//! - `conclude`: `conclude`.
//! - `record`: `record export`.
//! - `finding`: `finding add|list|show`.
//! - `action`: `action add|close|list`.
//! - `register`: `register export|import` (finding and action registers).
//! - `review`: `review pack|held|decide|close-decision` (the management review).
//! - `programme`: `programme set|plan|done|show|approve` (the internal audit programme).
//! - `oscal`: `oscal` (assessment-results and POA&M export).

pub mod action;
pub mod audit;
pub mod conclude;
pub mod finding;
pub mod ingest;
pub mod oscal;
pub mod population;
pub mod programme;
pub mod readiness;
pub mod record;
pub mod register;
pub mod review;
pub mod sample;
pub mod seed;
pub mod verify;
pub mod workpaper;

use std::path::PathBuf;

use clap::Args;
use evidence_model::Timestamp;

use crate::engagement::db::Engagement;
use crate::outln;

/// The engagement file every engagement command works on.
#[derive(Debug, Clone, Args)]
pub struct EngagementFile {
    /// The engagement file (SQLite). `ingest` creates it.
    #[arg(long, short = 'e', env = "EVIDENCE_ENGAGEMENT", value_name = "FILE")]
    pub engagement: PathBuf,
}

/// `--json`.
#[derive(Debug, Clone, Copy, Args)]
pub struct JsonFlag {
    /// Print one JSON object instead of the human summary.
    #[arg(long)]
    pub json: bool,
}

/// Open the (existing) engagement file.
pub(crate) fn open(file: &EngagementFile) -> anyhow::Result<Engagement> {
    Ok(Engagement::open(&file.engagement)?)
}

/// The current time, to the second (records read better without nanoseconds).
pub(crate) fn now() -> Timestamp {
    let t = Timestamp::now();
    Timestamp::from_second(t.as_second()).unwrap_or(t)
}

/// Print one JSON document on one line.
pub(crate) fn print_json<T: serde::Serialize + ?Sized>(v: &T) -> anyhow::Result<()> {
    outln!("{}", serde_json::to_string(v)?);
    Ok(())
}
