//! evidence-auditor: run by certification bodies and internal auditors on an archive they did
//! not write. Verifies it, and runs the sampling cycle over the evidence it holds.

pub mod cli;
pub mod commands;
pub mod engagement;
pub mod exit;
pub mod oscal;
pub mod output;
pub mod page;
pub mod proof_cmd;
pub mod readiness;
pub mod review;
pub mod stats_cmd;
pub mod trust_cmd;
