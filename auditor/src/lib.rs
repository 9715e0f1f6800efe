//! evidence-auditor: run by certification bodies and internal auditors on an archive they did
//! not write. Verifies it, and runs the sampling cycle over the evidence it holds.

pub mod cli;
pub mod engagement;
pub mod engagement_cmd;
pub mod exit;
pub mod output;
pub mod page;
pub mod proof_cmd;
pub mod readiness;
#[path = "commands/readiness.rs"]
pub mod readiness_cmd;
pub mod remote_cmd;
pub mod stats_cmd;
pub mod trust_cmd;
pub mod verify_cmd;
